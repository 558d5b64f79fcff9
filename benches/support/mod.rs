//! What every criterion bench here shares.

use std::time::Duration;

use criterion::Criterion;

/// Criterion trimmed to 1 s warm-up and 3 s per benchmark, or, with
/// `SESAME_BENCH_QUICK=1`, 0.3 s, 1 s and 20 samples.
pub fn config() -> Criterion {
    let c = Criterion::default();
    if std::env::var_os("SESAME_BENCH_QUICK").is_some_and(|v| v != "0") {
        c.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1000))
            .sample_size(20)
    } else {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}
