//! CSRF protection a shared cache cannot break: the device's secret, and
//! the origin rule for requests that have no device yet (docs/COOKIES.md).

use core::ffi::{c_char, c_int};
use core::ptr;

use super::cookies::{RequestState, BEGUN, FINISHED};
use super::*;
use crate::cookies::{origin_allowed, CSRF_SECRET_BYTES};

/// Length of the CSRF secret `sesame_request_csrf_secret` writes.
pub const SESAME_CSRF_SECRET_BYTES: usize = 32;

const _: () = assert!(SESAME_CSRF_SECRET_BYTES == CSRF_SECRET_BYTES);

/// Writes the CSRF secret of the device the request carried to `secret_out`
/// (capacity `secret_cap`, at least `SESAME_CSRF_SECRET_BYTES`) and 1 to
/// `*present_out`; or, when the request carried no valid device cookie,
/// writes 0 to `*present_out` and nothing to `secret_out`: judge such a
/// request with `sesame_csrf_origin_allowed`.
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
        // SAFETY: `request` is valid (contract); `internal` is its own field.
        let state = unsafe { &*ptr::addr_of!((*request).internal).cast::<RequestState>() };
        if !matches!(state.begun, BEGUN | FINISHED) {
            return Err(SESAME_INVALID_ARGUMENT);
        }
        let Some(secret) = state.cookies.csrf_secret() else {
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

/// Writes 1 to `*allowed_out` if a request may change state judged by where
/// it came from, else 0 (Go's `net/http` CrossOriginProtection rule):
/// GET, HEAD and OPTIONS always; else `Sec-Fetch-Site` `same-origin` or
/// `none` when that header is present (any other value refuses); else an
/// `Origin` whose host[:port] equals `Host`, case-insensitively, when
/// `Origin` is present; else (no browser headers at all) allowed.
///
/// Each header is its value's bytes, or NULL with length 0 when absent.
/// Apply it to requests without a device (`sesame_request_csrf_secret`
/// found none: a first visit's login form) instead of a token check; it may
/// also be applied to every request as a second line of defence.
///
/// # Safety
/// Every pointer is NULL (length 0) or valid for its length; `allowed_out`
/// is NULL or valid for a write.
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
