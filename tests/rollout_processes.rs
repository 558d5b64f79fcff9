//! A key rotation across two real server processes: each is this test
//! binary started again as a "node" that keeps a `SharedKeyRing` loaded from
//! its own keyset file and answers over stdin/stdout; the keyset files are
//! made and edited by the `sesame` CLI. The fleet is upgraded one node at a
//! time, so during each step the two nodes run different keyset versions
//! while users bounce between them. Nobody may be logged out at any step;
//! the unsafe order (promote on one node before the other has the key) must
//! log users out, which shows the test can tell the two apart.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use sesame::{ForkSafeRng, NewSession, Policy, SharedKeyRing};

const CLI: &str = env!("CARGO_BIN_EXE_sesame");
const NODE_KEYSET: &str = "SESAME_ROLLOUT_NODE_KEYSET";
const USERS: u64 = 12;

/// The node's main loop, entered when this binary is started with
/// `NODE_KEYSET` set (see `Node::start`); an ordinary test run skips it.
#[test]
fn node() {
    let Some(path) = std::env::var_os(NODE_KEYSET) else {
        return;
    };
    let ring: SharedKeyRing = SharedKeyRing::new();
    let load = |ring: &SharedKeyRing| {
        let text = std::fs::read_to_string(&path).unwrap();
        ring.load_keyset(&text).unwrap();
    };
    load(&ring);
    let now = sesame::unix_now();
    let mut rng = ForkSafeRng::new();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let (verb, argument) = line.split_once(' ').unwrap_or((&line, ""));
        let reply = match verb {
            "reload" => {
                load(&ring);
                format!("ok {}", ring.primary_id().unwrap())
            }
            "login" => {
                let user = argument.parse().unwrap();
                let token = ring
                    .seal_token(&NewSession::new(user), b"", now, &mut rng)
                    .unwrap();
                format!("ok {token}")
            }
            // Every visit refreshes, so tokens move to the node's primary key.
            "visit" => match ring.refresh_token(argument, b"", &Policy::default(), now, &mut rng) {
                Ok((claims, token)) => format!("ok {} {token}", claims.user_id),
                Err(error) => format!("err {error:?}"),
            },
            other => format!("err unknown verb {other}"),
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
}

struct Node {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    keyset: PathBuf,
}

impl Node {
    fn start(keyset: PathBuf) -> Node {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "node",
                "--nocapture",
                "--test-threads",
                "1",
                "-q",
            ])
            .env(NODE_KEYSET, &keyset)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Node {
            child,
            input,
            output,
            keyset,
        }
    }

    fn ask(&mut self, request: &str) -> String {
        writeln!(self.input, "{request}").unwrap();
        self.input.flush().unwrap();
        // The test harness prints its own lines; the node's replies start
        // with "ok " or "err ".
        loop {
            let mut line = String::new();
            assert!(self.output.read_line(&mut line).unwrap() > 0, "node exited");
            let line = line.trim_end();
            if line.starts_with("ok ") || line.starts_with("err ") {
                return line.to_string();
            }
        }
    }

    /// Installs a keyset version on this node (a copy of the file, then a reload).
    fn upgrade(&mut self, version: &Path) {
        std::fs::copy(version, &self.keyset).unwrap();
        let reply = self.ask("reload");
        assert!(reply.starts_with("ok "), "{reply}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cli(args: &[&str]) -> String {
    let output = Command::new(CLI).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "sesame {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Keyset versions of a rotation from key 1 to key 2, made by the CLI.
fn versions(dir: &Path) -> [PathBuf; 4] {
    let path = |name: &str| dir.join(name);
    std::fs::write(path("v0"), cli(&["keyset", "new"])).unwrap();
    let edit = |from: &str, to: &str, args: &[&str]| {
        std::fs::copy(path(from), path(to)).unwrap();
        let file = path(to).to_str().unwrap().to_string();
        let mut full = vec!["keyset", args[0], &file];
        full.extend_from_slice(&args[1..]);
        cli(&full);
    };
    edit("v0", "v1", &["add"]); // key 2, decrypt-only
    edit("v1", "v2", &["promote", "2"]);
    edit("v2", "v3", &["retire", "1"]);
    ["v0", "v1", "v2", "v3"].map(path)
}

/// Every user visits A then B; returns how many visits failed.
fn bounce(a: &mut Node, b: &mut Node, tokens: &mut [String]) -> usize {
    let mut failures = 0;
    for (user, token) in tokens.iter_mut().enumerate() {
        for node in [&mut *a, &mut *b] {
            let reply = node.ask(&format!("visit {token}"));
            let mut parts = reply.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("ok"), Some(id), Some(fresh)) => {
                    assert_eq!(id, user.to_string(), "a user came back as another");
                    *token = fresh.to_string();
                }
                _ => failures += 1,
            }
        }
    }
    failures
}

fn fleet(dir: &Path, v0: &Path) -> (Node, Node, Vec<String>) {
    let (a_file, b_file) = (dir.join("a.keyset"), dir.join("b.keyset"));
    std::fs::copy(v0, &a_file).unwrap();
    std::fs::copy(v0, &b_file).unwrap();
    let (mut a, b) = (Node::start(a_file), Node::start(b_file));
    let tokens = (0..USERS)
        .map(|user| a.ask(&format!("login {user}"))[3..].to_string())
        .collect();
    (a, b, tokens)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sesame-rollout-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_safe_rollout_logs_nobody_out_at_any_step() {
    let dir = temp_dir("safe");
    let [v0, v1, v2, v3] = versions(&dir);
    let (mut a, mut b, mut tokens) = fleet(&dir, &v0);
    let mut steps = 0;
    for version in [&v1, &v2, &v3] {
        a.upgrade(version);
        assert_eq!(
            bounce(&mut a, &mut b, &mut tokens),
            0,
            "A on {version:?}, B behind"
        );
        b.upgrade(version);
        assert_eq!(
            bounce(&mut a, &mut b, &mut tokens),
            0,
            "both on {version:?}"
        );
        steps += 2;
    }
    assert_eq!(steps, 6);
    assert_eq!(a.ask("reload"), "ok 2");
    assert_eq!(b.ask("reload"), "ok 2");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn promoting_before_every_node_has_the_key_logs_users_out() {
    let dir = temp_dir("unsafe");
    let [v0, _, v2, _] = versions(&dir);
    let (mut a, mut b, mut tokens) = fleet(&dir, &v0);
    // A jumps straight to "key 2 promoted" while B has never seen key 2.
    a.upgrade(&v2);
    let failures = bounce(&mut a, &mut b, &mut tokens);
    assert_eq!(
        failures, USERS as usize,
        "every user refreshed on A is refused by B"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
