//! # sesame
//!
//! Seals a web session (user ID, login time, a random session ID, a little
//! data) into a compact, cookie-safe token with XAES-256-GCM, and opens it
//! again under a validation policy: idle and absolute lifetimes, revocation
//! cut-offs, binding to a context, and keys that rotate by ID.
//!
//! The core is `no_std` and never allocates; the `std` feature (default) adds
//! [`ForkSafeRng`], [`unix_now`], `std::error::Error`, and [`Keyset`]: all of a
//! deployment's keys in one text for a secret manager or an environment
//! variable (docs/FORMAT.md, docs/KEYS.md; edited with the `sesame` command).
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use sesame::{ForkSafeRng, KeyRing, NewSession, Policy};
//!
//! let mut ring: KeyRing = KeyRing::new();
//! ring.add_derived_key(1, b"a long random master secret from the vault", b"session cookie")?;
//!
//! let now = 1_700_000_000;
//! let token = ring.seal_token(&NewSession::new(123_456), b"", now, &mut ForkSafeRng::new())?;
//! assert!(token.len() <= 96);
//!
//! let claims = ring.open(&token, b"", &Policy::default(), now + 60)?;
//! assert_eq!(claims.user_id, 123_456);
//! # }
//! # Ok::<(), sesame::Error>(())
//! ```
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

#[cfg(feature = "std")]
extern crate std;

// Only the ffi module is C's business; cbindgen skips the others.
/// cbindgen:ignore
mod base64url;
/// cbindgen:ignore
mod claims;
/// cbindgen:ignore
mod codec;
/// cbindgen:ignore
pub mod cookies;
/// cbindgen:ignore
mod crypto;
/// cbindgen:ignore
mod error;
pub mod ffi;
/// cbindgen:ignore
pub mod format;
/// cbindgen:ignore
mod keyring;
/// cbindgen:ignore
#[cfg(feature = "std")]
pub mod keyset;
/// cbindgen:ignore
mod policy;
/// cbindgen:ignore
#[cfg(feature = "std")]
mod publish;
/// cbindgen:ignore
#[cfg(feature = "std")]
mod random;
/// cbindgen:ignore
pub mod registry;
/// cbindgen:ignore
#[cfg(feature = "std")]
mod shared_ring;

pub use claims::{Claims, SessionId, SessionKind, DATA_MAX, SESSION_ID_BYTES};
pub use codec::{NewSession, Token, CONTEXT_MAX};
pub use crypto::{KEY_BYTES, NONCE_BYTES, TAG_BYTES};
pub use error::Error;
pub use format::{token_key_id, TOKEN_MAX, VERSION};
pub use keyring::{derive_key, KeyRing, DEFAULT_RING_CAPACITY, DERIVE_SALT};
#[cfg(feature = "std")]
pub use keyset::{Keyset, KeysetError, KeysetErrorKind};
pub use policy::Policy;
#[cfg(feature = "std")]
pub use random::ForkSafeRng;
pub use registry::{
    Entry as RegistryEntry, Fingerprint, Registry, RegistryConfig, RegistryError, RegistryStore,
    Verdict,
};
#[cfg(feature = "std")]
pub use shared_ring::SharedKeyRing;

/// Re-exported so `no_std` callers name the same traits seal takes.
pub use rand_core;

/// The low-level primitives, exposed for test vectors and benchmarks (the
/// "floor" a token is measured against). Not needed to use sesame.
pub mod primitives {
    pub use crate::crypto::{hkdf_sha256, AeadFailure, HkdfOutputTooLong, XaesKey};
}

/// Seconds since the Unix epoch from the system clock (0 if the clock is
/// before 1970).
#[cfg(feature = "std")]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
