//! The format's own test vectors (tests/vectors/format-v1.txt), checked three
//! ways: sealing the inputs through the public API gives the exact token;
//! opening the token gives the exact claims; and the token equals one built
//! by hand from the spec in docs/FORMAT.md out of the bare XAES primitive.
//!
//! `SESAME_WRITE_VECTORS=1 cargo test --test format_vectors` rewrites the file
//! from the inputs (only for adding vectors; review the diff).

mod common;

use common::{hex, to_hex, ScriptedRng};
use sesame::primitives::XaesKey;
use sesame::{KeyRing, NewSession, Policy};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/format-v1.txt");

struct Vector {
    fields: Vec<(String, String)>,
}

impl Vector {
    fn get(&self, name: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name}"))
    }
    fn num(&self, name: &str) -> u64 {
        self.get(name).parse().unwrap()
    }
    fn opt(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            "none" => None,
            v => Some(v.parse().unwrap()),
        }
    }
}

fn parse(text: &str) -> Vec<Vector> {
    text.split("\n\n")
        .map(|block| Vector {
            fields: block
                .lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .map(|l| {
                    let (k, v) = l.split_once(':').unwrap();
                    (k.trim().to_string(), v.trim().to_string())
                })
                .collect(),
        })
        .filter(|v| !v.fields.is_empty())
        .collect()
}

/// Seal (and, for refreshed vectors, refresh) the inputs through the public API.
fn seal_through_api(v: &Vector) -> String {
    let mut ring: KeyRing = KeyRing::new();
    ring.add_key(
        v.num("key_id") as u32,
        &hex(v.get("key")).try_into().unwrap(),
    )
    .unwrap();
    let data = hex(v.get("data"));
    let context = hex(v.get("context"));
    let session = NewSession {
        kind: sesame::SessionKind::Browser,
        user_id: v.num("user_id"),
        lifetime: v.opt("lifetime"),
        data: &data,
    };
    let issued_at = v.num("issued_at");
    let refreshed_at = v.num("refreshed_at");
    if refreshed_at == issued_at {
        let script = [hex(v.get("nonce")), hex(v.get("session_id"))].concat();
        return ring
            .seal_token(
                &session,
                &context,
                issued_at,
                &mut ScriptedRng::new(&script),
            )
            .unwrap()
            .to_string();
    }
    // A refreshed token: sealed first with a throwaway nonce, then refreshed.
    let script = [vec![0xee; 24], hex(v.get("session_id"))].concat();
    let first = ring
        .seal_token(
            &session,
            &context,
            issued_at,
            &mut ScriptedRng::new(&script),
        )
        .unwrap();
    let policy = Policy {
        idle_timeout: None,
        absolute_lifetime: None,
        ..Policy::default()
    };
    let (_, token) = ring
        .refresh_token(
            &first,
            &context,
            &policy,
            refreshed_at,
            &mut ScriptedRng::new(&hex(v.get("nonce"))),
        )
        .unwrap();
    token.to_string()
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn base64url(bytes: &[u8]) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(alphabet[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The token built by hand from docs/FORMAT.md and the bare XAES primitive.
fn build_from_spec(v: &Vector) -> String {
    let mut header = vec![1u8];
    varint(v.num("key_id"), &mut header);
    let mut plaintext = Vec::new();
    varint(v.num("user_id"), &mut plaintext);
    plaintext.extend(hex(v.get("session_id")));
    varint(v.num("issued_at"), &mut plaintext);
    varint(v.num("refreshed_at") - v.num("issued_at"), &mut plaintext);
    match v.opt("lifetime") {
        None => plaintext.push(0),
        Some(l) => {
            plaintext.push(1);
            varint(l, &mut plaintext);
        }
    }
    let data = hex(v.get("data"));
    varint(data.len() as u64, &mut plaintext);
    plaintext.extend(&data);
    let nonce: [u8; 24] = hex(v.get("nonce")).try_into().unwrap();
    let ad = [header.clone(), hex(v.get("context"))].concat();
    let key = XaesKey::new(&hex(v.get("key")).try_into().unwrap());
    let tag = key.seal_in_place(&nonce, &ad, &mut plaintext);
    base64url(&[header, nonce.to_vec(), plaintext, tag.to_vec()].concat())
}

#[test]
fn format_v1_vectors() {
    let text = std::fs::read_to_string(PATH).unwrap();
    let vectors = parse(&text);
    assert!(
        vectors.len() >= 4,
        "expected the vector file to hold several vectors"
    );
    if std::env::var_os("SESAME_WRITE_VECTORS").is_some() {
        let mut out = String::from(include_str!("vectors/format-v1.header.txt"));
        for v in &vectors {
            out.push('\n');
            for (k, value) in &v.fields {
                let value = if k == "token" {
                    seal_through_api(v)
                } else {
                    value.clone()
                };
                out.push_str(&format!("{k}: {value}\n"));
            }
        }
        std::fs::write(PATH, out).unwrap();
        return;
    }
    for v in &vectors {
        let name = v.get("name");
        let token = v.get("token");
        assert_eq!(seal_through_api(v), token, "{name}: seal");
        assert_eq!(build_from_spec(v), token, "{name}: spec construction");
        assert_eq!(token.len() as u64, v.num("token_chars"), "{name}: length");

        let mut ring: KeyRing = KeyRing::new();
        ring.add_key(
            v.num("key_id") as u32,
            &hex(v.get("key")).try_into().unwrap(),
        )
        .unwrap();
        let policy = Policy {
            idle_timeout: None,
            absolute_lifetime: None,
            ..Policy::default()
        };
        let claims = ring
            .open(
                token,
                &hex(v.get("context")),
                &policy,
                v.num("refreshed_at"),
            )
            .unwrap();
        assert_eq!(claims.user_id, v.num("user_id"), "{name}");
        assert_eq!(to_hex(&claims.session_id), v.get("session_id"), "{name}");
        assert_eq!(claims.issued_at, v.num("issued_at"), "{name}");
        assert_eq!(claims.refreshed_at, v.num("refreshed_at"), "{name}");
        assert_eq!(claims.lifetime, v.opt("lifetime"), "{name}");
        assert_eq!(to_hex(&claims.data), v.get("data"), "{name}");
        let mut wrong_context = hex(v.get("context"));
        match wrong_context.last_mut() {
            Some(last) => *last ^= 1,
            None => wrong_context.push(b'!'),
        }
        assert_eq!(
            ring.open(token, &wrong_context, &policy, v.num("refreshed_at")),
            Err(sesame::Error::AuthFailed)
        );
    }
}
