//! Structured sessions: seal, then open must give exactly the sealed claims;
//! opening under any other context must fail with AuthFailed; bounds
//! (data, context, output buffer) fail with their own errors and nothing else.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sesame::{Error, KeyRing, NewSession, Policy, SessionKind, CONTEXT_MAX, DATA_MAX, TOKEN_MAX};
use sesame_fuzz::{expected_claims, model_accepts, TestRng, PERMISSIVE};

#[derive(Arbitrary, Debug)]
struct Input {
    key_id: u32,
    key: [u8; 32],
    user_id: u64,
    lifetime: Option<u64>,
    remember_me: bool,
    data: Vec<u8>,
    context: Vec<u8>,
    other_context: Vec<u8>,
    now: u64,
    later: u64,
    seed: u64,
    out_len: u16,
    idle_timeout: Option<u64>,
    absolute_lifetime: Option<u64>,
    remember_me_idle_timeout: Option<u64>,
    remember_me_absolute_lifetime: Option<u64>,
    future_leeway: u64,
    revoked_before: u64,
}

fuzz_target!(|input: Input| {
    let mut ring: KeyRing<2> = KeyRing::new();
    if input.key == [0; 32] {
        assert_eq!(
            ring.add_key(input.key_id, &input.key),
            Err(Error::InvalidKey)
        );
        return;
    }
    ring.add_key(input.key_id, &input.key).unwrap();
    let session = NewSession {
        user_id: input.user_id,
        lifetime: input.lifetime,
        kind: if input.remember_me {
            SessionKind::RememberMe
        } else {
            SessionKind::Browser
        },
        data: &input.data,
    };
    let rng = TestRng::new(input.seed);
    let mut out = [0u8; TOKEN_MAX + 8];
    let out_len = usize::from(input.out_len).min(out.len());
    let sealed = ring.seal(
        &session,
        &input.context,
        input.now,
        &mut rng.clone(),
        &mut out[..out_len],
    );
    // docs/FORMAT.md, "Sealing" step 1: data's bound, then context's.
    if input.data.len() > DATA_MAX {
        assert_eq!(sealed, Err(Error::DataTooLong));
        return;
    }
    if input.context.len() > CONTEXT_MAX {
        assert_eq!(sealed, Err(Error::ContextTooLong));
        return;
    }
    // The full-size seal always succeeds and says how long the token is.
    let mut full = [0u8; TOKEN_MAX];
    let len = ring
        .seal(
            &session,
            &input.context,
            input.now,
            &mut rng.clone(),
            &mut full,
        )
        .expect("seal into TOKEN_MAX");
    match sealed {
        Ok(n) => {
            assert_eq!(n, len);
            assert_eq!(&out[..n], &full[..n], "same RNG, same token");
        }
        Err(e) => {
            assert_eq!(e, Error::BufferTooSmall);
            assert!(out_len < len);
            assert!(
                out[..out_len].iter().all(|&b| b == 0),
                "nothing written on error"
            );
        }
    }
    let token = &full[..len];
    assert!(token
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'));
    let want = expected_claims(&session, input.now, &rng);

    // Opens, under nothing but authentication, to exactly what was sealed
    // (unless the token's own lifetime has already run out).
    let opened = ring.open(token, &input.context, &PERMISSIVE, input.now);
    assert_eq!(
        opened.as_ref().map_err(|e| *e),
        model_accepts(&PERMISSIVE, &want, input.now).map(|_| &want)
    );

    // Under an arbitrary policy at an arbitrary time: the model decides.
    let policy = Policy {
        idle_timeout: input.idle_timeout,
        absolute_lifetime: input.absolute_lifetime,
        future_leeway: input.future_leeway,
        revoked_before: input.revoked_before,
        refresh_after: 0,
        remember_me_idle_timeout: input.remember_me_idle_timeout,
        remember_me_absolute_lifetime: input.remember_me_absolute_lifetime,
    };
    let got = ring.open(token, &input.context, &policy, input.later);
    assert_eq!(
        got.as_ref().map_err(|e| *e),
        model_accepts(&policy, &want, input.later).map(|_| &want)
    );

    // Any other context: AuthFailed (or ContextTooLong), whatever the policy.
    if input.other_context != input.context {
        let wrong = ring.open(token, &input.other_context, &PERMISSIVE, input.now);
        if input.other_context.len() > CONTEXT_MAX {
            assert_eq!(wrong, Err(Error::ContextTooLong));
        } else {
            assert_eq!(wrong, Err(Error::AuthFailed));
        }
    }

    // A ring with another key under the same ID refuses it.
    let mut other: KeyRing<1> = KeyRing::new();
    let mut key = input.key;
    key[0] ^= 1;
    if key == [0; 32] {
        key[1] = 1;
    }
    other.add_key(input.key_id, &key).unwrap();
    assert_eq!(
        other.open(token, &input.context, &PERMISSIVE, input.now),
        Err(Error::AuthFailed)
    );

    // A failing RNG seals nothing.
    let mut empty = [0u8; TOKEN_MAX];
    for fills in 0..2 {
        let mut failing = TestRng::failing_after(input.seed, fills);
        assert_eq!(
            ring.seal(
                &session,
                &input.context,
                input.now,
                &mut failing,
                &mut empty
            ),
            Err(Error::RandomFailed)
        );
        assert!(empty.iter().all(|&b| b == 0));
    }
});
