//! `sesame`: make and edit keysets, generate keys, inspect tokens.
//!
//! Exit codes: 0 success, 1 usage error, 2 bad input (keyset, token, file).
//! Every failure is one line on stderr. Secrets reach stdout only where they
//! are the output asked for (`keyset new`, `key generate`, edits of `-` or
//! `env:VAR`, `show --reveal`).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use sesame::format::{decode_token, BINARY_MAX};
use sesame::keyset::{encode_key, KeyStatus, KEYSET_TEXT_MAX};
use sesame::rand_core::RngCore;
use sesame::{unix_now, ForkSafeRng, KeyRing, Keyset, Policy, SessionKind, KEY_BYTES, TOKEN_MAX};
use zeroize::Zeroizing;

const USAGE: &str = "\
usage:
  sesame keyset new [--derived] [--now UNIX]
  sesame keyset add FILE [--primary] [--id N] [--derived [--master SOURCE] [--purpose TEXT]] [--now UNIX]
  sesame keyset promote FILE ID
  sesame keyset retire FILE ID [--now UNIX]
  sesame keyset show FILE [--reveal]
  sesame inspect TOKEN [--keyset FILE] [--context TEXT] [--now UNIX]
  sesame key generate
  sesame help

FILE and SOURCE: a path, `-` for stdin, or `env:VAR` for an environment
variable. Edits replace a file atomically (mode 0600) and print the new
keyset for `-` and `env:VAR`. TOKEN may be `-` for stdin.
Exit codes: 0 ok, 1 usage, 2 bad input.
";

enum Failure {
    Usage(String),
    Input(String),
}

type Outcome = Result<(), Failure>;

fn usage<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Usage(message.into()))
}

fn input<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Input(message.into()))
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut out = std::io::stdout().lock();
    match run(&args, &mut out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("sesame: {message} (see `sesame help`)");
            ExitCode::from(1)
        }
        Err(Failure::Input(message)) => {
            eprintln!("sesame: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[OsString], out: &mut dyn Write) -> Outcome {
    let args: Vec<&str> = match args.iter().map(|a| a.to_str()).collect() {
        Some(args) => args,
        None => return usage("arguments must be UTF-8"),
    };
    match args.as_slice() {
        [] => usage("no command"),
        ["help" | "--help" | "-h"] => emit(out, USAGE),
        ["keyset", "new", rest @ ..] => keyset_new(rest, out),
        ["keyset", "add", rest @ ..] => keyset_add(rest, out),
        ["keyset", "promote", rest @ ..] => keyset_promote(rest, out),
        ["keyset", "retire", rest @ ..] => keyset_retire(rest, out),
        ["keyset", "show", rest @ ..] => keyset_show(rest, out),
        ["inspect", rest @ ..] => inspect(rest, out),
        ["key", "generate"] => key_generate(out),
        ["key", "generate", extra, ..] => usage(format!("unexpected argument `{extra}`")),
        [command, ..] => usage(format!("unknown command `{command}`")),
    }
}

fn emit(out: &mut dyn Write, text: &str) -> Outcome {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .or_else(|e| input(format!("cannot write output: {e}")))
}

/// The arguments of one command: positionals and `--flag [value]` options.
struct Args<'a> {
    positional: Vec<&'a str>,
    options: Vec<(&'a str, Option<&'a str>)>,
}

impl<'a> Args<'a> {
    /// `valued` options take the next argument as their value; `switches`
    /// take none. Anything else starting with `--` is a usage error.
    fn parse(
        args: &[&'a str],
        positional: usize,
        valued: &[&str],
        switches: &[&str],
    ) -> Result<Args<'a>, Failure> {
        let mut parsed = Args {
            positional: Vec::new(),
            options: Vec::new(),
        };
        let mut rest = args.iter();
        while let Some(&arg) = rest.next() {
            if arg.starts_with("--") {
                if parsed.options.iter().any(|(name, _)| *name == arg) {
                    return usage(format!("option `{arg}` given twice"));
                }
                if valued.contains(&arg) {
                    match rest.next() {
                        Some(&value) => parsed.options.push((arg, Some(value))),
                        None => return usage(format!("option `{arg}` needs a value")),
                    }
                } else if switches.contains(&arg) {
                    parsed.options.push((arg, None));
                } else {
                    return usage(format!("unknown option `{arg}`"));
                }
            } else {
                parsed.positional.push(arg);
            }
        }
        if parsed.positional.len() < positional {
            return usage("missing argument");
        }
        if let Some(extra) = parsed.positional.get(positional) {
            return usage(format!("unexpected argument `{extra}`"));
        }
        Ok(parsed)
    }

    fn value(&self, name: &str) -> Option<&'a str> {
        self.options
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| *v)
    }

    fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| *n == name)
    }

    /// `--now`, or the system clock.
    fn now(&self) -> Result<u64, Failure> {
        match self.value("--now") {
            Some(text) => number(text, "--now"),
            None => Ok(unix_now()),
        }
    }
}

/// Canonical decimal, as the keyset format writes numbers.
fn number<T: TryFrom<u64>>(text: &str, what: &str) -> Result<T, Failure> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    let value = if canonical {
        text.parse::<u64>().ok()
    } else {
        None
    };
    match value.and_then(|v| T::try_from(v).ok()) {
        Some(value) => Ok(value),
        None => usage(format!("{what} is not a decimal number in range")),
    }
}

/// Reads a path, `-` (stdin) or `env:VAR`, at most `max` bytes.
fn read_source(source: &str, max: usize) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let mut bytes = Zeroizing::new(Vec::new());
    // One byte more than allowed, so an over-long source is noticed
    // without reading all of it.
    let limit = max as u64 + 1;
    if source == "-" {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)
            .or_else(|e| input(format!("cannot read stdin: {e}")))?;
    } else if let Some(var) = source.strip_prefix("env:") {
        match std::env::var_os(var) {
            None => return input(format!("environment variable {var} is not set")),
            Some(value) => match value.into_string() {
                Ok(value) => bytes.extend_from_slice(value.as_bytes()),
                Err(_) => return input(format!("environment variable {var} is not UTF-8")),
            },
        }
    } else {
        std::fs::File::open(source)
            .and_then(|file| file.take(limit).read_to_end(&mut bytes))
            .or_else(|e| input(format!("cannot read {source}: {e}")))?;
    }
    if bytes.len() > max {
        return input(format!("{source}: larger than {max} bytes"));
    }
    Ok(bytes)
}

/// A keyset and the form it came in, so an edit writes the same form back.
struct Loaded {
    keyset: Keyset,
    one_line: bool,
}

fn load_keyset(source: &str) -> Result<Loaded, Failure> {
    let bytes = read_source(source, KEYSET_TEXT_MAX)?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return input(format!("{source}: invalid keyset: not UTF-8 text"));
    };
    match Keyset::parse(text) {
        Ok(keyset) => Ok(Loaded {
            keyset,
            one_line: !text.trim_end().contains('\n'),
        }),
        Err(error) => input(format!("{source}: {error}")),
    }
}

/// Writes an edited keyset back: a file is replaced atomically (a reader
/// never sees half a keyset, and a crash leaves the old one); `-` and
/// `env:VAR` cannot be written, so the new text goes to stdout.
fn store_keyset(target: &str, loaded: &Loaded, summary: &str, out: &mut dyn Write) -> Outcome {
    let text = if loaded.one_line {
        let mut line = loaded.keyset.to_line();
        line.push('\n');
        line
    } else {
        loaded.keyset.to_text()
    };
    if target == "-" || target.starts_with("env:") {
        return emit(out, &text);
    }
    write_atomically(Path::new(target), text.as_bytes())
        .or_else(|e| input(format!("cannot write {target}: {e}")))?;
    emit(out, &format!("{summary}\n"))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".sesame-{}.tmp", std::process::id()));
    // The same directory, so the rename stays on one file system.
    let temp = path.with_file_name(temp_name);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn keyset_error(source: &str, error: sesame::KeysetError) -> Failure {
    Failure::Input(format!("{source}: {error}"))
}

/// Adds one key: raw and random, or derived from a random or given master.
fn add_key(
    keyset: &mut Keyset,
    args: &Args<'_>,
    id: Option<u32>,
    now: u64,
) -> Result<u32, Failure> {
    let mut rng = ForkSafeRng::new();
    let derived = args.flag("--derived");
    if !derived && (args.value("--master").is_some() || args.value("--purpose").is_some()) {
        return usage("--master and --purpose need --derived");
    }
    let result = if derived {
        let master = match args.value("--master") {
            Some(source) => {
                let mut bytes = read_source(source, 4096)?;
                // A trailing newline is an artefact of files and echo, not
                // part of the secret.
                if bytes.ends_with(b"\n") {
                    bytes.pop();
                    if bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
                bytes
            }
            None => {
                let mut bytes = Zeroizing::new(vec![0u8; KEY_BYTES]);
                rng.try_fill_bytes(&mut bytes)
                    .or_else(|e| input(format!("random number generator failed: {e}")))?;
                bytes
            }
        };
        let id = match id.or(keyset.next_id()) {
            Some(id) => id,
            None => return input("no free key ID"),
        };
        let purpose = match args.value("--purpose") {
            Some(purpose) => purpose.to_string(),
            None => format!("sesame key {id}"),
        };
        keyset.add_derived(Some(id), &master, purpose.as_bytes(), now)
    } else {
        keyset.add_generated_key(id, now, &mut rng)
    };
    result.map_err(|e| Failure::Input(format!("cannot add key: {}", e.kind().message())))
}

fn keyset_new(rest: &[&str], out: &mut dyn Write) -> Outcome {
    let args = Args::parse(rest, 0, &["--now"], &["--derived"])?;
    let now = args.now()?;
    let mut keyset = Keyset::new();
    add_key(&mut keyset, &args, Some(1), now)?;
    emit(out, &keyset.to_text())
}

fn keyset_add(rest: &[&str], out: &mut dyn Write) -> Outcome {
    let args = Args::parse(
        rest,
        1,
        &["--id", "--now", "--master", "--purpose"],
        &["--primary", "--derived"],
    )?;
    let id = args
        .value("--id")
        .map(|id| number(id, "--id"))
        .transpose()?;
    let now = args.now()?;
    let file = args.positional[0];
    let mut loaded = load_keyset(file)?;
    let id = add_key(&mut loaded.keyset, &args, id, now)?;
    if args.flag("--primary") {
        loaded
            .keyset
            .promote(id)
            .map_err(|e| keyset_error(file, e))?;
    }
    let status = loaded.keyset.entry(id).map(|e| e.status);
    let summary = format!("added key {id} ({})", status.map_or("?", KeyStatus::as_str));
    store_keyset(file, &loaded, &summary, out)
}

fn keyset_promote(rest: &[&str], out: &mut dyn Write) -> Outcome {
    let args = Args::parse(rest, 2, &[], &[])?;
    let (file, id) = (args.positional[0], number(args.positional[1], "ID")?);
    let mut loaded = load_keyset(file)?;
    loaded
        .keyset
        .promote(id)
        .map_err(|e| Failure::Input(format!("cannot promote key {id}: {}", e.kind().message())))?;
    store_keyset(file, &loaded, &format!("promoted key {id}"), out)
}

fn keyset_retire(rest: &[&str], out: &mut dyn Write) -> Outcome {
    let args = Args::parse(rest, 2, &["--now"], &[])?;
    let (file, id) = (args.positional[0], number(args.positional[1], "ID")?);
    let now = args.now()?;
    let mut loaded = load_keyset(file)?;
    loaded.keyset.retire(id, now).map_err(|e| {
        let why = match e.kind() {
            sesame::KeysetErrorKind::NoPrimary => {
                "it is the primary and other keys are usable; promote another key first"
            }
            kind => kind.message(),
        };
        Failure::Input(format!("cannot retire key {id}: {why}"))
    })?;
    store_keyset(file, &loaded, &format!("retired key {id}"), out)
}

fn keyset_show(rest: &[&str], out: &mut dyn Write) -> Outcome {
    let args = Args::parse(rest, 1, &[], &["--reveal"])?;
    let loaded = load_keyset(args.positional[0])?;
    let mut text = Zeroizing::new(loaded.keyset.describe());
    if args.flag("--reveal") {
        text.push('\n');
        text.push_str(&loaded.keyset.to_text());
    }
    emit(out, &text)
}

fn key_generate(out: &mut dyn Write) -> Outcome {
    let mut key = Zeroizing::new([0u8; KEY_BYTES]);
    ForkSafeRng::new()
        .try_fill_bytes(&mut key[..])
        .or_else(|e| input(format!("random number generator failed: {e}")))?;
    let mut text = encode_key(&key);
    text.push('\n');
    emit(out, &text)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn inspect(rest: &[&str], out: &mut dyn Write) -> Outcome {
    let args = Args::parse(rest, 1, &["--keyset", "--context", "--now"], &[])?;
    if args.value("--keyset").is_none()
        && (args.value("--context").is_some() || args.value("--now").is_some())
    {
        return usage("--context and --now need --keyset");
    }
    let token = match args.positional[0] {
        "-" => {
            let bytes = read_source("-", 4 * TOKEN_MAX)?;
            match String::from_utf8(bytes.to_vec()) {
                Ok(text) => text.trim().to_string(),
                Err(_) => return input("token: not UTF-8 text"),
            }
        }
        token => token.to_string(),
    };
    let mut binary = [0u8; BINARY_MAX];
    let (header, binary_len) = decode_token(token.as_bytes(), &mut binary)
        .map(|(header, binary)| (header, binary.len()))
        .or_else(|e| input(format!("token: {e}")))?;
    let mut report = format!(
        "version: {}\nkey_id: {}\nlength: {binary_len} bytes ({} characters)\n",
        sesame::VERSION,
        header.key_id,
        token.len()
    );
    if let Some(source) = args.value("--keyset") {
        let loaded = load_keyset(source)?;
        let ring: KeyRing = loaded
            .keyset
            .build_ring()
            .or_else(|e| input(format!("{source}: {e}")))?;
        let context = args.value("--context").unwrap_or("").as_bytes();
        let now = args.now()?;
        // Every claim, whatever the lifetimes; judged at `now` below.
        let claims = ring.decrypt(&token, context).or_else(|e| {
            let status = loaded.keyset.entry(header.key_id).map(|e| e.status);
            let note = if status == Some(KeyStatus::Retired) {
                format!(" (key {} is retired)", header.key_id)
            } else {
                String::new()
            };
            input(format!("token does not open with this keyset: {e}{note}"))
        })?;
        let status = loaded
            .keyset
            .entry(header.key_id)
            .map_or("?", |e| e.status.as_str());
        let _ = writeln!(report, "opened_by: key {} ({status})", header.key_id);
        let _ = writeln!(report, "user_id: {}", claims.user_id);
        let _ = writeln!(report, "session_id: {}", hex(&claims.session_id));
        let _ = writeln!(report, "issued_at: {}", claims.issued_at);
        let _ = writeln!(report, "refreshed_at: {}", claims.refreshed_at);
        match claims.lifetime {
            Some(lifetime) => {
                let _ = writeln!(report, "lifetime: {lifetime}");
            }
            None => report.push_str("lifetime: none\n"),
        }
        // The kind picks which of the policy's limits the verdict below uses.
        report.push_str(match claims.kind {
            SessionKind::Browser => "kind: browser\n",
            SessionKind::RememberMe => "kind: remember_me\n",
        });
        let _ = writeln!(
            report,
            "data: {} ({} bytes)",
            hex(&claims.data),
            claims.data.len()
        );
        match Policy::DEFAULT.check(&claims, now) {
            Ok(()) => {
                let _ = writeln!(report, "default_policy: accepts at {now}");
            }
            Err(e) => {
                let _ = writeln!(report, "default_policy: rejects at {now}: {e}");
            }
        }
    }
    emit(out, &report)
}
