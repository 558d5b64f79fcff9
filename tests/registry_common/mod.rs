//! The registry's rules suite, run against every store (tests/registry.rs),
//! and a throwaway redis-server for the Redis runs.
#![allow(dead_code)]

use sesame::registry::{
    Fingerprint, Login, Registry, RegistryConfig, RegistryStore, SessionKind, Verdict, DEVICE_MAX,
};
use sesame::SessionId;
use std::sync::{Arc, Barrier};

pub type Store = Box<dyn RegistryStore + Send>;

pub const T: u64 = 1_700_000_000;
pub const USER: u64 = 42;

pub fn sid(n: u8) -> SessionId {
    [n; 16]
}

pub fn fp(n: u8) -> Fingerprint {
    Fingerprint([n; 16])
}

pub fn login(user_id: u64, session: u8, token: u8) -> Login<'static> {
    Login {
        user_id,
        session_id: sid(session),
        kind: SessionKind::Browser,
        fingerprint: fp(token),
        device: "Firefox on Linux",
        ip: "203.0.113.7",
    }
}

/// Opens a fresh, empty store (its own file, prefix or memory) for one
/// case; the same name again opens another handle on the same data.
pub trait Backend: Sync {
    fn name(&self) -> &str;
    fn open(&self, case: &str) -> Store;
}

fn registry(b: &dyn Backend, case: &str, config: RegistryConfig) -> Registry<Store> {
    Registry::new(b.open(case), config)
}

/// Every rule, against one backend. Returns the cases run.
pub fn rules_suite(b: &dyn Backend) -> usize {
    type Case = fn(&dyn Backend, &str);
    let cases: &[(&str, Case)] = &[
        ("register_check_list", register_check_list),
        ("refresh_rotates_with_grace", refresh_rotates_with_grace),
        ("theft_after_successor_seen", theft_after_successor_seen),
        (
            "shared_cache_replay_within_grace",
            shared_cache_replay_within_grace,
        ),
        ("lost_refresh_response", lost_refresh_response),
        ("cap_evicts_oldest", cap_evicts_oldest),
        ("same_second_revoke_others", same_second_revoke_others),
        ("revoke_one_and_all", revoke_one_and_all),
        ("logout_is_final", logout_is_final),
        ("expiry_pruning", expiry_pruning),
        ("touch_is_bounded", touch_is_bounded),
        ("users_are_separate", users_are_separate),
    ];
    for (name, case) in cases {
        eprintln!("[{}] {name}", b.name());
        case(b, name);
    }
    cases.len()
}

fn register_check_list(b: &dyn Backend, case: &str) {
    let mut r = registry(b, case, RegistryConfig::DEFAULT);
    assert_eq!(r.register(&login(USER, 1, 10), T).unwrap(), 0);
    let long = "x".repeat(500);
    let mut l2 = login(USER, 2, 20);
    l2.device = &long;
    l2.kind = SessionKind::RememberMe;
    r.register(&l2, T + 5).unwrap();
    r.register(&login(USER, 3, 30), T + 10).unwrap();
    assert_eq!(r.check(USER, &sid(1), &fp(10), T + 11), Ok(Verdict::Live));
    assert_eq!(r.peek(USER, &sid(2), T + 11), Ok(Verdict::Live));
    assert_eq!(r.peek(USER, &sid(9), T + 11), Ok(Verdict::Unknown));
    assert_eq!(
        r.check(USER, &sid(9), &fp(10), T + 11),
        Ok(Verdict::Unknown)
    );
    let list = r.list_vec(USER, T + 11).unwrap();
    let ids: Vec<_> = list.iter().map(|e| e.session_id).collect();
    assert_eq!(ids, vec![sid(3), sid(2), sid(1)], "newest first");
    let e2 = &list[1];
    assert_eq!(e2.kind, SessionKind::RememberMe);
    assert_eq!(e2.device.len(), DEVICE_MAX, "device label bounded");
    assert_eq!(e2.ip.as_str(), "203.0.113.7");
    assert_eq!(e2.created_at, T + 5);
    assert_eq!(e2.fingerprint, fp(20));
    let c = RegistryConfig::DEFAULT;
    assert_eq!(
        e2.expires_at,
        c.expires_at(SessionKind::RememberMe, T + 5, T + 5)
    );
    assert_eq!(list[2].last_seen_at, T + 11, "check moved last-seen");
    // The bounded list API: only the newest fit, the count says how many.
    let mut two = vec![sesame::RegistryEntry::default(); 2];
    assert_eq!(r.list(USER, T + 11, &mut two), Ok(3));
    assert_eq!(two[0].session_id, sid(3));
    assert_eq!(two[1].session_id, sid(2));
}

fn refresh_rotates_with_grace(b: &dyn Backend, case: &str) {
    let mut r = registry(b, case, RegistryConfig::DEFAULT);
    r.register(&login(USER, 1, 10), T).unwrap();
    assert_eq!(r.check(USER, &sid(1), &fp(10), T + 1), Ok(Verdict::Live));
    assert_eq!(
        r.refresh(USER, &sid(1), &fp(10), &fp(11), T + 900),
        Ok(Verdict::Live)
    );
    // A request that raced the refresh still carries the old token.
    assert_eq!(r.check(USER, &sid(1), &fp(10), T + 901), Ok(Verdict::Grace));
    // ... and tries to refresh it too: it keeps the winner's token.
    assert_eq!(
        r.refresh(USER, &sid(1), &fp(10), &fp(12), T + 901),
        Ok(Verdict::Grace)
    );
    assert_eq!(r.check(USER, &sid(1), &fp(11), T + 902), Ok(Verdict::Live));
    assert_eq!(
        r.check(USER, &sid(1), &fp(12), T + 903),
        Ok(Verdict::TheftDetected),
        "the loser's token was never current"
    );
}

fn theft_after_successor_seen(b: &dyn Backend, case: &str) {
    let c = RegistryConfig::DEFAULT;
    let mut r = registry(b, case, c);
    r.register(&login(USER, 1, 10), T).unwrap();
    r.register(&login(USER, 2, 20), T).unwrap();
    assert_eq!(
        r.refresh(USER, &sid(1), &fp(10), &fp(11), T + 900),
        Ok(Verdict::Live)
    );
    assert_eq!(r.check(USER, &sid(1), &fp(11), T + 905), Ok(Verdict::Live));
    // The thief's copy of the old token, after the grace period.
    let at = T + 900 + c.grace;
    assert_eq!(
        r.check(USER, &sid(1), &fp(10), at),
        Ok(Verdict::TheftDetected)
    );
    // Revoked for both parties; the other session untouched.
    assert_eq!(
        r.check(USER, &sid(1), &fp(11), at + 1),
        Ok(Verdict::Revoked)
    );
    assert_eq!(
        r.refresh(USER, &sid(1), &fp(11), &fp(12), at + 1),
        Ok(Verdict::Revoked)
    );
    assert_eq!(r.check(USER, &sid(2), &fp(20), at + 1), Ok(Verdict::Live));
    let ids: Vec<_> = r
        .list_vec(USER, at + 1)
        .unwrap()
        .iter()
        .map(|e| e.session_id)
        .collect();
    assert_eq!(ids, vec![sid(2)]);
    // The thief refreshing first is caught the same way.
    r.register(&login(USER, 3, 30), at).unwrap();
    assert_eq!(
        r.refresh(USER, &sid(3), &fp(30), &fp(31), at + 900),
        Ok(Verdict::Live)
    );
    assert_eq!(r.check(USER, &sid(3), &fp(31), at + 901), Ok(Verdict::Live));
    assert_eq!(
        r.refresh(USER, &sid(3), &fp(30), &fp(32), at + 2000),
        Ok(Verdict::TheftDetected)
    );
    assert_eq!(r.peek(USER, &sid(3), at + 2001), Ok(Verdict::Revoked));
}

fn shared_cache_replay_within_grace(b: &dyn Backend, case: &str) {
    let c = RegistryConfig::DEFAULT;
    let mut r = registry(b, case, c);
    r.register(&login(USER, 1, 10), T).unwrap();
    r.refresh(USER, &sid(1), &fp(10), &fp(11), T + 900).unwrap();
    assert_eq!(r.check(USER, &sid(1), &fp(11), T + 901), Ok(Verdict::Live));
    // A cache hands the browser its own superseded token again.
    for dt in [2, 10, c.grace - 1] {
        assert_eq!(
            r.check(USER, &sid(1), &fp(10), T + 900 + dt),
            Ok(Verdict::Grace)
        );
    }
    assert_eq!(
        r.check(USER, &sid(1), &fp(11), T + 900 + c.grace),
        Ok(Verdict::Live),
        "no logout"
    );
}

fn lost_refresh_response(b: &dyn Backend, case: &str) {
    let mut r = registry(b, case, RegistryConfig::DEFAULT);
    r.register(&login(USER, 1, 10), T).unwrap();
    r.refresh(USER, &sid(1), &fp(10), &fp(11), T + 900).unwrap();
    // fp(11) never arrives; the browser keeps fp(10) past the grace period.
    assert_eq!(
        r.check(USER, &sid(1), &fp(10), T + 1000),
        Ok(Verdict::Grace)
    );
    assert_eq!(
        r.refresh(USER, &sid(1), &fp(10), &fp(12), T + 1000),
        Ok(Verdict::Live)
    );
    assert_eq!(r.check(USER, &sid(1), &fp(12), T + 1001), Ok(Verdict::Live));
    // The lost token turning up after its replacement was seen: theft.
    assert_eq!(
        r.check(USER, &sid(1), &fp(11), T + 1100),
        Ok(Verdict::TheftDetected)
    );
}

fn cap_evicts_oldest(b: &dyn Backend, case: &str) {
    let c = RegistryConfig {
        max_sessions: 3,
        ..RegistryConfig::DEFAULT
    };
    let mut r = registry(b, case, c);
    r.register(&login(USER, 1, 10), T).unwrap();
    r.register(&login(USER, 2, 20), T).unwrap(); // same second: ID breaks the tie
    r.register(&login(USER, 3, 30), T + 1).unwrap();
    assert_eq!(r.register(&login(USER, 4, 40), T + 2), Ok(1));
    assert_eq!(r.check(USER, &sid(1), &fp(10), T + 3), Ok(Verdict::Revoked));
    assert_eq!(r.check(USER, &sid(2), &fp(20), T + 3), Ok(Verdict::Live));
    assert_eq!(r.register(&login(USER, 5, 50), T + 4), Ok(1));
    assert_eq!(r.peek(USER, &sid(2), T + 5), Ok(Verdict::Revoked));
    let ids: Vec<_> = r
        .list_vec(USER, T + 5)
        .unwrap()
        .iter()
        .map(|e| e.session_id)
        .collect();
    assert_eq!(ids, vec![sid(5), sid(4), sid(3)]);
    // Many more logins: live stays at the cap, ended ones answer Revoked
    // or (once the per-user tombstone bound drops them) Unknown, never Live.
    for n in 6..20u8 {
        assert_eq!(r.register(&login(USER, n, n * 10), T + u64::from(n)), Ok(1));
    }
    assert_eq!(r.list_vec(USER, T + 30).unwrap().len(), 3);
    for n in 1..17u8 {
        let v = r.peek(USER, &sid(n), T + 30).unwrap();
        assert!(
            matches!(v, Verdict::Revoked | Verdict::Unknown),
            "{n}: {v:?}"
        );
    }
}

fn same_second_revoke_others(b: &dyn Backend, case: &str) {
    let mut r = registry(b, case, RegistryConfig::DEFAULT);
    for n in 1..=3 {
        r.register(&login(USER, n, n * 10), T).unwrap();
    }
    assert_eq!(r.revoke_others(USER, &sid(2), T), Ok(2));
    assert_eq!(r.check(USER, &sid(1), &fp(10), T), Ok(Verdict::Revoked));
    assert_eq!(r.check(USER, &sid(3), &fp(30), T), Ok(Verdict::Revoked));
    assert_eq!(r.check(USER, &sid(2), &fp(20), T), Ok(Verdict::Live));
    // A login in the same second after the revoke is not caught by it.
    r.register(&login(USER, 4, 40), T).unwrap();
    assert_eq!(r.check(USER, &sid(4), &fp(40), T), Ok(Verdict::Live));
    assert_eq!(r.revoke_others(USER, &sid(2), T), Ok(1));
    assert_eq!(r.check(USER, &sid(4), &fp(40), T), Ok(Verdict::Revoked));
}

fn revoke_one_and_all(b: &dyn Backend, case: &str) {
    let mut r = registry(b, case, RegistryConfig::DEFAULT);
    for n in 1..=3 {
        r.register(&login(USER, n, n * 10), T).unwrap();
    }
    assert_eq!(r.revoke(USER, &sid(1), T), Ok(true));
    assert_eq!(r.revoke(USER, &sid(1), T), Ok(false));
    assert_eq!(r.revoke(USER, &sid(9), T), Ok(false));
    assert_eq!(r.check(USER, &sid(1), &fp(10), T), Ok(Verdict::Revoked));
    assert_eq!(r.revoke_all(USER, T), Ok(2));
    assert_eq!(r.check(USER, &sid(2), &fp(20), T), Ok(Verdict::Revoked));
    assert_eq!(
        r.refresh(USER, &sid(3), &fp(30), &fp(31), T),
        Ok(Verdict::Revoked)
    );
    assert!(r.list_vec(USER, T).unwrap().is_empty());
    assert_eq!(r.revoke_all(USER, T), Ok(0));
}

fn logout_is_final(b: &dyn Backend, case: &str) {
    let c = RegistryConfig::DEFAULT;
    let mut r = registry(b, case, c);
    r.register(&login(USER, 1, 10), T).unwrap();
    r.refresh(USER, &sid(1), &fp(10), &fp(11), T + 900).unwrap();
    assert_eq!(
        r.logout(USER, &sid(1), &fp(11), T + 901),
        Ok(Verdict::Revoked)
    );
    // The cheap per-request read (check-on-refresh mode) and every token.
    assert_eq!(r.peek(USER, &sid(1), T + 901), Ok(Verdict::Revoked));
    assert_eq!(
        r.check(USER, &sid(1), &fp(11), T + 901),
        Ok(Verdict::Revoked)
    );
    assert_eq!(
        r.check(USER, &sid(1), &fp(10), T + 902),
        Ok(Verdict::Revoked)
    );
    assert_eq!(
        r.refresh(USER, &sid(1), &fp(11), &fp(12), T + 1800),
        Ok(Verdict::Revoked)
    );
    assert_eq!(
        r.logout(USER, &sid(1), &fp(11), T + 1800),
        Ok(Verdict::Revoked)
    );
    // Past the tombstone: Unknown, which denies just the same.
    let later = T + 901 + c.tombstone_ttl;
    assert_eq!(r.check(USER, &sid(1), &fp(11), later), Ok(Verdict::Unknown));
    let result = r_check(&mut r, 1, 11, later);
    assert!(!r.admits(&result));
    // Logging out with a superseded token ends the session and says why.
    r.register(&login(USER, 2, 20), later).unwrap();
    r.refresh(USER, &sid(2), &fp(20), &fp(21), later + 900)
        .unwrap();
    r.check(USER, &sid(2), &fp(21), later + 901).unwrap();
    assert_eq!(
        r.logout(USER, &sid(2), &fp(20), later + 1000),
        Ok(Verdict::TheftDetected)
    );
    assert_eq!(r.peek(USER, &sid(2), later + 1000), Ok(Verdict::Revoked));
}

fn r_check(
    r: &mut Registry<Store>,
    s: u8,
    f: u8,
    now: u64,
) -> Result<Verdict, sesame::RegistryError> {
    r.check(USER, &sid(s), &fp(f), now)
}

fn expiry_pruning(b: &dyn Backend, case: &str) {
    let c = RegistryConfig {
        browser: sesame::registry::Limits {
            idle_timeout: 100,
            absolute_lifetime: 1000,
        },
        remember_me: sesame::registry::Limits {
            idle_timeout: 500,
            absolute_lifetime: 2000,
        },
        touch_interval: 10,
        tombstone_ttl: 50,
        ..RegistryConfig::DEFAULT
    };
    let mut r = registry(b, case, c);
    r.register(&login(USER, 1, 10), T).unwrap();
    let mut rm = login(USER, 2, 20);
    rm.kind = SessionKind::RememberMe;
    r.register(&rm, T).unwrap();
    r.register(&login(USER, 3, 30), T).unwrap();
    // Idle: seen at T+90, so alive until T+190. (Times only move forward.)
    assert_eq!(r.check(USER, &sid(1), &fp(10), T + 90), Ok(Verdict::Live));
    assert_eq!(
        r.check(USER, &sid(3), &fp(30), T + 100),
        Ok(Verdict::Unknown),
        "idle"
    );
    assert_eq!(r.check(USER, &sid(1), &fp(10), T + 189), Ok(Verdict::Live));
    // Absolute: kept busy, still ends at T+1000; remember me outlives it.
    let mut t = T + 189;
    while t < T + 1000 {
        assert_eq!(
            r.check(USER, &sid(1), &fp(10), t),
            Ok(Verdict::Live),
            "at +{}",
            t - T
        );
        assert_eq!(
            r.check(USER, &sid(2), &fp(20), t),
            Ok(Verdict::Live),
            "at +{}",
            t - T
        );
        t += 80;
    }
    assert_eq!(
        r.check(USER, &sid(1), &fp(10), T + 1000),
        Ok(Verdict::Unknown),
        "absolute"
    );
    // Tombstones expire too.
    r.revoke(USER, &sid(2), T + 1000).unwrap();
    assert_eq!(r.peek(USER, &sid(2), T + 1049), Ok(Verdict::Revoked));
    assert_eq!(r.peek(USER, &sid(2), T + 1050), Ok(Verdict::Unknown));
    // Other users' expired entries go with a global prune (Redis lets the
    // key's TTL do it) or with that user's next operation.
    for u in 100..110 {
        r.register(&login(u, 1, 1), T).unwrap();
    }
    r.prune(T + 5000).unwrap();
    for u in 100..110 {
        assert!(r.list_vec(u, T + 5000).unwrap().is_empty());
        assert_eq!(r.peek(u, &sid(1), T + 5000), Ok(Verdict::Unknown));
    }
}

fn touch_is_bounded(b: &dyn Backend, case: &str) {
    let c = RegistryConfig {
        touch_interval: 60,
        ..RegistryConfig::DEFAULT
    };
    let mut r = registry(b, case, c);
    r.register(&login(USER, 1, 10), T).unwrap();
    r.check(USER, &sid(1), &fp(10), T + 5).unwrap(); // first sight: written
    let seen = |r: &mut Registry<Store>, now| r.list_vec(USER, now).unwrap()[0].last_seen_at;
    assert_eq!(seen(&mut r, T + 5), T + 5);
    r.check(USER, &sid(1), &fp(10), T + 30).unwrap();
    assert_eq!(
        seen(&mut r, T + 30),
        T + 5,
        "within the touch interval: no write"
    );
    r.check(USER, &sid(1), &fp(10), T + 65).unwrap();
    assert_eq!(seen(&mut r, T + 65), T + 65);
    r.refresh(USER, &sid(1), &fp(10), &fp(11), T + 70).unwrap();
    let e = &r.list_vec(USER, T + 70).unwrap()[0];
    assert_eq!(
        (e.last_seen_at, e.fingerprint, e.previous),
        (T + 70, fp(11), Some(fp(10)))
    );
    assert!(!e.fingerprint_seen);
}

fn users_are_separate(b: &dyn Backend, case: &str) {
    let mut r = registry(b, case, RegistryConfig::DEFAULT);
    r.register(&login(1, 1, 10), T).unwrap();
    r.register(&login(2, 1, 10), T).unwrap();
    r.register(&login(u64::MAX, 1, 10), T).unwrap();
    assert_eq!(r.revoke_all(1, T), Ok(1));
    assert_eq!(r.check(2, &sid(1), &fp(10), T), Ok(Verdict::Live));
    assert_eq!(r.check(u64::MAX, &sid(1), &fp(10), T), Ok(Verdict::Live));
    assert_eq!(r.list_vec(u64::MAX, T).unwrap()[0].user_id, u64::MAX);
}

/// Threads of one browser race a refresh: every one presents the old token,
/// checks it and refreshes it at once. One wins; the others are served in
/// grace and install nothing; nobody is taken for a thief; the late ones
/// within the grace period are still served.
pub fn refresh_race(b: &dyn Backend, threads: usize) {
    let case = "refresh_race";
    let c = RegistryConfig::DEFAULT;
    let mut r = registry(b, case, c);
    r.register(&login(USER, 1, 10), T).unwrap();
    r.check(USER, &sid(1), &fp(10), T + 1).unwrap();
    let barrier = Arc::new(Barrier::new(threads));
    let results: Vec<(Verdict, Verdict, u8)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let barrier = barrier.clone();
                s.spawn(move || {
                    let mut r = registry(b, case, c);
                    let new = 100 + i as u8;
                    barrier.wait();
                    let checked = r.check(USER, &sid(1), &fp(10), T + 900).unwrap();
                    let refreshed = r
                        .refresh(USER, &sid(1), &fp(10), &fp(new), T + 900)
                        .unwrap();
                    (checked, refreshed, new)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<u8> = results
        .iter()
        .filter(|r| r.1 == Verdict::Live)
        .map(|r| r.2)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (checked, refreshed, _) in &results {
        assert!(
            matches!(checked, Verdict::Live | Verdict::Grace),
            "{results:?}"
        );
        assert!(
            matches!(refreshed, Verdict::Live | Verdict::Grace),
            "{results:?}"
        );
    }
    let winner = fp(winners[0]);
    assert_eq!(r.check(USER, &sid(1), &winner, T + 902), Ok(Verdict::Live));
    // Requests that left before the new cookie arrived, landing late.
    assert_eq!(
        r.check(USER, &sid(1), &fp(10), T + 900 + c.grace - 1),
        Ok(Verdict::Grace)
    );
    assert_eq!(
        r.check(USER, &sid(1), &winner, T + 900 + c.grace),
        Ok(Verdict::Live)
    );
}

/// A redis-server on a free loopback port with a temporary directory,
/// stopped by its PID when dropped. None (with a message) when the binary
/// is not installed.
pub struct RedisServer {
    pub port: u16,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl RedisServer {
    pub fn start() -> Option<RedisServer> {
        let bin = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        if std::process::Command::new(&bin)
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("SKIPPED: no `{bin}` binary (apt-get install redis-server); the Redis store was not tested");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("sesame-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = std::process::Command::new(&bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = RedisServer { port, child, dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start in 10 s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Random operations (a fixed seed per run, printed) on `b` and on the
/// in-process reference: every outcome and every list must match, so the
/// Redis script and the SQLite round trip cannot drift from the Rust rules.
pub fn matches_the_reference(b: &dyn Backend, steps: usize) {
    use sesame::registry::{Limits, MemoryStore, Op};
    // SESAME_REGISTRY_SEED=0x... replays a failure.
    let seed = match std::env::var("SESAME_REGISTRY_SEED") {
        Ok(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap(),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    } | 1;
    eprintln!("[{}] differential seed {seed:#x}", b.name());
    let mut x = seed;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let c = RegistryConfig {
        browser: Limits {
            idle_timeout: 300,
            absolute_lifetime: 1000,
        },
        remember_me: Limits {
            idle_timeout: 600,
            absolute_lifetime: 3000,
        },
        max_sessions: 3,
        grace: 30,
        touch_interval: 10,
        tombstone_ttl: 50,
    };
    let mut reference = MemoryStore::with_capacity(100_000);
    let mut store = b.open("differential");
    let mut now = T;
    let mut seen = [0usize; 5];
    let lists = |r: &mut dyn RegistryStore, s: &mut dyn RegistryStore, now: u64| {
        for user in 1..=3 {
            let mut a = vec![sesame::RegistryEntry::default(); 8];
            let mut z = vec![sesame::RegistryEntry::default(); 8];
            let na = r
                .execute(&c, &Op::List { user_id: user }, now, &mut a)
                .unwrap();
            let nz = s
                .execute(&c, &Op::List { user_id: user }, now, &mut z)
                .unwrap();
            assert_eq!(
                na,
                nz,
                "list count of user {user} at +{} (seed {seed:#x})",
                now - T
            );
            assert_eq!(a, z, "list of user {user} at +{} (seed {seed:#x})", now - T);
        }
    };
    for step in 0..steps {
        now += if next(20) == 0 { next(200) } else { next(3) };
        let user_id = 1 + next(2);
        let session_id = sid(1 + next(4) as u8);
        // Mostly the session's own tokens, so rotations, grace and theft
        // all happen; new tokens are fresh.
        let known = reference
            .entries()
            .iter()
            .find(|e| e.user_id == user_id && e.session_id == session_id)
            .filter(|e| e.is_live())
            .map(|e| (e.fingerprint, e.previous));
        let f = match (next(4), known) {
            (0 | 1, Some((current, _))) => current,
            (2, Some((_, Some(previous)))) => previous,
            _ => fp(next(250) as u8),
        };
        let g = fp(next(250) as u8);
        let login = Login {
            user_id,
            session_id,
            kind: if next(4) == 0 {
                SessionKind::RememberMe
            } else {
                SessionKind::Browser
            },
            fingerprint: f,
            device: "d",
            ip: "i",
        };
        let pick = if known.is_none() && next(4) != 0 {
            0
        } else {
            next(20)
        };
        let op = match pick {
            0..=2 => Op::Register(login),
            4..=9 => Op::Check {
                user_id,
                session_id,
                fingerprint: f,
            },
            10..=14 => Op::Refresh {
                user_id,
                session_id,
                old: f,
                new: g,
            },
            15 => Op::Peek {
                user_id,
                session_id,
            },
            16 => Op::Revoke {
                user_id,
                session_id,
            },
            17 => Op::RevokeOthers {
                user_id,
                keep: session_id,
            },
            18 => Op::Logout {
                user_id,
                session_id,
                fingerprint: f,
            },
            _ => Op::RevokeAll { user_id },
        };
        let want = reference.execute(&c, &op, now, &mut []);
        let got = store.execute(&c, &op, now, &mut []);
        if let Ok(o) = want {
            seen[o.verdict as usize] += 1;
        }
        assert_eq!(
            want,
            got,
            "step {step} at +{}: {op:?} (seed {seed:#x})",
            now - T
        );
        if step % 25 == 0 {
            lists(&mut reference, &mut *store, now);
        }
    }
    lists(&mut reference, &mut *store, now);
    eprintln!(
        "[{}] verdicts Live/Grace/Revoked/Unknown/Theft: {seen:?}",
        b.name()
    );
    assert!(
        seen.iter().all(|&n| n > 0),
        "every verdict reached: {seen:?}"
    );
}
