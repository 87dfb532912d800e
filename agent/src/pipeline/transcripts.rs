//! The JSONL transcripts (OpenClaw before 2026.8) as the core follows them: one tailer per
//! transcript, under the session the agent's index names it for. The core hands it the
//! registry's changes and gets back, in order, what to tell the tracker (`Told`); like the
//! stores' follower it holds no tracker and calls nothing above it.
//!
//! A transcript the index does not name (yet) is followed under a key of its own, a stand-in,
//! until the index names it: a tier may report the transcript's lines before the index write
//! that preceded them.

use std::collections::{HashMap, HashSet};

use crate::gateway::sessions_index::IndexChange;
use crate::gateway::{AgentRef, Registry};
use crate::session::tracker::SessionInput;
use crate::session::{CatchUp, SessionId, SessionInfo, SessionRef};
use crate::transcript::{JsonlTailer, TranscriptRecord};
use crate::watch::FsEventKind;

use super::MTIME_SLACK_MS;
use super::stores::Stores;

mod history;
mod reader;

use history::{Ended, History};
use reader::{Read, Reader, modified_within};

type FileKey = (AgentRef, String);

/// What the tracker is to be told, in the order the core must tell it.
pub(super) enum Told {
    /// An input, queued with the batch's others (merged in transcript-time order).
    Input(SessionRef, SessionInput),
    /// A rewritten transcript's records: history again, after what is queued.
    ReadAgain {
        session: SessionRef,
        records: Vec<TranscriptRecord>,
        lock_held: bool,
    },
    /// What an agent's transcripts held at its first sight, caught up after what is queued.
    CatchUp(Vec<CatchUp>),
}

/// One call into the follower: what it consults, and what it read for the tracker.
pub(super) struct Reading<'a> {
    /// Which session a transcript is; a stand-in may make an agent's index be re-read.
    pub registry: &'a mut Registry,
    /// Sessions a SQLite store holds: their JSONL leftovers are not read.
    pub stores: &'a Stores,
    pub now_ms: i64,
    pub told: Vec<Told>,
}

impl Reading<'_> {
    fn tell(&mut self, session: SessionRef, input: SessionInput) {
        self.told.push(Told::Input(session, input));
    }
}

#[derive(Default)]
struct Followed {
    tailer: Option<JsonlTailer>,
    session: Option<SessionRef>,
    lock_held: bool,
    /// When the index was last re-read for this file while it had no key of its own.
    index_reread_ms: Option<i64>,
}

/// How often a transcript the index does not name may make the index be re-read: it is
/// written by the gateway before the transcript's first line, so one re-read per batch of
/// lines finds it, and a transcript that is really in no index costs at most this.
const STANDIN_REREAD_MS: i64 = 1_000;

fn is_standin(session: &SessionRef) -> bool {
    session
        .id
        .key
        .starts_with(&format!("agent:{}:transcript:", session.id.agent_id))
}

pub(super) struct Transcripts {
    followed: HashMap<FileKey, Followed>,
    /// Finished transcripts found at startup, followed again when written to.
    history: History,
    reader: Reader,
    /// Rotations and removals found by index re-reads made while reading a transcript the
    /// index did not name, applied before the batch ends like those of an index event.
    rereads: Vec<(AgentRef, IndexChange)>,
    /// Files untouched for longer than this are not replayed silently at startup: their last
    /// turn cannot still be running (it would have timed out).
    catch_up_horizon_ms: i64,
}

impl Transcripts {
    pub fn new(catch_up_horizon_ms: i64) -> Transcripts {
        Transcripts {
            followed: HashMap::new(),
            history: History::default(),
            reader: Reader::default(),
            rereads: Vec::new(),
            catch_up_horizon_ms,
        }
    }

    pub fn set_catch_up_horizon(&mut self, ms: i64) {
        self.catch_up_horizon_ms = ms;
    }

    pub fn followed_files(&self) -> usize {
        self.followed.len() + self.history.len()
    }

    /// Followed transcripts holding an fd (their lock is held, or they are being read).
    pub fn open_transcripts(&self) -> usize {
        self.followed
            .values()
            .filter(|f| f.tailer.as_ref().is_some_and(|t| !t.is_parked()))
            .count()
    }

    /// At first sight of an agent (`first_sight`), its transcripts are caught up silently; at
    /// a later scan (a tier lost events), what is new in followed files is read, and files
    /// found are followed from their start. `started_ms`: when the daemon's startup ran, if it
    /// has: a file written since then is news, whenever its dir is found.
    pub fn scan(
        &mut self,
        cx: &mut Reading,
        agent: &AgentRef,
        first_sight: bool,
        started_ms: Option<i64>,
    ) {
        if !agent.sessions_dir().is_dir() {
            return;
        }
        let mut names = cx.registry.current_transcripts(agent);
        let Some(dir) = self.reader.dir(agent) else {
            return;
        };
        let mut locked = HashSet::new();
        if let Ok(entries) = std::fs::read_dir(dir.path()) {
            for entry in entries.filter_map(Result::ok) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let crate::layout::SessionFile::Lock { transcript } =
                    crate::layout::classify_session_file(&name)
                {
                    locked.insert(transcript.clone());
                    names.push(transcript);
                }
            }
        }
        names.sort();
        names.dedup();
        let mut histories = Vec::new();
        for name in names {
            let key = (agent.clone(), name.clone());
            if self.unchanged_history(agent, &name) {
                continue;
            }
            if self.follows(cx, &key) {
                self.read_and_feed(cx, &key);
                continue;
            }
            let lock_held = locked.contains(&name);
            // File times come from the kernel's coarse clock and may lag the wall clock: a
            // little slack keeps a file written right after startup from passing for history.
            let written_since_start = started_ms.is_some_and(|start| {
                let horizon = cx.now_ms - start + MTIME_SLACK_MS;
                // Before its first append a transcript exists only as its lock.
                self.reader.dir(agent).is_some_and(|dir| {
                    modified_within(dir, &name, horizon, cx.now_ms)
                        || modified_within(dir, &format!("{name}.lock"), horizon, cx.now_ms)
                })
            });
            if first_sight && !written_since_start {
                histories.extend(self.catch_up(cx, agent, &name, lock_held));
            } else {
                self.follow_from_start(cx, agent, &name);
                if lock_held {
                    self.on_lock(cx, agent.clone(), name, true);
                }
            }
        }
        if !histories.is_empty() {
            cx.told.push(Told::CatchUp(histories));
        }
    }

    /// Starts following a transcript found at first sight of its agent; its history, when recent
    /// enough to matter, for the tracker to catch up on with the agent's other sessions.
    fn catch_up(
        &mut self,
        cx: &mut Reading,
        agent: &AgentRef,
        name: &str,
        lock_held: bool,
    ) -> Option<CatchUp> {
        let dir = self.reader.dir(agent)?;
        let recent = lock_held || modified_within(dir, name, self.catch_up_horizon_ms, cx.now_ms);
        if !recent && !cx.stores.holds_any(agent) {
            self.keep_as_history(cx, agent, name);
            return None;
        }
        let session = self.session_for(cx, agent, name);
        if cx.stores.holds(agent, &session.id.key) {
            return None;
        }
        let mut followed = Followed {
            lock_held,
            session: Some(session.clone()),
            ..Followed::default()
        };
        let records =
            self.reader
                .open_found(agent, name, recent, lock_held, &mut followed.tailer)?;
        self.followed
            .insert((agent.clone(), name.to_owned()), followed);
        recent.then_some(CatchUp {
            session,
            records,
            lock_held,
        })
    }

    /// A finished transcript found at first sight: where it ends is recorded, nothing else (no
    /// session is looked up). One that cannot be recorded so (not there yet) is followed.
    fn keep_as_history(&mut self, cx: &mut Reading, agent: &AgentRef, name: &str) {
        let mut tailer = None;
        if self
            .reader
            .open_found(agent, name, false, false, &mut tailer)
            .is_none()
        {
            return;
        }
        if let Some(t) = tailer.as_ref().filter(|t| t.is_untouched_deferred()) {
            let ended = Ended {
                identity: t.identity(),
                offset: t.offset(),
            };
            self.history.record(agent, name, ended);
            return;
        }
        let followed = Followed {
            session: Some(self.session_for(cx, agent, name)),
            tailer,
            ..Followed::default()
        };
        self.followed
            .insert((agent.clone(), name.to_owned()), followed);
    }

    /// Whether a recorded finished transcript is still the same file, no longer than it was.
    fn unchanged_history(&mut self, agent: &AgentRef, name: &str) -> bool {
        let Some(ended) = self.history.get(agent, name) else {
            return false;
        };
        let now = self.reader.dir(agent).and_then(|dir| dir.stat(name).ok());
        matches!(now, Some(Some((identity, size))) if identity == ended.identity && size == ended.offset)
    }

    /// Whether the transcript is followed, once a recorded finished one is followed again (it
    /// was written to, its lock taken, its key rotated or removed): from where it ended when
    /// it was recorded, as if it had been followed all along. Another file at its name (or
    /// none) is followed from its start. A followed file is never recorded, so the history is
    /// only looked at for the others: an append to a followed one costs one lookup.
    fn follows(&mut self, cx: &mut Reading, key: &FileKey) -> bool {
        if self.followed.contains_key(key) {
            return true;
        }
        let (agent, name) = key;
        if self.history.get(agent, name).is_none() {
            return false;
        }
        let Some(dir) = self.reader.dir(agent) else {
            return false;
        };
        let now = dir.stat(name).ok().flatten().map(|(identity, _)| identity);
        let Some(ended) = self.history.take(agent, name, now) else {
            return false;
        };
        let tailer = JsonlTailer::deferred_at(dir, name, ended.identity, ended.offset);
        let followed = Followed {
            session: Some(self.session_for(cx, agent, name)),
            tailer: Some(tailer),
            ..Followed::default()
        };
        self.followed.insert(key.clone(), followed);
        true
    }

    fn follow_from_start(&mut self, cx: &mut Reading, agent: &AgentRef, name: &str) {
        let key = self.start_following(cx, agent, name);
        self.read_and_feed(cx, &key);
    }

    /// Registers a transcript (which may not exist yet) under its session.
    fn start_following(&mut self, cx: &mut Reading, agent: &AgentRef, name: &str) -> FileKey {
        let session = self.session_for(cx, agent, name);
        let key = (agent.clone(), name.to_owned());
        self.followed.insert(
            key.clone(),
            Followed {
                session: Some(session),
                ..Followed::default()
            },
        );
        key
    }

    pub fn on_transcript(
        &mut self,
        cx: &mut Reading,
        agent: AgentRef,
        name: String,
        kind: FsEventKind,
    ) {
        let key = (agent, name);
        if self.follows(cx, &key) {
            // Removed too: the fd stays valid after a rename or unlink, and what was written
            // before it went is still to be taken.
            self.read_and_feed(cx, &key);
        } else if kind != FsEventKind::Removed {
            self.follow_from_start(cx, &key.0, &key.1);
        }
    }

    pub fn on_lock(&mut self, cx: &mut Reading, agent: AgentRef, transcript: String, held: bool) {
        let key = (agent, transcript);
        if !self.follows(cx, &key) {
            if !held {
                return;
            }
            self.start_following(cx, &key.0, &key.1);
        }
        // Read first: the lock's removal follows the last append, which must come before it.
        self.read_and_feed(cx, &key);
        self.settle_session(cx, &key, false);
        let Some(followed) = self.followed.get_mut(&key) else {
            return;
        };
        if followed.lock_held == held {
            return;
        }
        followed.lock_held = held;
        if !held && let Some(tailer) = followed.tailer.as_mut() {
            tailer.park();
        }
        if let Some(session) = followed.session.clone() {
            cx.tell(session, SessionInput::Lock { held });
        }
    }

    /// What an index event changed: a rotated key's old transcript is finished and the new one
    /// followed, a removed key's transcript forgotten, and stand-ins take the keys it names now.
    pub fn on_index(&mut self, cx: &mut Reading, agent: &AgentRef, change: IndexChange) {
        for (_key, old, new) in change.rotated {
            self.rotate(cx, agent, &old, &new);
        }
        for (_key, old) in change.removed {
            self.finish(cx, &(agent.clone(), old), SessionInput::Gone);
        }
        // Every followed transcript of the agent takes what the index now says of it.
        let keys: Vec<FileKey> = self
            .followed
            .keys()
            .filter(|(a, _)| a == agent)
            .cloned()
            .collect();
        for key in keys {
            self.settle_session(cx, &key, false);
        }
    }

    /// Applies what the index re-reads of this batch changed; the core calls it once the
    /// batch's own changes are in, so a re-read never cuts into the reading of another file.
    pub fn apply_rereads(&mut self, cx: &mut Reading) {
        while let Some((agent, change)) = self.rereads.pop() {
            self.on_index(cx, &agent, change);
        }
    }

    fn reread_index(&mut self, cx: &mut Reading, agent: &AgentRef) {
        if let Some(change) = cx.registry.reload_index(agent)
            && !(change.rotated.is_empty() && change.removed.is_empty())
        {
            self.rereads.push((agent.clone(), change));
        }
    }

    /// Reads what is new in a followed transcript and tells it: a rewrite as history read
    /// again, the rest as input.
    fn read_and_feed(&mut self, cx: &mut Reading, key: &FileKey) {
        let (agent, name) = key;
        let Some(followed) = self.followed.get_mut(key) else {
            return;
        };
        let Some(Read {
            mut records,
            truncated,
            reread,
        }) = self
            .reader
            .read(agent, name, &mut followed.tailer, followed.lock_held)
        else {
            return;
        };
        self.settle_session(cx, key, !records.is_empty());
        let Some(followed) = self.followed.get(key) else {
            return;
        };
        let Some(session) = followed.session.clone() else {
            return;
        };
        let lock_held = followed.lock_held;
        if truncated || reread > 0 {
            // A rewritten transcript (compaction, rewind) is history again, not new progress; so
            // is the rest of a rewrite, written back after the read that saw the truncation.
            let again = if truncated {
                records.len()
            } else {
                reread.min(records.len())
            };
            let news = records.split_off(again);
            cx.told.push(Told::ReadAgain {
                session: session.clone(),
                records,
                lock_held,
            });
            records = news;
        }
        let agent = AgentRef {
            gateway: session.id.gateway.clone(),
            agent_id: session.id.agent_id.clone(),
        };
        if cx.stores.holds(&agent, &session.id.key) {
            return;
        }
        for record in records {
            cx.tell(session.clone(), SessionInput::Record(record));
        }
    }

    /// The index moved a key to a new transcript (daily reset, `/new`): finish the old file,
    /// tell the tracker, and follow the new one from its start.
    fn rotate(&mut self, cx: &mut Reading, agent: &AgentRef, old: &str, new: &str) {
        self.finish(cx, &(agent.clone(), old.to_owned()), SessionInput::Reset);
        let new_key = (agent.clone(), new.to_owned());
        if !self.follows(cx, &new_key) {
            self.follow_from_start(cx, agent, new);
        }
    }

    /// Takes what is left in a followed transcript, stops following it and tells its session
    /// `last`.
    fn finish(&mut self, cx: &mut Reading, key: &FileKey, last: SessionInput) {
        if !self.follows(cx, key) {
            return;
        }
        self.read_and_feed(cx, key);
        if let Some(followed) = self.followed.remove(key)
            && let Some(session) = followed.session
        {
            cx.tell(session, last);
        }
    }

    /// The session a transcript belongs to. When the index does not name it (yet), it is
    /// re-read once; failing that the transcript gets a key of its own so its turns still show.
    fn session_for(&mut self, cx: &mut Reading, agent: &AgentRef, name: &str) -> SessionRef {
        if let Some(s) = cx.registry.session_for(agent, name) {
            return s;
        }
        self.reread_index(cx, agent);
        cx.registry.session_for(agent, name).unwrap_or_else(|| {
            tracing::debug!(path = name, "transcript not in the sessions index");
            SessionRef::from(SessionInfo {
                id: SessionId::new(
                    agent.gateway.clone(),
                    agent.agent_id.clone(),
                    format!(
                        "agent:{}:transcript:{}",
                        agent.agent_id,
                        crate::layout::transcript_session_id(name).unwrap_or(name)
                    ),
                ),
                spawned_by: None,
                label: None,
                route: None,
            })
        })
    }

    /// Brings a followed transcript's session up to date with the index, as it is at the moment
    /// its input is queued, whatever order the tier reported the index and the transcript in
    /// (one poll walk, or a tier blind to some writer, can give the transcript's lines before
    /// the index rename that named it). A stand-in key gives way to the real one: its box, if
    /// any, ends (retracted when only the lock opened it) and a held lock moves to the real
    /// session. `reread` (lines are about to be fed under a stand-in) re-reads the index first:
    /// the gateway names a transcript in its index before writing to it.
    fn settle_session(&mut self, cx: &mut Reading, key: &FileKey, reread: bool) {
        let (agent, name) = key;
        let Some(followed) = self.followed.get_mut(key) else {
            return;
        };
        let standin = followed.session.as_ref().is_none_or(is_standin);
        let mut resolved = cx.registry.session_for(agent, name);
        let reread_due = followed
            .index_reread_ms
            .is_none_or(|at| cx.now_ms - at >= STANDIN_REREAD_MS);
        if resolved.is_none() && standin && reread && reread_due {
            followed.index_reread_ms = Some(cx.now_ms);
            self.reread_index(cx, agent);
            resolved = cx.registry.session_for(agent, name);
        }
        let (Some(resolved), Some(followed)) = (resolved, self.followed.get_mut(key)) else {
            return;
        };
        match followed.session.as_mut() {
            // Labels and parents can be filled in later by the gateway.
            Some(current) if current.id == resolved.id => *current = resolved,
            Some(_) if !standin => {}
            _ => {
                let old = followed.session.replace(resolved.clone());
                if let Some(old) = old {
                    cx.tell(old, SessionInput::Gone);
                }
                if followed.lock_held {
                    cx.tell(resolved, SessionInput::Lock { held: true });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
