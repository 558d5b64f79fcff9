//! A key ring that any mix of threads seals and opens with while others add,
//! promote and retire keys: every operation runs on an immutable snapshot,
//! and a key change publishes a new one (see `publish`). Sealing and opening
//! never block; key changes wait for each other and for the readers of the
//! snapshot they replace, which is then zeroized.

use core::fmt;

use rand_core::CryptoRngCore;
use std::vec::Vec;

use crate::publish::Published;
use crate::{Claims, Error, KeyRing, NewSession, Policy, Token, DEFAULT_RING_CAPACITY, KEY_BYTES};

/// A thread-safe [`KeyRing`] for servers: share it by reference or `Arc`,
/// no lock needed around any method.
///
/// ```
/// use std::sync::Arc;
/// use sesame::{ForkSafeRng, NewSession, Policy, SharedKeyRing};
///
/// let ring = Arc::new(SharedKeyRing::<8>::new());
/// ring.add_derived_key(1, b"master secret from the vault", b"session cookie")?;
/// let worker = {
///     let ring = Arc::clone(&ring);
///     std::thread::spawn(move || {
///         ring.seal_token(&NewSession::new(7), b"", 1_700_000_000, &mut ForkSafeRng::new())
///     })
/// };
/// ring.add_derived_key(2, b"master secret from the vault", b"session cookie 2")?;
/// ring.promote(2)?;
/// let token = worker.join().unwrap()?;
/// assert_eq!(ring.open(&token, b"", &Policy::default(), 1_700_000_000)?.user_id, 7);
/// # Ok::<(), sesame::Error>(())
/// ```
pub struct SharedKeyRing<const N: usize = DEFAULT_RING_CAPACITY> {
    published: Published<KeyRing<N>>,
}

impl<const N: usize> Default for SharedKeyRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> From<KeyRing<N>> for SharedKeyRing<N> {
    fn from(ring: KeyRing<N>) -> Self {
        SharedKeyRing {
            published: Published::new(ring),
        }
    }
}

impl<const N: usize> fmt::Debug for SharedKeyRing<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.published.read(|ring| ring.fmt(f))
    }
}

impl<const N: usize> SharedKeyRing<N> {
    /// An empty ring.
    pub fn new() -> Self {
        KeyRing::new().into()
    }

    /// Applies several changes as one: readers see the ring before all of
    /// them or after all of them. If `change` fails, nothing changes (the
    /// copy it worked on is zeroized).
    pub fn change(
        &self,
        change: impl FnOnce(&mut KeyRing<N>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.published.update(|current| {
            let mut next = current.clone();
            change(&mut next)?;
            Ok(next)
        })
    }

    /// Replaces every key at once (for example with a reloaded keyset).
    pub fn replace(&self, ring: KeyRing<N>) {
        let published: Result<(), core::convert::Infallible> = self.published.update(|_| Ok(ring));
        let Ok(()) = published;
    }

    /// Parses a keyset (`docs/FORMAT.md`, "Keysets") and replaces every key
    /// with its usable keys and primary in one step; on any error nothing
    /// changes ([`Keyset::parse`](crate::Keyset::parse) gives the details).
    pub fn load_keyset(&self, text: &str) -> Result<(), Error> {
        self.replace(crate::Keyset::parse(text)?.build_ring()?);
        Ok(())
    }

    /// Runs `body` on the ring as it is now. A key change made meanwhile
    /// neither waits for `body` to start nor alters what it sees; only the
    /// zeroizing of the snapshot it replaced waits for `body` to return.
    pub fn with_ring<R>(&self, body: impl FnOnce(&KeyRing<N>) -> R) -> R {
        self.published.read(body)
    }

    /// [`KeyRing::add_key`].
    pub fn add_key(&self, id: u32, key: &[u8; KEY_BYTES]) -> Result<(), Error> {
        self.change(|ring| ring.add_key(id, key))
    }

    /// [`KeyRing::add_derived_key`].
    pub fn add_derived_key(&self, id: u32, master: &[u8], purpose: &[u8]) -> Result<(), Error> {
        self.change(|ring| ring.add_derived_key(id, master, purpose))
    }

    /// [`KeyRing::promote`].
    pub fn promote(&self, id: u32) -> Result<(), Error> {
        self.change(|ring| ring.promote(id))
    }

    /// [`KeyRing::retire`].
    pub fn retire(&self, id: u32) -> Result<(), Error> {
        self.change(|ring| ring.retire(id))
    }

    /// [`KeyRing::contains`].
    pub fn contains(&self, id: u32) -> bool {
        self.with_ring(|ring| ring.contains(id))
    }

    /// [`KeyRing::primary_id`].
    pub fn primary_id(&self) -> Option<u32> {
        self.with_ring(KeyRing::primary_id)
    }

    /// The IDs of the keys present, in ascending order.
    pub fn key_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.with_ring(|ring| ring.key_ids().collect());
        ids.sort_unstable();
        ids
    }

    /// [`KeyRing::len`].
    pub fn len(&self) -> usize {
        self.with_ring(KeyRing::len)
    }

    /// [`KeyRing::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.with_ring(KeyRing::is_empty)
    }

    /// [`KeyRing::seal`].
    pub fn seal<R: CryptoRngCore + ?Sized>(
        &self,
        session: &NewSession<'_>,
        context: &[u8],
        now: u64,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.with_ring(|ring| ring.seal(session, context, now, rng, out))
    }

    /// [`KeyRing::seal_token`].
    pub fn seal_token<R: CryptoRngCore + ?Sized>(
        &self,
        session: &NewSession<'_>,
        context: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Token, Error> {
        self.with_ring(|ring| ring.seal_token(session, context, now, rng))
    }

    /// [`KeyRing::open`].
    pub fn open(
        &self,
        token: impl AsRef<[u8]>,
        context: &[u8],
        policy: &Policy,
        now: u64,
    ) -> Result<Claims, Error> {
        self.with_ring(|ring| ring.open(token, context, policy, now))
    }

    /// [`KeyRing::refresh`]: opened and resealed under one snapshot, so a
    /// key change in between cannot split the two.
    pub fn refresh<R: CryptoRngCore + ?Sized>(
        &self,
        token: impl AsRef<[u8]>,
        context: &[u8],
        policy: &Policy,
        now: u64,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(Claims, usize), Error> {
        self.with_ring(|ring| ring.refresh(token, context, policy, now, rng, out))
    }

    /// [`KeyRing::refresh_token`].
    pub fn refresh_token<R: CryptoRngCore + ?Sized>(
        &self,
        token: impl AsRef<[u8]>,
        context: &[u8],
        policy: &Policy,
        now: u64,
        rng: &mut R,
    ) -> Result<(Claims, Token), Error> {
        self.with_ring(|ring| ring.refresh_token(token, context, policy, now, rng))
    }
}
