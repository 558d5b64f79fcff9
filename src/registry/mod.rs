//! The server-side session registry (docs/REGISTRY.md): a per-user list of
//! active sessions, revoke one / all / all but the current one, a per-user
//! cap that evicts the oldest session, last-seen times, and detection of a
//! stolen token that is used after its successor.
//!
//! The rules live once, in [`rules`](crate::registry::rules); a
//! [`RegistryStore`](crate::registry::RegistryStore) only keeps the entries.
//! The memory store ([`MemoryStore`](crate::registry::MemoryStore)) applies
//! the rules in process and is `no_std` and allocation-free; the SQLite store
//! (feature `registry-sqlite`) applies them inside one SQLite transaction;
//! the Redis store (feature `registry-redis`) runs the same rules as one Lua
//! script per operation, and one test suite (tests/registry.rs) holds all
//! three to the same answers.
//!
//! Everything that crosses the store boundary is plain data
//! ([`Op`](crate::registry::Op), [`Outcome`](crate::registry::Outcome),
//! [`Entry`](crate::registry::Entry), [`Verdict`](crate::registry::Verdict),
//! [`RegistryError`](crate::registry::RegistryError)), so the C ABI can carry
//! it later without callbacks.
//!
//! ```
//! use sesame::registry::{Fingerprint, Login, MemoryStore, Registry, RegistryConfig, SessionKind, Verdict};
//!
//! // No allocation: at most 64 entries (live sessions and recent tombstones).
//! let store = MemoryStore::<heapless::Vec<sesame::RegistryEntry, 64>>::new();
//! let mut registry = Registry::new(store, RegistryConfig::DEFAULT);
//! let (user, session, now) = (42, [7u8; 16], 1_700_000_000);
//! let (first, second) = (Fingerprint([1; 16]), Fingerprint([2; 16]));
//! let login = Login { user_id: user, session_id: session, kind: SessionKind::Browser,
//!                     fingerprint: first, device: "Firefox", ip: "203.0.113.7" };
//! registry.register(&login, now)?;
//! assert_eq!(registry.check(user, &session, &first, now + 1)?, Verdict::Live);
//! assert_eq!(registry.refresh(user, &session, &first, &second, now + 900)?, Verdict::Live);
//! assert_eq!(registry.check(user, &session, &second, now + 901)?, Verdict::Live);
//! // The old token again after the grace period: two parties hold the session.
//! assert_eq!(registry.check(user, &session, &first, now + 960)?, Verdict::TheftDetected);
//! assert_eq!(registry.check(user, &session, &second, now + 961)?, Verdict::Revoked);
//! # Ok::<(), sesame::registry::RegistryError>(())
//! ```

use crate::{Policy, SessionId};
use core::fmt;
use sha2::{Digest, Sha256};

mod memory;
#[cfg(feature = "registry-redis")]
mod redis;
pub mod rules;
#[cfg(feature = "registry-sqlite")]
mod sqlite;
#[cfg(feature = "std")]
mod url;

#[cfg(feature = "std")]
pub use memory::BoundedVec;
pub use memory::MemoryStore;
#[cfg(feature = "registry-redis")]
pub use redis::RedisStore;
pub use rules::Slots;
#[cfg(feature = "registry-sqlite")]
pub use sqlite::SqliteStore;
#[cfg(feature = "std")]
pub use url::open_store;

/// Longest device label kept (for example a user agent), in bytes. Longer
/// labels are cut at a character boundary.
pub const DEVICE_MAX: usize = 128;
/// Longest IP address text kept, in bytes (an IPv6 address with an embedded
/// IPv4 address is 45).
pub const IP_MAX: usize = 45;
/// Length of a token [`Fingerprint`].
pub const FINGERPRINT_BYTES: usize = 16;

/// Identifies one token (not one session: every refresh makes a new token
/// with a new fingerprint). The first 16 bytes of SHA-256 over a domain
/// label and the whole binary token; computed without any key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; FINGERPRINT_BYTES]);

impl Fingerprint {
    /// Fingerprint of token text. Only the checks that need no key are made
    /// (base64, length, header): call it on a token that has been opened.
    pub fn of_token(text: impl AsRef<[u8]>) -> Result<Fingerprint, crate::Error> {
        let mut binary = [0u8; crate::format::BINARY_MAX];
        let (_, binary) = crate::format::decode_token(text.as_ref(), &mut binary)?;
        let mut hash = Sha256::new();
        hash.update(b"sesame registry fingerprint v1\0");
        hash.update(&*binary);
        let digest = hash.finalize();
        let mut out = [0u8; FINGERPRINT_BYTES];
        out.copy_from_slice(&digest[..FINGERPRINT_BYTES]);
        Ok(Fingerprint(out))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

pub use crate::claims::SessionKind;

/// Why an entry was ended; kept while its tombstone lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EndReason {
    /// `revoke`, `revoke_all` or `revoke_others`.
    Revoked = 1,
    /// `logout` by the session's own token.
    Logout = 2,
    /// Evicted by a newer login over the per-user cap.
    Evicted = 3,
    /// A superseded token was used after its successor: theft.
    Theft = 4,
}

impl EndReason {
    /// The reason with this stable code.
    pub fn from_code(code: u8) -> Option<EndReason> {
        match code {
            1 => Some(EndReason::Revoked),
            2 => Some(EndReason::Logout),
            3 => Some(EndReason::Evicted),
            4 => Some(EndReason::Theft),
            _ => None,
        }
    }
}

/// The idle and absolute limits of one kind of session, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// An entry expires this long after it was last seen.
    pub idle_timeout: u64,
    /// An entry expires this long after login, however often it was seen.
    pub absolute_lifetime: u64,
}

/// How long an entry lives at most when the policy sets no absolute
/// lifetime for its kind (400 days, the longest a browser keeps a cookie).
pub const ENTRY_LIFETIME_CAP: u64 = 400 * 24 * 60 * 60;

/// The registry's rules, the same for every store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Limits of [`SessionKind::Browser`] entries.
    pub browser: Limits,
    /// Limits of [`SessionKind::RememberMe`] entries.
    pub remember_me: Limits,
    /// Most live sessions per user; a login over it ends the oldest. 0: no cap.
    pub max_sessions: u32,
    /// How long a superseded token is still accepted after the refresh that
    /// replaced it (parallel requests racing the refresh).
    pub grace: u64,
    /// `check` writes last-seen at most once per this many seconds.
    pub touch_interval: u64,
    /// How long an ended session is remembered as [`Verdict::Revoked`]
    /// (after that: [`Verdict::Unknown`], which denies as well). Keep it at
    /// least the policy's `refresh_after` in check-on-refresh mode.
    pub tombstone_ttl: u64,
}

impl RegistryConfig {
    /// Each kind's limits as [`with_policy`](Self::with_policy) takes them
    /// from [`Policy::DEFAULT`]: browser idle 24 h, absolute 14 days;
    /// remember me idle 30 days, absolute 30 days; 10 sessions per user;
    /// 30 s grace; last-seen written at most once a minute; ended sessions
    /// remembered 1 h.
    pub const DEFAULT: RegistryConfig = RegistryConfig {
        browser: Limits {
            idle_timeout: 24 * 60 * 60,
            absolute_lifetime: 14 * 24 * 60 * 60,
        },
        remember_me: Limits {
            idle_timeout: 30 * 24 * 60 * 60,
            absolute_lifetime: 30 * 24 * 60 * 60,
        },
        max_sessions: 10,
        grace: 30,
        touch_interval: 60,
        tombstone_ttl: 60 * 60,
    };

    /// The same rules with each kind's limits taken from `policy`, so an
    /// entry lives exactly as long as its token can: use the middleware's
    /// policy here. A limit the policy leaves open is bounded anyway, since
    /// the store must not grow without bound: a missing idle timeout
    /// becomes the absolute lifetime, a missing absolute lifetime
    /// [`ENTRY_LIFETIME_CAP`].
    pub fn with_policy(mut self, policy: &Policy) -> Self {
        let limits = |(idle, absolute): (Option<u64>, Option<u64>)| {
            let absolute_lifetime = absolute.unwrap_or(ENTRY_LIFETIME_CAP);
            Limits {
                idle_timeout: idle.unwrap_or(absolute_lifetime).min(absolute_lifetime),
                absolute_lifetime,
            }
        };
        self.browser = limits(policy.limits(SessionKind::Browser));
        self.remember_me = limits(policy.limits(SessionKind::RememberMe));
        self
    }

    /// The limits of one kind.
    pub fn limits(&self, kind: SessionKind) -> Limits {
        match kind {
            SessionKind::Browser => self.browser,
            SessionKind::RememberMe => self.remember_me,
        }
    }

    /// When an entry of `kind` created at `created_at` and last seen at
    /// `last_seen_at` expires: the earlier of its two limits.
    pub fn expires_at(&self, kind: SessionKind, created_at: u64, last_seen_at: u64) -> u64 {
        let l = self.limits(kind);
        created_at
            .saturating_add(l.absolute_lifetime)
            .min(last_seen_at.saturating_add(l.idle_timeout))
    }
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig::DEFAULT
    }
}

/// A bounded text label (device or IP); see [`label`].
pub type Label<const N: usize> = heapless::String<N>;

/// `text` cut to at most `N` bytes at a character boundary.
pub fn label<const N: usize>(text: &str) -> Label<N> {
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = Label::new();
    // Cannot fail: `end <= N`.
    let _ = out.push_str(&text[..end]);
    out
}

/// One session in the registry.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Entry {
    pub user_id: u64,
    pub session_id: SessionId,
    pub kind: SessionKind,
    /// Login time.
    pub created_at: u64,
    /// Last check or refresh that wrote (bounded by `touch_interval`).
    pub last_seen_at: u64,
    /// The entry is dropped from this second on: the earlier of the kind's
    /// idle and absolute limits, or the end of an ended entry's tombstone.
    pub expires_at: u64,
    pub device: Label<DEVICE_MAX>,
    pub ip: Label<IP_MAX>,
    /// The current token.
    pub fingerprint: Fingerprint,
    /// Whether the current token has been presented since it was issued.
    pub fingerprint_seen: bool,
    /// The token the current one replaced, accepted during the grace period
    /// or while the current token has not been seen.
    pub previous: Option<Fingerprint>,
    /// When the current token was issued (login or refresh).
    pub rotated_at: u64,
    /// Set when the session was ended: the entry is a tombstone.
    pub ended: Option<EndReason>,
    /// When it was ended (0 while live).
    pub ended_at: u64,
}

impl Entry {
    /// Whether the session is live (not ended).
    pub fn is_live(&self) -> bool {
        self.ended.is_none()
    }
}

/// What a login registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Login<'a> {
    pub user_id: u64,
    pub session_id: SessionId,
    pub kind: SessionKind,
    /// The login token's fingerprint.
    pub fingerprint: Fingerprint,
    /// Cut to [`DEVICE_MAX`] bytes.
    pub device: &'a str,
    /// Cut to [`IP_MAX`] bytes.
    pub ip: &'a str,
}

/// One registry operation: plain data, as the C ABI will carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    Register(Login<'a>),
    Check {
        user_id: u64,
        session_id: SessionId,
        fingerprint: Fingerprint,
    },
    /// Read-only: is the session live? No fingerprint, never writes.
    Peek {
        user_id: u64,
        session_id: SessionId,
    },
    Refresh {
        user_id: u64,
        session_id: SessionId,
        old: Fingerprint,
        new: Fingerprint,
    },
    List {
        user_id: u64,
    },
    Revoke {
        user_id: u64,
        session_id: SessionId,
    },
    RevokeAll {
        user_id: u64,
    },
    RevokeOthers {
        user_id: u64,
        keep: SessionId,
    },
    Logout {
        user_id: u64,
        session_id: SessionId,
        fingerprint: Fingerprint,
    },
}

impl Op<'_> {
    /// The user the operation is about (every operation is about one user).
    pub fn user_id(&self) -> u64 {
        match *self {
            Op::Register(l) => l.user_id,
            Op::Check { user_id, .. }
            | Op::Peek { user_id, .. }
            | Op::Refresh { user_id, .. }
            | Op::List { user_id }
            | Op::Revoke { user_id, .. }
            | Op::RevokeAll { user_id }
            | Op::RevokeOthers { user_id, .. }
            | Op::Logout { user_id, .. } => user_id,
        }
    }

    /// Whether the operation never writes (so a store may run it without a
    /// write lock).
    pub fn is_read_only(&self) -> bool {
        matches!(self, Op::Peek { .. } | Op::List { .. })
    }
}

/// The registry's answer about one token. Stable codes for the C ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verdict {
    /// The token is the session's current one (`refresh`: the new token is
    /// now current: send it).
    Live = 0,
    /// The token was superseded moments ago (a request racing a refresh)
    /// and is still accepted. Serve the request; `refresh` did not rotate:
    /// do not send the new token, the browser has (or gets) the successor.
    Grace = 1,
    /// The session was ended (revoke, logout, eviction, theft).
    Revoked = 2,
    /// No such session: never registered, expired, or ended long ago. Deny.
    Unknown = 3,
    /// A superseded token was used after its successor: two parties hold
    /// the session. It has been revoked; report the event. Deny.
    TheftDetected = 4,
}

impl Verdict {
    /// Whether the request may be served under this verdict.
    pub fn admits(self) -> bool {
        matches!(self, Verdict::Live | Verdict::Grace)
    }

    /// The verdict with this stable code.
    pub fn from_code(code: u8) -> Option<Verdict> {
        match code {
            0 => Some(Verdict::Live),
            1 => Some(Verdict::Grace),
            2 => Some(Verdict::Revoked),
            3 => Some(Verdict::Unknown),
            4 => Some(Verdict::TheftDetected),
            _ => None,
        }
    }
}

/// What an operation did: a verdict and a count (sessions evicted by a
/// login, ended by a revoke, or live for a list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub count: u32,
}

/// Why a store could not answer. Stable codes, to become `sesame::Error`
/// codes when the C ABI carries the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum RegistryError {
    /// The store cannot be reached or failed (connection, I/O).
    Unavailable = 1,
    /// The store cannot take a write: the memory store is full of live
    /// sessions, or the SQLite file's disk is full.
    Full = 2,
    /// The store holds data this version cannot read.
    Corrupt = 3,
    /// The store URL is not understood.
    InvalidUrl = 4,
    /// The URL names a store this build does not include (feature off).
    Unsupported = 5,
    /// The store stayed locked past its busy timeout.
    Busy = 6,
}

impl RegistryError {
    /// The stable numeric code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// A short English description.
    pub fn message(self) -> &'static str {
        match self {
            RegistryError::Unavailable => "the session store is unavailable",
            RegistryError::Full => "the session store is full",
            RegistryError::Corrupt => "the session store holds unreadable data",
            RegistryError::InvalidUrl => "the session store URL is invalid",
            RegistryError::Unsupported => "this build does not include that session store",
            RegistryError::Busy => "the session store stayed locked past its timeout",
        }
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RegistryError {}

/// Keeps the entries and applies the rules of [`rules`] to one operation
/// atomically (every operation is about one user).
pub trait RegistryStore {
    /// Runs `op` at time `now`. For [`Op::List`], the newest live entries
    /// are written to the start of `list` (as many as fit) and the outcome's
    /// count is how many are live; other operations leave `list` alone.
    fn execute(
        &mut self,
        config: &RegistryConfig,
        op: &Op<'_>,
        now: u64,
        list: &mut [Entry],
    ) -> Result<Outcome, RegistryError>;

    /// Drops every expired entry of every user; returns how many (stores
    /// that expire by themselves, like Redis, may return 0). Every
    /// operation already prunes its own user's entries.
    fn prune(&mut self, now: u64) -> Result<usize, RegistryError>;
}

impl<S: RegistryStore + ?Sized> RegistryStore for &mut S {
    fn execute(
        &mut self,
        config: &RegistryConfig,
        op: &Op<'_>,
        now: u64,
        list: &mut [Entry],
    ) -> Result<Outcome, RegistryError> {
        (**self).execute(config, op, now, list)
    }
    fn prune(&mut self, now: u64) -> Result<usize, RegistryError> {
        (**self).prune(now)
    }
}

#[cfg(feature = "std")]
impl<S: RegistryStore + ?Sized> RegistryStore for std::boxed::Box<S> {
    fn execute(
        &mut self,
        config: &RegistryConfig,
        op: &Op<'_>,
        now: u64,
        list: &mut [Entry],
    ) -> Result<Outcome, RegistryError> {
        (**self).execute(config, op, now, list)
    }
    fn prune(&mut self, now: u64) -> Result<usize, RegistryError> {
        (**self).prune(now)
    }
}

/// What to do with a request when the store cannot answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnStoreError {
    /// Deny it (fail closed): a revoked session is never served.
    #[default]
    Deny,
    /// Serve it on the token alone (fail open): the site stays up while the
    /// store is down, and revocations wait for it.
    Allow,
}

/// A store and the rules' settings: the typed face of [`RegistryStore`].
#[derive(Debug)]
pub struct Registry<S> {
    store: S,
    config: RegistryConfig,
    on_store_error: OnStoreError,
}

impl<S: RegistryStore> Registry<S> {
    /// A registry over `store`, failing closed.
    pub fn new(store: S, config: RegistryConfig) -> Self {
        Registry {
            store,
            config,
            on_store_error: OnStoreError::Deny,
        }
    }

    /// Sets what [`Registry::admits`] does when the store failed.
    pub fn with_on_store_error(mut self, on_store_error: OnStoreError) -> Self {
        self.on_store_error = on_store_error;
        self
    }

    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    fn run(&mut self, op: Op<'_>, now: u64) -> Result<Outcome, RegistryError> {
        self.store.execute(&self.config, &op, now, &mut [])
    }

    /// Whether a request may be served after a check or refresh that
    /// returned `result`: live or in grace, and on a store error as
    /// configured (deny by default).
    pub fn admits(&self, result: &Result<Verdict, RegistryError>) -> bool {
        match result {
            Ok(v) => v.admits(),
            Err(_) => self.on_store_error == OnStoreError::Allow,
        }
    }

    /// Records a login; returns how many older sessions the cap ended.
    pub fn register(&mut self, login: &Login<'_>, now: u64) -> Result<u32, RegistryError> {
        self.run(Op::Register(*login), now).map(|o| o.count)
    }

    /// Judges a presented token (check-every-request mode, or on refresh).
    pub fn check(
        &mut self,
        user_id: u64,
        session_id: &SessionId,
        fingerprint: &Fingerprint,
        now: u64,
    ) -> Result<Verdict, RegistryError> {
        let op = Op::Check {
            user_id,
            session_id: *session_id,
            fingerprint: *fingerprint,
        };
        self.run(op, now).map(|o| o.verdict)
    }

    /// Read-only: [`Verdict::Live`], [`Verdict::Revoked`] or
    /// [`Verdict::Unknown`]; the cheap per-request check that makes logout
    /// and revocation final in check-on-refresh mode.
    pub fn peek(
        &mut self,
        user_id: u64,
        session_id: &SessionId,
        now: u64,
    ) -> Result<Verdict, RegistryError> {
        let op = Op::Peek {
            user_id,
            session_id: *session_id,
        };
        self.run(op, now).map(|o| o.verdict)
    }

    /// Records that the token `old` was refreshed into `new`.
    /// [`Verdict::Live`]: `new` is current, send it. [`Verdict::Grace`]:
    /// another request already refreshed `old`; serve, but do not send `new`.
    /// Anything else: deny.
    pub fn refresh(
        &mut self,
        user_id: u64,
        session_id: &SessionId,
        old: &Fingerprint,
        new: &Fingerprint,
        now: u64,
    ) -> Result<Verdict, RegistryError> {
        let op = Op::Refresh {
            user_id,
            session_id: *session_id,
            old: *old,
            new: *new,
        };
        self.run(op, now).map(|o| o.verdict)
    }

    /// The user's live sessions, newest first, into `out`; returns how many
    /// are live (more than `out.len()` means some were left out).
    pub fn list(
        &mut self,
        user_id: u64,
        now: u64,
        out: &mut [Entry],
    ) -> Result<usize, RegistryError> {
        self.store
            .execute(&self.config, &Op::List { user_id }, now, out)
            .map(|o| o.count as usize)
    }

    /// The user's live sessions, newest first (at most `max_sessions`, or
    /// 64 without a cap).
    #[cfg(feature = "std")]
    pub fn list_vec(
        &mut self,
        user_id: u64,
        now: u64,
    ) -> Result<std::vec::Vec<Entry>, RegistryError> {
        let room = match self.config.max_sessions {
            0 => 64,
            n => n as usize,
        };
        let mut out = std::vec![Entry::default(); room];
        let n = self.list(user_id, now, &mut out)?;
        out.truncate(n.min(room));
        Ok(out)
    }

    /// Ends one session; true if it was live.
    pub fn revoke(
        &mut self,
        user_id: u64,
        session_id: &SessionId,
        now: u64,
    ) -> Result<bool, RegistryError> {
        let op = Op::Revoke {
            user_id,
            session_id: *session_id,
        };
        self.run(op, now).map(|o| o.count > 0)
    }

    /// Ends every session of the user; returns how many were live.
    pub fn revoke_all(&mut self, user_id: u64, now: u64) -> Result<u32, RegistryError> {
        self.run(Op::RevokeAll { user_id }, now).map(|o| o.count)
    }

    /// Ends every session of the user but `keep`; returns how many.
    pub fn revoke_others(
        &mut self,
        user_id: u64,
        keep: &SessionId,
        now: u64,
    ) -> Result<u32, RegistryError> {
        let op = Op::RevokeOthers {
            user_id,
            keep: *keep,
        };
        self.run(op, now).map(|o| o.count)
    }

    /// Ends the session the token belongs to. [`Verdict::Revoked`]: ended
    /// now or before; [`Verdict::TheftDetected`]: the token was a superseded
    /// one (the session is ended all the same); [`Verdict::Unknown`]: no
    /// such session.
    pub fn logout(
        &mut self,
        user_id: u64,
        session_id: &SessionId,
        fingerprint: &Fingerprint,
        now: u64,
    ) -> Result<Verdict, RegistryError> {
        let op = Op::Logout {
            user_id,
            session_id: *session_id,
            fingerprint: *fingerprint,
        };
        self.run(op, now).map(|o| o.verdict)
    }

    /// Drops every expired entry of every user.
    pub fn prune(&mut self, now: u64) -> Result<usize, RegistryError> {
        self.store.prune(now)
    }
}

#[cfg(feature = "std")]
impl Registry<std::boxed::Box<dyn RegistryStore + Send>> {
    /// A registry over the store a URL names (see [`open_store`]).
    pub fn open(url: &str, config: RegistryConfig) -> Result<Self, RegistryError> {
        Ok(Registry::new(open_store(url)?, config))
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn default_limits_are_the_default_policy_s() {
        let from_policy = RegistryConfig::DEFAULT.with_policy(&Policy::DEFAULT);
        assert_eq!(from_policy, RegistryConfig::DEFAULT);
    }

    #[test]
    fn limits_follow_the_policy_and_stay_bounded() {
        let policy = Policy {
            idle_timeout: Some(600),
            absolute_lifetime: None,
            remember_me_idle_timeout: Some(200 * 86_400),
            remember_me_absolute_lifetime: Some(90 * 86_400),
            ..Policy::DEFAULT
        };
        let config = RegistryConfig::DEFAULT.with_policy(&policy);
        assert_eq!(
            config.browser,
            Limits {
                idle_timeout: 600,
                absolute_lifetime: ENTRY_LIFETIME_CAP
            }
        );
        assert_eq!(
            config.remember_me,
            Limits {
                idle_timeout: 90 * 86_400,
                absolute_lifetime: 90 * 86_400
            }
        );
        assert_eq!(config.max_sessions, RegistryConfig::DEFAULT.max_sessions);
        assert_eq!(
            config.expires_at(SessionKind::RememberMe, 100, 100),
            100 + 90 * 86_400
        );
    }
}
