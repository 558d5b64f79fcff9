//! Keys with IDs, so keys rotate without logging everyone out.
//!
//! Rotation: add the new key, promote it (new tokens are sealed under it,
//! old ones still open and move to it on refresh), and once the old tokens
//! have aged out, retire the old key (its tokens are then [`Error::UnknownKey`]).

use core::fmt;

use zeroize::Zeroizing;

use crate::crypto::{hkdf_sha256, XaesKey, KEY_BYTES};
use crate::Error;

/// How many keys a ring holds unless told otherwise.
pub const DEFAULT_RING_CAPACITY: usize = 8;

/// HKDF salt of [`KeyRing::add_derived_key`]; part of the format (docs/FORMAT.md).
pub const DERIVE_SALT: &[u8] = b"sesame/v1/key";

/// One key of a ring: its ID and prepared cipher state. Never printed.
#[derive(Clone)]
pub(crate) struct RingKey {
    pub(crate) id: u32,
    pub(crate) cipher: XaesKey,
}

/// A fixed-capacity set of keys, no heap. One primary key seals; every key
/// present opens. Key state is zeroized when a key is retired or the ring dropped.
///
/// Sealing and opening take `&self`, so one ring can serve many threads at
/// once; adding, promoting and retiring take `&mut self`.
#[derive(Clone)]
pub struct KeyRing<const N: usize = DEFAULT_RING_CAPACITY> {
    keys: heapless::Vec<RingKey, N>,
    primary: Option<u32>,
}

impl<const N: usize> Default for KeyRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for KeyRing<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("primary", &self.primary)
            .field(
                "key_ids",
                &self
                    .keys
                    .iter()
                    .map(|k| k.id)
                    .collect::<heapless::Vec<u32, N>>(),
            )
            .finish()
    }
}

impl<const N: usize> KeyRing<N> {
    /// Most keys this ring can hold.
    pub const CAPACITY: usize = N;

    /// An empty ring.
    pub const fn new() -> Self {
        KeyRing {
            keys: heapless::Vec::new(),
            primary: None,
        }
    }

    /// Adds a raw 32-byte key under `id`. A key added to a ring without a
    /// primary becomes the primary. All-zero keys are refused as a sign of
    /// uninitialised memory.
    pub fn add_key(&mut self, id: u32, key: &[u8; KEY_BYTES]) -> Result<(), Error> {
        if key.iter().all(|&b| b == 0) {
            return Err(Error::InvalidKey);
        }
        if self.contains(id) {
            return Err(Error::DuplicateKeyId);
        }
        if self.keys.is_full() {
            return Err(Error::RingFull);
        }
        let entry = RingKey {
            id,
            cipher: XaesKey::new(key),
        };
        if self.keys.push(entry).is_err() {
            return Err(Error::RingFull);
        }
        if self.primary.is_none() {
            self.primary = Some(id);
        }
        Ok(())
    }

    /// Adds a key derived from a master secret of any non-zero length:
    /// HKDF-SHA256 with salt [`DERIVE_SALT`], the master as input key material
    /// and `purpose` (for example `b"session cookie 2026-11"`) as info.
    pub fn add_derived_key(&mut self, id: u32, master: &[u8], purpose: &[u8]) -> Result<(), Error> {
        let key = derive_key(master, purpose)?;
        self.add_key(id, &key)
    }

    /// Makes the key `id` the one that seals.
    pub fn promote(&mut self, id: u32) -> Result<(), Error> {
        if !self.contains(id) {
            return Err(Error::UnknownKey);
        }
        self.primary = Some(id);
        Ok(())
    }

    /// Removes the key `id`: every token sealed under it stops opening. Retiring
    /// the primary leaves the ring without one until another is promoted.
    pub fn retire(&mut self, id: u32) -> Result<(), Error> {
        let index = self
            .keys
            .iter()
            .position(|k| k.id == id)
            .ok_or(Error::UnknownKey)?;
        let last = self.keys.len() - 1;
        self.keys.swap(index, last);
        // Removing by value (pop, swap_remove) would zeroize only the moved-out
        // copy and leave the key in the vector's spare slot. Overwriting the
        // slot drops the key where it lies, which zeroizes it there; the
        // placeholder (an all-zero key, nothing secret) is then popped.
        self.keys[last] = RingKey {
            id,
            cipher: XaesKey::new(&[0u8; KEY_BYTES]),
        };
        drop(self.keys.pop());
        if self.primary == Some(id) {
            self.primary = None;
        }
        Ok(())
    }

    /// Whether a key with this ID is present.
    pub fn contains(&self, id: u32) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// The ID of the key that seals, if any.
    pub fn primary_id(&self) -> Option<u32> {
        self.primary
    }

    /// How many keys the ring holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The IDs of the keys present, in no particular order.
    pub fn key_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    pub(crate) fn key(&self, id: u32) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub(crate) fn primary_key(&self) -> Result<&RingKey, Error> {
        self.primary
            .and_then(|id| self.key(id))
            .ok_or(Error::NoPrimaryKey)
    }
}

/// The key [`KeyRing::add_derived_key`] would add (exposed so other
/// implementations of the format can be checked against it).
pub fn derive_key(master: &[u8], purpose: &[u8]) -> Result<Zeroizing<[u8; KEY_BYTES]>, Error> {
    if master.is_empty() {
        return Err(Error::InvalidKey);
    }
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    hkdf_sha256(DERIVE_SALT, master, purpose, &mut key[..]).map_err(|_| Error::InvalidKey)?;
    Ok(key)
}
