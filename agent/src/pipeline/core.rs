//! The synchronous heart of the daemon: watch events in, box deltas out. Routes what the
//! gateway registry sees to the followers (JSONL transcripts, SQLite stores) and what they read
//! to the session tracker, in the order of the data flow. No I/O scheduling here, so the same
//! core runs under tokio, in replay and in tests.

use std::collections::HashSet;

use crate::gateway::{AgentRef, Change, Registry};
use crate::session::tracker::{SessionConfig, SessionInput, Tracker};
use crate::session::{BoxDelta, SessionRef};
use crate::watch::{FsEvent, Scope};

use super::stores::{StoreReads, Stores};
use super::transcripts::{Reading, Told, Transcripts};

pub struct Core {
    registry: Registry,
    pub(super) tracker: Tracker,
    /// JSONL transcripts (before 2026.8), per file.
    transcripts: Transcripts,
    /// SQLite stores (2026.8+), per agent.
    stores: Stores,
    known_agents: HashSet<AgentRef>,
    /// Inputs of the events being applied, fed to the tracker together at the end (see `flush`).
    queue: Vec<(SessionRef, SessionInput)>,
    /// When `startup` ran: a file written since then is news, whenever its directory is found.
    started_ms: Option<i64>,
}

impl Core {
    pub fn new(scope: Scope, cfg: SessionConfig) -> Core {
        Core {
            registry: Registry::new(scope),
            transcripts: Transcripts::new(cfg.idle_timeout_ms),
            tracker: Tracker::new(cfg),
            stores: Stores::default(),
            known_agents: HashSet::new(),
            queue: Vec::new(),
            started_ms: None,
        }
    }

    /// A reloaded config: boxes keep their state, what comes next follows `cfg`.
    pub fn reconfigure(&mut self, cfg: SessionConfig) {
        self.transcripts.set_catch_up_horizon(cfg.idle_timeout_ms);
        self.tracker.reconfigure(cfg);
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn open_boxes(&self) -> usize {
        self.tracker.open_boxes()
    }

    pub fn followed_files(&self) -> usize {
        self.transcripts.followed_files()
    }

    /// Followed transcripts holding an fd (their lock is held, or they are being read).
    pub fn open_transcripts(&self) -> usize {
        self.transcripts.open_transcripts()
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

    fn apply(&mut self, changes: Vec<Change>, now_ms: i64) -> Vec<BoxDelta> {
        let mut out = Vec::new();
        for change in changes {
            match change {
                Change::Scan(agent) => self.scan(agent, now_ms, &mut out),
                Change::Store(agent) => {
                    let reads = self.stores.woke(&agent, self.started(now_ms), now_ms);
                    self.take_store_reads(reads, now_ms, &mut out);
                }
                Change::Index(agent, change) => {
                    self.read_transcripts(now_ms, &mut out, |t, cx| t.on_index(cx, &agent, change))
                }
                Change::Transcript { agent, name, kind } => {
                    self.read_transcripts(now_ms, &mut out, |t, cx| {
                        t.on_transcript(cx, agent, name, kind)
                    })
                }
                Change::Lock {
                    agent,
                    transcript,
                    held,
                } => self.read_transcripts(now_ms, &mut out, |t, cx| {
                    t.on_lock(cx, agent, transcript, held)
                }),
            }
        }
        self.read_transcripts(now_ms, &mut out, Transcripts::apply_rereads);
        self.flush(now_ms, &mut out);
        out
    }

    /// When `startup` ran (now, during it).
    fn started(&self, now_ms: i64) -> i64 {
        self.started_ms.unwrap_or(now_ms)
    }

    /// An agent's files, at its first sight or after a tier lost events.
    fn scan(&mut self, agent: AgentRef, now_ms: i64, out: &mut Vec<BoxDelta>) {
        let first_sight = self.known_agents.insert(agent.clone());
        // The store first: it decides which sessions JSONL leftovers must not be read for.
        let store_catch_up = first_sight && self.started_ms.is_none();
        let reads = self
            .stores
            .follow(&agent, store_catch_up, self.started(now_ms));
        self.take_store_reads(reads, now_ms, out);
        let started_ms = self.started_ms;
        self.read_transcripts(now_ms, out, |t, cx| {
            t.scan(cx, &agent, first_sight, started_ms)
        });
    }

    /// One call into the JSONL follower, with the registry and stores it consults; what it read
    /// is told to the tracker in the order it was read.
    fn read_transcripts(
        &mut self,
        now_ms: i64,
        out: &mut Vec<BoxDelta>,
        call: impl FnOnce(&mut Transcripts, &mut Reading),
    ) {
        let mut cx = Reading {
            registry: &mut self.registry,
            stores: &self.stores,
            now_ms,
            told: Vec::new(),
        };
        call(&mut self.transcripts, &mut cx);
        for told in cx.told {
            match told {
                Told::Input(session, input) => self.queue.push((session, input)),
                Told::ReadAgain {
                    session,
                    records,
                    lock_held,
                } => {
                    self.flush(now_ms, out);
                    out.extend(
                        self.tracker
                            .read_again(&session, records, lock_held, now_ms),
                    );
                }
                Told::CatchUp(histories) => {
                    self.flush(now_ms, out);
                    out.extend(self.tracker.catch_up_all(histories, now_ms));
                }
            }
        }
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

    /// Feeds the queued inputs, merged across sessions in transcript-time order with each
    /// session's own order kept: files that changed together (one poll interval, one burst of
    /// events) are read one after the other, but a sub-agent's line written before its
    /// parent's must still come first in the parent's box.
    fn flush(&mut self, now_ms: i64, out: &mut Vec<BoxDelta>) {
        let mut merge = super::merge::TimeMerge::new(std::mem::take(&mut self.queue));
        while let Some((session, input)) = merge.next() {
            out.extend(self.tracker.handle(session, input, now_ms));
        }
    }
}

#[cfg(test)]
mod tests;
