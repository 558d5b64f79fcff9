//! Interleaved A/B timing of seal, open and the XAES floor: `sesame_base`
//! (a git revision, see scripts/ab.sh) against `sesame` (the working tree).
//!
//! On a shared machine the time of one benchmark drifts by more than the
//! few nanoseconds a hot-path change is worth, so both builds run in one
//! process, each measurement alternating between them, and the smallest
//! time of each is kept. Criterion remains the tool for published numbers;
//! this answers "did this change help".
//!
//!   cargo run --release -- [ROUNDS]        (default 20)

use std::hint::black_box;
use std::time::Instant;

/// Smallest mean over 20 batches of 10,000 calls, in ns.
fn best<F: FnMut()>(mut f: F) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..20 {
        let start = Instant::now();
        for _ in 0..10_000 {
            f();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / 10_000.0);
    }
    best
}

macro_rules! suite {
    ($module:ident, $krate:ident) => {
        mod $module {
            use super::*;
            use $krate::primitives::XaesKey;
            use $krate::{ForkSafeRng, KeyRing, NewSession, Policy, TOKEN_MAX};

            const NOW: u64 = 1_800_000_000;
            const NONCE: [u8; 24] = [7; 24];
            const HEADER: [u8; 2] = [1, 1];

            pub struct Suite {
                ring: KeyRing,
                rng: ForkSafeRng,
                policy: Policy,
                token: Vec<u8>,
                key: XaesKey,
                ciphertext: [u8; 27],
                tag: [u8; 16],
            }

            pub fn new() -> Suite {
                let mut ring: KeyRing = KeyRing::new();
                ring.add_key(1, &[0x42; 32]).unwrap();
                let mut rng = ForkSafeRng::new();
                let mut out = [0u8; TOKEN_MAX];
                let len = ring
                    .seal(&NewSession::new(123_456), b"", NOW, &mut rng, &mut out)
                    .unwrap();
                let key = XaesKey::new(&[0x42; 32]);
                let mut ciphertext = [5u8; 27];
                let tag = key.seal_in_place(&NONCE, &HEADER, &mut ciphertext);
                Suite {
                    ring,
                    rng,
                    policy: Policy::default(),
                    token: out[..len].to_vec(),
                    key,
                    ciphertext,
                    tag,
                }
            }

            /// seal, open, floor seal, floor open (ns).
            pub fn run(s: &mut Suite) -> [f64; 4] {
                let session = NewSession::new(123_456);
                let mut out = [0u8; TOKEN_MAX];
                let seal = best(|| {
                    let len = s
                        .ring
                        .seal(
                            black_box(&session),
                            b"",
                            black_box(NOW),
                            &mut s.rng,
                            &mut out,
                        )
                        .unwrap();
                    black_box(&out[..len]);
                });
                let open = best(|| {
                    black_box(
                        s.ring
                            .open(black_box(&s.token), b"", &s.policy, black_box(NOW + 5))
                            .unwrap(),
                    );
                });
                let floor_seal = best(|| {
                    let mut buf = black_box([5u8; 27]);
                    black_box(s.key.seal_in_place(&NONCE, &HEADER, &mut buf));
                    black_box(buf);
                });
                let floor_open = best(|| {
                    let mut buf = black_box(s.ciphertext);
                    s.key
                        .open_in_place(&NONCE, &HEADER, &mut buf, &s.tag)
                        .unwrap();
                    black_box(buf);
                });
                [seal, open, floor_seal, floor_open]
            }
        }
    };
}

suite!(base, sesame_base);
suite!(tree, sesame);

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("ROUNDS is a number"))
        .unwrap_or(20);
    let (mut a, mut b) = (base::new(), tree::new());
    let (mut best_a, mut best_b) = ([f64::MAX; 4], [f64::MAX; 4]);
    for _ in 0..rounds {
        for (best, time) in best_a.iter_mut().zip(base::run(&mut a)) {
            *best = best.min(time);
        }
        for (best, time) in best_b.iter_mut().zip(tree::run(&mut b)) {
            *best = best.min(time);
        }
    }
    println!("ns (smallest of {rounds} interleaved rounds)   seal    open  floor seal  floor open  seal-floor  open-floor  open/floor");
    for (name, r) in [("base (revision)", best_a), ("tree (working tree)", best_b)] {
        println!(
            "{name:38} {:6.1}  {:6.1}  {:10.1}  {:10.1}  {:10.1}  {:10.1}  {:10.3}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[0] - r[2],
            r[1] - r[3],
            r[1] / r[3]
        );
    }
}
