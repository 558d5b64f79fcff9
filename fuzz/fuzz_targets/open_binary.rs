//! Arbitrary binary tokens (version, key ID, nonce, ciphertext, tag), encoded
//! as canonical base64url without padding, then opened as `open_text` does:
//! the text layer is always valid, so the fuzzer works on the binary format.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|binary: &[u8]| {
    // Encodings past TOKEN_MAX are refused before decoding; keep one such
    // length and spend the rest of the effort below it.
    let binary = &binary[..binary.len().min(sesame::format::BINARY_MAX + 3)];
    let mut text = [0u8; 320];
    let len = sesame::format::encode_text(binary, &mut text).expect("320 bytes hold 236 encoded");
    let text = &text[..len];
    if len > sesame::TOKEN_MAX {
        let ring = sesame_fuzz::fixed_ring();
        assert_eq!(
            ring.open(text, b"", &sesame::Policy::DEFAULT, sesame_fuzz::NOW),
            Err(sesame::Error::TooLong)
        );
        return;
    }
    // The text layer is exact: decoding gives the bytes back.
    let mut back = [0u8; sesame::format::BINARY_MAX];
    if let Ok(decoded) = sesame::format::decode_text(text, &mut back) {
        assert_eq!(decoded, binary);
    }
    sesame_fuzz::open_everywhere(text);
});
