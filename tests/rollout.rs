//! A key rotation across a fleet, in process: each server is a ring built
//! from its own copy of the keyset text, and the fleet is upgraded one
//! server at a time, so at every moment two keyset versions are live. A
//! user bouncing between servers must never be logged out by the rotation
//! (docs/KEYS.md); the unsafe orders must log someone out, which shows the
//! simulation can tell them apart.

use sesame::{Error, ForkSafeRng, KeyRing, Keyset, NewSession, Policy, Token};

const POLICY: Policy = Policy::DEFAULT;
const START: u64 = 1_700_000_000;
const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;

/// The keyset versions of a safe rotation from key 1 to key 2.
struct Versions {
    /// Key 1 seals.
    v0: String,
    /// Key 2 added as decrypt-only.
    v1: String,
    /// Key 2 promoted; key 1 decrypt-only.
    v2: String,
    /// Key 1 retired.
    v3: String,
    /// Key 2 added and promoted in one step (the unsafe shortcut).
    v0_promoted: String,
}

fn versions() -> Versions {
    let text = |k: &Keyset| k.to_text().to_string();
    let mut keyset = Keyset::new();
    keyset
        .add_raw_key(Some(1), &[1; 32], START - 90 * 24 * HOUR)
        .unwrap();
    let v0 = text(&keyset);
    keyset.add_raw_key(Some(2), &[2; 32], START).unwrap();
    let v1 = text(&keyset);
    keyset.promote(2).unwrap();
    let v2 = text(&keyset);
    let v0_promoted = v2.clone();
    keyset.retire(1, START + 30 * 24 * HOUR).unwrap();
    let v3 = text(&keyset);
    Versions {
        v0,
        v1,
        v2,
        v3,
        v0_promoted,
    }
}

fn server(keyset: &str) -> KeyRing {
    Keyset::parse(keyset).unwrap().build_ring().unwrap()
}

/// One fleet state: what servers A and B run, after `wait` seconds.
struct Step<'a> {
    a: &'a str,
    b: &'a str,
    wait: u64,
}

#[derive(Debug, PartialEq)]
struct Logout {
    step: usize,
    who: &'static str,
    error: Error,
    /// Whether a server holding every key would have let the user in, i.e.
    /// the rotation, not the policy's timeouts, logged the user out. (Key
    /// lookup comes before the policy, so an expired token under a retired
    /// key reports UnknownKey; this tells the two apart.)
    by_rotation: bool,
}

struct Browser {
    who: &'static str,
    token: Token,
}

/// One request: open the cookie and refresh it when due, as a middleware does.
fn visit(ring: &KeyRing, browser: &mut Browser, now: u64) -> Result<(), Error> {
    let claims = ring.open(&browser.token, b"", &POLICY, now)?;
    if POLICY.should_refresh(&claims, now) {
        let (_, token) =
            ring.refresh_token(&browser.token, b"", &POLICY, now, &mut ForkSafeRng::new())?;
        browser.token = token;
    }
    Ok(())
}

/// Runs the fleet through `steps`. Active users log in at both servers at
/// every step and then alternate between A and B every 20 minutes (also
/// throughout each wait); a sleeper logs in at B at step `sleeper_at` and
/// comes back only at the last step. Returns every logout.
fn run(steps: &[Step<'_>], sleeper_at: usize) -> Vec<Logout> {
    let every_key = server(&versions().v2);
    let mut rng = ForkSafeRng::new();
    let mut now = START;
    let mut active: Vec<Browser> = Vec::new();
    let mut sleeper: Option<Browser> = None;
    let mut logouts = Vec::new();
    for (step, state) in steps.iter().enumerate() {
        let a = server(state.a);
        let b = server(state.b);
        let mut bounce = |active: &mut Vec<Browser>, now: &mut u64| {
            for ring in [&a, &b, &a, &b] {
                *now += 20 * MINUTE;
                active.retain_mut(|browser| match visit(ring, browser, *now) {
                    Ok(()) => true,
                    Err(error) => {
                        logouts.push(Logout {
                            step,
                            who: browser.who,
                            error,
                            by_rotation: every_key.open(&browser.token, b"", &POLICY, *now).is_ok(),
                        });
                        false
                    }
                });
            }
        };
        // Users stay active while the operator waits.
        let until = now + state.wait;
        while now < until {
            bounce(&mut active, &mut now);
        }
        for (who, ring) in [("login at A", &a), ("login at B", &b)] {
            let token = ring
                .seal_token(&NewSession::new(7), b"", now, &mut rng)
                .unwrap();
            active.push(Browser { who, token });
        }
        if step == sleeper_at {
            let token = b
                .seal_token(&NewSession::new(8), b"", now, &mut rng)
                .unwrap();
            sleeper = Some(Browser {
                who: "sleeper",
                token,
            });
        }
        bounce(&mut active, &mut now);
        if step == steps.len() - 1 {
            if let Some(mut browser) = sleeper.take() {
                if let Err(error) = visit(&a, &mut browser, now) {
                    logouts.push(Logout {
                        step,
                        who: browser.who,
                        error,
                        by_rotation: every_key.open(&browser.token, b"", &POLICY, now).is_ok(),
                    });
                }
            }
        }
    }
    logouts
}

/// Logouts the rotation caused (as opposed to the policy's own timeouts).
fn key_logouts(logouts: &[Logout]) -> Vec<&Logout> {
    logouts.iter().filter(|l| l.by_rotation).collect()
}

#[test]
fn the_safe_order_logs_nobody_out_at_any_step() {
    let v = versions();
    let wait = POLICY.idle_timeout.unwrap() + POLICY.future_leeway + HOUR;
    let steps = [
        Step {
            a: &v.v0,
            b: &v.v0,
            wait: 0,
        },
        // 1. Distribute the new key as decrypt-only, one server at a time.
        Step {
            a: &v.v1,
            b: &v.v0,
            wait: 0,
        },
        Step {
            a: &v.v1,
            b: &v.v1,
            wait: 0,
        },
        // 2. Promote it, one server at a time.
        Step {
            a: &v.v2,
            b: &v.v1,
            wait: 0,
        },
        Step {
            a: &v.v2,
            b: &v.v2,
            wait: 0,
        },
        // 3. After the longest time a key-1 token can stay valid, retire key 1.
        Step {
            a: &v.v3,
            b: &v.v2,
            wait,
        },
        Step {
            a: &v.v3,
            b: &v.v3,
            wait: 0,
        },
    ];
    // The sleeper got a key-1 token from B while only A had promoted.
    let logouts = run(&steps, 3);
    assert_eq!(key_logouts(&logouts), Vec::<&Logout>::new());
    // Only the sleeper is logged out, and a server with every key would
    // have refused it too (idle timeout): the wait covered its token.
    assert_eq!(
        logouts,
        vec![Logout {
            step: 6,
            who: "sleeper",
            error: Error::UnknownKey,
            by_rotation: false,
        }]
    );
}

#[test]
fn promoting_before_every_server_has_the_key_logs_users_out() {
    let v = versions();
    let steps = [
        Step {
            a: &v.v0,
            b: &v.v0,
            wait: 0,
        },
        // A adds and promotes key 2 while B has never heard of it.
        Step {
            a: &v.v0_promoted,
            b: &v.v0,
            wait: 0,
        },
    ];
    let logouts = run(&steps, usize::MAX);
    assert!(
        logouts.contains(&Logout {
            step: 1,
            who: "login at A",
            error: Error::UnknownKey,
            by_rotation: true,
        }),
        "{logouts:?}"
    );
}

#[test]
fn retiring_before_old_tokens_expire_logs_users_out() {
    let v = versions();
    let steps = [
        Step {
            a: &v.v1,
            b: &v.v1,
            wait: 0,
        },
        Step {
            a: &v.v2,
            b: &v.v1,
            wait: 0,
        },
        Step {
            a: &v.v2,
            b: &v.v2,
            wait: 0,
        },
        // No wait: the sleeper's key-1 token is still within its lifetime.
        Step {
            a: &v.v3,
            b: &v.v3,
            wait: 0,
        },
    ];
    let logouts = run(&steps, 1);
    assert_eq!(
        key_logouts(&logouts),
        vec![&Logout {
            step: 3,
            who: "sleeper",
            error: Error::UnknownKey,
            by_rotation: true,
        }]
    );
}

/// The wait before retiring a key is the longest kind's: a remember-me
/// login (no idle timeout by default) still opens long after the browser
/// sessions' 24 hours, so retiring its key then would log it out
/// (docs/KEYS.md, step 3).
#[test]
fn a_remembered_login_outlasts_the_browser_wait() {
    let mut old: KeyRing = KeyRing::new();
    old.add_key(1, &[1; 32]).unwrap();
    let mut retired: KeyRing = KeyRing::new();
    retired.add_key(2, &[2; 32]).unwrap();
    let mut rng = ForkSafeRng::new();
    let remembered = NewSession {
        kind: sesame::SessionKind::RememberMe,
        ..NewSession::new(7)
    };
    let remembered = old.seal_token(&remembered, b"", START, &mut rng).unwrap();
    let browser = old
        .seal_token(&NewSession::new(8), b"", START, &mut rng)
        .unwrap();
    let day = 24 * HOUR;
    let browser_wait = START + day + MINUTE;
    assert_eq!(
        old.open(&browser, b"", &POLICY, browser_wait)
            .map(|c| c.user_id),
        Err(Error::IdleExpired)
    );
    assert_eq!(
        old.open(&remembered, b"", &POLICY, START + 29 * day)
            .map(|c| c.user_id),
        Ok(7)
    );
    assert_eq!(
        retired
            .open(&remembered, b"", &POLICY, browser_wait)
            .map(|c| c.user_id),
        Err(Error::UnknownKey)
    );
    assert_eq!(
        old.open(&remembered, b"", &POLICY, START + 30 * day)
            .map(|c| c.user_id),
        Err(Error::LifetimeExpired)
    );
}
