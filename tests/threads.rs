//! Many threads seal and open through one shared ring; every token opens as
//! exactly the user it was sealed for, including tokens made by other threads.

use std::sync::{mpsc, Arc};
use std::thread;

use sesame::{ForkSafeRng, KeyRing, NewSession, Policy};

#[test]
fn concurrent_sessions_never_cross_users() {
    let mut ring: KeyRing = KeyRing::new();
    ring.add_derived_key(1, b"shared master", b"threads")
        .unwrap();
    let ring = Arc::new(ring);
    let (sender, receiver) = mpsc::channel::<(u64, String)>();
    // Under miri (an interpreter) a handful of tokens already takes minutes.
    let (threads, per_thread) = if cfg!(miri) { (2, 2u64) } else { (8, 2_000u64) };
    let now = 1_700_000_000;
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let ring = Arc::clone(&ring);
            let sender = sender.clone();
            thread::spawn(move || {
                let mut rng = ForkSafeRng::new();
                for i in 0..per_thread {
                    let user = t * 1_000_000 + i;
                    let data = user.to_le_bytes();
                    let session = NewSession {
                        kind: sesame::SessionKind::Browser,
                        user_id: user,
                        lifetime: None,
                        data: &data,
                    };
                    let token = ring.seal_token(&session, &data, now, &mut rng).unwrap();
                    let claims = ring.open(&token, &data, &Policy::default(), now).unwrap();
                    assert_eq!(claims.user_id, user);
                    assert_eq!(&claims.data[..], &data);
                    sender.send((user, token.to_string())).unwrap();
                }
            })
        })
        .collect();
    drop(sender);
    // Open every token on another thread than the one that made it.
    let mut seen = std::collections::HashSet::new();
    let mut session_ids = std::collections::HashSet::new();
    for (user, token) in receiver {
        let claims = ring
            .open(&token, &user.to_le_bytes(), &Policy::default(), now)
            .unwrap();
        assert_eq!(claims.user_id, user);
        assert!(seen.insert(user));
        assert!(
            session_ids.insert(claims.session_id),
            "session ID drawn twice"
        );
    }
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(seen.len() as u64, threads * per_thread);
}

/// Threads seal, open and refresh through a `SharedKeyRing` while another
/// adds, promotes and retires keys with no lock: every token opens as its
/// own user, and the only failure is `UnknownKey` for a token whose key the
/// rotator had retired by then.
#[test]
fn key_rotation_while_threads_seal_and_open() {
    use sesame::{Error, SharedKeyRing};
    use std::sync::atomic::{AtomicU32, Ordering};

    const KEEP_KEYS: u32 = 3;
    let key = |id: u32| {
        let mut key = [1u8; 32];
        key[..4].copy_from_slice(&id.to_le_bytes());
        key
    };
    let ring = Arc::new(SharedKeyRing::<8>::new());
    ring.add_key(1, &key(1)).unwrap();
    let newest = Arc::new(AtomicU32::new(1));
    let (rotations, operations) = if cfg!(miri) {
        (2u32, 2u64)
    } else {
        (2_000, 5_000)
    };
    let now = 1_700_000_000;
    let readers: Vec<_> = (0..3u64)
        .map(|t| {
            let (ring, newest) = (Arc::clone(&ring), Arc::clone(&newest));
            thread::spawn(move || {
                let mut rng = ForkSafeRng::new();
                let mut retired_under_us = 0;
                for i in 0..operations {
                    let user = t << 32 | i;
                    let token = ring
                        .seal_token(&NewSession::new(user), b"", now, &mut rng)
                        .unwrap();
                    match ring.refresh_token(&token, b"", &Policy::default(), now, &mut rng) {
                        Ok((claims, fresh)) => {
                            assert_eq!(claims.user_id, user);
                            match ring.open(&fresh, b"", &Policy::default(), now) {
                                Ok(claims) => assert_eq!(claims.user_id, user),
                                Err(Error::UnknownKey) => retired_under_us += 1,
                                Err(other) => panic!("{other:?}"),
                            }
                        }
                        Err(Error::UnknownKey) => {
                            let id = sesame::token_key_id(&token).unwrap();
                            assert!(id + KEEP_KEYS <= newest.load(Ordering::SeqCst));
                            retired_under_us += 1;
                        }
                        Err(other) => panic!("{other:?}"),
                    }
                }
                retired_under_us
            })
        })
        .collect();
    for id in 2..rotations + 2 {
        ring.add_key(id, &key(id)).unwrap();
        ring.promote(id).unwrap();
        newest.store(id, Ordering::SeqCst);
        if id > KEEP_KEYS {
            ring.retire(id - KEEP_KEYS).unwrap();
        }
    }
    for reader in readers {
        let retired_under_us = reader.join().unwrap();
        assert!(retired_under_us <= operations);
    }
    assert_eq!(
        ring.key_ids(),
        (rotations + 2 - KEEP_KEYS..rotations + 2).collect::<Vec<_>>()
    );
    assert_eq!(ring.primary_id(), Some(rotations + 1));
}
