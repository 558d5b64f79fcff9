//! `crate::cookies::device_tag` across the C ABI: the public tag of a
//! device that frameworks stamp into their own session data.

use core::ptr;

use super::*;
use crate::cookies::{device_tag, DEVICE_TAG_BYTES};

/// Bytes of a device tag (`sesame_device_tag`).
pub const SESAME_DEVICE_TAG_BYTES: usize = 16;

const _: () = assert!(SESAME_DEVICE_TAG_BYTES == DEVICE_TAG_BYTES);

/// Writes to `tag_out` the public tag of the device whose CSRF secret
/// (`sesame_request_csrf_secret`) is `secret`: 16 bytes, one-way from the
/// secret and distinct from it, safe to store in data a GET response sets
/// (a framework's session cookie), to tell on a later request whether that
/// data was written for this browser's device.
///
/// # Safety
/// `secret` is NULL or points to 32 readable bytes; `tag_out` is NULL or
/// points to `SESAME_DEVICE_TAG_BYTES` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn sesame_device_tag(secret: *const u8, tag_out: *mut u8) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract, 32 readable bytes (NULL refused by input).
        let secret = unsafe { input(secret, 32) }?;
        let secret: &[u8; 32] = secret.try_into().map_err(|_| SESAME_NULL_ARGUMENT)?;
        if tag_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        let tag = device_tag(secret);
        // SAFETY: tag_out is not NULL and, per the contract, has room for the tag.
        unsafe { ptr::copy_nonoverlapping(tag.as_ptr(), tag_out, DEVICE_TAG_BYTES) };
        Ok(())
    })
}
