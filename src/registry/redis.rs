//! The Redis store (feature `registry-redis`): every operation is one
//! EVALSHA of redis.lua (the script is loaded by `EVAL` the first time, or
//! again after a server restart: `redis::Script` retries on NOSCRIPT).
//!
//! Key layout: one hash per user, `<prefix>:{<user_id>}:sessions`, field =
//! the session ID in hex, value = the entry (cmsgpack). The `{user_id}` hash
//! tag keeps a user in one Redis Cluster slot, and the key's TTL follows the
//! latest expiry of its entries.

use super::url::{number, query};
use super::{
    label, Entry, Fingerprint, Op, Outcome, RegistryConfig, RegistryError, RegistryStore,
    SessionKind, Verdict,
};
use redis::{Client, Connection, RedisError, Script};
use std::string::String;
use std::time::Duration;
use std::vec::Vec;

const LUA: &str = include_str!("redis.lua");

/// The script, with its SHA-1 computed once per process.
fn script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(LUA))
}

/// A registry in Redis. Survives `fork()`: a child process never writes to
/// its parent's socket and connects anew.
pub struct RedisStore {
    client: Client,
    prefix: String,
    timeout: Duration,
    conn: Option<Connection>,
    pid: u32,
}

/// A store dropped in a forked child leaves the parent's socket alone (a
/// close could send nothing harmful, but a buffered write could).
impl Drop for RedisStore {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            if let Some(inherited) = self.conn.take() {
                core::mem::forget(inherited);
            }
        }
    }
}

impl core::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

fn fail(e: RedisError) -> RegistryError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        RegistryError::Unavailable
    } else if e.kind() == redis::ErrorKind::Parse
        || e.kind() == redis::ErrorKind::UnexpectedReturnType
    {
        RegistryError::Corrupt
    } else {
        RegistryError::Unavailable
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push_str(&std::format!("{b:02x}"));
    }
    s
}

fn unhex<const N: usize>(text: &str) -> Result<[u8; N], RegistryError> {
    let t = text.as_bytes();
    if t.len() != 2 * N {
        return Err(RegistryError::Corrupt);
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(RegistryError::Corrupt),
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(t[2 * i])? << 4) | nibble(t[2 * i + 1])?;
    }
    Ok(out)
}

type ListRow = (
    String,
    u8,
    u64,
    u64,
    u64,
    String,
    u8,
    String,
    u64,
    Vec<u8>,
    Vec<u8>,
);

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); `prefix` starts every key;
    /// `timeout` bounds connecting, reading and writing.
    pub fn open(url: &str, prefix: &str, timeout: Duration) -> Result<Self, RegistryError> {
        let client = Client::open(url).map_err(|_| RegistryError::InvalidUrl)?;
        let mut store = RedisStore {
            client,
            prefix: prefix.into(),
            timeout,
            conn: None,
            pid: std::process::id(),
        };
        store.conn()?;
        Ok(store)
    }

    /// `redis://127.0.0.1:6379/0?prefix=sesame&timeout_ms=2000`.
    pub fn open_url(url: &str) -> Result<Self, RegistryError> {
        let (base, params) = query(url);
        let mut prefix = "sesame";
        let mut timeout = Duration::from_millis(2000);
        for (k, v) in params {
            match k {
                "prefix" if !v.is_empty() => prefix = v,
                "timeout_ms" => timeout = Duration::from_millis(number(v)?),
                _ => return Err(RegistryError::InvalidUrl),
            }
        }
        RedisStore::open(base, prefix, timeout)
    }

    /// The key of one user's sessions.
    pub fn user_key(&self, user_id: u64) -> String {
        std::format!("{}:{{{}}}:sessions", self.prefix, user_id)
    }

    /// The connection of this process, made anew after a fork or a failure.
    fn conn(&mut self) -> Result<&mut Connection, RegistryError> {
        let pid = std::process::id();
        if pid != self.pid {
            // The parent's socket: never read or write it from here.
            if let Some(inherited) = self.conn.take() {
                core::mem::forget(inherited);
            }
            self.pid = pid;
        }
        if self.conn.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(self.timeout)
                .map_err(fail)?;
            conn.set_read_timeout(Some(self.timeout)).map_err(fail)?;
            conn.set_write_timeout(Some(self.timeout)).map_err(fail)?;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    fn run(
        &mut self,
        config: &RegistryConfig,
        op: &Op<'_>,
        now: u64,
        list: &mut [Entry],
    ) -> Result<Outcome, RedisOrRegistry> {
        let user_id = op.user_id();
        let key = self.user_key(user_id);
        let mut inv = script().key(key);
        let name = match op {
            Op::Register(_) => "register",
            Op::Check { .. } => "check",
            Op::Peek { .. } => "peek",
            Op::Refresh { .. } => "refresh",
            Op::List { .. } => "list",
            Op::Revoke { .. } => "revoke",
            Op::RevokeAll { .. } => "revoke_all",
            Op::RevokeOthers { .. } => "revoke_others",
            Op::Logout { .. } => "logout",
        };
        inv.arg(name)
            .arg(now)
            .arg(config.max_sessions)
            .arg(config.grace)
            .arg(config.touch_interval)
            .arg(config.tombstone_ttl)
            .arg(config.browser.idle_timeout)
            .arg(config.browser.absolute_lifetime)
            .arg(config.remember_me.idle_timeout)
            .arg(config.remember_me.absolute_lifetime);
        match *op {
            Op::Register(ref l) => {
                inv.arg(hex(&l.session_id))
                    .arg(hex(&l.fingerprint.0))
                    .arg(l.kind as u8)
                    .arg(label::<{ super::DEVICE_MAX }>(l.device).as_str())
                    .arg(label::<{ super::IP_MAX }>(l.ip).as_str());
            }
            Op::Check {
                session_id,
                fingerprint,
                ..
            }
            | Op::Logout {
                session_id,
                fingerprint,
                ..
            } => {
                inv.arg(hex(&session_id)).arg(hex(&fingerprint.0));
            }
            Op::Refresh {
                session_id,
                old,
                new,
                ..
            } => {
                inv.arg(hex(&session_id)).arg(hex(&old.0)).arg(hex(&new.0));
            }
            Op::Peek { session_id, .. } | Op::Revoke { session_id, .. } => {
                inv.arg(hex(&session_id));
            }
            Op::RevokeOthers { keep, .. } => {
                inv.arg(hex(&keep));
            }
            Op::List { .. } | Op::RevokeAll { .. } => {}
        }
        let conn = self.conn().map_err(RedisOrRegistry::Registry)?;
        if let Op::List { .. } = op {
            let rows: Vec<ListRow> = inv.invoke(conn).map_err(RedisOrRegistry::Redis)?;
            for (slot, row) in list.iter_mut().zip(rows.iter()) {
                let (sid, kind, created, last, expires, fp, seen, prev, rotated, device, ip) = row;
                *slot = Entry {
                    user_id,
                    session_id: unhex(sid)?,
                    kind: SessionKind::from_code(*kind).ok_or(RegistryError::Corrupt)?,
                    created_at: *created,
                    last_seen_at: *last,
                    expires_at: *expires,
                    device: label(&String::from_utf8_lossy(device)),
                    ip: label(&String::from_utf8_lossy(ip)),
                    fingerprint: Fingerprint(unhex(fp)?),
                    fingerprint_seen: *seen != 0,
                    previous: match prev.as_str() {
                        "" => None,
                        p => Some(Fingerprint(unhex(p)?)),
                    },
                    rotated_at: *rotated,
                    ended: None,
                    ended_at: 0,
                };
            }
            return Ok(Outcome {
                verdict: Verdict::Live,
                count: rows.len() as u32,
            });
        }
        let (verdict, count): (u8, u32) = inv.invoke(conn).map_err(RedisOrRegistry::Redis)?;
        Ok(Outcome {
            verdict: Verdict::from_code(verdict).ok_or(RegistryError::Corrupt)?,
            count,
        })
    }
}

enum RedisOrRegistry {
    Redis(RedisError),
    Registry(RegistryError),
}

impl From<RegistryError> for RedisOrRegistry {
    fn from(e: RegistryError) -> Self {
        RedisOrRegistry::Registry(e)
    }
}

impl RegistryStore for RedisStore {
    fn execute(
        &mut self,
        config: &RegistryConfig,
        op: &Op<'_>,
        now: u64,
        list: &mut [Entry],
    ) -> Result<Outcome, RegistryError> {
        match self.run(config, op, now, list) {
            Ok(outcome) => Ok(outcome),
            Err(RedisOrRegistry::Registry(e)) => Err(e),
            Err(RedisOrRegistry::Redis(e)) => {
                // A broken connection is dropped; the next call reconnects
                // (this one is not retried: it may have been applied).
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.conn = None;
                }
                Err(fail(e))
            }
        }
    }

    fn prune(&mut self, _now: u64) -> Result<usize, RegistryError> {
        // Keys expire by their TTL; expired entries inside a live key go the
        // next time that user's key is touched.
        Ok(0)
    }
}
