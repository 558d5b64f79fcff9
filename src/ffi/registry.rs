//! The session registry (`crate::registry`, `docs/REGISTRY.md`) across the
//! C ABI: a handle over the store a URL names (`memory://`, `sqlite:///…`,
//! `redis://…`), and one call per registry operation. Tokens go in as text;
//! their fingerprints are taken here, so no language computes one itself.
#![cfg(feature = "std")]

use core::ffi::c_char;
use std::sync::Mutex;

use super::*;
use crate::registry::{
    Entry, Fingerprint, Limits, Login, Registry, RegistryConfig, RegistryError, RegistryStore,
    SessionKind, Verdict, DEVICE_MAX, IP_MAX,
};
use crate::{Policy, SessionId};

/// Verdicts (`*verdict_out`): the token is the session's current one.
pub const SESAME_VERDICT_LIVE: u32 = 0;
/// Superseded moments ago (a request racing a refresh): serve the request;
/// after `sesame_registry_refresh`, do not send the new token.
pub const SESAME_VERDICT_GRACE: u32 = 1;
/// The session was ended (revoke, logout, eviction, theft): deny.
pub const SESAME_VERDICT_REVOKED: u32 = 2;
/// No such session (never registered, expired, ended long ago): deny.
pub const SESAME_VERDICT_UNKNOWN: u32 = 3;
/// A superseded token was used after its successor: two parties hold the
/// session, which is now revoked. Deny and report it.
pub const SESAME_VERDICT_THEFT_DETECTED: u32 = 4;

/// Bytes of `sesame_registry_entry.device`: the longest device label an
/// entry keeps (128 bytes) and its NUL.
pub const SESAME_REGISTRY_DEVICE_BYTES: usize = 129;
/// Bytes of `sesame_registry_entry.ip`: the longest IP text (45) and its NUL.
pub const SESAME_REGISTRY_IP_BYTES: usize = 46;

const _: () = assert!(
    SESAME_REGISTRY_DEVICE_BYTES == DEVICE_MAX + 1 && SESAME_REGISTRY_IP_BYTES == IP_MAX + 1
);

/// A registry over one store connection. Calls may block on the store (a
/// network round trip, a file lock); calls on one handle run one at a time,
/// so give each worker thread its own handle for parallel requests. A
/// handle used or freed in a forked child reconnects there and never uses
/// or closes its parent's connection; fork only while no other thread is
/// inside a call on the handle (the child would inherit its lock held).
pub struct sesame_registry {
    registry: Mutex<Registry<std::boxed::Box<dyn RegistryStore + Send>>>,
}

impl core::fmt::Debug for sesame_registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("sesame_registry")
    }
}

/// The idle and absolute limits of one kind of session, in seconds.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sesame_session_limits {
    pub idle_timeout: u64,
    pub absolute_lifetime: u64,
}

/// The registry's settings. Start from `sesame_registry_config_default`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sesame_registry_config {
    pub browser: sesame_session_limits,
    pub remember_me: sesame_session_limits,
    /// Most live sessions per user; a login over it ends the oldest. 0: no cap.
    pub max_sessions: u32,
    /// Seconds a superseded token is still accepted after its refresh.
    pub grace: u64,
    /// A check writes last-seen at most once per this many seconds.
    pub touch_interval: u64,
    /// Seconds an ended session is remembered as revoked.
    pub tombstone_ttl: u64,
}

/// One session of a user, as `sesame_registry_list` gives it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sesame_registry_entry {
    pub user_id: u64,
    pub session_id: [u8; SESAME_SESSION_ID_BYTES],
    /// `SESAME_SESSION_KIND_*`.
    pub kind: u8,
    /// Login time, unix seconds.
    pub created_at: u64,
    /// Last check or refresh that wrote (at most once per touch interval).
    pub last_seen_at: u64,
    /// When the entry expires unless seen again.
    pub expires_at: u64,
    /// The device label given at login (for example a user agent), NUL-terminated.
    pub device: [c_char; SESAME_REGISTRY_DEVICE_BYTES],
    /// The IP address given at login, NUL-terminated.
    pub ip: [c_char; SESAME_REGISTRY_IP_BYTES],
}

impl From<&sesame_registry_config> for RegistryConfig {
    fn from(c: &sesame_registry_config) -> Self {
        let limits = |l: &sesame_session_limits| Limits {
            idle_timeout: l.idle_timeout,
            absolute_lifetime: l.absolute_lifetime,
        };
        RegistryConfig {
            browser: limits(&c.browser),
            remember_me: limits(&c.remember_me),
            max_sessions: c.max_sessions,
            grace: c.grace,
            touch_interval: c.touch_interval,
            tombstone_ttl: c.tombstone_ttl,
        }
    }
}

fn text_field<const N: usize>(text: &str) -> [c_char; N] {
    let mut out = [0 as c_char; N];
    for (slot, byte) in out.iter_mut().zip(text.bytes().take(N - 1)) {
        *slot = byte as c_char;
    }
    out
}

impl From<&Entry> for sesame_registry_entry {
    fn from(e: &Entry) -> Self {
        sesame_registry_entry {
            user_id: e.user_id,
            session_id: e.session_id,
            kind: e.kind as u8,
            created_at: e.created_at,
            last_seen_at: e.last_seen_at,
            expires_at: e.expires_at,
            device: text_field(&e.device),
            ip: text_field(&e.ip),
        }
    }
}

fn registry_error(error: RegistryError) -> sesame_result {
    match error {
        RegistryError::Full => SESAME_REGISTRY_FULL,
        RegistryError::InvalidUrl | RegistryError::Unsupported => SESAME_INVALID_REGISTRY_URL,
        _ => SESAME_REGISTRY_UNAVAILABLE,
    }
}

fn verdict_code(verdict: Verdict) -> u32 {
    verdict as u8 as u32
}

/// Runs `body` on the registry behind a live handle. A call that panicked
/// while holding the lock left the store as the store left it (every
/// operation is one store transaction), so a poisoned lock is still usable.
///
/// # Safety
/// `registry` is NULL or a live handle.
unsafe fn with_registry<T>(
    registry: *const sesame_registry,
    body: impl FnOnce(
        &mut Registry<std::boxed::Box<dyn RegistryStore + Send>>,
    ) -> Result<T, RegistryError>,
) -> Result<T, sesame_result> {
    // SAFETY: per the caller's contract.
    let handle = unsafe { registry.as_ref() }.ok_or(SESAME_NULL_ARGUMENT)?;
    let mut registry = handle.registry.lock().unwrap_or_else(|p| p.into_inner());
    body(&mut registry).map_err(registry_error)
}

/// # Safety
/// `session_id` is NULL or valid for `SESAME_SESSION_ID_BYTES` bytes.
unsafe fn session_id_in(
    session_id: *const u8,
) -> Result<[u8; SESAME_SESSION_ID_BYTES], sesame_result> {
    // SAFETY: per the caller's contract.
    let bytes = unsafe { input(session_id, SESAME_SESSION_ID_BYTES) }?;
    bytes.try_into().map_err(|_| SESAME_INVALID_ARGUMENT)
}

/// # Safety
/// `token` is NULL or valid for `len` bytes.
unsafe fn fingerprint_in(token: *const c_char, len: usize) -> Result<Fingerprint, sesame_result> {
    if token.is_null() {
        return Err(SESAME_NULL_ARGUMENT);
    }
    if len > SESAME_TOKEN_MAX {
        return Err(SESAME_TOO_LONG);
    }
    // SAFETY: per the caller's contract; bounded above.
    let text = unsafe { input(token.cast(), len) }?;
    Ok(Fingerprint::of_token(text)?)
}

/// # Safety
/// `text` is NULL or valid for `len` bytes.
unsafe fn label_in<'a>(text: *const c_char, len: usize) -> Result<&'a str, sesame_result> {
    // SAFETY: per the caller's contract.
    let bytes = unsafe { input(text.cast(), len) }?;
    core::str::from_utf8(bytes).map_err(|_| SESAME_INVALID_ARGUMENT)
}

/// The body of a call that judges one token of a session: checks the
/// outputs, reads the session ID and fingerprints the token, runs `judge`
/// on the registry, and writes the verdict.
///
/// # Safety
/// As for `sesame_registry_register`.
unsafe fn judge_token(
    registry: *const sesame_registry,
    session_id: *const u8,
    token: *const c_char,
    token_len: usize,
    verdict_out: *mut u32,
    judge: impl FnOnce(
        &mut Registry<std::boxed::Box<dyn RegistryStore + Send>>,
        &SessionId,
        &Fingerprint,
    ) -> Result<Verdict, RegistryError>,
) -> Result<(), sesame_result> {
    if verdict_out.is_null() {
        return Err(SESAME_NULL_ARGUMENT);
    }
    // SAFETY: per the caller's contract.
    let (session_id, fingerprint) = unsafe {
        (
            session_id_in(session_id)?,
            fingerprint_in(token, token_len)?,
        )
    };
    // SAFETY: per the caller's contract.
    let verdict = unsafe { with_registry(registry, |r| judge(r, &session_id, &fingerprint)) }?;
    // SAFETY: NULL-checked above.
    unsafe { write_out(verdict_out, verdict_code(verdict)) }
}

/// Writes the default settings: browser sessions idle 24 h / absolute 14
/// days (sesame's default policy), remember-me 30 / 30 days, 10 sessions per
/// user, 30 s grace, last-seen written at most once a minute, ended sessions
/// remembered 1 h.
///
/// # Safety
/// `config_out` is NULL or valid for a write.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_config_default(
    config_out: *mut sesame_registry_config,
) -> sesame_result {
    guard(|| {
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(config_out, native_config(&RegistryConfig::DEFAULT)) }
    })
}

/// Writes the default registry config to `*config_out` with each kind's
/// limits taken from `policy`, so an entry lives exactly as long as its
/// token can: pass the policy the app opens tokens with. A limit the policy
/// leaves open (`SESAME_NO_LIMIT`) is bounded anyway: a missing idle timeout
/// becomes the absolute lifetime, a missing absolute lifetime 400 days.
///
/// # Safety
/// `policy` is NULL or a valid policy; `config_out` is NULL or valid for a
/// write.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_config_from_policy(
    policy: *const sesame_policy,
    config_out: *mut sesame_registry_config,
) -> sesame_result {
    guard(|| {
        // SAFETY: NULL or valid (contract).
        let policy = unsafe { policy.as_ref() }.ok_or(SESAME_NULL_ARGUMENT)?;
        let config = RegistryConfig::DEFAULT.with_policy(&Policy::from(policy));
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(config_out, native_config(&config)) }
    })
}

#[cfg(feature = "std")]
fn native_config(c: &RegistryConfig) -> sesame_registry_config {
    let limits = |l: Limits| sesame_session_limits {
        idle_timeout: l.idle_timeout,
        absolute_lifetime: l.absolute_lifetime,
    };
    sesame_registry_config {
        browser: limits(c.browser),
        remember_me: limits(c.remember_me),
        max_sessions: c.max_sessions,
        grace: c.grace,
        touch_interval: c.touch_interval,
        tombstone_ttl: c.tombstone_ttl,
    }
}

/// Opens the store `url` names (`memory://?capacity=N`,
/// `sqlite:///path/to/file.db`, `redis://127.0.0.1:6379/0`; a build without
/// the store's feature gives `SESAME_INVALID_REGISTRY_URL`) with `config`
/// (NULL: the defaults) and writes the handle to `*registry_out`. Release
/// it with `sesame_registry_free`.
///
/// # Safety
/// `url` is NULL or valid for `url_len` bytes; `config` is NULL or valid;
/// `registry_out` is NULL or valid for a pointer write.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_open(
    url: *const c_char,
    url_len: usize,
    config: *const sesame_registry_config,
    registry_out: *mut *mut sesame_registry,
) -> sesame_result {
    guard(|| {
        if url.is_null() || registry_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let (url, config) = unsafe { (label_in(url, url_len)?, config.as_ref()) };
        let config = config.map_or(RegistryConfig::DEFAULT, RegistryConfig::from);
        let registry = Registry::open(url, config).map_err(registry_error)?;
        let handle = std::boxed::Box::new(sesame_registry {
            registry: Mutex::new(registry),
        });
        // SAFETY: non-NULL, valid for a pointer write.
        unsafe { registry_out.write(std::boxed::Box::into_raw(handle)) };
        Ok(())
    })
}

/// Closes the store connection and frees the handle (NULL is ignored), once
/// no thread uses it.
///
/// # Safety
/// `registry` is NULL or from `sesame_registry_open`, not yet freed.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_free(registry: *mut sesame_registry) {
    let _ = guard(|| {
        if !registry.is_null() {
            // SAFETY: from Box::into_raw in sesame_registry_open, freed once.
            drop(unsafe { std::boxed::Box::from_raw(registry) });
        }
        Ok(())
    });
}

/// Records a login: the session (its ID from the opened claims), its kind
/// (`SESAME_SESSION_KIND_*`), the login token's text, and labels to show in
/// a sessions list (device, for example the user agent, and IP; either may
/// be NULL with length 0; cut to 128 and 45 bytes). Writes how many older
/// sessions the per-user cap ended to `*evicted_out`.
///
/// # Safety
/// `registry` is NULL or live; `session_id` is NULL or valid for 16 bytes;
/// the texts are NULL or valid for their lengths; `evicted_out` is NULL or
/// valid for a write.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_register(
    registry: *const sesame_registry,
    user_id: u64,
    session_id: *const u8,
    kind: u8,
    token: *const c_char,
    token_len: usize,
    device: *const c_char,
    device_len: usize,
    ip: *const c_char,
    ip_len: usize,
    now: u64,
    evicted_out: *mut u32,
) -> sesame_result {
    guard(|| {
        if evicted_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        let kind = SessionKind::from_code(kind).ok_or(SESAME_INVALID_ARGUMENT)?;
        // SAFETY: per this function's contract.
        let (session_id, fingerprint, device, ip) = unsafe {
            (
                session_id_in(session_id)?,
                fingerprint_in(token, token_len)?,
                label_in(device, device_len)?,
                label_in(ip, ip_len)?,
            )
        };
        let login = Login {
            user_id,
            session_id,
            kind,
            fingerprint,
            device,
            ip,
        };
        // SAFETY: per this function's contract.
        let evicted = unsafe { with_registry(registry, |r| r.register(&login, now)) }?;
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(evicted_out, evicted) }
    })
}

/// Judges a presented token of an opened session: writes a
/// `SESAME_VERDICT_*` to `*verdict_out`. Serve the request only for LIVE
/// and GRACE. For check-every-request mode, or on refresh; see
/// `sesame_registry_peek` for the cheap per-request logout check.
///
/// # Safety
/// As for `sesame_registry_register`.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_check(
    registry: *const sesame_registry,
    user_id: u64,
    session_id: *const u8,
    token: *const c_char,
    token_len: usize,
    now: u64,
    verdict_out: *mut u32,
) -> sesame_result {
    // SAFETY: per this function's contract.
    guard(|| unsafe {
        judge_token(
            registry,
            session_id,
            token,
            token_len,
            verdict_out,
            |r, sid, fp| r.check(user_id, sid, fp, now),
        )
    })
}

/// Whether a session is still live, without judging a token (never
/// writes): LIVE, REVOKED or UNKNOWN to `*verdict_out`.
///
/// # Safety
/// As for `sesame_registry_register`.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_peek(
    registry: *const sesame_registry,
    user_id: u64,
    session_id: *const u8,
    now: u64,
    verdict_out: *mut u32,
) -> sesame_result {
    guard(|| {
        if verdict_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let session_id = unsafe { session_id_in(session_id) }?;
        // SAFETY: per this function's contract.
        let verdict = unsafe { with_registry(registry, |r| r.peek(user_id, &session_id, now)) }?;
        // SAFETY: NULL-checked above.
        unsafe { write_out(verdict_out, verdict_code(verdict)) }
    })
}

/// Records a refresh: `new_token` replaces `old_token` (which stays
/// accepted for the grace period) and last-seen moves. LIVE: send the new
/// token; GRACE: serve, but do not send it (another request already
/// refreshed); anything else: deny.
///
/// # Safety
/// As for `sesame_registry_register`.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_refresh(
    registry: *const sesame_registry,
    user_id: u64,
    session_id: *const u8,
    old_token: *const c_char,
    old_token_len: usize,
    new_token: *const c_char,
    new_token_len: usize,
    now: u64,
    verdict_out: *mut u32,
) -> sesame_result {
    guard(|| {
        if verdict_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let (session_id, old, new) = unsafe {
            (
                session_id_in(session_id)?,
                fingerprint_in(old_token, old_token_len)?,
                fingerprint_in(new_token, new_token_len)?,
            )
        };
        // SAFETY: per this function's contract.
        let verdict = unsafe {
            with_registry(registry, |r| {
                r.refresh(user_id, &session_id, &old, &new, now)
            })
        }?;
        // SAFETY: NULL-checked above.
        unsafe { write_out(verdict_out, verdict_code(verdict)) }
    })
}

/// Lists the user's live sessions, newest first: up to `entries_cap` of
/// them to `entries_out`, and how many are live (possibly more) to
/// `*count_out`. Mark the current one by comparing session IDs.
///
/// # Safety
/// `registry` is NULL or live; `entries_out` is NULL (with `entries_cap`
/// 0) or valid for `entries_cap` entries; `count_out` is NULL or valid.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_list(
    registry: *const sesame_registry,
    user_id: u64,
    now: u64,
    entries_out: *mut sesame_registry_entry,
    entries_cap: usize,
    count_out: *mut usize,
) -> sesame_result {
    guard(|| {
        if count_out.is_null() || (entries_out.is_null() && entries_cap != 0) {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // A cap past any sane per-user count is not an allocation request.
        let room = entries_cap.min(1024);
        let mut entries = std::vec![Entry::default(); room];
        // SAFETY: per this function's contract.
        let live = unsafe { with_registry(registry, |r| r.list(user_id, now, &mut entries)) }?;
        for (i, entry) in entries.iter().take(live.min(room)).enumerate() {
            // SAFETY: `i < room <= entries_cap` entries are writable.
            unsafe { entries_out.add(i).write(sesame_registry_entry::from(entry)) };
        }
        // SAFETY: NULL-checked above.
        unsafe { count_out.write(live) };
        Ok(())
    })
}

/// Ends one session at once (its token is refused from now on); writes 1
/// if it was live, 0 otherwise, to `*revoked_out`.
///
/// # Safety
/// As for `sesame_registry_register`.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_revoke(
    registry: *const sesame_registry,
    user_id: u64,
    session_id: *const u8,
    now: u64,
    revoked_out: *mut u32,
) -> sesame_result {
    guard(|| {
        if revoked_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let session_id = unsafe { session_id_in(session_id) }?;
        // SAFETY: per this function's contract.
        let revoked = unsafe { with_registry(registry, |r| r.revoke(user_id, &session_id, now)) }?;
        // SAFETY: NULL-checked above.
        unsafe { write_out(revoked_out, u32::from(revoked)) }
    })
}

/// Ends every session of the user ("log out everywhere"); writes how many
/// to `*count_out`.
///
/// # Safety
/// `registry` is NULL or live; `count_out` is NULL or valid.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_revoke_all(
    registry: *const sesame_registry,
    user_id: u64,
    now: u64,
    count_out: *mut u32,
) -> sesame_result {
    guard(|| {
        if count_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let count = unsafe { with_registry(registry, |r| r.revoke_all(user_id, now)) }?;
        // SAFETY: NULL-checked above.
        unsafe { write_out(count_out, count) }
    })
}

/// Ends every session of the user but `keep_session_id` ("log out my other
/// sessions"), effective at once, same second included; writes how many.
///
/// # Safety
/// As for `sesame_registry_register`.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_revoke_others(
    registry: *const sesame_registry,
    user_id: u64,
    keep_session_id: *const u8,
    now: u64,
    count_out: *mut u32,
) -> sesame_result {
    guard(|| {
        if count_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let keep = unsafe { session_id_in(keep_session_id) }?;
        // SAFETY: per this function's contract.
        let count = unsafe { with_registry(registry, |r| r.revoke_others(user_id, &keep, now)) }?;
        // SAFETY: NULL-checked above.
        unsafe { write_out(count_out, count) }
    })
}

/// Ends the session a logout came from, finally: its token (and any copy)
/// is refused from now on, whatever the check mode. Writes the session's
/// state after the logout to `*verdict_out`: REVOKED for an ordinary
/// logout, UNKNOWN for a session the registry does not know, THEFT_DETECTED
/// when the token was a superseded one used after its successor.
///
/// # Safety
/// As for `sesame_registry_register`.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_logout(
    registry: *const sesame_registry,
    user_id: u64,
    session_id: *const u8,
    token: *const c_char,
    token_len: usize,
    now: u64,
    verdict_out: *mut u32,
) -> sesame_result {
    // SAFETY: per this function's contract.
    guard(|| unsafe {
        judge_token(
            registry,
            session_id,
            token,
            token_len,
            verdict_out,
            |r, sid, fp| r.logout(user_id, sid, fp, now),
        )
    })
}

/// Drops every expired entry of every user; writes how many to `*count_out`.
/// Stores also prune as they go; call it from a periodic job if logins are
/// rare. Redis expires its keys by TTL itself, so there it always writes 0.
///
/// # Safety
/// `registry` is NULL or live; `count_out` is NULL or valid.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_registry_prune(
    registry: *const sesame_registry,
    now: u64,
    count_out: *mut usize,
) -> sesame_result {
    guard(|| {
        if count_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let count = unsafe { with_registry(registry, |r| r.prune(now)) }?;
        // SAFETY: NULL-checked above.
        unsafe { write_out(count_out, count) }
    })
}

/// `sizeof(sesame_registry_config)`, for a binding's load-time layout check.
#[cfg(feature = "std")]
#[no_mangle]
pub extern "C" fn sesame_registry_config_size() -> usize {
    core::mem::size_of::<sesame_registry_config>()
}

/// `sizeof(sesame_registry_entry)`, for a binding's load-time layout check.
#[cfg(feature = "std")]
#[no_mangle]
pub extern "C" fn sesame_registry_entry_size() -> usize {
    core::mem::size_of::<sesame_registry_entry>()
}
