//! Reading a request's `Cookie` header under the rules.

use core::fmt;

use rand_core::CryptoRngCore;

use super::{CookieRules, DeviceId, RuleError, SessionName};

/// Whether a response to the request may be stored by a cache.
///
/// GET and HEAD responses are what shared caches store (whatever
/// `Cache-Control` says, for the caches this defends against); their
/// responses never set the device cookie nor delete a cookie. Every other
/// method is `Unsafe`, and its response carries the cookie housekeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET or HEAD: the response may be cached and replayed to anyone.
    Safe,
    /// Any other method: the response reaches only the browser that sent it.
    Unsafe,
}

impl Method {
    /// From the request method's name. GET and HEAD are matched regardless
    /// of case, so an oddly spelled GET is never taken for a POST.
    pub fn from_name(name: &[u8]) -> Method {
        if name.eq_ignore_ascii_case(b"GET") || name.eq_ignore_ascii_case(b"HEAD") {
            Method::Safe
        } else {
            Method::Unsafe
        }
    }

    pub fn is_safe(self) -> bool {
        self == Method::Safe
    }
}

/// The device cookie as the request carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    /// A well-formed device ID.
    Valid,
    /// No device cookie.
    Missing,
    /// One or more device cookies, none a well-formed device ID.
    Invalid,
}

/// The `name=value` pairs of a `Cookie` header, in order, in place.
///
/// Lenient the way browsers and servers are: pairs are split at `;`,
/// spaces and tabs around names and values are dropped, pairs without `=`
/// or with an empty or non-token name are skipped. Bounded: at most
/// `max_pairs` pairs (skipped ones included) from the first `max_bytes`
/// bytes are looked at, so the work and memory are constant whatever the
/// header. Never panics.
#[derive(Clone, Debug)]
pub struct CookiePairs<'h> {
    rest: &'h [u8],
    pairs_left: usize,
}

/// Iterates the pairs of `header` under the given bounds.
pub fn cookie_pairs(header: &[u8], max_pairs: usize, max_bytes: usize) -> CookiePairs<'_> {
    CookiePairs {
        rest: bounded(header, max_bytes),
        pairs_left: max_pairs,
    }
}

/// The first `max_bytes` of `header`, cut after the last `;` within them
/// when the header is longer: a pair cut in the middle would give a
/// truncated token, which would fail to open and have its cookie deleted.
fn bounded(header: &[u8], max_bytes: usize) -> &[u8] {
    match header.get(..max_bytes) {
        Some(head) if max_bytes < header.len() => match head.iter().rposition(|&c| c == b';') {
            Some(at) => &head[..at],
            None => &head[..0],
        },
        _ => header,
    }
}

impl<'h> CookiePairs<'h> {
    /// Whether the bounds cut the header short (pairs were left unread).
    pub fn truncated(&self) -> bool {
        self.pairs_left == 0 && !self.rest.is_empty()
    }
}

impl<'h> Iterator for CookiePairs<'h> {
    type Item = (&'h [u8], &'h [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        while self.pairs_left > 0 && !self.rest.is_empty() {
            self.pairs_left -= 1;
            let (pair, rest) = match self.rest.iter().position(|&c| c == b';') {
                Some(at) => (&self.rest[..at], &self.rest[at + 1..]),
                None => (self.rest, &self.rest[self.rest.len()..]),
            };
            self.rest = rest;
            let Some(eq) = pair.iter().position(|&c| c == b'=') else {
                continue;
            };
            let name = trim(&pair[..eq]);
            let value = trim(&pair[eq + 1..]);
            if name.is_empty() || !name.iter().all(|&c| super::is_token_char(c)) {
                continue;
            }
            return Some((name, value));
        }
        None
    }
}

fn trim(mut text: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = text {
        text = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = text {
        text = rest;
    }
    text
}

/// What a request's cookies say, borrowed from its `Cookie` header.
///
/// Holds the device ID (if a valid one came), the session token stored
/// under that device's name (only that one: a token under any other name
/// is a replayed foreign one, never read), and how many foreign session
/// cookies came, the evidence of a shared cache replaying responses. That
/// evidence is for logging only: a client can forge it, so nothing here
/// acts on it beyond deleting those cookies on a non-GET response.
#[derive(Clone, Copy)]
pub struct RequestCookies<'h> {
    header: &'h [u8],
    method: Method,
    device: Option<DeviceId>,
    device_status: DeviceStatus,
    session_name: Option<SessionName>,
    token: Option<&'h [u8]>,
    foreign: usize,
    truncated: bool,
}

/// Never shows the header nor the token (bearer credentials): only lengths.
impl fmt::Debug for RequestCookies<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestCookies")
            .field("header", &format_args!("{} bytes", self.header.len()))
            .field("method", &self.method)
            .field("device", &self.device)
            .field("device_status", &self.device_status)
            .field("session_name", &self.session_name)
            .field("token", &self.token.map(|t| TokenLen(t.len())))
            .field("foreign", &self.foreign)
            .field("truncated", &self.truncated)
            .finish()
    }
}

/// Shows a token's length in place of the token.
pub(crate) struct TokenLen(pub(crate) usize);

impl fmt::Debug for TokenLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} chars", self.0)
    }
}

impl<'h> RequestCookies<'h> {
    /// Reads `cookie_header` (the raw value; join several `Cookie` headers
    /// with `"; "` first, as HTTP/2 may split them) for a request made with
    /// `method`. The first well-formed device cookie counts; the first
    /// cookie under that device's session name gives the token.
    pub fn parse(rules: &CookieRules<'_>, method: Method, cookie_header: &'h [u8]) -> Self {
        let header = bounded(cookie_header, rules.max_header_bytes());
        let device_name = rules.device_cookie().as_bytes();
        let mut device = None;
        let mut device_status = DeviceStatus::Missing;
        let mut pairs = cookie_pairs(header, rules.max_cookies(), usize::MAX);
        for (name, value) in &mut pairs {
            if name == device_name {
                match DeviceId::parse(value) {
                    Some(id) => {
                        device = Some(id);
                        device_status = DeviceStatus::Valid;
                        break;
                    }
                    None => device_status = DeviceStatus::Invalid,
                }
            }
        }
        let session_name = device.map(|d| rules.session_name(&d));
        let own = session_name.as_ref().map(|n| n.as_bytes());
        let mut token = None;
        let mut foreign = 0;
        let mut pairs = cookie_pairs(header, rules.max_cookies(), usize::MAX);
        for (name, value) in &mut pairs {
            if Some(name) == own {
                if token.is_none() {
                    token = Some(value);
                }
            } else if rules.is_session_name(name) {
                foreign += 1;
            }
        }
        RequestCookies {
            header,
            method,
            device,
            device_status,
            session_name,
            token,
            foreign,
            truncated: pairs.truncated() || header.len() < cookie_header.len(),
        }
    }

    /// The part of the `Cookie` header within the byte bound.
    pub(crate) fn header(&self) -> &'h [u8] {
        self.header
    }

    pub fn method(&self) -> Method {
        self.method
    }

    /// The device ID, if the request carried a valid device cookie. Seal
    /// and open this device's tokens with [`DeviceId::as_context`].
    pub fn device(&self) -> Option<&DeviceId> {
        self.device.as_ref()
    }

    pub fn device_status(&self) -> DeviceStatus {
        self.device_status
    }

    /// The name this device's session cookie goes by.
    pub fn session_name(&self) -> Option<&SessionName> {
        self.session_name.as_ref()
    }

    /// The session token to open (with the device ID as context): the value
    /// of the first cookie under this device's session name. It may be
    /// anything the client sent; `open` decides.
    pub fn token(&self) -> Option<&'h [u8]> {
        self.token
    }

    /// How many session cookies under other names (other devices') came:
    /// replayed by a shared cache, left over from a race with a login, or
    /// forged. Counted within the parsing bounds.
    pub fn foreign_sessions(&self) -> usize {
        self.foreign
    }

    /// Whether the parsing bounds cut the header short.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The names of the foreign session cookies, in header order, within
    /// the parsing bounds (a name sent twice comes twice).
    pub fn foreign_names<'r>(
        &'r self,
        rules: &'r CookieRules<'_>,
    ) -> impl Iterator<Item = &'h [u8]> + 'r {
        let own = self.session_name.as_ref().map(|n| n.as_bytes());
        cookie_pairs(self.header, rules.max_cookies(), usize::MAX)
            .map(|(name, _)| name)
            .filter(move |&name| Some(name) != own && rules.is_session_name(name))
    }

    /// The device a login on this request must seal its token for: the
    /// current one on GET/HEAD when there is one (a cacheable response
    /// must not set the device cookie), otherwise a new one (every login
    /// on a non-GET rotates the device, so cookies a cache replayed under
    /// the old name become foreign).
    pub fn login_device<R: CryptoRngCore + ?Sized>(
        &self,
        rng: &mut R,
    ) -> Result<DeviceId, RuleError> {
        match (self.method, self.device) {
            (Method::Safe, Some(device)) => Ok(device),
            _ => DeviceId::generate(rng),
        }
    }
}
