//! `sesame_device_tag` across the C ABI: the core's tag, NULLs refused.
#![cfg(feature = "capi")]

use std::ptr;

use sesame::ffi::sesame_result::*;
use sesame::ffi::*;

#[test]
fn the_device_tag_through_the_c_abi() {
    let secret = [0u8; 32];
    let mut other = secret;
    other[0] = 1;
    let (mut tag, mut other_tag) = (
        [9u8; SESAME_DEVICE_TAG_BYTES],
        [9u8; SESAME_DEVICE_TAG_BYTES],
    );
    // SAFETY: 32 readable bytes in, SESAME_DEVICE_TAG_BYTES writable bytes out, or NULL.
    unsafe {
        assert_eq!(
            sesame_device_tag(secret.as_ptr(), tag.as_mut_ptr()),
            SESAME_OK
        );
        assert_eq!(
            sesame_device_tag(other.as_ptr(), other_tag.as_mut_ptr()),
            SESAME_OK
        );
        assert_eq!(
            sesame_device_tag(ptr::null(), tag.as_mut_ptr()),
            SESAME_NULL_ARGUMENT
        );
        assert_eq!(
            sesame_device_tag(secret.as_ptr(), ptr::null_mut()),
            SESAME_NULL_ARGUMENT
        );
    }
    assert_eq!(tag, sesame::cookies::device_tag(&secret));
    assert_ne!(tag, other_tag);
    assert_eq!(
        tag,
        [
            0x7c, 0xd0, 0xff, 0x31, 0xbf, 0x03, 0x24, 0x9b, 0xdc, 0x80, 0xd4, 0x9b, 0x7e, 0x70,
            0x14, 0xee
        ]
    );
}
