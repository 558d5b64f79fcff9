//! Read-mostly state that readers use without ever blocking: a writer builds
//! a complete new value beside the published one, publishes it with one
//! atomic store, waits until no reader can still hold the old one, and only
//! then drops it. Readers never see a half-changed value and never wait for
//! a writer; writers wait for each other and for readers that started
//! before their publish.
//!
//! The reader bookkeeping is one atomic word: a parity bit and two reader
//! counts, one per parity. A reader adds itself to the count of the current
//! parity with a compare-and-swap, so that the parity it counted under and
//! the parity it read are the same value; a writer flips the parity after
//! publishing, then waits for the count of the old parity to drain. A reader
//! that counted itself before the flip may hold the old value and is waited
//! for; a reader that counted itself after the flip synchronises with it and
//! so reads the new value. Readers arriving during the wait count under the
//! new parity, so a stream of readers cannot starve a writer.
//!
//! This module and `ffi` are the only places with `unsafe`. The protocol is
//! checked by a loom model (`cargo test --release --lib --features loom`
//! under `RUSTFLAGS="--cfg loom"`, see `.ci/run`), by miri, and by a C test
//! under valgrind's helgrind that sees the protocol through the
//! happens-before annotations of the `helgrind` feature.
#![allow(unsafe_code)]

use core::marker::PhantomData;
use core::ptr;

#[cfg(loom)]
use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::Mutex;

use std::boxed::Box;

/// Bits of the state word per reader count: half of what is left after the parity bit.
const COUNT_BITS: u32 = (usize::BITS - 1) / 2;
const COUNT_MASK: usize = (1 << COUNT_BITS) - 1;
const PARITY: usize = 1 << (usize::BITS - 1);

fn one_reader(parity: usize) -> usize {
    if parity == 0 {
        1
    } else {
        1 << COUNT_BITS
    }
}

fn readers(state: usize, parity: usize) -> usize {
    if parity == 0 {
        state & COUNT_MASK
    } else {
        (state >> COUNT_BITS) & COUNT_MASK
    }
}

/// A value that many threads read while others replace it.
pub(crate) struct Published<T> {
    current: AtomicPtr<T>,
    state: AtomicUsize,
    writer: Mutex<()>,
    /// Owns a `T` (for drop check and auto traits).
    _owns: PhantomData<Box<T>>,
}

// SAFETY: readers on several threads get `&T` at once (needs `T: Sync`), and
// the value is built on one thread and dropped on another (needs `T: Send`).
unsafe impl<T: Send + Sync> Sync for Published<T> {}
// SAFETY: moving the owner moves the owned `T` with it.
unsafe impl<T: Send> Send for Published<T> {}

impl<T> Published<T> {
    pub(crate) fn new(value: T) -> Self {
        let first = Box::into_raw(Box::new(value));
        annotate::happens_before(first);
        Published {
            current: AtomicPtr::new(first),
            state: AtomicUsize::new(0),
            writer: Mutex::new(()),
            _owns: PhantomData,
        }
    }

    /// Runs `body` on the value published now. Never blocks; a value that a
    /// writer replaces meanwhile stays alive until `body` returns.
    pub(crate) fn read<R>(&self, body: impl FnOnce(&T) -> R) -> R {
        annotate::atomic(&self.state);
        annotate::atomic(&self.current);
        let mut seen = self.state.load(Ordering::Relaxed);
        let parity = loop {
            let parity = seen & PARITY;
            // Acquire: a reader counted after a flip must see the value
            // published before that flip. Release: the writer that flips
            // next must see this count.
            match self.state.compare_exchange_weak(
                seen,
                seen + one_reader(parity),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break parity,
                Err(now) => seen = now,
            }
        };
        let guard = ReadGuard {
            state: &self.state,
            parity,
            value: self.current.load(Ordering::Acquire),
        };
        annotate::happens_after(guard.value);
        // SAFETY: `value` was published (it is never NULL) and is dropped
        // only after the count this guard holds has drained, which is after
        // the guard is dropped.
        body(unsafe { &*guard.value })
    }

    /// Builds a new value from the published one with `change` and publishes
    /// it; if `change` fails, nothing is published. Waits for other writers,
    /// then for the readers of the value it replaces.
    pub(crate) fn update<E>(&self, change: impl FnOnce(&T) -> Result<T, E>) -> Result<(), E> {
        annotate::atomic(&self.state);
        annotate::atomic(&self.current);
        annotate::atomic(&self.writer);
        // A writer that panicked left nothing half-done: the published value
        // is always complete, so a poisoned lock is still usable.
        let _writing = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        annotate::happens_after(&self.writer);
        let old = self.current.load(Ordering::Acquire);
        // SAFETY: only writers drop published values, and this thread is the
        // only writer while it holds the lock.
        let next = change(unsafe { &*old });
        let next = match next {
            Ok(next) => Box::into_raw(Box::new(next)),
            Err(error) => {
                annotate::happens_before(&self.writer);
                return Err(error);
            }
        };
        annotate::happens_before(next);
        self.current.store(next, Ordering::Release);
        // AcqRel: readers counted before the flip are seen by the wait below,
        // readers counted after it see `next`.
        let before = self.state.fetch_xor(PARITY, Ordering::AcqRel);
        let old_parity = before & PARITY;
        while readers(self.state.load(Ordering::Acquire), old_parity) != 0 {
            spin();
        }
        annotate::happens_after(old);
        // SAFETY: `old` came from Box::into_raw and is no longer published;
        // every reader that could hold it has released its count (waited
        // for above), and later readers load `next`.
        unsafe { drop_and_wipe(old) };
        annotate::happens_before(&self.writer);
        Ok(())
    }
}

impl<T> Drop for Published<T> {
    fn drop(&mut self) {
        let last = self.current.load(Ordering::Acquire);
        annotate::happens_after(last);
        // SAFETY: `&mut self` means no reader or writer is active; the value
        // came from Box::into_raw and is dropped exactly once, here.
        unsafe { drop_and_wipe(last) };
    }
}

/// Drops a boxed value in place, zeroes its bytes (key schedules may leave
/// stale copies of key bytes where no `Drop` looks), then frees the memory.
///
/// # Safety
/// `value` came from `Box::into_raw` and nothing else uses it.
unsafe fn drop_and_wipe<T>(value: *mut T) {
    // SAFETY: per the contract, `value` is a live, exclusively owned box.
    unsafe {
        ptr::drop_in_place(value);
        ptr::write_bytes(value, 0, 1);
        drop(Box::from_raw(value.cast::<core::mem::MaybeUninit<T>>()));
    }
}

/// A reader's count, released when the read ends (also by unwinding).
struct ReadGuard<'a, T> {
    state: &'a AtomicUsize,
    parity: usize,
    value: *const T,
}

impl<T> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        annotate::happens_before(self.value);
        // Release: the writer waiting on this count must see every read of
        // the value done before it drops the value.
        self.state
            .fetch_sub(one_reader(self.parity), Ordering::Release);
    }
}

fn spin() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::thread::yield_now();
}

/// Happens-before annotations for valgrind's helgrind and DRD, which cannot
/// see synchronisation done with atomics; empty unless the `helgrind`
/// feature is on, and a few no-op instructions outside valgrind when it is.
mod annotate {
    /// `ANNOTATE_HAPPENS_BEFORE` and `ANNOTATE_HAPPENS_AFTER` of valgrind's
    /// `helgrind.h` (DRD accepts the same codes).
    #[cfg(feature = "helgrind")]
    const HAPPENS_BEFORE: usize = 0x4847_0121;
    #[cfg(feature = "helgrind")]
    const HAPPENS_AFTER: usize = 0x4847_0122;
    /// `VALGRIND_HG_DISABLE_CHECKING` (helgrind) and
    /// `ANNOTATE_BENIGN_RACE_SIZED` (DRD).
    #[cfg(feature = "helgrind")]
    const HELGRIND_UNTRACKED: usize = 0x4847_0127;
    #[cfg(feature = "helgrind")]
    const DRD_BENIGN: usize = 0x4452_0002;

    #[cfg(feature = "helgrind")]
    pub(super) fn happens_before<T>(at: *const T) {
        client_request(HAPPENS_BEFORE, at as usize, 0);
    }
    #[cfg(feature = "helgrind")]
    pub(super) fn happens_after<T>(at: *const T) {
        client_request(HAPPENS_AFTER, at as usize, 0);
    }
    /// An atomic is only ever accessed atomically (the type guarantees it),
    /// but its loads and stores are plain moves the tools would call races.
    #[cfg(feature = "helgrind")]
    pub(super) fn atomic<T>(at: &T) {
        let (start, len) = (at as *const T as usize, core::mem::size_of::<T>());
        client_request(HELGRIND_UNTRACKED, start, len);
        client_request(DRD_BENIGN, start, len);
    }
    #[cfg(not(feature = "helgrind"))]
    pub(super) fn happens_before<T>(_: *const T) {}
    #[cfg(not(feature = "helgrind"))]
    pub(super) fn happens_after<T>(_: *const T) {}
    #[cfg(not(feature = "helgrind"))]
    pub(super) fn atomic<T>(_: &T) {}

    /// Valgrind's client request on x86-64 (`valgrind.h`): the four
    /// rotations of rdi (128 bits in all, so rdi is unchanged) followed by
    /// `xchg rbx, rbx` mark the request; valgrind reads the six words at rax.
    #[cfg(all(feature = "helgrind", target_arch = "x86_64"))]
    fn client_request(request: usize, first: usize, second: usize) {
        let words: [usize; 6] = [request, first, second, 0, 0, 0];
        // SAFETY: outside valgrind these instructions change no register
        // and no memory (rdi is rotated back to its value, rbx exchanged with
        // itself); under valgrind, the request reads `words`, which lives
        // until the asm ends, and writes its result to rdx, declared clobbered
        // (the rotations change flags, which asm! assumes without `preserves_flags`).
        unsafe {
            core::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") words.as_ptr(),
                inout("rdx") 0usize => _,
                inout("rdi") 0usize => _,
                options(nostack),
            );
        }
    }
    #[cfg(all(feature = "helgrind", not(target_arch = "x86_64")))]
    compile_error!("the `helgrind` feature emits valgrind client requests for x86-64 only");
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::vec::Vec;

    #[test]
    fn counts_and_parity_do_not_overlap() {
        assert_eq!(readers(one_reader(0), 0), 1);
        assert_eq!(readers(one_reader(0), PARITY), 0);
        assert_eq!(readers(one_reader(PARITY), PARITY), 1);
        assert_eq!(readers(one_reader(PARITY), 0), 0);
        let full = COUNT_MASK | (COUNT_MASK << COUNT_BITS);
        assert_eq!(full & PARITY, 0);
    }

    #[test]
    fn a_failed_change_publishes_nothing() {
        let shared = Published::new(1u32);
        assert_eq!(shared.update(|_| Err::<u32, _>("no")), Err("no"));
        assert_eq!(shared.read(|v| *v), 1);
        shared.update(|v| Ok::<_, ()>(v + 1)).unwrap();
        assert_eq!(shared.read(|v| *v), 2);
    }

    #[test]
    fn readers_see_whole_values_while_writers_replace_them() {
        // Each value is a vector whose elements all equal its length: a
        // reader that saw a value being built, or freed, would see that break.
        let shared = Arc::new(Published::new(Vec::from([1u64])));
        let iterations = if cfg!(miri) { 20 } else { 20_000 };
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    for _ in 0..iterations / 10 {
                        shared
                            .update(|v| {
                                let n = v.len() as u64 % 64 + 1;
                                Ok::<_, ()>((0..n).map(|_| n).collect())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    for _ in 0..iterations {
                        shared.read(|v| {
                            let n = v.len() as u64;
                            assert!(v.iter().all(|&x| x == n), "a torn value: {v:?}");
                        });
                    }
                })
            })
            .collect();
        for thread in writers.into_iter().chain(readers) {
            thread.join().unwrap();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! Every interleaving (up to loom's bounds) of readers and writers: a
    //! reader never reads a value a writer has started to drop, and always
    //! sees a whole one. The value's cell is written by its Drop, so loom
    //! reports any read that is not ordered before the drop.
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;

    struct Value(UnsafeCell<u32>);

    impl Value {
        fn new(n: u32) -> Self {
            Value(UnsafeCell::new(n))
        }
        fn get(&self) -> u32 {
            self.0.with(|n| unsafe { *n })
        }
    }

    impl Drop for Value {
        fn drop(&mut self) {
            self.0.with_mut(|n| unsafe { *n = 0 });
        }
    }

    #[test]
    fn one_writer_two_readers() {
        loom::model(|| {
            let shared = Arc::new(Published::new(Value::new(1)));
            let readers: std::vec::Vec<_> = (0..2)
                .map(|_| {
                    let shared = Arc::clone(&shared);
                    loom::thread::spawn(move || {
                        let seen = shared.read(Value::get);
                        assert!(seen == 1 || seen == 2, "read {seen}");
                    })
                })
                .collect();
            shared
                .update(|v| Ok::<_, ()>(Value::new(v.get() + 1)))
                .unwrap();
            for reader in readers {
                reader.join().unwrap();
            }
            assert_eq!(shared.read(Value::get), 2);
        });
    }

    #[test]
    fn two_writers_one_reader() {
        loom::model(|| {
            let shared = Arc::new(Published::new(Value::new(1)));
            let writer = {
                let shared = Arc::clone(&shared);
                loom::thread::spawn(move || {
                    shared
                        .update(|v| Ok::<_, ()>(Value::new(v.get() + 1)))
                        .unwrap();
                })
            };
            let reader = {
                let shared = Arc::clone(&shared);
                loom::thread::spawn(move || {
                    let first = shared.read(Value::get);
                    let second = shared.read(Value::get);
                    assert!(
                        (1..=3).contains(&first) && first <= second,
                        "{first} {second}"
                    );
                })
            };
            shared
                .update(|v| Ok::<_, ()>(Value::new(v.get() + 1)))
                .unwrap();
            writer.join().unwrap();
            reader.join().unwrap();
            assert_eq!(shared.read(Value::get), 3);
        });
    }
}
