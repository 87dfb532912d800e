//! The synchronous heart of the daemon: watch events in, box deltas out. Owns the gateway
//! registry, one tailer per followed transcript and the session tracker, and calls them in the
//! order of the data flow. No I/O scheduling here, so the same core runs under tokio, in replay
//! and in tests.

use std::collections::{HashMap, HashSet};

use crate::gateway::sessions_index::IndexChange;
use crate::gateway::{AgentRef, Change, Registry};
use crate::reported::Reported;
use crate::session::tracker::{SessionConfig, SessionInput, Tracker};
use crate::session::{BoxDelta, CatchUp, SessionId, SessionRef};
use crate::transcript::{JsonlTailer, SessionsDir, TailError, TranscriptRecord};
use crate::watch::{FsEvent, FsEventKind, Scope};

use super::stores::{StoreReads, Stores};

type FileKey = (AgentRef, String);

/// How far a file's mtime may lag the wall clock and still count as written after startup.
pub(super) const MTIME_SLACK_MS: i64 = 2_000;

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

/// A transcript followed under `agent:<id>:transcript:<sessionId>` because the index did not
/// name it when it was first seen.
fn is_standin(session: &SessionRef) -> bool {
    session
        .id
        .key
        .starts_with(&format!("agent:{}:transcript:", session.id.agent_id))
}

pub struct Core {
    registry: Registry,
    pub(super) tracker: Tracker,
    dirs: HashMap<AgentRef, SessionsDir>,
    files: HashMap<FileKey, Followed>,
    known_agents: HashSet<AgentRef>,
    /// SQLite stores (2026.8+), per agent.
    stores: Stores,
    /// Inputs of the events being applied, fed to the tracker together at the end (see `flush`).
    queue: Vec<(SessionRef, SessionInput)>,
    /// Rotations and removals found by index re-reads made while reading a transcript the
    /// index did not name, applied before the batch ends like those of an index event.
    reread_changes: Vec<(AgentRef, IndexChange)>,
    /// When `startup` ran: a file written since then is news, whenever its directory is found.
    started_ms: Option<i64>,
    /// Files untouched for longer than this are not replayed silently at startup: their last
    /// turn cannot still be running (it would have timed out).
    catch_up_horizon_ms: i64,
    /// Sessions dirs and transcripts that could not be followed, each reported once until it
    /// can be again: a refused transcript is touched at every turn of its session.
    refusals: Reported<std::path::PathBuf>,
}

impl Core {
    pub fn new(scope: Scope, cfg: SessionConfig) -> Core {
        let catch_up_horizon_ms = cfg.idle_timeout_ms;
        Core {
            registry: Registry::new(scope),
            tracker: Tracker::new(cfg),
            dirs: HashMap::new(),
            files: HashMap::new(),
            known_agents: HashSet::new(),
            queue: Vec::new(),
            reread_changes: Vec::new(),
            stores: Stores::default(),
            started_ms: None,
            catch_up_horizon_ms,
            refusals: Reported::default(),
        }
    }

    /// A reloaded config: boxes keep their state, what comes next follows `cfg`.
    pub fn reconfigure(&mut self, cfg: SessionConfig) {
        self.catch_up_horizon_ms = cfg.idle_timeout_ms;
        self.tracker.reconfigure(cfg);
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn open_boxes(&self) -> usize {
        self.tracker.open_boxes()
    }

    pub fn followed_files(&self) -> usize {
        self.files.len()
    }

    /// Followed transcripts holding an fd (their lock is held, or they are being read).
    pub fn open_transcripts(&self) -> usize {
        self.files
            .values()
            .filter(|f| f.tailer.as_ref().is_some_and(|t| !t.is_parked()))
            .count()
    }

    /// Finds every gateway in scope and takes in what is already on disk: finished turns
    /// silently, a turn in progress as a box with its lines so far.
    pub fn startup(&mut self, now_ms: i64) -> Vec<BoxDelta> {
        let changes = self.registry.discover();
        let deltas = self.apply(changes, now_ms);
        self.started_ms = Some(now_ms);
        deltas
    }

    pub fn on_event(&mut self, event: &FsEvent, now_ms: i64) -> Vec<BoxDelta> {
        self.on_events(std::slice::from_ref(event), now_ms)
    }

    /// Events that arrived together are applied as one batch, so lines of several sessions
    /// read for them are ordered by their own timestamps (a tier may report a later write
    /// first: a poll walk seeing the parent's line before the sub-agent's that preceded it).
    pub fn on_events(&mut self, events: &[FsEvent], now_ms: i64) -> Vec<BoxDelta> {
        let mut changes = Vec::new();
        for event in events {
            changes.extend(self.registry.on_event(event));
        }
        self.apply(changes, now_ms)
    }

    pub fn tick(&mut self, now_ms: i64) -> Vec<BoxDelta> {
        self.tracker.tick(now_ms)
    }

    /// Whether anything waits on the clock (see `Tracker::needs_ticks`).
    pub fn needs_ticks(&self) -> bool {
        self.tracker.needs_ticks()
    }

    pub fn shutdown(&mut self, now_ms: i64) -> Vec<BoxDelta> {
        self.tracker.shutdown(now_ms)
    }

    fn apply(&mut self, changes: Vec<Change>, now_ms: i64) -> Vec<BoxDelta> {
        let mut out = Vec::new();
        for change in changes {
            match change {
                Change::Scan(agent) => self.scan(agent, now_ms, &mut out),
                Change::Store(agent) => {
                    let reads = self.stores.woke(&agent, self.started(now_ms), now_ms);
                    self.take_store_reads(reads, now_ms, &mut out);
                }
                Change::Index(agent, change) => self.on_index(agent, change, now_ms, &mut out),
                Change::Transcript { agent, name, kind } => {
                    self.on_transcript(agent, name, kind, now_ms, &mut out)
                }
                Change::Lock {
                    agent,
                    transcript,
                    held,
                } => self.on_lock(agent, transcript, held, now_ms, &mut out),
            }
        }
        while let Some((agent, change)) = self.reread_changes.pop() {
            self.on_index(agent, change, now_ms, &mut out);
        }
        self.flush(now_ms, &mut out);
        out
    }

    fn on_index(
        &mut self,
        agent: AgentRef,
        change: IndexChange,
        now_ms: i64,
        out: &mut Vec<BoxDelta>,
    ) {
        for (_key, old, new) in change.rotated {
            self.rotate(&agent, &old, &new, now_ms, out);
        }
        for (_key, old) in change.removed {
            self.forget(&agent, &old, now_ms, out);
        }
        self.resolve_standins(&agent, now_ms);
    }

    /// Re-reads an agent's index outside an index event; what it changed is applied before the
    /// batch ends.
    fn reread_index(&mut self, agent: &AgentRef) {
        if let Some(change) = self.registry.reload_index(agent)
            && !(change.rotated.is_empty() && change.removed.is_empty())
        {
            self.reread_changes.push((agent.clone(), change));
        }
    }

    /// Feeds the queued inputs, merged across sessions in transcript-time order with each
    /// session's own order kept: files that changed together (one poll interval, one burst of
    /// events) are read one after the other, but a sub-agent's line written before its
    /// parent's must still come first in the parent's box.
    /// When `startup` ran (now, during it).
    fn started(&self, now_ms: i64) -> i64 {
        self.started_ms.unwrap_or(now_ms)
    }

    /// A store's history is caught up silently, session by session, after what is queued;
    /// its news is queued after that history.
    fn take_store_reads(&mut self, reads: StoreReads, now_ms: i64, out: &mut Vec<BoxDelta>) {
        for (session, records) in reads.catch_ups {
            self.flush(now_ms, out);
            out.extend(self.tracker.catch_up(&session, records, false, now_ms));
        }
        self.queue.extend(reads.news);
    }

    /// When the next store recheck is due, if one is (see `stores.rs`).
    pub fn next_due(&self) -> Option<i64> {
        self.stores.next_due()
    }

    /// Asks again every store whose recheck is due by `now_ms`.
    pub fn on_due(&mut self, now_ms: i64) -> Vec<BoxDelta> {
        let mut out = Vec::new();
        for reads in self.stores.on_due(self.started(now_ms), now_ms) {
            self.take_store_reads(reads, now_ms, &mut out);
        }
        self.flush(now_ms, &mut out);
        out
    }

    fn flush(&mut self, now_ms: i64, out: &mut Vec<BoxDelta>) {
        let mut merge = super::merge::TimeMerge::new(std::mem::take(&mut self.queue));
        while let Some((session, input)) = merge.next() {
            out.extend(self.tracker.handle(session, input, now_ms));
        }
    }

    fn sessions_dir(&mut self, agent: &AgentRef) -> Option<&SessionsDir> {
        if !self.dirs.contains_key(agent) {
            let path = agent.sessions_dir();
            // The state dir's owner: a sessions dir of anyone else is a link into their state.
            let opened = std::fs::metadata(&agent.gateway)
                .map_err(|e| TailError::io(agent.gateway.clone(), "stat", e))
                .and_then(|m| {
                    SessionsDir::open_owned_by(&path, std::os::unix::fs::MetadataExt::uid(&m))
                });
            match opened {
                Ok(dir) => {
                    self.refusals.clear(&path);
                    self.dirs.insert(agent.clone(), dir);
                }
                Err(err) if err.is_not_found() || is_writable_by_others(&err) => {
                    // Gone, or reported by the registry when it read the dir's index.
                    tracing::debug!(dir = %path.display(), "sessions dir not followed: {err}");
                    return None;
                }
                Err(err) => {
                    if self.refusals.is_news(path.clone(), &err.to_string()) {
                        tracing::warn!(dir = %path.display(), "sessions dir not followed: {err}");
                    }
                    return None;
                }
            }
        }
        self.dirs.get(agent)
    }

    /// First sight of an agent: catch up silently. A later scan (a tier lost events): read what
    /// is new in followed files, and follow files it finds from their start.
    fn scan(&mut self, agent: AgentRef, now_ms: i64, out: &mut Vec<BoxDelta>) {
        let first_sight = self.known_agents.insert(agent.clone());
        // The store first: it decides which sessions JSONL leftovers must not be read for.
        let store_catch_up = first_sight && self.started_ms.is_none();
        let reads = self
            .stores
            .follow(&agent, store_catch_up, self.started(now_ms));
        self.take_store_reads(reads, now_ms, out);
        if !agent.sessions_dir().is_dir() {
            return;
        }
        let mut names = self.registry.current_transcripts(&agent);
        let Some(dir) = self.sessions_dir(&agent) else {
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
            if self.files.contains_key(&key) {
                self.read_and_feed(&key, now_ms, out);
                continue;
            }
            let lock_held = locked.contains(&name);
            // File times come from the kernel's coarse clock and may lag the wall clock: a
            // little slack keeps a file written right after startup from passing for history.
            let written_since_start = self.started_ms.is_some_and(|start| {
                let horizon = now_ms - start + MTIME_SLACK_MS;
                // Before its first append a transcript exists only as its lock.
                self.dirs.get(&agent).is_some_and(|dir| {
                    modified_within(dir, &name, horizon, now_ms)
                        || modified_within(dir, &format!("{name}.lock"), horizon, now_ms)
                })
            });
            if first_sight && !written_since_start {
                histories.extend(self.catch_up(&agent, &name, lock_held, now_ms));
            } else {
                self.follow_from_start(&agent, &name, now_ms, out);
                if lock_held {
                    self.on_lock(agent.clone(), name, true, now_ms, out);
                }
            }
        }
        if !histories.is_empty() {
            self.flush(now_ms, out);
            out.extend(self.tracker.catch_up_all(histories, now_ms));
        }
    }

    /// Starts following a transcript found at first sight of its agent; its history, when recent
    /// enough to matter, for the tracker to catch up on with the agent's other sessions.
    fn catch_up(
        &mut self,
        agent: &AgentRef,
        name: &str,
        lock_held: bool,
        now_ms: i64,
    ) -> Option<CatchUp> {
        let session = self.session_for(agent, name);
        if self.stores.holds(agent, &session.id.key) {
            return None;
        }
        let horizon = self.catch_up_horizon_ms;
        self.sessions_dir(agent)?;
        let (Some(dir), refusals) = (self.dirs.get(agent), &mut self.refusals) else {
            return None;
        };
        let recent = lock_held || modified_within(dir, name, horizon, now_ms);
        let mut followed = Followed {
            lock_held,
            session: Some(session.clone()),
            ..Followed::default()
        };
        let mut records = Vec::new();
        match open_tailer(dir, name, !recent, refusals) {
            Ok(Some(mut tailer)) => {
                if recent {
                    records = read_logged(&mut tailer, dir, name, refusals);
                }
                if !lock_held {
                    tailer.park();
                }
                followed.tailer = Some(tailer);
            }
            Ok(None) => {}
            Err(()) => return None,
        }
        self.files
            .insert((agent.clone(), name.to_owned()), followed);
        recent.then_some(CatchUp {
            session,
            records,
            lock_held,
        })
    }

    fn follow_from_start(
        &mut self,
        agent: &AgentRef,
        name: &str,
        now_ms: i64,
        out: &mut Vec<BoxDelta>,
    ) {
        let key = self.start_following(agent, name);
        self.read_and_feed(&key, now_ms, out);
    }

    /// Registers a transcript (which may not exist yet) under its session.
    fn start_following(&mut self, agent: &AgentRef, name: &str) -> FileKey {
        let session = self.session_for(agent, name);
        let key = (agent.clone(), name.to_owned());
        self.files.insert(
            key.clone(),
            Followed {
                session: Some(session),
                ..Followed::default()
            },
        );
        key
    }

    /// The session a transcript belongs to. When the index does not name it (yet), it is
    /// re-read once; failing that the transcript gets a key of its own so its turns still show.
    fn session_for(&mut self, agent: &AgentRef, name: &str) -> SessionRef {
        if let Some(s) = self.registry.session_for(agent, name) {
            return s;
        }
        self.reread_index(agent);
        self.registry.session_for(agent, name).unwrap_or_else(|| {
            tracing::debug!(transcript = name, "transcript not in the sessions index");
            SessionRef {
                id: SessionId {
                    gateway: agent.gateway.clone(),
                    agent_id: agent.agent_id.clone(),
                    key: format!(
                        "agent:{}:transcript:{}",
                        agent.agent_id,
                        crate::layout::transcript_session_id(name).unwrap_or(name)
                    ),
                },
                spawned_by: None,
                label: None,
                route: None,
            }
        })
    }

    fn on_transcript(
        &mut self,
        agent: AgentRef,
        name: String,
        kind: FsEventKind,
        now_ms: i64,
        out: &mut Vec<BoxDelta>,
    ) {
        let key = (agent.clone(), name.clone());
        if !self.files.contains_key(&key) {
            if kind == FsEventKind::Removed {
                return;
            }
            self.follow_from_start(&agent, &name, now_ms, out);
            return;
        }
        if kind == FsEventKind::Removed {
            // The fd stays valid after a rename or unlink: take what was written before it went.
            self.read_and_feed(&key, now_ms, out);
            return;
        }
        self.read_and_feed(&key, now_ms, out);
    }

    fn on_lock(
        &mut self,
        agent: AgentRef,
        transcript: String,
        held: bool,
        now_ms: i64,
        out: &mut Vec<BoxDelta>,
    ) {
        let key = (agent.clone(), transcript.clone());
        if !self.files.contains_key(&key) {
            if !held {
                return;
            }
            self.start_following(&agent, &transcript);
        }
        // Read first: the lock's removal follows the last append, which must come before it.
        self.read_and_feed(&key, now_ms, out);
        self.settle_session(&key, false, now_ms);
        let Some(followed) = self.files.get_mut(&key) else {
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
            self.queue.push((session, SessionInput::Lock { held }));
        }
    }

    /// Reads what is new in a followed transcript (opening it when it has appeared, switching
    /// when another file took its name) and feeds it to the tracker.
    fn read_and_feed(&mut self, key: &FileKey, now_ms: i64, out: &mut Vec<BoxDelta>) {
        let (agent, name) = key;
        if self.sessions_dir(agent).is_none() {
            return;
        }
        let (Some(dir), Some(followed), refusals) = (
            self.dirs.get(agent),
            self.files.get_mut(key),
            &mut self.refusals,
        ) else {
            return;
        };
        let mut records = Vec::new();
        let mut truncated = false;
        let mut reread = 0;
        match followed.tailer.as_mut() {
            None => match open_tailer(dir, name, false, refusals) {
                Ok(Some(mut tailer)) => {
                    records = read_logged(&mut tailer, dir, name, refusals);
                    followed.tailer = Some(tailer);
                }
                Ok(None) | Err(()) => return,
            },
            Some(tailer) if tailer.is_parked() => {
                let path = dir.path().join(name);
                match tailer.unpark(dir) {
                    Ok(()) => {
                        refusals.clear(&path);
                    }
                    // Gone: what it got after the last read went with it (see `unpark`).
                    Err(err) if err.is_not_found() => return,
                    Err(err) => {
                        report(refusals, path, &err, "transcript refused");
                        return;
                    }
                }
                records = read_logged(tailer, dir, name, refusals);
                truncated = tailer.take_truncated();
                reread = tailer.take_reread();
                if !followed.lock_held {
                    tailer.park();
                }
            }
            Some(tailer) => {
                let path = dir.path().join(name);
                let replaced = match dir.stat(name) {
                    Ok(Some((identity, _))) => {
                        refusals.clear(&path);
                        identity != tailer.identity()
                    }
                    Ok(None) => false,
                    // The file opened before is still read; the name is what was refused.
                    Err(err) => {
                        report(refusals, path, &err, "transcript refused");
                        false
                    }
                };
                if replaced {
                    match tailer.reopen(dir, name) {
                        Ok(r) => records = r,
                        Err(err) => report(
                            refusals,
                            dir.path().join(name),
                            &err,
                            "cannot switch to the new transcript",
                        ),
                    }
                }
                records.extend(read_logged(tailer, dir, name, refusals));
                truncated = tailer.take_truncated();
                reread = tailer.take_reread();
                // Between turns a transcript holds no fd: the next append reopens it.
                if !followed.lock_held {
                    tailer.park();
                }
            }
        }
        self.settle_session(key, !records.is_empty(), now_ms);
        let Some(followed) = self.files.get(key) else {
            return;
        };
        let Some(session) = followed.session.clone() else {
            return;
        };
        let lock_held = followed.lock_held;
        if truncated {
            // A rewritten transcript (compaction, rewind) is history again, not new progress.
            self.flush(now_ms, out);
            out.extend(
                self.tracker
                    .read_again(&session, records, lock_held, now_ms),
            );
            return;
        }
        if reread > 0 {
            // The rest of a rewrite, written back after the read that saw the truncation.
            let news = records.split_off(reread.min(records.len()));
            self.flush(now_ms, out);
            out.extend(
                self.tracker
                    .read_again(&session, records, lock_held, now_ms),
            );
            records = news;
        }
        self.feed(&session, records);
    }

    fn feed(&mut self, session: &SessionRef, records: Vec<TranscriptRecord>) {
        let agent = AgentRef {
            gateway: session.id.gateway.clone(),
            agent_id: session.id.agent_id.clone(),
        };
        if self.stores.holds(&agent, &session.id.key) {
            return;
        }
        self.queue.extend(
            records
                .into_iter()
                .map(|r| (session.clone(), SessionInput::Record(r))),
        );
    }

    /// The index moved a key to a new transcript (daily reset, `/new`): finish the old file,
    /// tell the tracker, and follow the new one from its start.
    fn rotate(
        &mut self,
        agent: &AgentRef,
        old: &str,
        new: &str,
        now_ms: i64,
        out: &mut Vec<BoxDelta>,
    ) {
        let old_key = (agent.clone(), old.to_owned());
        if self.files.contains_key(&old_key) {
            self.read_and_feed(&old_key, now_ms, out);
            if let Some(followed) = self.files.remove(&old_key)
                && let Some(session) = followed.session
            {
                self.queue.push((session, SessionInput::Reset));
            }
        }
        let new_key = (agent.clone(), new.to_owned());
        if !self.files.contains_key(&new_key) {
            self.follow_from_start(agent, new, now_ms, out);
        }
    }

    fn forget(&mut self, agent: &AgentRef, name: &str, now_ms: i64, out: &mut Vec<BoxDelta>) {
        let key = (agent.clone(), name.to_owned());
        if self.files.contains_key(&key) {
            self.read_and_feed(&key, now_ms, out);
        }
        if let Some(followed) = self.files.remove(&key)
            && let Some(session) = followed.session
        {
            self.queue.push((session, SessionInput::Gone));
        }
    }

    /// After an index reload: every followed transcript of the agent takes what the index now
    /// says of it (see `settle_session`).
    fn resolve_standins(&mut self, agent: &AgentRef, now_ms: i64) {
        let keys: Vec<FileKey> = self
            .files
            .keys()
            .filter(|(a, _)| a == agent)
            .cloned()
            .collect();
        for key in keys {
            self.settle_session(&key, false, now_ms);
        }
    }

    /// Brings a followed transcript's session up to date with the index, as it is at the moment
    /// its input is queued, whatever order the tier reported the index and the transcript in
    /// (one poll walk, or a tier blind to some writer, can give the transcript's lines before
    /// the index rename that named it). A stand-in key gives way to the real one: its box, if
    /// any, ends (retracted when only the lock opened it) and a held lock moves to the real
    /// session. `reread` (lines are about to be fed under a stand-in) re-reads the index first:
    /// the gateway names a transcript in its index before writing to it.
    fn settle_session(&mut self, key: &FileKey, reread: bool, now_ms: i64) {
        let (agent, name) = key;
        let Some(followed) = self.files.get(key) else {
            return;
        };
        let standin = followed.session.as_ref().is_none_or(is_standin);
        let mut resolved = self.registry.session_for(agent, name);
        let reread_due = followed
            .index_reread_ms
            .is_none_or(|at| now_ms - at >= STANDIN_REREAD_MS);
        if resolved.is_none() && standin && reread && reread_due {
            if let Some(f) = self.files.get_mut(key) {
                f.index_reread_ms = Some(now_ms);
            }
            self.reread_index(agent);
            resolved = self.registry.session_for(agent, name);
        }
        let (Some(resolved), Some(followed)) = (resolved, self.files.get_mut(key)) else {
            return;
        };
        match followed.session.as_mut() {
            // Labels and parents can be filled in later by the gateway.
            Some(current) if current.id == resolved.id => *current = resolved,
            Some(_) if !standin => {}
            _ => {
                let old = followed.session.replace(resolved.clone());
                let held = followed.lock_held;
                if let Some(old) = old {
                    self.queue.push((old, SessionInput::Gone));
                }
                if held {
                    self.queue
                        .push((resolved, SessionInput::Lock { held: true }));
                }
            }
        }
    }
}

fn open_tailer(
    dir: &SessionsDir,
    name: &str,
    at_end: bool,
    refusals: &mut Reported<std::path::PathBuf>,
) -> Result<Option<JsonlTailer>, ()> {
    let path = dir.path().join(name);
    // History is followed from its end, parked: no fd until it is written again.
    let opened = if at_end {
        JsonlTailer::deferred(dir, name)
    } else {
        JsonlTailer::open(dir, name, None)
    };
    match opened {
        Ok(t) => {
            if refusals.clear(&path) {
                tracing::info!(file = %path.display(), "transcript followed again");
            }
            Ok(Some(t))
        }
        Err(TailError::NotFound { .. }) => Ok(None),
        Err(err) => {
            report(refusals, path, &err, "transcript not followed");
            Err(())
        }
    }
}

fn read_logged(
    tailer: &mut JsonlTailer,
    dir: &SessionsDir,
    name: &str,
    refusals: &mut Reported<std::path::PathBuf>,
) -> Vec<TranscriptRecord> {
    match tailer.read_new() {
        Ok(records) => records,
        Err(err) => {
            report(
                refusals,
                dir.path().join(name),
                &err,
                "cannot read the transcript",
            );
            Vec::new()
        }
    }
}

/// Logs a transcript's problem once per change of state, not at every event of its session.
fn report(
    refusals: &mut Reported<std::path::PathBuf>,
    path: std::path::PathBuf,
    err: &TailError,
    what: &str,
) {
    let text = err.to_string();
    if is_writable_by_others(err) {
        // The registry reports the dir once, not each file in it.
        tracing::debug!(file = %path.display(), "{what}: {text}");
    } else if refusals.is_news(path.clone(), &text) {
        tracing::warn!(file = %path.display(), "{what}: {text}");
    }
}

fn is_writable_by_others(err: &TailError) -> bool {
    matches!(
        err,
        TailError::Refused(crate::guarded::GuardError::WritableByOthers { .. })
    )
}

fn modified_within(dir: &SessionsDir, name: &str, horizon_ms: i64, now_ms: i64) -> bool {
    let path = dir.path().join(name);
    let Ok(meta) = std::fs::symlink_metadata(&path) else {
        return false;
    };
    let Ok(modified) = meta.modified() else {
        return true;
    };
    let mtime_ms = crate::clock::epoch_ms(modified);
    now_ms - mtime_ms <= horizon_ms
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod refusal_tests;
