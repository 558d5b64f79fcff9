//! The keyset format's vectors (tests/vectors/keyset-v1.json) and the
//! keyset API's edits.
//!
//! `SESAME_WRITE_VECTORS=1 cargo test --test keyset` reseals the vectors'
//! tokens (only when adding vectors; review the diff).

mod common;

use common::{hex, ScriptedRng};
use serde_json::Value;
use sesame::format::{decode_text, Header, BINARY_MAX};
use sesame::keyset::{KeyStatus, MaterialKind, KEYSET_TEXT_MAX};
use sesame::{Error, ForkSafeRng, KeyRing, Keyset, KeysetErrorKind, NewSession, Policy};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/keyset-v1.json");

/// Opens anything authentic: the vectors check keys, not lifetimes.
const ANY_TIME: Policy = Policy {
    remember_me_idle_timeout: None,
    remember_me_absolute_lifetime: None,
    idle_timeout: None,
    absolute_lifetime: None,
    future_leeway: u64::MAX,
    revoked_before: 0,
    refresh_after: 0,
};

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap()
}

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap() as u32)
        .collect()
}

fn token_key_id(token: &str) -> u32 {
    let mut binary = [0u8; BINARY_MAX];
    let binary = decode_text(token.as_bytes(), &mut binary).unwrap();
    Header::parse(binary).unwrap().key_id
}

#[test]
fn valid_vectors_parse_build_and_open_their_tokens() {
    let mut all = vectors();
    let context = all["context"].as_str().unwrap().as_bytes().to_vec();
    let now = all["now"].as_u64().unwrap();
    let user_id = all["user_id"].as_u64().unwrap();
    let data = hex(all["data"].as_str().unwrap());
    let write = std::env::var_os("SESAME_WRITE_VECTORS").is_some();
    let valid = all["valid"].as_array_mut().unwrap();
    assert!(valid.len() >= 5);
    for v in valid.iter_mut() {
        let name = v["name"].as_str().unwrap().to_string();
        let text = v["text"].as_str().unwrap();
        let keyset = Keyset::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let entry_ids: Vec<u32> = keyset.entries().map(|e| e.id).collect();
        assert_eq!(entry_ids, ids(&v["ids"]), "{name}");
        let ring: KeyRing = keyset.build_ring().unwrap();
        let mut usable: Vec<u32> = ring.key_ids().collect();
        usable.sort_unstable();
        let mut expected = ids(&v["usable_ids"]);
        expected.sort_unstable();
        assert_eq!(usable, expected, "{name}");
        assert_eq!(
            ring.primary_id(),
            v["primary"].as_u64().map(|id| id as u32),
            "{name}"
        );
        assert_eq!(keyset.primary_id(), ring.primary_id(), "{name}");

        let canonical = keyset.to_text();
        if v["canonical"].as_bool().unwrap() {
            assert_eq!(canonical.as_str(), text, "{name}");
        }
        let again = Keyset::parse(&canonical).unwrap();
        assert_eq!(again.to_text(), canonical, "{name}");
        let line = keyset.to_line();
        assert!(!line.contains('\n'), "{name}");
        assert_eq!(Keyset::parse(&line).unwrap().to_text(), canonical, "{name}");

        if write {
            let mut tokens = Vec::new();
            for id in &expected {
                let mut sealer = keyset.clone();
                sealer.promote(*id).unwrap();
                let sealer: KeyRing = sealer.build_ring().unwrap();
                let session = NewSession {
                    kind: sesame::SessionKind::Browser,
                    user_id,
                    lifetime: None,
                    data: &data,
                };
                let token = sealer
                    .seal_token(&session, &context, now, &mut ForkSafeRng::new())
                    .unwrap();
                tokens.push(serde_json::json!({"key_id": id, "token": token.as_str()}));
            }
            v["tokens"] = Value::Array(tokens);
        }
        let tokens = v["tokens"].as_array().unwrap();
        assert_eq!(
            tokens.len(),
            expected.len(),
            "{name}: one token per usable key"
        );
        for t in tokens {
            let token = t["token"].as_str().unwrap();
            let key_id = t["key_id"].as_u64().unwrap() as u32;
            assert_eq!(token_key_id(token), key_id, "{name}");
            let claims = ring
                .open(token, &context, &ANY_TIME, now)
                .unwrap_or_else(|e| panic!("{name}: token under key {key_id}: {e}"));
            assert_eq!(claims.user_id, user_id, "{name}");
            assert_eq!(claims.issued_at, now, "{name}");
            assert_eq!(&claims.data[..], &data[..], "{name}");
        }
    }
    if write {
        let text = serde_json::to_string_pretty(&all).unwrap() + "\n";
        std::fs::write(PATH, text).unwrap();
    }
}

#[test]
fn invalid_vectors_fail_with_their_kind_and_place_and_no_secret() {
    let all = vectors();
    let invalid = all["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 20);
    let secrets: Vec<String> = all["valid"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| {
            v["text"]
                .as_str()
                .unwrap()
                .split(['=', ' ', '\n', ';'])
                .filter(|word| word.len() >= 20)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!secrets.is_empty());
    for v in invalid {
        let name = v["name"].as_str().unwrap();
        let text = match v["text"].as_str() {
            Some(text) => text.to_string(),
            // Generated rather than stored, to keep the file small.
            None => format!("sesame-keyset/1\n{}", "\n".repeat(KEYSET_TEXT_MAX)),
        };
        let error = Keyset::parse(&text)
            .err()
            .unwrap_or_else(|| panic!("{name}: parsed"));
        assert_eq!(error.kind().name(), v["kind"].as_str().unwrap(), "{name}");
        assert_eq!(error.line() as u64, v["line"].as_u64().unwrap(), "{name}");
        assert_eq!(
            error.record() as u64,
            v["record"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(error.field() as u64, v["field"].as_u64().unwrap(), "{name}");
        assert_eq!(Error::from(error), Error::InvalidKeyset);
        let shown = error.to_string();
        assert!(shown.starts_with("invalid keyset"), "{name}: {shown}");
        assert!(shown.contains(error.kind().message()), "{name}: {shown}");
        for secret in &secrets {
            assert!(!shown.contains(&secret[..12]), "{name}: {shown}");
        }
    }
}

#[test]
fn every_error_kind_has_a_distinct_name_and_a_vector_or_an_edit_test() {
    let all = vectors();
    let covered: Vec<&str> = all["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    // Kinds only an edit can produce are tested below, not by parse vectors.
    let edit_only = [
        "unknown_id",
        "already_retired",
        "no_free_id",
        "random_failed",
    ];
    for kind in KeysetErrorKind::ALL {
        assert!(
            covered.contains(&kind.name()) || edit_only.contains(&kind.name()),
            "{kind:?} has no vector"
        );
        assert_eq!(
            KeysetErrorKind::ALL
                .iter()
                .filter(|k| k.name() == kind.name())
                .count(),
            1
        );
    }
}

fn kind<T: std::fmt::Debug>(result: Result<T, sesame::KeysetError>) -> KeysetErrorKind {
    result.unwrap_err().kind()
}

#[test]
fn edits_follow_the_rotation_rules() {
    let mut rng = ForkSafeRng::new();
    let mut keyset = Keyset::new();
    assert_eq!(keyset.add_generated_key(None, 100, &mut rng), Ok(1));
    assert_eq!(keyset.entry(1).unwrap().status, KeyStatus::Primary);
    // A second key waits as decrypt-only until promoted.
    assert_eq!(keyset.add_derived(None, b"master", b"cookie 2", 200), Ok(2));
    assert_eq!(keyset.entry(2).unwrap().status, KeyStatus::DecryptOnly);
    assert_eq!(
        keyset.entry(2).unwrap().material,
        MaterialKind::Derived {
            purpose: b"cookie 2"
        }
    );
    assert_eq!(kind(keyset.promote(9)), KeysetErrorKind::UnknownId);
    assert_eq!(kind(keyset.retire(1, 300)), KeysetErrorKind::NoPrimary);
    keyset.promote(2).unwrap();
    assert_eq!(keyset.entry(1).unwrap().status, KeyStatus::DecryptOnly);
    assert_eq!(kind(keyset.retire(1, 99)), KeysetErrorKind::TimeOrder);
    keyset.retire(1, 300).unwrap();
    assert_eq!(keyset.entry(1).unwrap().retired, Some(300));
    assert_eq!(keyset.entry(1).unwrap().material, MaterialKind::None);
    assert_eq!(kind(keyset.retire(1, 300)), KeysetErrorKind::AlreadyRetired);
    assert_eq!(kind(keyset.promote(1)), KeysetErrorKind::AlreadyRetired);
    // Retired IDs stay taken.
    assert_eq!(
        kind(keyset.add_raw_key(Some(1), &[1; 32], 400)),
        KeysetErrorKind::DuplicateId
    );
    assert_eq!(keyset.add_raw_key(None, &[1; 32], 400), Ok(3));
    assert_eq!(
        kind(keyset.add_raw_key(None, &[0; 32], 400)),
        KeysetErrorKind::ZeroKey
    );
    assert_eq!(
        kind(keyset.add_derived(None, b"", b"x", 400)),
        KeysetErrorKind::EmptyMaster
    );
    keyset.add_raw_key(Some(u32::MAX), &[2; 32], 400).unwrap();
    assert_eq!(
        kind(keyset.add_raw_key(None, &[3; 32], 400)),
        KeysetErrorKind::NoFreeId
    );
    let mut failing = ScriptedRng::new(&[]);
    assert_eq!(
        kind(keyset.add_generated_key(Some(5), 400, &mut failing)),
        KeysetErrorKind::RandomFailed
    );

    let parsed = Keyset::parse(&keyset.to_text()).unwrap();
    assert_eq!(parsed.to_text(), keyset.to_text());
    let ring: KeyRing = parsed.build_ring().unwrap();
    assert_eq!(ring.primary_id(), Some(2));
    assert_eq!(ring.len(), 3);

    // The last usable key may be retired: the keyset is then empty.
    let mut single = Keyset::new();
    single.add_generated_key(None, 1, &mut rng).unwrap();
    single.retire(1, 2).unwrap();
    assert_eq!(single.primary_id(), None);
    let ring: KeyRing = Keyset::parse(&single.to_text())
        .unwrap()
        .build_ring()
        .unwrap();
    assert!(ring.is_empty());
}

#[test]
fn capacity_is_checked_on_parse_add_and_build() {
    let mut rng = ForkSafeRng::new();
    let mut keyset = Keyset::with_capacity(2);
    keyset.add_generated_key(None, 1, &mut rng).unwrap();
    keyset.add_generated_key(None, 1, &mut rng).unwrap();
    assert_eq!(
        keyset
            .add_generated_key(None, 1, &mut rng)
            .unwrap_err()
            .kind(),
        KeysetErrorKind::TooManyKeys
    );
    keyset.retire(2, 1).unwrap();
    keyset.add_generated_key(None, 1, &mut rng).unwrap();
    assert_eq!(keyset.build_ring::<1>().unwrap_err(), Error::RingFull);
    assert!(keyset.build_ring::<2>().is_ok());
    let text = keyset.to_text();
    let error = Keyset::parse_with_capacity(&text, 1).unwrap_err();
    assert_eq!(
        (error.kind(), error.line()),
        (KeysetErrorKind::TooManyKeys, 4)
    );
}

#[test]
fn debug_display_and_describe_show_no_key_material() {
    let mut rng = ForkSafeRng::new();
    let mut keyset = Keyset::new();
    keyset.add_generated_key(None, 1, &mut rng).unwrap();
    keyset
        .add_derived(None, b"a master secret", b"cookie", 2)
        .unwrap();
    let text = keyset.to_text();
    let secrets: Vec<&str> = text
        .split([' ', '\n'])
        .filter_map(|f| f.strip_prefix("raw=").or(f.strip_prefix("master=")))
        .collect();
    assert_eq!(secrets.len(), 2);
    let entries = format!("{:?}", keyset.entries().collect::<Vec<_>>());
    for shown in [
        format!("{keyset:?}"),
        format!("{keyset}"),
        keyset.describe(),
        entries,
    ] {
        for secret in &secrets {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
    assert!(keyset.describe().contains("purpose=\"cookie\""));
}

proptest::proptest! {
    /// No text makes parse panic, and whatever parses re-parses from its
    /// canonical text to the same canonical text.
    #[test]
    fn parse_never_panics_and_accepted_text_round_trips(
        edits in proptest::collection::vec((0usize..400, proptest::sample::select(
            vec!['\n', ';', ' ', '=', '0', '9', 'A', '_', '-', '\r', '\t', 'k', 'x', '\u{e9}']
        )), 0..4),
        cut in 0usize..400,
    ) {
        let all = vectors();
        let base = all["valid"][1]["text"].as_str().unwrap();
        let mut chars: Vec<char> = base.chars().collect();
        for (at, c) in edits {
            let at = at % (chars.len() + 1);
            if at < chars.len() { chars[at] = c } else { chars.push(c) }
        }
        chars.truncate(cut.max(chars.len() / 2));
        let text: String = chars.into_iter().collect();
        if let Ok(keyset) = Keyset::parse(&text) {
            let canonical = keyset.to_text();
            proptest::prop_assert_eq!(Keyset::parse(&canonical).unwrap().to_text(), canonical);
            let _: KeyRing = keyset.build_ring().unwrap();
        }
    }
}
