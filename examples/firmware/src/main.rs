//! Seals a session and opens it again on bare metal: no std, no heap.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use panic_halt as _;
use sesame::rand_core::{self, CryptoRng, RngCore};
use sesame::{KeyRing, NewSession, Policy, TOKEN_MAX};

/// The STM32F4 true random number generator (RNG_SR, RNG_DR). A real board
/// would use its HAL's RNG, which implements the same rand_core traits.
struct Trng;

const RNG_SR: *const u32 = 0x5006_0804 as *const u32;
const RNG_DR: *const u32 = 0x5006_0808 as *const u32;

impl Trng {
    fn word(&mut self) -> u32 {
        // SAFETY: hardware boundary. RNG_SR and RNG_DR are the documented,
        // always-mapped, 4-byte-aligned registers of the RNG peripheral;
        // volatile reads have no side effect beyond consuming a sample.
        unsafe {
            while core::ptr::read_volatile(RNG_SR) & 1 == 0 {}
            core::ptr::read_volatile(RNG_DR)
        }
    }
}

impl CryptoRng for Trng {}

impl RngCore for Trng {
    fn next_u32(&mut self) -> u32 {
        self.word()
    }
    fn next_u64(&mut self) -> u64 {
        (u64::from(self.word()) << 32) | u64::from(self.word())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let word = self.word().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

#[entry]
fn main() -> ! {
    let mut ring: KeyRing<2> = KeyRing::new();
    // A provisioned device secret in a real product.
    let master = core::hint::black_box(*b"device master secret, provisioned");
    let ok = ring.add_derived_key(1, &master, b"session cookie").is_ok();

    let now = core::hint::black_box(1_700_000_000u64);
    let mut token = [0u8; TOKEN_MAX];
    let opened = ring
        .seal(&NewSession::new(123_456), b"", now, &mut Trng, &mut token)
        .and_then(|len| ring.open(&token[..len], b"", &Policy::default(), now + 60));
    let user = core::hint::black_box(opened.map(|claims| claims.user_id).unwrap_or(0));
    loop {
        core::hint::black_box((ok, user));
    }
}
