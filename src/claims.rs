//! What a token says about a session, and its postcard encoding (the plaintext).

use crate::Error;

/// Length of the random session ID that seal draws for every new session.
pub const SESSION_ID_BYTES: usize = 16;

/// Most bytes of opaque application data a token may carry.
pub const DATA_MAX: usize = 128;

/// Longest plaintext: postcard varints at their widest (u64: 10 bytes), the
/// session ID, field 5 (a one-byte tag and a lifetime varint) and the data
/// with its two-byte length.
pub const CLAIMS_MAX: usize = 10 + SESSION_ID_BYTES + 10 + 10 + (1 + 10) + 2 + DATA_MAX;

// The "+ 2" above is the data length's varint: two bytes hold up to 2^14 - 1.
// Raising DATA_MAX past that must widen CLAIMS_MAX, or the writer could run
// past its buffer.
const _: () = assert!(DATA_MAX < 1 << 14);

/// Shortest plaintext: every varint one byte, no lifetime, no data.
pub const CLAIMS_MIN: usize = 1 + SESSION_ID_BYTES + 1 + 1 + 1 + 1;

/// A random, unguessable identifier for one login. It survives refreshes, so
/// a server can revoke exactly one session by listing its ID.
pub type SessionId = [u8; SESSION_ID_BYTES];

/// Whether a session is a plain browser session or a long "remember me"
/// login. The kind travels inside the token, so every server applies the
/// kind's own limits ([`Policy`](crate::Policy)) without asking a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum SessionKind {
    #[default]
    Browser = 0,
    RememberMe = 1,
}

impl SessionKind {
    /// The kind with this stable code (the C ABI's `SESAME_SESSION_KIND_*`).
    pub fn from_code(code: u8) -> Option<SessionKind> {
        match code {
            0 => Some(SessionKind::Browser),
            1 => Some(SessionKind::RememberMe),
            _ => None,
        }
    }
}

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
    /// Browser session or "remember me": picks the policy's limits.
    pub kind: SessionKind,
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
    #[inline]
    pub fn check_revoked_before(&self, cutoff: u64) -> Result<(), Error> {
        if self.issued_at < cutoff {
            Err(Error::Revoked)
        } else {
            Ok(())
        }
    }
}

/// The plaintext as postcard sees it: the reference the hand-written
/// [`encode`] and [`decode`] are tested against. `refreshed_at` travels as
/// its distance from `issued_at`, which is shorter and cannot describe an
/// impossible order.
#[cfg(test)]
#[derive(serde::Serialize, serde::Deserialize)]
struct WireClaims<'a> {
    user_id: u64,
    session_id: SessionId,
    issued_at: u64,
    refreshed_after: u64,
    lifetime: WireLifetime,
    data: &'a [u8],
}

/// Field 5 as a postcard enum: its variant index is the tag byte. Indexes
/// 0 and 1 are exactly postcard's `Option<u64>`, so every token written
/// before kinds existed reads as a browser session.
#[cfg(test)]
#[derive(serde::Serialize, serde::Deserialize)]
enum WireLifetime {
    Browser,
    BrowserFor(u64),
    RememberMeFor(u64),
    RememberMe,
}

#[cfg(test)]
impl WireLifetime {
    fn new(kind: SessionKind, lifetime: Option<u64>) -> Self {
        match (kind, lifetime) {
            (SessionKind::Browser, None) => WireLifetime::Browser,
            (SessionKind::Browser, Some(l)) => WireLifetime::BrowserFor(l),
            (SessionKind::RememberMe, Some(l)) => WireLifetime::RememberMeFor(l),
            (SessionKind::RememberMe, None) => WireLifetime::RememberMe,
        }
    }

    fn split(self) -> (SessionKind, Option<u64>) {
        match self {
            WireLifetime::Browser => (SessionKind::Browser, None),
            WireLifetime::BrowserFor(l) => (SessionKind::Browser, Some(l)),
            WireLifetime::RememberMeFor(l) => (SessionKind::RememberMe, Some(l)),
            WireLifetime::RememberMe => (SessionKind::RememberMe, None),
        }
    }
}

/// Writes the postcard plaintext of the given claims into the start of
/// `out`, which holds the widest encoding, and returns its length.
///
/// Written field by field like [`decode`], for the same reason: serde hands
/// the 16-byte session ID to postcard one byte at a time (about 10 ns of a
/// seal). The tests check that the bytes are exactly what
/// `postcard::to_slice` writes for the same claims.
#[inline]
#[allow(clippy::too_many_arguments)] // one per field of the plaintext, in wire order
pub(crate) fn encode(
    user_id: u64,
    session_id: &SessionId,
    issued_at: u64,
    refreshed_at: u64,
    lifetime: Option<u64>,
    kind: SessionKind,
    data: &[u8],
    out: &mut [u8; CLAIMS_MAX],
) -> Result<usize, Error> {
    if data.len() > DATA_MAX {
        return Err(Error::DataTooLong);
    }
    let mut writer = Writer { out, len: 0 };
    writer.varint(user_id);
    writer.bytes(session_id);
    writer.varint(issued_at);
    writer.varint(refreshed_at.saturating_sub(issued_at));
    match (kind, lifetime) {
        (SessionKind::Browser, None) => writer.bytes(&[TAG_BROWSER as u8]),
        (SessionKind::Browser, Some(lifetime)) => {
            writer.bytes(&[TAG_BROWSER_FOR as u8]);
            writer.varint(lifetime);
        }
        (SessionKind::RememberMe, Some(lifetime)) => {
            writer.bytes(&[TAG_REMEMBER_ME_FOR as u8]);
            writer.varint(lifetime);
        }
        (SessionKind::RememberMe, None) => writer.bytes(&[TAG_REMEMBER_ME as u8]),
    }
    // usize -> u64 cannot truncate: data.len() <= DATA_MAX.
    writer.varint(data.len() as u64);
    writer.bytes(data);
    Ok(writer.len)
}

// Field 5's tag, a postcard enum variant index: the session kind, and
// whether a lifetime follows. Written as one byte.
const TAG_BROWSER: u64 = 0;
const TAG_BROWSER_FOR: u64 = 1;
const TAG_REMEMBER_ME_FOR: u64 = 2;
const TAG_REMEMBER_ME: u64 = 3;

/// Appends postcard's encodings to a buffer of [`CLAIMS_MAX`] bytes, which
/// every set of claims with data of at most [`DATA_MAX`] bytes fits.
struct Writer<'a> {
    out: &'a mut [u8; CLAIMS_MAX],
    len: usize,
}

impl Writer<'_> {
    #[inline]
    fn bytes(&mut self, bytes: &[u8]) {
        self.out[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// A postcard u64 varint: LEB128, seven bits a byte, low bits first.
    #[inline]
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out[self.len] = (value as u8) | 0x80;
            self.len += 1;
            value >>= 7;
        }
        self.out[self.len] = value as u8;
        self.len += 1;
    }
}

/// Reads claims from an authenticated plaintext. Trailing bytes are refused so
/// that one set of claims has one encoding.
///
/// This reads postcard's wire format field by field instead of through
/// serde: on the 27-byte reference plaintext the derived deserializer (a
/// `[u8; 16]` is sixteen one-byte elements to serde) took about 50 of the
/// 610 ns of an open. It accepts exactly what `postcard::take_from_bytes`
/// accepts on a 64-bit target (the tests compare the two on valid,
/// truncated, mutated and random plaintexts); the data length is read as a
/// u64 varint on every target.
#[inline]
pub(crate) fn decode(plaintext: &[u8]) -> Result<Claims, Error> {
    let mut reader = Reader(plaintext);
    let user_id = reader.varint()?;
    let session_id = reader.session_id()?;
    let issued_at = reader.varint()?;
    let refreshed_after = reader.varint()?;
    let (kind, lifetime) = match reader.variant()? {
        TAG_BROWSER => (SessionKind::Browser, None),
        TAG_BROWSER_FOR => (SessionKind::Browser, Some(reader.varint()?)),
        TAG_REMEMBER_ME_FOR => (SessionKind::RememberMe, Some(reader.varint()?)),
        TAG_REMEMBER_ME => (SessionKind::RememberMe, None),
        // Overlong encodings of a known tag are accepted, as postcard does.
        _ => return Err(Error::Malformed),
    };
    let data_len = usize::try_from(reader.varint()?).map_err(|_| Error::Malformed)?;
    let data = reader.take(data_len)?;
    if !reader.0.is_empty() {
        return Err(Error::Malformed);
    }
    Ok(Claims {
        user_id,
        session_id,
        issued_at,
        refreshed_at: issued_at
            .checked_add(refreshed_after)
            .ok_or(Error::Malformed)?,
        lifetime,
        kind,
        data: heapless::Vec::from_slice(data).map_err(|_| Error::Malformed)?,
    })
}

/// The unread rest of a plaintext.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    #[inline(always)]
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.0.len() {
            return Err(Error::Malformed);
        }
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(taken)
    }

    #[inline(always)]
    fn byte(&mut self) -> Result<u8, Error> {
        let (&first, rest) = self.0.split_first().ok_or(Error::Malformed)?;
        self.0 = rest;
        Ok(first)
    }

    #[inline(always)]
    fn session_id(&mut self) -> Result<SessionId, Error> {
        self.take(SESSION_ID_BYTES)?
            .try_into()
            .map_err(|_| Error::Malformed)
    }

    /// A postcard u64 varint: LEB128 of at most ten bytes, the tenth at most
    /// 1. Like postcard, longer-than-needed encodings are accepted.
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, Error> {
        self.leb128(10, 0x01)
    }

    /// A postcard enum variant index: a u32 varint of at most five bytes,
    /// the fifth at most 0x0f.
    #[inline(always)]
    fn variant(&mut self) -> Result<u64, Error> {
        // The common case, one byte, without the loop.
        match self.0.first() {
            Some(&byte) if byte < 0x80 => {
                self.0 = &self.0[1..];
                Ok(u64::from(byte))
            }
            _ => self.leb128(5, 0x0f),
        }
    }

    #[inline(always)]
    fn leb128(&mut self, max_bytes: usize, last_max: u8) -> Result<u64, Error> {
        let mut value = 0u64;
        for i in 0..max_bytes {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return if i == max_bytes - 1 && byte > last_max {
                    Err(Error::Malformed)
                } else {
                    Ok(value)
                };
            }
        }
        Err(Error::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widest_claims_fit_claims_max() {
        let mut out = [0u8; CLAIMS_MAX];
        let len = encode(
            u64::MAX,
            &[0xff; 16],
            u64::MAX - u64::MAX / 2,
            u64::MAX,
            Some(u64::MAX),
            SessionKind::RememberMe,
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
            SessionKind::RememberMe,
            &[7; DATA_MAX],
            &mut out,
        )
        .unwrap();
        assert!(len <= CLAIMS_MAX);
        let len = encode(0, &[0; 16], 0, 0, None, SessionKind::Browser, &[], &mut out).unwrap();
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
            SessionKind::RememberMe,
            b"csrf",
            &mut out,
        )
        .unwrap();
        let claims = decode(&out[..len]).unwrap();
        assert_eq!(claims.user_id, 123_456);
        assert_eq!(claims.refreshed_at, 1_700_000_500);
        assert_eq!(claims.expires_at(), Some(1_700_086_400));
        assert_eq!(claims.kind, SessionKind::RememberMe);
        assert_eq!(&claims.data[..], b"csrf");
        assert_eq!(decode(&out[..len + 1]), Err(Error::Malformed));
        assert_eq!(decode(&out[..len - 1]), Err(Error::Malformed));
    }

    /// What postcard's own deserializer makes of a plaintext, as claims.
    fn decode_with_postcard(plaintext: &[u8]) -> Result<Claims, Error> {
        let (wire, rest) =
            postcard::take_from_bytes::<WireClaims<'_>>(plaintext).map_err(|_| Error::Malformed)?;
        if !rest.is_empty() {
            return Err(Error::Malformed);
        }
        let (kind, lifetime) = wire.lifetime.split();
        Ok(Claims {
            user_id: wire.user_id,
            session_id: wire.session_id,
            issued_at: wire.issued_at,
            refreshed_at: wire
                .issued_at
                .checked_add(wire.refreshed_after)
                .ok_or(Error::Malformed)?,
            lifetime,
            kind,
            data: heapless::Vec::from_slice(wire.data).map_err(|_| Error::Malformed)?,
        })
    }

    fn assert_agrees_with_postcard(plaintext: &[u8]) {
        assert_eq!(
            decode(plaintext),
            decode_with_postcard(plaintext),
            "plaintext {plaintext:02x?}"
        );
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "exhaustive: hours under miri; the fuzz target covers the same ground"
    )]
    fn decodes_exactly_what_postcard_decodes() {
        // user_id, issued_at, refreshed_at, lifetime, data
        type Sample = (u64, u64, u64, Option<u64>, &'static [u8]);
        let samples: [Sample; 6] = [
            (123_456, 1_700_000_000, 1_700_000_000, None, b""),
            (0, 0, 0, Some(0), b"x"),
            (
                u64::MAX,
                u64::MAX / 2,
                u64::MAX,
                Some(u64::MAX),
                &[0xa5; DATA_MAX],
            ),
            (127, 128, 16_511, Some(86_400), b"csrf token"),
            (1 << 63, 1, 1 << 40, Some(1), &[0x80; 127]),
            (300, 5, 5, None, &[0; DATA_MAX]),
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (i, (user_id, issued_at, refreshed_at, lifetime, data)) in
            samples.into_iter().enumerate()
        {
            let kind = if i % 2 == 0 {
                SessionKind::Browser
            } else {
                SessionKind::RememberMe
            };
            let mut out = [0u8; CLAIMS_MAX];
            let n = encode(
                user_id,
                &[0x5a; 16],
                issued_at,
                refreshed_at,
                lifetime,
                kind,
                data,
                &mut out,
            )
            .unwrap();
            let valid = &out[..n];
            assert!(decode(valid).is_ok());
            assert_agrees_with_postcard(valid);
            for cut in 0..n {
                assert_agrees_with_postcard(&valid[..cut]);
            }
            // Every byte of the plaintext set to the values where varints,
            // tags and lengths change meaning, and to random ones.
            let mut mutated = [0u8; CLAIMS_MAX + 1];
            for position in 0..n {
                let mut values = [
                    0x00, 0x01, 0x02, 0x03, 0x04, 0x7f, 0x80, 0x81, 0xff, 0, 0, 0,
                ];
                for value in &mut values[9..] {
                    *value = next() as u8;
                }
                for value in values {
                    mutated[..n].copy_from_slice(valid);
                    mutated[position] = value;
                    assert_agrees_with_postcard(&mutated[..n]);
                    mutated[n] = value;
                    assert_agrees_with_postcard(&mutated[..n + 1]);
                }
            }
        }
        // Random plaintexts, biased to small bytes so more of them parse.
        for _ in 0..200_000 {
            let len = (next() % (CLAIMS_MAX as u64 + 8)) as usize;
            let mut bytes = [0u8; CLAIMS_MAX + 8];
            for byte in &mut bytes[..len] {
                let r = next();
                *byte = if r & 1 == 0 {
                    (r >> 8) as u8 & 0x83
                } else {
                    (r >> 8) as u8
                };
            }
            assert_agrees_with_postcard(&bytes[..len]);
        }
        // Varints at and past their limits.
        for tail in [0x00u8, 0x01, 0x02, 0x7f, 0x80] {
            let mut plaintext = [0u8; 40];
            plaintext[..9].copy_from_slice(&[0xff; 9]);
            plaintext[9] = tail;
            let n = if tail & 0x80 == 0 {
                10 + 16 + 4
            } else {
                11 + 16 + 4
            };
            assert_agrees_with_postcard(&plaintext[..n]);
        }
    }

    /// What postcard itself writes for the same claims.
    fn encode_with_postcard(
        user_id: u64,
        session_id: &SessionId,
        issued_at: u64,
        refreshed_at: u64,
        lifetime: Option<u64>,
        kind: SessionKind,
        data: &[u8],
    ) -> heapless::Vec<u8, CLAIMS_MAX> {
        let wire = WireClaims {
            user_id,
            session_id: *session_id,
            issued_at,
            refreshed_after: refreshed_at.saturating_sub(issued_at),
            lifetime: WireLifetime::new(kind, lifetime),
            data,
        };
        let mut out = [0u8; CLAIMS_MAX];
        let written = postcard::to_slice(&wire, &mut out).unwrap();
        heapless::Vec::from_slice(written).unwrap()
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "exhaustive: hours under miri; the fuzz target covers the same ground"
    )]
    fn encodes_exactly_what_postcard_encodes() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        // Every varint width (1 to 10 bytes) in every field, then random values.
        let widths = (0..64).map(|bits| (1u64 << bits) - 1).chain([u64::MAX]);
        let mut values: heapless::Vec<u64, 80> = widths.collect();
        values.extend([0x7f, 0x80, 0x3fff, 0x4000, 1 << 63]);
        let data = [0xa5u8; DATA_MAX];
        let check = |user_id, issued_at, refreshed_at, lifetime, data_len: usize, sid| {
            for kind in [SessionKind::Browser, SessionKind::RememberMe] {
                let mut out = [0u8; CLAIMS_MAX];
                let len = encode(
                    user_id,
                    &sid,
                    issued_at,
                    refreshed_at,
                    lifetime,
                    kind,
                    &data[..data_len],
                    &mut out,
                )
                .unwrap();
                let expected = encode_with_postcard(
                    user_id,
                    &sid,
                    issued_at,
                    refreshed_at,
                    lifetime,
                    kind,
                    &data[..data_len],
                );
                assert_eq!(&out[..len], &expected[..], "user {user_id} issued {issued_at} refreshed {refreshed_at} lifetime {lifetime:?} {kind:?} data {data_len}");
            }
        };
        for &v in &values {
            check(v, 0, 0, None, 0, [0; 16]);
            check(1, v, v, None, 0, [1; 16]);
            check(1, 0, v, None, 0, [2; 16]);
            check(1, v, 0, None, 0, [3; 16]); // refreshed before issued: saturates to 0
            check(1, 0, 0, Some(v), 0, [4; 16]);
        }
        for data_len in 0..=DATA_MAX {
            check(
                123_456,
                1_700_000_000,
                1_700_000_500,
                None,
                data_len,
                [5; 16],
            );
        }
        for _ in 0..100_000 {
            // Values of every width: a random word shifted right at random.
            let mut value = || {
                let word = next();
                word >> (next() % 64)
            };
            let (user_id, issued_at, refreshed_at) = (value(), value(), value());
            let lifetime = if value() & 1 == 0 {
                None
            } else {
                Some(value())
            };
            let mut sid = [0u8; 16];
            sid[..8].copy_from_slice(&value().to_le_bytes());
            sid[8..].copy_from_slice(&value().to_le_bytes());
            let data_len = (value() % (DATA_MAX as u64 + 1)) as usize;
            check(user_id, issued_at, refreshed_at, lifetime, data_len, sid);
        }
    }

    /// Field 5's tag is a u32 varint to postcard, unlike the u8 of the
    /// `Option<u64>` it replaced: every longer form of each index, and the
    /// limits of a five-byte u32, must be judged as postcard judges them.
    #[test]
    fn overlong_kind_tags_agree_with_postcard() {
        let mut out = [0u8; CLAIMS_MAX];
        let n = encode(
            9,
            &[3; 16],
            5,
            5,
            Some(60),
            SessionKind::RememberMe,
            b"d",
            &mut out,
        )
        .unwrap();
        // user_id, session ID, issued_at, refreshed_after: 1 + 16 + 1 + 1.
        let (head, tail) = out[..n].split_at(19);
        assert_eq!(tail[0], TAG_REMEMBER_ME_FOR as u8);
        let lifetime_and_data = &tail[1..];
        let mut tags: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
        for index in 0u8..6 {
            for extra in 0..6 {
                let mut tag = std::vec![index | 0x80];
                tag.extend(core::iter::repeat_n(0x80, extra));
                *tag.last_mut().unwrap() &= 0x7f;
                tags.push(tag);
            }
        }
        // A fifth byte at and past the u32 limit, and an index past u32.
        tags.push(std::vec![0x80, 0x80, 0x80, 0x80, 0x0f]);
        tags.push(std::vec![0x80, 0x80, 0x80, 0x80, 0x10]);
        tags.push(std::vec![0x82, 0x80, 0x80, 0x80, 0x00]);
        tags.push(std::vec![0x81, 0x80, 0x80, 0x80, 0x80, 0x00]);
        for tag in tags {
            for rest in [lifetime_and_data, &lifetime_and_data[1..], &[0x00][..]] {
                let plaintext = [head, &tag, rest].concat();
                assert_agrees_with_postcard(&plaintext);
            }
        }
        let longest = [head, &[0x82, 0x80, 0x80, 0x80, 0x00], lifetime_and_data].concat();
        let claims = decode(&longest).unwrap();
        assert_eq!(
            (claims.kind, claims.lifetime),
            (SessionKind::RememberMe, Some(60))
        );
    }

    #[test]
    fn data_over_the_bound_is_refused() {
        let mut out = [0u8; CLAIMS_MAX];
        assert_eq!(
            encode(
                1,
                &[0; 16],
                0,
                0,
                None,
                SessionKind::Browser,
                &[0; DATA_MAX + 1],
                &mut out
            ),
            Err(Error::DataTooLong)
        );
    }
}
