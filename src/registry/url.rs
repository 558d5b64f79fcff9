//! Opening a store by URL:
//!
//! ```text
//! memory://?capacity=N                 in-process (default capacity 10000)
//! sqlite:///path/to/file.db            feature registry-sqlite; ?busy_timeout_ms=5000
//! redis://127.0.0.1:6379/0             feature registry-redis; ?prefix=sesame&timeout_ms=2000
//! ```

use super::{MemoryStore, RegistryError, RegistryStore};
use std::boxed::Box;

/// The `key=value` pairs after `?`.
pub(crate) fn query(url: &str) -> (&str, std::vec::Vec<(&str, &str)>) {
    match url.split_once('?') {
        None => (url, std::vec::Vec::new()),
        Some((base, q)) => (
            base,
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| p.split_once('=').unwrap_or((p, "")))
                .collect(),
        ),
    }
}

pub(crate) fn number(value: &str) -> Result<u64, RegistryError> {
    value.parse().map_err(|_| RegistryError::InvalidUrl)
}

/// The store a URL names.
pub fn open_store(url: &str) -> Result<Box<dyn RegistryStore + Send>, RegistryError> {
    let scheme = url.split_once("://").map(|(s, _)| s);
    match scheme {
        Some("memory") => {
            let (_, params) = query(url);
            let mut capacity = 10_000usize;
            for (k, v) in params {
                match k {
                    "capacity" => capacity = number(v)? as usize,
                    _ => return Err(RegistryError::InvalidUrl),
                }
            }
            Ok(Box::new(MemoryStore::with_capacity(capacity)))
        }
        #[cfg(feature = "registry-sqlite")]
        Some("sqlite") => Ok(Box::new(super::SqliteStore::open_url(url)?)),
        #[cfg(feature = "registry-redis")]
        Some("redis") => Ok(Box::new(super::RedisStore::open_url(url)?)),
        #[allow(unreachable_patterns)]
        Some("sqlite" | "redis" | "rediss") => Err(RegistryError::Unsupported),
        _ => Err(RegistryError::InvalidUrl),
    }
}
