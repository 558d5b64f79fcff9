//! The token format, version 1 (specified in `docs/FORMAT.md`):
//!
//! ```text
//! text   = base64url-no-pad(binary)            canonical: one token, one text
//! binary = version(0x01) || key_id(LEB128 u32) || nonce(24) || ciphertext || tag(16)
//! AD     = version || key_id                   (the header bytes as sent)
//!          || context                          (caller's binding context, may be empty)
//! ```

use crate::base64url;
use crate::claims::CLAIMS_MAX;
use crate::crypto::{NONCE_BYTES, TAG_BYTES};
use crate::Error;

/// The format version this library writes and reads.
pub const VERSION: u8 = 1;

/// Longest header: the version byte and a five-byte LEB128 key ID.
pub const HEADER_MAX: usize = 1 + 5;

/// Longest binary token.
pub const BINARY_MAX: usize = HEADER_MAX + NONCE_BYTES + CLAIMS_MAX + TAG_BYTES;

/// Shortest binary token: one-byte key ID and the smallest claims encoding.
pub const BINARY_MIN: usize = 2 + NONCE_BYTES + crate::claims::CLAIMS_MIN + TAG_BYTES;

/// Longest token text, in bytes (base64url without padding of [`BINARY_MAX`]).
/// Longer input is rejected with [`Error::TooLong`] before any decoding.
pub const TOKEN_MAX: usize = encoded_len(BINARY_MAX);

/// Shortest possible token text.
pub const TOKEN_MIN: usize = encoded_len(BINARY_MIN);

/// Length of the unpadded base64 text of `n` bytes.
pub const fn encoded_len(n: usize) -> usize {
    base64url::encoded_len(n)
}

/// The header of a token: version and key ID, plus the bytes they were read
/// from (they are authenticated as sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub key_id: u32,
    bytes: [u8; HEADER_MAX],
    len: usize,
}

impl Header {
    pub fn new(key_id: u32) -> Self {
        let mut bytes = [0u8; HEADER_MAX];
        bytes[0] = VERSION;
        let mut len = 1;
        let mut rest = key_id;
        loop {
            let byte = (rest & 0x7f) as u8;
            rest >>= 7;
            if rest == 0 {
                bytes[len] = byte;
                len += 1;
                break;
            }
            bytes[len] = byte | 0x80;
            len += 1;
        }
        Header { key_id, bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Reads the header at the start of `binary`. Only the canonical
    /// (shortest) LEB128 form of the key ID is accepted.
    #[inline]
    pub fn parse(binary: &[u8]) -> Result<Header, Error> {
        match binary.first() {
            None => return Err(Error::Malformed),
            Some(&VERSION) => {}
            Some(_) => return Err(Error::UnsupportedVersion),
        }
        let mut key_id: u32 = 0;
        for i in 0..5 {
            let byte = *binary.get(1 + i).ok_or(Error::Malformed)?;
            let bits = u32::from(byte & 0x7f);
            if i == 4 && bits > 0x0f {
                return Err(Error::Malformed);
            }
            key_id |= bits << (7 * i);
            if byte & 0x80 == 0 {
                // A zero final byte after the first would be an overlong encoding.
                if i > 0 && byte == 0 {
                    return Err(Error::Malformed);
                }
                let header = Header::new(key_id);
                debug_assert_eq!(header.len, i + 2);
                return Ok(header);
            }
        }
        Err(Error::Malformed)
    }
}

/// Writes the text form of `binary` into `out`, returning its length.
#[inline]
pub fn encode_text(binary: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    base64url::encode(binary, out).map_err(|_| Error::BufferTooSmall)
}

/// Decodes token text into `out`. Rejects over-long text before decoding, and
/// any text that is not the one canonical encoding of its bytes.
#[inline]
pub fn decode_text<'a>(text: &[u8], out: &'a mut [u8; BINARY_MAX]) -> Result<&'a [u8], Error> {
    if text.len() > TOKEN_MAX {
        return Err(Error::TooLong);
    }
    if text.len() < TOKEN_MIN {
        return Err(Error::Malformed);
    }
    // Constant-time; rejects non-zero trailing bits and impossible lengths
    // (tests/token.rs flips every bit of a token's text to prove it, and
    // base64url.rs checks itself against base64ct).
    base64url::decode(text, out).map_err(|_| Error::Malformed)
}

/// Decodes token text and reads its header: every check that needs no key.
/// Returns the header and the whole binary token.
#[inline]
pub fn decode_token<'a>(
    text: &[u8],
    out: &'a mut [u8; BINARY_MAX],
) -> Result<(Header, &'a mut [u8]), Error> {
    let len = decode_text(text, out)?.len();
    let binary = &mut out[..len];
    let header = Header::parse(binary)?;
    if len < header.as_bytes().len() + NONCE_BYTES + crate::claims::CLAIMS_MIN + TAG_BYTES {
        return Err(Error::Malformed);
    }
    Ok((header, binary))
}

/// The ID of the key a token was sealed under, read without any key, for
/// routing, logs and tools. Nothing in it is authenticated until the token
/// is opened: a forger can name any key ID.
pub fn token_key_id(text: impl AsRef<[u8]>) -> Result<u32, Error> {
    let mut binary = [0u8; BINARY_MAX];
    decode_token(text.as_ref(), &mut binary).map(|(header, _)| header.key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_round_trip_through_the_header() {
        for id in [
            0u32,
            1,
            127,
            128,
            16_383,
            16_384,
            0x0fff_ffff,
            0x1000_0000,
            u32::MAX,
        ] {
            let header = Header::new(id);
            let mut binary = [0u8; 8];
            binary[..header.as_bytes().len()].copy_from_slice(header.as_bytes());
            assert_eq!(Header::parse(&binary).unwrap(), header, "id {id}");
        }
        assert_eq!(Header::new(1).as_bytes(), &[1, 1]);
        assert_eq!(Header::new(300).as_bytes(), &[1, 0xac, 0x02]);
        assert_eq!(Header::new(u32::MAX).as_bytes().len(), HEADER_MAX);
    }

    #[test]
    fn non_canonical_and_oversized_key_ids_are_malformed() {
        assert_eq!(Header::parse(&[1, 0x81, 0x00]), Err(Error::Malformed));
        assert_eq!(
            Header::parse(&[1, 0xff, 0xff, 0xff, 0xff, 0x10]),
            Err(Error::Malformed)
        );
        assert_eq!(
            Header::parse(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(Error::Malformed)
        );
        assert_eq!(Header::parse(&[1, 0x80]), Err(Error::Malformed));
        assert_eq!(Header::parse(&[]), Err(Error::Malformed));
        assert_eq!(Header::parse(&[2, 1]), Err(Error::UnsupportedVersion));
    }

    #[test]
    fn bounds_are_what_the_spec_says() {
        assert_eq!(BINARY_MAX, 233);
        assert_eq!(TOKEN_MAX, 311);
        assert_eq!(BINARY_MIN, 63);
        assert_eq!(TOKEN_MIN, 84);
    }
}
