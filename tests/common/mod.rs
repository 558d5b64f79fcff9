//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sesame::rand_core::{self, CryptoRng, RngCore};

/// Hands out exactly the bytes it was given, in order, then fails: lets a test
/// fix the nonce and session ID that seal draws.
pub struct ScriptedRng {
    bytes: Vec<u8>,
    at: usize,
}

impl ScriptedRng {
    pub fn new(bytes: &[u8]) -> Self {
        ScriptedRng {
            bytes: bytes.to_vec(),
            at: 0,
        }
    }
}

impl CryptoRng for ScriptedRng {}

impl RngCore for ScriptedRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.try_fill_bytes(dest).expect("scripted bytes exhausted")
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        let end = self.at + dest.len();
        if end > self.bytes.len() {
            return Err(core::num::NonZeroU32::new(rand_core::Error::CUSTOM_START)
                .unwrap()
                .into());
        }
        dest.copy_from_slice(&self.bytes[self.at..end]);
        self.at = end;
        Ok(())
    }
}

pub fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
