//! The memory store: every user's entries in one bounded list, the rules
//! applied in place. `no_std` and allocation-free with a `heapless::Vec`
//! (firmware, tests); [`BoundedVec`] gives it a capacity chosen at run time
//! (`memory://?capacity=N`). One process only: entries die with it.

use super::{rules, Entry, Op, Outcome, RegistryConfig, RegistryError, RegistryStore, Slots};

/// The in-process store over any [`Slots`].
///
/// `MemoryStore<heapless::Vec<Entry, N>>` holds at most `N` entries (live
/// sessions and the tombstones of recently ended ones) without allocating;
/// when full, a login drops expired entries, then the oldest tombstone, and
/// fails with [`RegistryError::Full`] rather than end a live session of
/// another user.
#[derive(Debug, Default)]
pub struct MemoryStore<S> {
    slots: S,
}

impl<const N: usize> MemoryStore<heapless::Vec<Entry, N>> {
    /// An empty store of `N` entries.
    pub const fn new() -> Self {
        MemoryStore {
            slots: heapless::Vec::new(),
        }
    }
}

#[cfg(feature = "std")]
impl MemoryStore<BoundedVec> {
    /// An empty store of at most `capacity` entries, allocated as it fills.
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryStore {
            slots: BoundedVec {
                entries: std::vec::Vec::new(),
                capacity,
            },
        }
    }
}

impl<S: Slots> MemoryStore<S> {
    /// Every entry held, of every user, live and ended.
    pub fn entries(&self) -> &[Entry] {
        self.slots.entries()
    }
}

impl<S: Slots> RegistryStore for MemoryStore<S> {
    fn execute(
        &mut self,
        config: &RegistryConfig,
        op: &Op<'_>,
        now: u64,
        list: &mut [Entry],
    ) -> Result<Outcome, RegistryError> {
        rules::apply(&mut self.slots, config, op, now, list)
    }

    fn prune(&mut self, now: u64) -> Result<usize, RegistryError> {
        Ok(rules::prune_all(&mut self.slots, now))
    }
}

/// A `Vec` of entries with a capacity fixed at run time.
#[cfg(feature = "std")]
#[derive(Debug, Default)]
pub struct BoundedVec {
    entries: std::vec::Vec<Entry>,
    capacity: usize,
}

#[cfg(feature = "std")]
impl Slots for BoundedVec {
    fn entries(&self) -> &[Entry] {
        &self.entries
    }
    fn entries_mut(&mut self) -> &mut [Entry] {
        &mut self.entries
    }
    fn has_room(&self) -> bool {
        self.entries.len() < self.capacity
    }
    fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }
    fn swap_remove(&mut self, index: usize) -> Entry {
        self.entries.swap_remove(index)
    }
}
