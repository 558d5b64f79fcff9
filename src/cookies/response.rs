//! Deciding a response's cookies and cache headers under the rules.

use core::fmt::{self, Write};

use rand_core::CryptoRngCore;

use super::{
    CookieRules, DeviceId, Method, RequestCookies, RuleError, SessionName, COOKIE_ATTRIBUTES,
};
use crate::{Claims, NewSession, Policy, SessionKind, TOKEN_MAX};

/// A token the caller sealed or refreshed, and how long it may live.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Issued<'t> {
    /// The token text (sealed with the device ID as context).
    pub token: &'t str,
    /// Seconds of absolute lifetime the session has left, if known: the
    /// cookie's Max-Age is kept within it (and within the idle timeout).
    pub lifetime_left: Option<u64>,
    /// The session's kind: a remember-me cookie lives as long as the
    /// policy's remember-me limits, a browser session's as its own.
    pub kind: SessionKind,
}

impl<'t> Issued<'t> {
    /// A browser session's token whose remaining lifetime is not known (the
    /// browser idle timeout alone bounds its cookie). A remember-me token
    /// needs [`with_claims`](Self::with_claims) or
    /// [`for_new_session`](Self::for_new_session), or its cookie would get
    /// the browser session's Max-Age.
    pub const fn new(token: &'t str) -> Self {
        Issued {
            token,
            lifetime_left: None,
            kind: SessionKind::Browser,
        }
    }

    /// A freshly sealed login token: its lifetime is the smaller of the
    /// session's own and the policy's absolute lifetime for its kind.
    pub fn for_new_session(token: &'t str, session: &NewSession<'_>, policy: &Policy) -> Self {
        let lifetime_left = policy.lifetime(session.kind, session.lifetime);
        Issued {
            token,
            lifetime_left,
            kind: session.kind,
        }
    }

    /// A token with the lifetime its freshly sealed or refreshed claims
    /// have left under `policy` at `now`.
    pub fn with_claims(token: &'t str, claims: &Claims, policy: &Policy, now: u64) -> Self {
        Issued {
            token,
            lifetime_left: super::lifetime_left(claims, policy, now),
            kind: claims.kind,
        }
    }
}

impl fmt::Debug for Issued<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("token", &format_args!("{} chars", self.token.len()))
            .field("lifetime_left", &self.lifetime_left)
            .field("kind", &self.kind)
            .finish()
    }
}

/// What the application or middleware concluded about the request's session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'t> {
    /// No session, none wanted: nothing to set (a device cookie on non-GET
    /// if the request lacked one).
    Anonymous,
    /// A valid session that needs no refresh.
    Keep,
    /// A valid session, re-sealed for the same device.
    Refresh(Issued<'t>),
    /// The request's token did not open (tampered, expired, revoked, other
    /// key). On GET/HEAD this is anonymous and sets nothing; on other
    /// methods the cookie is deleted.
    Rejected,
    /// A new session sealed for `device`, which must come from
    /// [`RequestCookies::login_device`].
    Login {
        device: DeviceId,
        session: Issued<'t>,
    },
    /// The session ends. On GET/HEAD nothing can be deleted (see
    /// [`ResponsePlan::warn_get_logout`]).
    Logout,
}

/// How a middleware adds a header to the application's response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Add this header line alongside any others (`Set-Cookie`).
    Add,
    /// Remove the application's header of this name first: a response that
    /// sets a cookie must not go out as `Cache-Control: public`.
    Replace,
    /// Join with the application's header of this name by `", "` (`Vary`).
    Append,
}

/// One header of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub name: &'static str,
    pub value: HeaderValue<'a>,
    pub merge: Merge,
}

/// A header value, formatted on demand (`Display`, or
/// [`write_to`](Self::write_to) a buffer).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum HeaderValue<'a> {
    /// `name=value; Max-Age=n; Path=/; Secure; HttpOnly; SameSite=Lax`;
    /// `max_age` 0 with an empty value deletes the cookie.
    SetCookie {
        name: &'a str,
        value: &'a str,
        max_age: u64,
    },
    /// A fixed value.
    Static(&'static str),
}

impl fmt::Debug for HeaderValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The value may be a session token: never in logs.
            HeaderValue::SetCookie { name, max_age, .. } => {
                write!(f, "SetCookie({name}=..; Max-Age={max_age})")
            }
            HeaderValue::Static(text) => write!(f, "{text:?}"),
        }
    }
}

impl fmt::Display for HeaderValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderValue::SetCookie {
                name,
                value,
                max_age,
            } => write!(f, "{name}={value}; Max-Age={max_age}{COOKIE_ATTRIBUTES}"),
            HeaderValue::Static(text) => f.write_str(text),
        }
    }
}

impl HeaderValue<'_> {
    /// Length of the value in bytes.
    pub fn len(&self) -> usize {
        let mut counter = Counter(0);
        let _ = write!(counter, "{self}");
        counter.0
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the value into the start of `out`; returns its length.
    /// At most [`HEADER_VALUE_MAX`](super::HEADER_VALUE_MAX) bytes.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, RuleError> {
        let mut writer = SliceWriter { out, len: 0 };
        write!(writer, "{self}").map_err(|_| RuleError::BufferTooSmall)?;
        Ok(writer.len)
    }
}

/// The headers added to every response that sets or deletes a cookie, in
/// this order, after the `Set-Cookie` lines. They help the caches that
/// honour them (browsers, most CDNs, nginx); the cookie rules are for the
/// ones that do not.
pub const CACHE_HEADERS: [(&str, &str, Merge); 8] = [
    ("Cache-Control", "private, no-store", Merge::Replace),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT", Merge::Replace),
    ("Pragma", "no-cache", Merge::Replace),
    ("Surrogate-Control", "no-store", Merge::Replace),
    ("CDN-Cache-Control", "no-store", Merge::Replace),
    ("Cloudflare-CDN-Cache-Control", "no-store", Merge::Replace),
    ("X-Accel-Expires", "0", Merge::Replace),
    ("Vary", "Cookie", Merge::Append),
];

/// What a response must carry: which cookies to set and delete, and the
/// cache headers if any. Built by [`ResponsePlan::new`]; read with
/// [`headers`](Self::headers) or [`write_lines`](Self::write_lines).
#[derive(Clone, Copy)]
pub struct ResponsePlan<'a> {
    rules: &'a CookieRules<'a>,
    request: &'a RequestCookies<'a>,
    set_device: Option<DeviceId>,
    delete_session: Option<SessionName>,
    set_session: Option<(SessionName, &'a str, u64)>,
    foreign_deletions: usize,
    device_after: Option<DeviceId>,
    warn_unprotected_get_login: bool,
    warn_get_logout: bool,
}

/// Never shows the token: only its length.
impl fmt::Debug for ResponsePlan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set_session = self
            .set_session
            .as_ref()
            .map(|(name, token, max_age)| (name, super::request::TokenLen(token.len()), max_age));
        f.debug_struct("ResponsePlan")
            .field("request", self.request)
            .field("set_device", &self.set_device)
            .field("delete_session", &self.delete_session)
            .field("set_session", &set_session)
            .field("foreign_deletions", &self.foreign_deletions)
            .field("device_after", &self.device_after)
            .field(
                "warn_unprotected_get_login",
                &self.warn_unprotected_get_login,
            )
            .field("warn_get_logout", &self.warn_get_logout)
            .finish()
    }
}

impl<'a> ResponsePlan<'a> {
    /// Applies the rules to `outcome` of `request`. `rng` makes a device ID
    /// when a non-GET response needs one it was not given (a request
    /// without a device cookie, a logout).
    ///
    /// On GET/HEAD: only the session cookie under the current device's name
    /// may be set (a refresh, or a login when the device cookie exists);
    /// nothing is deleted and the device cookie is never set, except for a
    /// login with no device at all ([`warn_unprotected_get_login`](Self::warn_unprotected_get_login)).
    /// On other methods: the device cookie is set if missing or invalid and
    /// rotated at login and logout; the old-name session cookie is deleted
    /// at login, logout and rejection; every foreign session cookie the
    /// request carried is deleted (up to the rules' bound).
    pub fn new<R: CryptoRngCore + ?Sized>(
        rules: &'a CookieRules<'a>,
        request: &'a RequestCookies<'a>,
        outcome: Outcome<'a>,
        rng: &mut R,
    ) -> Result<Self, RuleError> {
        Self::new_issuing(rules, request, outcome, None, rng)
    }

    /// [`new`](Self::new), issuing `issue` (if given) where a non-GET
    /// response to a request without a device cookie issues one. Pick it
    /// before the page is rendered, so the page's CSRF token is the device's
    /// that the browser holds next (a form shown again after a first
    /// visit's failed login must check on its retry). A login or logout
    /// still rotates to a device of its own.
    pub fn new_issuing<R: CryptoRngCore + ?Sized>(
        rules: &'a CookieRules<'a>,
        request: &'a RequestCookies<'a>,
        outcome: Outcome<'a>,
        issue: Option<DeviceId>,
        rng: &mut R,
    ) -> Result<Self, RuleError> {
        let current = request.device().copied();
        let own_present = request.token().is_some();
        let mut plan = ResponsePlan {
            rules,
            request,
            set_device: None,
            delete_session: None,
            set_session: None,
            foreign_deletions: 0,
            device_after: current,
            warn_unprotected_get_login: false,
            warn_get_logout: false,
        };
        let safe = request.method() == Method::Safe;
        match outcome {
            Outcome::Anonymous | Outcome::Rejected if safe => {}
            Outcome::Keep if current.is_none() => return Err(RuleError::NoDevice),
            Outcome::Keep | Outcome::Anonymous => {}
            Outcome::Refresh(session) => {
                let device = current.ok_or(RuleError::NoDevice)?;
                plan.set_session(&device, session)?;
            }
            Outcome::Rejected => {
                if own_present {
                    plan.delete_session = request.session_name().copied();
                }
            }
            Outcome::Login { device, session } => {
                match (safe, current) {
                    (true, Some(current)) if device != current => {
                        return Err(RuleError::DeviceMismatch)
                    }
                    (true, Some(_)) => {}
                    (true, None) => {
                        // Unavoidable: the session needs a device, and this
                        // response may be cached. The middleware warns.
                        plan.set_device = Some(device);
                        plan.warn_unprotected_get_login = true;
                    }
                    (false, Some(current)) if device == current => {
                        return Err(RuleError::DeviceMismatch)
                    }
                    (false, _) => {
                        plan.set_device = Some(device);
                        if own_present {
                            plan.delete_session = request.session_name().copied();
                        }
                    }
                }
                plan.device_after = Some(device);
                plan.set_session(&device, session)?;
            }
            Outcome::Logout if safe => plan.warn_get_logout = true,
            Outcome::Logout => {
                let device = DeviceId::generate(rng)?;
                plan.set_device = Some(device);
                plan.device_after = Some(device);
                if own_present {
                    plan.delete_session = request.session_name().copied();
                }
            }
        }
        if !safe {
            if plan.device_after.is_none() {
                let device = match issue {
                    Some(device) => device,
                    None => DeviceId::generate(rng)?,
                };
                plan.set_device = Some(device);
                plan.device_after = Some(device);
            }
            plan.foreign_deletions = request
                .foreign_names(rules)
                .take(rules.max_deletions())
                .count();
        }
        Ok(plan)
    }

    fn set_session(&mut self, device: &DeviceId, session: Issued<'a>) -> Result<(), RuleError> {
        let token = session.token.as_bytes();
        if token.is_empty()
            || token.len() > TOKEN_MAX
            || !token.iter().all(|&c| super::is_base64url(c))
        {
            return Err(RuleError::InvalidToken);
        }
        let mut max_age = self.rules.max_age_for(session.kind);
        if let Some(left) = session.lifetime_left {
            max_age = max_age.min(left);
        }
        // Max-Age=0 would be a deletion; a token with under a second left
        // still gets one (the server refuses it after that anyway).
        self.set_session = Some((
            self.rules.session_name(device),
            session.token,
            max_age.max(1),
        ));
        Ok(())
    }

    /// The device the browser holds after this response (`None`: none yet,
    /// on a GET without a device cookie).
    pub fn device_after(&self) -> Option<&DeviceId> {
        self.device_after.as_ref()
    }

    /// The device cookie this response sets, if any.
    pub fn sets_device(&self) -> Option<&DeviceId> {
        self.set_device.as_ref()
    }

    /// Whether any cookie is set or deleted (and so the cache headers go out).
    pub fn touches_cookies(&self) -> bool {
        self.cookie_count() > 0
    }

    /// A login on GET/HEAD with no device cookie: the response sets the
    /// device and session cookies although a cache may store it, and a
    /// cache replaying it would log other browsers in as this user. The
    /// middleware should warn once (start logins with a POST so the device
    /// cookie exists before an OAuth-style GET callback).
    pub fn warn_unprotected_get_login(&self) -> bool {
        self.warn_unprotected_get_login
    }

    /// A logout on GET/HEAD: nothing was deleted (a cached deletion would
    /// log its owner out later). Log out with a POST; revoke the session ID
    /// server-side if GET logouts must bite.
    pub fn warn_get_logout(&self) -> bool {
        self.warn_get_logout
    }

    fn cookie_count(&self) -> usize {
        self.set_device.is_some() as usize
            + self.delete_session.is_some() as usize
            + self.set_session.is_some() as usize
            + self.foreign_deletions
    }

    /// Number of headers [`headers`](Self::headers) yields.
    pub fn header_count(&self) -> usize {
        match self.cookie_count() {
            0 => 0,
            cookies => cookies + CACHE_HEADERS.len(),
        }
    }

    /// The headers, in a fixed order: the device cookie, the old session
    /// cookie's deletion, the new session cookie, the foreign deletions (in
    /// request order), then [`CACHE_HEADERS`] if any cookie was touched.
    pub fn headers(&self) -> Headers<'_> {
        Headers {
            plan: self,
            stage: 0,
            foreign: None,
            foreign_left: self.foreign_deletions,
        }
    }

    /// Header `index` of [`headers`](Self::headers) (for a C wrapper's
    /// random access).
    pub fn header(&self, index: usize) -> Option<Header<'_>> {
        self.headers().nth(index)
    }

    /// Writes every header as a `Name: value` line ended by `\n` (no `\r`;
    /// values never contain either) into `out`; returns the length.
    pub fn write_lines(&self, out: &mut [u8]) -> Result<usize, RuleError> {
        let mut writer = SliceWriter { out, len: 0 };
        for header in self.headers() {
            writeln!(writer, "{}: {}", header.name, header.value)
                .map_err(|_| RuleError::BufferTooSmall)?;
        }
        Ok(writer.len)
    }
}

/// Iterator over a plan's headers.
#[derive(Clone, Debug)]
pub struct Headers<'p> {
    plan: &'p ResponsePlan<'p>,
    stage: usize,
    foreign: Option<super::CookiePairs<'p>>,
    foreign_left: usize,
}

const SET_COOKIE: &str = "Set-Cookie";

fn set_cookie<'a>(name: &'a str, value: &'a str, max_age: u64) -> Header<'a> {
    Header {
        name: SET_COOKIE,
        value: HeaderValue::SetCookie {
            name,
            value,
            max_age,
        },
        merge: Merge::Add,
    }
}

impl<'p> Iterator for Headers<'p> {
    type Item = Header<'p>;

    fn next(&mut self) -> Option<Header<'p>> {
        let plan = self.plan;
        loop {
            let stage = self.stage;
            self.stage += 1;
            match stage {
                0 => {
                    if let Some(device) = &plan.set_device {
                        return Some(set_cookie(
                            plan.rules.device_cookie(),
                            device.as_str(),
                            plan.rules.device_max_age(),
                        ));
                    }
                }
                1 => {
                    if let Some(name) = &plan.delete_session {
                        return Some(set_cookie(name.as_str(), "", 0));
                    }
                }
                2 => {
                    if let Some((name, token, max_age)) = &plan.set_session {
                        return Some(set_cookie(name.as_str(), token, *max_age));
                    }
                }
                3 => {
                    if self.foreign_left > 0 {
                        self.stage = 3;
                        let own = plan.request.session_name().map(|n| n.as_bytes());
                        let pairs = self.foreign.get_or_insert_with(|| {
                            super::cookie_pairs(
                                plan.request_header(),
                                plan.rules.max_cookies(),
                                usize::MAX,
                            )
                        });
                        for (name, _) in pairs {
                            if Some(name) != own && plan.rules.is_session_name(name) {
                                self.foreign_left -= 1;
                                // Session names are checked ASCII.
                                let name = core::str::from_utf8(name).unwrap_or("");
                                return Some(set_cookie(name, "", 0));
                            }
                        }
                        self.foreign_left = 0;
                        self.stage = 4;
                    }
                }
                _ => {
                    let index = stage - 4;
                    if plan.cookie_count() == 0 || index >= CACHE_HEADERS.len() {
                        self.stage = 4 + CACHE_HEADERS.len();
                        return None;
                    }
                    let (name, value, merge) = CACHE_HEADERS[index];
                    return Some(Header {
                        name,
                        value: HeaderValue::Static(value),
                        merge,
                    });
                }
            }
        }
    }
}

impl<'a> ResponsePlan<'a> {
    fn request_header(&self) -> &'a [u8] {
        self.request.header()
    }
}

struct Counter(usize);

impl Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Formats into a byte slice, failing rather than truncating.
pub(crate) struct SliceWriter<'o> {
    pub(crate) out: &'o mut [u8],
    pub(crate) len: usize,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let slot = self.out.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
