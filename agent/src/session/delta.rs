//! What the session stage emits: `seq`-numbered operations on one status box per turn. Sinks
//! fold them into a `BoxModel` (or forward them as they are, to the Mattermost plugin), so every
//! sink shows the same box and a gap in `seq` is detectable.

use std::cmp::Ordering;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

/// A session as the gateway stage identified it. Every input, box and map of the pipeline
/// carries one: shared, so that a clone is a reference count and comparing a session with
/// itself (the usual lookup) does not walk its path and strings (`perf`, load bench).
/// (`Arc`'s equality already takes one allocation as equal to itself; ordering is written
/// below to do the same.)
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(Arc<SessionName>);

/// What names a session; read through a `SessionId`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SessionName {
    /// The gateway's state dir.
    pub gateway: PathBuf,
    pub agent_id: String,
    /// The session key, e.g. `agent:main:mattermost:channel:<id>`.
    pub key: String,
}

impl SessionId {
    pub fn new(gateway: PathBuf, agent_id: String, key: String) -> SessionId {
        SessionId(Arc::new(SessionName {
            gateway,
            agent_id,
            key,
        }))
    }
}

impl Deref for SessionId {
    type Target = SessionName;

    fn deref(&self) -> &SessionName {
        &self.0
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionId")
            .field("gateway", &self.gateway)
            .field("agent_id", &self.agent_id)
            .field("key", &self.key)
            .finish()
    }
}

impl PartialOrd for SessionId {
    fn partial_cmp(&self, other: &SessionId) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SessionId {
    fn cmp(&self, other: &SessionId) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            return Ordering::Equal;
        }
        let (a, b) = (&*self.0, &*other.0);
        // The gateway's path as bytes, not component by component: any total order serves the
        // maps, and `Path`'s own was a tenth of the tracker's time (every session of a gateway
        // shares the path, so each comparison walked it whole).
        a.gateway
            .as_os_str()
            .cmp(b.gateway.as_os_str())
            .then_with(|| a.agent_id.cmp(&b.agent_id))
            .then_with(|| a.key.cmp(&b.key))
    }
}

/// Everything the session stage needs to know about a session besides its events, shared:
/// the registry builds one per session and index, and every input of that session carries it
/// (building its route and labels per event was a tenth of the pipeline's CPU).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRef(Arc<SessionInfo>);

impl From<SessionInfo> for SessionRef {
    fn from(info: SessionInfo) -> SessionRef {
        SessionRef(Arc::new(info))
    }
}

impl Deref for SessionRef {
    type Target = SessionInfo;

    fn deref(&self) -> &SessionInfo {
        &self.0
    }
}

/// What a `SessionRef` holds.
#[derive(Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: SessionId,
    /// Key of the session that spawned this one (sub-agents), from the entry's `spawnedBy`.
    pub spawned_by: Option<String>,
    /// The entry's `label` (sub-agents) or display name.
    pub label: Option<String>,
    /// Where the session's boxes go in Mattermost; None when it is not bound to Mattermost.
    pub route: Option<crate::gateway::Route>,
}

/// One box = one turn of one top-level session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BoxId {
    pub session: SessionId,
    /// Counts turns of that session since the agent started following it.
    pub turn: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoxState {
    Active,
    Done,
    Error,
    Interrupted,
}

impl BoxState {
    pub fn tag(self) -> &'static str {
        match self {
            BoxState::Active => "[ACTIVE]",
            BoxState::Done => "[DONE]",
            BoxState::Error => "[ERROR]",
            BoxState::Interrupted => "[INTERRUPTED]",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Short assistant text.
    Text,
    /// A tool call; its status turns Ok/Err when the result arrives.
    Tool,
    /// A sub-agent's heading (`Sub-agent: <label>`); the child's lines follow one level deeper.
    SubAgent,
    /// A sub-agent's end (`[DONE] 28s`), one level deeper than its heading.
    SubAgentEnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineStatus {
    /// Nothing to mark (text), or a tool still running.
    None,
    Ok,
    Err,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 0 for the session's own lines, 1 for a sub-agent's, and so on.
    pub depth: u8,
    pub kind: LineKind,
    pub text: String,
    pub status: LineStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoxOp {
    /// First op of every box.
    Open {
        agent_id: String,
        session_key: String,
        started_ms: i64,
        route: Option<crate::gateway::Route>,
        /// `first_line_ms` of the session's previous turn when this box opened (None for the
        /// first turn the tracker knows of): places a box that opened on the lock alone, before
        /// its turn wrote a line, among the session's turns after a restart.
        follows_ms: Option<i64>,
    },
    /// The transcript timestamp of the turn's first line, once one is seen: which turn of its
    /// session the box is, the same in every run (`BoxId::turn` and `started_ms` are not: a
    /// live box starts at the lock, a rebuilt one at its first line). Sinks that persist posts
    /// match a rebuilt box to its post with it.
    FirstLine(i64),
    /// Append a line; its index is the number of lines appended before it in this box.
    AddLine(Line),
    /// Mark line `index` (a tool call) done.
    SetStatus { index: u64, status: LineStatus },
    /// Tokens used so far in the turn.
    Tokens(u64),
    /// Last op of a finished box.
    Close {
        state: BoxState,
        ended_ms: i64,
        /// The provider's message for `[ERROR]`.
        error: Option<String>,
    },
    /// A box opened on a lock alone that turned out not to be a turn: sinks drop it.
    Retract,
    /// Right after `Open`: this box was rebuilt from what is on disk (the daemon started or
    /// restarted), not seen live. A restored box that is already closed is the session's last
    /// turn: sinks that show boxes as they happen skip it; sinks that persist their posts use
    /// it to bring a post left unfinished by a previous run up to date.
    Restored,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoxDelta {
    pub id: BoxId,
    /// 1 for the delta holding `Open`, then +1 per delta of that box.
    pub seq: u64,
    pub ops: Vec<BoxOp>,
}

impl BoxDelta {
    /// A turn that ended before the daemon started, handed on once for sinks that finish posts
    /// a previous run left open; views that show turns as they happen skip it.
    pub fn is_restored_history(&self) -> bool {
        self.ops.contains(&BoxOp::Restored)
            && self.ops.iter().any(|op| matches!(op, BoxOp::Close { .. }))
    }
}

/// Lines a model keeps; older ones are counted, not stored, so memory stays bounded however long
/// a turn runs. Renderers show fewer (`max_status_lines`).
pub const MODEL_LINE_CAP: usize = 500;

/// A box as a sink sees it after folding deltas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoxModel {
    pub id: BoxId,
    pub agent_id: String,
    pub session_key: String,
    pub route: Option<crate::gateway::Route>,
    pub started_ms: i64,
    pub ended_ms: Option<i64>,
    pub state: BoxState,
    pub error: Option<String>,
    pub tokens: u64,
    /// Lines dropped from the front to respect `MODEL_LINE_CAP`.
    pub dropped: u64,
    pub lines: std::collections::VecDeque<Line>,
    pub last_seq: u64,
    pub retracted: bool,
    /// Rebuilt from disk at startup (see `BoxOp::Restored`).
    pub restored: bool,
    /// See `BoxOp::FirstLine`.
    pub first_line_ms: Option<i64>,
    /// See `BoxOp::Open::follows_ms`.
    pub follows_ms: Option<i64>,
}

/// Why a delta could not be applied.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("box {0:?}: the first delta must open the box")]
    NotOpened(BoxId),
    #[error("box {id:?}: expected seq {expected}, got {got}")]
    Gap { id: BoxId, expected: u64, got: u64 },
}

impl BoxModel {
    /// Starts a model from the delta that opens a box.
    pub fn open(delta: &BoxDelta) -> Result<BoxModel, ApplyError> {
        let Some(BoxOp::Open {
            agent_id,
            session_key,
            started_ms,
            route,
            follows_ms,
        }) = delta.ops.first()
        else {
            return Err(ApplyError::NotOpened(delta.id.clone()));
        };
        let mut model = BoxModel {
            id: delta.id.clone(),
            agent_id: agent_id.clone(),
            session_key: session_key.clone(),
            route: route.clone(),
            started_ms: *started_ms,
            ended_ms: None,
            state: BoxState::Active,
            error: None,
            tokens: 0,
            dropped: 0,
            lines: Default::default(),
            last_seq: delta.seq,
            retracted: false,
            restored: false,
            first_line_ms: None,
            follows_ms: *follows_ms,
        };
        model.apply_ops(&delta.ops[1..]);
        Ok(model)
    }

    /// Applies the next delta; a gap in `seq` is an error (the sink asks for a snapshot).
    pub fn apply(&mut self, delta: &BoxDelta) -> Result<(), ApplyError> {
        if delta.seq != self.last_seq + 1 {
            return Err(ApplyError::Gap {
                id: self.id.clone(),
                expected: self.last_seq + 1,
                got: delta.seq,
            });
        }
        self.last_seq = delta.seq;
        self.apply_ops(&delta.ops);
        Ok(())
    }

    fn apply_ops(&mut self, ops: &[BoxOp]) {
        for op in ops {
            match op {
                BoxOp::Open {
                    started_ms,
                    route,
                    follows_ms,
                    ..
                } => {
                    self.started_ms = *started_ms;
                    self.route = route.clone();
                    self.follows_ms = *follows_ms;
                }
                BoxOp::FirstLine(at_ms) => self.first_line_ms = Some(*at_ms),
                BoxOp::AddLine(line) => {
                    if self.lines.len() == MODEL_LINE_CAP {
                        self.lines.pop_front();
                        self.dropped += 1;
                    }
                    self.lines.push_back(line.clone());
                }
                BoxOp::SetStatus { index, status } => {
                    if let Some(line) = index
                        .checked_sub(self.dropped)
                        .and_then(|pos| usize::try_from(pos).ok())
                        .and_then(|p| self.lines.get_mut(p))
                    {
                        line.status = *status;
                    }
                }
                BoxOp::Tokens(t) => self.tokens = *t,
                BoxOp::Close {
                    state,
                    ended_ms,
                    error,
                } => {
                    self.state = *state;
                    self.ended_ms = Some(*ended_ms);
                    self.error = error.clone();
                }
                BoxOp::Retract => self.retracted = true,
                BoxOp::Restored => self.restored = true,
            }
        }
    }

    /// Where the turn's duration counts from: its first transcript line once there is one, as in
    /// `replay`, which knows no lock (a lock may come seconds before the first line); the box's
    /// opening until then.
    pub fn counted_from(&self) -> i64 {
        self.first_line_ms.unwrap_or(self.started_ms)
    }

    /// The delta that rebuilds this box from nothing (a sink that lost track, or a restart).
    pub fn snapshot(&self) -> Vec<BoxOp> {
        let mut ops = vec![BoxOp::Open {
            agent_id: self.agent_id.clone(),
            session_key: self.session_key.clone(),
            started_ms: self.started_ms,
            route: self.route.clone(),
            follows_ms: self.follows_ms,
        }];
        if self.restored {
            ops.push(BoxOp::Restored);
        }
        if let Some(at_ms) = self.first_line_ms {
            ops.push(BoxOp::FirstLine(at_ms));
        }
        ops.extend(self.lines.iter().cloned().map(BoxOp::AddLine));
        if self.tokens > 0 {
            ops.push(BoxOp::Tokens(self.tokens));
        }
        if self.state != BoxState::Active {
            ops.push(BoxOp::Close {
                state: self.state,
                ended_ms: self.ended_ms.unwrap_or(self.started_ms),
                error: self.error.clone(),
            });
        }
        if self.retracted {
            ops.push(BoxOp::Retract);
        }
        ops
    }

    pub fn is_finished(&self) -> bool {
        self.state != BoxState::Active || self.retracted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> BoxId {
        BoxId {
            session: SessionId::new("/g".into(), "main".into(), "agent:main:main".into()),
            turn: 1,
        }
    }

    fn line(text: &str) -> Line {
        Line {
            depth: 0,
            kind: LineKind::Tool,
            text: text.into(),
            status: LineStatus::None,
        }
    }

    fn open() -> BoxDelta {
        BoxDelta {
            id: id(),
            seq: 1,
            ops: vec![BoxOp::Open {
                agent_id: "main".into(),
                session_key: "agent:main:main".into(),
                started_ms: 1000,
                route: None,
                follows_ms: None,
            }],
        }
    }

    #[test]
    fn folding_deltas_builds_the_box_and_gaps_are_refused() {
        let mut m = BoxModel::open(&open()).expect("opens");
        m.apply(&BoxDelta {
            id: id(),
            seq: 2,
            ops: vec![
                BoxOp::AddLine(line("exec: ls")),
                BoxOp::SetStatus {
                    index: 0,
                    status: LineStatus::Ok,
                },
            ],
        })
        .expect("in order");
        assert_eq!(m.lines[0].status, LineStatus::Ok);
        let gap = m.apply(&BoxDelta {
            id: id(),
            seq: 4,
            ops: vec![],
        });
        assert!(matches!(
            gap,
            Err(ApplyError::Gap {
                expected: 3,
                got: 4,
                ..
            })
        ));
        let rebuilt = BoxModel::open(&BoxDelta {
            id: id(),
            seq: 2,
            ops: m.snapshot(),
        })
        .expect("snapshot opens");
        assert_eq!(rebuilt.lines, m.lines);
    }

    #[test]
    fn line_cap_keeps_memory_bounded_and_status_indexes_stay_right() {
        let mut m = BoxModel::open(&open()).expect("opens");
        let total = MODEL_LINE_CAP as u64 + 10;
        let ops = (0..total)
            .map(|i| BoxOp::AddLine(line(&format!("t{i}"))))
            .collect();
        m.apply(&BoxDelta {
            id: id(),
            seq: 2,
            ops,
        })
        .expect("ok");
        m.apply(&BoxDelta {
            id: id(),
            seq: 3,
            ops: vec![BoxOp::SetStatus {
                index: total - 1,
                status: LineStatus::Err,
            }],
        })
        .expect("ok");
        assert_eq!(m.lines.len(), MODEL_LINE_CAP);
        assert_eq!(m.dropped, 10);
        assert_eq!(m.lines.back().map(|l| l.status), Some(LineStatus::Err));
        assert_eq!(m.lines.front().map(|l| l.text.as_str()), Some("t10"));
    }
}
