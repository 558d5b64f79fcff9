//! The C ABI (`sesame_*`, feature `capi`) called through Rust with arbitrary
//! lengths, buffer capacities, NULL pointers, random callbacks and ring
//! storage. Every input and output buffer is a heap allocation of exactly the
//! length passed, so AddressSanitizer (cargo fuzz's default) catches any read
//! or write past it. Checks: results are the documented codes, nothing is
//! written on failure, sealed tokens open to what was sealed.
#![no_main]

use core::ffi::{c_char, c_int, c_void, CStr};
use core::ptr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sesame::ffi::sesame_result::*;
use sesame::ffi::*;

#[derive(Arbitrary, Debug, Clone, Copy)]
struct PolicyIn {
    idle_timeout: u64,
    absolute_lifetime: u64,
    future_leeway: u64,
    revoked_before: u64,
    refresh_after: u64,
    remember_me_idle_timeout: u64,
    remember_me_absolute_lifetime: u64,
    default: bool,
}

#[derive(Arbitrary, Debug)]
enum Call {
    AddKey {
        id: u8,
        key: Vec<u8>,
        null: bool,
    },
    DeriveKey {
        id: u8,
        master: Vec<u8>,
        purpose: Vec<u8>,
        null_purpose: bool,
    },
    Promote {
        id: u8,
    },
    Retire {
        id: u8,
    },
    Seal {
        user_id: u64,
        kind: u8,
        lifetime: u64,
        data: Vec<u8>,
        context: Vec<u8>,
        now: u64,
        cap: u16,
        null_data: bool,
    },
    Open {
        token: Option<Vec<u8>>,
        which: u8,
        cut: u16,
        context: Vec<u8>,
        now: u64,
        policy: PolicyIn,
        null_claims: bool,
    },
    Refresh {
        which: u8,
        context: Vec<u8>,
        now: u64,
        policy: PolicyIn,
        cap: u16,
        want_claims: bool,
    },
    SetRandom {
        mode: u8,
    },
    ShouldRefresh {
        which: u8,
        now: u64,
        policy: PolicyIn,
        data_len: usize,
    },
    CheckRevoked {
        which: u8,
        cutoff: u64,
    },
    Query,
    Strings {
        code: u32,
    },
    KeyIds {
        cap: u8,
    },
    TokenKeyId {
        which: u8,
        cut: u16,
        raw: Vec<u8>,
    },
    LoadKeyset {
        text: Vec<u8>,
        well_formed: Option<(u8, bool)>,
    },
    KeysetCheck {
        text: Vec<u8>,
        cap: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Heap ring (`sesame_keyring_new`) or caller storage (`sesame_keyring_init`).
    caller_storage: bool,
    storage_len: u16,
    misalign: u8,
    calls: Vec<Call>,
}

/// Counter-based fill: deterministic, never fails.
unsafe extern "C" fn fill_ok(user: *mut c_void, buf: *mut u8, len: usize) -> c_int {
    let counter = unsafe { &mut *user.cast::<u64>() };
    for i in 0..len {
        *counter = counter
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        unsafe { buf.add(i).write((*counter >> 33) as u8) };
    }
    0
}

unsafe extern "C" fn fill_fail(_user: *mut c_void, _buf: *mut u8, _len: usize) -> c_int {
    -1
}

/// A heap buffer of exactly `bytes`, so ASan sees any access past its end
/// (and a pointer that is never NULL, even for length 0).
fn exact(bytes: &[u8]) -> Box<[u8]> {
    bytes.to_vec().into_boxed_slice()
}

fn policy_of(p: &PolicyIn) -> sesame_policy {
    if p.default {
        let mut out = core::mem::MaybeUninit::<sesame_policy>::uninit();
        assert_eq!(
            unsafe { sesame_policy_default(out.as_mut_ptr()) },
            SESAME_OK
        );
        return unsafe { out.assume_init() };
    }
    sesame_policy {
        idle_timeout: p.idle_timeout,
        absolute_lifetime: p.absolute_lifetime,
        future_leeway: p.future_leeway,
        revoked_before: p.revoked_before,
        refresh_after: p.refresh_after,
        remember_me_idle_timeout: p.remember_me_idle_timeout,
        remember_me_absolute_lifetime: p.remember_me_absolute_lifetime,
    }
}

fn key_id(id: u8) -> u32 {
    match id % 6 {
        5 => u32::MAX,
        n => u32::from(n),
    }
}

fn zero_claims() -> sesame_claims {
    // SAFETY: sesame_claims is plain integers and byte arrays.
    unsafe { core::mem::zeroed() }
}

fn claims_eq(a: &sesame_claims, b: &sesame_claims) -> bool {
    a.user_id == b.user_id
        && a.session_id == b.session_id
        && a.issued_at == b.issued_at
        && a.refreshed_at == b.refreshed_at
        && a.lifetime == b.lifetime
        && a.kind == b.kind
        && a.data_len == b.data_len
        && a.data[..a.data_len] == b.data[..b.data_len]
}

fn is_untouched(c: &sesame_claims) -> bool {
    claims_eq(c, &zero_claims()) && c.data.iter().all(|&b| b == 0)
}

struct Sealed {
    text: Vec<u8>,
    user_id: u64,
    kind: u8,
    lifetime: u64,
    data: Vec<u8>,
    context: Vec<u8>,
    now: u64,
    claims: Option<sesame_claims>,
}

/// Storage for `sesame_keyring_init`: 16-byte aligned, and large.
#[repr(C, align(16))]
struct Storage([u8; SESAME_KEYRING_STORAGE_BYTES + 16]);

fn check_string(p: *const c_char, may_be_null: bool) {
    if p.is_null() {
        assert!(may_be_null);
        return;
    }
    let s = unsafe { CStr::from_ptr(p) };
    assert!(!s.to_bytes().is_empty());
    assert!(s.to_str().is_ok());
}

fuzz_target!(|input: Input| {
    let mut storage = Box::new(Storage([0; SESAME_KEYRING_STORAGE_BYTES + 16]));
    let mut ring: *mut sesame_keyring = ptr::null_mut();
    if input.caller_storage {
        let offset = usize::from(input.misalign % 17);
        let len = usize::from(input.storage_len).min(SESAME_KEYRING_STORAGE_BYTES + 16 - offset);
        let base = unsafe { storage.0.as_mut_ptr().add(offset) };
        let r = unsafe { sesame_keyring_init(base.cast(), len, &mut ring) };
        let needed = core::mem::size_of::<sesame_keyring>();
        if len < needed {
            assert_eq!(r, SESAME_BUFFER_TOO_SMALL);
        } else if offset % core::mem::align_of::<sesame_keyring>() != 0 {
            assert_eq!(r, SESAME_INVALID_ARGUMENT);
        } else {
            assert_eq!(r, SESAME_OK);
        }
        if r != SESAME_OK {
            assert!(ring.is_null());
            // A proper ring in storage that is big enough and aligned.
            let r = unsafe {
                sesame_keyring_init(
                    storage.0.as_mut_ptr().cast(),
                    SESAME_KEYRING_STORAGE_BYTES,
                    &mut ring,
                )
            };
            assert_eq!(r, SESAME_OK);
        }
    } else {
        assert_eq!(unsafe { sesame_keyring_new(&mut ring) }, SESAME_OK);
    }
    assert!(!ring.is_null());

    let mut counter: u64 = 42;
    let mut tokens: Vec<Sealed> = Vec::new();
    let mut random_fails = false;

    for call in input.calls.into_iter().take(48) {
        match call {
            Call::AddKey { id, key, null } => {
                let k = exact(&key);
                let p = if null { ptr::null() } else { k.as_ptr() };
                let r = unsafe { sesame_keyring_add_key(ring, key_id(id), p, k.len()) };
                if null && !key.is_empty() {
                    assert_eq!(r, SESAME_NULL_ARGUMENT);
                } else if key.len() != SESAME_KEY_BYTES || key.iter().all(|&b| b == 0) {
                    assert_eq!(r, SESAME_INVALID_KEY);
                } else {
                    assert!(
                        matches!(r, SESAME_OK | SESAME_DUPLICATE_KEY_ID | SESAME_RING_FULL),
                        "{r:?}"
                    );
                }
            }
            Call::DeriveKey {
                id,
                master,
                purpose,
                null_purpose,
            } => {
                let m = exact(&master);
                let p = exact(&purpose);
                let pp = if null_purpose {
                    ptr::null()
                } else {
                    p.as_ptr()
                };
                let r = unsafe {
                    sesame_keyring_derive_key(ring, key_id(id), m.as_ptr(), m.len(), pp, p.len())
                };
                if null_purpose && !purpose.is_empty() {
                    assert_eq!(r, SESAME_NULL_ARGUMENT);
                } else if master.is_empty() {
                    assert_eq!(r, SESAME_INVALID_KEY);
                } else {
                    assert!(
                        matches!(r, SESAME_OK | SESAME_DUPLICATE_KEY_ID | SESAME_RING_FULL),
                        "{r:?}"
                    );
                }
            }
            Call::Promote { id } => {
                let r = unsafe { sesame_keyring_promote(ring, key_id(id)) };
                assert!(matches!(r, SESAME_OK | SESAME_UNKNOWN_KEY));
                if r == SESAME_OK {
                    let mut got = 0u32;
                    assert_eq!(
                        unsafe { sesame_keyring_primary_id(ring, &mut got) },
                        SESAME_OK
                    );
                    assert_eq!(got, key_id(id));
                }
            }
            Call::Retire { id } => {
                let r = unsafe { sesame_keyring_retire(ring, key_id(id)) };
                assert!(matches!(r, SESAME_OK | SESAME_UNKNOWN_KEY));
            }
            Call::Seal {
                user_id,
                kind,
                lifetime,
                data,
                context,
                now,
                cap,
                null_data,
            } => {
                // Mostly valid kinds, sometimes one the ABI must refuse.
                let kind = kind % 3;
                let d = exact(&data);
                let c = exact(&context);
                let dp = if null_data { ptr::null() } else { d.as_ptr() };
                let cap = usize::from(cap) % (SESAME_TOKEN_MAX + 8);
                let mut out = vec![0u8; cap].into_boxed_slice();
                let mut len = usize::MAX;
                let r = unsafe {
                    sesame_seal(
                        ring,
                        user_id,
                        kind,
                        lifetime,
                        dp,
                        d.len(),
                        c.as_ptr(),
                        c.len(),
                        now,
                        out.as_mut_ptr().cast(),
                        cap,
                        &mut len,
                    )
                };
                if r != SESAME_OK {
                    assert_eq!(len, usize::MAX, "length written on failure");
                    assert!(out.iter().all(|&b| b == 0), "token written on failure");
                }
                if null_data && !data.is_empty() {
                    assert_eq!(r, SESAME_NULL_ARGUMENT);
                    continue;
                }
                match r {
                    SESAME_OK => {
                        assert!(len < cap && out[len] == 0);
                        let text = out[..len].to_vec();
                        assert!(text
                            .iter()
                            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'));
                        assert!(!random_fails);
                        tokens.push(Sealed {
                            text,
                            user_id,
                            kind,
                            lifetime,
                            data,
                            context,
                            now,
                            claims: None,
                        });
                    }
                    SESAME_BUFFER_TOO_SMALL => assert!(cap <= SESAME_TOKEN_MAX),
                    SESAME_INVALID_ARGUMENT => assert!(kind > SESAME_SESSION_KIND_REMEMBER_ME),
                    SESAME_DATA_TOO_LONG => assert!(data.len() > SESAME_DATA_MAX),
                    SESAME_CONTEXT_TOO_LONG => assert!(context.len() > SESAME_CONTEXT_MAX),
                    SESAME_RANDOM_FAILED => assert!(random_fails),
                    SESAME_NO_PRIMARY_KEY => {
                        let mut id = 0u32;
                        assert_eq!(
                            unsafe { sesame_keyring_primary_id(ring, &mut id) },
                            SESAME_NO_PRIMARY_KEY
                        );
                    }
                    other => panic!("seal: {other:?}"),
                }
            }
            Call::Open {
                token,
                which,
                cut,
                context,
                now,
                policy,
                null_claims,
            } => {
                let (text, sealed) = match token {
                    Some(t) => (t, None),
                    None if !tokens.is_empty() => {
                        let i = usize::from(which) % tokens.len();
                        let mut t = tokens[i].text.clone();
                        // Sometimes truncated.
                        if cut > 0 {
                            t.truncate(t.len().saturating_sub(usize::from(cut % 8)));
                        }
                        (t, Some(i).filter(|_| cut == 0))
                    }
                    None => continue,
                };
                let t = exact(&text);
                let ctx = match sealed {
                    Some(i) if context.len() % 2 == 0 => tokens[i].context.clone(),
                    _ => context,
                };
                let c = exact(&ctx);
                let pol = policy_of(&policy);
                let mut claims = zero_claims();
                let out: *mut sesame_claims = if null_claims {
                    ptr::null_mut()
                } else {
                    &mut claims
                };
                let r = unsafe {
                    sesame_open(
                        ring,
                        t.as_ptr().cast(),
                        t.len(),
                        c.as_ptr(),
                        c.len(),
                        &pol,
                        now,
                        out,
                    )
                };
                if null_claims {
                    assert_eq!(r, SESAME_NULL_ARGUMENT);
                    continue;
                }
                if r != SESAME_OK {
                    assert!(is_untouched(&claims), "claims written on failure");
                }
                // The context's bound is checked before the token's (the core's order).
                if c.len() > SESAME_CONTEXT_MAX {
                    assert_eq!(r, SESAME_CONTEXT_TOO_LONG);
                } else if text.len() > SESAME_TOKEN_MAX {
                    assert_eq!(r, SESAME_TOO_LONG);
                }
                assert!(
                    r == SESAME_OK || (1..=9).contains(&(r as u32)) || r == SESAME_CONTEXT_TOO_LONG,
                    "open: {r:?}"
                );
                if let (Some(i), SESAME_OK) = (sealed, r) {
                    let s = &mut tokens[i];
                    assert_eq!(claims.user_id, s.user_id);
                    assert_eq!(claims.lifetime, s.lifetime);
                    assert_eq!(claims.kind, s.kind);
                    assert_eq!(&claims.data[..claims.data_len], &s.data[..]);
                    assert_eq!(claims.issued_at, s.now);
                    assert_eq!(ctx, s.context);
                    if let Some(prev) = &s.claims {
                        assert!(claims_eq(prev, &claims));
                    }
                    s.claims = Some(claims);
                }
            }
            Call::Refresh {
                which,
                context,
                now,
                policy,
                cap,
                want_claims,
            } => {
                if tokens.is_empty() {
                    continue;
                }
                let i = usize::from(which) % tokens.len();
                let t = exact(&tokens[i].text);
                let ctx = if context.is_empty() {
                    tokens[i].context.clone()
                } else {
                    context
                };
                let c = exact(&ctx);
                let pol = policy_of(&policy);
                let cap = usize::from(cap) % (SESAME_TOKEN_MAX + 8);
                let mut out = vec![0u8; cap].into_boxed_slice();
                let mut len = usize::MAX;
                let mut claims = zero_claims();
                let cp: *mut sesame_claims = if want_claims {
                    &mut claims
                } else {
                    ptr::null_mut()
                };
                let r = unsafe {
                    sesame_refresh(
                        ring,
                        t.as_ptr().cast(),
                        t.len(),
                        c.as_ptr(),
                        c.len(),
                        &pol,
                        now,
                        out.as_mut_ptr().cast(),
                        cap,
                        &mut len,
                        cp,
                    )
                };
                if r == SESAME_OK {
                    assert!(len < cap && out[len] == 0);
                    if want_claims {
                        assert_eq!(claims.user_id, tokens[i].user_id);
                        assert_eq!(claims.issued_at, tokens[i].now);
                        assert_eq!(claims.refreshed_at, now.max(claims.issued_at));
                        assert_eq!(claims.kind, tokens[i].kind);
                    }
                    let (user_id, kind, lifetime, data, created) = (
                        tokens[i].user_id,
                        tokens[i].kind,
                        tokens[i].lifetime,
                        tokens[i].data.clone(),
                        tokens[i].now,
                    );
                    tokens.push(Sealed {
                        text: out[..len].to_vec(),
                        user_id,
                        kind,
                        lifetime,
                        data,
                        context: ctx,
                        now: created,
                        claims: None,
                    });
                } else {
                    assert_eq!(len, usize::MAX);
                    assert!(out.iter().all(|&b| b == 0));
                    assert!(is_untouched(&claims));
                }
            }
            Call::SetRandom { mode } => {
                let (f, fails): (sesame_random_fn, bool) = match mode % 3 {
                    0 => (None, false),
                    1 => (Some(fill_ok), false),
                    _ => (Some(fill_fail), true),
                };
                let user = (&mut counter as *mut u64).cast::<c_void>();
                assert_eq!(
                    unsafe { sesame_keyring_set_random(ring, f, user) },
                    SESAME_OK
                );
                random_fails = fails;
            }
            Call::ShouldRefresh {
                which,
                now,
                policy,
                data_len,
            } => {
                let pol = policy_of(&policy);
                let mut claims = tokens
                    .get(usize::from(which) % tokens.len().max(1))
                    .and_then(|t| t.claims)
                    .unwrap_or_else(zero_claims);
                claims.data_len = data_len;
                let mut due: c_int = -1;
                let r = unsafe { sesame_should_refresh(&pol, &claims, now, &mut due) };
                if data_len > SESAME_DATA_MAX {
                    assert_eq!(r, SESAME_INVALID_ARGUMENT);
                    assert_eq!(due, -1);
                } else {
                    assert_eq!(r, SESAME_OK);
                    let expect = now >= claims.refreshed_at.saturating_add(pol.refresh_after);
                    assert_eq!(due, c_int::from(expect));
                }
            }
            Call::CheckRevoked { which, cutoff } => {
                let claims = tokens
                    .get(usize::from(which) % tokens.len().max(1))
                    .and_then(|t| t.claims)
                    .unwrap_or_else(zero_claims);
                let r = unsafe { sesame_check_revoked_before(&claims, cutoff) };
                let expect = if claims.issued_at < cutoff {
                    SESAME_REVOKED
                } else {
                    SESAME_OK
                };
                assert_eq!(r, expect);
            }
            Call::Query => {
                let mut n = usize::MAX;
                assert_eq!(unsafe { sesame_keyring_len(ring, &mut n) }, SESAME_OK);
                assert!(n <= SESAME_RING_CAPACITY);
                assert_eq!(
                    unsafe { sesame_keyring_len(ring, ptr::null_mut()) },
                    SESAME_NULL_ARGUMENT
                );
                assert_eq!(
                    unsafe { sesame_keyring_len(ptr::null(), &mut n) },
                    SESAME_NULL_ARGUMENT
                );
                let mut id = 0u32;
                let r = unsafe { sesame_keyring_primary_id(ring, &mut id) };
                assert!(matches!(r, SESAME_OK | SESAME_NO_PRIMARY_KEY));
                if n == 0 {
                    assert_eq!(r, SESAME_NO_PRIMARY_KEY);
                }
            }
            Call::Strings { code } => {
                check_string(sesame_strerror(code), false);
                check_string(sesame_result_name(code), true);
                check_string(sesame_version(), false);
                let known = code <= 22 || (100..=102).contains(&code);
                assert_eq!(sesame_result_name(code).is_null(), !known);
            }
            Call::KeyIds { cap } => {
                let cap = usize::from(cap % 10);
                let mut ids = [u32::MAX; 9];
                let mut count = usize::MAX;
                let mut len = 0usize;
                assert_eq!(unsafe { sesame_keyring_len(ring, &mut len) }, SESAME_OK);
                let r = unsafe { sesame_keyring_key_ids(ring, ids.as_mut_ptr(), cap, &mut count) };
                if cap < len {
                    assert_eq!(r, SESAME_BUFFER_TOO_SMALL);
                    assert_eq!(count, usize::MAX, "nothing written on failure");
                } else {
                    assert_eq!(r, SESAME_OK);
                    assert_eq!(count, len);
                    assert!(ids[..count].windows(2).all(|w| w[0] < w[1]));
                    assert!(ids[count..].iter().all(|&id| id == u32::MAX));
                }
            }
            Call::TokenKeyId { which, cut, raw } => {
                let text = if tokens.is_empty() {
                    raw
                } else {
                    let t = &tokens[usize::from(which) % tokens.len()].text;
                    t[..t.len().min(usize::from(cut))].to_vec()
                };
                let mut id = u32::MAX;
                let r = unsafe { sesame_token_key_id(text.as_ptr().cast(), text.len(), &mut id) };
                assert!(matches!(
                    r,
                    SESAME_OK | SESAME_MALFORMED | SESAME_TOO_LONG | SESAME_UNSUPPORTED_VERSION
                ));
                if r != SESAME_OK {
                    assert_eq!(id, u32::MAX, "nothing written on failure");
                }
            }
            Call::LoadKeyset { text, well_formed } => {
                // Mostly arbitrary bytes; sometimes a keyset that parses, so
                // the replace path runs too.
                let text = match well_formed {
                    Some((id, primary)) => format!(
                        "sesame-keyset/1\nkey id={id} status={} created=1 raw=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\n",
                        if primary { "primary" } else { "decrypt-only" }
                    )
                    .into_bytes(),
                    None => text,
                };
                let (mut before, mut after) = ((0usize, 0u32), (0usize, 0u32));
                unsafe {
                    sesame_keyring_len(ring, &mut before.0);
                    sesame_keyring_primary_id(ring, &mut before.1);
                }
                let r =
                    unsafe { sesame_keyring_load_keyset(ring, text.as_ptr().cast(), text.len()) };
                unsafe {
                    sesame_keyring_len(ring, &mut after.0);
                    sesame_keyring_primary_id(ring, &mut after.1);
                }
                let mut message = [0u8; 64];
                let mut message_len = 0usize;
                let checked = unsafe {
                    sesame_keyset_check(
                        text.as_ptr().cast(),
                        text.len(),
                        message.as_mut_ptr().cast(),
                        message.len(),
                        &mut message_len,
                    )
                };
                match r {
                    SESAME_OK => assert_eq!(checked, SESAME_OK),
                    SESAME_INVALID_KEYSET => {
                        assert_eq!(checked, SESAME_INVALID_KEYSET);
                        assert_eq!(before, after, "a bad keyset changes nothing");
                    }
                    other => panic!("load_keyset returned {other:?}"),
                }
            }
            Call::KeysetCheck { text, cap } => {
                let cap = usize::from(cap);
                let mut message = vec![0xAAu8; cap];
                let mut message_len = usize::MAX;
                let r = unsafe {
                    sesame_keyset_check(
                        text.as_ptr().cast(),
                        text.len(),
                        message.as_mut_ptr().cast(),
                        cap,
                        &mut message_len,
                    )
                };
                match r {
                    SESAME_OK => assert_eq!(message_len, usize::MAX),
                    SESAME_INVALID_KEYSET => {
                        assert!(message_len < cap && message[message_len] == 0);
                        assert!(core::str::from_utf8(&message[..message_len]).is_ok());
                    }
                    SESAME_BUFFER_TOO_SMALL => assert_eq!(cap, 0),
                    other => panic!("keyset_check returned {other:?}"),
                }
            }
        }
    }
    unsafe { sesame_keyring_free(ring) };
});
