//! The cache-proof cookie rules (`crate::cookies`, `docs/COOKIES.md`)
//! across the C ABI, as two calls per request so a middleware in any
//! language is a thin skin: `sesame_request_begin` takes the method and the
//! raw `Cookie` header and gives the session (opened, and refreshed when
//! due); `sesame_request_finish` takes what the app decided (keep, log in,
//! log out, reject) and writes the response's header lines.

use core::ffi::c_char;
use core::mem::{align_of, size_of};
use core::ptr;

use super::keyring::ring_ref;
use super::*;
use crate::cookies::{
    CookieRules, DetectionReporter, DeviceId, Issued, Method, Outcome, RequestCookies,
    ResponsePlan, RuleError, SliceWriter,
};
use crate::{NewSession, Policy};

/// `sesame_request.session`: the request carried no session cookie for its
/// device (or no device cookie).
pub const SESAME_SESSION_NONE: u32 = 0;
/// A valid session, not due for a refresh.
pub const SESAME_SESSION_VALID: u32 = 1;
/// A valid session that was due and has been refreshed: `finish` sets the
/// new token (under the browser's own cookie name, safe on GET).
pub const SESAME_SESSION_REFRESHED: u32 = 2;
/// The session cookie did not open; `sesame_request.rejected` says why.
pub const SESAME_SESSION_REJECTED: u32 = 3;

/// `sesame_request.flags`: log the detection now (`sesame_request_detection_message`);
/// set at most once a minute per rules object, whatever the traffic.
pub const SESAME_REQUEST_LOG_DETECTION: u32 = 1;
/// The request's `Cookie` header was longer than the rules read.
pub const SESAME_REQUEST_TRUNCATED: u32 = 2;

/// `sesame_request_finish` action: whatever `begin` found (no session, keep,
/// refresh, or forget a rejected cookie).
pub const SESAME_ACTION_KEEP: u32 = 0;
/// A new session for `user_id`, sealed for the browser's device (a new one
/// on non-GET requests).
pub const SESAME_ACTION_LOGIN: u32 = 1;
/// The session ends; a new device ID is issued (non-GET requests).
pub const SESAME_ACTION_LOGOUT: u32 = 2;
/// The app refuses a session that opened (for example, revoked in its store).
pub const SESAME_ACTION_REJECT: u32 = 3;
/// Keep the session but do not send the token `begin` refreshed: the
/// session registry answered GRACE (another request of the browser already
/// refreshed it, and the browser has, or is getting, that token).
pub const SESAME_ACTION_KEEP_UNREFRESHED: u32 = 4;

/// `finish` flag: a login on GET/HEAD from a browser without a device
/// cookie, which no cookie rule can protect from a shared cache: warn once,
/// and start logins with a POST (docs/COOKIES.md).
pub const SESAME_FINISH_WARN_UNPROTECTED_GET_LOGIN: u32 = 1;
/// `finish` flag: a logout on GET/HEAD, which cannot delete a cookie
/// safely: warn once, and log out with a POST.
pub const SESAME_FINISH_WARN_GET_LOGOUT: u32 = 2;

/// Words of `sesame_request` kept for sesame's own use between `begin` and `finish`.
pub const SESAME_REQUEST_INTERNAL_WORDS: usize = 96;
/// Marks internal state written by `begin` and not yet used by `finish`.
pub(super) const BEGUN: u64 = 0x7365_7361_6d65_7271;
/// Marks internal state `finish` has used (its issued token stays readable).
pub(super) const FINISHED: u64 = 0x7365_7361_6d65_7266;

/// `sesame_request_token`: the token of the session cookie the request
/// carried (the one `begin` opened, refreshed or rejected).
pub const SESAME_TOKEN_PRESENTED: u32 = 0;
/// `sesame_request_token`: the token the response sets: the one `begin`
/// refreshed, or after a login the new session's.
pub const SESAME_TOKEN_ISSUED: u32 = 1;

/// The cookie rules of one app: cookie names, Max-Ages (from the policy),
/// the policy sessions are opened under, and a detection counter. Made by
/// `sesame_cookie_rules_new`, released by `sesame_cookie_rules_free`; any
/// number of threads may use one at once.
pub struct sesame_cookie_rules {
    rules: CookieRules<'static>,
    policy: Policy,
    reporter: DetectionReporter,
    /// Owns the custom names `rules` borrows (freed with the rules; only
    /// std builds make rules, and so free names).
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    names: Option<(*mut str, *mut str)>,
}

impl core::fmt::Debug for sesame_cookie_rules {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.rules.fmt(f)
    }
}

// SAFETY: the name pointers are owned, immutable after construction and
// freed only by sesame_cookie_rules_free; everything else is Sync data.
unsafe impl Send for sesame_cookie_rules {}
// SAFETY: as for Send; the reporter is atomic.
unsafe impl Sync for sesame_cookie_rules {}

/// One request between `sesame_request_begin` and `sesame_request_finish`,
/// in the caller's storage (a stack variable is fine). The public fields
/// are written by `begin`; `internal` is sesame's.
#[repr(C)]
pub struct sesame_request {
    /// `SESAME_SESSION_*`.
    pub session: u32,
    /// For `SESAME_SESSION_REJECTED`, the `sesame_result` of the failed open
    /// (for example `SESAME_IDLE_EXPIRED`); otherwise 0.
    pub rejected: u32,
    /// `SESAME_REQUEST_*` flags.
    pub flags: u32,
    /// Session cookies of other browsers the request carried: evidence that
    /// a shared cache replays responses. Report it; never act on it (a
    /// client can forge it).
    pub foreign_sessions: u32,
    /// The session, for `SESAME_SESSION_VALID` and `_REFRESHED` (after a
    /// refresh, the refreshed claims); after a login, the new session.
    pub claims: sesame_claims,
    /// sesame's state between the two calls; do not touch.
    pub internal: [core::mem::MaybeUninit<u64>; SESAME_REQUEST_INTERNAL_WORDS],
}

/// The public fields only: the internal state holds the Cookie header's
/// tokens, bearer credentials that must not reach a log.
impl core::fmt::Debug for sesame_request {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("sesame_request")
            .field("session", &self.session)
            .field("rejected", &self.rejected)
            .field("flags", &self.flags)
            .field("foreign_sessions", &self.foreign_sessions)
            .finish_non_exhaustive()
    }
}

/// What `begin` leaves for `finish`.
pub(super) struct RequestState {
    pub(super) begun: u64,
    pub(super) cookies: RequestCookies<'static>,
    refreshed: [u8; SESAME_TOKEN_MAX],
    refreshed_len: usize,
    /// The browser's device after this response, for CSRF tokens: until
    /// `finish`, the request's, or on a non-GET without one the device
    /// `begin` picked for the response to issue (so a page rendered before
    /// `finish` gets a token the next request's device checks); after
    /// `finish`, the one the response leaves (new at a login or logout).
    pub(super) device: Option<DeviceId>,
}

const _: () = {
    assert!(size_of::<RequestState>() <= SESAME_REQUEST_INTERNAL_WORDS * 8);
    assert!(align_of::<RequestState>() <= align_of::<u64>());
};

fn rule_error(error: RuleError) -> sesame_result {
    match error {
        RuleError::InvalidName
        | RuleError::NameTooLong
        | RuleError::ReservedName
        | RuleError::NamesOverlap => SESAME_INVALID_COOKIE_NAME,
        RuleError::BufferTooSmall => SESAME_BUFFER_TOO_SMALL,
        RuleError::RandomFailed => SESAME_RANDOM_FAILED,
        _ => SESAME_INTERNAL_ERROR,
    }
}

/// Makes the cookie rules for sessions opened under `policy` (copied).
/// `device_name` and `session_prefix` may be NULL (with length 0) for the
/// defaults, `__Host-sesame-device` and `__Host-sesame-s-`; a name that
/// RFC 6265 does not allow, or that collides with a framework's own cookie
/// (`session`, `sessionid`, `csrftoken`, `_session_id`, `remember_token`,
/// `rack.session`), gives `SESAME_INVALID_COOKIE_NAME`.
///
/// # Safety
/// `policy` is NULL or valid; each name is NULL or valid for its length;
/// `rules_out` is NULL or valid for a pointer write.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_cookie_rules_new(
    policy: *const sesame_policy,
    device_name: *const c_char,
    device_name_len: usize,
    session_prefix: *const c_char,
    session_prefix_len: usize,
    rules_out: *mut *mut sesame_cookie_rules,
) -> sesame_result {
    guard(|| {
        if rules_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let policy = Policy::from(unsafe { policy.as_ref() }.ok_or(SESAME_NULL_ARGUMENT)?);
        // SAFETY: per this function's contract.
        let (device, prefix) = unsafe {
            (
                input(device_name.cast(), device_name_len)?,
                input(session_prefix.cast(), session_prefix_len)?,
            )
        };
        let defaults = CookieRules::new(&policy);
        let (rules, names) = if device.is_empty() && prefix.is_empty() {
            (defaults, None)
        } else {
            let text =
                |bytes: &[u8], default: &str| -> Result<std::boxed::Box<str>, sesame_result> {
                    if bytes.is_empty() {
                        return Ok(default.into());
                    }
                    core::str::from_utf8(bytes)
                        .map(Into::into)
                        .map_err(|_| SESAME_INVALID_COOKIE_NAME)
                };
            let device = std::boxed::Box::into_raw(text(device, defaults.device_cookie())?);
            let prefix = std::boxed::Box::into_raw(text(prefix, defaults.session_prefix())?);
            // SAFETY: both strings were just leaked from boxes and live until
            // sesame_cookie_rules_free takes them back (or the error path below).
            let named = defaults.with_names(unsafe { &*device }, unsafe { &*prefix });
            match named {
                Ok(rules) => (rules, Some((device, prefix))),
                Err(error) => {
                    // SAFETY: taken back exactly once; nothing borrows them.
                    drop(unsafe {
                        (
                            std::boxed::Box::from_raw(device),
                            std::boxed::Box::from_raw(prefix),
                        )
                    });
                    return Err(rule_error(error));
                }
            }
        };
        let rules = std::boxed::Box::new(sesame_cookie_rules {
            rules,
            policy,
            reporter: DetectionReporter::new(),
            names,
        });
        // SAFETY: non-NULL, valid for a pointer write.
        unsafe { rules_out.write(std::boxed::Box::into_raw(rules)) };
        Ok(())
    })
}

/// Releases cookie rules (NULL is ignored), once no thread uses them.
///
/// # Safety
/// `rules` is NULL or from `sesame_cookie_rules_new`, not yet freed.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_cookie_rules_free(rules: *mut sesame_cookie_rules) {
    let _ = guard(|| {
        if rules.is_null() {
            return Ok(());
        }
        // SAFETY: from Box::into_raw in sesame_cookie_rules_new, freed once.
        let rules = unsafe { std::boxed::Box::from_raw(rules) };
        let names = rules.names;
        drop(rules);
        if let Some((device, prefix)) = names {
            // SAFETY: leaked by sesame_cookie_rules_new; the rules that
            // borrowed them were dropped above.
            drop(unsafe {
                (
                    std::boxed::Box::from_raw(device),
                    std::boxed::Box::from_raw(prefix),
                )
            });
        }
        Ok(())
    });
}

/// Writes how many requests so far carried other browsers' session cookies
/// (the shared-cache evidence) to `*total_out`: a counter to alert on.
///
/// # Safety
/// `rules` is NULL or live; `total_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn sesame_cookie_rules_detections(
    rules: *const sesame_cookie_rules,
    total_out: *mut u64,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let rules = unsafe { rules.as_ref() }.ok_or(SESAME_NULL_ARGUMENT)?;
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(total_out, rules.reporter.total()) }
    })
}

/// Reads a request: `method` (for example "GET"; GET and HEAD are the
/// methods whose responses a cache may store) and the raw `Cookie` header
/// (several joined with "; "; NULL with length 0 for none). Finds the
/// browser's device cookie and the session cookie named after it, opens the
/// token bound to the device under the rules' policy at `now`, and
/// refreshes it if due. Writes everything to `*request` (see its fields) for
/// the app and for `sesame_request_finish`.
///
/// `cookie_header` must stay valid and unchanged until `finish` returns.
///
/// # Safety
/// `ring` and `rules` are NULL or live; `method` and `cookie_header` are
/// NULL or valid for their lengths; `request` is NULL or valid for writing
/// a `sesame_request`.
#[no_mangle]
pub unsafe extern "C" fn sesame_request_begin(
    ring: *const sesame_keyring,
    rules: *const sesame_cookie_rules,
    method: *const c_char,
    method_len: usize,
    cookie_header: *const c_char,
    cookie_header_len: usize,
    now: u64,
    request: *mut sesame_request,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let (ring, rules) =
            unsafe { (ring_ref(ring)?, rules.as_ref().ok_or(SESAME_NULL_ARGUMENT)?) };
        if request.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract; the header outlives the
        // request until finish (documented above), hence 'static here.
        let (method, header): (&[u8], &'static [u8]) = unsafe {
            (
                input(method.cast(), method_len)?,
                input(cookie_header.cast(), cookie_header_len)?,
            )
        };
        let cookies = RequestCookies::parse(&rules.rules, Method::from_name(method), header);
        let device =
            match cookies.device() {
                Some(device) => Some(*device),
                None if cookies.method().is_safe() => None,
                // The device this non-GET response will issue, picked now.
                None => Some(ring.read(|keys| {
                    keys.with_rng(|rng| DeviceId::generate(rng).map_err(rule_error))
                })??),
            };
        let mut state = RequestState {
            begun: BEGUN,
            device,
            cookies,
            refreshed: [0; SESAME_TOKEN_MAX],
            refreshed_len: 0,
        };
        let mut out = sesame_request {
            session: SESAME_SESSION_NONE,
            rejected: 0,
            flags: 0,
            foreign_sessions: u32::try_from(state.cookies.foreign_sessions()).unwrap_or(u32::MAX),
            claims: sesame_claims::EMPTY,
            internal: [core::mem::MaybeUninit::new(0); SESAME_REQUEST_INTERNAL_WORDS],
        };
        if state.cookies.truncated() {
            out.flags |= SESAME_REQUEST_TRUNCATED;
        }
        if state.cookies.foreign_sessions() > 0 && rules.reporter.should_log(now) {
            out.flags |= SESAME_REQUEST_LOG_DETECTION;
        }
        if let (Some(device), Some(token)) = (state.cookies.device(), state.cookies.token()) {
            let context = device.as_context();
            let opened = ring.read(|keys| {
                let claims = keys.ring.open(token, context, &rules.policy, now)?;
                if !rules.policy.should_refresh(&claims, now) {
                    return Ok((claims, None));
                }
                let (claims, len) = keys.with_rng(|rng| {
                    keys.ring.refresh(
                        token,
                        context,
                        &rules.policy,
                        now,
                        rng,
                        &mut state.refreshed,
                    )
                })??;
                Ok::<_, sesame_result>((claims, Some(len)))
            });
            match opened {
                Ok((claims, refreshed)) => {
                    out.claims = sesame_claims::from(&claims);
                    out.session = match refreshed {
                        Some(len) => {
                            state.refreshed_len = len;
                            SESAME_SESSION_REFRESHED
                        }
                        None => SESAME_SESSION_VALID,
                    };
                }
                Err(code) => {
                    out.session = SESAME_SESSION_REJECTED;
                    out.rejected = code as u32;
                }
            }
        }
        // SAFETY: `request` is valid for a write (contract); the state goes
        // into its own internal words, aligned and large enough (asserted).
        unsafe {
            request.write(out);
            ptr::addr_of_mut!((*request).internal)
                .cast::<RequestState>()
                .write(state);
        }
        Ok(())
    })
}

/// Writes the response's header lines for what the app decided
/// (`SESAME_ACTION_*`) to `headers_out` as "Name: value\n" lines (capacity
/// `headers_cap`; 4096 bytes always suffice) and their length to
/// `*headers_len_out`, and `SESAME_FINISH_WARN_*` flags to `*flags_out`.
/// Merging: add every `Set-Cookie` line, append `Vary` to the app's, and
/// let every other line replace the app's header of that name. No line at
/// all means the response sets no cookie and may be cached as the app says.
///
/// For `SESAME_ACTION_LOGIN`, `user_id`, `kind` (`SESAME_SESSION_KIND_*`:
/// a browser session or a remember-me login, whose cookie lives as long as
/// the policy's remember-me limits), `lifetime` (`SESAME_NO_LIMIT`: none)
/// and `data` (may be NULL with length 0) make the new session, whose
/// claims are written to `request->claims`. Other actions ignore them.
/// Call once per `begin`.
///
/// # Safety
/// `ring` and `rules` are the ones given to `begin`; `request` was filled by
/// `begin` and its `cookie_header` is still valid; `data` is NULL or valid
/// for `data_len` bytes; the outputs are NULL or valid for their sizes.
#[no_mangle]
pub unsafe extern "C" fn sesame_request_finish(
    ring: *const sesame_keyring,
    rules: *const sesame_cookie_rules,
    request: *mut sesame_request,
    action: u32,
    user_id: u64,
    kind: u8,
    lifetime: u64,
    data: *const u8,
    data_len: usize,
    now: u64,
    headers_out: *mut c_char,
    headers_cap: usize,
    headers_len_out: *mut usize,
    flags_out: *mut u32,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let (ring, rules, data) = unsafe {
            (
                ring_ref(ring)?,
                rules.as_ref().ok_or(SESAME_NULL_ARGUMENT)?,
                input(data, data_len)?,
            )
        };
        if request.is_null()
            || headers_out.is_null()
            || headers_len_out.is_null()
            || flags_out.is_null()
        {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: `request` is valid (contract); `internal` is its own field.
        let state = unsafe { &mut *ptr::addr_of_mut!((*request).internal).cast::<RequestState>() };
        if state.begun != BEGUN {
            return Err(SESAME_INVALID_ARGUMENT);
        }
        // SAFETY: valid (contract), and begun (checked).
        let session = unsafe { (*request).session };
        let mut token = [0u8; SESAME_TOKEN_MAX];
        let mut new_claims = None;
        let outcome = match action {
            SESAME_ACTION_KEEP => match session {
                SESAME_SESSION_VALID => Outcome::Keep,
                SESAME_SESSION_REFRESHED => {
                    let text = core::str::from_utf8(&state.refreshed[..state.refreshed_len])
                        .map_err(|_| SESAME_INTERNAL_ERROR)?;
                    // SAFETY: valid (contract); begin wrote the refreshed claims.
                    let claims = unsafe { (*request).claims }.to_claims()?;
                    Outcome::Refresh(Issued::with_claims(text, &claims, &rules.policy, now))
                }
                SESAME_SESSION_REJECTED => Outcome::Rejected,
                _ => Outcome::Anonymous,
            },
            SESAME_ACTION_KEEP_UNREFRESHED => match session {
                SESAME_SESSION_VALID | SESAME_SESSION_REFRESHED => Outcome::Keep,
                SESAME_SESSION_REJECTED => Outcome::Rejected,
                _ => Outcome::Anonymous,
            },
            SESAME_ACTION_REJECT => Outcome::Rejected,
            SESAME_ACTION_LOGOUT => Outcome::Logout,
            SESAME_ACTION_LOGIN => {
                let new = NewSession {
                    user_id,
                    lifetime: limit_to_option(lifetime),
                    kind: session_kind(kind)?,
                    data,
                };
                let (device, len) = ring.read(|keys| {
                    keys.with_rng(|rng| {
                        let device = state.cookies.login_device(rng).map_err(rule_error)?;
                        let len =
                            keys.ring
                                .seal(&new, device.as_context(), now, rng, &mut token)?;
                        Ok::<_, sesame_result>((device, len))
                    })
                })??;
                let text =
                    core::str::from_utf8(&token[..len]).map_err(|_| SESAME_INTERNAL_ERROR)?;
                new_claims = Some(text);
                Outcome::Login {
                    device,
                    session: Issued::for_new_session(text, &new, &rules.policy),
                }
            }
            _ => return Err(SESAME_INVALID_ARGUMENT),
        };
        let issues_refresh = matches!(outcome, Outcome::Refresh(_));
        // The device begin picked for a request without one, if any.
        let issue = match state.cookies.device() {
            Some(_) => None,
            None => state.device,
        };
        let plan = ring
            .read(|keys| {
                keys.with_rng(|rng| {
                    ResponsePlan::new_issuing(&rules.rules, &state.cookies, outcome, issue, rng)
                })
            })?
            .map_err(rule_error)?;
        // SAFETY: `headers_out` is valid for `headers_cap` bytes (contract).
        let out = unsafe { core::slice::from_raw_parts_mut(headers_out.cast::<u8>(), headers_cap) };
        let len = plan.write_lines(out).map_err(rule_error)?;
        let device_after = plan.device_after().copied();
        let mut flags = 0;
        if plan.warn_unprotected_get_login() {
            flags |= SESAME_FINISH_WARN_UNPROTECTED_GET_LOGIN;
        }
        if plan.warn_get_logout() {
            flags |= SESAME_FINISH_WARN_GET_LOGOUT;
        }
        if let Some(text) = new_claims {
            let device = plan.device_after().ok_or(SESAME_INTERNAL_ERROR)?;
            let claims = ring.read(|keys| keys.ring.decrypt(text, device.as_context()))?;
            // SAFETY: valid (contract).
            unsafe { (*request).claims = sesame_claims::from(&claims) };
            state.refreshed[..text.len()].copy_from_slice(text.as_bytes());
            state.refreshed_len = text.len();
        } else if !issues_refresh {
            state.refreshed_len = 0;
        }
        state.device = device_after;
        state.begun = FINISHED;
        // SAFETY: NULL-checked above and valid (contract).
        unsafe {
            headers_len_out.write(len);
            flags_out.write(flags);
        }
        Ok(())
    })
}

/// Writes the warning to log when `begin` set `SESAME_REQUEST_LOG_DETECTION`
/// (what was seen, what it likely means, what to check; never a cookie
/// value) with a NUL to `message_out` (capacity `message_cap`; 512 bytes
/// suffice) and its length to `*message_len_out`.
///
/// # Safety
/// `rules` and `request` are NULL or valid; the outputs are NULL or valid
/// for their sizes.
#[no_mangle]
pub unsafe extern "C" fn sesame_request_detection_message(
    rules: *const sesame_cookie_rules,
    request: *const sesame_request,
    message_out: *mut c_char,
    message_cap: usize,
    message_len_out: *mut usize,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let (rules, request) = unsafe {
            (
                rules.as_ref().ok_or(SESAME_NULL_ARGUMENT)?,
                request.as_ref().ok_or(SESAME_NULL_ARGUMENT)?,
            )
        };
        if message_out.is_null() || message_len_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        let detection = crate::cookies::Detection {
            foreign_sessions: request.foreign_sessions as usize,
            total: rules.reporter.total(),
        };
        let mut text = [0u8; 512];
        let mut writer = SliceWriter {
            out: &mut text,
            len: 0,
        };
        core::fmt::write(&mut writer, format_args!("{detection}"))
            .map_err(|_| SESAME_INTERNAL_ERROR)?;
        let len = writer.len;
        if message_cap < len + 1 {
            return Err(SESAME_BUFFER_TOO_SMALL);
        }
        // SAFETY: room for `len + 1` bytes (checked); no overlap with `text`.
        unsafe {
            ptr::copy_nonoverlapping(text.as_ptr(), message_out.cast::<u8>(), len);
            message_out.add(len).write(0);
            message_len_out.write(len);
        }
        Ok(())
    })
}

/// Writes one of the request's tokens (`SESAME_TOKEN_PRESENTED` between
/// `begin` and `finish`, while the Cookie header is still valid;
/// `SESAME_TOKEN_ISSUED` after `begin` refreshed, or after `finish` set one)
/// with a NUL to `token_out` (`SESAME_TOKEN_MAX + 1` bytes suffice) and its
/// length to `*token_len_out`, for the session registry, which fingerprints
/// tokens. `SESAME_INVALID_ARGUMENT` when the request has no such token
/// (or was not filled by `begin`).
///
/// # Safety
/// `request` is NULL or was filled by `begin` (for PRESENTED, its Cookie
/// header is still valid); the outputs are NULL or valid for their sizes.
#[no_mangle]
pub unsafe extern "C" fn sesame_request_token(
    request: *const sesame_request,
    which: u32,
    token_out: *mut c_char,
    token_cap: usize,
    token_len_out: *mut usize,
) -> sesame_result {
    guard(|| {
        if request.is_null() || token_out.is_null() || token_len_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: `request` is valid (contract); `internal` is its own field.
        let state = unsafe { &*ptr::addr_of!((*request).internal).cast::<RequestState>() };
        let token: &[u8] = match (which, state.begun) {
            (SESAME_TOKEN_PRESENTED, BEGUN) => {
                state.cookies.token().ok_or(SESAME_INVALID_ARGUMENT)?
            }
            (SESAME_TOKEN_ISSUED, BEGUN | FINISHED) if state.refreshed_len > 0 => {
                &state.refreshed[..state.refreshed_len]
            }
            _ => return Err(SESAME_INVALID_ARGUMENT),
        };
        // SAFETY: per this function's contract.
        unsafe { write_token(token, token_out, token_cap, token_len_out) }
    })
}

/// `sizeof(sesame_request)`: a binding that declares the struct itself
/// checks its layout against this once, at load.
#[no_mangle]
pub extern "C" fn sesame_request_size() -> usize {
    core::mem::size_of::<sesame_request>()
}

/// Points `*device_name_out` and `*session_prefix_out` at the rules' cookie
/// names (not NUL-terminated; valid while the rules live) and writes their
/// lengths, so no binding keeps its own copy of the defaults.
///
/// # Safety
/// `rules` is NULL or live; every output is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn sesame_cookie_rules_names(
    rules: *const sesame_cookie_rules,
    device_name_out: *mut *const c_char,
    device_name_len_out: *mut usize,
    session_prefix_out: *mut *const c_char,
    session_prefix_len_out: *mut usize,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let rules = unsafe { rules.as_ref() }.ok_or(SESAME_NULL_ARGUMENT)?;
        if device_name_out.is_null()
            || device_name_len_out.is_null()
            || session_prefix_out.is_null()
            || session_prefix_len_out.is_null()
        {
            return Err(SESAME_NULL_ARGUMENT);
        }
        let (device, prefix) = (rules.rules.device_cookie(), rules.rules.session_prefix());
        // SAFETY: all four are non-NULL and valid for writes (contract).
        unsafe {
            device_name_out.write(device.as_ptr().cast());
            device_name_len_out.write(device.len());
            session_prefix_out.write(prefix.as_ptr().cast());
            session_prefix_len_out.write(prefix.len());
        }
        Ok(())
    })
}
