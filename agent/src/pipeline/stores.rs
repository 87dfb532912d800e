//! The SQLite store of OpenClaw 2026.8+ as the core follows it: one store per agent, one cursor per
//! session; a write to the store's `-wal` (or its main file, at checkpoints) is the trigger to
//! query, so an idle store costs nothing.
//!
//! A write seen is not yet a commit one can read: SQLite publishes a commit by updating the
//! wal-index in `-shm`, through a shared mapping no watch tier sees, after the commit's last
//! frame is written (and, with `synchronous=FULL`, synced). A wakeup that queried in between
//! found nothing new and waited for the gateway's next write, the model's answer: 70–300 ms
//! late with 2026.9.6 (docs/compat.md). So after its last wakeup a store is asked again a few
//! times (`RECHECK_AFTER_MS`); asking costs one `PRAGMA data_version` when nothing changed.

use std::collections::{HashMap, HashSet};

use crate::gateway::AgentRef;
use crate::reported::Reported;
use crate::session::tracker::SessionInput;
use crate::session::{SessionId, SessionInfo, SessionRef};
use crate::transcript::TranscriptRecord;
use crate::transcript::sqlite::{AgentStore, Batch, Cursor, StoreError, StoreSession};

/// Every agent's store and the rechecks due: the core hands it wakeups and gets back what to
/// tell the tracker (`StoreReads`); it holds no tracker and calls nothing above it.
#[derive(Default)]
pub(super) struct Stores {
    followed: HashMap<AgentRef, FollowedStore>,
    rechecks: HashMap<AgentRef, Recheck>,
    /// Problems already reported (unknown schema, unreadable): not repeated per wakeup.
    reported: Reported<AgentRef>,
}

/// What one read of a store gives the core: history to catch up silently, session by session,
/// then news to queue after it (a session split at our start goes on from where it stood).
#[derive(Default)]
pub(super) struct StoreReads {
    pub catch_ups: Vec<(SessionRef, Vec<TranscriptRecord>)>,
    pub news: Vec<(SessionRef, SessionInput)>,
}

/// An agent's store as the core follows it.
struct FollowedStore {
    store: Option<AgentStore>,
    /// The store's change token at the last read: a wakeup with the same token is skipped.
    token: Option<i64>,
    /// Session id → its session and how far it has been read.
    sessions: HashMap<String, (SessionRef, Cursor)>,
    /// Keys the store holds: their JSONL leftovers (a gateway migrated by `openclaw doctor`) are
    /// not read, so no session is read from both eras.
    keys: HashSet<String>,
}

impl FollowedStore {
    fn new() -> FollowedStore {
        FollowedStore {
            store: None,
            token: None,
            sessions: HashMap::new(),
            keys: Default::default(),
        }
    }
}

/// When a store is asked again after its last wakeup, in ms: a commit's wal-index update follows
/// its last frame within microseconds, or after an fsync (milliseconds, tens on slow disks).
const RECHECK_AFTER_MS: [i64; 4] = [3, 12, 40, 120];

/// The rechecks still due for one store.
#[derive(Clone, Copy, Debug)]
struct Recheck {
    woke_ms: i64,
    step: usize,
}

impl Recheck {
    fn due_ms(&self) -> Option<i64> {
        RECHECK_AFTER_MS
            .get(self.step)
            .map(|after| self.woke_ms + after)
    }
}

fn session_ref(agent: &AgentRef, s: &StoreSession) -> SessionRef {
    SessionRef::from(SessionInfo {
        id: SessionId::new(agent.gateway.clone(), agent.agent_id.clone(), s.key.clone()),
        spawned_by: s.spawned_by.clone(),
        label: s.label.clone(),
        route: s.route.clone(),
    })
}

impl Stores {
    /// Reads an agent's store: at first sight (`catch_up`) every turn as history (the tracker
    /// shows the one in progress as a box); later, what was committed since. `started_ms`: when
    /// the daemon started; a store first seen later gives what came after it as news.
    pub fn follow(&mut self, agent: &AgentRef, catch_up: bool, started_ms: i64) -> StoreReads {
        let mut reads = StoreReads::default();
        let db = crate::layout::agent_db_path(&agent.gateway, &agent.agent_id);
        let followed = self
            .followed
            .entry(agent.clone())
            .or_insert_with(FollowedStore::new);
        if followed.store.is_none() {
            if !db.is_file() {
                return reads;
            }
            match AgentStore::open(&db) {
                Ok(store) => {
                    followed.store = Some(store);
                    self.reported.clear(agent);
                }
                Err(err) => {
                    report(&mut self.reported, agent, &db, &err);
                    return reads;
                }
            }
        }
        let Some(store) = followed.store.as_mut() else {
            return reads;
        };
        match store.change_token() {
            Ok(token) if followed.token == Some(token) => return reads,
            Ok(token) => followed.token = Some(token),
            Err(err) => {
                report(&mut self.reported, agent, &db, &err);
                return reads;
            }
        }
        let sessions = match store.sessions() {
            Ok(s) => s,
            Err(err) => {
                report(&mut self.reported, agent, &db, &err);
                // A store that cannot be read now is reopened at the next wakeup.
                followed.store = None;
                followed.token = None;
                return reads;
            }
        };
        followed.keys = sessions.iter().map(|s| s.key.clone()).collect();
        for s in &sessions {
            let session = session_ref(agent, s);
            let known = followed.sessions.get(&s.session_id).map(|(_, c)| *c);
            let start = known.unwrap_or(Cursor::START);
            let Batch {
                mut records,
                cursor,
                rewritten,
            } = match store.read_all_after(&s.session_id, start) {
                Ok(b) => b,
                Err(err) => {
                    // What the sessions before it gave is still delivered; this one and the
                    // rest are read again at the next wakeup.
                    report(&mut self.reported, agent, &db, &err);
                    followed.token = None;
                    break;
                }
            };
            followed
                .sessions
                .insert(s.session_id.clone(), (session.clone(), cursor));
            // History is told to the tracker silently: a rewritten transcript, a session that
            // existed before we looked, and, for a session (or a whole store: a gateway
            // migrated by `openclaw doctor`) first seen later, what it holds from before we
            // started. The rest is news.
            let news = if rewritten {
                Vec::new()
            } else if known.is_some() {
                std::mem::take(&mut records)
            } else if catch_up {
                Vec::new()
            } else {
                let before = started_ms - super::MTIME_SLACK_MS;
                let old = records
                    .iter()
                    .position(|r| r.event.ts_ms().is_some_and(|ts| ts >= before))
                    .unwrap_or(records.len());
                records.split_off(old)
            };
            if !records.is_empty() {
                reads.catch_ups.push((session.clone(), records));
            }
            reads.news.extend(
                news.into_iter()
                    .map(|r| (session.clone(), SessionInput::Record(r))),
            );
        }
        reads
    }

    /// A write to the store woke us: read it, and ask it again after the delays above.
    pub fn woke(&mut self, agent: &AgentRef, started_ms: i64, now_ms: i64) -> StoreReads {
        let reads = self.follow(agent, false, started_ms);
        if self.followed.get(agent).is_some_and(|f| f.store.is_some()) {
            self.rechecks.insert(
                agent.clone(),
                Recheck {
                    woke_ms: now_ms,
                    step: 0,
                },
            );
        }
        reads
    }

    /// When the next store recheck is due, if one is.
    pub fn next_due(&self) -> Option<i64> {
        self.rechecks.values().filter_map(Recheck::due_ms).min()
    }

    /// Asks again every store whose recheck is due by `now_ms`.
    pub fn on_due(&mut self, started_ms: i64, now_ms: i64) -> Vec<StoreReads> {
        let due: Vec<AgentRef> = self
            .rechecks
            .iter()
            .filter(|(_, r)| r.due_ms().is_some_and(|d| d <= now_ms))
            .map(|(agent, _)| agent.clone())
            .collect();
        let mut all = Vec::with_capacity(due.len());
        for agent in due {
            all.push(self.follow(&agent, false, started_ms));
            if let Some(r) = self.rechecks.get_mut(&agent) {
                // Steps already past (a loop that was busy) are skipped, not run back to back.
                while r.due_ms().is_some_and(|d| d <= now_ms) {
                    r.step += 1;
                }
                if r.due_ms().is_none() {
                    self.rechecks.remove(&agent);
                }
            }
        }
        all
    }

    /// Whether any of the agent's sessions lives in its store.
    pub fn holds_any(&self, agent: &AgentRef) -> bool {
        self.followed.get(agent).is_some_and(|s| !s.keys.is_empty())
    }

    /// Whether a JSONL transcript's session lives in the agent's store (then only the store is read).
    pub fn holds(&self, agent: &AgentRef, key: &str) -> bool {
        self.followed
            .get(agent)
            .is_some_and(|s| s.keys.contains(key))
    }
}

fn report(
    reported: &mut Reported<AgentRef>,
    agent: &AgentRef,
    db: &std::path::Path,
    err: &StoreError,
) {
    let text = err.to_string();
    if reported.is_news(agent.clone(), &text) {
        // Not ready, busy: the gateway is mid-write or has not opened the store yet; the next
        // write to it wakes us again.
        if err.is_transient() {
            tracing::debug!(path = %db.display(), error = %text, "OpenClaw session store not read yet");
        } else {
            tracing::warn!(path = %db.display(), error = %text, "OpenClaw session store not read");
        }
    }
}
