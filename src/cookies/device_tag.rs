//! A public tag of a browser's device, for binding a framework's own
//! session data (Rails' session cookie, Django's messages) to the browser
//! it was written for: stamped into data that a GET response sets (which a
//! shared cache may replay to another browser) and compared on the next
//! request. Derived one-way from the device's CSRF secret and distinct from
//! it, so a replayed copy gives a forger neither that secret nor the
//! device ID.

use crate::crypto::hkdf_sha256;

/// Bytes of a device tag.
pub const DEVICE_TAG_BYTES: usize = 16;

const SALT: &[u8] = b"sesame device tag";
const INFO: &[u8] = b"framework session binding v1";

/// The tag of the device whose CSRF secret is `csrf_secret`.
pub fn device_tag(csrf_secret: &[u8; 32]) -> [u8; DEVICE_TAG_BYTES] {
    let mut tag = [0u8; DEVICE_TAG_BYTES];
    // 16 bytes are far below HKDF-SHA256's output limit: this cannot fail.
    let _ = hkdf_sha256(SALT, csrf_secret, INFO, &mut tag);
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_tag_per_secret_never_the_secret() {
        let a = [7u8; 32];
        let mut b = a;
        b[31] ^= 1;
        assert_eq!(device_tag(&a), device_tag(&a));
        assert_ne!(device_tag(&a), device_tag(&b));
        assert_ne!(device_tag(&a)[..], a[..DEVICE_TAG_BYTES]);
        assert_ne!(device_tag(&[0u8; 32]), [0u8; DEVICE_TAG_BYTES]);
    }

    #[test]
    fn fixed_vector() {
        // HKDF-SHA256(salt "sesame device tag", ikm 32 x 0x00, info "framework session binding v1")[..16]
        let expected = [
            0x7c, 0xd0, 0xff, 0x31, 0xbf, 0x03, 0x24, 0x9b, 0xdc, 0x80, 0xd4, 0x9b, 0x7e, 0x70,
            0x14, 0xee,
        ];
        assert_eq!(device_tag(&[0u8; 32]), expected);
    }
}
