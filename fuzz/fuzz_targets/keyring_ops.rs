//! Arbitrary sequences of add / derive / promote / retire / seal / open on a
//! KeyRing<4>, checked step by step against a plain model of the ring: a token
//! opens iff a key with its ID and the same material is present (another key
//! under the same ID: AuthFailed; no such ID: UnknownKey); seal without a
//! primary is NoPrimaryKey; a fifth key is RingFull.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sesame::{derive_key, Error, KeyRing, NewSession};
use sesame_fuzz::{expected_claims, TestRng, PERMISSIVE};

const CAPACITY: usize = 4;

#[derive(Arbitrary, Debug)]
enum Op {
    Add {
        id: u8,
        fill: u8,
    },
    Derive {
        id: u8,
        master: Vec<u8>,
        purpose: Vec<u8>,
    },
    Promote {
        id: u8,
    },
    Retire {
        id: u8,
    },
    Seal {
        user_id: u64,
        context: u8,
    },
    Open {
        token: u8,
        context: u8,
    },
    Clone,
}

/// Small IDs collide often; a few large ones exercise long headers.
fn key_id(id: u8) -> u32 {
    match id % 8 {
        6 => 300,
        7 => u32::MAX - u32::from(id / 8),
        n => u32::from(n),
    }
}

fn context(c: u8) -> &'static [u8] {
    [b"".as_slice(), b"a", b"b"][usize::from(c % 3)]
}

#[derive(Default)]
struct Model {
    keys: Vec<(u32, [u8; 32])>,
    primary: Option<u32>,
}

impl Model {
    fn add(&mut self, id: u32, key: [u8; 32]) -> Result<(), Error> {
        if key == [0; 32] {
            return Err(Error::InvalidKey);
        }
        if self.keys.iter().any(|k| k.0 == id) {
            return Err(Error::DuplicateKeyId);
        }
        if self.keys.len() == CAPACITY {
            return Err(Error::RingFull);
        }
        self.keys.push((id, key));
        self.primary.get_or_insert(id);
        Ok(())
    }
    fn material(&self, id: u32) -> Option<[u8; 32]> {
        self.keys.iter().find(|k| k.0 == id).map(|k| k.1)
    }
}

struct Sealed {
    text: String,
    key_id: u32,
    key: [u8; 32],
    context: &'static [u8],
    claims: sesame::Claims,
}

fuzz_target!(|ops: Vec<Op>| {
    let mut ring: KeyRing<CAPACITY> = KeyRing::new();
    let mut model = Model::default();
    let mut tokens: Vec<Sealed> = Vec::new();
    let now = sesame_fuzz::NOW;
    for (step, op) in ops.into_iter().take(64).enumerate() {
        match op {
            Op::Add { id, fill } => {
                let id = key_id(id);
                let mut key = [fill; 32];
                key[0] = key[0].wrapping_mul(id as u8 | 1) & fill;
                assert_eq!(ring.add_key(id, &key), model.add(id, key), "add {id}");
            }
            Op::Derive {
                id,
                master,
                purpose,
            } => {
                let id = key_id(id);
                let expected = match derive_key(&master, &purpose) {
                    Ok(key) => model.add(id, *key),
                    Err(e) => {
                        assert!(master.is_empty());
                        Err(e)
                    }
                };
                assert_eq!(ring.add_derived_key(id, &master, &purpose), expected);
            }
            Op::Promote { id } => {
                let id = key_id(id);
                let expected = if model.material(id).is_some() {
                    model.primary = Some(id);
                    Ok(())
                } else {
                    Err(Error::UnknownKey)
                };
                assert_eq!(ring.promote(id), expected);
            }
            Op::Retire { id } => {
                let id = key_id(id);
                let expected = if let Some(at) = model.keys.iter().position(|k| k.0 == id) {
                    model.keys.remove(at);
                    if model.primary == Some(id) {
                        model.primary = None;
                    }
                    Ok(())
                } else {
                    Err(Error::UnknownKey)
                };
                assert_eq!(ring.retire(id), expected);
            }
            Op::Seal {
                user_id,
                context: c,
            } => {
                let session = NewSession::new(user_id);
                let rng = TestRng::new(step as u64);
                let got = ring.seal_token(&session, context(c), now, &mut rng.clone());
                match model.primary {
                    None => assert_eq!(got, Err(Error::NoPrimaryKey)),
                    Some(id) => {
                        let text = got.expect("seal with a primary key").to_string();
                        tokens.push(Sealed {
                            text,
                            key_id: id,
                            key: model.material(id).unwrap(),
                            context: context(c),
                            claims: expected_claims(&session, now, &rng),
                        });
                    }
                }
            }
            Op::Open { token, context: c } => {
                if tokens.is_empty() {
                    continue;
                }
                let t = &tokens[usize::from(token) % tokens.len()];
                let ctx = context(c);
                let got = ring.open(&t.text, ctx, &PERMISSIVE, now);
                let expected = match model.material(t.key_id) {
                    None => Err(Error::UnknownKey),
                    Some(key) if key != t.key => Err(Error::AuthFailed),
                    Some(_) if ctx != t.context => Err(Error::AuthFailed),
                    Some(_) => Ok(t.claims.clone()),
                };
                assert_eq!(got, expected, "open token under key {}", t.key_id);
            }
            Op::Clone => {
                // A clone is an independent ring with the same keys.
                let copy = ring.clone();
                assert_eq!(copy.primary_id(), ring.primary_id());
                ring = copy;
            }
        }
        assert_eq!(ring.len(), model.keys.len());
        assert_eq!(ring.is_empty(), model.keys.is_empty());
        assert_eq!(ring.primary_id(), model.primary);
        for (id, _) in &model.keys {
            assert!(ring.contains(*id));
        }
        let mut ids: Vec<u32> = ring.key_ids().collect();
        let mut want: Vec<u32> = model.keys.iter().map(|k| k.0).collect();
        ids.sort_unstable();
        want.sort_unstable();
        assert_eq!(ids, want);
    }
});
