//! The C ABI called from Rust the way C calls it, small enough to run under
//! miri (which then checks every `unsafe` block on these paths): a heap ring
//! through its whole life, a ring in caller storage, and a heap ring whose
//! keys change while another thread seals and opens.
#![cfg(feature = "capi")]

use std::ptr;

use sesame::ffi::sesame_result::*;
use sesame::ffi::*;

const NOW: u64 = 1_700_000_000;
const K1: [u8; 32] = [1; 32];
const K2: [u8; 32] = [2; 32];

fn policy() -> sesame_policy {
    let mut policy = std::mem::MaybeUninit::uninit();
    // SAFETY: a valid out-pointer, written on SESAME_OK.
    unsafe {
        assert_eq!(sesame_policy_default(policy.as_mut_ptr()), SESAME_OK);
        policy.assume_init()
    }
}

/// # Safety
/// `ring` is a live ring.
unsafe fn seal(ring: *const sesame_keyring, user: u64) -> Vec<u8> {
    let mut out = [0u8; SESAME_TOKEN_MAX + 1];
    let mut len = 0;
    let rc = unsafe {
        sesame_seal(
            ring,
            user,
            SESAME_SESSION_KIND_BROWSER,
            SESAME_NO_LIMIT,
            ptr::null(),
            0,
            ptr::null(),
            0,
            NOW,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    assert_eq!(rc, SESAME_OK);
    assert_eq!(out[len], 0, "NUL-terminated");
    out[..len].to_vec()
}

/// # Safety
/// `ring` is a live ring.
unsafe fn open(ring: *const sesame_keyring, token: &[u8]) -> Result<u64, sesame_result> {
    let mut claims = std::mem::MaybeUninit::<sesame_claims>::uninit();
    let rc = unsafe {
        sesame_open(
            ring,
            token.as_ptr().cast(),
            token.len(),
            ptr::null(),
            0,
            &policy(),
            NOW,
            claims.as_mut_ptr(),
        )
    };
    match rc {
        // SAFETY: written on SESAME_OK.
        SESAME_OK => Ok(unsafe { claims.assume_init() }.user_id),
        error => Err(error),
    }
}

#[test]
fn a_heap_ring_through_its_life() {
    let mut ring = ptr::null_mut();
    // SAFETY: every pointer below is valid for what each call does with it.
    unsafe {
        assert_eq!(sesame_keyring_new(&mut ring), SESAME_OK);
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K2.as_ptr(), K2.len()),
            SESAME_DUPLICATE_KEY_ID
        );
        assert_eq!(
            sesame_keyring_add_key(ring, 2, K2.as_ptr(), 31),
            SESAME_INVALID_KEY
        );
        let master = b"master";
        assert_eq!(
            sesame_keyring_derive_key(ring, 2, master.as_ptr(), master.len(), ptr::null(), 0),
            SESAME_OK
        );
        let old = seal(ring, 7);
        let mut key_id = 0;
        assert_eq!(
            sesame_token_key_id(old.as_ptr().cast(), old.len(), &mut key_id),
            SESAME_OK
        );
        assert_eq!(key_id, 1);
        assert_eq!(sesame_keyring_promote(ring, 2), SESAME_OK);
        let new = seal(ring, 8);
        assert_eq!(
            sesame_token_key_id(new.as_ptr().cast(), new.len(), &mut key_id),
            SESAME_OK
        );
        assert_eq!(key_id, 2);
        let (mut ids, mut count) = ([0u32; SESAME_RING_CAPACITY], 0);
        assert_eq!(
            sesame_keyring_key_ids(ring, ids.as_mut_ptr(), ids.len(), &mut count),
            SESAME_OK
        );
        assert_eq!(&ids[..count], &[1, 2]);
        assert_eq!(
            sesame_keyring_key_ids(ring, ids.as_mut_ptr(), 1, &mut count),
            SESAME_BUFFER_TOO_SMALL
        );
        assert_eq!(open(ring, &old), Ok(7));
        assert_eq!(sesame_keyring_retire(ring, 1), SESAME_OK);
        assert_eq!(open(ring, &old), Err(SESAME_UNKNOWN_KEY));
        assert_eq!(open(ring, &new), Ok(8));

        let keyset = "sesame-keyset/1\nkey id=5 status=primary created=1 raw=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\n";
        assert_eq!(
            sesame_keyring_load_keyset(ring, keyset.as_ptr().cast(), keyset.len()),
            SESAME_OK
        );
        let mut primary = 0;
        assert_eq!(sesame_keyring_primary_id(ring, &mut primary), SESAME_OK);
        assert_eq!(primary, 5);
        let bad = "sesame-keyset/1\nkey id=5 status=primary created=1\n";
        assert_eq!(
            sesame_keyring_load_keyset(ring, bad.as_ptr().cast(), bad.len()),
            SESAME_INVALID_KEYSET
        );
        let (mut message, mut message_len) = ([0u8; 256], 0);
        let rc = sesame_keyset_check(
            bad.as_ptr().cast(),
            bad.len(),
            message.as_mut_ptr().cast(),
            message.len(),
            &mut message_len,
        );
        assert_eq!(rc, SESAME_INVALID_KEYSET);
        assert!(std::str::from_utf8(&message[..message_len])
            .unwrap()
            .contains("line 2"));
        assert_eq!(sesame_keyring_primary_id(ring, &mut primary), SESAME_OK);
        assert_eq!(primary, 5, "a bad keyset leaves the ring as it was");
        assert_eq!(
            sesame_keyring_add_key(ptr::null_mut(), 3, K2.as_ptr(), 32),
            SESAME_NULL_ARGUMENT
        );
        sesame_keyring_free(ring);
    }
}

#[test]
fn a_ring_in_caller_storage_is_wiped_when_freed() {
    #[repr(C, align(16))]
    struct Storage([u8; SESAME_KEYRING_STORAGE_BYTES]);
    let mut storage = Box::new(Storage([0xee; SESAME_KEYRING_STORAGE_BYTES]));
    let mut ring = ptr::null_mut();
    // SAFETY: the storage is aligned, big enough and outlives the ring.
    unsafe {
        assert_eq!(
            sesame_keyring_init(storage.0.as_mut_ptr().cast(), storage.0.len(), &mut ring),
            SESAME_OK
        );
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
        let token = seal(ring, 9);
        assert_eq!(open(ring, &token), Ok(9));
        sesame_keyring_free(ring);
    }
    let used = std::mem::size_of_val(&storage.0[..]);
    assert!(storage.0[..used.min(1024)]
        .iter()
        .all(|&b| b == 0 || b == 0xee));
}

#[test]
fn keys_change_while_another_thread_seals_and_opens() {
    struct Ring(*mut sesame_keyring);
    // SAFETY: a heap ring takes any mix of threads (header, THREADS).
    unsafe impl Send for Ring {}
    // SAFETY: as for Send.
    unsafe impl Sync for Ring {}
    let mut raw = ptr::null_mut();
    // SAFETY: valid pointers.
    unsafe {
        assert_eq!(sesame_keyring_new(&mut raw), SESAME_OK);
        assert_eq!(
            sesame_keyring_add_key(raw, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
    }
    let ring = std::sync::Arc::new(Ring(raw));
    let rounds = if cfg!(miri) { 2 } else { 500 };
    let reader = {
        let ring = std::sync::Arc::clone(&ring);
        std::thread::spawn(move || {
            for user in 0..rounds {
                // SAFETY: the ring lives until both threads are done.
                unsafe {
                    let token = seal(ring.0, user);
                    match open(ring.0, &token) {
                        Ok(opened) => assert_eq!(opened, user),
                        Err(error) => assert_eq!(error, SESAME_UNKNOWN_KEY),
                    }
                }
            }
        })
    };
    for round in 0..rounds {
        let id = 2 + (round as u32 % 2);
        let key = if id == 2 { K2 } else { [3; 32] };
        // SAFETY: key changes on a heap ring from any thread.
        unsafe {
            assert_eq!(
                sesame_keyring_add_key(ring.0, id, key.as_ptr(), key.len()),
                SESAME_OK
            );
            assert_eq!(sesame_keyring_promote(ring.0, id), SESAME_OK);
            assert_eq!(sesame_keyring_promote(ring.0, 1), SESAME_OK);
            assert_eq!(sesame_keyring_retire(ring.0, id), SESAME_OK);
        }
    }
    reader.join().unwrap();
    // SAFETY: no other thread uses the ring any more.
    unsafe { sesame_keyring_free(ring.0) };
}

/// A browser's cookie jar, enough for these tests: `Set-Cookie` lines set or
/// delete (Max-Age=0) a cookie by name.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
    fn apply(&mut self, lines: &str) {
        for line in lines.lines() {
            let Some(cookie) = line.strip_prefix("Set-Cookie: ") else {
                continue;
            };
            let (pair, attributes) = cookie.split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.0.retain(|(n, _)| n != name);
            if !attributes.contains("Max-Age=0;") {
                self.0.push((name.to_string(), value.to_string()));
            }
        }
    }
}

struct Exchange {
    session: u32,
    user_id: u64,
    lines: String,
    flags: u32,
    foreign: u32,
}

/// One request through begin and finish, as a middleware does it.
///
/// # Safety
/// `ring` and `rules` are live.
unsafe fn exchange(
    ring: *const sesame_keyring,
    rules: *const sesame_cookie_rules,
    method: &str,
    cookie: &str,
    action: u32,
    user: u64,
    now: u64,
) -> Exchange {
    // SAFETY: live per this function's contract; `cookie` outlives the request.
    let mut request = unsafe { begin(ring, rules, method, cookie, now) };
    let (session, foreign) = (request.session, request.foreign_sessions);
    let mut out = vec![0u8; 4096];
    let (mut len, mut flags) = (0usize, 0u32);
    let rc = unsafe {
        sesame_request_finish(
            ring,
            rules,
            &mut request,
            action,
            user,
            SESAME_SESSION_KIND_BROWSER,
            SESAME_NO_LIMIT,
            ptr::null(),
            0,
            now,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
            &mut flags,
        )
    };
    assert_eq!(rc, SESAME_OK);
    // A request is finished once.
    let rc = unsafe {
        sesame_request_finish(
            ring,
            rules,
            &mut request,
            action,
            user,
            SESAME_SESSION_KIND_BROWSER,
            SESAME_NO_LIMIT,
            ptr::null(),
            0,
            now,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
            &mut flags,
        )
    };
    assert_eq!(rc, SESAME_INVALID_ARGUMENT);
    Exchange {
        session,
        user_id: request.claims.user_id,
        lines: String::from_utf8(out[..len].to_vec()).unwrap(),
        flags,
        foreign,
    }
}

#[test]
fn cookie_rules_through_the_c_abi() {
    let mut ring = ptr::null_mut();
    let mut rules = ptr::null_mut();
    // SAFETY: every pointer is valid for its call.
    unsafe {
        assert_eq!(sesame_keyring_new(&mut ring), SESAME_OK);
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
        let mut p = policy();
        p.refresh_after = 60;
        assert_eq!(
            sesame_cookie_rules_new(&p, ptr::null(), 0, ptr::null(), 0, &mut rules),
            SESAME_OK
        );
        let (mut device, mut device_len, mut prefix, mut prefix_len) =
            (ptr::null(), 0, ptr::null(), 0);
        assert_eq!(
            sesame_cookie_rules_names(
                rules,
                &mut device,
                &mut device_len,
                &mut prefix,
                &mut prefix_len
            ),
            SESAME_OK
        );
        let text = |p: *const core::ffi::c_char, len| {
            std::str::from_utf8(std::slice::from_raw_parts(p.cast::<u8>(), len)).unwrap()
        };
        assert_eq!(
            (text(device, device_len), text(prefix, prefix_len)),
            ("__Host-sesame-device", "__Host-sesame-s-")
        );
        let mut refused = ptr::null_mut();
        let name = "session";
        let rc = sesame_cookie_rules_new(
            &p,
            name.as_ptr().cast(),
            name.len(),
            ptr::null(),
            0,
            &mut refused,
        );
        assert_eq!(rc, SESAME_INVALID_COOKIE_NAME);
        assert!(refused.is_null());

        let (mut alice, mut bob) = (Jar::default(), Jar::default());
        // A first GET sets nothing (a cache may store it).
        let first = exchange(ring, rules, "GET", "", SESAME_ACTION_KEEP, 0, NOW);
        assert_eq!(
            (first.session, first.lines.as_str()),
            (SESAME_SESSION_NONE, "")
        );
        // Logins by POST: a device cookie and a session cookie named after it.
        let login = exchange(
            ring,
            rules,
            "POST",
            &alice.header(),
            SESAME_ACTION_LOGIN,
            7,
            NOW,
        );
        assert_eq!(login.user_id, 7);
        assert!(login.lines.contains("Set-Cookie: __Host-sesame-device="));
        assert!(login.lines.contains("Set-Cookie: __Host-sesame-s-"));
        assert!(login.lines.contains("Cache-Control: private, no-store"));
        alice.apply(&login.lines);
        bob.apply(
            &exchange(
                ring,
                rules,
                "POST",
                &bob.header(),
                SESAME_ACTION_LOGIN,
                8,
                NOW,
            )
            .lines,
        );
        // Each browser is itself; a refresh due on GET sets only the session cookie.
        let seen = exchange(
            ring,
            rules,
            "GET",
            &alice.header(),
            SESAME_ACTION_KEEP,
            0,
            NOW + 1,
        );
        assert_eq!(
            (seen.session, seen.user_id, seen.lines.as_str()),
            (SESAME_SESSION_VALID, 7, "")
        );
        let refreshed = exchange(
            ring,
            rules,
            "GET",
            &alice.header(),
            SESAME_ACTION_KEEP,
            0,
            NOW + 120,
        );
        assert_eq!(
            (refreshed.session, refreshed.user_id),
            (SESAME_SESSION_REFRESHED, 7)
        );
        assert!(!refreshed.lines.contains("sesame-device"));
        // A shared cache replays Alice's refresh to Bob: Bob stays Bob, and
        // the foreign cookie is seen (and logged once).
        bob.apply(&refreshed.lines);
        let replayed = exchange(
            ring,
            rules,
            "GET",
            &bob.header(),
            SESAME_ACTION_KEEP,
            0,
            NOW + 121,
        );
        assert_eq!(
            (replayed.session, replayed.user_id, replayed.foreign),
            (SESAME_SESSION_REFRESHED, 8, 1)
        );
        let mut total = 0;
        assert_eq!(sesame_cookie_rules_detections(rules, &mut total), SESAME_OK);
        assert_eq!(total, 1);
        // Bob's next POST deletes the foreign cookie.
        let post = exchange(
            ring,
            rules,
            "POST",
            &bob.header(),
            SESAME_ACTION_KEEP,
            0,
            NOW + 122,
        );
        assert!(post.lines.contains("Max-Age=0"));
        // Logout by POST ends Alice's session; by GET it only warns.
        let get_logout = exchange(
            ring,
            rules,
            "GET",
            &alice.header(),
            SESAME_ACTION_LOGOUT,
            0,
            NOW + 123,
        );
        assert_eq!(get_logout.flags, SESAME_FINISH_WARN_GET_LOGOUT);
        let logout = exchange(
            ring,
            rules,
            "POST",
            &alice.header(),
            SESAME_ACTION_LOGOUT,
            0,
            NOW + 124,
        );
        alice.apply(&logout.lines);
        let after = exchange(
            ring,
            rules,
            "GET",
            &alice.header(),
            SESAME_ACTION_KEEP,
            0,
            NOW + 125,
        );
        assert_eq!(after.session, SESAME_SESSION_NONE);

        let mut message = [0u8; 512];
        let mut request = std::mem::MaybeUninit::<sesame_request>::uninit();
        let header = bob.header();
        sesame_request_begin(
            ring,
            rules,
            "GET".as_ptr().cast(),
            3,
            header.as_ptr().cast(),
            header.len(),
            NOW,
            request.as_mut_ptr(),
        );
        let mut len = 0;
        assert_eq!(
            sesame_request_detection_message(
                rules,
                request.as_ptr(),
                message.as_mut_ptr().cast(),
                message.len(),
                &mut len
            ),
            SESAME_OK
        );
        assert!(std::str::from_utf8(&message[..len])
            .unwrap()
            .contains("shared cache"));
        sesame_cookie_rules_free(rules);
        sesame_keyring_free(ring);
    }
}

/// The registry through the C ABI, on the memory store and (with the
/// feature) a real SQLite file: login, check, refresh with theft detection,
/// list, log out my other sessions, logout final.
#[test]
fn the_registry_through_the_c_abi() {
    let mut urls = vec!["memory://?capacity=64".to_string()];
    let dir = std::env::temp_dir().join(format!("sesame-c-abi-registry-{}", std::process::id()));
    if cfg!(feature = "registry-sqlite") && !cfg!(miri) {
        std::fs::create_dir_all(&dir).unwrap();
        urls.push(format!("sqlite://{}", dir.join("sessions.db").display()));
    }
    for url in urls {
        let mut ring = ptr::null_mut();
        let mut registry = ptr::null_mut();
        // SAFETY: every pointer is valid for its call.
        unsafe {
            assert_eq!(sesame_keyring_new(&mut ring), SESAME_OK);
            assert_eq!(
                sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
                SESAME_OK
            );
            let mut config = std::mem::MaybeUninit::uninit();
            assert_eq!(
                sesame_registry_config_default(config.as_mut_ptr()),
                SESAME_OK
            );
            let mut config = config.assume_init();
            // The same defaults, with each kind's limits from a policy.
            let mut p = policy();
            p.remember_me_absolute_lifetime = 90 * 86_400;
            p.remember_me_idle_timeout = SESAME_NO_LIMIT;
            let mut from_policy = std::mem::MaybeUninit::uninit();
            assert_eq!(
                sesame_registry_config_from_policy(&p, from_policy.as_mut_ptr()),
                SESAME_OK
            );
            let from_policy = from_policy.assume_init();
            assert_eq!(
                (
                    from_policy.remember_me.idle_timeout,
                    from_policy.remember_me.absolute_lifetime
                ),
                (90 * 86_400, 90 * 86_400)
            );
            assert_eq!(
                from_policy.browser.idle_timeout,
                config.browser.idle_timeout
            );
            assert_eq!(from_policy.max_sessions, config.max_sessions);
            let mut unread = std::mem::MaybeUninit::uninit();
            assert_eq!(
                sesame_registry_config_from_policy(ptr::null(), unread.as_mut_ptr()),
                SESAME_NULL_ARGUMENT
            );
            config.max_sessions = 2;
            assert_eq!(
                sesame_registry_open(url.as_ptr().cast(), url.len(), &config, &mut registry),
                SESAME_OK,
                "{url}"
            );
            let bad = "ftp://nowhere";
            let mut none = ptr::null_mut();
            assert_eq!(
                sesame_registry_open(bad.as_ptr().cast(), bad.len(), ptr::null(), &mut none),
                SESAME_INVALID_REGISTRY_URL
            );

            // Two logins of user 7, as a server would record them.
            let login = |user: u64, device: &str| {
                let token = seal(ring, user);
                let mut claims = std::mem::MaybeUninit::<sesame_claims>::uninit();
                let rc = sesame_open(
                    ring,
                    token.as_ptr().cast(),
                    token.len(),
                    ptr::null(),
                    0,
                    &policy(),
                    NOW,
                    claims.as_mut_ptr(),
                );
                assert_eq!(rc, SESAME_OK);
                let claims = claims.assume_init();
                let mut evicted = u32::MAX;
                let rc = sesame_registry_register(
                    registry,
                    user,
                    claims.session_id.as_ptr(),
                    SESAME_SESSION_KIND_BROWSER,
                    token.as_ptr().cast(),
                    token.len(),
                    device.as_ptr().cast(),
                    device.len(),
                    ptr::null(),
                    0,
                    NOW,
                    &mut evicted,
                );
                assert_eq!(rc, SESAME_OK);
                assert_eq!(evicted, 0);
                (token, claims)
            };
            let (laptop, laptop_claims) = login(7, "Firefox on a laptop");
            let (phone, phone_claims) = login(7, "Safari on a phone");
            let verdict = |token: &[u8], claims: &sesame_claims, now: u64| {
                let mut v = u32::MAX;
                let rc = sesame_registry_check(
                    registry,
                    7,
                    claims.session_id.as_ptr(),
                    token.as_ptr().cast(),
                    token.len(),
                    now,
                    &mut v,
                );
                assert_eq!(rc, SESAME_OK);
                v
            };
            assert_eq!(
                verdict(&laptop, &laptop_claims, NOW + 1),
                SESAME_VERDICT_LIVE
            );

            let mut entries = [std::mem::zeroed::<sesame_registry_entry>(); 4];
            let mut count = 0;
            assert_eq!(
                sesame_registry_list(
                    registry,
                    7,
                    NOW + 2,
                    entries.as_mut_ptr(),
                    entries.len(),
                    &mut count
                ),
                SESAME_OK
            );
            assert_eq!(count, 2);
            let device = std::ffi::CStr::from_ptr(entries[0].device.as_ptr())
                .to_str()
                .unwrap();
            assert!(device.starts_with("Safari") || device.starts_with("Firefox"));

            // The laptop refreshes; its old token used after the new one was
            // seen, past the grace period, is a theft: the session is revoked.
            let fresh = {
                let mut out = [0u8; SESAME_TOKEN_MAX + 1];
                let mut len = 0;
                let rc = sesame_refresh(
                    ring,
                    laptop.as_ptr().cast(),
                    laptop.len(),
                    ptr::null(),
                    0,
                    &policy(),
                    NOW + 900,
                    out.as_mut_ptr().cast(),
                    out.len(),
                    &mut len,
                    ptr::null_mut(),
                );
                assert_eq!(rc, SESAME_OK);
                out[..len].to_vec()
            };
            let mut v = u32::MAX;
            let rc = sesame_registry_refresh(
                registry,
                7,
                laptop_claims.session_id.as_ptr(),
                laptop.as_ptr().cast(),
                laptop.len(),
                fresh.as_ptr().cast(),
                fresh.len(),
                NOW + 900,
                &mut v,
            );
            assert_eq!((rc, v), (SESAME_OK, SESAME_VERDICT_LIVE));
            assert_eq!(
                verdict(&fresh, &laptop_claims, NOW + 901),
                SESAME_VERDICT_LIVE
            );
            assert_eq!(
                verdict(&laptop, &laptop_claims, NOW + 1000),
                SESAME_VERDICT_THEFT_DETECTED
            );
            assert_eq!(
                verdict(&fresh, &laptop_claims, NOW + 1001),
                SESAME_VERDICT_REVOKED
            );

            // A new login on the laptop, then "log out my other sessions" from it.
            let (again, again_claims) = login(7, "Firefox on a laptop");
            let mut ended = u32::MAX;
            assert_eq!(
                sesame_registry_revoke_others(
                    registry,
                    7,
                    again_claims.session_id.as_ptr(),
                    NOW + 1002,
                    &mut ended
                ),
                SESAME_OK
            );
            assert_eq!(ended, 1);
            assert_eq!(
                verdict(&phone, &phone_claims, NOW + 1002),
                SESAME_VERDICT_REVOKED
            );
            // Logout is final at once.
            assert_eq!(
                sesame_registry_logout(
                    registry,
                    7,
                    again_claims.session_id.as_ptr(),
                    again.as_ptr().cast(),
                    again.len(),
                    NOW + 1003,
                    &mut v
                ),
                SESAME_OK
            );
            let mut peeked = u32::MAX;
            assert_eq!(
                sesame_registry_peek(
                    registry,
                    7,
                    again_claims.session_id.as_ptr(),
                    NOW + 1003,
                    &mut peeked
                ),
                SESAME_OK
            );
            assert_eq!(peeked, SESAME_VERDICT_REVOKED);
            assert_eq!(
                sesame_registry_list(registry, 7, NOW + 1004, ptr::null_mut(), 0, &mut count),
                SESAME_OK
            );
            assert_eq!(count, 0);
            assert_eq!(
                sesame_registry_revoke(registry, 7, ptr::null(), NOW, &mut ended),
                SESAME_NULL_ARGUMENT
            );
            sesame_registry_free(registry);
            sesame_keyring_free(ring);
        }
    }
    if !cfg!(miri) {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The tokens a request carried and issued, for the registry: read from the
/// core rather than parsed from headers by each binding.
#[test]
fn a_request_gives_its_presented_and_issued_tokens() {
    let mut ring = ptr::null_mut();
    let mut rules = ptr::null_mut();
    // SAFETY: every pointer is valid for its call.
    unsafe {
        assert_eq!(sesame_keyring_new(&mut ring), SESAME_OK);
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
        let mut p = policy();
        p.refresh_after = 60;
        assert_eq!(
            sesame_cookie_rules_new(&p, ptr::null(), 0, ptr::null(), 0, &mut rules),
            SESAME_OK
        );
        let token_of = |request: &sesame_request, which: u32| {
            let mut out = [0u8; SESAME_TOKEN_MAX + 1];
            let mut len = 0;
            match sesame_request_token(request, which, out.as_mut_ptr().cast(), out.len(), &mut len)
            {
                SESAME_OK => Some(String::from_utf8(out[..len].to_vec()).unwrap()),
                other => {
                    assert_eq!(other, SESAME_INVALID_ARGUMENT);
                    None
                }
            }
        };
        let run = |cookie: &str, method: &str, action: u32, now: u64| {
            let mut request = std::mem::MaybeUninit::<sesame_request>::uninit();
            let rc = sesame_request_begin(
                ring,
                rules,
                method.as_ptr().cast(),
                method.len(),
                cookie.as_ptr().cast(),
                cookie.len(),
                now,
                request.as_mut_ptr(),
            );
            assert_eq!(rc, SESAME_OK);
            let mut request = request.assume_init();
            let before = (
                token_of(&request, SESAME_TOKEN_PRESENTED),
                token_of(&request, SESAME_TOKEN_ISSUED),
            );
            let mut out = vec![0u8; 4096];
            let (mut len, mut flags) = (0usize, 0u32);
            let rc = sesame_request_finish(
                ring,
                rules,
                &mut request,
                action,
                7,
                SESAME_SESSION_KIND_BROWSER,
                SESAME_NO_LIMIT,
                ptr::null(),
                0,
                now,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
                &mut flags,
            );
            assert_eq!(rc, SESAME_OK);
            let after = (
                token_of(&request, SESAME_TOKEN_PRESENTED),
                token_of(&request, SESAME_TOKEN_ISSUED),
            );
            (
                before,
                after,
                String::from_utf8(out[..len].to_vec()).unwrap(),
            )
        };
        let ((carried, issued), (_, login_token), lines) =
            run("", "POST", SESAME_ACTION_LOGIN, NOW);
        assert_eq!((carried, issued), (None, None));
        let login_token = login_token.expect("a login issues a token");
        assert!(
            lines.contains(&format!("={login_token};")),
            "the Set-Cookie carries it"
        );
        let mut jar = Jar::default();
        jar.apply(&lines);
        // Due for a refresh: the presented token is the login's, the issued one new.
        let ((carried, issued), (after_carried, after_issued), lines) =
            run(&jar.header(), "GET", SESAME_ACTION_KEEP, NOW + 120);
        assert_eq!(carried.as_deref(), Some(login_token.as_str()));
        let issued = issued.expect("refreshed");
        assert_ne!(issued, login_token);
        assert!(lines.contains(&issued));
        assert_eq!(
            (after_carried, after_issued),
            (None, Some(issued)),
            "after finish only the issued token"
        );
        // Kept unrefreshed: nothing issued after finish.
        let (_, (_, none), lines) = run(
            &jar.header(),
            "GET",
            SESAME_ACTION_KEEP_UNREFRESHED,
            NOW + 120,
        );
        assert_eq!((none, lines.as_str()), (None, ""));
        sesame_cookie_rules_free(rules);
        sesame_keyring_free(ring);
    }
}

/// Begins a request with `cookie` as its Cookie header.
///
/// # Safety
/// `ring` and `rules` are live; `cookie` outlives every use of the request.
unsafe fn begin(
    ring: *const sesame_keyring,
    rules: *const sesame_cookie_rules,
    method: &str,
    cookie: &str,
    now: u64,
) -> sesame_request {
    let mut request = std::mem::MaybeUninit::<sesame_request>::uninit();
    let rc = unsafe {
        sesame_request_begin(
            ring,
            rules,
            method.as_ptr().cast(),
            method.len(),
            cookie.as_ptr().cast(),
            cookie.len(),
            now,
            request.as_mut_ptr(),
        )
    };
    assert_eq!(rc, SESAME_OK);
    // SAFETY: written on SESAME_OK.
    unsafe { request.assume_init() }
}

#[test]
fn the_csrf_secret_comes_from_the_device_and_remember_me_cookies_last() {
    let mut ring = ptr::null_mut();
    let mut rules = ptr::null_mut();
    // SAFETY: every pointer is valid for its call.
    unsafe {
        assert_eq!(sesame_keyring_new(&mut ring), SESAME_OK);
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
        let mut p = policy();
        assert_eq!(sesame_policy_default(&mut p), SESAME_OK);
        assert_eq!(
            sesame_cookie_rules_new(&p, ptr::null(), 0, ptr::null(), 0, &mut rules),
            SESAME_OK
        );
        // No device yet: no secret, and nothing written.
        let request = begin(ring, rules, "GET", "", NOW);
        let (mut secret, mut present) = ([7u8; 32], -1);
        let rc = sesame_request_csrf_secret(&request, secret.as_mut_ptr(), 32, &mut present);
        assert_eq!((rc, present, secret), (SESAME_OK, 0, [7u8; 32]));

        let device = "AAAAAAAAAAAAAAAAAAAAAQ";
        let header = format!("__Host-sesame-device={device}");
        let request = begin(ring, rules, "GET", &header, NOW);
        let rc = sesame_request_csrf_secret(&request, secret.as_mut_ptr(), 31, &mut present);
        assert_eq!(rc, SESAME_BUFFER_TOO_SMALL);
        let rc = sesame_request_csrf_secret(&request, secret.as_mut_ptr(), 32, &mut present);
        assert_eq!((rc, present), (SESAME_OK, 1));
        let expected = sesame::cookies::DeviceId::parse(device.as_bytes())
            .unwrap()
            .csrf_secret();
        assert_eq!(secret, expected);
        // Another device, another secret; the same device, the same one.
        let other = begin(
            ring,
            rules,
            "POST",
            "__Host-sesame-device=AAAAAAAAAAAAAAAAAAAAAg",
            NOW,
        );
        let mut other_secret = [0u8; 32];
        sesame_request_csrf_secret(&other, other_secret.as_mut_ptr(), 32, &mut present);
        assert_ne!(other_secret, secret);
        let again = begin(ring, rules, "POST", &header, NOW);
        sesame_request_csrf_secret(&again, other_secret.as_mut_ptr(), 32, &mut present);
        assert_eq!(other_secret, secret);
        assert_eq!(
            sesame_request_csrf_secret(ptr::null(), secret.as_mut_ptr(), 32, &mut present),
            SESAME_NULL_ARGUMENT
        );

        // Form tokens: fresh each time, each checks against its device only.
        let token_of = |request: &sesame_request| {
            let mut out = [0u8; SESAME_CSRF_TOKEN_LEN + 1];
            let mut len = 0usize;
            let rc = sesame_request_csrf_token(
                ring,
                request,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
            );
            assert_eq!(rc, SESAME_OK);
            out[..len].to_vec()
        };
        let check = |request: &sesame_request, token: &[u8], site: &str| {
            let mut allowed = -1;
            let rc = sesame_request_csrf_check(
                request,
                if token.is_empty() {
                    ptr::null()
                } else {
                    token.as_ptr().cast()
                },
                token.len(),
                if site.is_empty() {
                    ptr::null()
                } else {
                    site.as_ptr().cast()
                },
                site.len(),
                ptr::null(),
                0,
                ptr::null(),
                0,
                &mut allowed,
            );
            assert_eq!(rc, SESAME_OK);
            allowed
        };
        let post = begin(ring, rules, "POST", &header, NOW);
        let (t1, t2) = (token_of(&post), token_of(&post));
        assert_eq!(t1.len(), SESAME_CSRF_TOKEN_LEN);
        assert_ne!(t1, t2);
        assert_eq!((check(&post, &t1, ""), check(&post, &t2, "")), (1, 1));
        assert_eq!(
            check(&post, b"", "same-origin"),
            0,
            "a device's POST needs its token"
        );
        assert_eq!(check(&other, &t1, ""), 0, "another device's token");
        let mut short = [0u8; SESAME_CSRF_TOKEN_LEN];
        let mut len = 0;
        assert_eq!(
            sesame_request_csrf_token(
                ring,
                &post,
                short.as_mut_ptr().cast(),
                short.len(),
                &mut len
            ),
            SESAME_BUFFER_TOO_SMALL
        );
        let get = begin(ring, rules, "GET", &header, NOW);
        assert_eq!(check(&get, b"", "cross-site"), 1, "GET passes");
        let first_visit = begin(ring, rules, "POST", "", NOW);
        // Its page's token is for the device its response issues; the
        // request itself is judged by its origin.
        assert_eq!(token_of(&first_visit).len(), SESAME_CSRF_TOKEN_LEN);
        assert!(token_of(&begin(ring, rules, "GET", "", NOW)).is_empty());
        assert_eq!(check(&first_visit, b"", "same-origin"), 1);
        assert_eq!(check(&first_visit, &t1, "cross-site"), 0);

        // A remember-me login's cookie lasts the remember-me lifetime (30 d),
        // a browser login's the browser idle timeout (24 h).
        for (kind, max_age) in [
            (SESAME_SESSION_KIND_REMEMBER_ME, "Max-Age=2592000"),
            (SESAME_SESSION_KIND_BROWSER, "Max-Age=86400"),
        ] {
            let mut request = begin(ring, rules, "POST", &header, NOW);
            let mut out = vec![0u8; 4096];
            let (mut len, mut flags) = (0usize, 0u32);
            let rc = sesame_request_finish(
                ring,
                rules,
                &mut request,
                SESAME_ACTION_LOGIN,
                9,
                kind,
                SESAME_NO_LIMIT,
                ptr::null(),
                0,
                NOW,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
                &mut flags,
            );
            assert_eq!(rc, SESAME_OK);
            assert_eq!(request.claims.kind, kind);
            // After the login the secret is the new device's.
            let mut after = [0u8; 32];
            sesame_request_csrf_secret(&request, after.as_mut_ptr(), 32, &mut present);
            assert_eq!(present, 1);
            assert_ne!(after, secret);
            let lines = std::str::from_utf8(&out[..len]).unwrap();
            let session_line = lines
                .lines()
                .find(|l| l.contains("__Host-sesame-s-"))
                .unwrap();
            assert!(session_line.contains(max_age), "{session_line}");
        }
        // An unknown kind is refused.
        let mut request = begin(ring, rules, "POST", &header, NOW);
        let mut out = vec![0u8; 4096];
        let (mut len, mut flags) = (0usize, 0u32);
        let rc = sesame_request_finish(
            ring,
            rules,
            &mut request,
            SESAME_ACTION_LOGIN,
            9,
            9,
            SESAME_NO_LIMIT,
            ptr::null(),
            0,
            NOW,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
            &mut flags,
        );
        assert_eq!(rc, SESAME_INVALID_ARGUMENT);
        sesame_cookie_rules_free(rules);
        sesame_keyring_free(ring);
    }
}

/// A refresh keeps the session's kind, so a remember-me cookie refreshed by
/// `begin` and set by `finish` still lasts the remember-me lifetime (less
/// what has passed), not the browser idle timeout that would drop it after
/// a day away.
#[test]
fn a_refreshed_remember_me_cookie_keeps_its_lifetime() {
    let mut ring = ptr::null_mut();
    let mut rules = ptr::null_mut();
    // SAFETY: every pointer is valid for its call; each request's Cookie
    // header outlives its finish.
    unsafe {
        assert_eq!(sesame_keyring_new(&mut ring), SESAME_OK);
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
        let p = policy();
        assert_eq!(
            sesame_cookie_rules_new(&p, ptr::null(), 0, ptr::null(), 0, &mut rules),
            SESAME_OK
        );
        let finish = |request: &mut sesame_request, action: u32, kind: u8, now: u64| {
            let mut out = vec![0u8; 4096];
            let (mut len, mut flags) = (0usize, 0u32);
            let rc = sesame_request_finish(
                ring,
                rules,
                request,
                action,
                5,
                kind,
                SESAME_NO_LIMIT,
                ptr::null(),
                0,
                now,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
                &mut flags,
            );
            assert_eq!(rc, SESAME_OK);
            String::from_utf8(out[..len].to_vec()).unwrap()
        };
        let later = NOW + 20 * 60;
        for (kind, max_age) in [
            (
                SESAME_SESSION_KIND_REMEMBER_ME,
                p.remember_me_absolute_lifetime - (later - NOW),
            ),
            (SESAME_SESSION_KIND_BROWSER, p.idle_timeout),
        ] {
            let mut jar = Jar::default();
            let mut login = begin(ring, rules, "POST", "", NOW);
            jar.apply(&finish(&mut login, SESAME_ACTION_LOGIN, kind, NOW));
            let header = jar.header();
            let mut request = begin(ring, rules, "GET", &header, later);
            assert_eq!(request.session, SESAME_SESSION_REFRESHED);
            assert_eq!(request.claims.kind, kind);
            // The login's kind argument is ignored on a refresh.
            let lines = finish(
                &mut request,
                SESAME_ACTION_KEEP,
                SESAME_SESSION_KIND_BROWSER,
                later,
            );
            let session_line = lines
                .lines()
                .find(|l| l.contains("__Host-sesame-s-"))
                .expect("the refreshed token is set");
            assert!(
                session_line.contains(&format!("Max-Age={max_age};")),
                "{kind}: {session_line}"
            );
        }
        sesame_cookie_rules_free(rules);
        sesame_keyring_free(ring);
    }
}

/// The CSRF calls write nothing when they fail: no secret, no length, no
/// verdict a caller could mistake for an answer.
#[test]
fn csrf_calls_write_nothing_on_failure() {
    let mut ring = ptr::null_mut();
    let mut rules = ptr::null_mut();
    // SAFETY: every pointer is valid for its call, or NULL where tested.
    unsafe {
        assert_eq!(sesame_keyring_new(&mut ring), SESAME_OK);
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
        let p = policy();
        assert_eq!(
            sesame_cookie_rules_new(&p, ptr::null(), 0, ptr::null(), 0, &mut rules),
            SESAME_OK
        );
        let header = "__Host-sesame-device=AAAAAAAAAAAAAAAAAAAAAQ";
        let request = begin(ring, rules, "POST", header, NOW);

        let (mut secret, mut present) = ([7u8; 32], -1);
        let rc = sesame_request_csrf_secret(&request, secret.as_mut_ptr(), 31, &mut present);
        assert_eq!(
            (rc, present, secret),
            (SESAME_BUFFER_TOO_SMALL, -1, [7u8; 32])
        );
        let rc = sesame_request_csrf_secret(&request, secret.as_mut_ptr(), 32, ptr::null_mut());
        assert_eq!((rc, secret), (SESAME_NULL_ARGUMENT, [7u8; 32]));

        let mut token = [7u8; SESAME_CSRF_TOKEN_LEN + 1];
        let mut len = usize::MAX;
        for (ring, cap) in [
            (ring.cast_const(), SESAME_CSRF_TOKEN_LEN),
            (ptr::null(), token.len()),
        ] {
            let rc =
                sesame_request_csrf_token(ring, &request, token.as_mut_ptr().cast(), cap, &mut len);
            assert_ne!(rc, SESAME_OK);
            assert_eq!((len, token), (usize::MAX, [7u8; SESAME_CSRF_TOKEN_LEN + 1]));
        }

        let post = "POST";
        let mut allowed = -1;
        // A header given as NULL with a length is an error, not "absent".
        let rc = sesame_request_csrf_check(
            &request,
            ptr::null(),
            0,
            ptr::null(),
            11,
            ptr::null(),
            0,
            ptr::null(),
            0,
            &mut allowed,
        );
        assert_eq!((rc, allowed), (SESAME_NULL_ARGUMENT, -1));
        let rc = sesame_csrf_origin_allowed(
            post.as_ptr().cast(),
            post.len(),
            ptr::null(),
            0,
            ptr::null(),
            6,
            ptr::null(),
            0,
            &mut allowed,
        );
        assert_eq!((rc, allowed), (SESAME_NULL_ARGUMENT, -1));
        let rc = sesame_csrf_origin_allowed(
            ptr::null(),
            0,
            ptr::null(),
            0,
            ptr::null(),
            0,
            ptr::null(),
            0,
            &mut allowed,
        );
        assert_eq!((rc, allowed), (SESAME_NULL_ARGUMENT, -1));
        // A request never begun (zeroed, as a binding allocates it) is refused.
        let zeroed: sesame_request = std::mem::zeroed();
        let rc = sesame_request_csrf_secret(&zeroed, secret.as_mut_ptr(), 32, &mut present);
        assert_eq!((rc, present), (SESAME_INVALID_ARGUMENT, -1));

        let mut config = std::mem::MaybeUninit::<sesame_registry_config>::uninit();
        assert_eq!(
            sesame_registry_config_from_policy(ptr::null(), config.as_mut_ptr()),
            SESAME_NULL_ARGUMENT
        );
        assert_eq!(
            sesame_registry_config_from_policy(&p, ptr::null_mut()),
            SESAME_NULL_ARGUMENT
        );
        sesame_cookie_rules_free(rules);
        sesame_keyring_free(ring);
    }
}

/// A first visit's POST (no device yet) whose page is rendered before
/// `finish` (a login form shown again after a wrong password) must carry a
/// token that checks on the next POST, which comes with the device this
/// response issues; an empty token there would refuse the retry.
#[test]
fn a_page_rendered_before_finish_on_a_first_post_gets_a_working_token() {
    let mut ring = ptr::null_mut();
    let mut rules = ptr::null_mut();
    // SAFETY: every pointer is valid for its call; each request's Cookie
    // header outlives its finish.
    unsafe {
        assert_eq!(sesame_keyring_new(&mut ring), SESAME_OK);
        assert_eq!(
            sesame_keyring_add_key(ring, 1, K1.as_ptr(), K1.len()),
            SESAME_OK
        );
        let p = policy();
        assert_eq!(
            sesame_cookie_rules_new(&p, ptr::null(), 0, ptr::null(), 0, &mut rules),
            SESAME_OK
        );
        let mut first = begin(ring, rules, "POST", "", NOW);
        // The request itself has no device: its secret is absent and it is
        // judged by its origin.
        let (mut secret, mut present) = ([0u8; 32], -1);
        let rc = sesame_request_csrf_secret(&first, secret.as_mut_ptr(), 32, &mut present);
        assert_eq!((rc, present), (SESAME_OK, 0));
        let mut token = [0u8; SESAME_CSRF_TOKEN_LEN + 1];
        let mut len = 0usize;
        let rc = sesame_request_csrf_token(
            ring,
            &first,
            token.as_mut_ptr().cast(),
            token.len(),
            &mut len,
        );
        assert_eq!((rc, len), (SESAME_OK, SESAME_CSRF_TOKEN_LEN));
        let token = token[..len].to_vec();
        let mut out = vec![0u8; 4096];
        let (mut lines_len, mut flags) = (0usize, 0u32);
        let rc = sesame_request_finish(
            ring,
            rules,
            &mut first,
            SESAME_ACTION_KEEP,
            0,
            SESAME_SESSION_KIND_BROWSER,
            SESAME_NO_LIMIT,
            ptr::null(),
            0,
            NOW,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut lines_len,
            &mut flags,
        );
        assert_eq!(rc, SESAME_OK);
        let mut jar = Jar::default();
        jar.apply(std::str::from_utf8(&out[..lines_len]).unwrap());
        let header = jar.header();
        assert!(header.starts_with("__Host-sesame-device="), "{header}");
        let retry = begin(ring, rules, "POST", &header, NOW + 5);
        let mut allowed = -1;
        let rc = sesame_request_csrf_check(
            &retry,
            token.as_ptr().cast(),
            token.len(),
            ptr::null(),
            0,
            ptr::null(),
            0,
            ptr::null(),
            0,
            &mut allowed,
        );
        assert_eq!((rc, allowed), (SESAME_OK, 1), "the retry's token checks");
        sesame_cookie_rules_free(rules);
        sesame_keyring_free(ring);
    }
}
