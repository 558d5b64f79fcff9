//! The session registry's rules, the same suite against every store:
//! memory (fixed and by URL), SQLite (feature registry-sqlite) and Redis
//! (feature registry-redis; a real redis-server is started, and the test
//! is skipped with a message only when the binary is absent).

mod registry_common;

use registry_common::*;
use sesame::registry::{
    open_store, Entry, Fingerprint, MemoryStore, OnStoreError, Op, Outcome, Registry,
    RegistryConfig, RegistryError, RegistryStore, Verdict,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Several handles on one in-process store (threads of one server).
struct Shared(Arc<Mutex<Store>>);

impl RegistryStore for Shared {
    fn execute(
        &mut self,
        config: &RegistryConfig,
        op: &Op<'_>,
        now: u64,
        list: &mut [Entry],
    ) -> Result<Outcome, RegistryError> {
        self.0.lock().unwrap().execute(config, op, now, list)
    }
    fn prune(&mut self, now: u64) -> Result<usize, RegistryError> {
        self.0.lock().unwrap().prune(now)
    }
}

struct Memory {
    name: &'static str,
    make: fn() -> Store,
    stores: Mutex<HashMap<String, Arc<Mutex<Store>>>>,
}

impl Memory {
    fn new(name: &'static str, make: fn() -> Store) -> Self {
        Memory {
            name,
            make,
            stores: Mutex::new(HashMap::new()),
        }
    }
}

impl Backend for Memory {
    fn name(&self) -> &str {
        self.name
    }
    fn open(&self, case: &str) -> Store {
        let mut stores = self.stores.lock().unwrap();
        let store = stores
            .entry(case.into())
            .or_insert_with(|| Arc::new(Mutex::new((self.make)())));
        Box::new(Shared(store.clone()))
    }
}

fn fixed() -> Store {
    // The no_std, allocation-free store.
    Box::new(MemoryStore::<heapless::Vec<Entry, 256>>::new())
}

fn by_url() -> Store {
    open_store("memory://?capacity=1000").unwrap()
}

#[test]
fn memory_fixed_store_passes_the_rules_suite() {
    let b = Memory::new("memory-fixed", fixed);
    assert_eq!(rules_suite(&b), 12);
    refresh_race(&b, 8);
    matches_the_reference(&b, 2000);
}

#[test]
fn memory_url_store_passes_the_rules_suite() {
    let b = Memory::new("memory-url", by_url);
    assert_eq!(rules_suite(&b), 12);
    refresh_race(&b, 8);
    matches_the_reference(&b, 2000);
}

#[cfg(feature = "registry-sqlite")]
struct Sqlite(std::path::PathBuf);

#[cfg(feature = "registry-sqlite")]
impl Backend for Sqlite {
    fn name(&self) -> &str {
        "sqlite"
    }
    fn open(&self, case: &str) -> Store {
        let path = self.0.join(format!("{case}.db"));
        open_store(&format!(
            "sqlite://{}?busy_timeout_ms=10000",
            path.display()
        ))
        .unwrap()
    }
}

#[cfg(feature = "registry-sqlite")]
fn sqlite_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sesame-registry-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(feature = "registry-sqlite")]
#[test]
fn sqlite_store_passes_the_rules_suite() {
    let dir = sqlite_dir("suite");
    let b = Sqlite(dir.clone());
    assert_eq!(rules_suite(&b), 12);
    // Each thread its own connection to the one file: real lock contention.
    refresh_race(&b, 8);
    matches_the_reference(&b, 2000);
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(feature = "registry-sqlite")]
#[test]
fn sqlite_schema_is_wal_with_one_table() {
    let dir = sqlite_dir("schema");
    let path = dir.join("r.db");
    let mut r = Registry::open(
        &format!("sqlite://{}", path.display()),
        RegistryConfig::DEFAULT,
    )
    .unwrap();
    r.register(&login(USER, 1, 10), T).unwrap();
    drop(r);
    let out = std::process::Command::new("sqlite3")
        .arg(&path)
        .arg("PRAGMA journal_mode; .tables")
        .output();
    if let Ok(out) = out {
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains("wal") && text.contains("sesame_sessions"),
                "{text}"
            );
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[cfg(feature = "registry-redis")]
struct Redis {
    url: String,
    run: String,
}

#[cfg(feature = "registry-redis")]
impl Backend for Redis {
    fn name(&self) -> &str {
        "redis"
    }
    fn open(&self, case: &str) -> Store {
        open_store(&format!(
            "{}?prefix={}-{case}&timeout_ms=5000",
            self.url, self.run
        ))
        .unwrap()
    }
}

#[cfg(feature = "registry-redis")]
#[test]
fn redis_store_passes_the_rules_suite() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let b = Redis {
        url: server.url(),
        run: format!("t{}", std::process::id()),
    };
    assert_eq!(rules_suite(&b), 12);
    refresh_race(&b, 8);
    matches_the_reference(&b, 2000);
    // The key layout: one hash per user, in the user's hash slot.
    let mut r = Registry::new(b.open("layout"), RegistryConfig::DEFAULT);
    r.register(&login(7, 1, 10), T).unwrap();
    let mut con = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let key = format!("{}-layout:{{7}}:sessions", b.run);
    let fields: Vec<String> = redis::cmd("HKEYS").arg(&key).query(&mut con).unwrap();
    assert_eq!(fields, vec!["01".repeat(16)]);
    let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut con).unwrap();
    assert!(ttl > 0, "the user's key expires: {ttl}");
    // The script survives SCRIPT FLUSH (EVALSHA falls back to EVAL).
    let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();
    assert_eq!(r.check(7, &sid(1), &fp(10), T + 1), Ok(Verdict::Live));
}

#[cfg(feature = "registry-redis")]
#[test]
fn redis_store_down_fails_closed_unless_configured_open() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let store = open_store(&format!("{}?timeout_ms=2000", server.url())).unwrap();
    let mut r = Registry::new(store, RegistryConfig::DEFAULT);
    r.register(&login(USER, 1, 10), T).unwrap();
    drop(server); // killed by PID
    let result = r.check(USER, &sid(1), &fp(10), T + 1);
    assert_eq!(result, Err(RegistryError::Unavailable));
    assert!(!r.admits(&result));
    let r = r.with_on_store_error(OnStoreError::Allow);
    assert!(r.admits(&result));
}

#[test]
fn a_full_memory_store_fails_closed_and_never_drops_a_live_session() {
    let mut r = Registry::new(
        MemoryStore::<heapless::Vec<Entry, 4>>::new(),
        RegistryConfig::DEFAULT,
    );
    for u in 1..=4 {
        r.register(&login(u, 1, 10), T).unwrap();
    }
    let result = r.register(&login(5, 1, 10), T);
    assert_eq!(result, Err(RegistryError::Full));
    for u in 1..=4 {
        assert_eq!(r.check(u, &sid(1), &fp(10), T), Ok(Verdict::Live));
    }
    // A tombstone makes room; then expired entries do.
    r.revoke(1, &sid(1), T).unwrap();
    assert_eq!(r.register(&login(5, 1, 10), T), Ok(0));
    assert_eq!(r.register(&login(6, 1, 10), T), Err(RegistryError::Full));
    let later = T + RegistryConfig::DEFAULT.browser.idle_timeout;
    assert_eq!(r.register(&login(6, 1, 10), later), Ok(0));
    assert_eq!(
        r.store_mut().entries().len(),
        1,
        "every expired entry was pruned"
    );
}

/// A store that is down.
struct Down;

impl RegistryStore for Down {
    fn execute(
        &mut self,
        _: &RegistryConfig,
        _: &Op<'_>,
        _: u64,
        _: &mut [Entry],
    ) -> Result<Outcome, RegistryError> {
        Err(RegistryError::Unavailable)
    }
    fn prune(&mut self, _: u64) -> Result<usize, RegistryError> {
        Err(RegistryError::Unavailable)
    }
}

#[test]
fn a_store_error_denies_by_default() {
    let mut r = Registry::new(Down, RegistryConfig::DEFAULT);
    let result = r.check(USER, &sid(1), &fp(10), T);
    assert!(!r.admits(&result));
    let r = r.with_on_store_error(OnStoreError::Allow);
    assert!(r.admits(&result));
    assert!(!r.admits(&Ok(Verdict::Revoked)));
    assert!(r.admits(&Ok(Verdict::Grace)));
}

#[test]
fn fingerprints_come_from_token_text_without_keys() {
    use sesame::{ForkSafeRng, KeyRing, NewSession, Policy};
    let mut ring: KeyRing = KeyRing::new();
    ring.add_derived_key(1, b"a long random master secret for the test", b"session")
        .unwrap();
    let now = sesame::unix_now();
    let token = ring
        .seal_token(&NewSession::new(USER), b"", now, &mut ForkSafeRng::new())
        .unwrap();
    let (_, refreshed) = ring
        .refresh_token(
            &token,
            b"",
            &Policy::default(),
            now + 1,
            &mut ForkSafeRng::new(),
        )
        .unwrap();
    let a = Fingerprint::of_token(&token).unwrap();
    assert_eq!(a, Fingerprint::of_token(token.as_str()).unwrap());
    assert_ne!(a, Fingerprint::of_token(&refreshed).unwrap());
    assert_eq!(
        Fingerprint::of_token("not a token"),
        Err(sesame::Error::Malformed)
    );
    assert!(format!("{a:?}").starts_with("Fingerprint("));
}

#[test]
fn store_urls_are_checked() {
    assert_eq!(
        open_store("memory://?capacity=x").err(),
        Some(RegistryError::InvalidUrl)
    );
    assert_eq!(
        open_store("memory://?colour=blue").err(),
        Some(RegistryError::InvalidUrl)
    );
    assert_eq!(
        open_store("postgres://db").err(),
        Some(RegistryError::InvalidUrl)
    );
    assert_eq!(
        open_store("nonsense").err(),
        Some(RegistryError::InvalidUrl)
    );
    #[cfg(not(feature = "registry-sqlite"))]
    assert_eq!(
        open_store("sqlite:///tmp/x.db").err(),
        Some(RegistryError::Unsupported)
    );
    #[cfg(not(feature = "registry-redis"))]
    assert_eq!(
        open_store("redis://127.0.0.1:1/0").err(),
        Some(RegistryError::Unsupported)
    );
    #[cfg(feature = "registry-redis")]
    assert_eq!(
        open_store("redis://127.0.0.1:1/0?timeout_ms=500").err(),
        Some(RegistryError::Unavailable)
    );
    assert!(open_store("memory://").is_ok());
}
