//! Seal, open and refresh never touch the heap: a counting global allocator
//! sees no allocation on this thread while they run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sesame::{ForkSafeRng, KeyRing, NewSession, Policy, TOKEN_MAX};

struct CountingAllocator;

std::thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn seal_open_refresh_do_not_allocate() {
    let mut ring: KeyRing = KeyRing::new();
    ring.add_key(1, &[3; 32]).unwrap();
    let mut rng = ForkSafeRng::new();
    let policy = Policy::default();
    let now = 1_700_000_000;
    let session = NewSession {
        kind: sesame::SessionKind::Browser,
        user_id: 123_456,
        lifetime: Some(3_600),
        data: b"csrf=abc",
    };
    let mut token = [0u8; TOKEN_MAX];
    let mut refreshed = [0u8; TOKEN_MAX];
    // Warm up: the first draw seeds this thread's generator.
    ring.seal(&session, b"ctx", now, &mut rng, &mut token)
        .unwrap();

    let before = allocations();
    let mut opened = 0;
    for i in 0..1_000 {
        let len = ring
            .seal(&session, b"ctx", now + i, &mut rng, &mut token)
            .unwrap();
        let claims = ring.open(&token[..len], b"ctx", &policy, now + i).unwrap();
        let (_, refreshed_len) = ring
            .refresh(
                &token[..len],
                b"ctx",
                &policy,
                now + i + 1,
                &mut rng,
                &mut refreshed,
            )
            .unwrap();
        let _ = ring.seal_token(&session, b"ctx", now, &mut rng).unwrap();
        assert!(ring
            .open(&refreshed[..refreshed_len], b"other", &policy, now + i)
            .is_err());
        opened += claims.user_id;
    }
    let after = allocations();
    assert_eq!(opened, 123_456 * 1_000);
    assert_eq!(after - before, 0, "seal/open/refresh allocated");

    // The counter itself works: a Vec on this thread is seen.
    let v: Vec<u8> = Vec::with_capacity(16);
    assert_eq!(allocations(), after + 1);
    drop(v);
}
