//! One state machine per session: turns become boxes, transcript events become box operations.
//!
//! Rules, and the OpenClaw behaviour behind them (see tests/fixtures/openclaw):
//!
//! - **Turn start**: a (non-history) user message, the transcript lock becoming held while no
//!   turn is open, or any assistant message / tool result while no turn is open (a parent
//!   answering a sub-agent's completion announcement writes no user line in 2026.7). A user
//!   message while a turn is open (a steered run) stays in that turn's box. `BoxId::turn`
//!   counts a session's turns (history fed to `catch_up` included, removed sessions' counts
//!   kept), so ids never repeat within one tracker.
//! - **Turn end** comes only from an assistant stop reason: `stop`/`length` → `[DONE]`, `error`
//!   → `[ERROR]` with the provider's message, `aborted` → `[INTERRUPTED]`. Never from the lock:
//!   2026.5–2026.7 release it for tens of ms between model steps.
//! - **Lock tail**: after the final message 2026.7 takes the lock 1–3 more times for bookkeeping
//!   appends. A lock taken within `lock_tail_ms` of a turn's end opens no box; if it is still
//!   held when that window is over, it is a real turn after all and the box opens then (dated
//!   from when the lock was taken).
//! - **Lock-only boxes**: a box opened by the lock alone that sees no transcript entry while the
//!   lock stays released for `lock_retract_grace_ms` is retracted (sinks drop it), and so is one
//!   that reaches the idle timeout, a reset or removal without content.
//! - **History** (`history: true`, a thread fork's copy of its parent) changes nothing at all.
//! - **Timeouts**: no input for `idle_timeout_ms` (a sub-agent's input counts for its parent's
//!   box), or a box older than `max_duration_ms`, closes the box `[INTERRUPTED]`: the gateway
//!   never said the turn ended, so claiming `[DONE]` would be a guess. An idle box is dated at
//!   its last activity, not at the moment the timeout noticed it. A turn that goes on after a
//!   timeout continues in a new box.
//! - **Sub-agents** (`SessionRef::spawned_by`) never own a box. Their lines go into the box of
//!   the session that spawned them, one level deeper than the `Sub-agent: <label>` line of the
//!   spawn call (matched by label, else the oldest unclaimed spawn; a heading is added when no
//!   spawn line is there), and their end adds `[DONE] 28s` under it. Their tokens count for that
//!   box. A box whose owner stops while a child it spawned is still running (or a spawn it made
//!   has not been picked up for `child_start_grace_ms`) keeps its Close until the child ends,
//!   or until the box has been idle for `idle_timeout_ms`; a child cut off that way gets an
//!   `[INTERRUPTED]` end line. A child that starts after its parent began another turn still
//!   goes to the box holding its spawn line. Lines are append-only, so a child's lines come
//!   where they happen, possibly after later lines of the parent; depth shows the nesting. A
//!   child whose parent has no open box shows nowhere.
//! - **Reset** (daily reset: new transcript under the same key) and **Gone** close an open box
//!   `[INTERRUPTED]`; Gone also closes boxes still waiting for children and forgets the session.
//! - Odd input never panics: a result before its call marks the call when it arrives, a stop
//!   without a start opens and closes a box in one delta, repeated records (same event, same
//!   timestamp) are dropped.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::boxes::{Boxes, ChildLink, Ending, Outbox, Spawn};
use super::delta::{
    BoxDelta, BoxId, BoxModel, BoxOp, BoxState, Line, LineKind, LineStatus, SessionId, SessionRef,
};
use super::labels::{self, ToolLabels};
use super::text;
use crate::transcript::{StopReason, ToolCall, TranscriptEvent, TranscriptRecord};

#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// No input for this long closes a box `[INTERRUPTED]`. Default 15 min: long enough for a
    /// slow tool run (the lock may be a box's only input meanwhile), short enough that a crashed
    /// gateway's box does not stay `[ACTIVE]` for the rest of the day.
    pub idle_timeout_ms: i64,
    /// A box open this long closes `[INTERRUPTED]` whatever happens in it. Default 2 h.
    pub max_duration_ms: i64,
    pub labels: Arc<ToolLabels>,
    /// Bound of an assistant text line, in chars. Default 120.
    pub max_text_chars: usize,
    /// A lock taken this soon after a turn ended is bookkeeping, not a new turn. Default 3 s
    /// (2026.7 finishes its bookkeeping within ~50 ms).
    pub lock_tail_ms: i64,
    /// A lock-only box whose lock stays released this long is retracted. Default 2 s (2026.7
    /// re-takes the lock within ~70 ms between model steps).
    pub lock_retract_grace_ms: i64,
    /// How long a finished box waits for a spawned child that has not shown up yet. Default 30 s.
    pub child_start_grace_ms: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            idle_timeout_ms: 15 * 60 * 1000,
            max_duration_ms: 2 * 60 * 60 * 1000,
            labels: Arc::new(ToolLabels::builtin()),
            max_text_chars: 120,
            lock_tail_ms: 3_000,
            lock_retract_grace_ms: 2_000,
            child_start_grace_ms: 30_000,
        }
    }
}

/// One session's history for `Tracker::catch_up_all`.
#[derive(Clone, Debug)]
pub struct CatchUp {
    pub session: SessionRef,
    pub records: Vec<TranscriptRecord>,
    /// Its transcript's lock is held now.
    pub lock_held: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SessionInput {
    /// The transcript's `.jsonl.lock` appeared (`held: true`) or went away.
    Lock {
        held: bool,
    },
    Record(TranscriptRecord),
    /// The transcript rotated, or a new sessionId took over the same key.
    Reset,
    /// The session was removed.
    Gone,
}

/// Assistant replies that mean "say nothing".
const SILENT_REPLIES: &[&str] = &["NO_REPLY", "HEARTBEAT_OK"];
/// Recent events remembered per session to drop repeats.
const DEDUP_MEMORY: usize = 16;
/// Results kept for calls not seen yet; more are odd input, not worth memory.
const EARLY_RESULTS_CAP: usize = 64;
/// Bound of a provider error message kept for the footer.
const MAX_ERROR_CHARS: usize = 500;

/// Where a session's lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    box_id: BoxId,
    depth: u8,
}

#[derive(Debug)]
struct Turn {
    started_ms: i64,
    /// Own box for a top-level session; the parent's box for a child, found lazily.
    target: Option<Target>,
    /// A transcript entry was seen (else the turn exists only because of the lock).
    content: bool,
    /// Transcript time of the turn's first entry: where its duration counts from, as in
    /// `replay`, which knows no lock (a lock may come seconds before the first line).
    first_line_ms: Option<i64>,
    calls: HashMap<String, (BoxId, u64)>,
    early_results: HashMap<String, LineStatus>,
}

#[derive(Debug)]
struct SessionState {
    sref: SessionRef,
    turns: u64,
    turn: Option<Turn>,
    lock_held: bool,
    lock_since: i64,
    lock_released_at: Option<i64>,
    /// When the last turn ended on a stop reason (timeouts and resets do not count).
    last_turn_end: Option<i64>,
    last_input: i64,
    recent: VecDeque<TranscriptEvent>,
    /// A child's last target, so its own children still find the box after its turn ended.
    last_target: Option<Target>,
    /// Transcript time of the first line of the session's latest turn that wrote one.
    last_first_line_ms: Option<i64>,
}

impl SessionState {
    /// What `expire_session` may act on besides the session's open boxes.
    fn has_timer(&self) -> bool {
        self.turn.is_some() || (self.lock_held && self.last_turn_end.is_some())
    }

    fn is_child(&self) -> bool {
        self.sref.spawned_by.is_some()
    }

    /// The entry's label as one line, if it has a usable one.
    fn label(&self) -> Option<String> {
        self.sref
            .label
            .as_deref()
            .map(text::one_line)
            .filter(|l| !l.is_empty())
    }

    fn seen_before(&mut self, ev: &TranscriptEvent) -> bool {
        if ev.ts_ms().is_none() || matches!(ev, TranscriptEvent::Header { .. }) {
            return false;
        }
        if self.recent.contains(ev) {
            return true;
        }
        if self.recent.len() == DEDUP_MEMORY {
            self.recent.pop_front();
        }
        self.recent.push_back(ev.clone());
        false
    }
}

/// A session as the local API shows it: running means a turn is open in the state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub id: SessionId,
    pub spawned_by: Option<String>,
    pub running: bool,
    /// When the session last had input (a lock change or a transcript line), wall-clock ms.
    pub updated_ms: i64,
}

/// An open box as the local API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBoxView {
    pub owner: SessionId,
    pub started_ms: i64,
    pub last_line: Option<String>,
}

#[derive(Debug)]
pub struct Tracker {
    cfg: SessionConfig,
    sessions: BTreeMap<SessionId, SessionState>,
    boxes: Boxes,
    /// Turn counts of removed sessions: if the key comes back, its box ids must not repeat
    /// ones sinks have already seen.
    retired_turns: HashMap<SessionId, u64>,
}

impl Tracker {
    /// A reloaded config: open boxes and their sequence stay as they are.
    pub fn reconfigure(&mut self, cfg: SessionConfig) {
        self.cfg = cfg;
    }

    pub fn new(cfg: SessionConfig) -> Tracker {
        Tracker {
            cfg,
            sessions: BTreeMap::new(),
            boxes: Boxes::default(),
            retired_turns: HashMap::new(),
        }
    }

    pub fn handle(
        &mut self,
        session: &SessionRef,
        input: SessionInput,
        at_ms: i64,
    ) -> Vec<BoxDelta> {
        let mut out = Outbox::default();
        self.register(session, at_ms, &mut out);
        self.expire_session(&session.id, at_ms, &mut out);
        let sid = &session.id;
        match input {
            SessionInput::Lock { held } => self.on_lock(sid, held, at_ms, &mut out),
            SessionInput::Record(rec) => self.on_record(sid, rec, at_ms, &mut out),
            SessionInput::Reset => self.on_reset(sid, at_ms, &mut out),
            SessionInput::Gone => self.on_gone(sid, at_ms, &mut out),
        }
        self.boxes.flush(out)
    }

    /// Startup / first sight of a session: feed its existing history silently; if at the end
    /// the session is mid-turn (lock held, or last turn not finished and `now_ms - last
    /// activity < idle timeout`), emit one Open delta showing that turn as it stands; otherwise
    /// nothing. Records are dated by their own timestamps. Lines a sub-agent's history adds to a
    /// box sinks already have are sent as ordinary deltas.
    pub fn catch_up(
        &mut self,
        session: &SessionRef,
        records: Vec<TranscriptRecord>,
        lock_held: bool,
        now_ms: i64,
    ) -> Vec<BoxDelta> {
        self.catch_up_all(
            vec![CatchUp {
                session: session.clone(),
                records,
                lock_held,
            }],
            now_ms,
        )
    }

    /// `catch_up` for several sessions at once (an agent's at startup), their records fed in
    /// transcript-time order across sessions, as they were written: a sub-agent's lines land in
    /// its parent's box where a live run put them, not after all of the parent's.
    pub fn catch_up_all(&mut self, sessions: Vec<CatchUp>, now_ms: i64) -> Vec<BoxDelta> {
        let known: BTreeSet<BoxId> = self.boxes.map.keys().cloned().collect();
        let mut deltas = Vec::new();
        let mut refs = Vec::with_capacity(sessions.len());
        let mut locks = Vec::with_capacity(sessions.len());
        let mut queues = Vec::with_capacity(sessions.len());
        for c in sessions {
            // An undated record keeps the time of the one before it in its own transcript.
            let mut last_at = None;
            let dated: VecDeque<(i64, TranscriptRecord)> = c
                .records
                .into_iter()
                .map(|rec| {
                    let at = rec.event.ts_ms().or(last_at).unwrap_or(now_ms);
                    last_at = Some(at);
                    (at, rec)
                })
                .collect();
            refs.push(c.session);
            locks.push(c.lock_held);
            queues.push(dated);
        }
        // Merged by the time of each transcript's next record; a transcript's own order is
        // kept whatever its timestamps say.
        let mut heads: BinaryHeap<Reverse<(i64, usize)>> = queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.front().map(|(at, _)| Reverse((*at, i))))
            .collect();
        while let Some(Reverse((at, i))) = heads.pop() {
            let Some((_, rec)) = queues[i].pop_front() else {
                continue;
            };
            deltas.extend(self.handle(&refs[i], SessionInput::Record(rec), at));
            if let Some((next, _)) = queues[i].front() {
                heads.push(Reverse((*next, i)));
            }
        }
        let mut out = Outbox::default();
        for (session, lock_held) in refs.iter().zip(&locks) {
            self.register(session, now_ms, &mut out);
            if *lock_held {
                // The gateway is working on the session now, however old its last entry is.
                self.on_lock(&session.id, true, now_ms, &mut out);
            } else {
                self.expire_session(&session.id, now_ms, &mut out);
            }
        }
        deltas.extend(self.boxes.flush(out));

        // Boxes born during the catch-up: every finished turn is handed on as a restored,
        // closed snapshot, oldest first (sinks that persist posts finish what a previous run
        // left open: a turn may have ended while the daemon was down, and the one after it
        // begun); the turn still running is handed on as a restored, open one. Each carries its
        // `FirstLine`, which is how a sink tells which post is whose.
        let mut result = Vec::new();
        let mut finished: BTreeMap<BoxId, BoxModel> = BTreeMap::new();
        for d in deltas {
            if known.contains(&d.id) {
                result.push(d);
                continue;
            }
            match finished.get_mut(&d.id) {
                Some(model) => {
                    let _ = model.apply(&d);
                }
                None => {
                    if let Ok(model) = BoxModel::open(&d) {
                        finished.insert(d.id.clone(), model);
                    }
                }
            }
        }
        let ours = |id: &BoxId| refs.iter().any(|r| r.id == id.session);
        let closed = finished
            .into_iter()
            .filter(|(id, m)| ours(id) && m.is_finished() && !m.retracted);
        for (id, mut model) in closed {
            model.restored = true;
            result.push(BoxDelta {
                id,
                seq: 1,
                ops: model.snapshot(),
            });
        }
        let fresh: Vec<BoxId> = self
            .boxes
            .map
            .keys()
            .filter(|id| !known.contains(*id))
            .cloned()
            .collect();
        for id in fresh {
            if let Some(mut delta) = self.restart_box(&id) {
                delta.ops.insert(1, BoxOp::Restored);
                result.push(delta);
            }
        }
        result
    }

    /// Time-driven changes: lock-only boxes retracted, tail locks that turned out to be turns,
    /// idle timeouts, max duration, boxes done waiting for their children.
    pub fn tick(&mut self, now_ms: i64) -> Vec<BoxDelta> {
        let mut out = Outbox::default();
        // Only sessions with a timer running: a host's history is thousands of quiet ones.
        let owners: HashSet<&SessionId> = self
            .boxes
            .map
            .values()
            .filter(|b| !b.closed)
            .map(|b| &b.owner)
            .collect();
        let ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(sid, s)| s.has_timer() || owners.contains(sid))
            .map(|(sid, _)| sid.clone())
            .collect();
        for sid in &ids {
            self.expire_session(sid, now_ms, &mut out);
        }
        self.boxes.flush(out)
    }

    /// Whether `tick` has anything to time: an open box, a turn, a lock in its tail window.
    /// While it does not, the loop need not wake until the next event.
    pub fn needs_ticks(&self) -> bool {
        self.boxes.map.values().any(|b| !b.closed) || self.sessions.values().any(|s| s.has_timer())
    }

    /// Every open box → Close Interrupted (the daemon stops watching).
    pub fn shutdown(&mut self, now_ms: i64) -> Vec<BoxDelta> {
        let mut out = Outbox::default();
        let open: Vec<BoxId> = self
            .boxes
            .map
            .iter()
            .filter(|(_, b)| !b.closed)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &open {
            self.boxes
                .close(&mut out, id, BoxState::Interrupted, now_ms, None);
        }
        for s in self.sessions.values_mut() {
            s.turn = None;
            s.lock_held = false;
            s.lock_released_at = None;
        }
        self.boxes.flush(out)
    }

    pub fn open_boxes(&self) -> usize {
        self.boxes.open_count()
    }

    /// Every session followed, for the local API's read-only snapshot.
    pub fn session_views(&self) -> Vec<SessionView> {
        self.sessions
            .values()
            .map(|s| SessionView {
                id: s.sref.id.clone(),
                spawned_by: s.sref.spawned_by.clone(),
                running: s.turn.is_some(),
                updated_ms: s.last_input,
            })
            .collect()
    }

    /// Every open box, for the local API's read-only snapshot.
    pub fn open_box_views(&self) -> Vec<OpenBoxView> {
        self.boxes
            .map
            .values()
            .filter(|b| !b.closed)
            .map(|b| OpenBoxView {
                owner: b.owner.clone(),
                started_ms: b.started_ms,
                last_line: b
                    .model
                    .as_ref()
                    .and_then(|m| m.lines.back())
                    .map(|l| l.text.clone()),
            })
            .collect()
    }

    fn register(&mut self, session: &SessionRef, at_ms: i64, out: &mut Outbox) {
        match self.sessions.get_mut(&session.id) {
            Some(s) => {
                let became_child = !s.is_child() && session.spawned_by.is_some();
                s.sref = session.clone();
                // The store named the parent only after the child's first lock or lines, so the
                // box it got meanwhile was never its own: drop it, the parent's box takes over.
                if became_child
                    && let Some(turn) = s.turn.as_mut()
                    && let Some(t) = turn.target.take()
                {
                    turn.calls.clear();
                    self.boxes.retract(out, &t.box_id);
                }
            }
            None => {
                self.sessions.insert(
                    session.id.clone(),
                    SessionState {
                        sref: session.clone(),
                        turns: self.retired_turns.remove(&session.id).unwrap_or(0),
                        turn: None,
                        lock_held: false,
                        lock_since: at_ms,
                        lock_released_at: None,
                        last_turn_end: None,
                        last_input: at_ms,
                        recent: VecDeque::new(),
                        last_target: None,
                        last_first_line_ms: None,
                    },
                );
            }
        }
    }

    /// Records input from a session: keeps its turn, and the box it feeds, from timing out.
    fn bump(&mut self, sid: &SessionId, at_ms: i64) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        s.last_input = s.last_input.max(at_ms);
        if let Some(t) = s.turn.as_ref().and_then(|t| t.target.as_ref()) {
            self.boxes.touch(&t.box_id, at_ms);
        }
    }

    fn on_lock(&mut self, sid: &SessionId, held: bool, at_ms: i64, out: &mut Outbox) {
        self.bump(sid, at_ms);
        let tail = self.cfg.lock_tail_ms;
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if !held {
            s.lock_held = false;
            s.lock_released_at = Some(at_ms);
            return;
        }
        s.lock_held = true;
        s.lock_since = at_ms;
        s.lock_released_at = None;
        if s.turn.is_some() || s.last_turn_end.is_some_and(|end| at_ms - end < tail) {
            return;
        }
        self.start_turn(sid, at_ms, out);
    }

    fn on_record(&mut self, sid: &SessionId, rec: TranscriptRecord, at_ms: i64, out: &mut Outbox) {
        if rec.history {
            return;
        }
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if s.seen_before(&rec.event) {
            return;
        }
        let line_ms = rec.event.ts_ms();
        self.bump(sid, at_ms);
        match rec.event {
            TranscriptEvent::Header { .. } => {}
            TranscriptEvent::Compaction { .. } => {
                if let Some(turn) = self.sessions.get_mut(sid).and_then(|s| s.turn.as_mut()) {
                    turn.content = true;
                }
            }
            TranscriptEvent::User { .. } => {
                self.ensure_turn(sid, at_ms, line_ms, out);
                self.resolve_target(sid, at_ms);
            }
            TranscriptEvent::Assistant {
                text,
                tool_calls,
                stop,
                error_message,
                total_tokens,
                ..
            } => {
                self.ensure_turn(sid, at_ms, line_ms, out);
                self.on_assistant(sid, &text, &tool_calls, total_tokens, at_ms, out);
                match stop {
                    StopReason::Stop | StopReason::Length => {
                        self.end_turn(sid, BoxState::Done, None, at_ms, out);
                    }
                    StopReason::Error => {
                        let error = error_message
                            .map(|e| text::cut_end(&text::one_line(&e), MAX_ERROR_CHARS))
                            .filter(|e| !e.is_empty());
                        self.end_turn(sid, BoxState::Error, error, at_ms, out);
                    }
                    StopReason::Aborted => {
                        self.end_turn(sid, BoxState::Interrupted, None, at_ms, out);
                    }
                    StopReason::ToolUse | StopReason::Other(_) => {}
                }
            }
            TranscriptEvent::ToolResult {
                tool_call_id,
                is_error,
                ..
            } => {
                self.ensure_turn(sid, at_ms, line_ms, out);
                let status = if is_error {
                    LineStatus::Err
                } else {
                    LineStatus::Ok
                };
                self.on_tool_result(sid, &tool_call_id, status, at_ms, out);
            }
        }
    }

    /// Starts a turn if none is open, and marks it as having transcript content; the turn's
    /// first line dates it for good (`BoxOp::FirstLine`).
    fn ensure_turn(&mut self, sid: &SessionId, at_ms: i64, line_ms: Option<i64>, out: &mut Outbox) {
        if self.sessions.get(sid).is_some_and(|s| s.turn.is_none()) {
            self.start_turn(sid, at_ms, out);
        }
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let Some(turn) = s.turn.as_mut() else { return };
        if turn.content {
            return;
        }
        turn.content = true;
        let Some(line_ms) = line_ms else { return };
        turn.first_line_ms = Some(line_ms);
        let Some(target) = &turn.target else { return };
        let id = target.box_id.clone();
        if target.depth == 0 && target.box_id.session == *sid {
            s.last_first_line_ms = Some(line_ms);
            self.boxes.first_line(out, &id, line_ms);
        } else {
            // A child attached on its lock: its own duration counts from its first line too.
            self.boxes.child_started(&id, sid, line_ms);
        }
    }

    fn start_turn(&mut self, sid: &SessionId, at_ms: i64, out: &mut Outbox) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let target = if s.is_child() {
            None
        } else {
            s.turns += 1;
            let box_id = BoxId {
                session: sid.clone(),
                turn: s.turns,
            };
            let route = s.sref.route.clone();
            self.boxes.open(
                out,
                box_id.clone(),
                &sid.agent_id,
                route,
                at_ms,
                s.last_first_line_ms,
            );
            Some(Target { box_id, depth: 0 })
        };
        s.turn = Some(Turn {
            started_ms: at_ms,
            target,
            content: false,
            first_line_ms: None,
            calls: HashMap::new(),
            early_results: HashMap::new(),
        });
    }

    /// Where the session's current turn writes, attaching a child to its parent's box on
    /// first need.
    fn resolve_target(&mut self, sid: &SessionId, at_ms: i64) -> Option<Target> {
        let s = self.sessions.get(sid)?;
        let turn = s.turn.as_ref()?;
        if let Some(t) = &turn.target
            && self.boxes.is_open(&t.box_id)
        {
            return Some(t.clone());
        }
        if !s.is_child() {
            return None;
        }
        let (parent, box_id, parent_depth) = self.parent_box(sid, at_ms)?;
        let own_label = s.label();
        let label = own_label
            .clone()
            .unwrap_or_else(|| sid.key.rsplit(':').next().unwrap_or("").to_string());
        let turn_started = turn.first_line_ms.unwrap_or(turn.started_ms);
        let b = self.boxes.get_mut(&box_id)?;
        b.last_activity = b.last_activity.max(at_ms);
        let depth = match b.children.get_mut(sid) {
            Some(link) => {
                link.running = true;
                link.turn_started_ms = turn_started;
                link.depth
            }
            None => {
                let mut free = b
                    .spawns
                    .iter_mut()
                    .filter(|sp| sp.spawner == parent && !sp.claimed && !sp.failed);
                let slot = match own_label.as_deref() {
                    Some(want) => {
                        let all: Vec<&mut Spawn> = free.collect();
                        let pos = all
                            .iter()
                            .position(|sp| sp.label.as_deref() == Some(want))
                            .unwrap_or(0);
                        all.into_iter().nth(pos)
                    }
                    None => free.next(),
                };
                let (depth, heading) = match slot {
                    Some(sp) => {
                        sp.claimed = true;
                        (sp.depth.saturating_add(1), true)
                    }
                    None => (parent_depth.saturating_add(1), false),
                };
                b.children.insert(
                    sid.clone(),
                    ChildLink {
                        depth,
                        label,
                        heading,
                        running: true,
                        turn_started_ms: turn_started,
                    },
                );
                depth
            }
        };
        let target = Target { box_id, depth };
        if let Some(turn) = self.sessions.get_mut(sid).and_then(|s| s.turn.as_mut()) {
            turn.target = Some(target.clone());
        }
        Some(target)
    }

    /// The spawning session, the box a child's lines go to, and the depth of the spawner's own
    /// lines there.
    fn parent_box(&self, sid: &SessionId, at_ms: i64) -> Option<(SessionId, BoxId, u8)> {
        let parent_key = self.sessions.get(sid)?.sref.spawned_by.as_deref()?;
        let parent = self
            .sessions
            .keys()
            .filter(|p| *p != sid && p.gateway == sid.gateway && p.key == parent_key)
            .max_by_key(|p| p.agent_id == sid.agent_id)?;
        let ps = self.sessions.get(parent)?;
        let (box_id, depth) = if ps.is_child() {
            let t = ps
                .turn
                .as_ref()
                .and_then(|t| t.target.clone())
                .filter(|t| self.boxes.is_open(&t.box_id))
                .or_else(|| {
                    ps.last_target
                        .clone()
                        .filter(|t| self.boxes.is_open(&t.box_id))
                })?;
            (t.box_id, t.depth)
        } else {
            // The parent may have moved on to a new turn while the box with this child's spawn
            // line still waits for it: that box first (label match, then any free spawn), else
            // the newest.
            let label = self.sessions.get(sid).and_then(SessionState::label);
            let open: Vec<&BoxId> = self
                .boxes
                .map
                .iter()
                .filter(|(_, b)| !b.closed && &b.owner == parent)
                .map(|(id, _)| id)
                .collect();
            let with_free_spawn = |want: Option<&str>| {
                open.iter().rev().copied().find(|id| {
                    self.boxes.get(id).is_some_and(|b| {
                        b.spawns.iter().any(|sp| {
                            &sp.spawner == parent
                                && !sp.claimed
                                && !sp.failed
                                && want.is_none_or(|w| sp.label.as_deref() == Some(w))
                        })
                    })
                })
            };
            let id = label
                .as_deref()
                .and_then(|l| with_free_spawn(Some(l)))
                .or_else(|| with_free_spawn(None))
                .or_else(|| open.last().copied())?;
            (id.clone(), 0)
        };
        // During catch-up a child's old turns must not land in a newer box of its parent.
        if at_ms < self.boxes.get(&box_id)?.started_ms {
            return None;
        }
        Some((parent.clone(), box_id, depth))
    }

    /// Adds one of the session's own lines (a child's go under its heading).
    fn add_line(
        &mut self,
        sid: &SessionId,
        target: &Target,
        line: Line,
        out: &mut Outbox,
    ) -> Option<u64> {
        if self.sessions.get(sid).is_some_and(SessionState::is_child) {
            self.boxes.ensure_heading(out, &target.box_id, sid);
        }
        self.boxes.add_line(out, &target.box_id, line)
    }

    fn on_assistant(
        &mut self,
        sid: &SessionId,
        reply: &str,
        tool_calls: &[ToolCall],
        total_tokens: Option<u64>,
        at_ms: i64,
        out: &mut Outbox,
    ) {
        let Some(target) = self.resolve_target(sid, at_ms) else {
            return;
        };
        let shown = text::first_line(reply);
        if !shown.is_empty() && !SILENT_REPLIES.contains(&reply.trim()) {
            let line = Line {
                depth: target.depth,
                kind: LineKind::Text,
                text: text::cut_end(&text::one_line(shown), self.cfg.max_text_chars),
                status: LineStatus::None,
            };
            self.add_line(sid, &target, line, out);
        }
        for call in tool_calls {
            let known = self
                .sessions
                .get(sid)
                .and_then(|s| s.turn.as_ref())
                .is_some_and(|t| !call.id.is_empty() && t.calls.contains_key(&call.id));
            if known {
                continue;
            }
            let spawn = labels::spawn_request(call);
            let status = self
                .sessions
                .get_mut(sid)
                .and_then(|s| s.turn.as_mut())
                .and_then(|t| t.early_results.remove(&call.id))
                .unwrap_or(LineStatus::None);
            let line = Line {
                depth: target.depth,
                kind: if spawn.is_some() {
                    LineKind::SubAgent
                } else {
                    LineKind::Tool
                },
                text: self.cfg.labels.label(call),
                status,
            };
            let Some(index) = self.add_line(sid, &target, line, out) else {
                continue;
            };
            if !call.id.is_empty()
                && let Some(turn) = self.sessions.get_mut(sid).and_then(|s| s.turn.as_mut())
            {
                turn.calls
                    .insert(call.id.clone(), (target.box_id.clone(), index));
            }
            if let (Some(req), Some(b)) = (spawn, self.boxes.get_mut(&target.box_id)) {
                b.spawns.push(Spawn {
                    spawner: sid.clone(),
                    label: req.label,
                    line: index,
                    depth: target.depth,
                    at_ms,
                    claimed: false,
                    failed: status == LineStatus::Err,
                });
            }
        }
        if let Some(n) = total_tokens {
            self.boxes.add_tokens(out, &target.box_id, n);
        }
    }

    fn on_tool_result(
        &mut self,
        sid: &SessionId,
        call_id: &str,
        status: LineStatus,
        at_ms: i64,
        out: &mut Outbox,
    ) {
        self.resolve_target(sid, at_ms);
        let Some(turn) = self.sessions.get_mut(sid).and_then(|s| s.turn.as_mut()) else {
            return;
        };
        let Some((box_id, index)) = turn.calls.get(call_id).cloned() else {
            if turn.early_results.len() < EARLY_RESULTS_CAP {
                turn.early_results.insert(call_id.to_string(), status);
            }
            return;
        };
        self.boxes.set_status(out, &box_id, index, status);
        if let Some(b) = self.boxes.get_mut(&box_id) {
            for sp in b
                .spawns
                .iter_mut()
                .filter(|sp| sp.line == index && &sp.spawner == sid)
            {
                sp.failed = status == LineStatus::Err;
            }
        }
    }

    /// The turn ended on a stop reason.
    fn end_turn(
        &mut self,
        sid: &SessionId,
        state: BoxState,
        error: Option<String>,
        at_ms: i64,
        out: &mut Outbox,
    ) {
        let grace = self.cfg.child_start_grace_ms;
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let Some(turn) = s.turn.take() else {
            return;
        };
        s.last_turn_end = Some(at_ms);
        let Some(target) = turn.target else {
            return;
        };
        if s.is_child() {
            s.last_target = Some(target.clone());
            self.boxes
                .end_child(out, &target.box_id, sid, state, error.as_deref(), at_ms);
            self.boxes.touch(&target.box_id, at_ms);
            self.boxes
                .finish_if_ready(out, &target.box_id, at_ms, grace);
        } else if let Some(b) = self.boxes.get_mut(&target.box_id) {
            b.ending = Some(Ending {
                state,
                error,
                at_ms,
            });
            self.boxes
                .finish_if_ready(out, &target.box_id, at_ms, grace);
        }
    }

    /// The turn stops without a stop reason (timeout, reset, removal): `[INTERRUPTED]`, or
    /// retracted when it never saw a transcript entry.
    fn abort_turn(&mut self, sid: &SessionId, ended_ms: i64, out: &mut Outbox) {
        let grace = self.cfg.child_start_grace_ms;
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        let Some(turn) = s.turn.take() else {
            return;
        };
        let Some(target) = turn.target else {
            return;
        };
        if s.is_child() {
            s.last_target = Some(target.clone());
            self.boxes.end_child(
                out,
                &target.box_id,
                sid,
                BoxState::Interrupted,
                None,
                ended_ms,
            );
            self.boxes
                .finish_if_ready(out, &target.box_id, ended_ms, grace);
        } else if turn.content {
            self.boxes
                .close(out, &target.box_id, BoxState::Interrupted, ended_ms, None);
        } else {
            self.boxes.retract(out, &target.box_id);
        }
    }

    fn on_reset(&mut self, sid: &SessionId, at_ms: i64, out: &mut Outbox) {
        self.abort_turn(sid, at_ms, out);
        if let Some(s) = self.sessions.get_mut(sid) {
            s.lock_held = false;
            s.lock_released_at = None;
            s.last_turn_end = None;
            s.recent.clear();
        }
    }

    fn on_gone(&mut self, sid: &SessionId, at_ms: i64, out: &mut Outbox) {
        self.on_reset(sid, at_ms, out);
        let owned: Vec<BoxId> = self
            .boxes
            .map
            .iter()
            .filter(|(_, b)| !b.closed && &b.owner == sid)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &owned {
            let (state, error) = match self.boxes.get(id).and_then(|b| b.ending.clone()) {
                Some(e) => (e.state, e.error),
                None => (BoxState::Interrupted, None),
            };
            self.boxes.close(out, id, state, at_ms, error);
        }
        if let Some(s) = self.sessions.remove(sid) {
            self.retired_turns.insert(sid.clone(), s.turns);
        }
    }

    /// Applies every time-based rule to one session and the boxes it owns, as of `now_ms`.
    fn expire_session(&mut self, sid: &SessionId, now_ms: i64, out: &mut Outbox) {
        let cfg = &self.cfg;
        let (idle, tail, grace, max_dur, start_grace) = (
            cfg.idle_timeout_ms,
            cfg.lock_tail_ms,
            cfg.lock_retract_grace_ms,
            cfg.max_duration_ms,
            cfg.child_start_grace_ms,
        );
        let Some(s) = self.sessions.get(sid) else {
            return;
        };

        if let Some(turn) = &s.turn {
            let lock_gone = !s.lock_held && s.lock_released_at.is_some_and(|r| now_ms - r >= grace);
            let activity = match (&turn.target, s.is_child()) {
                (Some(t), false) => self
                    .boxes
                    .get(&t.box_id)
                    .map_or(s.last_input, |b| b.last_activity),
                _ => s.last_input,
            };
            if !turn.content && lock_gone {
                self.abort_turn(sid, now_ms, out);
            } else if now_ms - activity >= idle {
                self.abort_turn(sid, activity, out);
            }
        } else if let Some(end) = s.last_turn_end {
            // A lock taken in the tail window and still held after it: a real turn after all.
            if s.lock_held && s.lock_since >= end && now_ms - end >= tail {
                let since = s.lock_since;
                self.start_turn(sid, since, out);
            }
        }

        for id in &self.boxes.open_of(sid) {
            let Some(b) = self.boxes.get(id) else {
                continue;
            };
            let (started, activity, ending) = (b.started_ms, b.last_activity, b.ending.clone());
            if now_ms - started >= max_dur {
                if let Some(s) = self.sessions.get_mut(sid)
                    && s.turn
                        .as_ref()
                        .and_then(|t| t.target.as_ref())
                        .is_some_and(|t| &t.box_id == id)
                {
                    s.turn = None;
                }
                self.boxes
                    .close(out, id, BoxState::Interrupted, now_ms, None);
            } else if let Some(e) = ending {
                if now_ms - activity >= idle {
                    self.boxes
                        .close(out, id, e.state, activity.max(e.at_ms), e.error);
                } else {
                    self.boxes.finish_if_ready(out, id, now_ms, start_grace);
                }
            }
        }
    }

    /// Re-bases a box opened during catch-up: sinks never saw its deltas, so its whole state
    /// goes out as one Open delta with seq 1.
    fn restart_box(&mut self, id: &BoxId) -> Option<BoxDelta> {
        let b = self.boxes.get_mut(id)?;
        let model = b.model.as_ref()?;
        let dropped = model.dropped;
        let delta = BoxDelta {
            id: id.clone(),
            seq: 1,
            ops: model.snapshot(),
        };
        b.model = BoxModel::open(&delta).ok();
        if dropped > 0 {
            // The snapshot starts its line indexes at the oldest line it still holds.
            b.next_line = b.next_line.saturating_sub(dropped);
            for sp in &mut b.spawns {
                sp.line = sp.line.saturating_sub(dropped);
            }
            for s in self.sessions.values_mut() {
                if let Some(turn) = s.turn.as_mut() {
                    turn.calls.retain(|_, (bid, index)| {
                        if bid != id {
                            return true;
                        }
                        match index.checked_sub(dropped) {
                            Some(i) => {
                                *index = i;
                                true
                            }
                            None => false,
                        }
                    });
                }
            }
        }
        Some(delta)
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
