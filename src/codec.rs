//! Seal, open and refresh: the token codec on top of a [`KeyRing`].

use core::fmt;

use rand_core::CryptoRngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::claims::{self, SessionId, SessionKind, SESSION_ID_BYTES};
use crate::crypto::{NONCE_BYTES, TAG_BYTES};
use crate::format::{self, Header, BINARY_MAX, HEADER_MAX, TOKEN_MAX};
use crate::keyring::RingKey;
use crate::{Claims, Error, KeyRing, Policy};

/// Longest binding context. Longer contexts are refused rather than hashed,
/// so the format stays one AEAD call; bind a hash of anything longer.
pub const CONTEXT_MAX: usize = 128;

/// What the server knows at login; seal adds the session ID and timestamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NewSession<'a> {
    pub user_id: u64,
    /// The token's own lifetime in seconds, capped by the absolute lifetime
    /// the policy gives its kind. `None`: the policy alone decides.
    pub lifetime: Option<u64>,
    /// Browser session or "remember me": which of the policy's limits apply.
    pub kind: SessionKind,
    /// Opaque application data, at most [`DATA_MAX`](crate::DATA_MAX) bytes.
    pub data: &'a [u8],
}

impl NewSession<'_> {
    /// A session for `user_id` with no per-token lifetime and no data.
    pub const fn new(user_id: u64) -> Self {
        NewSession {
            user_id,
            lifetime: None,
            kind: SessionKind::Browser,
            data: &[],
        }
    }
}

/// Token text held on the stack. `Debug` shows only its length, because a
/// token is a bearer credential; `as_str` and `Display` give the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(heapless::String<TOKEN_MAX>);

impl Token {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_ascii(text: &[u8]) -> Result<Token, Error> {
        let text = core::str::from_utf8(text).map_err(|_| Error::Malformed)?;
        let mut token = heapless::String::new();
        token.push_str(text).map_err(|_| Error::BufferTooSmall)?;
        Ok(Token(token))
    }
}

impl core::ops::Deref for Token {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<[u8]> for Token {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token({} chars)", self.0.len())
    }
}

impl<const N: usize> KeyRing<N> {
    /// Seals a new session under the primary key, writing the token text into
    /// `out` and returning its length. `rng` is asked for the 24-byte nonce,
    /// then for the 16-byte session ID. On error nothing is written to `out`.
    pub fn seal<R: CryptoRngCore + ?Sized>(
        &self,
        session: &NewSession<'_>,
        context: &[u8],
        now: u64,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        // Argument errors first, before any key lookup or randomness is spent.
        if session.data.len() > crate::DATA_MAX {
            return Err(Error::DataTooLong);
        }
        if context.len() > CONTEXT_MAX {
            return Err(Error::ContextTooLong);
        }
        let key = self.primary_key()?;
        let mut nonce = [0u8; NONCE_BYTES];
        let mut session_id = Zeroizing::new([0u8; SESSION_ID_BYTES]);
        rng.try_fill_bytes(&mut nonce)
            .map_err(|_| Error::RandomFailed)?;
        rng.try_fill_bytes(&mut session_id[..])
            .map_err(|_| Error::RandomFailed)?;
        let fields = Fields {
            user_id: session.user_id,
            session_id: &session_id,
            issued_at: now,
            refreshed_at: now,
            lifetime: session.lifetime,
            kind: session.kind,
            data: session.data,
        };
        seal_fields(key, &fields, context, &nonce, out)
    }

    /// [`seal`](Self::seal) into a stack-held [`Token`].
    pub fn seal_token<R: CryptoRngCore + ?Sized>(
        &self,
        session: &NewSession<'_>,
        context: &[u8],
        now: u64,
        rng: &mut R,
    ) -> Result<Token, Error> {
        let mut out = [0u8; TOKEN_MAX];
        let len = self.seal(session, context, now, rng, &mut out)?;
        Token::from_ascii(&out[..len])
    }

    /// Opens token text sealed for `context` and checks it against `policy` at `now`.
    pub fn open(
        &self,
        token: impl AsRef<[u8]>,
        context: &[u8],
        policy: &Policy,
        now: u64,
    ) -> Result<Claims, Error> {
        // Checked in place: moving the claims out of the Result and back in
        // would copy their ~200 bytes twice.
        let opened = self.authenticate(token.as_ref(), context);
        if let Ok(claims) = &opened {
            policy.check(claims, now)?;
        }
        opened
    }

    /// Opens a valid token and seals it again under the primary key with a
    /// fresh nonce and `refreshed_at = max(now, issued_at)`; the session ID, `issued_at`,
    /// lifetime and data are kept. Returns the refreshed claims and the new
    /// token's length in `out`. Tokens move to the newest key this way.
    pub fn refresh<R: CryptoRngCore + ?Sized>(
        &self,
        token: impl AsRef<[u8]>,
        context: &[u8],
        policy: &Policy,
        now: u64,
        rng: &mut R,
        out: &mut [u8],
    ) -> Result<(Claims, usize), Error> {
        let mut claims = self.open(token, context, policy, now)?;
        let key = self.primary_key()?;
        let mut nonce = [0u8; NONCE_BYTES];
        rng.try_fill_bytes(&mut nonce)
            .map_err(|_| Error::RandomFailed)?;
        // Within the leeway `now` may precede issued_at; the order must hold.
        claims.refreshed_at = now.max(claims.issued_at);
        let fields = Fields {
            user_id: claims.user_id,
            session_id: &claims.session_id,
            issued_at: claims.issued_at,
            refreshed_at: claims.refreshed_at,
            lifetime: claims.lifetime,
            kind: claims.kind,
            data: &claims.data,
        };
        let len = seal_fields(key, &fields, context, &nonce, out)?;
        Ok((claims, len))
    }

    /// [`refresh`](Self::refresh) into a stack-held [`Token`].
    pub fn refresh_token<R: CryptoRngCore + ?Sized>(
        &self,
        token: impl AsRef<[u8]>,
        context: &[u8],
        policy: &Policy,
        now: u64,
        rng: &mut R,
    ) -> Result<(Claims, Token), Error> {
        let mut out = [0u8; TOKEN_MAX];
        let (claims, len) = self.refresh(token, context, policy, now, rng, &mut out)?;
        Ok((claims, Token::from_ascii(&out[..len])?))
    }

    /// Authenticates and decrypts a token with no policy and no lifetime
    /// check, for tools that show what a token holds (`sesame inspect`).
    /// Never admit a request with it: use [`open`](Self::open).
    pub fn decrypt(&self, token: impl AsRef<[u8]>, context: &[u8]) -> Result<Claims, Error> {
        self.authenticate(token.as_ref(), context)
    }

    /// Decodes and authenticates a token without applying any policy.
    #[inline]
    fn authenticate(&self, text: &[u8], context: &[u8]) -> Result<Claims, Error> {
        if context.len() > CONTEXT_MAX {
            return Err(Error::ContextTooLong);
        }
        let mut binary = [0u8; BINARY_MAX];
        let (header, binary) = format::decode_token(text, &mut binary)?;
        let key = self.key(header.key_id).ok_or(Error::UnknownKey)?;
        let (nonce, rest) = binary[header.as_bytes().len()..].split_at_mut(NONCE_BYTES);
        let (ciphertext, tag) = rest.split_at_mut(rest.len() - TAG_BYTES);
        let nonce: &[u8; NONCE_BYTES] = (&*nonce).try_into().map_err(|_| Error::Malformed)?;
        let tag: &[u8; TAG_BYTES] = (&*tag).try_into().map_err(|_| Error::Malformed)?;
        with_associated_data(&header, context, |ad| {
            key.cipher.open_in_place(nonce, ad, ciphertext, tag)
        })
        .map_err(|_| Error::AuthFailed)?;
        let claims = claims::decode(ciphertext);
        ciphertext.zeroize();
        claims
    }
}

/// The claims seal writes, borrowed from wherever they come from.
struct Fields<'a> {
    user_id: u64,
    session_id: &'a SessionId,
    issued_at: u64,
    refreshed_at: u64,
    lifetime: Option<u64>,
    kind: SessionKind,
    data: &'a [u8],
}

/// Runs `body` with header || context, the associated data of the AEAD;
/// without a context that is the header itself, and nothing is copied.
/// Callers have checked `context.len() <= CONTEXT_MAX`.
fn with_associated_data<T>(header: &Header, context: &[u8], body: impl FnOnce(&[u8]) -> T) -> T {
    let header = header.as_bytes();
    if context.is_empty() {
        return body(header);
    }
    let mut ad = [0u8; HEADER_MAX + CONTEXT_MAX];
    ad[..header.len()].copy_from_slice(header);
    ad[header.len()..header.len() + context.len()].copy_from_slice(context);
    body(&ad[..header.len() + context.len()])
}

const _: () = assert!(BINARY_MAX >= HEADER_MAX + NONCE_BYTES + claims::CLAIMS_MAX + TAG_BYTES);

fn seal_fields(
    key: &RingKey,
    fields: &Fields<'_>,
    context: &[u8],
    nonce: &[u8; NONCE_BYTES],
    out: &mut [u8],
) -> Result<usize, Error> {
    if context.len() > CONTEXT_MAX {
        return Err(Error::ContextTooLong);
    }
    let header = Header::new(key.id);
    let header_len = header.as_bytes().len();
    let claims_at = header_len + NONCE_BYTES;
    // Not Zeroizing: once sealed the buffer holds only ciphertext, and the
    // one early return after the plaintext is written wipes it itself.
    let mut binary = [0u8; BINARY_MAX];
    binary[..header_len].copy_from_slice(header.as_bytes());
    binary[header_len..claims_at].copy_from_slice(nonce);
    let claims_len = claims::encode(
        fields.user_id,
        fields.session_id,
        fields.issued_at,
        fields.refreshed_at,
        fields.lifetime,
        fields.kind,
        fields.data,
        // Cannot fail: BINARY_MAX leaves CLAIMS_MAX (and the tag) after the
        // longest header and the nonce (asserted at compile time below).
        binary[claims_at..]
            .first_chunk_mut()
            .ok_or(Error::BufferTooSmall)?,
    )?;
    let tag_at = claims_at + claims_len;
    let binary_len = tag_at + TAG_BYTES;
    if out.len() < format::encoded_len(binary_len) {
        binary[claims_at..tag_at].zeroize();
        return Err(Error::BufferTooSmall);
    }
    let tag = with_associated_data(&header, context, |ad| {
        key.cipher
            .seal_in_place(nonce, ad, &mut binary[claims_at..tag_at])
    });
    binary[tag_at..binary_len].copy_from_slice(&tag);
    format::encode_text(&binary[..binary_len], out)
}
