//! The registry's rules, written once over a plain collection of entries.
//! The memory store keeps every user's entries in one [`Slots`]; the SQLite
//! store loads one user's rows into one, applies the operation, and writes
//! back what changed. The Redis store's Lua script (redis.lua) is a
//! line-by-line transcription of [`apply`]; tests/registry.rs holds them to
//! the same answers.
//!
//! Tie-breaks are total so every store picks the same entry: "oldest" is the
//! smallest (created_at, last_seen_at, session_id), "newest" the largest.

use super::{
    label, EndReason, Entry, Fingerprint, Login, Op, Outcome, RegistryConfig, RegistryError,
    Verdict,
};
use crate::SessionId;

/// A growable, possibly bounded, list of entries (a `heapless::Vec` for the
/// `no_std` memory store, a `Vec` elsewhere). Entries of several users may
/// share it; the rules touch only the operation's user.
pub trait Slots {
    fn entries(&self) -> &[Entry];
    fn entries_mut(&mut self) -> &mut [Entry];
    /// Whether [`Slots::push`] would succeed.
    fn has_room(&self) -> bool;
    /// Appends; only called when [`Slots::has_room`].
    fn push(&mut self, entry: Entry);
    /// Removes the entry at `index`; the last one takes its place.
    fn swap_remove(&mut self, index: usize) -> Entry;
}

impl<const N: usize> Slots for heapless::Vec<Entry, N> {
    fn entries(&self) -> &[Entry] {
        self
    }
    fn entries_mut(&mut self) -> &mut [Entry] {
        self
    }
    fn has_room(&self) -> bool {
        !self.is_full()
    }
    fn push(&mut self, entry: Entry) {
        // Cannot fail: the rules ask `has_room` first.
        let _ = heapless::Vec::push(self, entry);
    }
    fn swap_remove(&mut self, index: usize) -> Entry {
        heapless::Vec::swap_remove(self, index)
    }
}

#[cfg(feature = "std")]
impl Slots for std::vec::Vec<Entry> {
    fn entries(&self) -> &[Entry] {
        self
    }
    fn entries_mut(&mut self) -> &mut [Entry] {
        self
    }
    fn has_room(&self) -> bool {
        true
    }
    fn push(&mut self, entry: Entry) {
        std::vec::Vec::push(self, entry);
    }
    fn swap_remove(&mut self, index: usize) -> Entry {
        std::vec::Vec::swap_remove(self, index)
    }
}

/// How a presented fingerprint relates to an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// The current token.
    Current,
    /// The token the current one replaced, still acceptable: within the
    /// grace period after the refresh, or the current token was never seen.
    Previous,
    /// Any other token of this session: superseded and no longer
    /// acceptable (its successor was seen after the grace period), or older.
    Stale,
}

/// The theft rule. A token superseded by a refresh stays acceptable while
/// `now < rotated_at + grace` (requests that raced the refresh, a cache
/// handing the browser its own token again), or for as long as its
/// successor has never been presented (the refresh response was lost).
/// Once the successor has been seen and the grace period is over, the old
/// token in anyone's hands means two parties hold the session.
pub fn standing(entry: &Entry, fingerprint: &Fingerprint, now: u64, grace: u64) -> Standing {
    if entry.fingerprint == *fingerprint {
        Standing::Current
    } else if entry.previous == Some(*fingerprint)
        && (now < entry.rotated_at.saturating_add(grace) || !entry.fingerprint_seen)
    {
        Standing::Previous
    } else {
        Standing::Stale
    }
}

fn find<S: Slots + ?Sized>(slots: &S, user_id: u64, session_id: &SessionId) -> Option<usize> {
    slots
        .entries()
        .iter()
        .position(|e| e.user_id == user_id && e.session_id == *session_id)
}

fn age_key(e: &Entry) -> (u64, u64, SessionId) {
    (e.created_at, e.last_seen_at, e.session_id)
}

/// Drops the user's entries that expired by `now`.
pub fn prune_user<S: Slots + ?Sized>(slots: &mut S, user_id: u64, now: u64) -> usize {
    let mut dropped = 0;
    let mut i = 0;
    while i < slots.entries().len() {
        let e = &slots.entries()[i];
        if e.user_id == user_id && e.expires_at <= now {
            slots.swap_remove(i);
            dropped += 1;
        } else {
            i += 1;
        }
    }
    dropped
}

/// Drops every entry that expired by `now`.
pub fn prune_all<S: Slots + ?Sized>(slots: &mut S, now: u64) -> usize {
    let mut dropped = 0;
    let mut i = 0;
    while i < slots.entries().len() {
        if slots.entries()[i].expires_at <= now {
            slots.swap_remove(i);
            dropped += 1;
        } else {
            i += 1;
        }
    }
    dropped
}

/// Ends the entry at `index`: it becomes a tombstone that answers
/// [`Verdict::Revoked`] for `tombstone_ttl` seconds (never past its own
/// expiry), or is dropped at once when that is zero.
fn end<S: Slots + ?Sized>(
    slots: &mut S,
    index: usize,
    reason: EndReason,
    config: &RegistryConfig,
    now: u64,
) {
    let e = &mut slots.entries_mut()[index];
    e.ended = Some(reason);
    e.ended_at = now;
    e.expires_at = e.expires_at.min(now.saturating_add(config.tombstone_ttl));
    if e.expires_at <= now {
        slots.swap_remove(index);
    }
}

/// Runs one operation over `slots` (see [`super::RegistryStore::execute`]).
pub fn apply<S: Slots + ?Sized>(
    slots: &mut S,
    config: &RegistryConfig,
    op: &Op<'_>,
    now: u64,
    list: &mut [Entry],
) -> Result<Outcome, RegistryError> {
    let user_id = op.user_id();
    prune_user(slots, user_id, now);
    let verdict = |verdict| Ok(Outcome { verdict, count: 0 });
    match *op {
        Op::Register(ref login) => register(slots, config, login, now),
        Op::Peek { session_id, .. } => match find(slots, user_id, &session_id) {
            None => verdict(Verdict::Unknown),
            Some(i) if !slots.entries()[i].is_live() => verdict(Verdict::Revoked),
            Some(_) => verdict(Verdict::Live),
        },
        Op::Check {
            session_id,
            fingerprint,
            ..
        } => {
            let Some(i) = find(slots, user_id, &session_id) else {
                return verdict(Verdict::Unknown);
            };
            let e = &mut slots.entries_mut()[i];
            if !e.is_live() {
                return verdict(Verdict::Revoked);
            }
            match standing(e, &fingerprint, now, config.grace) {
                Standing::Current => {
                    if !e.fingerprint_seen
                        || now >= e.last_seen_at.saturating_add(config.touch_interval)
                    {
                        e.fingerprint_seen = true;
                        e.last_seen_at = e.last_seen_at.max(now);
                        e.expires_at = config.expires_at(e.kind, e.created_at, e.last_seen_at);
                    }
                    verdict(Verdict::Live)
                }
                Standing::Previous => verdict(Verdict::Grace),
                Standing::Stale => {
                    end(slots, i, EndReason::Theft, config, now);
                    Ok(Outcome {
                        verdict: Verdict::TheftDetected,
                        count: 1,
                    })
                }
            }
        }
        Op::Refresh {
            session_id,
            old,
            new,
            ..
        } => {
            let Some(i) = find(slots, user_id, &session_id) else {
                return verdict(Verdict::Unknown);
            };
            let e = &mut slots.entries_mut()[i];
            if !e.is_live() {
                return verdict(Verdict::Revoked);
            }
            match standing(e, &old, now, config.grace) {
                Standing::Stale => {
                    end(slots, i, EndReason::Theft, config, now);
                    return Ok(Outcome {
                        verdict: Verdict::TheftDetected,
                        count: 1,
                    });
                }
                // Lost a race with the refresh that made the current token:
                // keep that one, the browser has it or is about to.
                Standing::Previous if now < e.rotated_at.saturating_add(config.grace) => {
                    return verdict(Verdict::Grace);
                }
                // The successor was never seen and the grace is over: the
                // refresh response was lost. Rotate again from `old`.
                Standing::Previous => {}
                Standing::Current => e.previous = Some(old),
            }
            e.fingerprint = new;
            e.fingerprint_seen = false;
            e.rotated_at = now;
            e.last_seen_at = e.last_seen_at.max(now);
            e.expires_at = config.expires_at(e.kind, e.created_at, e.last_seen_at);
            verdict(Verdict::Live)
        }
        Op::List { .. } => {
            let mut live = 0usize;
            let mut filled = 0usize;
            for e in slots.entries() {
                if e.user_id != user_id || !e.is_live() {
                    continue;
                }
                live += 1;
                // Insertion into `list`, newest first, keeping the newest.
                let key = age_key(e);
                let at = list[..filled]
                    .iter()
                    .position(|x| age_key(x) < key)
                    .unwrap_or(filled);
                if at >= list.len() {
                    continue;
                }
                let last = filled.min(list.len() - 1);
                list[at..=last].rotate_right(1);
                list[at] = e.clone();
                filled = (filled + 1).min(list.len());
            }
            Ok(Outcome {
                verdict: Verdict::Live,
                count: live as u32,
            })
        }
        Op::Revoke { session_id, .. } => match find(slots, user_id, &session_id) {
            None => verdict(Verdict::Unknown),
            Some(i) if !slots.entries()[i].is_live() => verdict(Verdict::Revoked),
            Some(i) => {
                end(slots, i, EndReason::Revoked, config, now);
                Ok(Outcome {
                    verdict: Verdict::Revoked,
                    count: 1,
                })
            }
        },
        Op::RevokeAll { .. } => Ok(end_all(slots, config, user_id, None, now)),
        Op::RevokeOthers { keep, .. } => Ok(end_all(slots, config, user_id, Some(keep), now)),
        Op::Logout {
            session_id,
            fingerprint,
            ..
        } => {
            let Some(i) = find(slots, user_id, &session_id) else {
                return verdict(Verdict::Unknown);
            };
            let e = &slots.entries()[i];
            if !e.is_live() {
                return verdict(Verdict::Revoked);
            }
            let (reason, verdict) = match standing(e, &fingerprint, now, config.grace) {
                Standing::Stale => (EndReason::Theft, Verdict::TheftDetected),
                _ => (EndReason::Logout, Verdict::Revoked),
            };
            end(slots, i, reason, config, now);
            Ok(Outcome { verdict, count: 1 })
        }
    }
}

fn end_all<S: Slots + ?Sized>(
    slots: &mut S,
    config: &RegistryConfig,
    user_id: u64,
    keep: Option<SessionId>,
    now: u64,
) -> Outcome {
    let mut count = 0;
    let mut i = 0;
    while i < slots.entries().len() {
        let e = &slots.entries()[i];
        if e.user_id == user_id && e.is_live() && Some(e.session_id) != keep {
            let before = slots.entries().len();
            end(slots, i, EndReason::Revoked, config, now);
            count += 1;
            if slots.entries().len() < before {
                continue; // swapped in an unvisited entry at `i`
            }
        }
        i += 1;
    }
    Outcome {
        verdict: Verdict::Revoked,
        count,
    }
}

fn oldest<S: Slots + ?Sized>(slots: &S, user_id: u64, live: bool) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, e) in slots.entries().iter().enumerate() {
        if e.user_id != user_id || e.is_live() != live {
            continue;
        }
        let key = if live {
            age_key(e)
        } else {
            (e.ended_at, 0, e.session_id)
        };
        let better = match best {
            None => true,
            Some(b) => {
                let o = &slots.entries()[b];
                let best_key = if live {
                    age_key(o)
                } else {
                    (o.ended_at, 0, o.session_id)
                };
                key < best_key
            }
        };
        if better {
            best = Some(i);
        }
    }
    best
}

fn count<S: Slots + ?Sized>(slots: &S, user_id: u64, live: bool) -> usize {
    slots
        .entries()
        .iter()
        .filter(|e| e.user_id == user_id && e.is_live() == live)
        .count()
}

fn register<S: Slots + ?Sized>(
    slots: &mut S,
    config: &RegistryConfig,
    login: &Login<'_>,
    now: u64,
) -> Result<Outcome, RegistryError> {
    let user_id = login.user_id;
    // A session ID is random; registering one again starts it over.
    if let Some(i) = find(slots, user_id, &login.session_id) {
        slots.swap_remove(i);
    }
    let mut evicted = 0;
    if config.max_sessions > 0 {
        let cap = config.max_sessions as usize;
        while count(slots, user_id, true) >= cap {
            let Some(i) = oldest(slots, user_id, true) else {
                break;
            };
            end(slots, i, EndReason::Evicted, config, now);
            evicted += 1;
        }
        // Tombstones are bounded per user too: a dropped one answers
        // Unknown instead of Revoked, which denies just the same.
        while count(slots, user_id, false) > cap {
            let Some(i) = oldest(slots, user_id, false) else {
                break;
            };
            slots.swap_remove(i);
        }
    }
    let entry = Entry {
        user_id,
        session_id: login.session_id,
        kind: login.kind,
        created_at: now,
        last_seen_at: now,
        expires_at: config.expires_at(login.kind, now, now),
        device: label(login.device),
        ip: label(login.ip),
        fingerprint: login.fingerprint,
        fingerprint_seen: false,
        previous: None,
        rotated_at: now,
        ended: None,
        ended_at: 0,
    };
    if !slots.has_room() {
        // Full: make room from every user's expired entries, then from the
        // oldest tombstone of anyone; live sessions are never dropped.
        prune_all(slots, now);
    }
    if !slots.has_room() {
        let tomb = slots
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.is_live())
            .min_by_key(|(_, e)| (e.ended_at, e.user_id, e.session_id))
            .map(|(i, _)| i);
        let Some(i) = tomb else {
            return Err(RegistryError::Full);
        };
        slots.swap_remove(i);
    }
    slots.push(entry);
    Ok(Outcome {
        verdict: Verdict::Live,
        count: evicted,
    })
}
