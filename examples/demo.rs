//! The sesame story in one run: seal a session, open it, refresh it, rotate
//! keys without logging anyone out, and watch every kind of bad token be
//! rejected with its own error.
//!
//!     cargo run --example demo

use sesame::{Error, ForkSafeRng, KeyRing, NewSession, Policy};

fn step(title: &str) {
    println!("\n== {title}");
}

fn expect_rejected(
    what: &str,
    result: Result<sesame::Claims, Error>,
    expected: Error,
) -> Result<(), String> {
    match result {
        Err(e) if e == expected => {
            println!("  rejected {what:<52} -> {:?} (code {}): {e}", e, e.code());
            Ok(())
        }
        other => Err(format!("{what}: expected {expected:?}, got {other:?}")),
    }
}

fn main() -> Result<(), String> {
    let err = |e: Error| e.to_string();
    let mut rng = ForkSafeRng::new();
    let policy = Policy::default();
    let now = sesame::unix_now();

    step("1. a key ring: key 1, derived from a master secret with HKDF-SHA256");
    let mut ring: KeyRing = KeyRing::new();
    ring.add_derived_key(
        1,
        b"master secret from the vault, 32+ bytes",
        b"session cookie 2026",
    )
    .map_err(err)?;
    println!("  {ring:?}");

    step("2. login: seal user 123456, bound to this browser's device cookie");
    let device = b"sha256(device cookie of browser A)";
    let token = ring
        .seal_token(&NewSession::new(123_456), device, now, &mut rng)
        .map_err(err)?;
    println!("  Set-Cookie: session={token}; HttpOnly; Secure; SameSite=Lax; Path=/");
    println!("  Cache-Control: private, no-store");
    println!("  token length: {} characters", token.len());

    step("3. next request: open it under the default policy");
    let claims = ring.open(&token, device, &policy, now + 30).map_err(err)?;
    println!(
        "  user {} session {} issued_at {} refreshed_at {}",
        claims.user_id,
        claims
            .session_id
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        claims.issued_at,
        claims.refreshed_at
    );

    step("4. twenty minutes later the token is due for a refresh");
    let later = now + 20 * 60;
    println!(
        "  should_refresh: {}",
        policy.should_refresh(&claims, later)
    );
    let (refreshed_claims, refreshed) = ring
        .refresh_token(&token, device, &policy, later, &mut rng)
        .map_err(err)?;
    println!(
        "  new token (same session ID, issued_at kept, refreshed_at = {})",
        refreshed_claims.refreshed_at
    );
    assert_eq!(refreshed_claims.session_id, claims.session_id);

    step("5. rotate keys: add key 2, promote it; old tokens still open");
    ring.add_derived_key(
        2,
        b"next master secret from the vault",
        b"session cookie 2027",
    )
    .map_err(err)?;
    ring.promote(2).map_err(err)?;
    println!("  {ring:?}");
    let still = ring.open(&refreshed, device, &policy, later).map_err(err)?;
    println!("  token sealed under key 1 opens: user {}", still.user_id);
    let (_, moved) = ring
        .refresh_token(&refreshed, device, &policy, later + 60, &mut rng)
        .map_err(err)?;
    println!("  refreshing moves it to key 2");
    ring.retire(1).map_err(err)?;
    println!("  retired key 1: {ring:?}");
    let moved_claims = ring
        .open(&moved, device, &policy, later + 60)
        .map_err(err)?;
    println!(
        "  the refreshed token still opens: user {}",
        moved_claims.user_id
    );

    step("6. every bad token is rejected with its own error");
    expect_rejected(
        "a token sealed under the retired key",
        ring.open(&token, device, &policy, now + 30),
        Error::UnknownKey,
    )?;
    let mut tampered = moved.to_string().into_bytes();
    tampered[40] = if tampered[40] == b'A' { b'B' } else { b'A' };
    expect_rejected(
        "a tampered token",
        ring.open(&tampered, device, &policy, later + 60),
        Error::AuthFailed,
    )?;
    expect_rejected(
        "the cookie replayed from another browser",
        ring.open(
            &moved,
            b"sha256(device cookie of browser B)",
            &policy,
            later + 60,
        ),
        Error::AuthFailed,
    )?;
    expect_rejected(
        "a truncated token",
        ring.open(&moved[..50], device, &policy, later + 60),
        Error::Malformed,
    )?;
    expect_rejected(
        "an over-long token",
        ring.open("A".repeat(4096), device, &policy, later + 60),
        Error::TooLong,
    )?;
    expect_rejected(
        "after a day without requests (idle timeout)",
        ring.open(&moved, device, &policy, later + 60 + 86_400),
        Error::IdleExpired,
    )?;
    let mut kept_alive = moved.clone();
    let mut at = later + 60;
    let lifetime_end = now + policy.absolute_lifetime.unwrap_or(0);
    while at + 3_600 < lifetime_end {
        at += 3_600;
        kept_alive = ring
            .refresh_token(&kept_alive, device, &policy, at, &mut rng)
            .map_err(err)?
            .1;
    }
    expect_rejected(
        "refreshed hourly for 14 days (absolute lifetime)",
        ring.open(&kept_alive, device, &policy, lifetime_end),
        Error::LifetimeExpired,
    )?;
    expect_rejected(
        "issued ten minutes in the future",
        ring.open(&moved, device, &policy, later + 60 - 600),
        Error::IssuedInFuture,
    )?;
    let logged_out_everyone = Policy {
        revoked_before: later + 120,
        ..policy
    };
    expect_rejected(
        "after \"log everyone out\" (revoked_before)",
        ring.open(&moved, device, &logged_out_everyone, later + 180),
        Error::Revoked,
    )?;
    let per_user_cutoff = later + 120; // from the app's store: "log out my other sessions"
    expect_rejected(
        "after \"log out my other sessions\"",
        ring.open(&moved, device, &policy, later + 180)
            .and_then(|c| c.check_revoked_before(per_user_cutoff).map(|()| c)),
        Error::Revoked,
    )?;
    let other_ring: KeyRing = {
        let mut r = KeyRing::new();
        r.add_derived_key(2, b"some other deployment's secret", b"session cookie")
            .map_err(err)?;
        r
    };
    expect_rejected(
        "a token from another deployment (same key ID)",
        other_ring.open(&moved, device, &policy, later + 60),
        Error::AuthFailed,
    )?;

    println!("\nall steps behaved as expected");
    Ok(())
}
