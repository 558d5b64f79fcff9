//! Policies and claims across the C ABI, and the token operations: seal,
//! open, refresh, and the checks an app applies to an opened session.

use core::ffi::{c_char, c_int};

use super::keyring::ring_ref;
use super::*;
use crate::{Claims, NewSession, Policy, SessionKind};

/// `kind` of a session: a browser session.
pub const SESAME_SESSION_KIND_BROWSER: u8 = 0;
/// `kind` of a session: a "remember me" login, with its own limits
/// (`remember_me_*` in `sesame_policy`).
pub const SESAME_SESSION_KIND_REMEMBER_ME: u8 = 1;

const _: () = assert!(
    SESAME_SESSION_KIND_BROWSER == SessionKind::Browser as u8
        && SESAME_SESSION_KIND_REMEMBER_ME == SessionKind::RememberMe as u8
);

/// The kind with this `SESAME_SESSION_KIND_*` code.
pub(super) fn session_kind(code: u8) -> Result<SessionKind, sesame_result> {
    SessionKind::from_code(code).ok_or(SESAME_INVALID_ARGUMENT)
}

/// What a ring checks when it opens a token. Start from `sesame_policy_default`.
/// Zero-initialised, it rejects every token (lifetime and idle timeout 0): fail closed.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sesame_policy {
    /// Seconds since the last refresh after which a token is rejected; `SESAME_NO_LIMIT` for none.
    pub idle_timeout: u64,
    /// Seconds since login after which a token is rejected however often it
    /// was refreshed; `SESAME_NO_LIMIT` for none.
    pub absolute_lifetime: u64,
    /// Seconds a token's timestamps may lie ahead of `now` (clock skew).
    pub future_leeway: u64,
    /// Reject sessions issued strictly before this unix time; 0 for none.
    pub revoked_before: u64,
    /// `sesame_should_refresh` says yes once a token is this many seconds old.
    pub refresh_after: u64,
    /// `idle_timeout` for remember-me tokens (`SESAME_SESSION_KIND_REMEMBER_ME`);
    /// `SESAME_NO_LIMIT` for none, the default.
    pub remember_me_idle_timeout: u64,
    /// `absolute_lifetime` for remember-me tokens; `SESAME_NO_LIMIT` for none.
    pub remember_me_absolute_lifetime: u64,
}

/// An opened session. All times are unix seconds.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sesame_claims {
    pub user_id: u64,
    pub session_id: [u8; SESAME_SESSION_ID_BYTES],
    /// Login time; kept across refreshes.
    pub issued_at: u64,
    /// Last seal or refresh; never before `issued_at`.
    pub refreshed_at: u64,
    /// The token's own lifetime in seconds from `issued_at`; `SESAME_NO_LIMIT`
    /// for none. A token sealed with a lifetime of exactly 2^64 - 1 seconds
    /// also reads as `SESAME_NO_LIMIT`: the two expire identically, since
    /// limits saturate at the end of time.
    pub lifetime: u64,
    /// `SESAME_SESSION_KIND_*`: which of the policy's limits apply.
    pub kind: u8,
    /// Number of valid bytes in `data`.
    pub data_len: usize,
    pub data: [u8; SESAME_DATA_MAX],
}

pub(super) fn limit_to_option(value: u64) -> Option<u64> {
    (value != SESAME_NO_LIMIT).then_some(value)
}

impl From<&sesame_policy> for Policy {
    fn from(p: &sesame_policy) -> Policy {
        Policy {
            idle_timeout: limit_to_option(p.idle_timeout),
            absolute_lifetime: limit_to_option(p.absolute_lifetime),
            future_leeway: p.future_leeway,
            revoked_before: p.revoked_before,
            refresh_after: p.refresh_after,
            remember_me_idle_timeout: limit_to_option(p.remember_me_idle_timeout),
            remember_me_absolute_lifetime: limit_to_option(p.remember_me_absolute_lifetime),
        }
    }
}

impl From<&Claims> for sesame_claims {
    fn from(c: &Claims) -> sesame_claims {
        let mut data = [0u8; SESAME_DATA_MAX];
        data[..c.data.len()].copy_from_slice(&c.data);
        sesame_claims {
            user_id: c.user_id,
            session_id: c.session_id,
            issued_at: c.issued_at,
            refreshed_at: c.refreshed_at,
            lifetime: c.lifetime.unwrap_or(SESAME_NO_LIMIT),
            kind: c.kind as u8,
            data_len: c.data.len(),
            data,
        }
    }
}

impl sesame_claims {
    /// No session: what a `sesame_request` holds until one opens.
    pub(super) const EMPTY: sesame_claims = sesame_claims {
        user_id: 0,
        session_id: [0; SESAME_SESSION_ID_BYTES],
        issued_at: 0,
        refreshed_at: 0,
        lifetime: 0,
        kind: SESAME_SESSION_KIND_BROWSER,
        data_len: 0,
        data: [0; SESAME_DATA_MAX],
    };

    pub(super) fn to_claims(self) -> Result<Claims, sesame_result> {
        let data = self
            .data
            .get(..self.data_len)
            .ok_or(SESAME_INVALID_ARGUMENT)?;
        Ok(Claims {
            user_id: self.user_id,
            session_id: self.session_id,
            issued_at: self.issued_at,
            refreshed_at: self.refreshed_at,
            lifetime: limit_to_option(self.lifetime),
            kind: session_kind(self.kind)?,
            data: heapless::Vec::from_slice(data).map_err(|_| SESAME_INVALID_ARGUMENT)?,
        })
    }
}

/// Writes the default policy to `*policy_out`: browser sessions idle 24 h,
/// lifetime 14 days; remember-me no idle limit, lifetime 30 days; leeway
/// 60 s, refresh after 15 min, no cut-off.
///
/// # Safety
/// `policy_out` is NULL or valid for writing a `sesame_policy`.
#[no_mangle]
pub unsafe extern "C" fn sesame_policy_default(policy_out: *mut sesame_policy) -> sesame_result {
    guard(|| {
        let p = Policy::DEFAULT;
        let policy = sesame_policy {
            idle_timeout: p.idle_timeout.unwrap_or(SESAME_NO_LIMIT),
            absolute_lifetime: p.absolute_lifetime.unwrap_or(SESAME_NO_LIMIT),
            future_leeway: p.future_leeway,
            revoked_before: p.revoked_before,
            refresh_after: p.refresh_after,
            remember_me_idle_timeout: p.remember_me_idle_timeout.unwrap_or(SESAME_NO_LIMIT),
            remember_me_absolute_lifetime: p
                .remember_me_absolute_lifetime
                .unwrap_or(SESAME_NO_LIMIT),
        };
        // SAFETY: NULL-checked by write_out; otherwise valid per this function's contract.
        unsafe { write_out(policy_out, policy) }
    })
}

/// Seals a new session for `user_id` at unix time `now` under the primary
/// key. `kind` is `SESAME_SESSION_KIND_*` (a browser session or a
/// remember-me login, each with its own limits in `sesame_policy`);
/// `lifetime` is the token's own lifetime in seconds (`SESAME_NO_LIMIT`:
/// none), which can only shorten its kind's absolute lifetime; `data` (up to `SESAME_DATA_MAX` bytes) and `context` (up to
/// `SESAME_CONTEXT_MAX`) may be NULL when their length is 0. On success the
/// token text and a NUL are written to `token_out` (capacity `token_cap`;
/// `SESAME_TOKEN_MAX + 1` always suffices) and its length, without the NUL,
/// to `*token_len_out`. On failure nothing is written.
///
/// # Safety
/// `ring` is NULL or a live ring; every pointer is NULL or valid for the
/// given length (reads for inputs, writes for outputs).
#[no_mangle]
pub unsafe extern "C" fn sesame_seal(
    ring: *const sesame_keyring,
    user_id: u64,
    kind: u8,
    lifetime: u64,
    data: *const u8,
    data_len: usize,
    context: *const u8,
    context_len: usize,
    now: u64,
    token_out: *mut c_char,
    token_cap: usize,
    token_len_out: *mut usize,
) -> sesame_result {
    guard(|| {
        if token_out.is_null() || token_len_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let (ring, data, context) = unsafe {
            (
                ring_ref(ring)?,
                input(data, data_len)?,
                input(context, context_len)?,
            )
        };
        let session = NewSession {
            user_id,
            lifetime: limit_to_option(lifetime),
            kind: session_kind(kind)?,
            data,
        };
        let mut text = [0u8; SESAME_TOKEN_MAX];
        let len = ring.read(|state| {
            state.with_rng(|rng| state.ring.seal(&session, context, now, rng, &mut text))
        })??;
        // SAFETY: per this function's contract.
        unsafe { write_token(&text[..len], token_out, token_cap, token_len_out) }
    })
}

/// Opens `token` (its text, `token_len` bytes, NUL not needed) sealed for
/// `context`, and checks it against `policy` at unix time `now`. On success
/// writes the session to `*claims_out`; on failure writes nothing.
///
/// # Safety
/// `ring` is NULL or a live ring; `token` and `context` are NULL or valid
/// for their lengths; `policy` is NULL or a valid policy; `claims_out` is
/// NULL or valid for writing a `sesame_claims`.
#[no_mangle]
pub unsafe extern "C" fn sesame_open(
    ring: *const sesame_keyring,
    token: *const c_char,
    token_len: usize,
    context: *const u8,
    context_len: usize,
    policy: *const sesame_policy,
    now: u64,
    claims_out: *mut sesame_claims,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let (ring, policy) = unsafe {
            (
                ring_ref(ring)?,
                policy.as_ref().ok_or(SESAME_NULL_ARGUMENT)?,
            )
        };
        if token.is_null() || claims_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // The core's order: the context's bound before the token's.
        if context_len > SESAME_CONTEXT_MAX {
            return Err(SESAME_CONTEXT_TOO_LONG);
        }
        if token_len > SESAME_TOKEN_MAX {
            return Err(SESAME_TOO_LONG);
        }
        // SAFETY: per this function's contract; the length is bounded above.
        let (token, context) = unsafe {
            (
                input(token.cast(), token_len)?,
                input(context, context_len)?,
            )
        };
        let claims =
            ring.read(|state| state.ring.open(token, context, &Policy::from(policy), now))?;
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(claims_out, sesame_claims::from(&claims)) }
    })
}

/// Opens a valid token as `sesame_open` does and seals it again with a fresh
/// nonce and `refreshed_at = max(now, issued_at)` under the primary key (session ID, login
/// time, lifetime and data kept). Output as for `sesame_seal`; `claims_out`
/// may be NULL, otherwise it receives the refreshed session. On failure
/// nothing is written.
///
/// # Safety
/// As for `sesame_open` and `sesame_seal`.
#[no_mangle]
pub unsafe extern "C" fn sesame_refresh(
    ring: *const sesame_keyring,
    token: *const c_char,
    token_len: usize,
    context: *const u8,
    context_len: usize,
    policy: *const sesame_policy,
    now: u64,
    token_out: *mut c_char,
    token_cap: usize,
    token_len_out: *mut usize,
    claims_out: *mut sesame_claims,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let (ring, policy) = unsafe {
            (
                ring_ref(ring)?,
                policy.as_ref().ok_or(SESAME_NULL_ARGUMENT)?,
            )
        };
        if token.is_null() || token_out.is_null() || token_len_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // The core's order: the context's bound before the token's.
        if context_len > SESAME_CONTEXT_MAX {
            return Err(SESAME_CONTEXT_TOO_LONG);
        }
        if token_len > SESAME_TOKEN_MAX {
            return Err(SESAME_TOO_LONG);
        }
        // SAFETY: per this function's contract; the length is bounded above.
        let (token, context) = unsafe {
            (
                input(token.cast(), token_len)?,
                input(context, context_len)?,
            )
        };
        let policy = Policy::from(policy);
        let mut text = [0u8; SESAME_TOKEN_MAX];
        let (claims, len) = ring.read(|state| {
            state.with_rng(|rng| {
                state
                    .ring
                    .refresh(token, context, &policy, now, rng, &mut text)
            })
        })??;
        // SAFETY: per this function's contract.
        unsafe { write_token(&text[..len], token_out, token_cap, token_len_out)? };
        if !claims_out.is_null() {
            // SAFETY: non-NULL and valid for writes per the contract.
            unsafe { claims_out.write(sesame_claims::from(&claims)) };
        }
        Ok(())
    })
}

/// Whether a session opened at `now` is due for `sesame_refresh` under
/// `policy`: writes 1 or 0 to `*due_out`.
///
/// # Safety
/// `policy` and `claims` are NULL or valid; `due_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn sesame_should_refresh(
    policy: *const sesame_policy,
    claims: *const sesame_claims,
    now: u64,
    due_out: *mut c_int,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let (policy, claims) = unsafe {
            (
                policy.as_ref().ok_or(SESAME_NULL_ARGUMENT)?,
                claims.as_ref().ok_or(SESAME_NULL_ARGUMENT)?,
            )
        };
        let due = Policy::from(policy).should_refresh(&claims.to_claims()?, now);
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(due_out, c_int::from(due)) }
    })
}

/// Applies a revocation cut-off from the caller's own store (for example the
/// user's "log out my other sessions" time): `SESAME_REVOKED` if the session
/// was issued strictly before `cutoff`, `SESAME_OK` otherwise.
///
/// # Safety
/// `claims` is NULL or a valid `sesame_claims`.
#[no_mangle]
pub unsafe extern "C" fn sesame_check_revoked_before(
    claims: *const sesame_claims,
    cutoff: u64,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let claims = unsafe { claims.as_ref() }.ok_or(SESAME_NULL_ARGUMENT)?;
        claims
            .to_claims()?
            .check_revoked_before(cutoff)
            .map_err(Into::into)
    })
}

/// Writes the ID of the key `token` (its text, `token_len` bytes) names to
/// `*key_id_out`, without any key: for logs, routing and tools. It is not
/// authenticated until the token is opened. Fails as opening would on text
/// that is not a well-formed token (`SESAME_TOO_LONG`, `SESAME_MALFORMED`,
/// `SESAME_UNSUPPORTED_VERSION`).
///
/// # Safety
/// `token` is NULL or valid for `token_len` bytes; `key_id_out` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn sesame_token_key_id(
    token: *const c_char,
    token_len: usize,
    key_id_out: *mut u32,
) -> sesame_result {
    guard(|| {
        if token.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        if token_len > SESAME_TOKEN_MAX {
            return Err(SESAME_TOO_LONG);
        }
        // SAFETY: per this function's contract; the length is bounded above.
        let token = unsafe { input(token.cast(), token_len) }?;
        let key_id = crate::token_key_id(token)?;
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(key_id_out, key_id) }
    })
}
