//! The one error type. Codes are part of the stable ABI: C, Ruby and Python
//! map them to their own names, so a code is never renumbered or reused.

use core::fmt;

/// Everything that can go wrong in sesame, with a stable numeric code.
///
/// The core never panics on any input; every failure is one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum Error {
    /// The token text is not a well-formed sesame token (bad base64, bad
    /// length, bad header, or claims that do not decode).
    Malformed = 1,
    /// The token text is longer than [`TOKEN_MAX`](crate::TOKEN_MAX); it was
    /// rejected before any decoding work.
    TooLong = 2,
    /// The token names a format version this library does not know.
    UnsupportedVersion = 3,
    /// No key with the token's key ID is in the ring (never added, or retired).
    UnknownKey = 4,
    /// The token failed authentication: tampered, sealed under another key
    /// with the same ID, or sealed for another binding context.
    AuthFailed = 5,
    /// More time than the idle timeout has passed since the token was refreshed.
    IdleExpired = 6,
    /// The session is older than its absolute lifetime (policy or per-token).
    LifetimeExpired = 7,
    /// The token's timestamps lie further in the future than the leeway allows.
    IssuedInFuture = 8,
    /// The session was issued before a revocation cut-off.
    Revoked = 9,
    /// The output buffer cannot hold the result; nothing was written.
    BufferTooSmall = 10,
    /// The ring has no primary key, so nothing can be sealed.
    NoPrimaryKey = 11,
    /// The ring is at capacity.
    RingFull = 12,
    /// The key material is unusable (wrong length, all zeros, empty master secret).
    InvalidKey = 13,
    /// A key with this ID is already in the ring.
    DuplicateKeyId = 14,
    /// The session data is longer than [`DATA_MAX`](crate::DATA_MAX).
    DataTooLong = 15,
    /// The binding context is longer than [`CONTEXT_MAX`](crate::CONTEXT_MAX).
    ContextTooLong = 16,
    /// The random number generator failed; nothing was sealed.
    RandomFailed = 17,
    /// A keyset text (or an edit of one) is invalid; the keyset module's
    /// `KeysetError` says where and why.
    InvalidKeyset = 18,
    /// A cookie name is not an RFC 6265 token or collides with a
    /// framework's own cookie (the cookie rules refuse it).
    InvalidCookieName = 19,
    /// The session registry's store cannot answer (down, locked, unreadable).
    RegistryUnavailable = 20,
    /// The registry cannot take a write: its memory store is full of live
    /// sessions, or its SQLite file's disk is full.
    RegistryFull = 21,
    /// A registry URL is not understood or names a store this build lacks.
    InvalidRegistryUrl = 22,
}

impl Error {
    /// Every error, in code order (used by the bindings' tables and tests).
    pub const ALL: [Error; 22] = [
        Error::Malformed,
        Error::TooLong,
        Error::UnsupportedVersion,
        Error::UnknownKey,
        Error::AuthFailed,
        Error::IdleExpired,
        Error::LifetimeExpired,
        Error::IssuedInFuture,
        Error::Revoked,
        Error::BufferTooSmall,
        Error::NoPrimaryKey,
        Error::RingFull,
        Error::InvalidKey,
        Error::DuplicateKeyId,
        Error::DataTooLong,
        Error::ContextTooLong,
        Error::RandomFailed,
        Error::InvalidKeyset,
        Error::InvalidCookieName,
        Error::RegistryUnavailable,
        Error::RegistryFull,
        Error::InvalidRegistryUrl,
    ];

    /// The stable numeric code (never 0; 0 means success across the C ABI).
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The error with this code, if there is one.
    pub fn from_code(code: u32) -> Option<Error> {
        Error::ALL.iter().copied().find(|e| e.code() == code)
    }

    /// A short, stable, human-readable description. Never contains secrets.
    pub fn message(self) -> &'static str {
        let text = self.message_with_nul();
        text.strip_suffix('\0').unwrap_or(text)
    }

    /// [`message`](Self::message) with a NUL appended, for the C ABI's
    /// `sesame_strerror`: one table serves every language.
    pub(crate) const fn message_with_nul(self) -> &'static str {
        match self {
            Error::Malformed => "malformed token\0",
            Error::TooLong => "token too long\0",
            Error::UnsupportedVersion => "unsupported token version\0",
            Error::UnknownKey => "unknown key ID\0",
            Error::AuthFailed => {
                "authentication failed (tampered token, wrong key or wrong context)\0"
            }
            Error::IdleExpired => "session idle timeout expired\0",
            Error::LifetimeExpired => "session lifetime expired\0",
            Error::IssuedInFuture => "token issued in the future\0",
            Error::Revoked => "session revoked\0",
            Error::BufferTooSmall => "output buffer too small\0",
            Error::NoPrimaryKey => "key ring has no primary key\0",
            Error::RingFull => "key ring is full\0",
            Error::InvalidKey => "invalid key material\0",
            Error::DuplicateKeyId => "a key with this ID is already in the ring\0",
            Error::DataTooLong => "session data too long\0",
            Error::ContextTooLong => "binding context too long\0",
            Error::RandomFailed => "random number generator failed\0",
            Error::InvalidKeyset => "invalid keyset\0",
            Error::InvalidCookieName => {
                "cookie name is invalid or collides with a framework's own cookie\0"
            }
            Error::RegistryUnavailable => "the session store is unavailable\0",
            Error::RegistryFull => "the session store is full\0",
            Error::InvalidRegistryUrl => "the session store URL is invalid or not built in\0",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_c_message_ends_in_exactly_one_nul() {
        for error in Error::ALL {
            let text = error.message_with_nul();
            assert!(text.ends_with('\0'), "{error:?}");
            assert_eq!(text.matches('\0').count(), 1, "{error:?}");
            assert_eq!(error.message().len() + 1, text.len(), "{error:?}");
        }
    }
}
