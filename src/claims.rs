//! What a token says about a session, and its postcard encoding (the plaintext).

use serde::{Deserialize, Serialize};

use crate::Error;

/// Length of the random session ID that seal draws for every new session.
pub const SESSION_ID_BYTES: usize = 16;

/// Most bytes of opaque application data a token may carry.
pub const DATA_MAX: usize = 128;

/// Longest plaintext: postcard varints at their widest (u64: 10 bytes), the
/// session ID, an `Option<u64>` and the data with its two-byte length.
pub const CLAIMS_MAX: usize = 10 + SESSION_ID_BYTES + 10 + 10 + (1 + 10) + 2 + DATA_MAX;

/// Shortest plaintext: every varint one byte, no lifetime, no data.
pub const CLAIMS_MIN: usize = 1 + SESSION_ID_BYTES + 1 + 1 + 1 + 1;

/// A random, unguessable identifier for one login. It survives refreshes, so
/// a server can revoke exactly one session by listing its ID.
pub type SessionId = [u8; SESSION_ID_BYTES];

/// The claims of an opened token. All times are unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub user_id: u64,
    pub session_id: SessionId,
    /// When the user logged in; kept across refreshes.
    pub issued_at: u64,
    /// When the token was last sealed or refreshed; never before `issued_at`.
    pub refreshed_at: u64,
    /// The token's own absolute lifetime in seconds from `issued_at`, chosen
    /// at seal ("remember me" or not). The policy's lifetime still caps it.
    pub lifetime: Option<u64>,
    /// Opaque application data, at most [`DATA_MAX`] bytes.
    pub data: heapless::Vec<u8, DATA_MAX>,
}

impl Claims {
    /// When this token stops opening regardless of policy, if it has a lifetime.
    pub fn expires_at(&self) -> Option<u64> {
        self.lifetime.map(|l| self.issued_at.saturating_add(l))
    }

    /// Applies a revocation cut-off from the caller's store (for example the
    /// user's "log out my other sessions" time): sessions issued strictly
    /// before `cutoff` are [`Error::Revoked`]. A cut-off of 0 revokes nothing.
    pub fn check_revoked_before(&self, cutoff: u64) -> Result<(), Error> {
        if self.issued_at < cutoff {
            Err(Error::Revoked)
        } else {
            Ok(())
        }
    }
}

/// The plaintext as postcard sees it. `refreshed_at` travels as its distance
/// from `issued_at`, which is shorter and cannot describe an impossible order.
#[derive(Serialize, Deserialize)]
struct WireClaims<'a> {
    user_id: u64,
    session_id: SessionId,
    issued_at: u64,
    refreshed_after: u64,
    lifetime: Option<u64>,
    data: &'a [u8],
}

/// Writes the postcard plaintext of the given claims into `out`.
pub(crate) fn encode(
    user_id: u64,
    session_id: &SessionId,
    issued_at: u64,
    refreshed_at: u64,
    lifetime: Option<u64>,
    data: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    if data.len() > DATA_MAX {
        return Err(Error::DataTooLong);
    }
    let wire = WireClaims {
        user_id,
        session_id: *session_id,
        issued_at,
        refreshed_after: refreshed_at.saturating_sub(issued_at),
        lifetime,
        data,
    };
    // Cannot fail when `out` holds CLAIMS_MAX bytes, the largest encoding of
    // any WireClaims with data of at most DATA_MAX bytes.
    postcard::to_slice(&wire, out)
        .map(|written| written.len())
        .map_err(|_| Error::BufferTooSmall)
}

/// Reads claims from an authenticated plaintext. Trailing bytes are refused so
/// that one set of claims has one encoding.
pub(crate) fn decode(plaintext: &[u8]) -> Result<Claims, Error> {
    let (wire, rest) =
        postcard::take_from_bytes::<WireClaims<'_>>(plaintext).map_err(|_| Error::Malformed)?;
    if !rest.is_empty() {
        return Err(Error::Malformed);
    }
    Ok(Claims {
        user_id: wire.user_id,
        session_id: wire.session_id,
        issued_at: wire.issued_at,
        refreshed_at: wire
            .issued_at
            .checked_add(wire.refreshed_after)
            .ok_or(Error::Malformed)?,
        lifetime: wire.lifetime,
        data: heapless::Vec::from_slice(wire.data).map_err(|_| Error::Malformed)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widest_claims_fit_claims_max_exactly() {
        let mut out = [0u8; CLAIMS_MAX];
        let len = encode(
            u64::MAX,
            &[0xff; 16],
            u64::MAX - u64::MAX / 2,
            u64::MAX,
            Some(u64::MAX),
            &[7; DATA_MAX],
            &mut out,
        )
        .unwrap();
        // refreshed_after = u64::MAX - (u64::MAX - MAX/2) = MAX/2 (63 bits: 9 bytes)
        assert_eq!(len, CLAIMS_MAX - 1);
        let len = encode(
            u64::MAX,
            &[0xff; 16],
            1,
            u64::MAX,
            Some(u64::MAX),
            &[7; DATA_MAX],
            &mut out,
        )
        .unwrap();
        assert!(len <= CLAIMS_MAX);
        let len = encode(0, &[0; 16], 0, 0, None, &[], &mut out).unwrap();
        assert_eq!(len, CLAIMS_MIN);
    }

    #[test]
    fn round_trip_and_trailing_bytes() {
        let mut out = [0u8; CLAIMS_MAX];
        let len = encode(
            123_456,
            &[9; 16],
            1_700_000_000,
            1_700_000_500,
            Some(86_400),
            b"csrf",
            &mut out,
        )
        .unwrap();
        let claims = decode(&out[..len]).unwrap();
        assert_eq!(claims.user_id, 123_456);
        assert_eq!(claims.refreshed_at, 1_700_000_500);
        assert_eq!(claims.expires_at(), Some(1_700_086_400));
        assert_eq!(&claims.data[..], b"csrf");
        assert_eq!(decode(&out[..len + 1]), Err(Error::Malformed));
        assert_eq!(decode(&out[..len - 1]), Err(Error::Malformed));
    }

    #[test]
    fn data_over_the_bound_is_refused() {
        let mut out = [0u8; CLAIMS_MAX];
        assert_eq!(
            encode(1, &[0; 16], 0, 0, None, &[0; DATA_MAX + 1], &mut out),
            Err(Error::DataTooLong)
        );
    }
}
