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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

mod catch_up;
mod expiry;
mod lines;
mod subagent;
#[cfg(test)]
mod tests;
mod turn;
mod views;

pub use views::{OpenBoxView, SessionView};

use super::boxes::{Boxes, Outbox};
use super::delta::{BoxDelta, BoxId, LineStatus, SessionId, SessionRef};
use super::labels::ToolLabels;
use super::text;
use crate::transcript::{TranscriptEvent, TranscriptRecord};

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
/// The user message of OpenClaw's own periodic heartbeat turn (every 30 min by default; seen in
/// 2026.4.27 and 2026.9.6 transcripts and stores). The gateway posts nothing for it unless the
/// agent finds something to say, so such a turn gets no box: a box in the user's DM every half
/// hour would tell them nothing.
const HEARTBEAT_POLL: &str = "[OpenClaw heartbeat poll]";
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
    /// The newest transcript time of the lines taken in: a transcript read again from its
    /// start goes on from there (`read_again`).
    newest_line_ms: Option<i64>,
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
        self.newest_line_ms = self.newest_line_ms.max(ev.ts_ms());
        false
    }
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

    fn register(&mut self, session: &SessionRef, at_ms: i64, out: &mut Outbox) {
        match self.sessions.get_mut(&session.id) {
            Some(s) => {
                let became_child = !s.is_child() && session.spawned_by.is_some();
                // Nearly always the same: comparing costs less than a clone per input.
                if s.sref != *session {
                    s.sref = session.clone();
                }
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
                        newest_line_ms: None,
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
}
