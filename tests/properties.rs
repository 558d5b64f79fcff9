//! Property tests: open never panics on arbitrary input, and seal/open
//! round-trips arbitrary claims, data and contexts.

use proptest::prelude::*;
use sesame::{
    Error, ForkSafeRng, KeyRing, NewSession, Policy, SessionKind, CONTEXT_MAX, DATA_MAX, TOKEN_MAX,
};

const OPEN_ALL: Policy = Policy {
    remember_me_idle_timeout: None,
    remember_me_absolute_lifetime: None,
    idle_timeout: None,
    absolute_lifetime: None,
    future_leeway: u64::MAX,
    revoked_before: 0,
    refresh_after: 0,
};

fn ring() -> KeyRing {
    let mut ring = KeyRing::new();
    ring.add_key(1, &[0x5a; 32]).unwrap();
    ring.add_key(300, &[0xa5; 32]).unwrap();
    ring
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn open_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), now: u64) {
        let result = ring().open(&bytes, b"", &Policy::default(), now);
        if bytes.len() > TOKEN_MAX {
            prop_assert_eq!(result, Err(Error::TooLong));
        } else {
            prop_assert!(result.is_err());
        }
    }

    #[test]
    fn open_never_panics_on_base64_text(text in "[A-Za-z0-9_-]{0,320}", context in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(ring().open(text.as_bytes(), &context, &OPEN_ALL, 0).is_err());
    }

    #[test]
    fn open_never_accepts_a_mutated_token(position: usize, mask in 1u8..=255, user_id: u64) {
        let ring = ring();
        let token = ring.seal_token(&NewSession::new(user_id), b"", 1_700_000_000, &mut ForkSafeRng::new()).unwrap();
        let mut bytes = token.as_bytes().to_vec();
        let i = position % bytes.len();
        bytes[i] ^= mask;
        prop_assert!(ring.open(&bytes, b"", &OPEN_ALL, 1_700_000_000).is_err());
    }

    #[test]
    fn seal_open_round_trips_arbitrary_claims(
        user_id: u64,
        lifetime in proptest::option::of(1u64..),
        data in proptest::collection::vec(any::<u8>(), 0..=DATA_MAX),
        context in proptest::collection::vec(any::<u8>(), 0..=CONTEXT_MAX),
        now in 0u64..u64::MAX,
        remember_me: bool,
    ) {
        let ring = ring();
        let kind = if remember_me { SessionKind::RememberMe } else { SessionKind::Browser };
        let session = NewSession { user_id, lifetime, kind, data: &data };
        let token = ring.seal_token(&session, &context, now, &mut ForkSafeRng::new()).unwrap();
        prop_assert!(token.len() <= TOKEN_MAX);
        let claims = ring.open(&token, &context, &OPEN_ALL, now).unwrap();
        prop_assert_eq!(claims.user_id, user_id);
        prop_assert_eq!(claims.issued_at, now);
        prop_assert_eq!(claims.refreshed_at, now);
        prop_assert_eq!(claims.lifetime, lifetime);
        prop_assert_eq!(claims.kind, kind);
        prop_assert_eq!(&claims.data[..], &data[..]);
        let mut other = context.clone();
        match other.last_mut() { Some(b) => *b ^= 0x80, None => other.push(0) }
        prop_assert_eq!(ring.open(&token, &other, &OPEN_ALL, now), Err(Error::AuthFailed));
    }
}
