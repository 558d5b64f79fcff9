//! sesame's own constant-time base64url (src/base64url.rs) against base64ct:
//! arbitrary text must decode to the same bytes or fail exactly when
//! base64ct fails, and arbitrary bytes must encode to the same text and
//! decode back. Lengths are those a token can have.
#![no_main]

use base64ct::{Base64UrlUnpadded, Encoding};
use libfuzzer_sys::fuzz_target;
use sesame::format::{decode_text, encode_text, BINARY_MAX};
use sesame::{Error, TOKEN_MAX};

fuzz_target!(|input: &[u8]| {
    // As text.
    let mut ours = [0u8; BINARY_MAX];
    let mut theirs = [0u8; BINARY_MAX];
    let reference = Base64UrlUnpadded::decode(input, &mut theirs);
    match decode_text(input, &mut ours) {
        Ok(bytes) => assert_eq!(Ok(bytes), reference.map_err(|_| ())),
        Err(Error::TooLong) => assert!(input.len() > TOKEN_MAX),
        Err(Error::Malformed) => assert!(
            reference.is_err() || input.len() < sesame::format::TOKEN_MIN,
            "rejected text base64ct accepts: {input:?}"
        ),
        Err(other) => panic!("unexpected {other:?}"),
    }

    // As bytes.
    if input.len() <= BINARY_MAX {
        let mut text = [0u8; TOKEN_MAX];
        let mut expected = [0u8; TOKEN_MAX];
        let n = encode_text(input, &mut text).expect("TOKEN_MAX holds any binary token");
        let reference = Base64UrlUnpadded::encode(input, &mut expected).unwrap();
        assert_eq!(&text[..n], reference.as_bytes());
        if n >= sesame::format::TOKEN_MIN {
            assert_eq!(decode_text(&text[..n], &mut ours), Ok(input));
        }
    }
});
