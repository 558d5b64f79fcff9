//! Cookie rules under which every `Set-Cookie` sesame emits is harmless when
//! a shared cache replays it to another browser (docs/COOKIES.md).
//!
//! A cache whose key ignores cookies and whose minimum TTL overrides
//! `Cache-Control` stores a response carrying user A's `Set-Cookie` and
//! replays it to user B, who is then logged in as A (or logged out). Headers
//! such as `Cache-Control: private, no-store` and `Vary: Cookie` are exactly
//! what such a cache ignores, so the defence is in the cookies themselves:
//!
//! * A long-lived **device cookie** holds a random device ID. It is set only
//!   on responses to non-GET/HEAD requests, which caches do not store, so a
//!   browser's device ID is never replaced by another browser's.
//! * The **session cookie's name is derived from the device ID**
//!   ([`session_name`][CookieRules::session_name]) and its token is sealed
//!   with the device ID as binding context ([`as_context`][DeviceId::as_context]).
//!   A replayed refresh lands under a name the other browser carries but
//!   never reads: a *foreign* session cookie, which is also the evidence
//!   that a shared cache is replaying responses ([`DetectionReporter`]).
//! * Responses to GET/HEAD never set the device cookie and never delete a
//!   cookie (a cached deletion would be replayed to its owner). Non-GET
//!   responses rotate the device at login and logout and delete the foreign
//!   session cookies the request carried, so jars stay small.
//!
//! The flow of one request, in a middleware: [`RequestCookies::parse`] the
//! method and the `Cookie` header; open its [`token`][RequestCookies::token]
//! with the device ID as context (or seal a login for
//! [`login_device`][RequestCookies::login_device]); say what happened as an
//! [`Outcome`]; add the [`ResponsePlan`]'s headers to the response. The
//! caller keeps the key ring and calls seal/open itself, so these rules
//! never see a key and work the same over [`KeyRing`](crate::KeyRing),
//! [`SharedKeyRing`](crate::SharedKeyRing) or a C ring.
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use sesame::cookies::{CookieRules, Issued, Method, Outcome, RequestCookies, ResponsePlan};
//! use sesame::{ForkSafeRng, KeyRing, NewSession, Policy};
//!
//! let policy = Policy::default();
//! let rules = CookieRules::new(&policy);
//! let mut ring: KeyRing = KeyRing::new();
//! ring.add_derived_key(1, b"a long random master secret from the vault", b"session cookie")?;
//! let (mut rng, now) = (ForkSafeRng::new(), 1_700_000_000);
//!
//! // POST /login with no cookies yet.
//! let request = RequestCookies::parse(&rules, Method::from_name(b"POST"), b"");
//! let device = request.login_device(&mut rng).unwrap();
//! let token = ring.seal_token(&NewSession::new(42), device.as_context(), now, &mut rng)?;
//! let outcome = Outcome::Login { device, session: Issued::new(&token) };
//! let plan = ResponsePlan::new(&rules, &request, outcome, &mut rng).unwrap();
//! let mut lines = [0u8; 2048];
//! let len = plan.write_lines(&mut lines).unwrap();
//! assert!(lines[..len].starts_with(b"Set-Cookie: __Host-sesame-device="));
//!
//! // The next GET carries both cookies; only the device's own one is read.
//! let cookie = format!("{}={}; {}={}", rules.device_cookie(), device.as_str(),
//!                      rules.session_name(&device), token);
//! let request = RequestCookies::parse(&rules, Method::from_name(b"GET"), cookie.as_bytes());
//! let (device, token) = (request.device().unwrap(), request.token().unwrap());
//! let claims = ring.open(token, device.as_context(), &policy, now + 60)?;
//! assert_eq!(claims.user_id, 42);
//! let plan = ResponsePlan::new(&rules, &request, Outcome::Keep, &mut rng).unwrap();
//! assert_eq!(plan.header_count(), 0);
//! # }
//! # Ok::<(), sesame::Error>(())
//! ```
//!
//! Everything here is `no_std` and allocation-free: the request is parsed in
//! place in constant memory, and header values are formatted on demand into
//! the caller's buffer, so a C wrapper is plain data in and plain data out.
//!
//! [CookieRules::session_name]: crate::cookies::CookieRules::session_name
//! [DeviceId::as_context]: crate::cookies::DeviceId::as_context
//! [`DetectionReporter`]: crate::cookies::DetectionReporter
//! [`RequestCookies::parse`]: crate::cookies::RequestCookies::parse
//! [RequestCookies::token]: crate::cookies::RequestCookies::token
//! [RequestCookies::login_device]: crate::cookies::RequestCookies::login_device
//! [`Outcome`]: crate::cookies::Outcome
//! [`ResponsePlan`]: crate::cookies::ResponsePlan
//
// (Full paths: `lib.rs` documents `mod cookies` too, which puts these
// links in the crate root's scope.)

use core::fmt;

use rand_core::CryptoRngCore;

use crate::{Claims, Policy, SessionKind, TOKEN_MAX};

mod csrf;
mod detect;
mod device_tag;
mod request;
mod response;

pub use csrf::{csrf_token_matches, origin_allowed, CsrfToken, CSRF_SECRET_BYTES, CSRF_TOKEN_LEN};
pub use detect::{Detection, DetectionReporter};
pub use device_tag::{device_tag, DEVICE_TAG_BYTES};
pub use request::{cookie_pairs, CookiePairs, DeviceStatus, Method, RequestCookies};
#[cfg(feature = "capi")]
pub(crate) use response::SliceWriter;
pub use response::{
    Header, HeaderValue, Headers, Issued, Merge, Outcome, ResponsePlan, CACHE_HEADERS,
};

/// Default name of the device cookie. `__Host-`: only a secure origin can
/// set it, with `Path=/` and no `Domain`, so a sibling subdomain cannot toss
/// one in.
pub const DEVICE_COOKIE: &str = "__Host-sesame-device";

/// Default prefix of the session cookies' names.
pub const SESSION_PREFIX: &str = "__Host-sesame-s-";

/// Characters of a device ID: 16 random bytes in base64url without padding.
pub const DEVICE_ID_LEN: usize = 22;

/// Random bytes in a device ID.
pub const DEVICE_ID_BYTES: usize = 16;

/// base64url characters after the prefix in a session cookie's name (66 bits
/// of SHA-256 of the device ID).
pub const SESSION_SUFFIX_LEN: usize = 11;

/// Longest device cookie name accepted by [`CookieRules::with_names`].
pub const DEVICE_NAME_MAX: usize = 64;

/// Longest session prefix accepted by [`CookieRules::with_names`].
pub const SESSION_PREFIX_MAX: usize = 48;

/// Longest session cookie name.
pub const SESSION_NAME_MAX: usize = SESSION_PREFIX_MAX + SESSION_SUFFIX_LEN;

/// RFC 6265bis caps a cookie's Max-Age at 400 days; the device cookie's
/// default and the cap of every Max-Age written here.
pub const MAX_AGE_CAP: u64 = 400 * 24 * 60 * 60;

/// Longest header value a plan writes (a `Set-Cookie` with the longest name
/// and token); a buffer this long holds any one of them.
pub const HEADER_VALUE_MAX: usize =
    SESSION_NAME_MAX + 1 + TOKEN_MAX + COOKIE_ATTRIBUTES.len() + "; Max-Age=".len() + 20;

/// What the session cookie's name is hashed with, before the device ID.
pub const NAME_DERIVATION_LABEL: &[u8] = b"sesame/v1/cookie-name";

/// Cookie names that web frameworks use by default (Flask/Django, Django,
/// Rails, Rails, Laravel/Rails, Rack). A device cookie with one of these
/// names, or a session prefix that begins one of them, would read or delete
/// the framework's own cookie, so [`CookieRules::with_names`] refuses them.
pub const RESERVED_NAMES: [&str; 6] = [
    "session",
    "sessionid",
    "csrftoken",
    "_session_id",
    "remember_token",
    "rack.session",
];

/// The attributes every cookie gets (after Max-Age). `Secure`, `Path=/` and
/// no `Domain` are what the `__Host-` prefix requires; `HttpOnly` keeps
/// scripts away from the device ID and the token; `SameSite=Lax` keeps
/// cross-site POSTs from carrying them.
pub const COOKIE_ATTRIBUTES: &str = "; Path=/; Secure; HttpOnly; SameSite=Lax";

/// Why a configuration, an outcome or an output buffer was refused. Codes
/// are stable, for a C wrapper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum RuleError {
    /// A cookie name is empty or has a character RFC 6265 does not allow.
    InvalidName = 1,
    /// A cookie name is longer than [`DEVICE_NAME_MAX`] or the prefix longer
    /// than [`SESSION_PREFIX_MAX`].
    NameTooLong = 2,
    /// A name is, or the session prefix begins, one of [`RESERVED_NAMES`].
    ReservedName = 3,
    /// The device cookie's name begins with the session prefix, so it would
    /// be taken for a session cookie.
    NamesOverlap = 4,
    /// Keep or Refresh was reported for a request with no valid device
    /// cookie (so no session token could have been opened).
    NoDevice = 5,
    /// A login's device is not the one [`RequestCookies::login_device`]
    /// gives: GET/HEAD must keep an existing device, other methods must
    /// rotate it.
    DeviceMismatch = 6,
    /// A token is empty, longer than [`TOKEN_MAX`], or not base64url (it
    /// would not be a cookie value, or could inject a header).
    InvalidToken = 7,
    /// The output buffer is too short; how much was written is unspecified.
    BufferTooSmall = 8,
    /// The random number generator failed.
    RandomFailed = 9,
}

impl RuleError {
    /// The stable numeric code.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// A one-line description.
    pub fn message(self) -> &'static str {
        match self {
            RuleError::InvalidName => "cookie name is empty or not an RFC 6265 token",
            RuleError::NameTooLong => "cookie name or prefix is too long",
            RuleError::ReservedName => "cookie name collides with a framework's default cookie",
            RuleError::NamesOverlap => "device cookie name begins with the session prefix",
            RuleError::NoDevice => "a session outcome was reported for a request with no device",
            RuleError::DeviceMismatch => "login device is not the one the rules require",
            RuleError::InvalidToken => "token is not cookie-safe base64url text",
            RuleError::BufferTooSmall => "output buffer too small",
            RuleError::RandomFailed => "random number generator failed",
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RuleError {}

/// The cookie configuration: names, Max-Ages and parsing bounds. Plain data
/// (`Copy`), validated when built, so a C wrapper can hold one per server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieRules<'n> {
    device_cookie: &'n str,
    session_prefix: &'n str,
    device_max_age: u64,
    session_max_age: u64,
    remember_me_max_age: u64,
    max_cookies: usize,
    max_header_bytes: usize,
    max_deletions: usize,
}

impl CookieRules<'static> {
    /// The default names, a 400-day device cookie, and session cookies
    /// that live no longer than `policy` lets a token live unrefreshed (its
    /// idle timeout, else its absolute lifetime, capped at 400 days): a
    /// browser then drops a cookie about when the server would refuse it.
    /// Remember-me sessions get the same from the policy's remember-me
    /// limits, so their cookie outlives a browser's idle session.
    pub const fn new(policy: &Policy) -> Self {
        const fn unrefreshed(idle: Option<u64>, lifetime: Option<u64>) -> u64 {
            match (idle, lifetime) {
                (Some(idle), _) => idle,
                (None, Some(life)) => life,
                (None, None) => MAX_AGE_CAP,
            }
        }
        let session = unrefreshed(policy.idle_timeout, policy.absolute_lifetime);
        let remember_me = unrefreshed(
            policy.remember_me_idle_timeout,
            policy.remember_me_absolute_lifetime,
        );
        CookieRules {
            device_cookie: DEVICE_COOKIE,
            session_prefix: SESSION_PREFIX,
            device_max_age: MAX_AGE_CAP,
            session_max_age: clamp_max_age(session),
            remember_me_max_age: clamp_max_age(remember_me),
            max_cookies: 100,
            max_header_bytes: 16 * 1024,
            max_deletions: 50,
        }
    }
}

impl<'n> CookieRules<'n> {
    /// The same rules with other cookie names. Both must be RFC 6265 tokens;
    /// the device name may not be, nor the prefix begin, a framework default
    /// ([`RESERVED_NAMES`], case-insensitively); the device name may not
    /// begin with the prefix. Keep the `__Host-` prefix unless the site
    /// cannot serve HTTPS: without it a sibling subdomain can set cookies
    /// that shadow these.
    pub fn with_names<'m>(
        self,
        device_cookie: &'m str,
        session_prefix: &'m str,
    ) -> Result<CookieRules<'m>, RuleError> {
        check_name(device_cookie, DEVICE_NAME_MAX)?;
        check_name(session_prefix, SESSION_PREFIX_MAX)?;
        for reserved in RESERVED_NAMES {
            if device_cookie.eq_ignore_ascii_case(reserved)
                || starts_with_ignore_case(reserved, session_prefix)
            {
                return Err(RuleError::ReservedName);
            }
        }
        if device_cookie.starts_with(session_prefix) {
            return Err(RuleError::NamesOverlap);
        }
        Ok(CookieRules {
            device_cookie,
            session_prefix,
            device_max_age: self.device_max_age,
            session_max_age: self.session_max_age,
            remember_me_max_age: self.remember_me_max_age,
            max_cookies: self.max_cookies,
            max_header_bytes: self.max_header_bytes,
            max_deletions: self.max_deletions,
        })
    }

    /// The device cookie's Max-Age (default and cap: 400 days).
    pub const fn with_device_max_age(mut self, seconds: u64) -> Self {
        self.device_max_age = clamp_max_age(seconds);
        self
    }

    /// Caps the session cookies' Max-Age, of both kinds, below what the
    /// policy gives (never raises it).
    pub const fn with_session_max_age(mut self, seconds: u64) -> Self {
        if seconds < self.session_max_age {
            self.session_max_age = clamp_max_age(seconds);
        }
        if seconds < self.remember_me_max_age {
            self.remember_me_max_age = clamp_max_age(seconds);
        }
        self
    }

    /// Parsing bounds: at most `max_cookies` name=value pairs (default 100)
    /// from the first `max_header_bytes` bytes (default 16 KiB) of the
    /// `Cookie` header are looked at, and at most `max_deletions` foreign
    /// session cookies (default 50, RFC 6265's per-domain minimum) are
    /// deleted per response.
    pub const fn with_limits(
        mut self,
        max_cookies: usize,
        max_header_bytes: usize,
        max_deletions: usize,
    ) -> Self {
        self.max_cookies = max_cookies;
        self.max_header_bytes = max_header_bytes;
        self.max_deletions = max_deletions;
        self
    }

    pub const fn device_cookie(&self) -> &'n str {
        self.device_cookie
    }

    pub const fn session_prefix(&self) -> &'n str {
        self.session_prefix
    }

    pub const fn device_max_age(&self) -> u64 {
        self.device_max_age
    }

    /// The Max-Age of a browser session's cookie.
    pub const fn session_max_age(&self) -> u64 {
        self.session_max_age
    }

    /// The Max-Age of a remember-me session's cookie.
    pub const fn remember_me_max_age(&self) -> u64 {
        self.remember_me_max_age
    }

    /// The Max-Age of a session cookie of `kind`.
    pub const fn max_age_for(&self, kind: SessionKind) -> u64 {
        match kind {
            SessionKind::Browser => self.session_max_age,
            SessionKind::RememberMe => self.remember_me_max_age,
        }
    }

    pub const fn max_cookies(&self) -> usize {
        self.max_cookies
    }

    pub const fn max_header_bytes(&self) -> usize {
        self.max_header_bytes
    }

    pub const fn max_deletions(&self) -> usize {
        self.max_deletions
    }

    /// The session cookie's name for `device`: the prefix, then the first
    /// 11 base64url characters of SHA-256([`NAME_DERIVATION_LABEL`] ||
    /// device ID text). Another browser's refresh, replayed, lands under a
    /// name this browser never reads.
    pub fn session_name(&self, device: &DeviceId) -> SessionName {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(NAME_DERIVATION_LABEL);
        hash.update(device.as_str().as_bytes());
        let digest = hash.finalize();
        let mut suffix = [0u8; 12];
        // 9 bytes encode to exactly 12 characters; the first 11 are kept.
        let _ = crate::base64url::encode(&digest[..9], &mut suffix);
        let mut name = SessionName {
            bytes: [0; SESSION_NAME_MAX],
            len: 0,
        };
        let prefix = self.session_prefix.as_bytes();
        name.bytes[..prefix.len()].copy_from_slice(prefix);
        name.bytes[prefix.len()..prefix.len() + SESSION_SUFFIX_LEN]
            .copy_from_slice(&suffix[..SESSION_SUFFIX_LEN]);
        name.len = prefix.len() + SESSION_SUFFIX_LEN;
        name
    }

    /// Whether `name` has the shape of a session cookie's name under these
    /// rules (the prefix and 11 base64url characters), whatever its device.
    pub fn is_session_name(&self, name: &[u8]) -> bool {
        match name.strip_prefix(self.session_prefix.as_bytes()) {
            Some(suffix) => {
                suffix.len() == SESSION_SUFFIX_LEN && suffix.iter().all(|&c| is_base64url(c))
            }
            None => false,
        }
    }
}

/// A random device ID: 16 bytes as 22 base64url characters. Not a
/// credential by itself (the session token is), but `Debug` hides it anyway.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId([u8; DEVICE_ID_LEN]);

impl DeviceId {
    /// A new device ID from `rng`.
    pub fn generate<R: CryptoRngCore + ?Sized>(rng: &mut R) -> Result<DeviceId, RuleError> {
        let mut bytes = [0u8; DEVICE_ID_BYTES];
        rng.try_fill_bytes(&mut bytes)
            .map_err(|_| RuleError::RandomFailed)?;
        let mut text = [0u8; DEVICE_ID_LEN];
        crate::base64url::encode(&bytes, &mut text).map_err(|_| RuleError::RandomFailed)?;
        Ok(DeviceId(text))
    }

    /// A device ID from cookie text: exactly 22 canonical base64url
    /// characters, else `None`.
    pub fn parse(text: &[u8]) -> Option<DeviceId> {
        let text: &[u8; DEVICE_ID_LEN] = text.try_into().ok()?;
        let mut bytes = [0u8; DEVICE_ID_BYTES];
        crate::base64url::decode(text, &mut bytes).ok()?;
        Some(DeviceId(*text))
    }

    pub fn as_str(&self) -> &str {
        // Only base64url characters are ever stored.
        core::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The binding context to seal and open this device's session tokens
    /// with (the ID's text). A token replayed into another browser's jar
    /// then fails to open there even if read under the right name.
    pub fn as_context(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceId(..)")
    }
}

/// A session cookie's name, held inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionName {
    bytes: [u8; SESSION_NAME_MAX],
    len: usize,
}

impl SessionName {
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl fmt::Debug for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionName({:?})", self.as_str())
    }
}

impl fmt::Display for SessionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Remaining absolute lifetime of opened claims under `policy` at `now`:
/// the smaller of the policy's (for the claims' kind) and the token's
/// lifetime, from `issued_at`.
/// `None` if neither sets one.
pub fn lifetime_left(claims: &Claims, policy: &Policy, now: u64) -> Option<u64> {
    let lifetime = policy.lifetime(claims.kind, claims.lifetime)?;
    Some(
        claims
            .issued_at
            .saturating_add(lifetime)
            .saturating_sub(now),
    )
}

const fn clamp_max_age(seconds: u64) -> u64 {
    if seconds == 0 {
        1
    } else if seconds > MAX_AGE_CAP {
        MAX_AGE_CAP
    } else {
        seconds
    }
}

/// RFC 6265 cookie-name: an RFC 2616 token (visible ASCII but separators).
fn is_token_char(c: u8) -> bool {
    c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&c)
}

pub(crate) fn is_base64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

fn check_name(name: &str, max: usize) -> Result<(), RuleError> {
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(RuleError::InvalidName);
    }
    if name.len() > max {
        return Err(RuleError::NameTooLong);
    }
    Ok(())
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}
