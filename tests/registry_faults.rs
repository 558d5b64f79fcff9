//! The registry under real faults, with real processes: a `redis-server`
//! killed with SIGKILL and stopped with SIGTERM while threads work, then
//! restarted on the same port and directory; a `sqlite3` process holding an
//! exclusive lock on the registry's file; the SQLite file's filesystem full
//! (a small tmpfs, mounted when the test runs as root).
//!
//! Under every fault the load threads assert: no panic, no wrong user (a
//! token is never admitted under another user's ID), no store error but the
//! expected one, and every revocation acknowledged before the fault still
//! holds after it. After the fault the same handles work again (Redis
//! reconnects, SQLite retries), without reopening anything.
#![cfg(all(
    unix,
    feature = "capi",
    feature = "registry-sqlite",
    feature = "registry-redis"
))]

mod registry_common;

use sesame::registry::{
    Fingerprint, Login, OnStoreError, Registry, RegistryConfig, RegistryError, RegistryStore,
    SessionKind, Verdict,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Handle = Registry<Box<dyn RegistryStore + Send>>;

const T: u64 = registry_common::T;

fn now() -> u64 {
    // Real seconds from a fixed base, so touch and grace behave as in a server.
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    T + START.get_or_init(Instant::now).elapsed().as_secs()
}

fn sid(n: u64) -> [u8; 16] {
    let mut s = [0xa5; 16];
    s[..8].copy_from_slice(&n.to_le_bytes());
    s
}

fn fp(n: u64, generation: u8) -> Fingerprint {
    let mut f = [generation; 16];
    f[..8].copy_from_slice(&n.to_le_bytes());
    Fingerprint(f)
}

fn open(url: &str) -> Handle {
    Registry::open(url, RegistryConfig::DEFAULT).expect("open the registry")
}

/// A session the load acknowledged: `(user, session, current token)`.
type Acked = (u64, [u8; 16], Fingerprint);

#[derive(Default)]
struct Report {
    cycles: u64,
    ok_calls: u64,
    errors: Vec<RegistryError>,
    slowest_error: Duration,
    violations: Vec<String>,
    revoked: Vec<Acked>,
    live: Vec<Acked>,
    last_ok: Option<Instant>,
}

/// Worker threads, each with its own handle (one connection, as a server
/// thread would have), each on users of its own, running login, check, a
/// check under another user's ID, refresh, check and (every other cycle)
/// revoke, until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Report>>,
    /// Per worker: microseconds after `base` of its last successful call,
    /// so a test can wait (bounded) for every worker to recover.
    progress: Vec<Arc<AtomicU64>>,
    base: Instant,
}

impl Load {
    fn start(url: &str, workers: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let base = Instant::now();
        let progress: Vec<_> = (0..workers).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let threads = (0..workers)
            .map(|w| {
                let stop = stop.clone();
                let last_ok = progress[w as usize].clone();
                let mut r = open(url);
                std::thread::spawn(move || work(&mut r, w, &stop, &last_ok, base))
            })
            .collect();
        Load {
            stop,
            threads,
            progress,
            base,
        }
    }

    /// Waits, at most `limit`, until every worker has made a successful
    /// call after `since` (a loaded machine can take a while to schedule a
    /// worker that waited out a lock or a reconnect).
    fn wait_until_all_worked_after(&self, since: Instant, limit: Duration) {
        let since = since.duration_since(self.base).as_micros() as u64;
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline
            && self
                .progress
                .iter()
                .any(|p| p.load(Ordering::SeqCst) <= since)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        // A little more work after recovery, as the fixed pause gave.
        std::thread::sleep(Duration::from_millis(200));
    }

    /// Stops the workers; panics if one panicked.
    fn finish(mut self) -> Vec<Report> {
        self.stop.store(true, Ordering::SeqCst);
        std::mem::take(&mut self.threads)
            .into_iter()
            .map(|t| t.join().expect("a load thread panicked"))
            .collect()
    }
}

/// A test that fails midway still stops its workers (and closes their
/// handles, so a tmpfs can be unmounted).
impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in std::mem::take(&mut self.threads) {
            let _ = t.join();
        }
    }
}

fn work(
    r: &mut Handle,
    worker: u64,
    stop: &AtomicBool,
    last_ok: &AtomicU64,
    base: Instant,
) -> Report {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut rep = Report::default();
    let step = |rep: &mut Report,
                what: &str,
                result: Result<Verdict, RegistryError>,
                t0: Instant,
                want: &[Verdict]|
     -> bool {
        match result {
            Ok(v) => {
                rep.ok_calls += 1;
                let at = Instant::now();
                rep.last_ok = Some(at);
                last_ok.store(at.duration_since(base).as_micros() as u64, Ordering::SeqCst);
                if !want.contains(&v) {
                    rep.violations
                        .push(format!("{what}: {v:?}, expected one of {want:?}"));
                }
                true
            }
            Err(e) => {
                rep.errors.push(e);
                rep.slowest_error = rep.slowest_error.max(t0.elapsed());
                false
            }
        }
    };
    while !stop.load(Ordering::Relaxed) {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // A user per session: no cap eviction, and user + 1 never logs in.
        let user = (worker + 1) * 10_000_000 + 2 * n;
        let (s, a, b) = (sid(n), fp(n, 1), fp(n, 2));
        rep.cycles += 1;
        let login = Login {
            user_id: user,
            session_id: s,
            kind: SessionKind::Browser,
            fingerprint: a,
            device: "load",
            ip: "127.0.0.1",
        };
        let t0 = Instant::now();
        let registered = r.register(&login, now()).map(|_| Verdict::Live);
        let ok = step(&mut rep, "register", registered, t0, &[Verdict::Live])
            && step(&mut rep, "check", r.check(user, &s, &a, now()), Instant::now(), &[Verdict::Live])
            // The same session and token under another user's ID: never admitted.
            && step(&mut rep, "check as another user", r.check(user + 1, &s, &a, now()), Instant::now(), &[Verdict::Unknown])
            && step(&mut rep, "refresh", r.refresh(user, &s, &a, &b, now()), Instant::now(), &[Verdict::Live])
            && step(&mut rep, "check the new token", r.check(user, &s, &b, now()), Instant::now(), &[Verdict::Live]);
        if !ok {
            // The failed call may or may not have been applied: this
            // session's state is unknown, start another.
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        if n % 2 == 0 {
            let t0 = Instant::now();
            match r.revoke(user, &s, now()) {
                Ok(true) => {
                    rep.ok_calls += 1;
                    rep.revoked.push((user, s, b));
                    step(
                        &mut rep,
                        "check after revoke",
                        r.check(user, &s, &b, now()),
                        Instant::now(),
                        &[Verdict::Revoked],
                    );
                }
                Ok(false) => rep
                    .violations
                    .push("revoke of a live session ended nothing".into()),
                Err(e) => {
                    rep.errors.push(e);
                    rep.slowest_error = rep.slowest_error.max(t0.elapsed());
                }
            }
        } else {
            rep.live.push((user, s, b));
        }
    }
    rep
}

/// Sums the reports and checks what must hold whatever the fault: no
/// violation, only `allowed` errors, failing calls bounded by `slowest`.
fn judge(
    reports: &[Report],
    allowed: &[RegistryError],
    slowest: Duration,
) -> (Vec<Acked>, Vec<Acked>) {
    let mut revoked = Vec::new();
    let mut live = Vec::new();
    let (mut cycles, mut ok, mut errors) = (0, 0, 0);
    for rep in reports {
        assert!(
            rep.violations.is_empty(),
            "wrong answers: {:?}",
            rep.violations
        );
        for e in &rep.errors {
            assert!(
                allowed.contains(e),
                "unexpected store error {e:?}, allowed {allowed:?}"
            );
        }
        assert!(
            rep.slowest_error <= slowest,
            "a failing call took {:?}",
            rep.slowest_error
        );
        cycles += rep.cycles;
        ok += rep.ok_calls;
        errors += rep.errors.len();
        revoked.extend_from_slice(&rep.revoked);
        live.extend_from_slice(&rep.live);
    }
    eprintln!(
        "  load: {cycles} cycles, {ok} calls answered, {errors} store errors ({allowed:?}), \
         {} revocations and {} live sessions acknowledged",
        revoked.len(),
        live.len()
    );
    (revoked, live)
}

/// Every acknowledged revocation still denies; every acknowledged live
/// session is still live. Returns (revocations lost, logins lost).
fn count_losses(r: &mut Handle, revoked: &[Acked], live: &[Acked]) -> (usize, usize) {
    let mut lost_revocations = 0;
    for (user, s, f) in revoked {
        match r.check(*user, s, f, now()).expect("the store answers") {
            Verdict::Revoked => {}
            v => {
                assert!(v != Verdict::Grace, "a revoked session in grace");
                if v.admits() {
                    lost_revocations += 1;
                }
            }
        }
    }
    let mut lost_logins = 0;
    for (user, s, f) in live {
        match r.check(*user, s, f, now()).expect("the store answers") {
            Verdict::Live => {}
            Verdict::Unknown => lost_logins += 1,
            v => panic!("an acknowledged live session answered {v:?}"),
        }
    }
    (lost_revocations, lost_logins)
}

/// `revoke` through the C ABI, on a handle of its own: the result code.
fn c_revoke(url: &str, user: u64, session: &[u8; 16], now: u64) -> sesame::ffi::sesame_result {
    use sesame::ffi::*;
    let mut handle = std::ptr::null_mut();
    // SAFETY: `url` is valid for its length; NULL config means the
    // defaults; `handle` is a valid out-pointer.
    let rc = unsafe {
        sesame_registry_open(
            url.as_ptr().cast(),
            url.len(),
            std::ptr::null(),
            &mut handle,
        )
    };
    assert_eq!(rc, sesame_result::SESAME_OK);
    let mut revoked = 0u32;
    // SAFETY: a live handle; `session` is 16 bytes; `revoked` is a valid out-pointer.
    let rc = unsafe { sesame_registry_revoke(handle, user, session.as_ptr(), now, &mut revoked) };
    // SAFETY: from sesame_registry_open, freed once.
    unsafe { sesame_registry_free(handle) };
    rc
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn have(binary: &str) -> bool {
    let found = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("SKIPPED: no `{binary}` binary; this fault was not tested");
    }
    found
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sesame-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------- Redis

/// A redis-server that can be killed and started again on the same port
/// and directory (so it reloads what it persisted). Stopped by PID.
struct Redis {
    port: u16,
    dir: std::path::PathBuf,
    args: Vec<String>,
    child: Option<std::process::Child>,
}

impl Redis {
    /// `config`: a config file to start from (None: redis's built-in
    /// defaults); `args`: overrides.
    fn start(name: &str, config: Option<&str>, args: &[&str]) -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = temp_dir(&format!("redis-{name}"));
        let mut all: Vec<String> = config.map(String::from).into_iter().collect();
        let pidfile = dir.join("redis.pid").display().to_string();
        let d = dir.display().to_string();
        all.extend(
            [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--dir",
                &d,
                "--daemonize",
                "no",
                "--logfile",
                "",
                "--pidfile",
                &pidfile,
                "--supervised",
                "no",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        all.extend(args.iter().map(|s| s.to_string()));
        let mut redis = Redis {
            port,
            dir,
            args: all,
            child: None,
        };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(&self.args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let url = self.url();
        wait_until("redis-server answers PING", Duration::from_secs(10), || {
            redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok()
        });
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn signal(&mut self, signal: libc::c_int) {
        let mut child = self.child.take().expect("running");
        // SAFETY: signalling our own child by its PID.
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
        child.wait().unwrap();
    }

    fn command(&self, args: &[&str]) -> String {
        let mut con = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let v: redis::Value = cmd.query(&mut con).unwrap();
        format!("{v:?}")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// appendonly yes + appendfsync always: every write is on disk before
/// Redis answers, so a SIGKILL (or a stop) under load loses nothing that
/// was acknowledged; the stores fail closed while it is down, and the same
/// handles reconnect after the restart.
#[test]
fn redis_killed_and_stopped_under_load_loses_no_acknowledged_revocation() {
    if !have("redis-server") {
        return;
    }
    let mut redis = Redis::start(
        "aof",
        None,
        &[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ],
    );
    let url = format!("{}?timeout_ms=1000", redis.url());
    let mut revoked = Vec::new();
    let mut live = Vec::new();
    for (fault, signal) in [
        ("SIGKILL", libc::SIGKILL),
        ("SIGTERM (stop)", libc::SIGTERM),
    ] {
        eprintln!("redis-server {fault} under load");
        let load = Load::start(&url, 4);
        let mut closed = open(&url);
        let mut open_ = open(&url).with_on_store_error(OnStoreError::Allow);
        let probe = (1u64, sid(0), fp(0, 1));
        closed
            .register(
                &Login {
                    user_id: probe.0,
                    session_id: probe.1,
                    kind: SessionKind::Browser,
                    fingerprint: probe.2,
                    device: "",
                    ip: "",
                },
                now(),
            )
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        redis.signal(signal);
        let down = Instant::now();
        std::thread::sleep(Duration::from_millis(300));
        // Down: a check is refused (fail closed) unless configured open.
        let result = closed.check(probe.0, &probe.1, &probe.2, now());
        assert_eq!(result, Err(RegistryError::Unavailable));
        assert!(!closed.admits(&result), "fail closed by default");
        let result = open_.check(probe.0, &probe.1, &probe.2, now());
        assert_eq!(result, Err(RegistryError::Unavailable));
        assert!(open_.admits(&result), "fail open when configured");
        redis.launch();
        let up = Instant::now();
        eprintln!("  down for {:?}", up - down);
        load.wait_until_all_worked_after(up, Duration::from_secs(15));
        let reports = load.finish();
        for rep in &reports {
            assert!(
                rep.last_ok.is_some_and(|t| t > up),
                "a load thread never worked again after the restart"
            );
        }
        let (r, l) = judge(
            &reports,
            &[RegistryError::Unavailable],
            Duration::from_millis(2500),
        );
        assert!(
            reports.iter().any(|rep| !rep.errors.is_empty()),
            "the fault was not seen"
        );
        revoked.extend(r);
        live.extend(l);
        // The same handles, not reopened: reconnected.
        assert_eq!(
            closed.check(probe.0, &probe.1, &probe.2, now()),
            Ok(Verdict::Live)
        );
        assert_eq!(
            open_.check(probe.0, &probe.1, &probe.2, now()),
            Ok(Verdict::Live)
        );
        let (lost_revocations, lost_logins) = count_losses(&mut closed, &revoked, &live);
        eprintln!(
            "  after the restart: {lost_revocations} of {} acknowledged revocations lost, \
             {lost_logins} of {} acknowledged logins lost",
            revoked.len(),
            live.len()
        );
        assert_eq!(
            lost_revocations, 0,
            "a revocation acknowledged before the {fault} was lost"
        );
        assert_eq!(
            lost_logins, 0,
            "a login acknowledged before the {fault} was lost"
        );
    }
    assert!(!revoked.is_empty() && !live.is_empty());
}

/// What other persistence settings lose on SIGKILL: Debian's
/// /etc/redis/redis.conf (RDB snapshots only: appendonly no, redis's
/// built-in save points 3600 1 / 300 100 / 60 10000) and AOF with
/// appendfsync everysec. Sessions logged in before a snapshot, revoked
/// after it, then the server killed.
#[test]
fn redis_persistence_settings_measured() {
    if !have("redis-server") {
        return;
    }
    const N: u64 = 200;
    let mut rows = Vec::new();
    let debian = std::path::Path::new("/etc/redis/redis.conf")
        .exists()
        .then_some("/etc/redis/redis.conf");
    if debian.is_none() {
        eprintln!("SKIPPED the Debian row: no /etc/redis/redis.conf");
    }
    let settings: Vec<(&str, Option<&str>, Vec<&str>)> = vec![
        ("Debian redis.conf (RDB only)", debian, vec![]),
        (
            "appendonly yes, appendfsync everysec",
            None,
            vec![
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ],
        ),
        (
            "appendonly yes, appendfsync always",
            None,
            vec![
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ],
        ),
    ];
    for (name, config, args) in settings {
        if name.starts_with("Debian") && config.is_none() {
            continue;
        }
        let mut redis = Redis::start("persist", config, &args);
        let mut r = open(&redis.url());
        let sessions: Vec<Acked> = (0..N).map(|n| (100 + n, sid(n), fp(n, 1))).collect();
        for (user, s, f) in &sessions {
            let login = Login {
                user_id: *user,
                session_id: *s,
                kind: SessionKind::Browser,
                fingerprint: *f,
                device: "",
                ip: "",
            };
            r.register(&login, now()).unwrap();
        }
        // A snapshot, as the periodic one would take: the logins are in it.
        redis.command(&["SAVE"]);
        for (user, s, _) in &sessions {
            assert_eq!(r.revoke(*user, s, now()), Ok(true));
        }
        redis.signal(libc::SIGKILL);
        redis.launch();
        // The old handle's connection died with the server: its next call
        // fails (it is not retried) and the one after reconnects.
        let probe = sessions[0];
        assert_eq!(
            r.peek(probe.0, &probe.1, now()),
            Err(RegistryError::Unavailable)
        );
        let (lost, lost_logins) = count_losses(&mut r, &sessions, &[]);
        assert_eq!(lost_logins, 0);
        eprintln!("{name}: {lost} of {N} acknowledged revocations lost to a SIGKILL");
        rows.push((name, lost));
        if name.starts_with("Debian") {
            // Everything since the snapshot is gone: the revoked sessions are live again.
            assert_eq!(
                lost as u64, N,
                "RDB-only persistence kept revocations made after the snapshot"
            );
        }
        if name.ends_with("always") {
            assert_eq!(
                lost, 0,
                "appendfsync always lost an acknowledged revocation"
            );
        }
    }
    eprintln!("{rows:?}");
}

// ---------------------------------------------------------------- SQLite

/// Another process (the `sqlite3` shell) holds `BEGIN EXCLUSIVE` on the
/// registry's file: writers wait the busy timeout, then `Busy` (across the
/// C ABI: SESAME_REGISTRY_UNAVAILABLE), denied by default; readers are not
/// blocked (WAL); after the lock is released the same handles write again.
#[test]
fn sqlite_locked_by_another_process_waits_then_fails_clearly() {
    use std::io::Write;
    if !have("sqlite3") {
        return;
    }
    let dir = temp_dir("locked");
    let db = dir.join("registry.db");
    let url = format!("sqlite://{}?busy_timeout_ms=300", db.display());
    let mut r = open(&url);
    let probe = (1u64, sid(0), fp(0, 1));
    r.register(
        &Login {
            user_id: probe.0,
            session_id: probe.1,
            kind: SessionKind::Browser,
            fingerprint: probe.2,
            device: "",
            ip: "",
        },
        now(),
    )
    .unwrap();
    assert_eq!(
        r.check(probe.0, &probe.1, &probe.2, now()),
        Ok(Verdict::Live)
    );
    let revoked_before: Vec<Acked> = (1..=20)
        .map(|n| {
            let (u, s, f) = (500 + n, sid(1000 + n), fp(1000 + n, 1));
            r.register(
                &Login {
                    user_id: u,
                    session_id: s,
                    kind: SessionKind::Browser,
                    fingerprint: f,
                    device: "",
                    ip: "",
                },
                now(),
            )
            .unwrap();
            assert_eq!(r.revoke(u, &s, now()), Ok(true));
            (u, s, f)
        })
        .collect();

    let load = Load::start(&url, 3);
    std::thread::sleep(Duration::from_millis(300));
    let mut shell = std::process::Command::new("sqlite3")
        .arg(&db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start sqlite3");
    let mut stdin = shell.stdin.take().unwrap();
    // The shell's own busy timeout lets it wait for the load's writers; it
    // prints "locked" once BEGIN EXCLUSIVE holds (the shell flushes each
    // statement's output).
    writeln!(stdin, ".timeout 5000\nBEGIN EXCLUSIVE;\nSELECT 'locked';").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(shell.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        "locked",
        "the sqlite3 shell did not take the lock"
    );
    let locked = Instant::now();
    // Writers: wait the busy timeout, then a clear error, denied by default.
    let t0 = Instant::now();
    let result = r.refresh(probe.0, &probe.1, &probe.2, &fp(0, 2), now());
    let waited = t0.elapsed();
    assert_eq!(result, Err(RegistryError::Busy));
    assert!(
        waited >= Duration::from_millis(250),
        "gave up after {waited:?}, before the busy timeout"
    );
    assert!(!r.admits(&result));
    assert_eq!(
        result.unwrap_err().message(),
        "the session store stayed locked past its timeout"
    );
    assert_eq!(r.revoke(probe.0, &probe.1, now()), Err(RegistryError::Busy));
    // Every language sees it as SESAME_REGISTRY_UNAVAILABLE.
    assert_eq!(
        c_revoke(&url, probe.0, &probe.1, now()),
        sesame::ffi::sesame_result::SESAME_REGISTRY_UNAVAILABLE
    );
    // Readers are not blocked (WAL): a seen token within the touch interval,
    // peek and list read only.
    assert_eq!(
        r.check(probe.0, &probe.1, &probe.2, now()),
        Ok(Verdict::Live)
    );
    assert_eq!(r.peek(probe.0, &probe.1, now()), Ok(Verdict::Live));
    assert_eq!(r.list_vec(probe.0, now()).map(|l| l.len()), Ok(1));
    std::thread::sleep(Duration::from_millis(700));
    writeln!(stdin, "COMMIT;").unwrap();
    drop(stdin);
    assert!(shell.wait().unwrap().success());
    let released = Instant::now();
    eprintln!("  locked for {:?}", released - locked);
    load.wait_until_all_worked_after(released, Duration::from_secs(15));
    let reports = load.finish();
    for rep in &reports {
        assert!(
            rep.last_ok.is_some_and(|t| t > released),
            "a load thread never wrote again after the lock"
        );
    }
    let (revoked, live) = judge(
        &reports,
        &[RegistryError::Busy],
        Duration::from_millis(1500),
    );
    assert!(
        reports
            .iter()
            .any(|rep| rep.errors.contains(&RegistryError::Busy)),
        "the lock was not seen"
    );
    // The same handle writes again.
    assert_eq!(
        r.refresh(probe.0, &probe.1, &probe.2, &fp(0, 2), now()),
        Ok(Verdict::Live)
    );
    let all_revoked: Vec<Acked> = revoked.into_iter().chain(revoked_before).collect();
    assert_eq!(count_losses(&mut r, &all_revoked, &live), (0, 0));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A mounted tmpfs, unmounted (and its directory removed) when dropped.
struct TinyFs(std::path::PathBuf);

impl TinyFs {
    fn mount(size: &str) -> Option<TinyFs> {
        let dir = temp_dir("tinyfs");
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "sesame-faults",
            ])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root); the full-disk fault was not tested");
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(TinyFs(dir))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Fills the filesystem with a file of zeros; returns its path.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = [0u8; 4096];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    let _ = f.sync_all();
    path
}

/// The SQLite file's filesystem fills up under load: writes fail with
/// `Full` (across the C ABI: SESAME_REGISTRY_FULL), checks that need no
/// write still answer, failing checks deny unless configured open; after
/// space is freed the same handles write again, and the file passes
/// `PRAGMA integrity_check` with every acknowledged write in it.
#[test]
fn sqlite_on_a_full_disk_fails_clearly_and_recovers_without_corruption() {
    let Some(fs) = TinyFs::mount("16m") else {
        return;
    };
    let db = fs.0.join("registry.db");
    let url = format!("sqlite://{}?busy_timeout_ms=2000", db.display());
    let mut r = open(&url);
    let fail_open = open(&url).with_on_store_error(OnStoreError::Allow);
    let probe = (1u64, sid(0), fp(0, 1));
    r.register(
        &Login {
            user_id: probe.0,
            session_id: probe.1,
            kind: SessionKind::Browser,
            fingerprint: probe.2,
            device: "",
            ip: "",
        },
        now(),
    )
    .unwrap();
    assert_eq!(
        r.check(probe.0, &probe.1, &probe.2, now()),
        Ok(Verdict::Live)
    );

    let unseen: Vec<Acked> = (1..=50)
        .map(|n| {
            let (u, s, f) = (700 + n, sid(7000 + n), fp(7000 + n, 1));
            r.register(
                &Login {
                    user_id: u,
                    session_id: s,
                    kind: SessionKind::Browser,
                    fingerprint: f,
                    device: "",
                    ip: "",
                },
                now(),
            )
            .unwrap();
            (u, s, f)
        })
        .collect();

    let load = Load::start(&url, 3);
    std::thread::sleep(Duration::from_millis(300));
    let filler = fill(&fs.0);
    // Writes until the WAL needs room it cannot get (bounded).
    let mut full = None;
    for n in 0..20_000u64 {
        let device = "x".repeat(128);
        let l = Login {
            user_id: 2_000_000 + n,
            session_id: sid(n),
            kind: SessionKind::Browser,
            fingerprint: fp(n, 1),
            device: &device,
            ip: "",
        };
        if let Err(e) = r.register(&l, now()) {
            full = Some(e);
            break;
        }
    }
    assert_eq!(full, Some(RegistryError::Full), "a write on a full disk");
    assert_eq!(RegistryError::Full.message(), "the session store is full");
    // A check that only reads still answers.
    assert_eq!(
        r.check(probe.0, &probe.1, &probe.2, now()),
        Ok(Verdict::Live)
    );
    // A check that must write (first sight of a token: sessions logged in
    // before the disk filled) fails with the same error: denied by default,
    // served when configured open.
    let mut refused = 0;
    for (user, s, f) in &unseen {
        let result = r.check(*user, s, f, now());
        match result {
            Ok(v) => assert_eq!(v, Verdict::Live),
            Err(e) => {
                assert_eq!(e, RegistryError::Full);
                assert!(!r.admits(&result), "fail closed by default");
                assert!(fail_open.admits(&result), "fail open when configured");
                refused += 1;
            }
        }
    }
    eprintln!(
        "  {refused} of {} first-sight checks refused on the full disk",
        unseen.len()
    );
    assert!(refused > 0, "every first-sight check wrote on a full disk");
    // Every language sees it as SESAME_REGISTRY_FULL.
    let c_full = unseen
        .iter()
        .map(|(user, s, _)| c_revoke(&url, *user, s, now()))
        .find(|rc| *rc != sesame::ffi::sesame_result::SESAME_OK);
    assert_eq!(
        c_full,
        Some(sesame::ffi::sesame_result::SESAME_REGISTRY_FULL)
    );
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    load.wait_until_all_worked_after(freed, Duration::from_secs(15));
    let reports = load.finish();
    for rep in &reports {
        assert!(
            rep.last_ok.is_some_and(|t| t > freed),
            "a load thread never wrote again after space was freed: {} cycles, last errors {:?}, last ok {:?} before",
            rep.cycles,
            &rep.errors[rep.errors.len().saturating_sub(5)..],
            rep.last_ok.map(|t| freed.saturating_duration_since(t))
        );
    }
    let (revoked, live) = judge(
        &reports,
        &[RegistryError::Full],
        Duration::from_millis(2500),
    );
    assert!(
        reports
            .iter()
            .any(|rep| rep.errors.contains(&RegistryError::Full)),
        "the load never saw the full disk"
    );
    // The same handle writes again; nothing acknowledged was lost.
    assert_eq!(
        r.refresh(probe.0, &probe.1, &probe.2, &fp(0, 2), now()),
        Ok(Verdict::Live)
    );
    assert_eq!(count_losses(&mut r, &revoked, &live), (0, 0));
    drop((r, fail_open));
    let conn = rusqlite::Connection::open(&db).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    drop(conn);
    drop(fs);
}
