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
    let threads = 8;
    let per_thread = 2_000u64;
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
