//! Published vectors for the constructions sesame follows: C2SP XAES-256-GCM
//! (including the accumulated 10,000-iteration vector) and RFC 5869 HKDF-SHA256.

mod common;

use common::{hex, to_hex};
use sesame::primitives::{hkdf_sha256, XaesKey};
use sha3::digest::{ExtendableOutput, Update, XofReader};

fn xaes_seal(key: &[u8], nonce: &[u8], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let key = XaesKey::new(key.try_into().unwrap());
    let nonce: &[u8; 24] = nonce.try_into().unwrap();
    let mut buffer = plaintext.to_vec();
    let tag = key.seal_in_place(nonce, aad, &mut buffer);
    buffer.extend_from_slice(&tag);
    buffer
}

fn xaes_open(key: &[u8], nonce: &[u8], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let key = XaesKey::new(key.try_into().unwrap());
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    let mut buffer = ciphertext.to_vec();
    key.open_in_place(
        nonce.try_into().unwrap(),
        aad,
        &mut buffer,
        tag.try_into().unwrap(),
    )
    .ok()
    .map(|()| buffer)
}

#[test]
fn c2sp_xaes_256_gcm_vectors() {
    let nonce = b"ABCDEFGHIJKLMNOPQRSTUVWX";
    let cases: [(u8, &[u8], &str); 2] = [
        (
            0x01,
            b"",
            "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271",
        ),
        (
            0x03,
            b"c2sp.org/XAES-256-GCM",
            "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d",
        ),
    ];
    for (fill, aad, expected) in cases {
        let key = [fill; 32];
        let sealed = xaes_seal(&key, nonce, b"XAES-256-GCM", aad);
        assert_eq!(to_hex(&sealed), expected);
        assert_eq!(
            xaes_open(&key, nonce, &sealed, aad).as_deref(),
            Some(&b"XAES-256-GCM"[..])
        );
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert_eq!(xaes_open(&key, nonce, &tampered, aad), None);
        assert_eq!(xaes_open(&key, nonce, &sealed, b"other aad"), None);
    }
}

fn accumulated(iterations: usize) -> String {
    let mut source = sha3::Shake128::default().finalize_xof();
    let mut digest = sha3::Shake128::default();
    let mut read = |n: usize| {
        let mut out = vec![0u8; n];
        source.read(&mut out);
        out
    };
    for _ in 0..iterations {
        let key = read(32);
        let nonce = read(24);
        let plaintext_len = read(1)[0] as usize;
        let plaintext = read(plaintext_len);
        let aad_len = read(1)[0] as usize;
        let aad = read(aad_len);
        let sealed = xaes_seal(&key, &nonce, &plaintext, &aad);
        assert_eq!(xaes_open(&key, &nonce, &sealed, &aad).unwrap(), plaintext);
        digest.update(&sealed);
    }
    let mut out = [0u8; 32];
    digest.finalize_xof().read(&mut out);
    to_hex(&out)
}

#[test]
fn c2sp_xaes_256_gcm_accumulated_10_000() {
    assert_eq!(
        accumulated(10_000),
        "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939"
    );
}

#[test]
#[ignore = "about a minute in a debug build: cargo test --release -- --ignored"]
fn c2sp_xaes_256_gcm_accumulated_1_000_000() {
    assert_eq!(
        accumulated(1_000_000),
        "2163ae1445985a30b60585ee67daa55674df06901b890593e824b8a7c885ab15"
    );
}

#[test]
fn rfc5869_hkdf_sha256_vectors() {
    // RFC 5869 appendix A, test cases 1-3 (the SHA-256 ones).
    let cases = [
        (
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            "000102030405060708090a0b0c",
            "f0f1f2f3f4f5f6f7f8f9",
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
        ),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
            "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
            "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87",
        ),
        (
            "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
            "",
            "",
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
        ),
    ];
    for (ikm, salt, info, okm) in cases {
        let expected = hex(okm);
        let mut out = vec![0u8; expected.len()];
        hkdf_sha256(&hex(salt), &hex(ikm), &hex(info), &mut out).unwrap();
        assert_eq!(to_hex(&out), okm);
    }
    let mut too_long = vec![0u8; 255 * 32 + 1];
    assert!(hkdf_sha256(b"", b"ikm", b"", &mut too_long).is_err());
}

#[test]
fn derived_ring_keys_are_hkdf_with_the_documented_salt() {
    let mut expected = [0u8; 32];
    hkdf_sha256(
        b"sesame/v1/key",
        b"master secret",
        b"session cookie",
        &mut expected,
    )
    .unwrap();
    let derived = sesame::derive_key(b"master secret", b"session cookie").unwrap();
    assert_eq!(*derived, expected);
    assert_ne!(
        *sesame::derive_key(b"master secret", b"other purpose").unwrap(),
        expected
    );
    assert_eq!(
        sesame::derive_key(b"", b"session cookie").unwrap_err(),
        sesame::Error::InvalidKey
    );
}
