//! The session registry's operations on each store, side by side in one run:
//! the memory store, SQLite (a file on disk in a temp dir: WAL,
//! synchronous=FULL) and Redis (a local redis-server this bench starts with
//! `appendonly yes`, `appendfsync always`, the setting docs/REGISTRY.md
//! requires; its directory on disk too). Before the timings it prints the
//! bytes each store keeps per session.
//!
//! Run: `cargo bench --features registry-sqlite,registry-redis --bench registry`
//! (`SESAME_BENCH_QUICK=1` shortens it; without a `redis-server` binary the
//! Redis rows are skipped).

mod support;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use sesame::registry::{
    Entry, Fingerprint, Login, Registry, RegistryConfig, RegistryStore, SessionKind, Verdict,
};
use std::time::{Duration, Instant};

type Handle = Registry<Box<dyn RegistryStore + Send>>;

const NOW: u64 = 1_700_000_000;
const DEVICE: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const IP: &str = "203.0.113.7";

fn sid(n: u64) -> [u8; 16] {
    let mut s = [0x5a; 16];
    s[..8].copy_from_slice(&n.to_le_bytes());
    s
}

fn fp(n: u64) -> Fingerprint {
    let mut f = [0xc3; 16];
    f[..8].copy_from_slice(&n.to_le_bytes());
    Fingerprint(f)
}

fn login(user: u64, n: u64) -> Login<'static> {
    Login {
        user_id: user,
        session_id: sid(n),
        kind: SessionKind::Browser,
        fingerprint: fp(n),
        device: DEVICE,
        ip: IP,
    }
}

/// A directory under target/ (on disk: /tmp may be a tmpfs, where fsync is free).
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(format!("registry-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A redis-server for the bench, stopped by PID when dropped.
struct RedisServer {
    port: u16,
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl RedisServer {
    fn start() -> Option<RedisServer> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = scratch("redis");
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("SKIPPED the Redis rows: no redis-server binary");
            return None;
        };
        let server = RedisServer { port, child, dir };
        for _ in 0..500 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("redis-server did not start");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn used_memory(&self) -> u64 {
        let mut con = redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let info: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The stores to measure: (name, URL).
struct Stores {
    urls: Vec<(&'static str, String)>,
    redis: Option<RedisServer>,
    dirs: Vec<std::path::PathBuf>,
}

impl Stores {
    fn new() -> Stores {
        let mut stores = Stores {
            urls: vec![("memory", "memory://?capacity=100000".into())],
            redis: RedisServer::start(),
            dirs: Vec::new(),
        };
        {
            let dir = scratch("sqlite");
            stores.urls.push((
                "sqlite",
                format!("sqlite://{}", dir.join("registry.db").display()),
            ));
            stores.dirs.push(dir);
        }
        if let Some(redis) = &stores.redis {
            stores.urls.push(("redis", redis.url()));
        }
        stores
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Bytes per stored session: N sessions (one user each, and ten per user),
/// with a 70-byte user agent and an IPv4 address as labels.
fn footprint(stores: &Stores) {
    const N: u64 = 10_000;
    println!(
        "bytes per stored session ({N} sessions; device label {} bytes, ip {} bytes)",
        DEVICE.len(),
        IP.len()
    );
    println!("| store | 1 session per user | 10 sessions per user | measured as |");
    println!("|---|---:|---:|---|");
    println!(
        "| memory | {} | {} | size_of::<Entry>() (fixed: labels are inline, 128 + 45 bytes) |",
        std::mem::size_of::<Entry>(),
        std::mem::size_of::<Entry>()
    );
    {
        let mut per = Vec::new();
        for per_user in [1u64, 10] {
            let dir = scratch("footprint");
            let db = dir.join("f.db");
            let mut r = Registry::open(
                &format!("sqlite://{}", db.display()),
                RegistryConfig::DEFAULT,
            )
            .unwrap();
            let empty = sqlite_bytes(&db);
            for n in 0..N {
                r.register(&login(1 + n / per_user, n), NOW).unwrap();
            }
            drop(r);
            per.push((sqlite_bytes(&db) - empty) as f64 / N as f64);
            let _ = std::fs::remove_dir_all(dir);
        }
        println!(
            "| sqlite | {:.0} | {:.0} | file size after a checkpoint, less the empty file's |",
            per[0], per[1]
        );
    }
    if let Some(redis) = &stores.redis {
        let mut per = Vec::new();
        for (i, per_user) in [1u64, 10].into_iter().enumerate() {
            let url = format!("{}?prefix=footprint{i}", redis.url());
            let mut r = Registry::open(&url, RegistryConfig::DEFAULT).unwrap();
            let before = redis.used_memory();
            for n in 0..N {
                r.register(&login(1 + n / per_user, n), NOW).unwrap();
            }
            per.push((redis.used_memory() - before) as f64 / N as f64);
        }
        println!(
            "| redis | {:.0} | {:.0} | INFO memory used_memory delta |",
            per[0], per[1]
        );
    }
    println!();
}

/// The database's bytes on disk once the WAL is checkpointed into it.
fn sqlite_bytes(db: &std::path::Path) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let _: (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    drop(conn);
    std::fs::metadata(db).unwrap().len()
}

fn bench_registry(c: &mut Criterion) {
    let stores = Stores::new();
    footprint(&stores);
    // Limits far away, so a benchmark that moves time forward (a touch
    // each touch interval) never outlives its session.
    let far = sesame::registry::Limits {
        idle_timeout: 1 << 40,
        absolute_lifetime: 1 << 40,
    };
    let config = RegistryConfig {
        browser: far,
        ..RegistryConfig::DEFAULT
    };
    for (name, url) in &stores.urls {
        let mut g = c.benchmark_group(format!("registry/{name}"));
        let mut r: Handle = Registry::open(url, config).unwrap();
        // Logins go to a pool of POOL users in turn: once a user is at the
        // cap (10), each login ends the oldest session, so every store holds
        // a bounded population (about 20 entries per user, live and
        // tombstones) however long criterion runs.
        const POOL: u64 = 1_000;
        let mut n = 1_000_000u64;
        for _ in 0..POOL * 20 {
            n += 1;
            r.register(&login(100 + n % POOL, n), NOW).unwrap();
        }

        g.bench_function("register (user at the cap: ends the oldest)", |b| {
            b.iter(|| {
                n += 1;
                black_box(r.register(&login(100 + n % POOL, n), NOW).unwrap())
            })
        });

        // The hot path: a token already seen, within the touch interval:
        // a read, no write.
        let user = 1;
        r.register(&login(user, 1), NOW).unwrap();
        assert_eq!(r.check(user, &sid(1), &fp(1), NOW), Ok(Verdict::Live));
        g.bench_function("check", |b| {
            b.iter(|| black_box(r.check(user, &sid(1), &fp(1), NOW).unwrap()))
        });

        // A check that writes last-seen: each one a touch interval later.
        let mut t = NOW;
        g.bench_function("check (touch write)", |b| {
            b.iter(|| {
                t += config.touch_interval;
                let v = r.check(user, &sid(1), &fp(1), t).unwrap();
                assert_eq!(v, Verdict::Live);
                black_box(v)
            })
        });

        // A refresh that rotates the token (each from the current one).
        let user = 2;
        r.register(&login(user, 2), NOW).unwrap();
        let mut current = 2u64;
        let mut t = NOW;
        g.bench_function("refresh", |b| {
            b.iter(|| {
                t += 1;
                let next = current + 10_000_000;
                let v = r
                    .refresh(user, &sid(2), &fp(current), &fp(next), t)
                    .unwrap();
                current = next;
                black_box(v)
            })
        });

        // A user with ten live sessions (the default cap).
        let user = 3;
        for s in 0..10 {
            r.register(&login(user, 3_000 + s), NOW).unwrap();
        }
        assert_eq!(r.list_vec(user, NOW).unwrap().len(), 10);
        let mut out = vec![Entry::default(); 10];
        g.bench_function("list (10 sessions)", |b| {
            b.iter(|| black_box(r.list(user, NOW, &mut out).unwrap()))
        });

        g.bench_function("revoke", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    let user = 100 + n % POOL;
                    r.register(&login(user, n), NOW).unwrap();
                    let t0 = Instant::now();
                    let ended = r.revoke(user, &sid(n), NOW).unwrap();
                    total += t0.elapsed();
                    assert!(ended);
                }
                total
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = support::config();
    targets = bench_registry
}
criterion_main!(benches);
