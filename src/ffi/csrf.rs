//! CSRF protection a shared cache cannot break: the device's secret, and
//! the origin rule for requests that have no device yet (docs/COOKIES.md).

use core::ffi::{c_char, c_int};
use core::ptr;

use super::cookies::{RequestState, BEGUN, FINISHED};
use super::keyring::ring_ref;
use super::*;
use crate::cookies::{origin_allowed, RuleError, CSRF_SECRET_BYTES, CSRF_TOKEN_LEN};

/// Length of the CSRF secret `sesame_request_csrf_secret` writes.
pub const SESAME_CSRF_SECRET_BYTES: usize = 32;

/// Length of a form token `sesame_request_csrf_token` writes (a NUL
/// follows it, so its buffer needs one byte more).
pub const SESAME_CSRF_TOKEN_LEN: usize = 86;

const _: () = assert!(
    SESAME_CSRF_SECRET_BYTES == CSRF_SECRET_BYTES && SESAME_CSRF_TOKEN_LEN == CSRF_TOKEN_LEN
);

/// The state `begin` left in a request, if it was begun.
///
/// # Safety
/// `request` is non-NULL and was filled by `sesame_request_begin`.
unsafe fn begun<'a>(request: *const sesame_request) -> Result<&'a RequestState, sesame_result> {
    // SAFETY: `request` is valid (contract); `internal` is its own field.
    let state = unsafe { &*ptr::addr_of!((*request).internal).cast::<RequestState>() };
    if matches!(state.begun, BEGUN | FINISHED) {
        Ok(state)
    } else {
        Err(SESAME_INVALID_ARGUMENT)
    }
}

/// Writes the CSRF secret of the browser's device (the one the request
/// carried; after `sesame_request_finish`, the one the response leaves,
/// new at a login or logout) to `secret_out`
/// (capacity `secret_cap`, at least `SESAME_CSRF_SECRET_BYTES`) and 1 to
/// `*present_out`; or, when the request carried no valid device cookie,
/// writes 0 to `*present_out` and nothing to `secret_out` (before `finish`
/// even if its response will issue a device): judge such a request with
/// `sesame_csrf_origin_allowed`.
///
/// Use it as the framework's CSRF secret (mask it into forms as the
/// framework does) instead of a secret kept in a cookie the framework sets
/// on GET responses, which a shared cache replays to other browsers. The
/// secret is derived one-way from the device ID: a page showing it does not
/// reveal the device cookie. It changes with the device, at login and
/// logout.
///
/// # Safety
/// `request` is NULL or was filled by `sesame_request_begin`; the outputs
/// are NULL or valid for their sizes.
#[no_mangle]
pub unsafe extern "C" fn sesame_request_csrf_secret(
    request: *const sesame_request,
    secret_out: *mut u8,
    secret_cap: usize,
    present_out: *mut c_int,
) -> sesame_result {
    guard(|| {
        if request.is_null() || secret_out.is_null() || present_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: non-NULL (checked) and filled by begin (contract).
        let state = unsafe { begun(request) }?;
        // Until finish, the request's own device: a request without one is
        // judged by its origin, whatever device its response will issue.
        let device = match state.begun {
            FINISHED => state.device,
            _ => state.cookies.device().copied(),
        };
        let Some(secret) = device.map(|d| d.csrf_secret()) else {
            // SAFETY: NULL-checked above; valid for a write (contract).
            return unsafe { write_out(present_out, 0) };
        };
        if secret_cap < secret.len() {
            return Err(SESAME_BUFFER_TOO_SMALL);
        }
        // SAFETY: `secret_out` is valid for `secret_cap` bytes (contract),
        // at least the secret's length (checked); `present_out` as above.
        unsafe {
            ptr::copy_nonoverlapping(secret.as_ptr(), secret_out, secret.len());
            write_out(present_out, 1)
        }
    })
}

/// Writes a fresh CSRF form token for the device the browser holds after
/// this response (its secret under a random mask: `SESAME_CSRF_TOKEN_LEN`
/// base64url characters and a NUL) to `token_out` (capacity `token_cap`)
/// and its length to `*token_len_out`. That device is the request's; on a
/// non-GET request without one, the device its response issues, picked by
/// `begin` so that a page rendered before `finish` (a first visit's login
/// form shown again after a wrong password) checks on the next request;
/// after a login's or logout's `finish`, the new one. A GET or HEAD without
/// a device gets the empty token (length 0): its response issues none, and
/// `sesame_request_csrf_check` judges the next request by its origin. Put
/// the token in every form (or a request header) that
/// `sesame_request_csrf_check` will see.
///
/// # Safety
/// `ring` is NULL or a live ring; `request` is NULL or was filled by
/// `sesame_request_begin`; the outputs are NULL or valid for their sizes.
#[no_mangle]
pub unsafe extern "C" fn sesame_request_csrf_token(
    ring: *const sesame_keyring,
    request: *const sesame_request,
    token_out: *mut c_char,
    token_cap: usize,
    token_len_out: *mut usize,
) -> sesame_result {
    guard(|| {
        if request.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let (ring, state) = unsafe { (ring_ref(ring)?, begun(request)?) };
        let Some(device) = state.device else {
            // SAFETY: per this function's contract.
            return unsafe { write_token(b"", token_out, token_cap, token_len_out) };
        };
        let token = ring.read(|keys| {
            keys.with_rng(|rng| {
                device
                    .csrf_token(rng)
                    .map_err(|_: RuleError| SESAME_RANDOM_FAILED)
            })
        })??;
        // SAFETY: per this function's contract.
        unsafe {
            write_token(
                token.as_str().as_bytes(),
                token_out,
                token_cap,
                token_len_out,
            )
        }
    })
}

/// The whole CSRF rule for a request `sesame_request_begin` filled: writes
/// 1 to `*allowed_out` if it may proceed, else 0. GET and HEAD pass. A
/// request with a device must carry `token`, one of that device's
/// `sesame_request_csrf_token`s (from the form field or header the app
/// chose); a request without one (a first visit's login form) is judged
/// instead by its `Sec-Fetch-Site`, `Origin` and `Host` headers, as
/// `sesame_csrf_origin_allowed` judges them. Each of `token` and the
/// headers is NULL with length 0 when absent. Call it for every method the
/// app protects (OPTIONS included, if the app changes state on it).
///
/// # Safety
/// `request` is NULL or was filled by `sesame_request_begin`; every pointer
/// is NULL (length 0) or valid for its length; `allowed_out` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn sesame_request_csrf_check(
    request: *const sesame_request,
    token: *const c_char,
    token_len: usize,
    sec_fetch_site: *const c_char,
    sec_fetch_site_len: usize,
    origin: *const c_char,
    origin_len: usize,
    host: *const c_char,
    host_len: usize,
    allowed_out: *mut c_int,
) -> sesame_result {
    guard(|| {
        if request.is_null() || allowed_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let (state, token, site, origin, host) = unsafe {
            (
                begun(request)?,
                header(token, token_len)?,
                header(sec_fetch_site, sec_fetch_site_len)?,
                header(origin, origin_len)?,
                header(host, host_len)?,
            )
        };
        let allowed = state.cookies.csrf_allows(token, site, origin, host);
        // SAFETY: NULL-checked above; valid for a write (contract).
        unsafe { write_out(allowed_out, c_int::from(allowed)) }
    })
}

/// Writes 1 to `*allowed_out` if a request may change state judged by where
/// it came from, else 0 (Go's `net/http` CrossOriginProtection rule):
/// GET, HEAD and OPTIONS always; else `Sec-Fetch-Site` `same-origin` or
/// `none` when that header is present (any other value refuses); else an
/// `Origin` whose `host[:port]` equals `Host`, case-insensitively, when
/// `Origin` is present; else (no browser headers at all) allowed.
///
/// `method` is the request's method (NULL gives `SESAME_NULL_ARGUMENT`).
/// Each header is its value's bytes, or NULL with length 0 when absent.
/// Apply it to requests without a device (`sesame_request_csrf_secret`
/// found none: a first visit's login form) instead of a token check; it may
/// also be applied to every request as a second line of defence.
///
/// # Safety
/// `method` is NULL or valid for `method_len` bytes; every header is NULL
/// (length 0) or valid for its length; `allowed_out` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn sesame_csrf_origin_allowed(
    method: *const c_char,
    method_len: usize,
    sec_fetch_site: *const c_char,
    sec_fetch_site_len: usize,
    origin: *const c_char,
    origin_len: usize,
    host: *const c_char,
    host_len: usize,
    allowed_out: *mut c_int,
) -> sesame_result {
    guard(|| {
        if method.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let (method, site, origin, host) = unsafe {
            (
                input(method.cast(), method_len)?,
                header(sec_fetch_site, sec_fetch_site_len)?,
                header(origin, origin_len)?,
                header(host, host_len)?,
            )
        };
        let allowed = origin_allowed(method, site, origin, host);
        // SAFETY: NULL-checked by write_out; otherwise valid (contract).
        unsafe { write_out(allowed_out, c_int::from(allowed)) }
    })
}

/// A header's value, or `None` for NULL (absent).
///
/// # Safety
/// `value` is NULL or valid for `len` bytes.
unsafe fn header<'a>(value: *const c_char, len: usize) -> Result<Option<&'a [u8]>, sesame_result> {
    if value.is_null() {
        return if len == 0 {
            Ok(None)
        } else {
            Err(SESAME_NULL_ARGUMENT)
        };
    }
    // SAFETY: non-NULL and valid for `len` bytes (contract).
    unsafe { input(value.cast(), len) }.map(Some)
}
