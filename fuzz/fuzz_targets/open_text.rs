//! Arbitrary token text through a fixed ring, under the default, a permissive
//! and a strict policy, every context and several times. Must never panic;
//! authentication errors must not depend on the policy; a token that opens
//! must re-seal and re-open to equal claims.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    sesame_fuzz::open_everywhere(text);
});
