//! Seals or opens one token from the command line, so the Ruby, Python and C
//! test suites can check that every language reads every other's tokens.
//!
//! ```text
//! interop seal KEY_ID KEY_HEX USER_ID CONTEXT_HEX NOW [DATA_HEX]   -> prints the token
//! interop open KEY_ID KEY_HEX TOKEN CONTEXT_HEX NOW                -> prints the claims
//! ```
//! Claims print as `user_id=.. session_id=<hex> issued_at=.. refreshed_at=..
//! lifetime=<n|none> data=<hex>`; an error prints `error=<code> <message>`
//! and exits 1. Opening applies no lifetime limits (only the cryptography and
//! the format are under test).

use std::process::ExitCode;

use sesame::{ForkSafeRng, KeyRing, NewSession, Policy};

fn hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err(format!("odd-length hex: {s}"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|e| format!("bad hex {s}: {e}")))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ring(id: &str, key: &str) -> Result<KeyRing, String> {
    let id: u32 = id.parse().map_err(|e| format!("key id: {e}"))?;
    let key: [u8; 32] = hex(key)?
        .try_into()
        .map_err(|_| "key must be 32 bytes".to_string())?;
    let mut ring = KeyRing::new();
    ring.add_key(id, &key).map_err(|e| e.to_string())?;
    Ok(ring)
}

fn run(args: &[String]) -> Result<String, String> {
    let number = |s: &str| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
    match args {
        [cmd, id, key, user, context, now, rest @ ..] if cmd == "seal" && rest.len() <= 1 => {
            let ring = ring(id, key)?;
            let data = rest
                .first()
                .map(|d| hex(d))
                .transpose()?
                .unwrap_or_default();
            let session = NewSession {
                kind: sesame::SessionKind::Browser,
                user_id: number(user)?,
                lifetime: None,
                data: &data,
            };
            ring.seal_token(
                &session,
                &hex(context)?,
                number(now)?,
                &mut ForkSafeRng::new(),
            )
            .map(|t| t.to_string())
            .map_err(|e| format!("error={} {e}", e.code()))
        }
        [cmd, id, key, token, context, now] if cmd == "open" => {
            let ring = ring(id, key)?;
            // No limits of either kind: a remember-me token is judged by
            // its own pair, which the default gives 30 days.
            let policy = Policy {
                idle_timeout: None,
                absolute_lifetime: None,
                remember_me_idle_timeout: None,
                remember_me_absolute_lifetime: None,
                future_leeway: u64::MAX,
                ..Policy::default()
            };
            let c = ring
                .open(token, &hex(context)?, &policy, number(now)?)
                .map_err(|e| format!("error={} {e}", e.code()))?;
            Ok(format!(
                "user_id={} session_id={} issued_at={} refreshed_at={} lifetime={} data={}",
                c.user_id,
                to_hex(&c.session_id),
                c.issued_at,
                c.refreshed_at,
                c.lifetime.map_or("none".to_string(), |l| l.to_string()),
                to_hex(&c.data)
            ))
        }
        _ => Err(
            "usage: interop seal KEY_ID KEY_HEX USER_ID CONTEXT_HEX NOW [DATA_HEX] | \
                  interop open KEY_ID KEY_HEX TOKEN CONTEXT_HEX NOW"
                .to_string(),
        ),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e}");
            ExitCode::FAILURE
        }
    }
}
