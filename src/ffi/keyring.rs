//! Key rings across the C ABI: made, changed, queried and freed.
//!
//! A heap ring (`sesame_keyring_new`) is a published snapshot (see
//! `crate::publish`): seal, open and refresh read the snapshot current when
//! they start, and a key change publishes a new one, so any mix of threads
//! may use it with no lock. A ring in caller storage (`sesame_keyring_init`,
//! for firmware without a heap) is changed in place and needs exclusive
//! access for changes.

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::ptr;

use super::*;
use crate::rand_core::{self, CryptoRng, RngCore};
use crate::KeyRing;

/// A caller-supplied random source: fill `buf` with `len` bytes from a CSPRNG
/// and return 0, or return non-zero on failure. It is called from whatever
/// thread seals, so it must be thread-safe if the ring is shared. It must
/// return normally: never longjmp, throw or raise through sesame's frames (a
/// binding catches its language's exceptions inside the callback and returns
/// non-zero).
pub type sesame_random_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, buf: *mut u8, len: usize) -> c_int>;

/// An opaque key ring. Made by `sesame_keyring_new` (heap) or
/// `sesame_keyring_init` (caller storage); released by `sesame_keyring_free`.
pub struct sesame_keyring {
    kind: RingKind,
}

// The in-place ring is the large one on purpose: firmware has no heap.
#[allow(clippy::large_enum_variant)]
enum RingKind {
    /// In caller storage: changed in place, exclusively.
    InPlace(RingState),
    /// On the heap: readers never block, changes publish a new snapshot.
    #[cfg(feature = "std")]
    Published(crate::publish::Published<RingState>),
}

/// Everything a seal reads: the keys and the random source.
#[derive(Clone)]
pub(super) struct RingState {
    pub(super) ring: KeyRing<SESAME_RING_CAPACITY>,
    random: Option<CallbackRng>,
}

impl core::fmt::Debug for sesame_keyring {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.read(|state| state.ring.fmt(f))
    }
}

impl sesame_keyring {
    /// Runs `body` on the ring's current state; never blocks.
    pub(super) fn read<T>(&self, body: impl FnOnce(&RingState) -> T) -> T {
        match &self.kind {
            RingKind::InPlace(state) => body(state),
            #[cfg(feature = "std")]
            RingKind::Published(published) => published.read(body),
        }
    }
}

/// Applies `change` to a ring: for a heap ring on a copy that is then
/// published (nothing changes if `change` fails), for a ring in caller
/// storage in place.
///
/// # Safety
/// `ring` is NULL or a live ring; a ring in caller storage is not in use by
/// another thread.
unsafe fn change_ring(
    ring: *mut sesame_keyring,
    change: impl FnOnce(&mut RingState) -> Result<(), sesame_result>,
) -> Result<(), sesame_result> {
    // SAFETY: a live ring or NULL; only a shared reference, because other
    // threads may be reading a heap ring right now.
    let shared = unsafe { ring_ref(ring) }?;
    #[cfg(feature = "std")]
    if let RingKind::Published(published) = &shared.kind {
        return published.update(|current| {
            let mut next = current.clone();
            change(&mut next)?;
            Ok(next)
        });
    }
    #[cfg(not(feature = "std"))]
    let _ = shared;
    // SAFETY: not a heap ring (those returned above), so a ring in caller
    // storage, which the caller uses from this thread alone during the call;
    // `shared` is not used past this point.
    match unsafe { &mut (*ring).kind } {
        RingKind::InPlace(state) => change(state),
        #[cfg(feature = "std")]
        RingKind::Published(_) => Err(SESAME_INTERNAL_ERROR),
    }
}

/// The caller's random callback as a rand_core generator.
#[derive(Clone, Copy)]
struct CallbackRng {
    fill: unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> c_int,
    user: *mut c_void,
}

// SAFETY: sesame never dereferences `user`; it only hands it back to the
// callback, which the header requires to be thread-safe on a shared ring.
unsafe impl Send for CallbackRng {}
// SAFETY: as for Send; calling the callback from several threads at once is
// the callback's documented contract.
unsafe impl Sync for CallbackRng {}

impl CryptoRng for CallbackRng {}

impl RngCore for CallbackRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // sesame only calls try_fill_bytes; a failure here leaves zeros, which
        // is why nothing in sesame uses this method.
        let _ = self.try_fill_bytes(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        // SAFETY: `dest` is a valid, writable buffer of `dest.len()` bytes for
        // the duration of the call; the callback's contract (header) is to
        // write at most that many bytes and not keep the pointer.
        let status = unsafe { (self.fill)(self.user, dest.as_mut_ptr(), dest.len()) };
        if status == 0 {
            Ok(())
        } else {
            Err(CALLBACK_FAILED.into())
        }
    }
}

const CALLBACK_FAILED: core::num::NonZeroU32 =
    match core::num::NonZeroU32::new(rand_core::Error::CUSTOM_START) {
        Some(code) => code,
        None => core::num::NonZeroU32::MIN,
    };

impl RingState {
    const fn new() -> Self {
        RingState {
            ring: KeyRing::new(),
            random: None,
        }
    }

    pub(super) fn with_rng<T>(
        &self,
        body: impl FnOnce(&mut dyn rand_core::CryptoRngCore) -> T,
    ) -> Result<T, sesame_result> {
        if let Some(mut callback) = self.random {
            return Ok(body(&mut callback));
        }
        #[cfg(feature = "std")]
        {
            Ok(body(&mut crate::ForkSafeRng::new()))
        }
        #[cfg(not(feature = "std"))]
        {
            Err(SESAME_RANDOM_FAILED)
        }
    }
}

/// # Safety
/// `ring` is NULL or a pointer returned by `sesame_keyring_new`/`_init` and not yet freed.
pub(super) unsafe fn ring_ref<'a>(
    ring: *const sesame_keyring,
) -> Result<&'a sesame_keyring, sesame_result> {
    // SAFETY: the caller guarantees a live ring or NULL; `as_ref` maps NULL to None.
    unsafe { ring.as_ref() }.ok_or(SESAME_NULL_ARGUMENT)
}

/// Creates an empty ring on the heap and writes it to `*ring_out`. Any mix
/// of threads may use it, key changes included. Release it with
/// `sesame_keyring_free`.
///
/// # Safety
/// `ring_out` is NULL or valid for writing a pointer.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_new(ring_out: *mut *mut sesame_keyring) -> sesame_result {
    guard(|| {
        if ring_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        let ring = std::boxed::Box::new(sesame_keyring {
            kind: RingKind::Published(crate::publish::Published::new(RingState::new())),
        });
        // SAFETY: `ring_out` is non-NULL and valid for a pointer write.
        unsafe { ring_out.write(std::boxed::Box::into_raw(ring)) };
        Ok(())
    })
}

/// Places an empty ring in caller-provided storage (no heap: for firmware)
/// and writes its pointer (equal to `storage`) to `*ring_out`. The storage
/// needs `SESAME_KEYRING_STORAGE_BYTES` bytes aligned to
/// `SESAME_KEYRING_STORAGE_ALIGN`, and must outlive the ring; release the
/// ring with `sesame_keyring_free`, which zeroizes but does not free it.
/// Such a ring is changed in place: key changes and `set_random` need
/// exclusive access (no other call on the ring at the same time).
///
/// # Safety
/// `storage` is NULL or valid for writing `storage_len` bytes; `ring_out` is
/// NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_init(
    storage: *mut c_void,
    storage_len: usize,
    ring_out: *mut *mut sesame_keyring,
) -> sesame_result {
    guard(|| {
        if storage.is_null() || ring_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        if storage_len < size_of::<sesame_keyring>() {
            return Err(SESAME_BUFFER_TOO_SMALL);
        }
        let ring = storage.cast::<sesame_keyring>();
        if !ring.is_aligned() {
            return Err(SESAME_INVALID_ARGUMENT);
        }
        // SAFETY: `ring` is non-NULL, aligned, and has room for a
        // sesame_keyring (checked above); `ring_out` is non-NULL and valid.
        unsafe {
            ring.write(sesame_keyring {
                kind: RingKind::InPlace(RingState::new()),
            });
            ring_out.write(ring);
        }
        Ok(())
    })
}

/// Releases a ring: its keys are zeroized, and a heap ring's memory freed.
/// NULL is ignored. Free each ring exactly once, when no thread uses it.
///
/// # Safety
/// `ring` is NULL or a live ring from `sesame_keyring_new`/`_init`.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_free(ring: *mut sesame_keyring) {
    // Nothing here can panic (zeroizing drops); guarded like every entry point all the same.
    let _ = guard(|| {
        if ring.is_null() {
            return Ok(());
        }
        // SAFETY: a live ring per the contract; read its kind before dropping.
        let on_heap = !matches!(unsafe { &(*ring).kind }, RingKind::InPlace(_));
        // SAFETY: a live, initialised ring: dropping it in place zeroizes the
        // keys' active state (a heap ring's snapshot is wiped byte by byte by
        // its own drop). Then every byte of it is zeroed, because the key
        // schedules' inactive halves (the `aes` crate keeps an AES-NI and a
        // software schedule in one union) may hold stale copies of key bytes
        // that no Drop can see. The memory is not used as a ring again.
        unsafe {
            ptr::drop_in_place(ring);
            ptr::write_bytes(ring, 0, 1);
        }
        if on_heap {
            #[cfg(feature = "std")]
            // SAFETY: heap rings come from Box::into_raw in sesame_keyring_new;
            // freed with the same layout, as uninitialised memory (its value
            // was dropped above).
            drop(unsafe {
                std::boxed::Box::from_raw(ring.cast::<core::mem::MaybeUninit<sesame_keyring>>())
            });
        }
        Ok(())
    });
}

/// Sets the random source for sealing. Required in builds without `std`;
/// in `std` builds it replaces the built-in fork-safe OS-seeded generator
/// (pass NULL to go back to it). `user` is passed to every call. On a heap
/// ring, seals already running finish with the source they started with.
///
/// # Safety
/// `ring` is NULL or a live ring; a ring in caller storage is not in use by
/// another thread.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_set_random(
    ring: *mut sesame_keyring,
    random: sesame_random_fn,
    user: *mut c_void,
) -> sesame_result {
    guard(|| {
        let source = random.map(|fill| CallbackRng { fill, user });
        // SAFETY: per this function's contract.
        unsafe {
            change_ring(ring, |state| {
                state.random = source;
                Ok(())
            })
        }
    })
}

/// Adds a raw key of `key_len == SESAME_KEY_BYTES` bytes under `key_id`. The
/// first key of a ring without a primary becomes the primary. The key bytes
/// are copied into the ring's prepared cipher state; the caller's copy is
/// the caller's to wipe.
///
/// # Safety
/// `ring` as for `sesame_keyring_set_random`; `key` is NULL or points to
/// `key_len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_add_key(
    ring: *mut sesame_keyring,
    key_id: u32,
    key: *const u8,
    key_len: usize,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let key = unsafe { input(key, key_len) }?;
        let key: &[u8; SESAME_KEY_BYTES] = key.try_into().map_err(|_| SESAME_INVALID_KEY)?;
        // SAFETY: per this function's contract.
        unsafe { change_ring(ring, |state| Ok(state.ring.add_key(key_id, key)?)) }
    })
}

/// Adds a key derived from a master secret (any non-zero length) with
/// HKDF-SHA256 and a purpose label, as `KeyRing::add_derived_key` does.
///
/// # Safety
/// `ring` as for `sesame_keyring_set_random`; `master` and `purpose` are NULL
/// or point to that many readable bytes (`purpose` may be NULL with length 0).
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_derive_key(
    ring: *mut sesame_keyring,
    key_id: u32,
    master: *const u8,
    master_len: usize,
    purpose: *const u8,
    purpose_len: usize,
) -> sesame_result {
    guard(|| {
        if master.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let (master, purpose) =
            unsafe { (input(master, master_len)?, input(purpose, purpose_len)?) };
        // SAFETY: per this function's contract.
        unsafe {
            change_ring(ring, |state| {
                Ok(state.ring.add_derived_key(key_id, master, purpose)?)
            })
        }
    })
}

/// Makes `key_id` the key that seals.
///
/// # Safety
/// `ring` as for `sesame_keyring_set_random`.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_promote(
    ring: *mut sesame_keyring,
    key_id: u32,
) -> sesame_result {
    // SAFETY: per this function's contract.
    guard(|| unsafe { change_ring(ring, |state| Ok(state.ring.promote(key_id)?)) })
}

/// Removes `key_id` (zeroizing it): tokens sealed under it stop opening.
///
/// # Safety
/// `ring` as for `sesame_keyring_set_random`.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_retire(
    ring: *mut sesame_keyring,
    key_id: u32,
) -> sesame_result {
    // SAFETY: per this function's contract.
    guard(|| unsafe { change_ring(ring, |state| Ok(state.ring.retire(key_id)?)) })
}

/// Writes the primary key's ID to `*key_id_out`, or returns
/// `SESAME_NO_PRIMARY_KEY` (writing nothing).
///
/// # Safety
/// `ring` is NULL or a live ring; `key_id_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_primary_id(
    ring: *const sesame_keyring,
    key_id_out: *mut u32,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let ring = unsafe { ring_ref(ring) }?;
        let id = ring
            .read(|state| state.ring.primary_id())
            .ok_or(SESAME_NO_PRIMARY_KEY)?;
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(key_id_out, id) }
    })
}

/// Writes the number of keys in the ring to `*count_out`.
///
/// # Safety
/// `ring` is NULL or a live ring; `count_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_len(
    ring: *const sesame_keyring,
    count_out: *mut usize,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let ring = unsafe { ring_ref(ring) }?;
        // SAFETY: NULL-checked by write_out.
        unsafe { write_out(count_out, ring.read(|state| state.ring.len())) }
    })
}

/// Writes the IDs of the ring's keys, in ascending order, to `ids_out`
/// (room for `ids_cap` IDs; `SESAME_RING_CAPACITY` always suffices) and
/// their number to `*count_out`. All from one snapshot of the ring. If
/// `ids_cap` is too small, returns `SESAME_BUFFER_TOO_SMALL` and writes
/// nothing.
///
/// # Safety
/// `ring` is NULL or a live ring; `ids_out` is NULL or valid for writing
/// `ids_cap` IDs; `count_out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_key_ids(
    ring: *const sesame_keyring,
    ids_out: *mut u32,
    ids_cap: usize,
    count_out: *mut usize,
) -> sesame_result {
    guard(|| {
        // SAFETY: per this function's contract.
        let ring = unsafe { ring_ref(ring) }?;
        if ids_out.is_null() || count_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        let mut ids = ring.read(|state| {
            state
                .ring
                .key_ids()
                .collect::<heapless::Vec<u32, SESAME_RING_CAPACITY>>()
        });
        ids.sort_unstable();
        if ids_cap < ids.len() {
            return Err(SESAME_BUFFER_TOO_SMALL);
        }
        // SAFETY: `ids_out` has room for `ids_cap >= ids.len()` IDs and
        // cannot overlap `ids`, which lives on sesame's stack.
        unsafe {
            ptr::copy_nonoverlapping(ids.as_ptr(), ids_out, ids.len());
            count_out.write(ids.len());
        }
        Ok(())
    })
}

/// Parses a keyset (its text, `keyset_len` bytes; format in `docs/FORMAT.md`,
/// "Keysets") and replaces every key of the ring with its usable keys, its
/// primary promoted, in one step: on a heap ring, calls running meanwhile see
/// either the old keys or the new ones. On any error the ring is unchanged;
/// an invalid keyset gives `SESAME_INVALID_KEYSET` (call
/// `sesame_keyset_check` for the line and reason). The random source set
/// with `sesame_keyring_set_random` is kept.
///
/// # Safety
/// `ring` as for `sesame_keyring_set_random`; `keyset` is NULL or valid for
/// `keyset_len` bytes.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_keyring_load_keyset(
    ring: *mut sesame_keyring,
    keyset: *const c_char,
    keyset_len: usize,
) -> sesame_result {
    guard(|| {
        if keyset.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        // SAFETY: per this function's contract.
        let text = unsafe { input(keyset.cast(), keyset_len) }?;
        let keys: KeyRing<SESAME_RING_CAPACITY> = parse_keyset(text)
            .map_err(|_| SESAME_INVALID_KEYSET)?
            .build_ring()?;
        // SAFETY: per this function's contract.
        unsafe {
            change_ring(ring, |state| {
                state.ring = keys;
                Ok(())
            })
        }
    })
}

#[cfg(feature = "std")]
fn parse_keyset(text: &[u8]) -> Result<crate::Keyset, std::string::String> {
    use std::string::ToString;
    let text =
        core::str::from_utf8(text).map_err(|_| "invalid keyset: not UTF-8 text".to_string())?;
    crate::Keyset::parse(text).map_err(|error| error.to_string())
}

/// Checks a keyset without loading it. `SESAME_OK` if
/// `sesame_keyring_load_keyset` would accept it; otherwise
/// `SESAME_INVALID_KEYSET`, and then (unlike every other call) an English
/// message naming the line and the reason, never any key material, is
/// written with a NUL to `message_out` (capacity `message_cap`, cut to fit;
/// 256 bytes suffice) and its length without the NUL to `*message_len_out`.
///
/// # Safety
/// `keyset` is NULL or valid for `keyset_len` bytes; `message_out` is NULL
/// or valid for `message_cap` bytes; `message_len_out` is NULL or valid for
/// a write.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn sesame_keyset_check(
    keyset: *const c_char,
    keyset_len: usize,
    message_out: *mut c_char,
    message_cap: usize,
    message_len_out: *mut usize,
) -> sesame_result {
    guard(|| {
        if keyset.is_null() || message_out.is_null() || message_len_out.is_null() {
            return Err(SESAME_NULL_ARGUMENT);
        }
        if message_cap == 0 {
            return Err(SESAME_BUFFER_TOO_SMALL);
        }
        // SAFETY: per this function's contract.
        let text = unsafe { input(keyset.cast(), keyset_len) }?;
        let message = match parse_keyset(text) {
            Ok(_) => return Ok(()),
            Err(message) => message,
        };
        // Cut on a character boundary so the C string stays valid UTF-8.
        let mut len = message.len().min(message_cap - 1);
        while !message.is_char_boundary(len) {
            len -= 1;
        }
        // SAFETY: `message_out` has room for `message_cap > len` bytes and
        // cannot overlap `message`, which sesame owns.
        unsafe {
            ptr::copy_nonoverlapping(message.as_ptr(), message_out.cast::<u8>(), len);
            message_out.add(len).write(0);
            message_len_out.write(len);
        }
        Err(SESAME_INVALID_KEYSET)
    })
}
