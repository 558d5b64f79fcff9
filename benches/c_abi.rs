//! The cost of the C boundary: the same seal and open through the Rust API
//! and through the `sesame_*` C functions (called from Rust, as a C caller
//! would call them: caller buffers, a `sesame_policy`, a `sesame_claims` out).
//!
//! Run: `cargo bench --features capi --bench c_abi` (`SESAME_BENCH_QUICK=1` shortens it).

mod support;

use std::hint::black_box;
use std::ptr;

use criterion::{criterion_group, criterion_main, Criterion};
use sesame::ffi::*;
use sesame::{ForkSafeRng, KeyRing, NewSession, Policy, TOKEN_MAX};

const USER_ID: u64 = 123_456;
const KEY: [u8; 32] = [0x42; 32];
const NOW: u64 = 1_700_000_000;

struct CRing(*mut sesame_keyring);

impl CRing {
    fn new() -> CRing {
        let mut ring = ptr::null_mut();
        // SAFETY: a valid out-pointer; the key buffer is KEY's 32 bytes.
        unsafe {
            assert_eq!(sesame_keyring_new(&mut ring), sesame_result::SESAME_OK);
            assert_eq!(
                sesame_keyring_add_key(ring, 1, KEY.as_ptr(), KEY.len()),
                sesame_result::SESAME_OK
            );
        }
        CRing(ring)
    }
}

impl Drop for CRing {
    fn drop(&mut self) {
        // SAFETY: made by sesame_keyring_new, freed once.
        unsafe { sesame_keyring_free(self.0) };
    }
}

fn c_seal(ring: &CRing, out: &mut [u8; TOKEN_MAX + 1]) -> usize {
    let mut len = 0usize;
    // SAFETY: live ring; `out` has TOKEN_MAX + 1 writable bytes; no data or context.
    let rc = unsafe {
        sesame_seal(
            ring.0,
            USER_ID,
            SESAME_SESSION_KIND_BROWSER,
            SESAME_NO_LIMIT,
            ptr::null(),
            0,
            ptr::null(),
            0,
            NOW,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    assert_eq!(rc, sesame_result::SESAME_OK);
    len
}

fn bench_boundary(c: &mut Criterion) {
    let mut ring: KeyRing = KeyRing::new();
    ring.add_key(1, &KEY).unwrap();
    let c_ring = CRing::new();
    let policy = Policy::default();
    let mut c_policy = sesame_policy {
        remember_me_idle_timeout: SESAME_NO_LIMIT,
        remember_me_absolute_lifetime: SESAME_NO_LIMIT,
        idle_timeout: 0,
        absolute_lifetime: 0,
        future_leeway: 0,
        revoked_before: 0,
        refresh_after: 0,
    };
    // SAFETY: a valid out-pointer.
    assert_eq!(
        unsafe { sesame_policy_default(&mut c_policy) },
        sesame_result::SESAME_OK
    );

    let mut rng = ForkSafeRng::new();
    let mut out = [0u8; TOKEN_MAX + 1];
    let mut g = c.benchmark_group("c_abi");
    g.bench_function("seal/rust", |b| {
        b.iter(|| {
            ring.seal(
                &NewSession::new(black_box(USER_ID)),
                b"",
                black_box(NOW),
                &mut rng,
                &mut out,
            )
            .unwrap()
        })
    });
    g.bench_function("seal/c_abi", |b| {
        b.iter(|| c_seal(&c_ring, black_box(&mut out)))
    });

    let len = c_seal(&c_ring, &mut out);
    let token = out[..len].to_vec();
    println!("token_len c_abi {len}");
    g.bench_function("open/rust", |b| {
        b.iter(|| {
            ring.open(black_box(&token[..]), b"", &policy, black_box(NOW))
                .unwrap()
        })
    });
    let mut claims = std::mem::MaybeUninit::<sesame_claims>::uninit();
    g.bench_function("open/c_abi", |b| {
        b.iter(|| {
            // SAFETY: live ring; `token` holds `len` bytes; `claims` is writable.
            let rc = unsafe {
                sesame_open(
                    c_ring.0,
                    black_box(token.as_ptr()).cast(),
                    token.len(),
                    ptr::null(),
                    0,
                    &c_policy,
                    black_box(NOW),
                    claims.as_mut_ptr(),
                )
            };
            assert_eq!(rc, sesame_result::SESAME_OK);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_boundary
}
criterion_main!(benches);
