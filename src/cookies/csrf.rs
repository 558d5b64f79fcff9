//! CSRF protection that a shared cache cannot break (docs/COOKIES.md).
//!
//! Frameworks keep their CSRF secret in a cookie or a cookie-backed session
//! that they set on GET responses. A cache that replays such a response
//! hands browser B the secret of browser A, and B's next form, rendered
//! with B's own secret, fails with a 403 or 422. Here the secret comes from
//! the device ID, which is set only on non-GET responses and so is never
//! replayed: every browser keeps its own.
//!
//! A request without a device (a first visit's login form) has no secret
//! to check a token against. It is judged by [`origin_allowed`] instead,
//! the Fetch Metadata and `Origin` rule browsers support today.
//! [`RequestCookies::csrf_allows`] applies the whole rule; frameworks with
//! their own token format (Rails, Django) use the secret with it instead.

use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use super::{DeviceId, Method, RequestCookies, RuleError};
use crate::primitives::hkdf_sha256;

/// Length of a device's CSRF secret.
pub const CSRF_SECRET_BYTES: usize = 32;

/// Length of a form token from [`DeviceId::csrf_token`]: base64url of a
/// fresh 32-byte mask and the secret XORed with it.
pub const CSRF_TOKEN_LEN: usize = 86;

/// A masked CSRF token for a form or a request header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CsrfToken([u8; CSRF_TOKEN_LEN]);

impl CsrfToken {
    pub fn as_str(&self) -> &str {
        // Only base64url characters are ever stored.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl core::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CsrfToken(..)")
    }
}

/// Whether `token` (text from a form or header) is a masked copy of
/// `secret`. Compared in constant time; any malformed token is refused.
pub fn csrf_token_matches(token: &[u8], secret: &[u8; CSRF_SECRET_BYTES]) -> bool {
    if token.len() != CSRF_TOKEN_LEN {
        return false;
    }
    let mut raw = [0u8; 2 * CSRF_SECRET_BYTES];
    let Ok(raw) = crate::base64url::decode(token, &mut raw) else {
        return false;
    };
    let (mask, masked) = raw.split_at(CSRF_SECRET_BYTES);
    let mut unmasked = [0u8; CSRF_SECRET_BYTES];
    for ((out, m), x) in unmasked.iter_mut().zip(mask).zip(masked) {
        *out = m ^ x;
    }
    unmasked.ct_eq(secret).into()
}

// Domain separation: the same device ID never yields this secret for
// another purpose, and the secret does not reveal the ID (frameworks put a
// masked copy of it into every page).
const CSRF_INFO: &[u8] = b"sesame csrf secret v1";

impl DeviceId {
    /// This device's CSRF secret: HKDF-SHA256 of the device ID. One-way, so
    /// a page's token never reveals the device cookie; stable for the
    /// device's life, so every tab's forms stay valid; new at each login and
    /// logout, with the device.
    pub fn csrf_secret(&self) -> [u8; CSRF_SECRET_BYTES] {
        let mut secret = [0u8; CSRF_SECRET_BYTES];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        let _ = hkdf_sha256(b"", self.as_context(), CSRF_INFO, &mut secret);
        secret
    }

    /// A form token for this device: its secret under a fresh mask, so
    /// every page's token differs (nothing for a compression side channel
    /// to find) while all of them check.
    pub fn csrf_token<R: CryptoRngCore + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<CsrfToken, RuleError> {
        let mut raw = [0u8; 2 * CSRF_SECRET_BYTES];
        let (mask, masked) = raw.split_at_mut(CSRF_SECRET_BYTES);
        rng.try_fill_bytes(mask)
            .map_err(|_| RuleError::RandomFailed)?;
        for ((out, m), s) in masked.iter_mut().zip(mask.iter()).zip(self.csrf_secret()) {
            *out = m ^ s;
        }
        let mut text = [0u8; CSRF_TOKEN_LEN];
        crate::base64url::encode(&raw, &mut text).map_err(|_| RuleError::RandomFailed)?;
        Ok(CsrfToken(text))
    }
}

impl RequestCookies<'_> {
    /// The CSRF secret of the device this request carried, or `None` when
    /// it carried no valid device cookie (check it with [`origin_allowed`]).
    pub fn csrf_secret(&self) -> Option<[u8; CSRF_SECRET_BYTES]> {
        self.device().map(DeviceId::csrf_secret)
    }

    /// The whole CSRF rule for this request: GET and HEAD pass; with a
    /// device, `token` must be one of its [`DeviceId::csrf_token`]s; without
    /// one, the request is judged by [`origin_allowed`] on its
    /// `Sec-Fetch-Site`, `Origin` and `Host` headers (`None`: absent).
    pub fn csrf_allows(
        &self,
        token: Option<&[u8]>,
        sec_fetch_site: Option<&[u8]>,
        origin: Option<&[u8]>,
        host: Option<&[u8]>,
    ) -> bool {
        if self.method() == Method::Safe {
            return true;
        }
        match self.device() {
            Some(device) => token.is_some_and(|t| csrf_token_matches(t, &device.csrf_secret())),
            None => origin_allowed(b"POST", sec_fetch_site, origin, host),
        }
    }
}

/// Whether a browser request may change state judged by where it came from,
/// as Go's `net/http` `CrossOriginProtection` judges it:
///
/// 1. GET, HEAD and OPTIONS are always allowed (they must not change state).
/// 2. `Sec-Fetch-Site` present: allowed only for `same-origin` and `none`
///    (the user typed or bookmarked it).
/// 3. Else `Origin` present: allowed only if its host (and port) equals
///    the `Host` header, case-insensitively; `Origin: null` never matches.
/// 4. Neither header: not a browser of the last decade, or not a
///    cross-site request; allowed.
///
/// `None` means the header is absent. Use it for requests without a device,
/// where no secret exists; requests with one check their token as well.
pub fn origin_allowed(
    method: &[u8],
    sec_fetch_site: Option<&[u8]>,
    origin: Option<&[u8]>,
    host: Option<&[u8]>,
) -> bool {
    if matches!(method, b"GET" | b"HEAD" | b"OPTIONS") {
        return true;
    }
    if let Some(site) = sec_fetch_site {
        return site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none");
    }
    let Some(origin) = origin else {
        return true;
    };
    let Some(host) = host else {
        return false;
    };
    // A serialized origin is scheme "://" host [":" port]; without a scheme
    // it is none (Go's url.Parse refuses it too).
    let origin_host = match origin.windows(3).position(|w| w == b"://") {
        Some(at) if at > 0 => &origin[at + 3..],
        _ => return false,
    };
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn device(text: &str) -> DeviceId {
        DeviceId::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn secret_is_per_device_and_stable() {
        let a = device("AAAAAAAAAAAAAAAAAAAAAA");
        let b = device("AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(a.csrf_secret(), a.csrf_secret());
        assert_ne!(a.csrf_secret(), b.csrf_secret());
        assert_ne!(&a.csrf_secret()[..22], a.as_context());
    }

    #[test]
    fn secret_matches_hkdf_of_the_device_id() {
        // RFC 5869 HKDF-SHA256 with an empty salt, computed independently.
        let a = device("AAAAAAAAAAAAAAAAAAAAAA");
        let mut expected = [0u8; 32];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(b""), b"AAAAAAAAAAAAAAAAAAAAAA")
            .expand(b"sesame csrf secret v1", &mut expected)
            .unwrap();
        assert_eq!(a.csrf_secret(), expected);
    }

    #[test]
    fn tokens_are_fresh_and_check_only_against_their_device() {
        let a = device("AAAAAAAAAAAAAAAAAAAAAA");
        let b = device("AAAAAAAAAAAAAAAAAAAAAQ");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let t1 = a.csrf_token(&mut rng).unwrap();
        let t2 = a.csrf_token(&mut rng).unwrap();
        assert_ne!(t1, t2);
        assert_eq!(t1.as_str().len(), CSRF_TOKEN_LEN);
        assert!(csrf_token_matches(t1.as_str().as_bytes(), &a.csrf_secret()));
        assert!(csrf_token_matches(t2.as_str().as_bytes(), &a.csrf_secret()));
        assert!(!csrf_token_matches(
            t1.as_str().as_bytes(),
            &b.csrf_secret()
        ));
        let mut flipped = *t1
            .as_str()
            .as_bytes()
            .first_chunk::<CSRF_TOKEN_LEN>()
            .unwrap();
        flipped[50] = if flipped[50] == b'A' { b'B' } else { b'A' };
        assert!(!csrf_token_matches(&flipped, &a.csrf_secret()));
        assert!(!csrf_token_matches(
            &t1.as_str().as_bytes()[1..],
            &a.csrf_secret()
        ));
        assert!(!csrf_token_matches(b"", &a.csrf_secret()));
        assert!(!csrf_token_matches(
            &[b'!'; CSRF_TOKEN_LEN],
            &a.csrf_secret()
        ));
    }

    #[test]
    fn the_whole_rule_per_request() {
        let rules = super::super::CookieRules::new(&crate::Policy::DEFAULT);
        let a = device("AAAAAAAAAAAAAAAAAAAAAA");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(8);
        let token = a.csrf_token(&mut rng).unwrap();
        let header = "__Host-sesame-device=AAAAAAAAAAAAAAAAAAAAAA";
        let post = RequestCookies::parse(&rules, Method::Unsafe, header.as_bytes());
        let t = Some(token.as_str().as_bytes());
        assert!(post.csrf_allows(t, None, None, None));
        assert!(!post.csrf_allows(None, Some(b"same-origin"), None, None));
        let get = RequestCookies::parse(&rules, Method::Safe, header.as_bytes());
        assert!(get.csrf_allows(None, Some(b"cross-site"), None, None));
        let first_visit = RequestCookies::parse(&rules, Method::Unsafe, b"");
        assert!(first_visit.csrf_allows(None, Some(b"same-origin"), None, None));
        assert!(!first_visit.csrf_allows(t, Some(b"cross-site"), None, None));
    }

    #[test]
    fn origin_rule() {
        let h = Some(&b"example.com:8080"[..]);
        let post = b"POST";
        assert!(origin_allowed(b"GET", Some(b"cross-site"), None, h));
        assert!(origin_allowed(b"HEAD", None, Some(b"https://evil.test"), h));
        assert!(origin_allowed(post, Some(b"same-origin"), None, h));
        assert!(origin_allowed(post, Some(b"none"), None, h));
        assert!(!origin_allowed(post, Some(b"same-site"), None, h));
        assert!(!origin_allowed(
            post,
            Some(b"cross-site"),
            Some(b"http://example.com:8080"),
            h
        ));
        assert!(origin_allowed(
            post,
            None,
            Some(b"http://example.com:8080"),
            h
        ));
        assert!(origin_allowed(
            post,
            None,
            Some(b"HTTPS://EXAMPLE.com:8080"),
            h
        ));
        assert!(!origin_allowed(post, None, Some(b"http://example.com"), h));
        assert!(!origin_allowed(
            post,
            None,
            Some(b"http://evil.test:8080"),
            h
        ));
        assert!(!origin_allowed(post, None, Some(b"null"), h));
        assert!(!origin_allowed(
            post,
            None,
            Some(b"http://example.com:8080"),
            None
        ));
        assert!(!origin_allowed(post, None, Some(b"http://"), Some(b"")));
        // Browsers send neither userinfo nor a path in Origin; either one
        // makes the text differ from Host, so it is refused.
        assert!(!origin_allowed(
            post,
            None,
            Some(b"http://evil.test@example.com:8080"),
            h
        ));
        assert!(!origin_allowed(
            post,
            None,
            Some(b"http://example.com:8080/"),
            h
        ));
        // Not a serialized origin (no scheme): Go's url.Parse refuses it.
        assert!(!origin_allowed(post, None, Some(b"://example.com:8080"), h));
        assert!(origin_allowed(post, None, None, h));
        assert!(origin_allowed(b"DELETE", None, None, None));
    }
}
