//! Several processes on one registry: forked workers (Unicorn, Puma,
//! gunicorn) share the SQLite file or the Redis server, a revoke in one
//! holds in the others at once, and a child never uses the connection it
//! inherited (it connects anew; the parent's keeps working).
//!
//! One test function, so no other test thread holds a lock when it forks.
#![cfg(unix)]

mod registry_common;

use registry_common::*;
use sesame::registry::{Registry, RegistryConfig, Verdict};

/// Runs `f` in a forked child; true if it returned true (and did not panic).
fn in_child(f: impl FnOnce() -> bool) -> libc::pid_t {
    // SAFETY: test-only FFI. This test is the binary's only test, so no
    // other thread holds a lock the child could need.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(false);
        // SAFETY: _exit ends the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    pid
}

fn succeeded(pid: libc::pid_t) -> bool {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

fn processes_share_one_registry(url: &str) {
    eprintln!("processes on {url}");
    let c = RegistryConfig::DEFAULT;
    let mut r = Registry::open(url, c).unwrap();
    r.register(&login(USER, 1, 10), T).unwrap();
    r.register(&login(USER, 2, 20), T).unwrap();
    assert_eq!(r.check(USER, &sid(1), &fp(10), T + 1), Ok(Verdict::Live));

    // A worker revokes session 1 and logs in session 3 through the registry
    // it inherited.
    let child = in_child(|| {
        r.revoke(USER, &sid(1), T + 2) == Ok(true)
            && r.check(USER, &sid(2), &fp(20), T + 2) == Ok(Verdict::Live)
            && r.register(&login(USER, 3, 30), T + 2).is_ok()
    });
    assert!(succeeded(child), "child failed");
    // Held here at once, on the parent's own (still healthy) connection.
    assert_eq!(r.check(USER, &sid(1), &fp(10), T + 3), Ok(Verdict::Revoked));
    assert_eq!(r.check(USER, &sid(3), &fp(30), T + 3), Ok(Verdict::Live));

    // The other way: the parent revokes, a worker forked before sees it.
    let (to_child, from_parent) = {
        let mut fds = [0i32; 2];
        // SAFETY: test-only FFI; a pipe to tell the child when to look.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        (fds[1], fds[0])
    };
    let child = in_child(|| {
        let before = r.check(USER, &sid(2), &fp(20), T + 4) == Ok(Verdict::Live);
        let mut byte = 0u8;
        // SAFETY: reading one byte from our pipe (blocks until the parent writes).
        let n = unsafe { libc::read(from_parent, (&mut byte as *mut u8).cast(), 1) };
        before && n == 1 && r.check(USER, &sid(2), &fp(20), T + 6) == Ok(Verdict::Revoked)
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(r.revoke_others(USER, &sid(3), T + 5), Ok(1));
    // SAFETY: writing one byte to our pipe.
    assert_eq!(
        unsafe { libc::write(to_child, [1u8].as_ptr().cast(), 1) },
        1
    );
    assert!(succeeded(child), "child did not see the parent's revoke");
    // SAFETY: closing our pipe ends.
    unsafe {
        libc::close(to_child);
        libc::close(from_parent);
    }

    // Four workers at once, each its own users, with the parent working too.
    let children: Vec<_> = (0..4u64)
        .map(|w| {
            in_child(move || {
                let mut r = Registry::open(url, c).unwrap();
                (0..25u8).all(|i| {
                    let user = 1000 + w * 100 + u64::from(i);
                    let now = T + 10 + u64::from(i);
                    r.register(&login(user, 1, 10), now).is_ok()
                        && r.check(user, &sid(1), &fp(10), now) == Ok(Verdict::Live)
                        && r.refresh(user, &sid(1), &fp(10), &fp(11), now + 900)
                            == Ok(Verdict::Live)
                        && r.check(user, &sid(1), &fp(11), now + 901) == Ok(Verdict::Live)
                })
            })
        })
        .collect();
    for i in 0..25u8 {
        assert_eq!(
            r.check(USER, &sid(3), &fp(30), T + 10 + u64::from(i)),
            Ok(Verdict::Live)
        );
    }
    for child in children {
        assert!(succeeded(child), "a worker failed");
    }
    assert_eq!(
        r.list_vec(1205, T + 2000).unwrap().len(),
        1,
        "a worker's login is visible"
    );
}

#[test]
fn forked_workers_share_sqlite_and_redis_registries() {
    #[cfg(feature = "registry-sqlite")]
    {
        let dir = std::env::temp_dir().join(format!("sesame-registry-fork-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!(
            "sqlite://{}?busy_timeout_ms=10000",
            dir.join("shared.db").display()
        );
        processes_share_one_registry(&url);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    #[cfg(feature = "registry-redis")]
    if let Some(server) = RedisServer::start() {
        processes_share_one_registry(&format!("{}?timeout_ms=5000", server.url()));
    }
    // The memory store is per process: nothing to share.
    let _ = processes_share_one_registry;
}
