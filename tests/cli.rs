//! The `sesame` binary, driven as a user would: a keyset made by `new`,
//! extended, promoted, retired and shown, tokens sealed under it inspected,
//! and every error path's exit code and message.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64ct::{Base64UrlUnpadded, Encoding};
use sesame::{ForkSafeRng, KeyRing, Keyset, NewSession};

const BIN: &str = env!("CARGO_BIN_EXE_sesame");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn sesame_with(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    // The binary may exit without reading stdin; a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn sesame(args: &[&str]) -> Run {
    sesame_with(args, "", &[])
}

fn ok(args: &[&str]) -> String {
    let run = sesame(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    assert_eq!(run.stderr, "", "{args:?}");
    run.stdout
}

/// A fresh directory per test, so tests run in parallel.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sesame-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The base64url values of raw= and master= in keyset text.
fn secrets(text: &str) -> Vec<String> {
    text.split([' ', '\n', ';'])
        .filter_map(|f| f.strip_prefix("raw=").or(f.strip_prefix("master=")))
        .map(str::to_string)
        .collect()
}

fn ring(text: &str, primary: u32) -> KeyRing {
    let mut keyset = Keyset::parse(text).unwrap();
    keyset.promote(primary).unwrap();
    keyset.build_ring().unwrap()
}

fn seal(ring: &KeyRing, context: &[u8], now: u64) -> String {
    let session = NewSession {
        kind: sesame::SessionKind::Browser,
        user_id: 42,
        lifetime: Some(3600),
        data: b"\x01\xab",
    };
    ring.seal_token(&session, context, now, &mut ForkSafeRng::new())
        .unwrap()
        .to_string()
}

fn no_temp_files_left(dir: &Path) {
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["keyset.txt".to_string()]);
}

#[test]
fn a_keyset_is_made_extended_promoted_retired_and_shown() {
    let dir = scratch("lifecycle");
    let file = dir.join("keyset.txt");
    let path = file.to_str().unwrap();
    let new = ok(&["keyset", "new", "--now", "1000"]);
    assert!(new.starts_with("sesame-keyset/1\nkey id=1 status=primary created=1000 raw="));
    std::fs::write(&file, &new).unwrap();
    let mut seen = secrets(&new);
    assert_eq!(seen.len(), 1);

    assert_eq!(
        ok(&["keyset", "add", path, "--now", "2000"]),
        "added key 2 (decrypt-only)\n"
    );
    assert_eq!(
        ok(&[
            "keyset",
            "add",
            path,
            "--derived",
            "--purpose",
            "cookie 3",
            "--id",
            "7",
            "--now",
            "2001"
        ]),
        "added key 7 (decrypt-only)\n"
    );
    assert_eq!(
        ok(&["keyset", "add", path, "--primary", "--now", "2002"]),
        "added key 8 (primary)\n"
    );
    assert_eq!(ok(&["keyset", "promote", path, "2"]), "promoted key 2\n");
    let before_retire = std::fs::read_to_string(&file).unwrap();
    // Key 1's material once more, then keys 2, 7 (its master) and 8.
    seen.extend(secrets(&before_retire));
    assert_eq!(seen.len(), 5, "{before_retire}");
    let old_token = seal(&ring(&before_retire, 1), b"", 2500);
    assert_eq!(
        ok(&["keyset", "retire", path, "1", "--now", "3000"]),
        "retired key 1\n"
    );
    no_temp_files_left(&dir);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let text = std::fs::read_to_string(&file).unwrap();
    let keyset = Keyset::parse(&text).unwrap();
    assert_eq!(keyset.primary_id(), Some(2));
    assert_eq!(keyset.to_text().as_str(), text);
    assert!(text.contains("key id=1 status=retired created=1000 retired=3000\n"));
    assert!(!text.contains(&seen[0]), "a retired key's material is gone");

    let shown = ok(&["keyset", "show", path]);
    assert_eq!(
        shown,
        "sesame-keyset/1: 4 entries, 3 usable, primary 2\n\
         key 1 retired created=1000 retired=3000 material=none\n\
         key 2 primary created=2000 material=raw\n\
         key 7 decrypt-only created=2001 material=derived purpose=\"cookie 3\"\n\
         key 8 decrypt-only created=2002 material=raw\n"
    );
    for secret in &seen {
        assert!(!shown.contains(secret.as_str()), "show printed a secret");
    }
    let revealed = ok(&["keyset", "show", path, "--reveal"]);
    assert!(revealed.starts_with(&shown));
    assert!(revealed.ends_with(&text));
    let current = secrets(&text);
    assert_eq!(current.len(), 3);
    for secret in &current {
        assert!(revealed.contains(secret.as_str()));
    }

    // A token under the final primary: its header alone, then its claims.
    let token = seal(&ring(&text, 2), b"", 4000);
    let header = ok(&["inspect", &token]);
    assert!(
        header.starts_with("version: 1\nkey_id: 2\nlength: "),
        "{header}"
    );
    let full = ok(&["inspect", &token, "--keyset", path, "--now", "4001"]);
    assert!(full.starts_with(&header));
    assert!(
        full.contains("opened_by: key 2 (primary)\nuser_id: 42\n"),
        "{full}"
    );
    assert!(
        full.ends_with("default_policy: accepts at 4001\n"),
        "{full}"
    );

    // The retired key's tokens no longer open, and the message says why.
    let run = sesame(&["inspect", &old_token, "--keyset", path]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "sesame: token does not open with this keyset: unknown key ID (key 1 is retired)\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tokens_are_inspected_with_and_without_the_keyset() {
    let dir = scratch("inspect");
    let file = dir.join("keyset.txt");
    let path = file.to_str().unwrap();
    std::fs::write(&file, ok(&["keyset", "new", "--derived", "--now", "1000"])).unwrap();
    ok(&["keyset", "add", path, "--id", "300", "--now", "1001"]);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(" purpose=c2VzYW1lIGtleSAx\n"), "{text}"); // "sesame key 1"

    let now = 1_700_000_000;
    let token = seal(&ring(&text, 300), b"ctx", now);
    let header = ok(&["inspect", &token]);
    let binary_len = Base64UrlUnpadded::decode(&token, &mut [0u8; 512])
        .unwrap()
        .len();
    assert_eq!(
        header,
        format!(
            "version: 1\nkey_id: 300\nlength: {binary_len} bytes ({} characters)\n",
            token.len()
        )
    );
    let later = (now + 60).to_string();
    let full = ok(&[
        "inspect",
        &token,
        "--keyset",
        path,
        "--context",
        "ctx",
        "--now",
        &later,
    ]);
    let opened = Keyset::parse(&text).unwrap().build_ring::<8>().unwrap();
    let claims = opened
        .open(&token, b"ctx", &sesame::Policy::DEFAULT, now)
        .unwrap();
    let session_id: String = claims
        .session_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        full,
        format!(
            "{header}opened_by: key 300 (decrypt-only)\nuser_id: 42\nsession_id: {session_id}\n\
             issued_at: {now}\nrefreshed_at: {now}\nlifetime: 3600\nkind: browser\ndata: 01ab (2 bytes)\n\
             default_policy: accepts at {later}\n"
        )
    );
    // Opened without limits; the default policy's verdict is reported.
    let much_later = (now + 3600).to_string();
    let expired = ok(&[
        "inspect",
        &token,
        "--keyset",
        path,
        "--context",
        "ctx",
        "--now",
        &much_later,
    ]);
    assert!(expired.contains("user_id: 42\n"));
    assert!(expired.ends_with(&format!(
        "default_policy: rejects at {much_later}: session lifetime expired\n"
    )));
    // The token on stdin, the keyset from an environment variable.
    let run = sesame_with(
        &[
            "inspect",
            "-",
            "--keyset",
            "env:SESAME_TEST_KEYSET",
            "--context",
            "ctx",
            "--now",
            &later,
        ],
        &format!("{token}\n"),
        &[("SESAME_TEST_KEYSET", &text)],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, full.as_str()),
        "{}",
        run.stderr
    );

    let run = sesame(&["inspect", &token, "--keyset", path, "--now", &later]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "sesame: token does not open with this keyset: authentication failed (tampered token, wrong key or wrong context)\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stdin_and_environment_keysets_are_edited_to_stdout_in_their_own_form() {
    let text = ok(&["keyset", "new", "--now", "5"]);
    let run = sesame_with(&["keyset", "add", "-", "--now", "6"], &text, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let added = Keyset::parse(&run.stdout).unwrap();
    assert_eq!(added.len(), 2);
    assert!(run.stdout.starts_with(&text));

    let line = added.to_line().to_string();
    let run = sesame_with(&["keyset", "promote", "env:KS", "2"], "", &[("KS", &line)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.matches('\n').count(),
        1,
        "one line in, one line out"
    );
    assert_eq!(Keyset::parse(&run.stdout).unwrap().primary_id(), Some(2));

    let shown = sesame_with(&["keyset", "show", "-"], &line, &[]);
    assert_eq!(shown.code, 0);
    for secret in secrets(&line) {
        assert!(!shown.stdout.contains(&secret));
    }
}

#[test]
fn generated_keys_are_32_random_bytes_in_base64url() {
    let a = ok(&["key", "generate"]);
    let b = ok(&["key", "generate"]);
    assert_ne!(a, b);
    for key in [a, b] {
        let key = key.strip_suffix('\n').unwrap();
        assert_eq!(key.len(), 43);
        assert_eq!(
            Base64UrlUnpadded::decode(key, &mut [0u8; 64])
                .unwrap()
                .len(),
            32
        );
    }
}

#[test]
fn help_goes_to_stdout_with_exit_zero() {
    assert!(ok(&["help"]).starts_with("usage:\n"));
    assert_eq!(ok(&["--help"]), ok(&["help"]));
}

#[test]
fn every_error_has_its_exit_code_and_one_line_message() {
    let dir = scratch("errors");
    let file = dir.join("keyset.txt");
    let path = file.to_str().unwrap();
    let good = ok(&["keyset", "new", "--now", "10"]);
    std::fs::write(&file, &good).unwrap();
    let secret = secrets(&good).remove(0);
    let bad_keyset = dir.join("bad.txt");
    std::fs::write(
        &bad_keyset,
        format!("sesame-keyset/1\nkey id=1 status=primary created=1 raw={secret}!\n"),
    )
    .unwrap();
    let too_big = dir.join("big.txt");
    std::fs::write(&too_big, "x".repeat(64 * 1024 + 1)).unwrap();
    let binary = dir.join("binary.txt");
    std::fs::write(&binary, b"sesame-keyset/1\n\xff\n").unwrap();
    let token = seal(&ring(&good, 1), b"", 100);
    let long_token = "A".repeat(400);
    let (bad, big, bin) = (
        bad_keyset.to_str().unwrap(),
        too_big.to_str().unwrap(),
        binary.to_str().unwrap(),
    );

    let cases: &[(&[&str], i32, &str)] = &[
        (&[], 1, "sesame: no command (see `sesame help`)"),
        (&["frobnicate"], 1, "sesame: unknown command `frobnicate` (see `sesame help`)"),
        (&["keyset"], 1, "sesame: unknown command `keyset` (see `sesame help`)"),
        (&["keyset", "new", "--bogus"], 1, "sesame: unknown option `--bogus` (see `sesame help`)"),
        (&["keyset", "new", "extra"], 1, "sesame: unexpected argument `extra` (see `sesame help`)"),
        (&["keyset", "new", "--now", "1", "--now", "2"], 1, "sesame: option `--now` given twice (see `sesame help`)"),
        (&["keyset", "new", "--now", "01"], 1, "sesame: --now is not a decimal number in range (see `sesame help`)"),
        (&["keyset", "add"], 1, "sesame: missing argument (see `sesame help`)"),
        (&["keyset", "add", path, "--id"], 1, "sesame: option `--id` needs a value (see `sesame help`)"),
        (&["keyset", "add", path, "--id", "4294967296"], 1, "sesame: --id is not a decimal number in range (see `sesame help`)"),
        (&["keyset", "add", path, "--purpose", "x"], 1, "sesame: --master and --purpose need --derived (see `sesame help`)"),
        (&["keyset", "promote", path], 1, "sesame: missing argument (see `sesame help`)"),
        (&["keyset", "promote", path, "x"], 1, "sesame: ID is not a decimal number in range (see `sesame help`)"),
        (&["keyset", "show", path, "extra"], 1, "sesame: unexpected argument `extra` (see `sesame help`)"),
        (&["key", "generate", "now"], 1, "sesame: unexpected argument `now` (see `sesame help`)"),
        (&["inspect"], 1, "sesame: missing argument (see `sesame help`)"),
        (&["inspect", &token, "--now", "5"], 1, "sesame: --context and --now need --keyset (see `sesame help`)"),
        (&["keyset", "show", "/nonexistent/keyset"], 2, "sesame: cannot read /nonexistent/keyset: No such file or directory (os error 2)"),
        (&["keyset", "show", "env:SESAME_TEST_UNSET"], 2, "sesame: environment variable SESAME_TEST_UNSET is not set"),
        (&["keyset", "show", bad], 2, &format!("sesame: {bad}: invalid keyset: line 2, record 2, field 4: not canonical unpadded base64url")),
        (&["keyset", "show", big], 2, &format!("sesame: {big}: larger than 65536 bytes")),
        (&["keyset", "show", bin], 2, &format!("sesame: {bin}: invalid keyset: not UTF-8 text")),
        (&["keyset", "promote", path, "99"], 2, "sesame: cannot promote key 99: no key with this ID"),
        (&["keyset", "retire", path, "99"], 2, "sesame: cannot retire key 99: no key with this ID"),
        (&["keyset", "add", path, "--id", "1"], 2, "sesame: cannot add key: key ID already used"),
        (&["keyset", "add", path, "--derived", "--master", "env:SESAME_TEST_UNSET"], 2, "sesame: environment variable SESAME_TEST_UNSET is not set"),
        (&["inspect", "!!!"], 2, "sesame: token: malformed token"),
        (&["inspect", &long_token], 2, "sesame: token: token too long"),
        (&["inspect", &token, "--keyset", bad], 2, &format!("sesame: {bad}: invalid keyset: line 2, record 2, field 4: not canonical unpadded base64url")),
        (&["inspect", &token, "--keyset", path, "--context", "other"], 2, "sesame: token does not open with this keyset: authentication failed (tampered token, wrong key or wrong context)"),
    ];
    for (args, code, message) in cases {
        let run = sesame(args);
        assert_eq!(run.code, *code, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr, format!("{message}\n"), "{args:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(!run.stderr.contains(secret.as_str()), "{args:?}");
    }
    // Failed edits leave the file as it was.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), good);

    // Retiring: the primary only as the last usable key, and only once.
    ok(&["keyset", "add", path, "--now", "11"]);
    let run = sesame(&["keyset", "retire", path, "1", "--now", "12"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        "sesame: cannot retire key 1: it is the primary and other keys are usable; promote another key first\n"
    );
    let run = sesame(&["keyset", "retire", path, "2", "--now", "9"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (
            2,
            "sesame: cannot retire key 2: retired before it was created\n"
        )
    );
    ok(&["keyset", "retire", path, "2", "--now", "12"]);
    let run = sesame(&["keyset", "retire", path, "2", "--now", "13"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (2, "sesame: cannot retire key 2: key is retired\n")
    );
    let run = sesame(&["keyset", "promote", path, "2"]);
    assert_eq!(
        (run.code, run.stderr.as_str()),
        (2, "sesame: cannot promote key 2: key is retired\n")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
