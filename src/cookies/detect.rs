//! Reporting the evidence of a shared cache replaying responses.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::RequestCookies;

/// A request that carried foreign session cookies. `Display` gives the warn
/// line a binding logs (no cookie values, never a token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// Foreign session cookies in this request.
    pub foreign_sessions: usize,
    /// Detections counted so far by the reporter, this one included.
    pub total: u64,
}

impl Detection {
    /// The detection in `request`, if it carried foreign session cookies
    /// (`total` is 0: not counted by any reporter).
    pub fn of(request: &RequestCookies<'_>) -> Option<Detection> {
        match request.foreign_sessions() {
            0 => None,
            foreign_sessions => Some(Detection {
                foreign_sessions,
                total: 0,
            }),
        }
    }
}

impl fmt::Display for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sesame: a request carried {} session cookie(s) of other browsers ({} such requests so far): \
             a shared cache is probably storing responses with Set-Cookie and replaying them \
             (check that its cache key and TTL honour Cache-Control: private, no-store); \
             sessions are not affected; see docs/COOKIES.md",
            self.foreign_sessions, self.total
        )
    }
}

/// Counts detections and rate-limits their log lines, across threads.
///
/// The evidence is logged and counted, never acted on: a client can send
/// foreign-looking cookies at will. Lock-free (two atomics), `no_std`, and
/// usable in a `static`. Times are the caller's unix seconds.
#[derive(Debug)]
pub struct DetectionReporter {
    /// Low bits of the time of the last line (wrapping), or `NEVER`.
    last: AtomicUsize,
    total: AtomicUsize,
    interval: usize,
}

const NEVER: usize = usize::MAX;

impl Default for DetectionReporter {
    fn default() -> Self {
        DetectionReporter::new()
    }
}

impl DetectionReporter {
    /// At most one line a minute.
    pub const fn new() -> Self {
        DetectionReporter::with_interval(60)
    }

    /// At most one line per `seconds`.
    pub const fn with_interval(seconds: u32) -> Self {
        DetectionReporter {
            last: AtomicUsize::new(NEVER),
            total: AtomicUsize::new(0),
            interval: seconds as usize,
        }
    }

    /// Counts one detection at `now`; true if a line should be logged (the
    /// first detection, then at most one per interval). A clock that steps
    /// back does not cause extra lines.
    pub fn should_log(&self, now: u64) -> bool {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut now = now as usize;
        if now == NEVER {
            now = NEVER - 1;
        }
        let mut last = self.last.load(Ordering::Relaxed);
        loop {
            if last != NEVER {
                // Signed wrapping difference: back-steps count as "recent".
                let elapsed = now.wrapping_sub(last) as isize;
                if elapsed < self.interval as isize {
                    return false;
                }
            }
            match self
                .last
                .compare_exchange_weak(last, now, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => last = seen,
            }
        }
    }

    /// Counts `request`'s detection, if it has one, and returns it when a
    /// line should be logged.
    pub fn report(&self, request: &RequestCookies<'_>, now: u64) -> Option<Detection> {
        let detection = Detection::of(request)?;
        let log = self.should_log(now);
        log.then(|| Detection {
            total: self.total(),
            ..detection
        })
    }

    /// Detections counted so far (wraps at `usize::MAX`).
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed) as u64
    }
}
