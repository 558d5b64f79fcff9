//! What thread safety costs: seal, open and refresh through a plain
//! `KeyRing` (the ring every binding used to guard with its own lock) beside
//! a `SharedKeyRing` (an immutable snapshot read with no lock), and through
//! the C ABI on a ring in caller storage (changed in place, as every C ring
//! was) beside a heap ring (published snapshots), all in one run. The last
//! pair opens while another thread rotates keys without pause, so readers
//! meet writers.
//!
//! Run: `cargo bench --features capi --bench shared_ring` (`SESAME_BENCH_QUICK=1` shortens it).

mod support;

use std::hint::black_box;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use sesame::ffi::*;
use sesame::{ForkSafeRng, KeyRing, NewSession, Policy, SharedKeyRing, TOKEN_MAX};

const USER_ID: u64 = 123_456;
const KEY: [u8; 32] = [0x42; 32];
const NOW: u64 = 1_700_000_000;

#[repr(C, align(16))]
struct Storage([u8; SESAME_KEYRING_STORAGE_BYTES]);

/// A C ring with key 1, on the heap or in caller storage.
struct CRing {
    ring: *mut sesame_keyring,
    _storage: Option<Box<Storage>>,
}

impl CRing {
    fn new(in_caller_storage: bool) -> CRing {
        let mut ring = ptr::null_mut();
        let mut storage =
            in_caller_storage.then(|| Box::new(Storage([0; SESAME_KEYRING_STORAGE_BYTES])));
        // SAFETY: valid out-pointers; the storage is aligned, big enough and
        // outlives the ring (both live in this struct); KEY is 32 bytes.
        unsafe {
            let rc = match storage.as_mut() {
                Some(storage) => {
                    sesame_keyring_init(storage.0.as_mut_ptr().cast(), storage.0.len(), &mut ring)
                }
                None => sesame_keyring_new(&mut ring),
            };
            assert_eq!(rc, sesame_result::SESAME_OK);
            assert_eq!(
                sesame_keyring_add_key(ring, 1, KEY.as_ptr(), KEY.len()),
                sesame_result::SESAME_OK
            );
        }
        CRing {
            ring,
            _storage: storage,
        }
    }

    fn seal(&self, out: &mut [u8; TOKEN_MAX + 1]) -> usize {
        let mut len = 0usize;
        // SAFETY: live ring; `out` has TOKEN_MAX + 1 writable bytes.
        let rc = unsafe {
            sesame_seal(
                self.ring,
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

    fn open(&self, token: &[u8], policy: &sesame_policy) -> u64 {
        let mut claims = std::mem::MaybeUninit::<sesame_claims>::uninit();
        // SAFETY: live ring; `token` is readable; `claims` is writable.
        let rc = unsafe {
            sesame_open(
                self.ring,
                token.as_ptr().cast(),
                token.len(),
                ptr::null(),
                0,
                policy,
                NOW,
                claims.as_mut_ptr(),
            )
        };
        assert_eq!(rc, sesame_result::SESAME_OK);
        // SAFETY: written on SESAME_OK.
        unsafe { claims.assume_init() }.user_id
    }
}

impl Drop for CRing {
    fn drop(&mut self) {
        // SAFETY: a live ring, freed once, no other user.
        unsafe { sesame_keyring_free(self.ring) };
    }
}

// SAFETY: a heap ring is safe for any mix of threads (header, THREADS).
unsafe impl Send for CRing {}
// SAFETY: as for Send.
unsafe impl Sync for CRing {}

fn bench_rust(c: &mut Criterion) {
    let mut plain: KeyRing = KeyRing::new();
    plain.add_key(1, &KEY).unwrap();
    let shared: SharedKeyRing = SharedKeyRing::new();
    shared.add_key(1, &KEY).unwrap();
    let policy = Policy::default();
    let mut rng = ForkSafeRng::new();
    let session = NewSession::new(USER_ID);
    let token = plain.seal_token(&session, b"", NOW, &mut rng).unwrap();
    let mut out = [0u8; TOKEN_MAX];

    let mut g = c.benchmark_group("ring");
    g.bench_function("seal/KeyRing", |b| {
        b.iter(|| {
            plain
                .seal(black_box(&session), b"", black_box(NOW), &mut rng, &mut out)
                .unwrap()
        })
    });
    g.bench_function("seal/SharedKeyRing", |b| {
        b.iter(|| {
            shared
                .seal(black_box(&session), b"", black_box(NOW), &mut rng, &mut out)
                .unwrap()
        })
    });
    g.bench_function("open/KeyRing", |b| {
        b.iter(|| {
            plain
                .open(black_box(token.as_bytes()), b"", &policy, black_box(NOW))
                .unwrap()
        })
    });
    g.bench_function("open/SharedKeyRing", |b| {
        b.iter(|| {
            shared
                .open(black_box(token.as_bytes()), b"", &policy, black_box(NOW))
                .unwrap()
        })
    });
    g.bench_function("refresh/KeyRing", |b| {
        b.iter(|| {
            plain
                .refresh(
                    black_box(token.as_bytes()),
                    b"",
                    &policy,
                    NOW,
                    &mut rng,
                    &mut out,
                )
                .unwrap()
        })
    });
    g.bench_function("refresh/SharedKeyRing", |b| {
        b.iter(|| {
            shared
                .refresh(
                    black_box(token.as_bytes()),
                    b"",
                    &policy,
                    NOW,
                    &mut rng,
                    &mut out,
                )
                .unwrap()
        })
    });
    g.finish();
}

fn bench_c_abi(c: &mut Criterion) {
    let in_place = CRing::new(true);
    let heap = Arc::new(CRing::new(false));
    let mut policy = std::mem::MaybeUninit::<sesame_policy>::uninit();
    // SAFETY: a valid out-pointer, written on SESAME_OK.
    let policy = unsafe {
        assert_eq!(
            sesame_policy_default(policy.as_mut_ptr()),
            sesame_result::SESAME_OK
        );
        policy.assume_init()
    };
    let mut out = [0u8; TOKEN_MAX + 1];
    let len = in_place.seal(&mut out);
    let token = out[..len].to_vec();

    let mut g = c.benchmark_group("c_ring");
    g.bench_function("seal/in_place", |b| {
        b.iter(|| in_place.seal(black_box(&mut out)))
    });
    g.bench_function("seal/heap", |b| b.iter(|| heap.seal(black_box(&mut out))));
    g.bench_function("open/in_place", |b| {
        b.iter(|| in_place.open(black_box(&token), &policy))
    });
    g.bench_function("open/heap", |b| {
        b.iter(|| heap.open(black_box(&token), &policy))
    });

    // A second thread adds, promotes and retires keys without pause; key 1
    // stays, so every open succeeds.
    let stop = Arc::new(AtomicBool::new(false));
    let rotator = {
        let (heap, stop) = (Arc::clone(&heap), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut rotations = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: a heap ring takes key changes from any thread.
                unsafe {
                    assert_eq!(
                        sesame_keyring_add_key(heap.ring, 2, [7u8; 32].as_ptr(), 32),
                        sesame_result::SESAME_OK
                    );
                    assert_eq!(
                        sesame_keyring_promote(heap.ring, 2),
                        sesame_result::SESAME_OK
                    );
                    assert_eq!(
                        sesame_keyring_promote(heap.ring, 1),
                        sesame_result::SESAME_OK
                    );
                    assert_eq!(
                        sesame_keyring_retire(heap.ring, 2),
                        sesame_result::SESAME_OK
                    );
                }
                rotations += 1;
            }
            rotations
        })
    };
    g.bench_function("open/heap_while_rotating", |b| {
        b.iter(|| heap.open(black_box(&token), &policy))
    });
    stop.store(true, Ordering::Relaxed);
    println!(
        "rotations during open/heap_while_rotating: {}",
        rotator.join().unwrap()
    );
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_rust, bench_c_abi
}
criterion_main!(benches);
