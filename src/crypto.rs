//! XAES-256-GCM exactly as specified by C2SP (c2sp.org/XAES-256-GCM), built
//! on RustCrypto's `aes` and `aes-gcm`, and the HKDF-SHA256 key derivation.
//!
//! The spec's per-key work (the AES-256 key schedule and the CMAC-style
//! subkey K1) is done once in [`XaesKey::new`]; per message only the two AES
//! blocks that derive the message key and the AES-256-GCM run itself remain.

use aes::cipher::{consts::U12, generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes256Enc;
use aes_gcm::{AeadInPlace, AesGcm};
use zeroize::{Zeroize, Zeroizing};

/// The per-message AES-256-GCM, over the encrypt-only AES (GCM never runs
/// the block cipher backwards, so the inverse key schedule would be wasted
/// work per message) borrowed from the caller's stack frame.
type MessageGcm<'a> = AesGcm<&'a Aes256Enc, U12>;

/// Length of an XAES-256-GCM key.
pub const KEY_BYTES: usize = 32;
/// Length of an XAES-256-GCM nonce (192 bits).
pub const NONCE_BYTES: usize = 24;
/// Length of the GCM authentication tag.
pub const TAG_BYTES: usize = 16;

/// A prepared XAES-256-GCM key. Its state is zeroized on drop and never printed.
#[derive(Clone)]
pub struct XaesKey {
    /// AES-256 with the caller's key; `aes` zeroizes its schedule on drop.
    cipher: Aes256Enc,
    /// K1 = L << 1 (xor 0x87 on carry), L = AES-256_K(0^128).
    k1: [u8; 16],
}

impl Drop for XaesKey {
    fn drop(&mut self) {
        self.k1.zeroize();
    }
}

impl core::fmt::Debug for XaesKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("XaesKey(..)")
    }
}

/// The AEAD refused the ciphertext (wrong key, wrong nonce, tampering or wrong
/// associated data); deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AeadFailure;

impl XaesKey {
    pub fn new(key: &[u8; KEY_BYTES]) -> Self {
        let cipher = Aes256Enc::new(GenericArray::from_slice(key));
        let mut l = GenericArray::from([0u8; 16]);
        cipher.encrypt_block(&mut l);
        let mut k1 = [0u8; 16];
        let carry = l[0] >> 7;
        for i in 0..16 {
            let next = if i + 1 < 16 { l[i + 1] >> 7 } else { 0 };
            k1[i] = (l[i] << 1) | next;
        }
        // Branch-free conditional xor of the GF(2^128) reduction constant.
        k1[15] ^= 0x87 & 0u8.wrapping_sub(carry);
        l.zeroize();
        XaesKey { cipher, k1 }
    }

    /// Runs `body` with the per-message AES-256-GCM instance:
    /// Kx = AES_K(M1 ^ K1) || AES_K(M2 ^ K1).
    ///
    /// The GCM borrows the message's AES key schedule instead of owning it:
    /// `aes` keeps its AES-NI and software schedules in one 960-byte union,
    /// and moving that into an owning `AesGcm` was a memcpy per message.
    #[inline]
    fn with_message_cipher<T>(
        &self,
        nonce: &[u8; NONCE_BYTES],
        body: impl FnOnce(&MessageGcm<'_>) -> T,
    ) -> T {
        let mut blocks = [GenericArray::from([0u8; 16]); 2];
        for (i, block) in blocks.iter_mut().enumerate() {
            block[1] = i as u8 + 1;
            block[2] = b'X';
            block[4..].copy_from_slice(&nonce[..12]);
            for (b, k) in block.iter_mut().zip(self.k1.iter()) {
                *b ^= k;
            }
        }
        self.cipher.encrypt_blocks(&mut blocks);
        let mut kx = Zeroizing::new([0u8; KEY_BYTES]);
        kx[..16].copy_from_slice(&blocks[0]);
        kx[16..].copy_from_slice(&blocks[1]);
        for block in blocks.iter_mut() {
            block.as_mut_slice().zeroize();
        }
        // `aes` zeroizes the schedule when `cipher` drops at the end of this call.
        let cipher = Aes256Enc::new(GenericArray::from_slice(&kx[..]));
        drop(kx);
        body(&MessageGcm::from(&cipher))
    }

    /// Encrypts `buffer` in place and returns the tag.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_BYTES],
        associated_data: &[u8],
        buffer: &mut [u8],
    ) -> [u8; TAG_BYTES] {
        self.with_message_cipher(nonce, |gcm| {
            match gcm.encrypt_in_place_detached(
                GenericArray::from_slice(&nonce[12..]),
                associated_data,
                buffer,
            ) {
                Ok(tag) => tag.into(),
                // aes-gcm only refuses inputs longer than 2^36 bytes; sesame's
                // buffers are a few hundred bytes, so this arm cannot be reached.
                Err(_) => [0u8; TAG_BYTES],
            }
        })
    }

    /// Decrypts `buffer` in place after checking `tag`. On failure the buffer
    /// holds no plaintext (aes-gcm checks the tag before decrypting).
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_BYTES],
        associated_data: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_BYTES],
    ) -> Result<(), AeadFailure> {
        self.with_message_cipher(nonce, |gcm| {
            gcm.decrypt_in_place_detached(
                GenericArray::from_slice(&nonce[12..]),
                associated_data,
                buffer,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| AeadFailure)
        })
    }
}

/// HKDF cannot produce more than 255 hash lengths (8160 bytes) of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HkdfOutputTooLong;

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand with `info` into `okm`.
pub fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    okm: &mut [u8],
) -> Result<(), HkdfOutputTooLong> {
    hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), ikm)
        .expand(info, okm)
        .map_err(|_| HkdfOutputTooLong)
}
