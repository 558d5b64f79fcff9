//! Seal/open behaviour of the public API: round trips, tampering, keys,
//! contexts, rotation and every policy limit at its exact boundary second.

mod common;

use common::ScriptedRng;
use sesame::{Claims, Error, ForkSafeRng, KeyRing, NewSession, Policy, TOKEN_MAX};

const NOW: u64 = 1_700_000_000;
const K1: [u8; 32] = [0x11; 32];
const K2: [u8; 32] = [0x22; 32];

fn ring_with(keys: &[(u32, [u8; 32])]) -> KeyRing {
    let mut ring = KeyRing::new();
    for (id, key) in keys {
        ring.add_key(*id, key).unwrap();
    }
    ring
}

fn seal(ring: &KeyRing, user_id: u64, context: &[u8], now: u64) -> String {
    ring.seal_token(
        &NewSession::new(user_id),
        context,
        now,
        &mut ForkSafeRng::new(),
    )
    .unwrap()
    .to_string()
}

/// No limits at all, so tests of one rule are not disturbed by the others.
const OPEN_ALL: Policy = Policy {
    remember_me_idle_timeout: None,
    remember_me_absolute_lifetime: None,
    idle_timeout: None,
    absolute_lifetime: None,
    future_leeway: 0,
    revoked_before: 0,
    refresh_after: 0,
};

#[test]
fn round_trip_keeps_every_claim() {
    let ring = ring_with(&[(1, K1)]);
    let session = NewSession {
        user_id: 42,
        lifetime: Some(3600),
        kind: sesame::SessionKind::Browser,
        data: b"role=admin",
    };
    let token = ring
        .seal_token(&session, b"device-hash", NOW, &mut ForkSafeRng::new())
        .unwrap();
    let claims = ring
        .open(&token, b"device-hash", &Policy::default(), NOW + 10)
        .unwrap();
    assert_eq!(claims.user_id, 42);
    assert_eq!(claims.issued_at, NOW);
    assert_eq!(claims.refreshed_at, NOW);
    assert_eq!(claims.lifetime, Some(3600));
    assert_eq!(claims.expires_at(), Some(NOW + 3600));
    assert_eq!(&claims.data[..], b"role=admin");
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
}

#[test]
fn every_seal_draws_a_new_nonce_and_session_id() {
    let ring = ring_with(&[(1, K1)]);
    let a = seal(&ring, 7, b"", NOW);
    let b = seal(&ring, 7, b"", NOW);
    assert_ne!(a, b);
    let ca = ring.open(&a, b"", &OPEN_ALL, NOW).unwrap();
    let cb = ring.open(&b, b"", &OPEN_ALL, NOW).unwrap();
    assert_ne!(ca.session_id, cb.session_id);
    assert_ne!(ca.session_id, [0; 16]);
}

#[test]
fn reference_session_fits_in_96_characters() {
    let ring = ring_with(&[(1, K1)]);
    let now = sesame::unix_now();
    let token = seal(&ring, 123_456, b"", now);
    assert!(token.len() <= 96, "{} chars", token.len());
    assert_eq!(token.len(), 92);
    // Refreshed a day and a half later the token grows by the refresh delta only.
    let later = now + 36 * 3600;
    let (_, refreshed) = ring
        .refresh_token(
            &token,
            b"",
            &Policy {
                idle_timeout: None,
                ..Policy::default()
            },
            later,
            &mut ForkSafeRng::new(),
        )
        .unwrap();
    assert!(refreshed.len() <= 96, "{} chars", refreshed.len());
}

#[test]
fn every_single_bit_flip_of_the_text_is_rejected() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 123_456, b"ctx", NOW);
    let mut checked = 0;
    for i in 0..token.len() {
        for bit in 0..8 {
            let mut bytes = token.clone().into_bytes();
            bytes[i] ^= 1 << bit;
            let result = ring.open(&bytes, b"ctx", &OPEN_ALL, NOW);
            assert!(result.is_err(), "flip of bit {bit} at {i} opened");
            checked += 1;
        }
    }
    assert_eq!(checked, token.len() * 8);
}

#[test]
fn every_truncation_and_extension_is_rejected() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 123_456, b"", NOW);
    for len in 0..token.len() {
        assert!(
            ring.open(&token[..len], b"", &OPEN_ALL, NOW).is_err(),
            "prefix of {len}"
        );
    }
    for extra in ["A", "AA", "AAA", "AAAA", "=", "=="] {
        let longer = format!("{token}{extra}");
        assert!(
            ring.open(&longer, b"", &OPEN_ALL, NOW).is_err(),
            "with {extra:?} appended"
        );
    }
}

#[test]
fn non_canonical_base64_is_rejected() {
    let ring = ring_with(&[(1, K1)]);
    // One data byte makes 70 binary bytes, 94 characters: the last character
    // has 4 unused bits, and a lax decoder maps any setting of them to the
    // same bytes.
    let session = NewSession {
        data: b"x",
        ..NewSession::new(123_456)
    };
    let token = ring
        .seal_token(&session, b"", NOW, &mut ForkSafeRng::new())
        .unwrap()
        .to_string();
    assert_eq!(token.len(), 94);
    assert!(ring.open(&token, b"", &OPEN_ALL, NOW).is_ok());
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = *token.as_bytes().last().unwrap();
    let value = alphabet.iter().position(|&c| c == last).unwrap();
    for low in 1..16 {
        let mut bytes = token.clone().into_bytes();
        *bytes.last_mut().unwrap() = alphabet[(value & !0xf) | low];
        assert_eq!(
            ring.open(&bytes, b"", &OPEN_ALL, NOW),
            Err(Error::Malformed)
        );
    }
    let padded = format!("{token}==");
    assert!(ring.open(&padded, b"", &OPEN_ALL, NOW).is_err());
    let standard = token.replace('-', "+").replace('_', "/");
    if standard != token {
        assert_eq!(
            ring.open(&standard, b"", &OPEN_ALL, NOW),
            Err(Error::Malformed)
        );
    }
}

#[test]
fn over_long_input_is_too_long_before_decoding() {
    let ring = ring_with(&[(1, K1)]);
    // Not even base64: TooLong must come before any decoding work.
    let junk = vec![b'!'; TOKEN_MAX + 1];
    assert_eq!(ring.open(&junk, b"", &OPEN_ALL, NOW), Err(Error::TooLong));
    assert_eq!(
        ring.open(vec![b'A'; 100_000], b"", &OPEN_ALL, NOW),
        Err(Error::TooLong)
    );
    assert_eq!(
        ring.open(vec![b'!'; TOKEN_MAX], b"", &OPEN_ALL, NOW),
        Err(Error::Malformed)
    );
    assert_eq!(ring.open(b"", b"", &OPEN_ALL, NOW), Err(Error::Malformed));
}

#[test]
fn largest_token_is_within_token_max() {
    let ring = ring_with(&[(u32::MAX, K1)]);
    let session = NewSession {
        kind: sesame::SessionKind::Browser,
        user_id: u64::MAX,
        lifetime: Some(u64::MAX),
        data: &[0xa5; sesame::DATA_MAX],
    };
    let context = [9u8; sesame::CONTEXT_MAX];
    let now = u64::MAX - 1;
    let token = ring
        .seal_token(&session, &context, now, &mut ForkSafeRng::new())
        .unwrap();
    assert!(token.len() <= TOKEN_MAX);
    // 6 header + 24 nonce + 178 claims (delta 0: one byte) + 16 tag = 224 bytes.
    assert_eq!(token.len(), 299);
    let claims = ring.open(&token, &context, &OPEN_ALL, now).unwrap();
    assert_eq!(claims.user_id, u64::MAX);
    assert_eq!(claims.data.len(), sesame::DATA_MAX);
}

#[test]
fn unsupported_version_is_reported_as_such() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 1, b"", NOW);
    // The first character carries the top six bits of the version byte 0x01.
    let mut bytes = token.into_bytes();
    assert_eq!(bytes[0], b'A');
    bytes[0] = b'C'; // version byte 0x09
    assert_eq!(
        ring.open(&bytes, b"", &OPEN_ALL, NOW),
        Err(Error::UnsupportedVersion)
    );
}

#[test]
fn wrong_key_wrong_ring_wrong_context_are_rejected() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 5, b"browser-a", NOW);
    assert_eq!(
        ring.open(&token, b"browser-b", &OPEN_ALL, NOW),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        ring.open(&token, b"", &OPEN_ALL, NOW),
        Err(Error::AuthFailed)
    );
    // Same key ID, other key material.
    let other = ring_with(&[(1, K2)]);
    assert_eq!(
        other.open(&token, b"browser-a", &OPEN_ALL, NOW),
        Err(Error::AuthFailed)
    );
    // The right key under another ID is never tried.
    let renumbered = ring_with(&[(2, K1)]);
    assert_eq!(
        renumbered.open(&token, b"browser-a", &OPEN_ALL, NOW),
        Err(Error::UnknownKey)
    );
    let empty: KeyRing = KeyRing::new();
    assert_eq!(
        empty.open(&token, b"browser-a", &OPEN_ALL, NOW),
        Err(Error::UnknownKey)
    );
    // A token without context does not open in a context either.
    let bare = seal(&ring, 5, b"", NOW);
    assert_eq!(
        ring.open(&bare, b"browser-a", &OPEN_ALL, NOW),
        Err(Error::AuthFailed)
    );
    assert_eq!(ring.open(&bare, b"", &OPEN_ALL, NOW).unwrap().user_id, 5);
}

#[test]
fn context_and_data_bounds() {
    let ring = ring_with(&[(1, K1)]);
    let long_context = [0u8; sesame::CONTEXT_MAX + 1];
    let mut rng = ForkSafeRng::new();
    assert_eq!(
        ring.seal_token(&NewSession::new(1), &long_context, NOW, &mut rng)
            .unwrap_err(),
        Error::ContextTooLong
    );
    let token = seal(&ring, 1, b"", NOW);
    assert_eq!(
        ring.open(&token, &long_context, &OPEN_ALL, NOW),
        Err(Error::ContextTooLong)
    );
    let big = NewSession {
        data: &[1; sesame::DATA_MAX + 1],
        ..NewSession::new(1)
    };
    // Argument errors come before the key lookup and before any randomness.
    let no_primary: KeyRing = KeyRing::new();
    let mut no_randomness = ScriptedRng::new(&[]);
    assert_eq!(
        no_primary.seal_token(&big, b"", NOW, &mut rng).unwrap_err(),
        Error::DataTooLong
    );
    assert_eq!(
        ring.seal_token(&NewSession::new(1), &long_context, NOW, &mut no_randomness)
            .unwrap_err(),
        Error::ContextTooLong
    );
    assert_eq!(
        ring.seal_token(&big, b"", NOW, &mut rng).unwrap_err(),
        Error::DataTooLong
    );
}

#[test]
fn seal_into_a_short_buffer_writes_nothing() {
    let ring = ring_with(&[(1, K1)]);
    let mut rng = ForkSafeRng::new();
    let mut out = [0u8; 91];
    assert_eq!(
        ring.seal(&NewSession::new(123_456), b"", NOW, &mut rng, &mut out),
        Err(Error::BufferTooSmall)
    );
    assert_eq!(out, [0u8; 91]);
    let mut out = [0u8; 92];
    assert_eq!(
        ring.seal(&NewSession::new(123_456), b"", NOW, &mut rng, &mut out),
        Ok(92)
    );
}

#[test]
fn failing_random_source_seals_nothing() {
    let ring = ring_with(&[(1, K1)]);
    let mut out = [0u8; TOKEN_MAX];
    let mut short = ScriptedRng::new(&[7; 30]); // a nonce, then not enough for a session ID
    assert_eq!(
        ring.seal(&NewSession::new(1), b"", NOW, &mut short, &mut out),
        Err(Error::RandomFailed)
    );
    assert!(out.iter().all(|&b| b == 0));
}

#[test]
fn key_ring_rules() {
    let mut ring: KeyRing<2> = KeyRing::new();
    assert!(ring.is_empty());
    assert_eq!(ring.primary_id(), None);
    let mut out = [0u8; TOKEN_MAX];
    assert_eq!(
        ring.seal(
            &NewSession::new(1),
            b"",
            NOW,
            &mut ForkSafeRng::new(),
            &mut out
        ),
        Err(Error::NoPrimaryKey)
    );
    assert_eq!(ring.add_key(1, &[0; 32]), Err(Error::InvalidKey));
    ring.add_key(1, &K1).unwrap();
    assert_eq!(ring.primary_id(), Some(1), "the first key becomes primary");
    assert_eq!(ring.add_key(1, &K2), Err(Error::DuplicateKeyId));
    ring.add_derived_key(2, b"master", b"purpose").unwrap();
    assert_eq!(ring.primary_id(), Some(1), "later keys wait to be promoted");
    assert_eq!(ring.add_key(3, &K2), Err(Error::RingFull));
    assert_eq!(
        ring.add_derived_key(3, b"", b"purpose"),
        Err(Error::InvalidKey)
    );
    assert_eq!(ring.promote(9), Err(Error::UnknownKey));
    assert_eq!(ring.retire(9), Err(Error::UnknownKey));
    ring.retire(1).unwrap();
    assert_eq!(ring.primary_id(), None, "retiring the primary leaves none");
    assert_eq!(
        ring.seal(
            &NewSession::new(1),
            b"",
            NOW,
            &mut ForkSafeRng::new(),
            &mut out
        ),
        Err(Error::NoPrimaryKey)
    );
    ring.promote(2).unwrap();
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), vec![2]);
    assert_eq!(KeyRing::<2>::CAPACITY, 2);
}

#[test]
fn debug_output_never_shows_key_material() {
    let mut ring: KeyRing = KeyRing::new();
    ring.add_key(7, &[0xab; 32]).unwrap();
    ring.add_key(9, &[0xcd; 32]).unwrap();
    let debug = format!("{ring:?}");
    assert_eq!(debug, "KeyRing { primary: Some(7), key_ids: [7, 9] }");
    let token = seal(&ring, 1, b"", NOW);
    let typed = ring
        .seal_token(&NewSession::new(1), b"", NOW, &mut ForkSafeRng::new())
        .unwrap();
    assert_eq!(
        format!("{typed:?}"),
        format!("Token({} chars)", token.len())
    );
}

/// The key ID a token names: its second binary byte (IDs below 128).
fn key_id_of(token: &str) -> u8 {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let sextet = |i: usize| alphabet.find(token.as_bytes()[i] as char).unwrap() as u8;
    assert_eq!((sextet(0) << 2) | (sextet(1) >> 4), 1, "version byte");
    ((sextet(1) & 0xf) << 4) | (sextet(2) >> 2)
}

#[test]
fn the_rotation_story() {
    let mut ring = ring_with(&[(1, K1)]);
    let old = seal(&ring, 77, b"", NOW);
    ring.add_key(2, &K2).unwrap();
    ring.promote(2).unwrap();
    // Old tokens still open; new ones are sealed under key 2.
    assert_eq!(ring.open(&old, b"", &OPEN_ALL, NOW).unwrap().user_id, 77);
    let new = seal(&ring, 78, b"", NOW);
    assert_eq!(key_id_of(&new), 2);
    assert_eq!(key_id_of(&old), 1);
    // Refreshing moves an old session to the new key, keeping its identity.
    let (claims, moved) = ring
        .refresh_token(&old, b"", &OPEN_ALL, NOW + 5, &mut ForkSafeRng::new())
        .unwrap();
    assert_eq!(key_id_of(&moved), 2);
    let before = ring.open(&old, b"", &OPEN_ALL, NOW).unwrap();
    assert_eq!(claims.session_id, before.session_id);
    assert_eq!(claims.issued_at, NOW);
    assert_eq!(claims.refreshed_at, NOW + 5);
    // Retiring key 1 rejects every token still sealed under it, and only those.
    ring.retire(1).unwrap();
    assert_eq!(ring.open(&old, b"", &OPEN_ALL, NOW), Err(Error::UnknownKey));
    assert_eq!(
        ring.open(&moved, b"", &OPEN_ALL, NOW + 5).unwrap().user_id,
        77
    );
    assert_eq!(ring.open(&new, b"", &OPEN_ALL, NOW).unwrap().user_id, 78);
}

#[test]
fn refresh_keeps_identity_and_rejects_invalid_tokens() {
    let ring = ring_with(&[(1, K1)]);
    let session = NewSession {
        kind: sesame::SessionKind::Browser,
        user_id: 9,
        lifetime: Some(10_000),
        data: b"d",
    };
    let token = ring
        .seal_token(&session, b"c", NOW, &mut ForkSafeRng::new())
        .unwrap();
    let policy = Policy {
        idle_timeout: Some(100),
        absolute_lifetime: Some(1_000),
        ..OPEN_ALL
    };
    let (claims, refreshed) = ring
        .refresh_token(&token, b"c", &policy, NOW + 99, &mut ForkSafeRng::new())
        .unwrap();
    assert_ne!(refreshed.as_str(), token.as_str());
    let reopened = ring.open(&refreshed, b"c", &policy, NOW + 198).unwrap();
    assert_eq!(reopened, claims);
    assert_eq!(reopened.refreshed_at, NOW + 99);
    assert_eq!(reopened.lifetime, Some(10_000));
    assert_eq!(&reopened.data[..], b"d");
    // The idle clock restarted, the absolute one did not.
    assert_eq!(
        ring.open(&token, b"c", &policy, NOW + 198),
        Err(Error::IdleExpired)
    );
    assert_eq!(
        ring.open(&refreshed, b"c", &policy, NOW + 199),
        Err(Error::IdleExpired)
    );
    let mut chain = refreshed;
    for step in 1..=20u64 {
        let at = NOW + 99 + step * 90;
        match ring.refresh_token(&chain, b"c", &policy, at, &mut ForkSafeRng::new()) {
            Ok((_, next)) => chain = next,
            Err(e) => {
                assert_eq!(e, Error::LifetimeExpired);
                assert!(at >= NOW + 1_000);
                return;
            }
        }
    }
    panic!("refreshing kept a session alive past its absolute lifetime");
}

#[test]
fn refresh_of_a_bad_token_or_in_the_wrong_context_fails() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 9, b"c", NOW);
    let mut out = [0u8; TOKEN_MAX];
    let mut rng = ForkSafeRng::new();
    assert_eq!(
        ring.refresh(&token, b"x", &OPEN_ALL, NOW, &mut rng, &mut out),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        ring.refresh(&token[1..], b"c", &OPEN_ALL, NOW, &mut rng, &mut out),
        Err(Error::Malformed)
    );
    assert!(out.iter().all(|&b| b == 0));
}

fn claims_at(ring: &KeyRing, token: &str, policy: &Policy, now: u64) -> Result<Claims, Error> {
    ring.open(token, b"", policy, now)
}

#[test]
fn idle_timeout_boundary() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 1, b"", NOW);
    let policy = Policy {
        idle_timeout: Some(100),
        ..OPEN_ALL
    };
    assert!(claims_at(&ring, &token, &policy, NOW + 99).is_ok());
    assert_eq!(
        claims_at(&ring, &token, &policy, NOW + 100),
        Err(Error::IdleExpired)
    );
}

#[test]
fn absolute_lifetime_boundary_and_per_token_cap() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 1, b"", NOW);
    let policy = Policy {
        absolute_lifetime: Some(1_000),
        ..OPEN_ALL
    };
    assert!(claims_at(&ring, &token, &policy, NOW + 999).is_ok());
    assert_eq!(
        claims_at(&ring, &token, &policy, NOW + 1_000),
        Err(Error::LifetimeExpired)
    );

    let mut rng = ForkSafeRng::new();
    let short = ring
        .seal_token(
            &NewSession {
                lifetime: Some(500),
                ..NewSession::new(1)
            },
            b"",
            NOW,
            &mut rng,
        )
        .unwrap();
    assert!(claims_at(&ring, &short, &policy, NOW + 499).is_ok());
    assert_eq!(
        claims_at(&ring, &short, &policy, NOW + 500),
        Err(Error::LifetimeExpired)
    );
    assert!(
        claims_at(&ring, &short, &OPEN_ALL, NOW + 499).is_ok(),
        "per-token lifetime applies alone"
    );
    assert_eq!(
        claims_at(&ring, &short, &OPEN_ALL, NOW + 500),
        Err(Error::LifetimeExpired)
    );

    let long = ring
        .seal_token(
            &NewSession {
                lifetime: Some(5_000),
                ..NewSession::new(1)
            },
            b"",
            NOW,
            &mut rng,
        )
        .unwrap();
    assert_eq!(
        claims_at(&ring, &long, &policy, NOW + 1_000),
        Err(Error::LifetimeExpired),
        "policy caps the token"
    );
}

#[test]
fn future_leeway_boundary() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 1, b"", NOW);
    let policy = Policy {
        future_leeway: 60,
        ..OPEN_ALL
    };
    assert!(claims_at(&ring, &token, &policy, NOW - 60).is_ok());
    assert_eq!(
        claims_at(&ring, &token, &policy, NOW - 61),
        Err(Error::IssuedInFuture)
    );
    assert_eq!(
        claims_at(&ring, &token, &OPEN_ALL, NOW - 1),
        Err(Error::IssuedInFuture)
    );
}

#[test]
fn revocation_cut_off_boundary() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 1, b"", NOW);
    let at = |cutoff| Policy {
        revoked_before: cutoff,
        ..OPEN_ALL
    };
    assert!(
        claims_at(&ring, &token, &at(NOW), NOW).is_ok(),
        "issued at the cut-off survives"
    );
    assert_eq!(
        claims_at(&ring, &token, &at(NOW + 1), NOW + 1),
        Err(Error::Revoked)
    );
    // Per-user cut-off from the caller's store: "log out my other sessions".
    let claims = claims_at(&ring, &token, &OPEN_ALL, NOW).unwrap();
    assert_eq!(claims.check_revoked_before(NOW), Ok(()));
    assert_eq!(claims.check_revoked_before(NOW + 1), Err(Error::Revoked));
    assert_eq!(claims.check_revoked_before(0), Ok(()));
}

#[test]
fn checks_report_in_a_fixed_order() {
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 1, b"", NOW);
    let strict = Policy {
        remember_me_idle_timeout: None,
        remember_me_absolute_lifetime: None,
        idle_timeout: Some(1),
        absolute_lifetime: Some(1),
        future_leeway: 0,
        revoked_before: NOW + 1,
        refresh_after: 0,
    };
    assert_eq!(
        claims_at(&ring, &token, &strict, NOW - 1),
        Err(Error::IssuedInFuture)
    );
    assert_eq!(
        claims_at(&ring, &token, &strict, NOW + 10),
        Err(Error::Revoked)
    );
    let strict = Policy {
        revoked_before: 0,
        ..strict
    };
    assert_eq!(
        claims_at(&ring, &token, &strict, NOW + 10),
        Err(Error::LifetimeExpired)
    );
    let strict = Policy {
        absolute_lifetime: None,
        ..strict
    };
    assert_eq!(
        claims_at(&ring, &token, &strict, NOW + 10),
        Err(Error::IdleExpired)
    );
}

#[test]
fn default_policy_and_should_refresh() {
    let policy = Policy::default();
    assert_eq!(policy.idle_timeout, Some(86_400));
    assert_eq!(policy.absolute_lifetime, Some(14 * 86_400));
    let ring = ring_with(&[(1, K1)]);
    let token = seal(&ring, 1, b"", NOW);
    let claims = ring.open(&token, b"", &policy, NOW).unwrap();
    assert!(!policy.should_refresh(&claims, NOW + policy.refresh_after - 1));
    assert!(policy.should_refresh(&claims, NOW + policy.refresh_after));
    assert_eq!(
        ring.open(&token, b"", &policy, NOW + 86_400),
        Err(Error::IdleExpired)
    );
}

#[test]
fn error_codes_are_stable_and_distinct() {
    let expected = [
        (Error::Malformed, 1),
        (Error::TooLong, 2),
        (Error::UnsupportedVersion, 3),
        (Error::UnknownKey, 4),
        (Error::AuthFailed, 5),
        (Error::IdleExpired, 6),
        (Error::LifetimeExpired, 7),
        (Error::IssuedInFuture, 8),
        (Error::Revoked, 9),
        (Error::BufferTooSmall, 10),
        (Error::NoPrimaryKey, 11),
        (Error::RingFull, 12),
        (Error::InvalidKey, 13),
        (Error::DuplicateKeyId, 14),
        (Error::DataTooLong, 15),
        (Error::ContextTooLong, 16),
        (Error::RandomFailed, 17),
        (Error::InvalidKeyset, 18),
        (Error::InvalidCookieName, 19),
        (Error::RegistryUnavailable, 20),
        (Error::RegistryFull, 21),
        (Error::InvalidRegistryUrl, 22),
    ];
    assert_eq!(Error::ALL.len(), expected.len());
    for (error, code) in expected {
        assert_eq!(error.code(), code);
        assert_eq!(Error::from_code(code), Some(error));
        assert!(!error.message().is_empty());
        assert_eq!(error.to_string(), error.message());
    }
    assert_eq!(Error::from_code(0), None);
    assert_eq!(Error::from_code(23), None);
}

#[test]
fn decrypt_shows_an_expired_token_but_still_authenticates() {
    let ring = ring_with(&[(1, [7; 32])]);
    let session = NewSession {
        kind: sesame::SessionKind::Browser,
        user_id: 5,
        lifetime: Some(60),
        data: b"d",
    };
    let token = ring
        .seal_token(&session, b"ctx", 1_000, &mut ForkSafeRng::new())
        .unwrap();
    let later = 1_000 + 365 * 24 * 3600;
    assert_eq!(
        ring.open(&token, b"ctx", &Policy::default(), later),
        Err(Error::LifetimeExpired)
    );
    let claims = ring.decrypt(&token, b"ctx").unwrap();
    assert_eq!(
        (claims.user_id, claims.lifetime, &claims.data[..]),
        (5, Some(60), &b"d"[..])
    );
    assert_eq!(ring.decrypt(&token, b"other"), Err(Error::AuthFailed));
    assert_eq!(
        ring_with(&[(2, [7; 32])]).decrypt(&token, b"ctx"),
        Err(Error::UnknownKey)
    );
}
