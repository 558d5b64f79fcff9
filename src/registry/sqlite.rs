//! The SQLite store (feature `registry-sqlite`): one table, one file shared
//! by every process of a site (WAL mode, a busy timeout). Each operation
//! loads the user's rows inside one transaction, applies [`rules::apply`],
//! and writes back the rows that changed. `check`, the hot path, first runs
//! in a read transaction and takes the write lock only when it has
//! something to write (first sight of a token, last-seen, theft).
//!
//! ```sql
//! CREATE TABLE sesame_sessions (
//!   user_id INTEGER NOT NULL,          -- u64 bits as i64
//!   session_id BLOB NOT NULL,          -- 16 bytes
//!   kind INTEGER NOT NULL,             -- 0 browser, 1 remember me
//!   created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL,
//!   expires_at INTEGER NOT NULL,       -- row is dropped from this second on
//!   device TEXT NOT NULL, ip TEXT NOT NULL,
//!   fingerprint BLOB NOT NULL,         -- current token, 16 bytes
//!   fingerprint_seen INTEGER NOT NULL,
//!   previous BLOB,                     -- superseded token or NULL
//!   rotated_at INTEGER NOT NULL,
//!   ended INTEGER,                     -- NULL live; EndReason code of a tombstone
//!   ended_at INTEGER NOT NULL,
//!   PRIMARY KEY (user_id, session_id)
//! ) WITHOUT ROWID;
//! CREATE INDEX sesame_sessions_expiry ON sesame_sessions (expires_at);
//! ```

use super::url::{number, query};
use super::{
    label, rules, EndReason, Entry, Fingerprint, Op, Outcome, RegistryConfig, RegistryError,
    RegistryStore, SessionKind,
};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::string::String;
use std::time::Duration;
use std::vec::Vec;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sesame_sessions (
  user_id INTEGER NOT NULL,
  session_id BLOB NOT NULL,
  kind INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  device TEXT NOT NULL,
  ip TEXT NOT NULL,
  fingerprint BLOB NOT NULL,
  fingerprint_seen INTEGER NOT NULL,
  previous BLOB,
  rotated_at INTEGER NOT NULL,
  ended INTEGER,
  ended_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, session_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sesame_sessions_expiry ON sesame_sessions (expires_at);
";

const COLUMNS: &str = "user_id, session_id, kind, created_at, last_seen_at, expires_at, device, \
    ip, fingerprint, fingerprint_seen, previous, rotated_at, ended, ended_at";

/// A registry in one SQLite file. Survives `fork()`: a child process never
/// touches its parent's connection (SQLite forbids it) and opens its own.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    busy_timeout: Duration,
    conn: Option<Connection>,
    pid: u32,
}

/// A store dropped in a forked child must not close the parent's
/// connection either: closing drops POSIX locks the parent holds.
impl Drop for SqliteStore {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            if let Some(inherited) = self.conn.take() {
                core::mem::forget(inherited);
            }
        }
    }
}

fn fail(e: rusqlite::Error) -> RegistryError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => RegistryError::Busy,
        // The file system is full: the store cannot take the write, as a
        // full memory store cannot; reads still answer.
        Some(ErrorCode::DiskFull) => RegistryError::Full,
        Some(_) => RegistryError::Unavailable,
        None => match e {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => RegistryError::Corrupt,
            _ => RegistryError::Unavailable,
        },
    }
}

/// Times and IDs as SQLite integers: u64 bits (IDs) and times clamped to
/// i64::MAX (so `expires_at <= now` compares as numbers).
fn time(t: u64) -> i64 {
    t.min(i64::MAX as u64) as i64
}

impl SqliteStore {
    /// Opens (creating if needed) the registry in `path`; waits up to
    /// `busy_timeout` for another process's write lock.
    pub fn open(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<Self, RegistryError> {
        let mut store = SqliteStore {
            path: path.as_ref().to_path_buf(),
            busy_timeout,
            conn: None,
            pid: std::process::id(),
        };
        store.conn()?;
        Ok(store)
    }

    /// `sqlite:///path/to/file.db?busy_timeout_ms=5000`.
    pub fn open_url(url: &str) -> Result<Self, RegistryError> {
        let (base, params) = query(url);
        let path = base
            .strip_prefix("sqlite://")
            .filter(|p| !p.is_empty())
            .ok_or(RegistryError::InvalidUrl)?;
        let mut busy = Duration::from_millis(5000);
        for (k, v) in params {
            match k {
                "busy_timeout_ms" => busy = Duration::from_millis(number(v)?),
                _ => return Err(RegistryError::InvalidUrl),
            }
        }
        SqliteStore::open(path, busy)
    }

    fn connect(&self) -> Result<Connection, rusqlite::Error> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(self.busy_timeout)?;
        // WAL: readers never block the writer; several processes share the file.
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        // FULL: a committed revocation survives a power cut, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(conn)
    }

    /// The connection of this process, opened anew after a fork.
    fn conn(&mut self) -> Result<&mut Connection, RegistryError> {
        let pid = std::process::id();
        if pid != self.pid {
            // The parent's connection: never use it, never close it here
            // (closing would drop POSIX locks the parent holds on the file).
            if let Some(inherited) = self.conn.take() {
                core::mem::forget(inherited);
            }
            self.pid = pid;
        }
        if self.conn.is_none() {
            self.conn = Some(self.connect().map_err(fail)?);
        }
        Ok(self.conn.as_mut().expect("just opened"))
    }
}

fn load(tx: &rusqlite::Transaction<'_>, user_id: u64) -> Result<Vec<Entry>, rusqlite::Error> {
    let mut stmt = tx.prepare_cached(&std::format!(
        "SELECT {COLUMNS} FROM sesame_sessions WHERE user_id = ?1"
    ))?;
    let rows = stmt.query_map([user_id as i64], |r| {
        let blob16 = |i: usize| -> rusqlite::Result<[u8; 16]> {
            let v: Vec<u8> = r.get(i)?;
            v.try_into().map_err(|_| {
                rusqlite::Error::FromSqlConversionFailure(
                    i,
                    rusqlite::types::Type::Blob,
                    "not 16 bytes".into(),
                )
            })
        };
        let bad = |i: usize| {
            rusqlite::Error::FromSqlConversionFailure(
                i,
                rusqlite::types::Type::Integer,
                "unknown code".into(),
            )
        };
        let previous: Option<Vec<u8>> = r.get(10)?;
        let previous = match previous {
            None => None,
            Some(_) => Some(Fingerprint(blob16(10)?)),
        };
        let ended: Option<u8> = r.get(12)?;
        let ended = match ended {
            None => None,
            Some(c) => Some(EndReason::from_code(c).ok_or_else(|| bad(12))?),
        };
        let device: String = r.get(6)?;
        let ip: String = r.get(7)?;
        Ok(Entry {
            user_id: r.get::<_, i64>(0)? as u64,
            session_id: blob16(1)?,
            kind: SessionKind::from_code(r.get(2)?).ok_or_else(|| bad(2))?,
            created_at: r.get::<_, i64>(3)? as u64,
            last_seen_at: r.get::<_, i64>(4)? as u64,
            expires_at: r.get::<_, i64>(5)? as u64,
            device: label(&device),
            ip: label(&ip),
            fingerprint: Fingerprint(blob16(8)?),
            fingerprint_seen: r.get(9)?,
            previous,
            rotated_at: r.get::<_, i64>(11)? as u64,
            ended,
            ended_at: r.get::<_, i64>(13)? as u64,
        })
    })?;
    rows.collect()
}

fn save(tx: &rusqlite::Transaction<'_>, before: &[Entry], after: &[Entry]) -> rusqlite::Result<()> {
    for e in after {
        if before.iter().any(|b| b == e) {
            continue;
        }
        let mut stmt = tx.prepare_cached(&std::format!(
            "INSERT OR REPLACE INTO sesame_sessions ({COLUMNS}) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ))?;
        stmt.execute(params![
            e.user_id as i64,
            &e.session_id[..],
            e.kind as u8,
            time(e.created_at),
            time(e.last_seen_at),
            time(e.expires_at),
            e.device.as_str(),
            e.ip.as_str(),
            &e.fingerprint.0[..],
            e.fingerprint_seen,
            e.previous.as_ref().map(|p| &p.0[..]),
            time(e.rotated_at),
            e.ended.map(|r| r as u8),
            time(e.ended_at),
        ])?;
    }
    for b in before {
        if after.iter().any(|e| e.session_id == b.session_id) {
            continue;
        }
        let mut stmt = tx
            .prepare_cached("DELETE FROM sesame_sessions WHERE user_id = ?1 AND session_id = ?2")?;
        stmt.execute(params![b.user_id as i64, &b.session_id[..]])?;
    }
    Ok(())
}

impl RegistryStore for SqliteStore {
    fn execute(
        &mut self,
        config: &RegistryConfig,
        op: &Op<'_>,
        now: u64,
        list: &mut [Entry],
    ) -> Result<Outcome, RegistryError> {
        let user_id = op.user_id();
        let conn = self.conn()?;
        // Reads (and a check that finds nothing to write) run without the
        // write lock; everything else under BEGIN IMMEDIATE, so a loaded
        // snapshot is never written back over another process's commit.
        if op.is_read_only() || matches!(op, Op::Check { .. }) {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(fail)?;
            let before = load(&tx, user_id).map_err(fail)?;
            let mut after = before.clone();
            let outcome = rules::apply(&mut after, config, op, now, list)?;
            if op.is_read_only() || after == before {
                tx.commit().map_err(fail)?;
                return Ok(outcome);
            }
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        let before = load(&tx, user_id).map_err(fail)?;
        let mut after = before.clone();
        let outcome = rules::apply(&mut after, config, op, now, list)?;
        save(&tx, &before, &after).map_err(fail)?;
        if matches!(op, Op::Register(_)) {
            // Every login also sweeps every user's expired rows (indexed).
            tx.execute(
                "DELETE FROM sesame_sessions WHERE expires_at <= ?1",
                [time(now)],
            )
            .map_err(fail)?;
        }
        tx.commit().map_err(fail)?;
        Ok(outcome)
    }

    fn prune(&mut self, now: u64) -> Result<usize, RegistryError> {
        let conn = self.conn()?;
        conn.execute(
            "DELETE FROM sesame_sessions WHERE expires_at <= ?1",
            [time(now)],
        )
        .map_err(fail)
    }
}
