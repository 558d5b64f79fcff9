//! A server that forks workers after it has sealed tokens (Unicorn, Puma)
//! must never see the same nonce or session ID in two processes.
//!
//! The parent warms its thread's generator (so buffered output exists at the
//! fork), forks, and both processes draw. A plain user-space generator is run
//! through the same fork as a control: it does repeat, which shows the test
//! would catch an unguarded generator.
#![cfg(unix)]

use sesame::rand_core::{RngCore, SeedableRng};
use sesame::{ForkSafeRng, KeyRing, NewSession, Policy};

const DRAWS: usize = 64;
const DRAW_BYTES: usize = 40;
const ALL: usize = DRAWS * DRAW_BYTES;

/// Runs `draw` in a forked child and in the parent after the fork; returns
/// (parent's bytes, child's bytes).
fn draw_on_both_sides_of_fork(mut draw: impl FnMut() -> [u8; ALL]) -> ([u8; ALL], [u8; ALL]) {
    let mut fds = [0i32; 2];
    // SAFETY: test-only FFI to libc; `fds` is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: test-only FFI. The child only draws randomness (no allocation,
    // no locks), writes to the pipe and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let bytes = draw();
        // SAFETY: writing a stack buffer we own to the pipe we created.
        let written = unsafe { libc::write(fds[1], bytes.as_ptr().cast(), ALL) };
        // SAFETY: _exit ends the child without running the parent's destructors.
        unsafe { libc::_exit(if written == ALL as isize { 0 } else { 1 }) };
    }
    let parent = draw();
    let mut child = [0u8; ALL];
    let mut read = 0;
    while read < ALL {
        // SAFETY: reading into the unfilled tail of our own buffer.
        let n = unsafe { libc::read(fds[0], child[read..].as_mut_ptr().cast(), ALL - read) };
        assert!(n > 0, "child wrote nothing");
        read += n as usize;
    }
    let mut status = 0;
    // SAFETY: waiting for the child we forked; `status` is a valid int.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    (parent, child)
}

fn shared_chunks(a: &[u8; ALL], b: &[u8; ALL]) -> usize {
    a.chunks(DRAW_BYTES)
        .filter(|chunk| b.chunks(DRAW_BYTES).any(|other| other == *chunk))
        .count()
}

#[test]
fn forked_processes_never_draw_the_same_bytes() {
    // Control: a plain ChaCha20 generator copied into the child by fork.
    let mut plain = rand_chacha::ChaCha20Rng::from_entropy();
    plain.next_u32(); // leave buffered output behind, as a server would
    let (parent, child) = draw_on_both_sides_of_fork(|| {
        let mut out = [0u8; ALL];
        plain.fill_bytes(&mut out);
        out
    });
    assert_eq!(
        parent, child,
        "control: an unguarded generator repeats across fork"
    );

    // sesame's generator, warmed the same way before the fork.
    let mut rng = ForkSafeRng::new();
    rng.next_u32();
    let (parent, child) = draw_on_both_sides_of_fork(|| {
        let mut out = [0u8; ALL];
        for chunk in out.chunks_mut(DRAW_BYTES) {
            ForkSafeRng::new().fill_bytes(chunk);
        }
        out
    });
    assert_eq!(
        shared_chunks(&parent, &child),
        0,
        "parent and child drew the same bytes"
    );
}

#[test]
fn forked_workers_seal_distinct_nonces_and_session_ids() {
    let mut ring: KeyRing = KeyRing::new();
    ring.add_key(1, &[7; 32]).unwrap();
    let now = 1_700_000_000;
    // The master seals before forking, like a preloading app server.
    ring.seal_token(&NewSession::new(1), b"", now, &mut ForkSafeRng::new())
        .unwrap();
    let (parent, child) = draw_on_both_sides_of_fork(|| {
        let mut out = [0u8; ALL];
        for chunk in out.chunks_mut(DRAW_BYTES) {
            let token = ring
                .seal_token(&NewSession::new(1), b"", now, &mut ForkSafeRng::new())
                .unwrap();
            let claims = ring.open(&token, b"", &Policy::default(), now).unwrap();
            // Binary bytes 2..26 are the nonce; text characters 4..28 encode
            // only nonce bits. Keep those and the session ID.
            chunk[..24].copy_from_slice(&token.as_bytes()[4..28]);
            chunk[24..].copy_from_slice(&claims.session_id);
        }
        out
    });
    assert_eq!(
        shared_chunks(&parent, &child),
        0,
        "a nonce or session ID repeated across fork"
    );
    let session_ids = |bytes: &[u8; ALL]| {
        bytes
            .chunks(DRAW_BYTES)
            .map(|c| c[24..].to_vec())
            .collect::<Vec<_>>()
    };
    let (p, c) = (session_ids(&parent), session_ids(&child));
    assert!(p.iter().all(|id| !c.contains(id)));
}
