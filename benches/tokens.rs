//! sesame against its floor and its peers, one criterion group per operation.
//!
//! Run: `cargo bench --bench tokens` (about 3 minutes), or quick:
//! `SESAME_BENCH_QUICK=1 cargo bench --bench tokens` (or `-- --quick`).
//! `python3 scripts/bench-chart.py` turns the results into docs/benchmarks.png.
//!
//! Every implementation carries the same session: user 123456, a 16-byte
//! session ID, issued/refreshed timestamps, no data. sesame and the floors
//! use the 27-byte postcard plaintext sesame itself encrypts; the peers that
//! take bytes (branca, fernet) are given exactly those bytes, the ones that
//! take text (cookie, pasetors' raw API) their base64url form, and pasetors'
//! idiomatic API its JSON claims (`sub`, `jti`, `iat`/`nbf`/`exp`). Every
//! "open" decodes back to sesame's `Claims` and applies the same `Policy`
//! check, plus the peer's own validation where it has one (branca and fernet
//! TTL, pasetors claims rules).
//!
//! Each token's length is printed as `token_len <name> <chars>` and written
//! to `<target>/criterion/token_lengths.txt` for the chart and docs.

mod support;

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::{AeadInPlace, Aes256Gcm, KeyInit};
use base64ct::{Base64UrlUnpadded, Encoding};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::{Deserialize, Serialize};
use sesame::primitives::XaesKey;
use sesame::rand_core::{OsRng, RngCore};
use sesame::{Claims, ForkSafeRng, KeyRing, NewSession, Policy, SessionId, TOKEN_MAX};

const USER_ID: u64 = 123_456;
const KEY: [u8; 32] = [0x42; 32];
/// Header bytes of a key-ID-1 token: sesame's associated data with an empty context.
const HEADER: [u8; 2] = [1, 1];
const NONCE24: [u8; 24] = [7; 24];
/// Validity a peer checks (branca/fernet TTL, pasetors `exp`): sesame's default idle timeout.
const TTL: u64 = 24 * 60 * 60;

// ---------------------------------------------------------------------------
// The session, as postcard bytes identical to sesame's plaintext.

/// Mirrors sesame's private `WireClaims`; `plaintext_matches_sesame` proves
/// the bytes are the same.
#[derive(Serialize, Deserialize)]
struct WireClaims<'a> {
    user_id: u64,
    session_id: SessionId,
    issued_at: u64,
    refreshed_after: u64,
    lifetime: Option<u64>,
    data: &'a [u8],
}

const PLAIN_MAX: usize = 64;

fn encode_claims(
    user_id: u64,
    sid: &SessionId,
    issued: u64,
    refreshed: u64,
    out: &mut [u8; PLAIN_MAX],
) -> usize {
    let wire = WireClaims {
        user_id,
        session_id: *sid,
        issued_at: issued,
        refreshed_after: refreshed - issued,
        lifetime: None,
        data: &[],
    };
    postcard::to_slice(&wire, out).expect("fits").len()
}

/// Decodes a peer's plaintext into sesame's `Claims` and applies sesame's policy.
fn decode_and_check(plain: &[u8], policy: &Policy, now: u64) -> Option<Claims> {
    let wire: WireClaims<'_> = postcard::from_bytes(plain).ok()?;
    let claims = Claims {
        kind: sesame::SessionKind::Browser,
        user_id: wire.user_id,
        session_id: wire.session_id,
        issued_at: wire.issued_at,
        refreshed_at: wire.issued_at.checked_add(wire.refreshed_after)?,
        lifetime: wire.lifetime,
        data: heapless::Vec::from_slice(wire.data).ok()?,
    };
    policy.check(&claims, now).ok()?;
    Some(claims)
}

fn fresh_session_id() -> SessionId {
    let mut sid = [0u8; 16];
    ForkSafeRng::new().fill_bytes(&mut sid);
    sid
}

/// One implementation under test: seal a new session, open (and validate) a
/// token, refresh a token.
trait Peer {
    const NAME: &'static str;
    fn seal(&mut self, now: u64) -> String;
    fn open(&self, token: &str, now: u64) -> Option<Claims>;
    fn refresh(&mut self, token: &str, now: u64) -> Option<String>;
}

// ---------------------------------------------------------------------------
// sesame

struct Sesame {
    ring: KeyRing,
    policy: Policy,
    rng: ForkSafeRng,
}

impl Sesame {
    fn new() -> Self {
        let mut ring = KeyRing::new();
        ring.add_key(1, &KEY).unwrap();
        Sesame {
            ring,
            policy: Policy::default(),
            rng: ForkSafeRng::new(),
        }
    }
}

impl Peer for Sesame {
    const NAME: &'static str = "sesame";
    fn seal(&mut self, now: u64) -> String {
        let mut out = [0u8; TOKEN_MAX];
        let len = self
            .ring
            .seal(&NewSession::new(USER_ID), b"", now, &mut self.rng, &mut out)
            .unwrap();
        String::from_utf8(out[..len].to_vec()).unwrap()
    }
    fn open(&self, token: &str, now: u64) -> Option<Claims> {
        self.ring.open(token, b"", &self.policy, now).ok()
    }
    fn refresh(&mut self, token: &str, now: u64) -> Option<String> {
        let mut out = [0u8; TOKEN_MAX];
        let (_, len) = self
            .ring
            .refresh(token, b"", &self.policy, now, &mut self.rng, &mut out)
            .ok()?;
        Some(String::from_utf8(out[..len].to_vec()).unwrap())
    }
}

// ---------------------------------------------------------------------------
// cookie's private jar (AES-256-GCM, base64, cookie name as associated data)

struct CookieJar {
    key: cookie::Key,
    jar: cookie::CookieJar,
    empty: cookie::CookieJar,
    policy: Policy,
}

impl CookieJar {
    fn new() -> Self {
        CookieJar {
            key: cookie::Key::from(&[0x42; 64]),
            jar: cookie::CookieJar::new(),
            empty: cookie::CookieJar::new(),
            policy: Policy::default(),
        }
    }
    fn seal_claims(
        &mut self,
        user_id: u64,
        sid: &SessionId,
        issued: u64,
        refreshed: u64,
    ) -> String {
        let mut plain = [0u8; PLAIN_MAX];
        let n = encode_claims(user_id, sid, issued, refreshed, &mut plain);
        let mut text = [0u8; PLAIN_MAX * 2];
        let value = Base64UrlUnpadded::encode(&plain[..n], &mut text).unwrap();
        self.jar
            .private_mut(&self.key)
            .add(cookie::Cookie::new("session", value.to_owned()));
        self.jar.get("session").unwrap().value().to_owned()
    }
}

impl Peer for CookieJar {
    const NAME: &'static str = "cookie_private";
    fn seal(&mut self, now: u64) -> String {
        self.seal_claims(USER_ID, &fresh_session_id(), now, now)
    }
    fn open(&self, token: &str, now: u64) -> Option<Claims> {
        let cookie = self
            .empty
            .private(&self.key)
            .decrypt(cookie::Cookie::new("session", token.to_owned()))?;
        let mut plain = [0u8; PLAIN_MAX];
        let plain = Base64UrlUnpadded::decode(cookie.value(), &mut plain).ok()?;
        decode_and_check(plain, &self.policy, now)
    }
    fn refresh(&mut self, token: &str, now: u64) -> Option<String> {
        let c = self.open(token, now)?;
        Some(self.seal_claims(c.user_id, &c.session_id, c.issued_at, now))
    }
}

// ---------------------------------------------------------------------------
// pasetors v4.local, idiomatic: JSON claims, ClaimsValidationRules

struct Paseto {
    key: pasetors::keys::SymmetricKey<pasetors::version4::V4>,
    rules: pasetors::claims::ClaimsValidationRules,
}

impl Paseto {
    fn new() -> Self {
        Paseto {
            key: pasetors::keys::SymmetricKey::from(&KEY).unwrap(),
            rules: pasetors::claims::ClaimsValidationRules::new(),
        }
    }
    fn seal_claims(&self, claims: &pasetors::claims::Claims) -> String {
        pasetors::local::encrypt(&self.key, claims, None, None).unwrap()
    }
    fn open_claims(&self, token: &str) -> Option<(pasetors::claims::Claims, Claims)> {
        use pasetors::token::UntrustedToken;
        let untrusted =
            UntrustedToken::<pasetors::Local, pasetors::version4::V4>::try_from(token).ok()?;
        let trusted =
            pasetors::local::decrypt(&self.key, &untrusted, &self.rules, None, None).ok()?;
        let pc = trusted.payload_claims()?.clone();
        let user_id = pc.get_claim("sub")?.as_str()?.parse().ok()?;
        let mut session_id = [0u8; 16];
        Base64UrlUnpadded::decode(pc.get_claim("jti")?.as_str()?, &mut session_id).ok()?;
        // iat/exp were validated by the rules; sesame's Claims want unix
        // seconds, which this JSON does not carry in that form: the login time
        // travels as "login" (unix seconds) next to the RFC 3339 fields.
        let issued_at = pc.get_claim("login")?.as_u64()?;
        let claims = Claims {
            kind: sesame::SessionKind::Browser,
            user_id,
            session_id,
            issued_at,
            refreshed_at: issued_at,
            lifetime: None,
            data: heapless::Vec::new(),
        };
        Some((pc, claims))
    }
}

impl Peer for Paseto {
    const NAME: &'static str = "pasetors_v4_local";
    fn seal(&mut self, now: u64) -> String {
        // iat = nbf = now, exp = now + TTL.
        let mut claims =
            pasetors::claims::Claims::new_expires_in(&Duration::from_secs(TTL)).unwrap();
        claims.subject(&USER_ID.to_string()).unwrap();
        let mut sid = [0u8; 24];
        claims
            .token_identifier(Base64UrlUnpadded::encode(&fresh_session_id(), &mut sid).unwrap())
            .unwrap();
        claims.add_additional("login", now).unwrap();
        self.seal_claims(&claims)
    }
    fn open(&self, token: &str, _now: u64) -> Option<Claims> {
        self.open_claims(token).map(|(_, c)| c)
    }
    fn refresh(&mut self, token: &str, _now: u64) -> Option<String> {
        let (mut pc, _) = self.open_claims(token)?;
        // pasetors' refresh idiom: iat = nbf = now, exp = now + TTL.
        pc.set_expires_in(&Duration::from_secs(TTL)).ok()?;
        Some(self.seal_claims(&pc))
    }
}

// ---------------------------------------------------------------------------
// pasetors v4.local through its low-level API with sesame's plaintext as the
// payload (base64url text: PASETO payloads must be UTF-8). Not PASETO-claims
// conformant; shows the cost of v4.local's crypto and encoding alone.

struct PasetoRaw {
    key: pasetors::keys::SymmetricKey<pasetors::version4::V4>,
    policy: Policy,
}

impl PasetoRaw {
    fn seal_claims(&self, user_id: u64, sid: &SessionId, issued: u64, refreshed: u64) -> String {
        let mut plain = [0u8; PLAIN_MAX];
        let n = encode_claims(user_id, sid, issued, refreshed, &mut plain);
        let mut text = [0u8; PLAIN_MAX * 2];
        let value = Base64UrlUnpadded::encode(&plain[..n], &mut text).unwrap();
        pasetors::version4::LocalToken::encrypt(&self.key, value.as_bytes(), None, None).unwrap()
    }
}

impl Peer for PasetoRaw {
    const NAME: &'static str = "pasetors_v4_local_raw";
    fn seal(&mut self, now: u64) -> String {
        self.seal_claims(USER_ID, &fresh_session_id(), now, now)
    }
    fn open(&self, token: &str, now: u64) -> Option<Claims> {
        use pasetors::token::UntrustedToken;
        let untrusted =
            UntrustedToken::<pasetors::Local, pasetors::version4::V4>::try_from(token).ok()?;
        let trusted =
            pasetors::version4::LocalToken::decrypt(&self.key, &untrusted, None, None).ok()?;
        let mut plain = [0u8; PLAIN_MAX];
        let plain = Base64UrlUnpadded::decode(trusted.payload(), &mut plain).ok()?;
        decode_and_check(plain, &self.policy, now)
    }
    fn refresh(&mut self, token: &str, now: u64) -> Option<String> {
        let c = self.open(token, now)?;
        Some(self.seal_claims(c.user_id, &c.session_id, c.issued_at, now))
    }
}

// ---------------------------------------------------------------------------
// branca (XChaCha20-Poly1305, base62, TTL check against the system clock)

struct Branca {
    policy: Policy,
}

impl Branca {
    fn seal_claims(&self, user_id: u64, sid: &SessionId, issued: u64, refreshed: u64) -> String {
        let mut plain = [0u8; PLAIN_MAX];
        let n = encode_claims(user_id, sid, issued, refreshed, &mut plain);
        branca::encode(&plain[..n], &KEY, refreshed as u32).unwrap()
    }
}

impl Peer for Branca {
    const NAME: &'static str = "branca";
    fn seal(&mut self, now: u64) -> String {
        self.seal_claims(USER_ID, &fresh_session_id(), now, now)
    }
    fn open(&self, token: &str, now: u64) -> Option<Claims> {
        let plain = branca::decode(token, &KEY, TTL as u32).ok()?;
        decode_and_check(&plain, &self.policy, now)
    }
    fn refresh(&mut self, token: &str, now: u64) -> Option<String> {
        let c = self.open(token, now)?;
        Some(self.seal_claims(c.user_id, &c.session_id, c.issued_at, now))
    }
}

// ---------------------------------------------------------------------------
// fernet (AES-128-CBC + HMAC-SHA256, base64url; RustCrypto backend, no OpenSSL)

struct Fernet {
    fernet: fernet::Fernet,
    policy: Policy,
}

impl Fernet {
    fn seal_claims(&self, user_id: u64, sid: &SessionId, issued: u64, refreshed: u64) -> String {
        let mut plain = [0u8; PLAIN_MAX];
        let n = encode_claims(user_id, sid, issued, refreshed, &mut plain);
        self.fernet.encrypt(&plain[..n])
    }
}

impl Peer for Fernet {
    const NAME: &'static str = "fernet";
    fn seal(&mut self, now: u64) -> String {
        self.seal_claims(USER_ID, &fresh_session_id(), now, now)
    }
    fn open(&self, token: &str, now: u64) -> Option<Claims> {
        let plain = self.fernet.decrypt_with_ttl(token, TTL).ok()?;
        decode_and_check(&plain, &self.policy, now)
    }
    fn refresh(&mut self, token: &str, now: u64) -> Option<String> {
        let c = self.open(token, now)?;
        Some(self.seal_claims(c.user_id, &c.session_id, c.issued_at, now))
    }
}

// ---------------------------------------------------------------------------
// The floor: the AEAD alone over sesame's plaintext, prepared key, fixed
// nonce, sesame's header as associated data, no encoding, no RNG.

struct Floor {
    plain: [u8; PLAIN_MAX],
    len: usize,
    gcm: Aes256Gcm,
    xaes: XaesKey,
    gcm_ct: ([u8; PLAIN_MAX], [u8; 16]),
    xaes_ct: ([u8; PLAIN_MAX], [u8; 16]),
}

impl Floor {
    fn new(plain: &[u8]) -> Self {
        let mut p = [0u8; PLAIN_MAX];
        p[..plain.len()].copy_from_slice(plain);
        let gcm = Aes256Gcm::new(GenericArray::from_slice(&KEY));
        let xaes = XaesKey::new(&KEY);
        let mut floor = Floor {
            plain: p,
            len: plain.len(),
            gcm,
            xaes,
            gcm_ct: ([0; PLAIN_MAX], [0; 16]),
            xaes_ct: ([0; PLAIN_MAX], [0; 16]),
        };
        let mut buf = p;
        let tag = floor.gcm_seal(&mut buf);
        floor.gcm_ct = (buf, tag);
        let mut fresh = p;
        assert_eq!(floor.gcm_fresh_key_seal(&mut fresh), tag);
        assert_eq!(fresh, floor.gcm_ct.0);
        let mut buf = p;
        let tag = floor.xaes_seal(&mut buf);
        floor.xaes_ct = (buf, tag);
        floor
    }
    fn gcm_seal(&self, buf: &mut [u8; PLAIN_MAX]) -> [u8; 16] {
        gcm_seal_with(&self.gcm, &mut buf[..self.len])
    }
    fn gcm_open(&self, buf: &mut [u8; PLAIN_MAX], tag: &[u8; 16]) -> bool {
        gcm_open_with(&self.gcm, &mut buf[..self.len], tag)
    }
    /// AES-256-GCM with its key set up for this one message, as cookie's
    /// private jar does on every call: the part of XAES-256-GCM that follows
    /// the key derivation.
    fn gcm_fresh_key_seal(&self, buf: &mut [u8; PLAIN_MAX]) -> [u8; 16] {
        let gcm = Aes256Gcm::new(GenericArray::from_slice(black_box(&KEY)));
        gcm_seal_with(&gcm, &mut buf[..self.len])
    }
    fn gcm_fresh_key_open(&self, buf: &mut [u8; PLAIN_MAX], tag: &[u8; 16]) -> bool {
        let gcm = Aes256Gcm::new(GenericArray::from_slice(black_box(&KEY)));
        gcm_open_with(&gcm, &mut buf[..self.len], tag)
    }
    fn xaes_seal(&self, buf: &mut [u8; PLAIN_MAX]) -> [u8; 16] {
        self.xaes
            .seal_in_place(&NONCE24, &HEADER, &mut buf[..self.len])
    }
    fn xaes_open(&self, buf: &mut [u8; PLAIN_MAX], tag: &[u8; 16]) -> bool {
        self.xaes
            .open_in_place(&NONCE24, &HEADER, &mut buf[..self.len], tag)
            .is_ok()
    }
}

/// The floors' AES-256-GCM call: sesame's nonce tail and header as AD.
fn gcm_seal_with(gcm: &Aes256Gcm, plaintext: &mut [u8]) -> [u8; 16] {
    gcm.encrypt_in_place_detached(GenericArray::from_slice(&NONCE24[12..]), &HEADER, plaintext)
        .unwrap()
        .into()
}

fn gcm_open_with(gcm: &Aes256Gcm, ciphertext: &mut [u8], tag: &[u8; 16]) -> bool {
    gcm.decrypt_in_place_detached(
        GenericArray::from_slice(&NONCE24[12..]),
        &HEADER,
        ciphertext,
        GenericArray::from_slice(tag),
    )
    .is_ok()
}

// ---------------------------------------------------------------------------

struct Setup {
    now: u64,
    floor: Floor,
    sesame: Sesame,
    cookie: CookieJar,
    paseto: Paseto,
    paseto_raw: PasetoRaw,
    branca: Branca,
    fernet: Fernet,
}

/// The real clock, so branca's, fernet's and pasetors' own clocks agree with
/// the `now` sesame is given.
fn now() -> u64 {
    sesame::unix_now()
}

fn setup() -> Setup {
    let now = now();
    let sesame = Sesame::new();
    // Recover sesame's plaintext from a real token, and check the peers'
    // encoder produces the same bytes.
    let token = {
        let mut s = Sesame::new();
        s.seal(now)
    };
    let mut binary = [0u8; 233];
    let binary = sesame::format::decode_text(token.as_bytes(), &mut binary).unwrap();
    assert_eq!(&binary[..2], &HEADER);
    let nonce: [u8; 24] = binary[2..26].try_into().unwrap();
    let body = &binary[26..];
    let (ct, tag) = body.split_at(body.len() - 16);
    let mut plain = ct.to_vec();
    XaesKey::new(&KEY)
        .open_in_place(&nonce, &HEADER, &mut plain, tag.try_into().unwrap())
        .unwrap();
    let sid = postcard::from_bytes::<WireClaims<'_>>(&plain)
        .unwrap()
        .session_id;
    let mut ours = [0u8; PLAIN_MAX];
    let n = encode_claims(USER_ID, &sid, now, now, &mut ours);
    assert_eq!(
        &ours[..n],
        &plain[..],
        "peers must carry sesame's exact plaintext"
    );

    Setup {
        now,
        floor: Floor::new(&plain),
        sesame,
        cookie: CookieJar::new(),
        paseto: Paseto::new(),
        paseto_raw: PasetoRaw {
            key: pasetors::keys::SymmetricKey::from(&KEY).unwrap(),
            policy: Policy::default(),
        },
        branca: Branca {
            policy: Policy::default(),
        },
        fernet: Fernet {
            fernet: fernet::Fernet::new(base64ct::Base64Url::encode(&KEY, &mut [0u8; 44]).unwrap())
                .unwrap(),
            policy: Policy::default(),
        },
    }
}

fn criterion_dir() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return std::path::Path::new(&target).join("criterion");
    }
    // <target>/release/deps/tokens-<hash>
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("criterion")
}

/// Prints and records each implementation's token length (and checks that
/// every peer's seal/open/refresh works before timing it).
fn token_lengths(s: &mut Setup) {
    let now = s.now;
    let mut lines = vec![
        format!("token_len floor_aes256gcm {}", s.floor.len + 16),
        format!("token_len floor_aes256gcm_fresh_key {}", s.floor.len + 16),
        format!("token_len floor_xaes256gcm {}", s.floor.len + 16),
    ];
    fn check<P: Peer>(p: &mut P, now: u64, lines: &mut Vec<String>) {
        let t = p.seal(now);
        let c = p
            .open(&t, now)
            .unwrap_or_else(|| panic!("{} does not open", P::NAME));
        assert_eq!(c.user_id, USER_ID);
        let r = p
            .refresh(&t, now)
            .unwrap_or_else(|| panic!("{} does not refresh", P::NAME));
        assert!(p.open(&r, now).is_some());
        lines.push(format!("token_len {} {}", P::NAME, t.len()));
    }
    check(&mut s.sesame, now, &mut lines);
    check(&mut s.cookie, now, &mut lines);
    check(&mut s.paseto, now, &mut lines);
    check(&mut s.paseto_raw, now, &mut lines);
    check(&mut s.branca, now, &mut lines);
    check(&mut s.fernet, now, &mut lines);
    let dir = criterion_dir();
    let _ = std::fs::create_dir_all(&dir);
    let mut file = std::fs::File::create(dir.join("token_lengths.txt")).ok();
    for line in &lines {
        println!("{line}");
        if let Some(f) = file.as_mut() {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn bench_seal(c: &mut Criterion) {
    let mut s = setup();
    token_lengths(&mut s);
    let now = s.now;
    let mut g = c.benchmark_group("seal");
    g.bench_function("floor_aes256gcm", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.plain);
            black_box(s.floor.gcm_seal(&mut buf));
            black_box(buf);
        })
    });
    g.bench_function("floor_aes256gcm_fresh_key", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.plain);
            black_box(s.floor.gcm_fresh_key_seal(&mut buf));
            black_box(buf);
        })
    });
    g.bench_function("floor_xaes256gcm", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.plain);
            black_box(s.floor.xaes_seal(&mut buf));
            black_box(buf);
        })
    });
    // sesame without the String the Peer trait returns: what a caller does.
    g.bench_function("sesame", |b| {
        let mut out = [0u8; TOKEN_MAX];
        let session = NewSession::new(USER_ID);
        b.iter(|| {
            let len = s
                .sesame
                .ring
                .seal(
                    black_box(&session),
                    b"",
                    black_box(now),
                    &mut s.sesame.rng,
                    &mut out,
                )
                .unwrap();
            black_box(&out[..len]);
        })
    });
    fn peer<P: Peer>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        p: &mut P,
        now: u64,
    ) {
        g.bench_function(P::NAME, |b| b.iter(|| black_box(p.seal(black_box(now)))));
    }
    peer(&mut g, &mut s.cookie, now);
    peer(&mut g, &mut s.paseto, now);
    peer(&mut g, &mut s.paseto_raw, now);
    peer(&mut g, &mut s.branca, now);
    peer(&mut g, &mut s.fernet, now);
    g.finish();
}

fn bench_open(c: &mut Criterion) {
    let mut s = setup();
    let now = s.now;
    let mut g = c.benchmark_group("open");
    g.bench_function("floor_aes256gcm", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.gcm_ct.0);
            assert!(s.floor.gcm_open(&mut buf, &s.floor.gcm_ct.1));
            black_box(buf);
        })
    });
    g.bench_function("floor_aes256gcm_fresh_key", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.gcm_ct.0);
            assert!(s.floor.gcm_fresh_key_open(&mut buf, &s.floor.gcm_ct.1));
            black_box(buf);
        })
    });
    g.bench_function("floor_xaes256gcm", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.xaes_ct.0);
            assert!(s.floor.xaes_open(&mut buf, &s.floor.xaes_ct.1));
            black_box(buf);
        })
    });
    fn peer<P: Peer>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        p: &mut P,
        now: u64,
    ) {
        let token = p.seal(now);
        g.bench_function(P::NAME, |b| {
            b.iter(|| black_box(p.open(black_box(&token), black_box(now)).unwrap()))
        });
    }
    peer(&mut g, &mut s.sesame, now);
    peer(&mut g, &mut s.cookie, now);
    peer(&mut g, &mut s.paseto, now);
    peer(&mut g, &mut s.paseto_raw, now);
    peer(&mut g, &mut s.branca, now);
    peer(&mut g, &mut s.fernet, now);
    g.finish();
}

fn bench_refresh(c: &mut Criterion) {
    let mut s = setup();
    let now = s.now;
    let mut g = c.benchmark_group("refresh");
    g.bench_function("floor_aes256gcm", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.gcm_ct.0);
            assert!(s.floor.gcm_open(&mut buf, &s.floor.gcm_ct.1));
            black_box(s.floor.gcm_seal(&mut buf));
            black_box(buf);
        })
    });
    g.bench_function("floor_aes256gcm_fresh_key", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.gcm_ct.0);
            assert!(s.floor.gcm_fresh_key_open(&mut buf, &s.floor.gcm_ct.1));
            black_box(s.floor.gcm_fresh_key_seal(&mut buf));
            black_box(buf);
        })
    });
    g.bench_function("floor_xaes256gcm", |b| {
        b.iter(|| {
            let mut buf = black_box(s.floor.xaes_ct.0);
            assert!(s.floor.xaes_open(&mut buf, &s.floor.xaes_ct.1));
            black_box(s.floor.xaes_seal(&mut buf));
            black_box(buf);
        })
    });
    g.bench_function("sesame", |b| {
        let token = s.sesame.seal(now);
        let mut out = [0u8; TOKEN_MAX];
        b.iter(|| {
            let (claims, len) = s
                .sesame
                .ring
                .refresh(
                    black_box(&token),
                    b"",
                    &s.sesame.policy,
                    black_box(now),
                    &mut s.sesame.rng,
                    &mut out,
                )
                .unwrap();
            black_box((claims, &out[..len]));
        })
    });
    fn peer<P: Peer>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        p: &mut P,
        now: u64,
    ) {
        let token = p.seal(now);
        g.bench_function(P::NAME, |b| {
            b.iter(|| black_box(p.refresh(black_box(&token), black_box(now)).unwrap()))
        });
    }
    peer(&mut g, &mut s.cookie, now);
    peer(&mut g, &mut s.paseto, now);
    peer(&mut g, &mut s.paseto_raw, now);
    peer(&mut g, &mut s.branca, now);
    peer(&mut g, &mut s.fernet, now);
    g.finish();
}

/// What seal asks of its RNG: a 24-byte nonce, then a 16-byte session ID.
fn bench_nonce(c: &mut Criterion) {
    let mut g = c.benchmark_group("nonce_draw");
    g.bench_function("forksafe_24_16", |b| {
        let mut rng = ForkSafeRng::new();
        b.iter(|| {
            let mut nonce = [0u8; 24];
            let mut sid = [0u8; 16];
            rng.try_fill_bytes(&mut nonce).unwrap();
            rng.try_fill_bytes(&mut sid).unwrap();
            black_box((nonce, sid));
        })
    });
    g.bench_function("getrandom_24_16", |b| {
        b.iter(|| {
            let mut nonce = [0u8; 24];
            let mut sid = [0u8; 16];
            OsRng.try_fill_bytes(&mut nonce).unwrap();
            OsRng.try_fill_bytes(&mut sid).unwrap();
            black_box((nonce, sid));
        })
    });
    g.finish();
}

fn full_ring<const N: usize>() -> KeyRing<N> {
    let mut ring = KeyRing::<N>::new();
    for id in 1..=N as u32 {
        let mut key = KEY;
        key[..4].copy_from_slice(&id.to_le_bytes());
        ring.add_key(id, &key).unwrap();
    }
    ring.promote(N as u32).unwrap();
    ring
}

/// open with the token's key last in a full ring (the lookup is a linear scan).
fn bench_ring_size(c: &mut Criterion) {
    let now = now();
    let policy = Policy::default();
    let mut g = c.benchmark_group("ring_size_open");
    fn one<const N: usize>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        now: u64,
        policy: &Policy,
    ) {
        let ring = full_ring::<N>();
        let token = ring
            .seal_token(&NewSession::new(USER_ID), b"", now, &mut ForkSafeRng::new())
            .unwrap();
        g.bench_function(name, |b| {
            b.iter(|| black_box(ring.open(black_box(&token), b"", policy, now).unwrap()))
        });
    }
    one::<1>(&mut g, "keys_1", now, &policy);
    one::<8>(&mut g, "keys_8_full", now, &policy);
    one::<64>(&mut g, "keys_64_full", now, &policy);
    g.finish();
}

/// Opens per second with one ring shared by 1 and by 2 threads. Each
/// iteration is one open per thread, so criterion's time is per round and its
/// throughput counts every thread's opens.
fn bench_threads(c: &mut Criterion) {
    let now = now();
    let policy = Policy::default();
    let ring = full_ring::<8>();
    let token = ring
        .seal_token(&NewSession::new(USER_ID), b"", now, &mut ForkSafeRng::new())
        .unwrap();
    let mut g = c.benchmark_group("open_threads");
    for threads in [1u64, 2] {
        g.throughput(Throughput::Elements(threads));
        g.bench_function(format!("threads_{threads}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|scope| {
                    for _ in 0..threads {
                        scope.spawn(|| {
                            for _ in 0..iters {
                                black_box(ring.open(black_box(&token), b"", &policy, now).unwrap());
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_seal, bench_open, bench_refresh, bench_nonce, bench_ring_size, bench_threads
}
criterion_main!(benches);
