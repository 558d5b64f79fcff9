//! The decoder rules docs/FORMAT.md states where an outsider's decoder found
//! the text ambiguous, each demonstrated against the library: what the
//! length limit counts, the real plaintext bound, absent lifetimes, which
//! error each kind of damage yields, what refresh does with timestamps and
//! contexts, and which key-derivation inputs are refused.

mod common;

use common::ScriptedRng;
use sesame::format::Header;
use sesame::primitives::{hkdf_sha256, XaesKey};
use sesame::{
    derive_key, Error, KeyRing, NewSession, Policy, DERIVE_SALT, NONCE_BYTES, TAG_BYTES, TOKEN_MAX,
};

const T: u64 = 1_700_000_000;
const KEY: [u8; 32] = [7; 32];
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The spec's canonical decoder: None for anything but the one encoding.
fn base64url_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::new();
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= (ALPHABET.iter().position(|&a| a == c)? as u32) << (18 - 6 * i);
        }
        let bytes = chunk.len() - 1;
        if n & ((1 << (24 - 8 * bytes)) - 1) != 0 {
            return None;
        }
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

fn varint_wide(n: u64, width: usize, out: &mut Vec<u8>) {
    for i in 0..width {
        let group = if 7 * i < 64 { (n >> (7 * i)) & 0x7f } else { 0 };
        let more = if i + 1 < width { 0x80 } else { 0 };
        out.push(group as u8 | more);
    }
}

fn ring(ids: &[u32]) -> KeyRing {
    let mut ring = KeyRing::new();
    for &id in ids {
        ring.add_key(id, &KEY).unwrap();
    }
    ring
}

fn seal_plaintext(key_id: u32, plaintext: &[u8], context: &[u8]) -> String {
    let header = Header::new(key_id);
    let nonce = [0x42; NONCE_BYTES];
    let mut buffer = plaintext.to_vec();
    let ad = [header.as_bytes(), context].concat();
    let tag = XaesKey::new(&KEY).seal_in_place(&nonce, &ad, &mut buffer);
    base64url(&[header.as_bytes(), &nonce[..], &buffer, &tag].concat())
}

fn seal(ring: &KeyRing, session: &NewSession<'_>, context: &[u8], now: u64) -> String {
    ring.seal_token(session, context, now, &mut ScriptedRng::new(&[0x11; 40]))
        .unwrap()
        .to_string()
}

#[test]
fn the_length_limit_counts_bytes_not_characters() {
    let ring = ring(&[1]);
    let policy = Policy::default();
    // 156 characters, 312 bytes: too long.
    assert_eq!(
        ring.open("\u{e9}".repeat(156), b"", &policy, T).err(),
        Some(Error::TooLong)
    );
    // 156 characters, 311 bytes: within the limit, then not base64url.
    let text = ["\u{e9}".repeat(155), "A".into()].concat();
    assert_eq!(text.len(), TOKEN_MAX);
    assert_eq!(
        ring.open(&text, b"", &policy, T).err(),
        Some(Error::Malformed)
    );
    // 104 three-byte characters = 312 bytes.
    assert_eq!(
        ring.open("\u{20ac}".repeat(104), b"", &policy, T).err(),
        Some(Error::TooLong)
    );
}

/// Claims of exactly `len` bytes (21..=194) that decode (user 5, issued at
/// 1): the shortest fields, then data, then wider varints, then a lifetime.
fn plaintext_of_len(len: usize) -> Vec<u8> {
    assert!((21..=194).contains(&len));
    let mut extra = len - 21;
    let data = extra.min(127);
    extra -= data;
    // Widths of user_id, issued_at, refreshed_after, data length (1..=10).
    let mut widths = [1usize; 4];
    for width in widths.iter_mut() {
        let add = extra.min(9);
        *width += add;
        extra -= add;
    }
    let mut p = Vec::new();
    varint_wide(5, widths[0], &mut p);
    p.extend([0x33; 16]);
    varint_wide(1, widths[1], &mut p);
    varint_wide(0, widths[2], &mut p);
    if extra == 0 {
        p.push(0);
    } else {
        p.push(1);
        varint_wide(100, extra, &mut p);
    }
    varint_wide(data as u64, widths[3], &mut p);
    p.extend(std::iter::repeat_n(0x5a, data));
    assert_eq!(p.len(), len);
    p
}

#[test]
fn the_decoder_bound_is_the_text_limit_not_187() {
    let no_limits = Policy {
        idle_timeout: None,
        absolute_lifetime: None,
        ..Policy::default()
    };
    // For every header length, every plaintext that fits in 311 characters
    // opens, whatever its varint widths; one byte more is too long.
    for (key_id, header_len) in [
        (1u32, 2usize),
        (128, 3),
        (1 << 14, 4),
        (1 << 21, 5),
        (1 << 28, 6),
    ] {
        assert_eq!(Header::new(key_id).as_bytes().len(), header_len);
        let ring = ring(&[key_id]);
        let most = 233 - header_len - NONCE_BYTES - TAG_BYTES;
        for len in 21..=most {
            let p = plaintext_of_len(len);
            let token = seal_plaintext(key_id, &p, b"");
            let claims = ring
                .open(&token, b"", &no_limits, 1)
                .unwrap_or_else(|e| panic!("key {key_id} plaintext {len}: {e:?}"));
            assert_eq!((claims.user_id, claims.issued_at), (5, 1));
        }
        let token = seal_plaintext(key_id, &plaintext_of_len(most + 1), b"");
        assert_eq!(token.len(), TOKEN_MAX + 1);
        assert_eq!(
            ring.open(&token, b"", &no_limits, 1).err(),
            Some(Error::TooLong)
        );
    }
    // The widest plaintext a sealer writes is 186 bytes (issued_at and
    // refreshed_after cannot both take ten bytes): 187 is only a bound.
    let ring = ring(&[u32::MAX]);
    let data = [0u8; 128];
    let session = NewSession {
        kind: sesame::SessionKind::Browser,
        user_id: u64::MAX,
        lifetime: Some(u64::MAX),
        data: &data,
    };
    let first = seal(&ring, &session, b"", 1 << 63);
    let (_, longest) = ring
        .refresh_token(
            &first,
            b"",
            &no_limits,
            u64::MAX - 1,
            &mut ScriptedRng::new(&[0; 24]),
        )
        .unwrap();
    assert_eq!(longest.len(), 310);
    assert_eq!(
        base64url_decode(longest.as_bytes()).unwrap().len() - 6 - NONCE_BYTES - TAG_BYTES,
        186
    );
}

#[test]
fn an_absent_lifetime_does_not_limit() {
    let ring = ring(&[1]);
    for policy_life in [None, Some(100), Some(200)] {
        for token_life in [None, Some(100), Some(200)] {
            let token = seal(
                &ring,
                &NewSession {
                    lifetime: token_life,
                    ..NewSession::new(1)
                },
                b"",
                T,
            );
            let policy = Policy {
                idle_timeout: None,
                absolute_lifetime: policy_life,
                ..Policy::default()
            };
            let limit = match (policy_life, token_life) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let open = |now| ring.open(&token, b"", &policy, now).err();
            match limit {
                Some(limit) => {
                    assert_eq!(open(T + limit - 1), None);
                    assert_eq!(open(T + limit), Some(Error::LifetimeExpired));
                }
                None => assert_eq!(open(u64::MAX), None),
            }
        }
    }
}

/// What the spec says damage to the binary token yields, in the order the
/// checks happen.
fn expected_error(binary: &[u8], ring_ids: &[u32], original: &[u8]) -> Option<Error> {
    if binary.len() > 233 {
        return Some(Error::TooLong);
    }
    if binary.len() < 63 {
        return Some(Error::Malformed);
    }
    if binary[0] != 1 {
        return Some(Error::UnsupportedVersion);
    }
    let mut id = 0u64;
    let mut header_len = None;
    for i in 0..5 {
        let byte = binary[1 + i];
        if (i == 4 && byte & 0x7f > 0x0f) || (i > 0 && byte == 0) {
            return Some(Error::Malformed);
        }
        id |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            header_len = Some(i + 2);
            break;
        }
    }
    let Some(header_len) = header_len else {
        return Some(Error::Malformed);
    };
    if binary.len() < header_len + 24 + 21 + 16 {
        return Some(Error::Malformed);
    }
    if !ring_ids.contains(&(id as u32)) {
        return Some(Error::UnknownKey);
    }
    if binary != original {
        return Some(Error::AuthFailed);
    }
    None
}

#[test]
fn every_bit_flip_yields_the_documented_error() {
    let ids = [1u32, 3, 300];
    let ring = ring(&ids);
    let policy = Policy::default();
    let mut counts = [0usize; 6];
    for (key_id, context) in [(1u32, &b""[..]), (300, &b"ctx"[..])] {
        let mut one = ring.clone();
        one.promote(key_id).unwrap();
        let token = seal(&one, &NewSession::new(123_456), context, T);
        let binary = base64url_decode(token.as_bytes()).unwrap();
        // Every bit of the binary token.
        for byte in 0..binary.len() {
            for bit in 0..8 {
                let mut damaged = binary.clone();
                damaged[byte] ^= 1 << bit;
                let got = ring.open(base64url(&damaged), context, &policy, T).err();
                let want = expected_error(&damaged, &ids, &binary);
                assert_eq!(got, want, "key {key_id} byte {byte} bit {bit}");
                counts[want.map_or(0, |e| e.code() as usize)] += 1;
                // Header damage never reaches authentication unless the
                // damaged header names another key the ring holds.
                if byte == 0 {
                    assert_eq!(got, Some(Error::UnsupportedVersion));
                }
            }
        }
        // Every bit of every character of the text.
        for at in 0..token.len() {
            for bit in 0..8 {
                let mut text = token.clone().into_bytes();
                text[at] ^= 1 << bit;
                let got = ring.open(&text, context, &policy, T).err();
                let want = match base64url_decode(&text) {
                    None => Some(Error::Malformed),
                    Some(b) => expected_error(&b, &ids, &binary),
                };
                assert_eq!(got, want, "key {key_id} char {at} bit {bit}");
            }
        }
    }
    // Each of malformed, unsupported version, unknown key, auth failed occurs.
    assert!(counts[1] > 0 && counts[3] > 0 && counts[4] > 0 && counts[5] > 0);
    assert_eq!(counts[0], 0);
}

#[test]
fn checks_happen_in_the_documented_order() {
    let ring = ring(&[1]);
    let policy = Policy::default();
    let long_context = [0u8; 129];
    // The context before the text, the length before decoding.
    assert_eq!(
        ring.open("A".repeat(400), &long_context, &policy, T).err(),
        Some(Error::ContextTooLong)
    );
    assert_eq!(
        ring.open("!".repeat(312), b"", &policy, T).err(),
        Some(Error::TooLong)
    );
    assert_eq!(
        ring.open("!".repeat(84), b"", &policy, T).err(),
        Some(Error::Malformed)
    );
    // Authentication before the claims, the claims before the policy.
    let trailing = seal_plaintext(1, &[&[1u8][..], &[0; 16], &[0, 0, 0, 0, 9]].concat(), b"");
    assert_eq!(
        ring.open(&trailing, b"x", &policy, T).err(),
        Some(Error::AuthFailed)
    );
    assert_eq!(
        ring.open(&trailing, b"", &policy, u64::MAX).err(),
        Some(Error::Malformed)
    );
}

#[test]
fn refresh_keeps_the_context_and_sets_refreshed_at_to_max_of_now_and_issued_at() {
    let mut ring = ring(&[1]);
    let policy = Policy::default();
    let session = NewSession {
        lifetime: Some(3600),
        data: b"d",
        ..NewSession::new(9)
    };
    let token = seal(&ring, &session, b"ctx", T);
    let mut nonce = ScriptedRng::new(&[0x22; 24 * 8]);
    // Another context is an authentication failure, as for open.
    assert_eq!(
        ring.refresh_token(&token, b"other", &policy, T + 10, &mut nonce)
            .err(),
        Some(Error::AuthFailed)
    );
    // Refreshed at T+50: the new token opens only under the same context.
    let (claims, later) = ring
        .refresh_token(&token, b"ctx", &policy, T + 50, &mut nonce)
        .unwrap();
    assert_eq!((claims.issued_at, claims.refreshed_at), (T, T + 50));
    assert_eq!(
        ring.open(&later, b"", &policy, T + 50).err(),
        Some(Error::AuthFailed)
    );
    // Refreshed again at T+10 (another server, 40 s behind, within the
    // leeway): refreshed_at moves back to T+10.
    let (claims, back) = ring
        .refresh_token(&later, b"ctx", &policy, T + 10, &mut nonce)
        .unwrap();
    assert_eq!(claims.refreshed_at, T + 10);
    assert_eq!(
        ring.open(&back, b"ctx", &policy, T + 10)
            .unwrap()
            .refreshed_at,
        T + 10
    );
    // now before issued_at (within the leeway): refreshed_at = issued_at.
    let (claims, _) = ring
        .refresh_token(&token, b"ctx", &policy, T - 30, &mut nonce)
        .unwrap();
    assert_eq!(claims.refreshed_at, T);
    // Everything else is kept; should_refresh is not consulted.
    assert_eq!(
        (claims.user_id, claims.lifetime, &claims.data[..]),
        (9, Some(3600), &b"d"[..])
    );
    // Policy first, then the primary key, then randomness.
    assert_eq!(
        ring.refresh_token(&token, b"ctx", &policy, T + 3600, &mut nonce)
            .err(),
        Some(Error::LifetimeExpired)
    );
    ring.add_key(2, &[8; 32]).unwrap();
    ring.promote(2).unwrap();
    ring.retire(2).unwrap();
    assert_eq!(
        ring.refresh_token(&token, b"ctx", &policy, T + 10, &mut nonce)
            .err(),
        Some(Error::NoPrimaryKey)
    );
    ring.promote(1).unwrap();
    assert_eq!(
        ring.refresh_token(&token, b"ctx", &policy, T + 10, &mut ScriptedRng::new(&[]))
            .err(),
        Some(Error::RandomFailed)
    );
}

#[test]
fn key_derivation_allows_an_empty_purpose_not_an_empty_master() {
    let mut expected = [0u8; 32];
    hkdf_sha256(DERIVE_SALT, b"master", b"", &mut expected).unwrap();
    assert_eq!(*derive_key(b"master", b"").unwrap(), expected);
    assert_ne!(*derive_key(b"master", b"x").unwrap(), expected);
    // Any purpose length.
    assert!(derive_key(b"master", &[0xab; 4096]).is_ok());
    assert_eq!(derive_key(b"", b"purpose").err(), Some(Error::InvalidKey));
    assert_eq!(derive_key(b"", b"").err(), Some(Error::InvalidKey));
    let mut ring: KeyRing = KeyRing::new();
    assert_eq!(ring.add_derived_key(1, b"", b"p"), Err(Error::InvalidKey));
    assert_eq!(ring.add_key(1, &[0; 32]), Err(Error::InvalidKey));
    assert_eq!(ring.add_derived_key(1, b"master", b""), Ok(()));
    assert!(!ring.is_empty());
}
