//! Constant-time base64url without padding (RFC 4648 §5), sixteen
//! characters (twelve bytes) at a time.
//!
//! Why not `base64ct`: it is constant-time too, but works a character at a
//! time, and its decode was a third of the time of opening a token (274 of
//! 840 ns, `perf` on the open benchmark; docs/BENCHMARKS.md). Token text is a
//! bearer credential, so table lookups indexed by its characters are out;
//! every lane here goes through the same additions and masks whatever its
//! value, and the only branches are on lengths, which are public.
//!
//! The tests below and the `text_codec` fuzz target check this module
//! against `base64ct` on every length and on invalid input.

// Sixteen characters or twelve bytes at a time. The per-character work is
// written as independent byte operations (no tables, no branches), which
// the compiler turns into SSE2 on x86_64 without `unsafe` here, and into
// plain integer code elsewhere; the bit packing is done in 64-bit words.

/// The ten boundaries of the five ranges of the alphabet: '-', '0'..='9',
/// 'A'..='Z', '_' and 'a'..='z', each start and one past each end.
const BOUNDARIES: [u8; 10] = [
    b'-',
    b'-' + 1,
    b'0',
    b'9' + 1,
    b'A',
    b'Z' + 1,
    b'_',
    b'_' + 1,
    b'a',
    b'z' + 1,
];

/// Character to sextet: at each range start, the xor of the previous
/// range's offset and this one's (mod 64, all a sextet keeps). The starts a
/// character has passed are cumulative, so the xor of their steps
/// telescopes to its own range's offset.
const DECODE_STEPS: [(u8, u8); 5] = telescope([
    (b'-', 62u8.wrapping_sub(b'-') & 0x3f),
    (b'0', 52u8.wrapping_sub(b'0') & 0x3f),
    (b'A', 0u8.wrapping_sub(b'A') & 0x3f),
    (b'_', 63u8.wrapping_sub(b'_') & 0x3f),
    (b'a', 26u8.wrapping_sub(b'a') & 0x3f),
]);

/// Sextet to character, the same way, from a base offset of 'A' (for 0..26).
const ENCODE_STEPS: [(u8, u8); 5] = telescope([
    (0, b'A'),
    (26, b'a'.wrapping_sub(26)),
    (52, b'0'.wrapping_sub(52)),
    (62, b'-'.wrapping_sub(62)),
    (63, b'_'.wrapping_sub(63)),
]);

const fn telescope<const N: usize>(offsets: [(u8, u8); N]) -> [(u8, u8); N] {
    let mut steps = offsets;
    let mut i = 1;
    while i < N {
        steps[i].1 = offsets[i - 1].1 ^ offsets[i].1;
        i += 1;
    }
    steps
}

/// 0xff if `byte` >= `bound`, else 0, by arithmetic alone. `byte` must be
/// below 0x80 and `bound` at most 0x80, so the sum cannot wrap.
#[inline(always)]
fn at_least(byte: u8, bound: u8) -> u8 {
    0u8.wrapping_sub(byte.wrapping_add(0x80 - bound) >> 7)
}

/// Sixteen characters to twelve bytes; sets the top bit of `invalid[i]`
/// if character `i` is outside the alphabet.
#[inline(always)]
fn decode_block(text: &[u8; 16], invalid: &mut [u8; 16]) -> [u8; 12] {
    let mut sextets = [0u8; 16];
    for ((sextet, &char), invalid) in sextets.iter_mut().zip(text).zip(invalid.iter_mut()) {
        let x = char & 0x7f;
        // A character is in the alphabet exactly when it has passed an odd
        // number of the boundaries; the top bit of each sum says whether
        // it passed that one. Non-ASCII bytes fail on their own top bit.
        let mut parity = 0u8;
        for bound in BOUNDARIES {
            parity ^= x.wrapping_add(0x80 - bound);
        }
        *invalid |= (char | !parity) & 0x80;
        let mut offset = 0u8;
        for (start, step) in DECODE_STEPS {
            offset ^= at_least(x, start) & step;
        }
        *sextet = x.wrapping_add(offset) & 0x3f;
    }
    pack(&sextets)
}

/// Twelve bytes to sixteen characters.
#[inline(always)]
fn encode_block(bytes: &[u8; 12]) -> [u8; 16] {
    let mut text = unpack(bytes);
    for char in text.iter_mut() {
        let sextet = *char;
        let mut offset = 0u8;
        for (start, step) in ENCODE_STEPS {
            offset ^= at_least(sextet, start) & step;
        }
        *char = sextet.wrapping_add(offset);
    }
    text
}

/// Sixteen sextets (one per byte) to their 96 bits, most significant first.
#[inline(always)]
fn pack(sextets: &[u8; 16]) -> [u8; 12] {
    let mut bytes = [0u8; 12];
    for (half, out) in sextets.chunks_exact(8).zip(bytes.chunks_exact_mut(6)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(half);
        // First sextet in the low byte: pairs into 12-bit groups in 16-bit
        // lanes, pairs of those into 24-bit groups in 32-bit lanes, then the
        // two groups into 48 bits.
        let s = u64::from_le_bytes(word);
        let twelve = ((s & 0x003f_003f_003f_003f) << 6) | ((s >> 8) & 0x003f_003f_003f_003f);
        let groups =
            ((twelve & 0x0000_ffff_0000_ffff) << 12) | ((twelve >> 16) & 0x0000_ffff_0000_ffff);
        let bits = ((groups & 0xff_ffff) << 24) | ((groups >> 32) & 0xff_ffff);
        out.copy_from_slice(&bits.to_be_bytes()[2..]);
    }
    bytes
}

/// Twelve bytes to their sixteen sextets, one per byte; the inverse of [`pack`].
#[inline(always)]
fn unpack(bytes: &[u8; 12]) -> [u8; 16] {
    let mut sextets = [0u8; 16];
    for (half, out) in bytes.chunks_exact(6).zip(sextets.chunks_exact_mut(8)) {
        let mut word = [0u8; 8];
        word[2..].copy_from_slice(half);
        let bits = u64::from_be_bytes(word);
        let groups = ((bits >> 24) & 0xff_ffff) | ((bits & 0xff_ffff) << 32);
        let twelve =
            ((groups >> 12) & 0x0000_0fff_0000_0fff) | ((groups & 0x0000_0fff_0000_0fff) << 16);
        let s = ((twelve >> 6) & 0x003f_003f_003f_003f) | ((twelve & 0x003f_003f_003f_003f) << 8);
        out.copy_from_slice(&s.to_le_bytes());
    }
    sextets
}

/// Length of the text of `n` bytes. Written so it cannot overflow for any
/// `n` whose text fits in memory.
pub const fn encoded_len(n: usize) -> usize {
    n / 3 * 4 + (n % 3 * 4).div_ceil(3)
}

/// Length of the bytes of `n` characters, or `None` when no byte string
/// encodes to that many (`n % 4 == 1`).
pub const fn decoded_len(n: usize) -> Option<usize> {
    if n % 4 == 1 {
        None
    } else {
        Some(n / 4 * 3 + n % 4 * 3 / 4)
    }
}

/// The output buffer is shorter than the encoded length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputTooShort;

/// Writes the text of `bytes` into the start of `out`; returns its length.
/// Nothing is written if `out` is too short.
pub fn encode(bytes: &[u8], out: &mut [u8]) -> Result<usize, OutputTooShort> {
    let len = encoded_len(bytes.len());
    let out = out.get_mut(..len).ok_or(OutputTooShort)?;
    let mut blocks = bytes.chunks_exact(12);
    let mut texts = out.chunks_exact_mut(16);
    for (block, text) in (&mut blocks).zip(&mut texts) {
        let mut padded = [0u8; 12];
        padded.copy_from_slice(block);
        text.copy_from_slice(&encode_block(&padded));
    }
    let rest = blocks.remainder();
    if !rest.is_empty() {
        // Zero bytes after the end give the zero trailing bits canonical text has.
        let mut padded = [0u8; 12];
        padded[..rest.len()].copy_from_slice(rest);
        let text = encode_block(&padded);
        let tail = texts.into_remainder();
        for (out, &char) in tail.iter_mut().zip(&text) {
            *out = char;
        }
    }
    Ok(len)
}

/// Decodes `text` into the start of `out`; returns the decoded bytes.
/// On error the contents of `out` are unspecified (callers treat them as
/// garbage; nothing secret goes in, since the text is what the peer sent).
pub fn decode<'a>(text: &[u8], out: &'a mut [u8]) -> Result<&'a [u8], DecodeError> {
    let len = decoded_len(text.len()).ok_or(DecodeError::Invalid)?;
    let out = out.get_mut(..len).ok_or(DecodeError::OutputTooShort)?;
    // Per character, folded into one flag at the end (no branch per block).
    let mut invalid = [0u8; 16];
    let mut blocks = text.chunks_exact(16);
    let mut outs = out.chunks_exact_mut(12);
    for (block, bytes) in (&mut blocks).zip(&mut outs) {
        let mut padded = [0u8; 16];
        padded.copy_from_slice(block);
        bytes.copy_from_slice(&decode_block(&padded, &mut invalid));
    }
    let rest = blocks.remainder();
    let mut stray_bits = 0u8;
    if !rest.is_empty() {
        // 'A' is zero, so padding with it leaves the bits after the last
        // character zero; any set bit past the last whole byte is then one
        // the text itself put there, which canonical text never does.
        let decoded = decode_block(&padded_tail(text, rest.len()), &mut invalid);
        let tail = outs.into_remainder();
        // Byte by byte: at most eleven, and cheaper than a memcpy call.
        for (out, &byte) in tail.iter_mut().zip(&decoded) {
            *out = byte;
        }
        for &byte in &decoded[tail.len()..] {
            stray_bits |= byte;
        }
    }
    if invalid.iter().fold(stray_bits, |all, &flag| all | flag) == 0 {
        Ok(out)
    } else {
        Err(DecodeError::Invalid)
    }
}

/// The last block of `text`: its final `rest` (1 to 15) characters, then
/// 'A's. Built from the last sixteen characters with a shift where the text
/// has that many: filling a buffer byte by byte and reading it back as one
/// block stalled store-to-load forwarding, and the compiler made the fill
/// two library calls.
#[inline(always)]
fn padded_tail(text: &[u8], rest: usize) -> [u8; 16] {
    let missing = 16usize.saturating_sub(rest);
    match text.last_chunk::<16>() {
        Some(last) if (1..16).contains(&missing) => {
            let chars = u128::from_le_bytes(*last) >> (8 * missing);
            let filler = u128::from_le_bytes([b'A'; 16]) << (8 * rest);
            (chars | filler).to_le_bytes()
        }
        _ => {
            let mut padded = [b'A'; 16];
            let tail = &text[text.len().saturating_sub(rest)..];
            for (pad, &char) in padded.iter_mut().zip(tail) {
                *pad = char;
            }
            padded
        }
    }
}

/// Why [`decode`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A character outside the alphabet, an impossible length, or non-zero
    /// bits after the last byte (each byte string has exactly one encoding).
    Invalid,
    /// The output buffer is shorter than the decoded length.
    OutputTooShort,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(
        miri,
        ignore = "exhaustive: hours under miri; the fuzz target covers the same ground"
    )]
    fn blocks_round_trip_on_every_sextet_in_every_position() {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for position in 0..16 {
            for sextet in 0..64u8 {
                let mut sextets = [0u8; 16];
                sextets[position] = sextet;
                let bytes = pack(&sextets);
                assert_eq!(unpack(&bytes), sextets);
                let text = encode_block(&bytes);
                let mut expected = [b'A'; 16];
                expected[position] = ALPHABET[usize::from(sextet)];
                assert_eq!(text, expected, "sextet {sextet} at {position}");
                let mut invalid = [0u8; 16];
                assert_eq!(decode_block(&text, &mut invalid), bytes);
                assert_eq!(invalid, [0u8; 16]);
            }
        }
    }

    #[test]
    fn rfc_4648_vectors_in_the_url_alphabet() {
        let cases: [(&[u8], &str); 8] = [
            (b"", ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg"),
            (b"fooba", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy"),
            (&[0xfb, 0xff, 0xbf, 0xfe, 0xfb, 0xef, 0xbe], "-_-__vvvvg"),
        ];
        for (bytes, text) in cases {
            let mut out = [0u8; 16];
            let n = encode(bytes, &mut out).unwrap();
            assert_eq!(&out[..n], text.as_bytes());
            let mut back = [0u8; 16];
            assert_eq!(decode(text.as_bytes(), &mut back), Ok(bytes));
        }
    }

    #[test]
    fn lengths_match_the_plain_formulas_and_do_not_overflow() {
        for n in 0..10_000usize {
            assert_eq!(encoded_len(n), (n * 4).div_ceil(3));
            let decoded = if n % 4 == 1 { None } else { Some(n * 3 / 4) };
            assert_eq!(decoded_len(n), decoded);
        }
        // usize::MAX - 1 leaves 2 characters over: one more byte.
        assert_eq!(
            decoded_len(usize::MAX - 1),
            Some((usize::MAX - 1) / 4 * 3 + 1)
        );
        assert!(encoded_len(usize::MAX / 2) > usize::MAX / 2);
    }

    #[test]
    fn short_buffers_and_bad_lengths_are_refused() {
        assert_eq!(encode(b"foo", &mut [0u8; 3]), Err(OutputTooShort));
        assert_eq!(
            decode(b"Zm9v", &mut [0u8; 2]),
            Err(DecodeError::OutputTooShort)
        );
        assert_eq!(decode(b"Zm9vY", &mut [0u8; 8]), Err(DecodeError::Invalid));
        assert_eq!(decode(b"Zh", &mut [0u8; 8]), Err(DecodeError::Invalid));
        assert_eq!(decode(b"Zm8=", &mut [0u8; 8]), Err(DecodeError::Invalid));
        assert_eq!(decode(b"Zm9+", &mut [0u8; 8]), Err(DecodeError::Invalid));
    }

    /// Deterministic filler bytes, so failures reproduce.
    fn filler(seed: u64, out: &mut [u8]) {
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        for byte in out {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = (state >> 32) as u8;
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "exhaustive: hours under miri; the fuzz target covers the same ground"
    )]
    fn agrees_with_base64ct_on_every_length() {
        use base64ct::{Base64UrlUnpadded, Encoding};
        for len in 0..=300 {
            for seed in 0..8 {
                let mut bytes = [0u8; 300];
                filler(seed * 1000 + len as u64, &mut bytes[..len]);
                let bytes = &bytes[..len];
                let mut ours = [0u8; 400];
                let mut theirs = [0u8; 400];
                let n = encode(bytes, &mut ours).unwrap();
                let expected = Base64UrlUnpadded::encode(bytes, &mut theirs).unwrap();
                assert_eq!(&ours[..n], expected.as_bytes(), "len {len}");
                let mut back = [0u8; 300];
                assert_eq!(decode(&ours[..n], &mut back), Ok(bytes), "len {len}");
            }
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "exhaustive: hours under miri; the fuzz target covers the same ground"
    )]
    fn accepts_and_rejects_exactly_what_base64ct_does() {
        use base64ct::{Base64UrlUnpadded, Encoding};
        // Every byte value in every position of valid text of every length
        // up to 40 characters (all three tail shapes, several whole chunks).
        for len in 0..=40usize {
            let mut bytes = [0u8; 30];
            filler(len as u64, &mut bytes);
            // Valid text of `len` characters; for the lengths no bytes encode
            // to (len % 4 == 1), valid text one shorter plus an 'A'.
            let mut text = [b'A'; 48];
            encode(&bytes[..len * 3 / 4], &mut text).unwrap();
            let n = len;
            for position in 0..n {
                for value in 0..=255u8 {
                    let original = text[position];
                    text[position] = value;
                    let mut ours = [0u8; 32];
                    let mut theirs = [0u8; 32];
                    let got = decode(&text[..n], &mut ours).map_err(|_| ());
                    let want = Base64UrlUnpadded::decode(&text[..n], &mut theirs).map_err(|_| ());
                    assert_eq!(got, want, "text {:?}", &text[..n]);
                    text[position] = original;
                }
            }
        }
    }
}
