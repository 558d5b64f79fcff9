//! A fast, fork-safe source of randomness for `std` builds.
//!
//! The getrandom syscall costs more than the whole cipher, so each thread
//! keeps a ChaCha20 generator seeded once from the OS. The danger of a
//! user-space generator is `fork()`: Unicorn and Puma fork workers after the
//! master has used it, and a child that inherits the state would repeat the
//! parent's nonces and session IDs. A `pthread_atfork` child handler bumps a
//! process-wide generation; a generator made in an older generation is
//! thrown away (buffered output included) and reseeded before its next use.

use core::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, OsRng, RngCore, SeedableRng};

static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

std::thread_local! {
    static GENERATOR: RefCell<Option<(u64, ChaCha20Rng)>> = const { RefCell::new(None) };
}

/// Handle to this thread's generator; zero-sized, `Copy`, and cheap to make.
///
/// Safe across `fork()` on Unix (the child reseeds before its first draw).
/// A process made with a raw `clone` syscall that skips the atfork handlers
/// is not covered; every libc `fork`, Ruby's and Python's included, is.
#[derive(Clone, Copy, Debug, Default)]
pub struct ForkSafeRng;

impl ForkSafeRng {
    pub fn new() -> Self {
        fork_guard::install();
        ForkSafeRng
    }
}

impl CryptoRng for ForkSafeRng {}

impl RngCore for ForkSafeRng {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    /// Panics only if the OS cannot supply a seed; sesame itself always calls
    /// [`try_fill_bytes`](Self::try_fill_bytes) and reports `RandomFailed`.
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if let Err(error) = self.try_fill_bytes(dest) {
            panic!("sesame: OS randomness unavailable: {error}");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        fork_guard::install();
        let generation = FORK_GENERATION.load(Ordering::Acquire);
        GENERATOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            match &mut *slot {
                Some((made_in, generator)) if *made_in == generation => {
                    generator.fill_bytes(dest);
                }
                stale => {
                    let mut generator = ChaCha20Rng::from_rng(OsRng)?;
                    generator.fill_bytes(dest);
                    *stale = Some((generation, generator));
                }
            }
            Ok(())
        })
    }
}

/// Called in the child right after `fork()`; an atomic add is async-signal-safe.
extern "C" fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
}

#[cfg(unix)]
#[allow(unsafe_code)]
mod fork_guard {
    use std::sync::Once;

    static INSTALLED: Once = Once::new();

    pub fn install() {
        INSTALLED.call_once(|| {
            // SAFETY: FFI boundary with libc. pthread_atfork only records the
            // function pointers; the child handler is a plain `extern "C" fn`
            // with no captured state that performs one atomic add, which is
            // async-signal-safe as POSIX requires of code run after fork.
            let status =
                unsafe { libc::pthread_atfork(None, None, Some(super::after_fork_in_child)) };
            // Without the handler a fork could repeat nonces: refuse to go on
            // rather than seal unsafely (ENOMEM here means a broken process).
            assert_eq!(status, 0, "sesame: pthread_atfork failed");
        });
    }
}

#[cfg(not(unix))]
mod fork_guard {
    /// No `fork()` outside Unix, so nothing to guard.
    pub fn install() {
        let _ = super::after_fork_in_child;
    }
}
