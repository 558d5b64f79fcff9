//! What the fuzz targets share: a fixed ring, the policies tokens are opened
//! under, a deterministic RNG, and the corpus generator's token list.

use std::sync::OnceLock;

use sesame::rand_core::{self, CryptoRng, RngCore};
use sesame::{Claims, Error, KeyRing, NewSession, Policy, SessionKind};

/// The time tokens in the seed corpus were sealed at.
pub const NOW: u64 = 1_700_000_000;

/// The contexts the open targets try (each token opens under at most one).
pub const CONTEXTS: [&[u8]; 3] = [b"", b"ctx", b"https://example.com/session\x00\xff"];

/// The times the open targets try.
pub const NOWS: [u64; 5] = [0, NOW, NOW + 30 * 60, NOW + 40 * 24 * 60 * 60, u64::MAX];

/// Key IDs of the fixed ring: one-, two- and five-byte LEB128 headers.
pub const RING_IDS: [u32; 4] = [1, 2, 300, u32::MAX];

/// Nothing but authentication: no lifetimes, any time skew accepted.
pub const PERMISSIVE: Policy = Policy {
    idle_timeout: None,
    absolute_lifetime: None,
    future_leeway: u64::MAX,
    revoked_before: 0,
    refresh_after: 0,
    remember_me_idle_timeout: None,
    remember_me_absolute_lifetime: None,
};

/// Short lifetimes, no leeway, and a revocation cut-off.
pub const STRICT: Policy = Policy {
    idle_timeout: Some(60),
    absolute_lifetime: Some(3600),
    future_leeway: 0,
    revoked_before: NOW - 3600,
    refresh_after: 30,
    remember_me_idle_timeout: Some(600),
    remember_me_absolute_lifetime: Some(7200),
};

pub const POLICIES: [Policy; 3] = [Policy::DEFAULT, PERMISSIVE, STRICT];

/// The errors a policy (rather than the token's bytes) is responsible for.
pub fn is_policy_error(e: Error) -> bool {
    matches!(
        e,
        Error::IdleExpired | Error::LifetimeExpired | Error::IssuedInFuture | Error::Revoked
    )
}

/// The fixed ring the open targets and the seed corpus use: a derived key
/// (primary) and raw keys, under IDs with different header lengths.
pub fn fixed_ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let mut ring = KeyRing::new();
        ring.add_derived_key(RING_IDS[0], b"sesame fuzz master secret", b"fuzz")
            .unwrap();
        for (i, &id) in RING_IDS[1..].iter().enumerate() {
            ring.add_key(id, &[0xa0 + i as u8; 32]).unwrap();
        }
        ring
    })
}

/// SplitMix64: deterministic, reproducible, and good enough to draw fuzz nonces.
/// Optionally fails after `fail_after` fills, to exercise `RandomFailed`.
#[derive(Clone, Debug)]
pub struct TestRng {
    state: u64,
    fills: u32,
    fail_after: Option<u32>,
}

impl TestRng {
    pub fn new(seed: u64) -> Self {
        TestRng {
            state: seed,
            fills: 0,
            fail_after: None,
        }
    }

    pub fn failing_after(seed: u64, fills: u32) -> Self {
        TestRng {
            fail_after: Some(fills),
            ..TestRng::new(seed)
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl CryptoRng for TestRng {}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.next()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.try_fill_bytes(dest).expect("TestRng told to fail")
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        if self.fail_after.is_some_and(|n| self.fills >= n) {
            return Err(core::num::NonZeroU32::new(rand_core::Error::CUSTOM_START)
                .unwrap()
                .into());
        }
        self.fills += 1;
        for chunk in dest.chunks_mut(8) {
            let word = self.next().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

/// The claims seal is expected to produce for `session` at `now`, given the
/// RNG it will be handed (the second draw is the session ID).
pub fn expected_claims(session: &NewSession<'_>, now: u64, rng: &TestRng) -> Claims {
    let mut replay = rng.clone();
    let mut nonce = [0u8; 24];
    let mut session_id = [0u8; 16];
    replay.fill_bytes(&mut nonce);
    replay.fill_bytes(&mut session_id);
    Claims {
        user_id: session.user_id,
        session_id,
        issued_at: now,
        refreshed_at: now,
        lifetime: session.lifetime,
        kind: session.kind,
        data: heapless::Vec::from_slice(session.data).expect("data within DATA_MAX"),
    }
}

/// Whether `policy` should accept a token with these claims at `now`: an
/// independent restatement of the documented rules (src/policy.rs).
pub fn model_accepts(policy: &Policy, c: &Claims, now: u64) -> Result<(), Error> {
    let horizon = now.saturating_add(policy.future_leeway);
    if c.issued_at > horizon || c.refreshed_at > horizon {
        return Err(Error::IssuedInFuture);
    }
    if c.issued_at < policy.revoked_before {
        return Err(Error::Revoked);
    }
    let (idle_timeout, absolute_lifetime) = match c.kind {
        SessionKind::Browser => (policy.idle_timeout, policy.absolute_lifetime),
        SessionKind::RememberMe => (
            policy.remember_me_idle_timeout,
            policy.remember_me_absolute_lifetime,
        ),
    };
    let lifetime = match (absolute_lifetime, c.lifetime) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if lifetime.is_some_and(|l| now >= c.issued_at.saturating_add(l)) {
        return Err(Error::LifetimeExpired);
    }
    if idle_timeout.is_some_and(|i| now >= c.refreshed_at.saturating_add(i)) {
        return Err(Error::IdleExpired);
    }
    Ok(())
}

/// Re-seals opened claims (via refresh at their own `refreshed_at`, which keeps
/// every field) and checks the new token opens to the same claims.
pub fn check_reseal(ring: &KeyRing, token: &[u8], context: &[u8], claims: &Claims, seed: u64) {
    let now = claims.refreshed_at;
    let mut rng = TestRng::new(seed);
    let mut out = [0u8; sesame::TOKEN_MAX];
    match ring.refresh(token, context, &PERMISSIVE, now, &mut rng, &mut out) {
        Ok((refreshed, len)) => {
            assert_eq!(&refreshed, claims, "refresh changed the claims");
            let reopened = ring
                .open(&out[..len], context, &PERMISSIVE, now)
                .expect("a refreshed token must open");
            assert_eq!(&reopened, claims, "re-sealed claims differ");
        }
        // Only the token's own lifetime can refuse it at its refresh time.
        Err(e) => assert_eq!(e, Error::LifetimeExpired, "refresh failed: {e:?}"),
    }
}

/// Opens `token` under every policy, context and time; checks that
/// authentication errors do not depend on the policy or time, that policy
/// decisions match the model, and that whatever opens re-seals to itself.
pub fn open_everywhere(token: &[u8]) {
    let ring = fixed_ring();
    for (ci, context) in CONTEXTS.iter().enumerate() {
        // Permissive, at any time, fails only for the token's bytes (or its
        // own lifetime).
        let base = ring.open(token, context, &PERMISSIVE, NOW);
        if let Ok(claims) = &base {
            assert!(claims.refreshed_at >= claims.issued_at);
            assert!(claims.data.len() <= sesame::DATA_MAX);
            check_reseal(ring, token, context, claims, ci as u64);
        }
        for policy in &POLICIES {
            for &now in &NOWS {
                let got = ring.open(token, context, policy, now);
                match (&base, &got) {
                    (Err(b), Err(g)) if !is_policy_error(*b) => assert_eq!(b, g),
                    (Err(b), Ok(_)) if !is_policy_error(*b) => {
                        panic!("opened under {policy:?} at {now} but not permissively: {b:?}")
                    }
                    _ => {}
                }
                if let Ok(c) = &got {
                    assert_eq!(model_accepts(policy, c, now), Ok(()));
                } else if let (Ok(c), Err(e)) = (&base, &got) {
                    assert_eq!(
                        model_accepts(policy, c, now),
                        Err(*e),
                        "{policy:?} at {now}"
                    );
                }
            }
        }
    }
}

/// Valid tokens for the seed corpus: every ring key, every context, several
/// users, lifetimes and data lengths, some refreshed.
pub fn corpus_tokens() -> Vec<String> {
    let ring = fixed_ring();
    let mut tokens = Vec::new();
    let ring_with = |primary: u32| {
        let mut r = ring.clone();
        r.promote(primary).unwrap();
        r
    };
    let data = [0x5au8; 128];
    let mut seed = 1u64;
    for &id in &RING_IDS {
        let r = ring_with(id);
        for (ci, context) in CONTEXTS.iter().enumerate() {
            for (user, lifetime, kind, data_len) in [
                (123_456u64, None, SessionKind::Browser, 0usize),
                (0, Some(86_400), SessionKind::Browser, 1),
                (u64::MAX, Some(0), SessionKind::RememberMe, 16),
                (7, Some(u64::MAX), SessionKind::Browser, 128),
                (1 << 40, None, SessionKind::RememberMe, 33),
            ] {
                seed += 1;
                let session = NewSession {
                    user_id: user,
                    lifetime,
                    kind,
                    data: &data[..data_len],
                };
                let now = NOW - (ci as u64) * 600;
                let t = r
                    .seal_token(&session, context, now, &mut TestRng::new(seed))
                    .unwrap();
                if seed % 3 == 0 {
                    if let Ok((_, t2)) = r.refresh_token(
                        &t,
                        context,
                        &PERMISSIVE,
                        now + 120,
                        &mut TestRng::new(seed << 8),
                    ) {
                        tokens.push(t2.to_string());
                    }
                }
                tokens.push(t.to_string());
            }
        }
    }
    tokens
}
