//! The same small AEAD work on the two RustCrypto lines sesame could build
//! on, and RustCrypto's own XAES-256-GCM crate beside sesame's construction.
//!
//! The message is sesame's reference plaintext size (27 bytes) with its
//! 2-byte header as associated data. "Fresh key" sets the AES-256-GCM key up
//! for every message, which is what XAES-256-GCM does after deriving it.
//!
//! Run: `cd benches/versions && cargo bench` (add `-- --quick` for a short run).

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

const KEY: [u8; 32] = [0x42; 32];
const AD: [u8; 2] = [1, 1];
const PLAIN: [u8; 27] = [5; 27];

fn aes_gcm_0_10(c: &mut Criterion) {
    use aes_gcm_0_10::aead::generic_array::GenericArray;
    use aes_gcm_0_10::{AeadInPlace, Aes256Gcm, KeyInit};
    let mut g = c.benchmark_group("aes-gcm 0.10.3 + aes 0.8.4");
    let nonce = GenericArray::from([7u8; 12]);
    let prepared = Aes256Gcm::new(GenericArray::from_slice(&KEY));
    let mut ciphertext = PLAIN;
    let tag = prepared
        .encrypt_in_place_detached(&nonce, &AD, &mut ciphertext)
        .unwrap();
    g.bench_function("seal, prepared key", |b| {
        b.iter(|| {
            let mut buf = black_box(PLAIN);
            black_box(
                prepared
                    .encrypt_in_place_detached(&nonce, &AD, &mut buf)
                    .unwrap(),
            );
            buf
        })
    });
    g.bench_function("seal, fresh key", |b| {
        b.iter(|| {
            let gcm = Aes256Gcm::new(GenericArray::from_slice(black_box(&KEY)));
            let mut buf = black_box(PLAIN);
            black_box(
                gcm.encrypt_in_place_detached(&nonce, &AD, &mut buf)
                    .unwrap(),
            );
            buf
        })
    });
    g.bench_function("open, fresh key", |b| {
        b.iter(|| {
            let gcm = Aes256Gcm::new(GenericArray::from_slice(black_box(&KEY)));
            let mut buf = black_box(ciphertext);
            gcm.decrypt_in_place_detached(&nonce, &AD, &mut buf, &tag)
                .unwrap();
            buf
        })
    });
    g.bench_function("AES-256 key schedule (encrypt only)", |b| {
        b.iter(|| aes_0_8::Aes256Enc::new(GenericArray::from_slice(black_box(&KEY))))
    });
    g.finish();
}

/// Seal and open of a prepared aead 0.6 cipher (aes-gcm 0.11 and
/// xaes-256-gcm share that trait crate), benchmarked under `names`;
/// returns the ciphertext and tag.
fn inout_prepared<C: aes_gcm_0_11::aead::AeadInOut>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    names: [&str; 2],
    cipher: &C,
    nonce: &aes_gcm_0_11::aead::Nonce<C>,
) -> ([u8; 27], aes_gcm_0_11::aead::Tag<C>) {
    let mut ciphertext = PLAIN;
    let tag = cipher
        .encrypt_inout_detached(nonce, &AD, (&mut ciphertext[..]).into())
        .unwrap();
    g.bench_function(names[0], |b| {
        b.iter(|| {
            let mut buf = black_box(PLAIN);
            black_box(
                cipher
                    .encrypt_inout_detached(nonce, &AD, (&mut buf[..]).into())
                    .unwrap(),
            );
            buf
        })
    });
    g.bench_function(names[1], |b| {
        b.iter(|| {
            let mut buf = black_box(ciphertext);
            cipher
                .decrypt_inout_detached(nonce, &AD, (&mut buf[..]).into(), &tag)
                .unwrap();
            buf
        })
    });
    (ciphertext, tag)
}

fn aes_gcm_0_11(c: &mut Criterion) {
    use aes_gcm_0_11::aead::array::Array;
    use aes_gcm_0_11::{AeadInOut, Aes256Gcm, KeyInit};
    let mut g = c.benchmark_group("aes-gcm 0.11.1 + aes 0.9.4");
    let nonce = Array::from([7u8; 12]);
    let (ciphertext, tag) = inout_prepared(
        &mut g,
        ["seal, prepared key", "open, prepared key"],
        &Aes256Gcm::new(&Array::from(KEY)),
        &nonce,
    );
    g.bench_function("seal, fresh key", |b| {
        b.iter(|| {
            let gcm = Aes256Gcm::new(&Array::from(*black_box(&KEY)));
            let mut buf = black_box(PLAIN);
            black_box(
                gcm.encrypt_inout_detached(&nonce, &AD, (&mut buf[..]).into())
                    .unwrap(),
            );
            buf
        })
    });
    g.bench_function("open, fresh key", |b| {
        b.iter(|| {
            let gcm = Aes256Gcm::new(&Array::from(*black_box(&KEY)));
            let mut buf = black_box(ciphertext);
            gcm.decrypt_inout_detached(&nonce, &AD, (&mut buf[..]).into(), &tag)
                .unwrap();
            buf
        })
    });
    g.bench_function("AES-256 key schedule (encrypt only)", |b| {
        b.iter(|| aes_0_9::Aes256Enc::new(&Array::from(*black_box(&KEY))))
    });
    g.finish();
}

fn xaes(c: &mut Criterion) {
    use xaes_256_gcm::aead::{array::Array, KeyInit};
    let mut g = c.benchmark_group("XAES-256-GCM, prepared key");
    let nonce = [7u8; 24];
    let (ciphertext, tag) = inout_prepared(
        &mut g,
        ["xaes-256-gcm 0.1.0 seal", "xaes-256-gcm 0.1.0 open"],
        &xaes_256_gcm::Xaes256Gcm::new(&Array::from(KEY)),
        &Array::from(nonce),
    );
    // The two implementations must agree before their times mean anything.
    let ours = sesame::primitives::XaesKey::new(&KEY);
    let mut buf = PLAIN;
    assert_eq!(
        ours.seal_in_place(&nonce, &AD, &mut buf),
        <[u8; 16]>::from(tag)
    );
    assert_eq!(buf, ciphertext);
    g.bench_function("sesame XaesKey seal", |b| {
        b.iter(|| {
            let mut buf = black_box(PLAIN);
            black_box(ours.seal_in_place(&nonce, &AD, &mut buf));
            buf
        })
    });
    g.bench_function("sesame XaesKey open", |b| {
        b.iter(|| {
            let mut buf = black_box(ciphertext);
            ours.open_in_place(&nonce, &AD, &mut buf, &tag.into())
                .unwrap();
            buf
        })
    });
    g.finish();
}

criterion_group!(benches, aes_gcm_0_10, aes_gcm_0_11, xaes);
criterion_main!(benches);
