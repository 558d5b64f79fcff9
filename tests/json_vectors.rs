//! The machine-readable vectors, `tests/vectors/tokens-v1.json` (schema in
//! docs/FORMAT.md, "Machine-readable vectors").
//!
//! The generator below builds every token by hand from the spec (header,
//! XAES-256-GCM over a plaintext it encodes itself, base64url) with a
//! fixed-seed ChaCha20 for nonces and session IDs, checks each case against
//! the library as it goes, and writes the file. The tests then check, from
//! the JSON alone, every case against the library, and that regenerating
//! gives the committed file byte for byte.
//!
//! `SESAME_WRITE_VECTORS=1 cargo test --test json_vectors` rewrites the file
//! (review the diff).

mod common;

use common::{hex, to_hex, ScriptedRng};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Map, Value};
use sesame::format::Header;
use sesame::primitives::XaesKey;
use sesame::{derive_key, Claims, Error, KeyRing, NewSession, Policy, SessionKind, TOKEN_MAX};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/tokens-v1.json");

/// 2023-11-14T22:13:20Z, the issue time of most vectors.
const T: u64 = 1_700_000_000;

// ---------------------------------------------------------------------------
// Spec-level building blocks (docs/FORMAT.md), independent of the codec.

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A longer-than-needed varint of exactly `width` bytes (postcard accepts these).
fn varint_wide(n: u64, width: usize, out: &mut Vec<u8>) {
    for i in 0..width {
        let group = if 7 * i < 64 { (n >> (7 * i)) & 0x7f } else { 0 };
        let more = if i + 1 < width { 0x80 } else { 0 };
        out.push(group as u8 | more);
    }
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

/// Honest claims: what a sealer writes (shortest varints).
#[derive(Clone, Debug)]
struct Plain {
    user_id: u64,
    session_id: [u8; 16],
    issued_at: u64,
    refreshed_at: u64,
    lifetime: Option<u64>,
    kind: SessionKind,
    data: Vec<u8>,
}

fn kind_name(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Browser => "browser",
        SessionKind::RememberMe => "remember_me",
    }
}

impl Plain {
    fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        varint(self.user_id, &mut p);
        p.extend(self.session_id);
        varint(self.issued_at, &mut p);
        varint(self.refreshed_at - self.issued_at, &mut p);
        // The tag: bit 0, a lifetime follows; bit 1, remember me.
        let remember = u8::from(self.kind == SessionKind::RememberMe);
        match (self.kind, self.lifetime) {
            (_, Some(l)) => {
                p.push(1 + remember);
                varint(l, &mut p);
            }
            (_, None) => p.push(3 * remember),
        }
        varint(self.data.len() as u64, &mut p);
        p.extend(&self.data);
        p
    }

    fn json(&self) -> Value {
        json!({
            "user_id": self.user_id.to_string(),
            "session_id": to_hex(&self.session_id),
            "issued_at": self.issued_at.to_string(),
            "refreshed_at": self.refreshed_at.to_string(),
            "lifetime": self.lifetime.map(|l| l.to_string()),
            "kind": kind_name(self.kind),
            "data": to_hex(&self.data),
        })
    }

    fn matches(&self, claims: &Claims) -> bool {
        claims.user_id == self.user_id
            && claims.session_id == self.session_id
            && claims.issued_at == self.issued_at
            && claims.refreshed_at == self.refreshed_at
            && claims.lifetime == self.lifetime
            && claims.kind == self.kind
            && claims.data[..] == self.data[..]
    }
}

#[derive(Clone, Debug)]
enum KeySpec {
    Raw(u32, [u8; 32]),
    Derived(u32, Vec<u8>, Vec<u8>),
}

impl KeySpec {
    fn id(&self) -> u32 {
        match self {
            KeySpec::Raw(id, _) | KeySpec::Derived(id, _, _) => *id,
        }
    }
    fn bytes(&self) -> [u8; 32] {
        match self {
            KeySpec::Raw(_, k) => *k,
            KeySpec::Derived(_, master, purpose) => *derive_key(master, purpose).unwrap(),
        }
    }
    fn json(&self) -> Value {
        match self {
            KeySpec::Raw(id, k) => json!({ "id": id, "key": to_hex(k) }),
            KeySpec::Derived(id, master, purpose) => json!({
                "id": id,
                "master": to_hex(master),
                "purpose": to_hex(purpose),
            }),
        }
    }
}

fn policy_json(p: &Policy) -> Value {
    json!({
        "idle_timeout": p.idle_timeout.map(|v| v.to_string()),
        "absolute_lifetime": p.absolute_lifetime.map(|v| v.to_string()),
        "future_leeway": p.future_leeway.to_string(),
        "revoked_before": p.revoked_before.to_string(),
        "remember_me_idle_timeout": p.remember_me_idle_timeout.map(|v| v.to_string()),
        "remember_me_absolute_lifetime": p.remember_me_absolute_lifetime.map(|v| v.to_string()),
    })
}

fn error_name(code: u32) -> &'static str {
    [
        "",
        "malformed",
        "too long",
        "unsupported version",
        "unknown key",
        "authentication failed",
        "idle expired",
        "lifetime expired",
        "issued in the future",
        "revoked",
        "buffer too small",
        "no primary key",
        "ring full",
        "invalid key",
        "duplicate key ID",
        "data too long",
        "context too long",
        "random failed",
    ][code as usize]
}

/// Where and how a case is opened.
#[derive(Clone, Debug)]
struct Inputs {
    keys: Vec<KeySpec>,
    context: Vec<u8>,
    now: u64,
    policy: Policy,
}

impl Inputs {
    fn new(key: &KeySpec, now: u64) -> Self {
        Inputs {
            keys: vec![key.clone()],
            context: Vec::new(),
            now,
            policy: Policy::DEFAULT,
        }
    }
    fn context(mut self, context: &[u8]) -> Self {
        self.context = context.to_vec();
        self
    }
    fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    fn keys(mut self, keys: &[KeySpec]) -> Self {
        self.keys = keys.to_vec();
        self
    }
    fn ring(&self) -> KeyRing {
        let mut ring = KeyRing::new();
        for key in &self.keys {
            ring.add_key(key.id(), &key.bytes()).unwrap();
        }
        ring
    }
    fn fill(&self, case: &mut Map<String, Value>) {
        case.insert(
            "keys".into(),
            Value::Array(self.keys.iter().map(KeySpec::json).collect()),
        );
        case.insert("context".into(), to_hex(&self.context).into());
        case.insert("now".into(), self.now.to_string().into());
        case.insert("policy".into(), policy_json(&self.policy));
    }
}

struct Generator {
    rng: ChaCha20Rng,
    keys: Vec<Value>,
    positive: Vec<Value>,
    negative: Vec<Value>,
    refresh: Vec<Value>,
}

impl Generator {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.rng.fill_bytes(&mut b);
        b
    }

    /// The binary token of `plaintext` under `key`, built from the spec, with
    /// a header of the given bytes (normally version 1 and the key ID).
    fn binary(
        &mut self,
        key: &[u8; 32],
        header: &[u8],
        context: &[u8],
        plaintext: &[u8],
    ) -> Vec<u8> {
        let nonce: [u8; 24] = self.bytes();
        let ad = [header, context].concat();
        let mut buffer = plaintext.to_vec();
        let tag = XaesKey::new(key).seal_in_place(&nonce, &ad, &mut buffer);
        [header, &nonce[..], &buffer, &tag].concat()
    }

    /// A token of an arbitrary (possibly invalid) plaintext, authenticated.
    fn craft(&mut self, key: &KeySpec, context: &[u8], plaintext: &[u8]) -> String {
        let header = Header::new(key.id());
        base64url(&self.binary(&key.bytes(), header.as_bytes(), context, plaintext))
    }

    #[allow(clippy::too_many_arguments)]
    /// An honest token sealed at `issued_at` for `user_id`, and its claims.
    /// When `refreshed_at == issued_at` the library's seal must give the same text.
    fn honest(
        &mut self,
        key: &KeySpec,
        context: &[u8],
        user_id: u64,
        issued_at: u64,
        refreshed_at: u64,
        lifetime: Option<u64>,
        data: &[u8],
    ) -> (String, Plain) {
        self.honest_as(
            SessionKind::Browser,
            key,
            context,
            user_id,
            issued_at,
            refreshed_at,
            lifetime,
            data,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn honest_as(
        &mut self,
        kind: SessionKind,
        key: &KeySpec,
        context: &[u8],
        user_id: u64,
        issued_at: u64,
        refreshed_at: u64,
        lifetime: Option<u64>,
        data: &[u8],
    ) -> (String, Plain) {
        let nonce: [u8; 24] = self.bytes();
        let session_id: [u8; 16] = self.bytes();
        let plain = Plain {
            user_id,
            session_id,
            issued_at,
            refreshed_at,
            lifetime,
            kind,
            data: data.to_vec(),
        };
        let header = Header::new(key.id());
        let ad = [header.as_bytes(), context].concat();
        let mut buffer = plain.encode();
        let tag = XaesKey::new(&key.bytes()).seal_in_place(&nonce, &ad, &mut buffer);
        let token = base64url(&[header.as_bytes(), &nonce[..], &buffer, &tag].concat());
        if refreshed_at == issued_at {
            let mut ring: KeyRing = KeyRing::new();
            ring.add_key(key.id(), &key.bytes()).unwrap();
            let sealed = ring
                .seal_token(
                    &NewSession {
                        kind,
                        user_id,
                        lifetime,
                        data,
                    },
                    context,
                    issued_at,
                    &mut ScriptedRng::new(&[&nonce[..], &session_id[..]].concat()),
                )
                .unwrap();
            assert_eq!(sealed.as_str(), token, "seal disagrees with the spec");
        }
        (token, plain)
    }

    fn positive(&mut self, name: &str, inputs: &Inputs, token: &str, claims: &Plain) {
        let opened = inputs
            .ring()
            .open(token, &inputs.context, &inputs.policy, inputs.now);
        match &opened {
            Ok(c) => assert!(claims.matches(c), "{name}: {c:?} != {claims:?}"),
            Err(e) => panic!("{name}: {e:?}"),
        }
        let mut case = Map::new();
        case.insert("name".into(), name.into());
        inputs.fill(&mut case);
        case.insert("token".into(), token.into());
        case.insert("claims".into(), claims.json());
        self.positive.push(Value::Object(case));
    }

    fn negative(&mut self, name: &str, inputs: &Inputs, token: &str, error: Error) {
        let opened = inputs
            .ring()
            .open(token, &inputs.context, &inputs.policy, inputs.now);
        assert_eq!(opened.err(), Some(error), "{name}");
        let mut case = Map::new();
        case.insert("name".into(), name.into());
        inputs.fill(&mut case);
        case.insert("token".into(), token.into());
        case.insert("error".into(), error.code().into());
        case.insert("error_name".into(), error_name(error.code()).into());
        self.negative.push(Value::Object(case));
    }

    fn refresh(
        &mut self,
        name: &str,
        inputs: &Inputs,
        primary: u32,
        token: &str,
        expected: Result<Plain, Error>,
    ) {
        let mut ring = inputs.ring();
        ring.promote(primary).unwrap();
        let nonce: [u8; 24] = self.bytes();
        let refreshed = ring.refresh_token(
            token,
            &inputs.context,
            &inputs.policy,
            inputs.now,
            &mut ScriptedRng::new(&nonce),
        );
        let mut case = Map::new();
        case.insert("name".into(), name.into());
        inputs.fill(&mut case);
        case.insert("primary".into(), primary.into());
        case.insert("token".into(), token.into());
        case.insert("nonce".into(), to_hex(&nonce).into());
        match expected {
            Ok(plain) => {
                let (claims, new_token) = refreshed.unwrap();
                assert!(plain.matches(&claims), "{name}");
                // The new token, built from the spec under the primary key.
                let key = inputs.keys.iter().find(|k| k.id() == primary).unwrap();
                let header = Header::new(primary);
                let ad = [header.as_bytes(), &inputs.context[..]].concat();
                let mut buffer = plain.encode();
                let tag = XaesKey::new(&key.bytes()).seal_in_place(&nonce, &ad, &mut buffer);
                let built = base64url(&[header.as_bytes(), &nonce[..], &buffer, &tag].concat());
                assert_eq!(new_token.as_str(), built, "{name}");
                case.insert("refreshed_token".into(), built.into());
                case.insert("claims".into(), plain.json());
            }
            Err(error) => {
                assert_eq!(refreshed.err(), Some(error), "{name}");
                case.insert("error".into(), error.code().into());
                case.insert("error_name".into(), error_name(error.code()).into());
            }
        }
        self.refresh.push(Value::Object(case));
    }

    fn key_case(&mut self, name: &str, input: Value, expected: Result<[u8; 32], Error>) {
        let mut case = Map::new();
        case.insert("name".into(), name.into());
        case.insert("input".into(), input);
        match expected {
            Ok(key) => case.insert("key".into(), to_hex(&key).into()),
            Err(e) => {
                case.insert("error_name".into(), error_name(e.code()).into());
                case.insert("error".into(), e.code().into())
            }
        };
        self.keys.push(Value::Object(case));
    }
}

fn no_limits() -> Policy {
    Policy {
        remember_me_idle_timeout: None,
        remember_me_absolute_lifetime: None,
        idle_timeout: None,
        absolute_lifetime: None,
        future_leeway: 60,
        revoked_before: 0,
        refresh_after: Policy::DEFAULT.refresh_after,
    }
}

/// Builds the whole vector file.
fn generate() -> String {
    let mut g = Generator {
        rng: ChaCha20Rng::seed_from_u64(0x5e5a_3e01),
        keys: Vec::new(),
        positive: Vec::new(),
        negative: Vec::new(),
        refresh: Vec::new(),
    };
    let raw: [u8; 32] = core::array::from_fn(|i| i as u8);
    let k1 = KeySpec::Raw(1, raw);
    let k300 = KeySpec::Derived(
        300,
        b"a long random master secret from the vault".to_vec(),
        b"session cookie 2026-11".to_vec(),
    );
    let k_empty_purpose = KeySpec::Derived(7, b"master".to_vec(), Vec::new());
    let k_max = KeySpec::Raw(u32::MAX, core::array::from_fn(|i| 0xa0 ^ i as u8));
    let k2 = KeySpec::Raw(2, core::array::from_fn(|i| 0x40 + i as u8));
    let k1_other = KeySpec::Raw(1, core::array::from_fn(|i| 0x40 + i as u8));
    let ctx = b"device-cookie-hash".to_vec();
    let day = 86_400;

    // ---- keys -------------------------------------------------------------
    for (name, master, purpose) in [
        (
            "derived key",
            &b"a long random master secret from the vault"[..],
            &b"session cookie 2026-11"[..],
        ),
        ("empty purpose is allowed (HKDF info empty)", b"master", b""),
        ("one-byte master secret", b"m", b"p"),
    ] {
        let key = *derive_key(master, purpose).unwrap();
        g.key_case(
            name,
            json!({ "master": to_hex(master), "purpose": to_hex(purpose) }),
            Ok(key),
        );
    }
    assert_eq!(derive_key(b"", b"purpose").err(), Some(Error::InvalidKey));
    g.key_case(
        "empty master secret",
        json!({ "master": "", "purpose": to_hex(b"purpose") }),
        Err(Error::InvalidKey),
    );
    g.key_case(
        "empty master secret and empty purpose",
        json!({ "master": "", "purpose": "" }),
        Err(Error::InvalidKey),
    );
    assert_eq!(
        KeyRing::<1>::new().add_key(1, &[0; 32]),
        Err(Error::InvalidKey)
    );
    g.key_case(
        "all-zero raw key",
        json!({ "key": to_hex(&[0; 32]) }),
        Err(Error::InvalidKey),
    );

    // ---- positive ---------------------------------------------------------
    let (reference, ref_plain) = g.honest(&k1, b"", 123_456, T, T, None, b"");
    let at = |now| Inputs::new(&k1, now);
    g.positive("reference session", &at(T), &reference, &ref_plain);
    let (tok, plain) = g.honest(&k300, &ctx, 42, T, T, Some(30 * day), b"csrf=af31");
    g.positive(
        "derived key, key ID 300, context, per-token lifetime and data",
        &Inputs::new(&k300, T + 60).context(&ctx),
        &tok,
        &plain,
    );
    let (tok, plain) = g.honest(&k_empty_purpose, b"", 1, T, T, None, b"");
    g.positive(
        "key derived with an empty purpose",
        &Inputs::new(&k_empty_purpose, T),
        &tok,
        &plain,
    );
    let (tok, plain) = g.honest(&k1, b"", 7, T, T + 3600, None, b"x");
    g.positive(
        "refreshed token (refreshed_at after issued_at)",
        &at(T + 3600),
        &tok,
        &plain,
    );
    // The longest honest token: six-byte header, widest varints, full data.
    let (longest, plain) = g.honest(
        &k_max,
        b"",
        u64::MAX,
        u64::MAX / 2 + 1,
        u64::MAX,
        Some(u64::MAX),
        &[0xa5; 128],
    );
    assert_eq!(longest.len(), TOKEN_MAX - 1);
    g.positive(
        "longest honest token: key ID 2^32-1, widest varints, 128 bytes of data (310 chars)",
        &Inputs::new(&k_max, u64::MAX - 1).policy(no_limits()),
        &longest,
        &plain,
    );
    let ctx128 = [0x63; 128];
    let (tok, plain) = g.honest(&k1, &ctx128, 5, T, T, None, b"");
    g.positive("128-byte context", &at(T).context(&ctx128), &tok, &plain);

    // Policy boundaries.
    let (tok, plain) = g.honest(&k1, b"", 9, T, T + 100, None, b"");
    g.positive(
        "one second before the idle timeout",
        &at(T + 100 + day - 1),
        &tok,
        &plain,
    );
    let (life_tok, life_plain) = g.honest(&k1, b"", 10, T, T, Some(3600), b"");
    g.positive(
        "token lifetime only (policy lifetime absent): one second before it",
        &at(T + 3599).policy(no_limits()),
        &life_tok,
        &life_plain,
    );
    let (plain_tok, plain_plain) = g.honest(&k1, b"", 11, T, T, None, b"");
    g.positive(
        "policy lifetime only (token lifetime absent): one second before it",
        &at(T + 14 * day - 1).policy(Policy {
            idle_timeout: None,
            ..Policy::DEFAULT
        }),
        &plain_tok,
        &plain_plain,
    );
    g.positive(
        "both lifetimes absent: no absolute limit",
        &at(T + 100 * 365 * day).policy(no_limits()),
        &plain_tok,
        &plain_plain,
    );
    g.positive(
        "sums saturate: lifetime and idle timeout 2^64-1, now 2^64-2",
        &at(u64::MAX - 1).policy(Policy {
            idle_timeout: Some(u64::MAX),
            absolute_lifetime: Some(u64::MAX),
            ..Policy::DEFAULT
        }),
        &plain_tok,
        &plain_plain,
    );
    g.positive(
        "issued exactly at now + leeway",
        &at(T - 60),
        &plain_tok,
        &plain_plain,
    );
    g.positive(
        "issued exactly at the revocation cut-off (strictly before is revoked)",
        &at(T).policy(Policy {
            revoked_before: T,
            ..Policy::DEFAULT
        }),
        &plain_tok,
        &plain_plain,
    );

    // Authenticated plaintexts with longer-than-needed varints: accepted.
    let sid: [u8; 16] = g.bytes();
    let wide_plain = Plain {
        user_id: 1,
        session_id: sid,
        issued_at: T,
        refreshed_at: T,
        lifetime: Some(3600),
        kind: SessionKind::Browser,
        data: b"hi".to_vec(),
    };
    let mut p = Vec::new();
    varint_wide(1, 3, &mut p);
    p.extend(sid);
    varint_wide(T, 6, &mut p);
    varint_wide(0, 2, &mut p);
    p.push(1);
    varint_wide(3600, 4, &mut p);
    varint_wide(2, 2, &mut p);
    p.extend(b"hi");
    let tok = g.craft(&k1, b"", &p);
    g.positive(
        "longer-than-needed varints in every plaintext field are accepted",
        &at(T),
        &tok,
        &wide_plain,
    );
    let mut p = Vec::new();
    varint_wide(1, 10, &mut p);
    p.extend(sid);
    varint(T, &mut p);
    p.extend([0, 0, 0]);
    let tok = g.craft(&k1, b"", &p);
    g.positive(
        "ten-byte varint whose tenth byte is 0x00 is accepted",
        &at(T),
        &tok,
        &Plain {
            lifetime: None,
            data: Vec::new(),
            ..wide_plain.clone()
        },
    );
    // 191-byte plaintext: beyond the 187 of an honest sealer, still 311 chars.
    let big_data = vec![0x5a; 124];
    let mut p191 = Vec::new();
    varint_wide(1, 10, &mut p191);
    p191.extend(sid);
    varint_wide(T, 10, &mut p191);
    varint_wide(0, 10, &mut p191);
    p191.push(1);
    varint_wide(3600, 10, &mut p191);
    varint_wide(124, 10, &mut p191);
    p191.extend(&big_data);
    assert_eq!(p191.len(), 191);
    let tok = g.craft(&k1, b"", &p191);
    assert_eq!(tok.len(), TOKEN_MAX);
    g.positive(
        "191-byte plaintext of ten-byte varints under a one-byte key ID (311 chars) opens",
        &at(T),
        &tok,
        &Plain {
            data: big_data.clone(),
            ..wide_plain.clone()
        },
    );
    // 187 bytes under a six-byte header: also 311 chars.
    let mut p187 = p191.clone();
    p187.truncate(p191.len() - 124);
    let len_at = p187.len() - 10;
    p187.truncate(len_at);
    varint_wide(120, 10, &mut p187);
    p187.extend(&big_data[..120]);
    assert_eq!(p187.len(), 187);
    let tok = g.craft(&k_max, b"", &p187);
    assert_eq!(tok.len(), TOKEN_MAX);
    g.positive(
        "187-byte plaintext of ten-byte varints under key ID 2^32-1 (311 chars) opens",
        &Inputs::new(&k_max, T),
        &tok,
        &Plain {
            data: big_data[..120].to_vec(),
            ..wide_plain.clone()
        },
    );

    // ---- negative: context and text ----------------------------------------
    let ctx129 = [0x63; 129];
    g.negative(
        "context of 129 bytes",
        &at(T).context(&ctx129),
        &reference,
        Error::ContextTooLong,
    );
    g.negative(
        "context of 129 bytes is checked before the text",
        &at(T).context(&ctx129),
        "!",
        Error::ContextTooLong,
    );
    g.negative("empty text", &at(T), "", Error::Malformed);
    g.negative(
        "83 characters (shorter than 84)",
        &at(T),
        &reference[..83],
        Error::Malformed,
    );
    g.negative(
        "84 'A' characters decode to version 0x00",
        &at(T),
        &"A".repeat(84),
        Error::UnsupportedVersion,
    );
    g.negative(
        "312 ASCII characters",
        &at(T),
        &"A".repeat(312),
        Error::TooLong,
    );
    g.negative(
        "valid token padded with 'A' to 312 characters",
        &at(T),
        &[reference.as_str(), &"A".repeat(312 - reference.len())].concat(),
        Error::TooLong,
    );
    g.negative(
        "156 characters of U+00E9 (312 bytes): the limit counts bytes",
        &at(T),
        &"\u{e9}".repeat(156),
        Error::TooLong,
    );
    g.negative(
        "155 U+00E9 and one 'A' (311 bytes): not too long, malformed",
        &at(T),
        &["\u{e9}".repeat(155), "A".into()].concat(),
        Error::Malformed,
    );
    let mut multibyte = longest.clone();
    multibyte.replace_range(100..101, "\u{e9}");
    g.negative(
        "310-char token with one character replaced by U+00E9 (311 bytes)",
        &Inputs::new(&k_max, u64::MAX - 1).policy(no_limits()),
        &multibyte,
        Error::Malformed,
    );
    let mut multibyte = longest.clone();
    multibyte.replace_range(100..101, "\u{20ac}");
    g.negative(
        "310-char token with one character replaced by U+20AC (312 bytes)",
        &Inputs::new(&k_max, u64::MAX - 1).policy(no_limits()),
        &multibyte,
        Error::TooLong,
    );
    for (name, replacement) in [
        ("'=' inside the text", "="),
        ("'+' (standard base64)", "+"),
        ("'/' (standard base64)", "/"),
        ("space", " "),
        ("'.'", "."),
    ] {
        let mut bad = reference.clone();
        bad.replace_range(40..41, replacement);
        g.negative(name, &at(T), &bad, Error::Malformed);
    }
    g.negative(
        "trailing newline",
        &at(T),
        &format!("{reference}\n"),
        Error::Malformed,
    );
    g.negative(
        "padding '=' appended",
        &at(T),
        &format!("{reference}=="),
        Error::Malformed,
    );
    g.negative(
        "length mod 4 = 1",
        &at(T),
        &format!("{reference}A"),
        Error::Malformed,
    );
    let (tok94, _) = g.honest(&k1, b"", 123_456, T, T, None, b"x");
    assert_eq!(tok94.len() % 4, 2);
    let mut bad = tok94.clone();
    let last = bad.pop().unwrap();
    let index = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        .iter()
        .position(|&c| c == last as u8)
        .unwrap();
    assert_eq!(index & 0x0f, 0);
    bad.push(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[index | 1] as char,
    );
    g.negative(
        "non-zero unused bits in the last character",
        &at(T),
        &bad,
        Error::Malformed,
    );

    // ---- negative: header ---------------------------------------------------
    let ref_binary = {
        // Decode the reference text (canonical) with the spec's alphabet.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let sextets: Vec<u32> = reference
            .bytes()
            .map(|c| alphabet.iter().position(|&a| a == c).unwrap() as u32)
            .collect();
        let mut out = Vec::new();
        for chunk in sextets.chunks(4) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &s)| acc | s << (18 - 6 * i));
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        assert_eq!(base64url(&out), reference);
        out
    };
    for version in [0x00u8, 0x02, 0x03, 0x81, 0xff] {
        let mut b = ref_binary.clone();
        b[0] = version;
        g.negative(
            &format!("version byte 0x{version:02x} (a flip of the header)"),
            &at(T),
            &base64url(&b),
            Error::UnsupportedVersion,
        );
    }
    let mut b = ref_binary.clone();
    b[0] = 2;
    b[1] = 0x80;
    g.negative(
        "version 0x02 with a bad key ID varint: version is checked first",
        &at(T),
        &base64url(&b),
        Error::UnsupportedVersion,
    );
    let mut b = ref_binary.clone();
    b[1] = 0x03;
    g.negative(
        "key ID byte flipped 0x01 -> 0x03, no key 3",
        &at(T),
        &base64url(&b),
        Error::UnknownKey,
    );
    let mut b = ref_binary.clone();
    b[1] = 0x02;
    g.negative(
        "key ID byte flipped 0x01 -> 0x02 while the ring has key 2: header is authenticated",
        &at(T).keys(&[k1.clone(), k2.clone()]),
        &base64url(&b),
        Error::AuthFailed,
    );
    g.negative(
        "key ID 1 not in the ring (retired)",
        &Inputs::new(&k2, T),
        &reference,
        Error::UnknownKey,
    );
    g.negative(
        "same key ID 1, different key",
        &Inputs::new(&k1_other, T),
        &reference,
        Error::AuthFailed,
    );
    let plain_bytes = ref_plain.encode();
    for (name, header) in [
        (
            "key ID 1 written in two bytes (0x81 0x00)",
            vec![1u8, 0x81, 0x00],
        ),
        (
            "key ID 0 written in two bytes (0x80 0x00)",
            vec![1u8, 0x80, 0x00],
        ),
        (
            "fifth key ID byte above 0x0f",
            vec![1u8, 0xff, 0xff, 0xff, 0xff, 0x10],
        ),
        (
            "six-byte key ID varint",
            vec![1u8, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00],
        ),
    ] {
        let b = g.binary(&raw, &header, b"", &plain_bytes);
        g.negative(
            &format!("{name}, authenticated: non-canonical header"),
            &at(T).keys(&[k1.clone(), KeySpec::Raw(0, raw)]),
            &base64url(&b),
            Error::Malformed,
        );
    }
    // Too short for the header: 63 bytes with a six-byte header (needs 67).
    let short = g.binary(
        &k_max.bytes(),
        Header::new(u32::MAX).as_bytes(),
        b"",
        &[0; 17],
    );
    assert_eq!(short.len(), 63);
    g.negative(
        "63-byte binary with a six-byte header (needs 67), key present",
        &Inputs::new(&k_max, T),
        &base64url(&short),
        Error::Malformed,
    );
    let short = g.binary(&k300.bytes(), Header::new(300).as_bytes(), b"", &[0; 20]);
    g.negative(
        "20-byte ciphertext under a three-byte header, key absent: length before key lookup",
        &at(T),
        &base64url(&short),
        Error::Malformed,
    );

    // ---- negative: authentication -------------------------------------------
    for (name, at_byte) in [
        ("nonce byte flipped", 2),
        ("first ciphertext byte flipped", 26),
        ("last ciphertext byte flipped", ref_binary.len() - 17),
        ("first tag byte flipped", ref_binary.len() - 16),
        ("last tag byte flipped", ref_binary.len() - 1),
    ] {
        let mut b = ref_binary.clone();
        b[at_byte] ^= 0x01;
        g.negative(name, &at(T), &base64url(&b), Error::AuthFailed);
    }
    let mut b = ref_binary.clone();
    b.pop();
    g.negative(
        "tag truncated by one byte",
        &at(T),
        &base64url(&b),
        Error::AuthFailed,
    );
    let (ctx_tok, _) = g.honest(&k1, &ctx, 3, T, T, None, b"");
    g.negative(
        "sealed with a context, opened with another",
        &at(T).context(b"device-cookie-hasH"),
        &ctx_tok,
        Error::AuthFailed,
    );
    g.negative(
        "sealed with a context, opened with none",
        &at(T),
        &ctx_tok,
        Error::AuthFailed,
    );
    g.negative(
        "sealed without a context, opened with one",
        &at(T).context(&ctx),
        &reference,
        Error::AuthFailed,
    );
    g.negative(
        "authentication is checked before the policy (wrong context, also expired)",
        &at(T + 365 * day),
        &ctx_tok,
        Error::AuthFailed,
    );

    // ---- negative: authenticated plaintexts that do not decode --------------
    let crafted = |g: &mut Generator, name: &str, p: &[u8]| {
        let tok = g.craft(&k1, b"", p);
        g.negative(
            &format!("{name} (authenticated)"),
            &at(T),
            &tok,
            Error::Malformed,
        );
    };
    let ok = ref_plain.encode();
    crafted(&mut g, "one trailing 0x00 byte", &[&ok[..], &[0]].concat());
    crafted(&mut g, "trailing bytes", &[&ok[..], b"xyz"].concat());
    let mut p = ok.clone();
    let tag_at = p.len() - 2;
    p[tag_at] = 4;
    crafted(&mut g, "lifetime tag 0x04 (no such kind)", &p);
    let mut p = ok.clone();
    p[tag_at] = 0x80;
    crafted(
        &mut g,
        "lifetime tag 0x80 0x00 (index 0, overlong), then no data length",
        &p,
    );
    let mut p = ok[..ok.len() - 1].to_vec();
    p.push(1);
    crafted(&mut g, "data length 1 with no data byte", &p);
    let mut p = ok[..ok.len() - 1].to_vec();
    varint(129, &mut p);
    p.extend([0x5a; 129]);
    crafted(
        &mut g,
        "129 bytes of data (malformed, not 'data too long')",
        &p,
    );
    let mut p = Vec::new();
    varint(1, &mut p);
    p.extend(sid);
    varint(u64::MAX, &mut p);
    varint(1, &mut p);
    p.extend([0, 0]);
    crafted(&mut g, "issued_at + refreshed_after overflows u64", &p);
    let mut p = Vec::new();
    varint_wide(1, 11, &mut p);
    p.extend(sid);
    p.extend([0, 0, 0, 0]);
    crafted(&mut g, "eleven-byte varint", &p);
    let mut p = Vec::new();
    p.extend([0xff; 9]);
    p.push(0x02);
    p.extend(sid);
    p.extend([0, 0, 0, 0]);
    crafted(&mut g, "ten-byte varint whose tenth byte is 0x02", &p);
    crafted(
        &mut g,
        "plaintext cut to 21 bytes, inside the issued_at varint",
        &ok[..21],
    );
    // 192 bytes of plaintext cannot be carried: the text is 312 characters.
    let mut p192 = p191.clone();
    p192.push(0);
    let tok = g.craft(&k1, b"", &p192);
    assert_eq!(tok.len(), TOKEN_MAX + 1);
    g.negative(
        "192-byte plaintext under a one-byte key ID (312 chars)",
        &at(T),
        &tok,
        Error::TooLong,
    );

    // ---- session kinds: each kind under its own limits ----------------------
    let (rm_tok, rm_plain) = g.honest_as(
        SessionKind::RememberMe,
        &k1,
        b"",
        77,
        T,
        T,
        Some(90 * day),
        b"",
    );
    let remember_policy = Policy {
        remember_me_absolute_lifetime: Some(120 * day),
        ..Policy::DEFAULT
    };
    g.positive(
        "remember me: 10 days unrefreshed, past the browser idle timeout (no remember-me idle limit)",
        &at(T + 10 * day).policy(remember_policy),
        &rm_tok,
        &rm_plain,
    );
    g.positive(
        "remember me: token lifetime 90 d beyond the browser lifetime (14 d)",
        &at(T + 89 * day).policy(remember_policy),
        &rm_tok,
        &rm_plain,
    );
    g.negative(
        "remember me: token lifetime 90 d reached",
        &at(T + 90 * day).policy(remember_policy),
        &rm_tok,
        Error::LifetimeExpired,
    );
    g.negative(
        "remember me: remember-me lifetime (30 d) shorter than the token's (90 d)",
        &at(T + 30 * day),
        &rm_tok,
        Error::LifetimeExpired,
    );
    g.negative(
        "remember me: remember-me idle timeout (7 d) reached",
        &at(T + 7 * day).policy(Policy {
            remember_me_idle_timeout: Some(7 * day),
            ..remember_policy
        }),
        &rm_tok,
        Error::IdleExpired,
    );
    let (rm_plain_tok, rm_plain_claims) =
        g.honest_as(SessionKind::RememberMe, &k1, b"", 78, T, T + 60, None, b"r");
    g.positive(
        "remember me without a token lifetime (tag 0x03)",
        &at(T + 20 * day),
        &rm_plain_tok,
        &rm_plain_claims,
    );
    let (br_tok, _) = g.honest(&k1, b"", 79, T, T, Some(90 * day), b"");
    g.negative(
        "browser session with the same token: 10 days unrefreshed is idle-expired",
        &at(T + 10 * day).policy(remember_policy),
        &br_tok,
        Error::IdleExpired,
    );
    let mut overlong = ref_plain.clone();
    overlong.kind = SessionKind::Browser;
    let mut p = overlong.encode();
    let tag_at = p.len() - 2;
    p.splice(tag_at..=tag_at, [0x80, 0x00]);
    let tok = g.craft(&k1, b"", &p);
    g.positive(
        "tag 0x00 written as a two-byte varint (0x80 0x00), accepted as postcard accepts it",
        &at(T),
        &tok,
        &ref_plain,
    );

    // ---- negative: policy ---------------------------------------------------
    let (idle_tok, _) = g.honest(&k1, b"", 9, T, T + 100, None, b"");
    g.negative(
        "idle timeout reached (now = refreshed_at + idle_timeout)",
        &at(T + 100 + day),
        &idle_tok,
        Error::IdleExpired,
    );
    g.negative(
        "policy lifetime reached, token lifetime absent",
        &at(T + 14 * day).policy(Policy {
            idle_timeout: None,
            ..Policy::DEFAULT
        }),
        &plain_tok,
        Error::LifetimeExpired,
    );
    g.negative(
        "token lifetime reached, policy lifetime absent",
        &at(T + 3600).policy(no_limits()),
        &life_tok,
        Error::LifetimeExpired,
    );
    g.negative(
        "token lifetime (1 h) shorter than the policy's (14 d)",
        &at(T + 3600),
        &life_tok,
        Error::LifetimeExpired,
    );
    let (long_tok, _) = g.honest(&k1, b"", 12, T, T, Some(365 * day), b"");
    g.negative(
        "policy lifetime (14 d) shorter than the token's (365 d)",
        &at(T + 14 * day).policy(Policy {
            idle_timeout: None,
            ..Policy::DEFAULT
        }),
        &long_tok,
        Error::LifetimeExpired,
    );
    g.negative(
        "saturated sum reached: lifetime 2^64-1 at now 2^64-1",
        &at(u64::MAX).policy(Policy {
            idle_timeout: None,
            absolute_lifetime: Some(u64::MAX),
            future_leeway: 0,
            ..Policy::DEFAULT
        }),
        &plain_tok,
        Error::LifetimeExpired,
    );
    g.negative(
        "issued_at one second beyond now + leeway",
        &at(T - 61),
        &plain_tok,
        Error::IssuedInFuture,
    );
    let (future_refresh, _) = g.honest(&k1, b"", 13, T, T + 1000, None, b"");
    g.negative(
        "refreshed_at beyond now + leeway, issued_at not",
        &at(T + 500),
        &future_refresh,
        Error::IssuedInFuture,
    );
    g.negative(
        "issued one second before the revocation cut-off",
        &at(T).policy(Policy {
            revoked_before: T + 1,
            ..Policy::DEFAULT
        }),
        &plain_tok,
        Error::Revoked,
    );
    g.negative(
        "order: in the future and revoked -> issued in the future",
        &at(T - 61).policy(Policy {
            revoked_before: T + 1,
            ..Policy::DEFAULT
        }),
        &plain_tok,
        Error::IssuedInFuture,
    );
    g.negative(
        "order: revoked and lifetime expired -> revoked",
        &at(T + 20 * day).policy(Policy {
            revoked_before: T + 1,
            ..Policy::DEFAULT
        }),
        &plain_tok,
        Error::Revoked,
    );
    g.negative(
        "order: lifetime and idle expired -> lifetime expired",
        &at(T + 20 * day),
        &plain_tok,
        Error::LifetimeExpired,
    );

    // ---- refresh ------------------------------------------------------------
    let (tok, plain) = g.honest(&k1, &ctx, 77, T, T, Some(30 * day), b"d");
    g.refresh(
        "refresh keeps issued_at, session, lifetime and data; refreshed_at = now",
        &at(T + 1000).context(&ctx),
        1,
        &tok,
        Ok(Plain {
            refreshed_at: T + 1000,
            ..plain.clone()
        }),
    );
    g.refresh(
        "refresh moves the token to the primary key",
        &at(T + 1000).context(&ctx).keys(&[k1.clone(), k2.clone()]),
        2,
        &tok,
        Ok(Plain {
            refreshed_at: T + 1000,
            ..plain.clone()
        }),
    );
    g.refresh(
        "refresh needs the same context",
        &at(T + 1000).context(b"another device"),
        1,
        &tok,
        Err(Error::AuthFailed),
    );
    g.refresh(
        "refresh applies the policy first",
        &at(T + 31 * day).context(&ctx),
        1,
        &tok,
        Err(Error::LifetimeExpired),
    );
    let (tok, plain) = g.honest(&k1, b"", 78, T, T + 50, None, b"");
    g.refresh(
        "refreshed_at moves backwards: from T+50 (within the leeway) to now = T+10",
        &at(T + 10),
        1,
        &tok,
        Ok(Plain {
            refreshed_at: T + 10,
            ..plain
        }),
    );
    let (tok, plain) = g.honest(&k1, b"", 79, T + 30, T + 30, None, b"");
    g.refresh(
        "now before issued_at (within the leeway): refreshed_at = issued_at",
        &at(T),
        1,
        &tok,
        Ok(plain),
    );

    let file = json!({
        "format": "sesame token v1",
        "spec": "docs/FORMAT.md",
        "generator": "tests/json_vectors.rs (SESAME_WRITE_VECTORS=1 cargo test --test json_vectors)",
        "notes": [
            "Hex strings are lowercase; empty hex is \"\".",
            "64-bit integers (times, durations, user IDs, lifetimes) are decimal strings: some exceed 2^53.",
            "Key IDs and error codes are JSON numbers.",
            "token is the exact text to open, as UTF-8 bytes (some cases hold non-ASCII characters).",
            "A null policy limit or lifetime means absent."
        ],
        "keys": g.keys,
        "positive": g.positive,
        "negative": g.negative,
        "refresh": g.refresh,
    });
    let mut text = serde_json::to_string_pretty(&file).unwrap();
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------
// Checking the file, from the JSON alone.

fn u64_of(v: &Value) -> u64 {
    v.as_str().expect("a decimal string").parse().unwrap()
}

fn opt_u64(v: &Value) -> Option<u64> {
    if v.is_null() {
        None
    } else {
        Some(u64_of(v))
    }
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex(v.as_str().expect("hex string"))
}

fn policy_of(v: &Value) -> Policy {
    Policy {
        idle_timeout: opt_u64(&v["idle_timeout"]),
        absolute_lifetime: opt_u64(&v["absolute_lifetime"]),
        future_leeway: u64_of(&v["future_leeway"]),
        revoked_before: u64_of(&v["revoked_before"]),
        remember_me_idle_timeout: opt_u64(&v["remember_me_idle_timeout"]),
        remember_me_absolute_lifetime: opt_u64(&v["remember_me_absolute_lifetime"]),
        ..Policy::DEFAULT
    }
}

fn ring_of(case: &Value) -> KeyRing {
    let mut ring = KeyRing::new();
    for key in case["keys"].as_array().unwrap() {
        let id = key["id"].as_u64().unwrap() as u32;
        if key.get("key").is_some() {
            ring.add_key(id, &hex_of(&key["key"]).try_into().unwrap())
                .unwrap();
        } else {
            ring.add_derived_key(id, &hex_of(&key["master"]), &hex_of(&key["purpose"]))
                .unwrap();
        }
    }
    ring
}

fn assert_claims(name: &str, claims: &Claims, expected: &Value) {
    assert_eq!(claims.user_id, u64_of(&expected["user_id"]), "{name}");
    assert_eq!(
        claims.session_id[..],
        hex_of(&expected["session_id"])[..],
        "{name}"
    );
    assert_eq!(claims.issued_at, u64_of(&expected["issued_at"]), "{name}");
    assert_eq!(
        claims.refreshed_at,
        u64_of(&expected["refreshed_at"]),
        "{name}"
    );
    assert_eq!(claims.lifetime, opt_u64(&expected["lifetime"]), "{name}");
    assert_eq!(
        kind_name(claims.kind),
        expected["kind"].as_str().unwrap(),
        "{name}"
    );
    assert_eq!(claims.data[..], hex_of(&expected["data"])[..], "{name}");
}

fn open_case(case: &Value) -> Result<Claims, Error> {
    ring_of(case).open(
        case["token"].as_str().unwrap(),
        &hex_of(&case["context"]),
        &policy_of(&case["policy"]),
        u64_of(&case["now"]),
    )
}

fn load() -> Value {
    serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap()
}

#[test]
fn json_positive_vectors_open_to_their_claims() {
    let file = load();
    let cases = file["positive"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let claims = open_case(case).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_claims(name, &claims, &case["claims"]);
    }
}

#[test]
fn json_negative_vectors_fail_with_their_codes() {
    let file = load();
    let cases = file["negative"].as_array().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let code = case["error"].as_u64().unwrap() as u32;
        assert_eq!(
            case["error_name"].as_str().unwrap(),
            error_name(code),
            "{name}"
        );
        assert_eq!(open_case(case).err().map(Error::code), Some(code), "{name}");
        seen.insert(code);
    }
    // Every error open can return.
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 16]
    );
}

#[test]
fn json_refresh_vectors() {
    let file = load();
    for case in file["refresh"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut ring = ring_of(case);
        ring.promote(case["primary"].as_u64().unwrap() as u32)
            .unwrap();
        let result = ring.refresh_token(
            case["token"].as_str().unwrap(),
            &hex_of(&case["context"]),
            &policy_of(&case["policy"]),
            u64_of(&case["now"]),
            &mut ScriptedRng::new(&hex_of(&case["nonce"])),
        );
        match case.get("error") {
            Some(code) => assert_eq!(
                result.err().map(Error::code),
                Some(code.as_u64().unwrap() as u32),
                "{name}"
            ),
            None => {
                let (claims, token) = result.unwrap_or_else(|e| panic!("{name}: {e:?}"));
                assert_claims(name, &claims, &case["claims"]);
                assert_eq!(token.as_str(), case["refreshed_token"].as_str().unwrap());
                // The new token opens to the same claims under the same inputs.
                let reopened = open_case(&json!({
                    "keys": case["keys"], "context": case["context"],
                    "policy": case["policy"], "now": case["now"],
                    "token": case["refreshed_token"],
                }))
                .unwrap();
                assert_claims(name, &reopened, &case["claims"]);
            }
        }
    }
}

#[test]
fn json_key_vectors() {
    let file = load();
    for case in file["keys"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        let expected = case.get("error").map(|c| c.as_u64().unwrap() as u32);
        let mut ring: KeyRing<1> = KeyRing::new();
        if input.get("key").is_some() {
            let key: [u8; 32] = hex_of(&input["key"]).try_into().unwrap();
            assert_eq!(
                ring.add_key(1, &key).err().map(Error::code),
                expected,
                "{name}"
            );
        } else {
            let (master, purpose) = (hex_of(&input["master"]), hex_of(&input["purpose"]));
            match derive_key(&master, &purpose) {
                Ok(key) => assert_eq!(to_hex(&key[..]), case["key"].as_str().unwrap(), "{name}"),
                Err(e) => assert_eq!(Some(e.code()), expected, "{name}"),
            }
            assert_eq!(
                ring.add_derived_key(1, &master, &purpose)
                    .err()
                    .map(Error::code),
                expected,
                "{name}"
            );
        }
    }
}

#[test]
fn json_vectors_regenerate_byte_for_byte() {
    let generated = generate();
    if std::env::var_os("SESAME_WRITE_VECTORS").is_some() {
        std::fs::write(PATH, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(PATH).unwrap();
    assert!(
        committed == generated,
        "tests/vectors/tokens-v1.json differs from the generator's output; \
         rerun with SESAME_WRITE_VECTORS=1 and review the diff"
    );
}
