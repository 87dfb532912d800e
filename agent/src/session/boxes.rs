//! The tracker's open boxes and the only code that writes box operations or the spawn lines and
//! child links a box holds. Every op goes through here, into an `Outbox`, so line indexes, `seq`
//! numbers and the mirror `BoxModel` (kept for catch-up snapshots) can never disagree with what
//! sinks received.

use std::collections::BTreeMap;

use super::delta::{
    BoxDelta, BoxId, BoxModel, BoxOp, BoxState, Line, LineKind, LineStatus, SessionId,
};
use crate::clock::format_elapsed;

/// The owner's turn is over, but the box waits for sub-agents it spawned.
#[derive(Clone, Debug)]
pub struct Ending {
    pub state: BoxState,
    pub error: Option<String>,
    pub at_ms: i64,
}

/// A `sessions_spawn` line waiting for (or taken by) the child session it started.
#[derive(Clone, Debug)]
pub struct Spawn {
    pub spawner: SessionId,
    pub label: Option<String>,
    pub line: u64,
    /// Depth of the spawn line; the child's lines go one deeper.
    pub depth: u8,
    pub at_ms: i64,
    pub claimed: bool,
    /// The spawn tool failed: no child is coming.
    pub failed: bool,
}

/// A child session whose lines are in this box.
#[derive(Clone, Debug)]
pub struct ChildLink {
    /// Depth of the child's own lines.
    pub depth: u8,
    pub label: String,
    /// Whether a `Sub-agent:` heading line already introduces the child.
    pub heading: bool,
    pub running: bool,
    pub turn_started_ms: i64,
}

#[derive(Debug)]
pub struct OpenBox {
    pub owner: SessionId,
    pub started_ms: i64,
    /// Last input of the owner or of any child feeding this box, when seen (for timeouts).
    pub last_activity: i64,
    /// The transcript time of the newest line fed to this box: what its end shows, as in
    /// `replay`, however late a tier saw the line.
    pub last_line_ms: Option<i64>,
    pub next_line: u64,
    pub tokens: u64,
    /// Close or Retract was issued; the box leaves the map when the outbox is flushed.
    pub closed: bool,
    pub ending: Option<Ending>,
    pub spawns: Vec<Spawn>,
    pub children: BTreeMap<SessionId, ChildLink>,
    /// What sinks hold, folded from every delta sent.
    pub model: Option<BoxModel>,
}

/// Ops produced while handling one input, grouped per box in first-touch order, so each input
/// becomes at most one delta per box.
#[derive(Debug, Default)]
pub struct Outbox {
    pending: Vec<(BoxId, Vec<BoxOp>)>,
}

impl Outbox {
    fn push(&mut self, id: &BoxId, op: BoxOp) {
        match self.pending.iter_mut().find(|(b, _)| b == id) {
            Some((_, ops)) => ops.push(op),
            None => self.pending.push((id.clone(), vec![op])),
        }
    }
}

#[derive(Debug, Default)]
pub struct Boxes {
    pub map: BTreeMap<BoxId, OpenBox>,
}

impl Boxes {
    /// An open (not closing) box.
    pub fn get(&self, id: &BoxId) -> Option<&OpenBox> {
        self.map.get(id).filter(|b| !b.closed)
    }

    pub fn get_mut(&mut self, id: &BoxId) -> Option<&mut OpenBox> {
        self.map.get_mut(id).filter(|b| !b.closed)
    }

    pub fn is_open(&self, id: &BoxId) -> bool {
        self.get(id).is_some()
    }

    /// The open boxes of one session (a box's id starts with its owner's), without a walk
    /// over every box: this runs for each input.
    pub fn open_of(&self, owner: &SessionId) -> Vec<BoxId> {
        let first = BoxId {
            session: owner.clone(),
            turn: 0,
        };
        let last = BoxId {
            session: owner.clone(),
            turn: u64::MAX,
        };
        self.map
            .range(first..=last)
            .filter(|(_, b)| !b.closed)
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn open_count(&self) -> usize {
        self.map.values().filter(|b| !b.closed).count()
    }

    pub fn open(
        &mut self,
        out: &mut Outbox,
        id: BoxId,
        agent_id: &str,
        route: Option<crate::gateway::Route>,
        at_ms: i64,
        follows_ms: Option<i64>,
    ) {
        out.push(
            &id,
            BoxOp::Open {
                agent_id: agent_id.to_string(),
                session_key: id.session.key.clone(),
                started_ms: at_ms,
                route,
                follows_ms,
            },
        );
        self.map.insert(
            id.clone(),
            OpenBox {
                owner: id.session.clone(),
                started_ms: at_ms,
                last_activity: at_ms,
                last_line_ms: None,
                next_line: 0,
                tokens: 0,
                closed: false,
                ending: None,
                spawns: Vec::new(),
                children: BTreeMap::new(),
                model: None,
            },
        );
    }

    pub fn touch(&mut self, id: &BoxId, at_ms: i64) {
        if let Some(b) = self.get_mut(id) {
            b.last_activity = b.last_activity.max(at_ms);
        }
    }

    /// A line dated `line_ms` was fed to the box.
    pub fn dated(&mut self, id: &BoxId, line_ms: i64) {
        if let Some(b) = self.get_mut(id) {
            b.last_line_ms = Some(b.last_line_ms.map_or(line_ms, |l| l.max(line_ms)));
        }
    }

    /// Records when the box's turn wrote its first transcript line (see `BoxOp::FirstLine`).
    pub fn first_line(&mut self, out: &mut Outbox, id: &BoxId, at_ms: i64) {
        if self.is_open(id) {
            out.push(id, BoxOp::FirstLine(at_ms));
        }
    }

    /// Appends a line; its index, or `None` when the box is not open.
    pub fn add_line(&mut self, out: &mut Outbox, id: &BoxId, line: Line) -> Option<u64> {
        let b = self.get_mut(id)?;
        let index = b.next_line;
        b.next_line += 1;
        out.push(id, BoxOp::AddLine(line));
        Some(index)
    }

    pub fn set_status(&mut self, out: &mut Outbox, id: &BoxId, index: u64, status: LineStatus) {
        if self.is_open(id) {
            out.push(id, BoxOp::SetStatus { index, status });
        }
    }

    pub fn add_tokens(&mut self, out: &mut Outbox, id: &BoxId, n: u64) {
        let Some(b) = self.get_mut(id) else { return };
        if n == 0 {
            return;
        }
        b.tokens = b.tokens.saturating_add(n);
        let total = b.tokens;
        out.push(id, BoxOp::Tokens(total));
    }

    /// Closes a box now. Sub-agents still running in it get an `[INTERRUPTED]` end line first,
    /// so a finished box never shows a child as if it were still working.
    pub fn close(
        &mut self,
        out: &mut Outbox,
        id: &BoxId,
        state: BoxState,
        ended_ms: i64,
        error: Option<String>,
    ) {
        let running: Vec<SessionId> = match self.get(id) {
            Some(b) => b
                .children
                .iter()
                .filter(|(_, c)| c.running)
                .map(|(s, _)| s.clone())
                .collect(),
            None => return,
        };
        for child in running {
            self.end_child(out, id, &child, BoxState::Interrupted, None, ended_ms);
        }
        let Some(b) = self.get_mut(id) else { return };
        b.closed = true;
        let ended_ms = ended_ms.max(b.started_ms);
        out.push(
            id,
            BoxOp::Close {
                state,
                ended_ms,
                error,
            },
        );
    }

    pub fn retract(&mut self, out: &mut Outbox, id: &BoxId) {
        if let Some(b) = self.get_mut(id) {
            b.closed = true;
            out.push(id, BoxOp::Retract);
        }
    }

    /// Every open box, in id order.
    pub fn iter_open(&self) -> impl Iterator<Item = (&BoxId, &OpenBox)> {
        self.map.iter().filter(|(_, b)| !b.closed)
    }

    /// The owner's turn ended with `ending`; the box closes once its children let it.
    pub fn set_ending(&mut self, id: &BoxId, ending: Ending) {
        if let Some(b) = self.get_mut(id) {
            b.ending = Some(ending);
        }
    }

    /// Remembers a `sessions_spawn` line, for the child session it starts to claim.
    pub fn add_spawn(&mut self, id: &BoxId, spawn: Spawn) {
        if let Some(b) = self.get_mut(id) {
            b.spawns.push(spawn);
        }
    }

    /// The result of the spawn call at line `index`: a failed spawn starts no child.
    pub fn spawn_result(&mut self, id: &BoxId, spawner: &SessionId, index: u64, failed: bool) {
        let Some(b) = self.get_mut(id) else { return };
        for sp in b
            .spawns
            .iter_mut()
            .filter(|sp| sp.line == index && &sp.spawner == spawner)
        {
            sp.failed = failed;
        }
    }

    /// Whether the box holds a spawn of `spawner` no child has claimed yet (with that label,
    /// when one is wanted).
    pub fn has_free_spawn(&self, id: &BoxId, spawner: &SessionId, label: Option<&str>) -> bool {
        self.get(id).is_some_and(|b| {
            b.spawns.iter().any(|sp| {
                &sp.spawner == spawner
                    && !sp.claimed
                    && !sp.failed
                    && label.is_none_or(|w| sp.label.as_deref() == Some(w))
            })
        })
    }

    /// A child session's turn writes into this box: marks it running again if it is known, else
    /// links it to the spawn line of `spawner` that started it (matched by `own_label`, else the
    /// oldest free one) or, with no such line, one level below `fallback_depth` with a heading
    /// still to add. The depth of the child's lines, or `None` when the box is not open.
    pub fn attach_child(
        &mut self,
        id: &BoxId,
        spawner: &SessionId,
        child: &SessionId,
        own_label: Option<&str>,
        turn_started_ms: i64,
        fallback_depth: u8,
    ) -> Option<u8> {
        let b = self.get_mut(id)?;
        if let Some(link) = b.children.get_mut(child) {
            link.running = true;
            link.turn_started_ms = turn_started_ms;
            return Some(link.depth);
        }
        let mut free = b
            .spawns
            .iter_mut()
            .filter(|sp| &sp.spawner == spawner && !sp.claimed && !sp.failed);
        let slot = match own_label {
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
            None => (fallback_depth.saturating_add(1), false),
        };
        let label = own_label
            .map(str::to_string)
            .unwrap_or_else(|| child.key.rsplit(':').next().unwrap_or("").to_string());
        b.children.insert(
            child.clone(),
            ChildLink {
                depth,
                label,
                heading,
                running: true,
                turn_started_ms,
            },
        );
        Some(depth)
    }

    /// Re-bases a box opened during catch-up: sinks never saw its deltas, so its whole state
    /// goes out as one Open delta with seq 1. Also returns how many old lines the snapshot
    /// dropped: line indexes held elsewhere move down by that much.
    pub fn restart(&mut self, id: &BoxId) -> Option<(BoxDelta, u64)> {
        let b = self.get_mut(id)?;
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
        }
        Some((delta, dropped))
    }

    /// Adds the `Sub-agent:` heading for a child that has none yet (it was not started by a
    /// spawn line this box holds).
    pub fn ensure_heading(&mut self, out: &mut Outbox, id: &BoxId, child: &SessionId) {
        let Some(link) = self.get(id).and_then(|b| b.children.get(child)) else {
            return;
        };
        if link.heading {
            return;
        }
        let line = Line {
            depth: link.depth.saturating_sub(1),
            kind: LineKind::SubAgent,
            text: format!("Sub-agent: {}", link.label),
            status: LineStatus::None,
        };
        if self.add_line(out, id, line).is_some()
            && let Some(link) = self.get_mut(id).and_then(|b| b.children.get_mut(child))
        {
            link.heading = true;
        }
    }

    /// A child's turn ended: `[DONE] 28s` under its heading.
    pub fn end_child(
        &mut self,
        out: &mut Outbox,
        id: &BoxId,
        child: &SessionId,
        state: BoxState,
        error: Option<&str>,
        at_ms: i64,
    ) {
        let Some(link) = self.get(id).and_then(|b| b.children.get(child)) else {
            return;
        };
        if !link.running {
            return;
        }
        let (depth, started) = (link.depth, link.turn_started_ms);
        self.ensure_heading(out, id, child);
        let mut text = format!("{} {}", state.tag(), format_elapsed(at_ms - started));
        if let Some(e) = error.filter(|e| !e.is_empty()) {
            text.push_str(" | ");
            text.push_str(e);
        }
        let status = match state {
            BoxState::Done => LineStatus::Ok,
            BoxState::Error => LineStatus::Err,
            BoxState::Active | BoxState::Interrupted => LineStatus::None,
        };
        self.add_line(
            out,
            id,
            Line {
                depth,
                kind: LineKind::SubAgentEnd,
                text,
                status,
            },
        );
        if let Some(link) = self.get_mut(id).and_then(|b| b.children.get_mut(child)) {
            link.running = false;
        }
    }

    /// Whether a box whose owner is done must still wait: a child is running, or a spawn it
    /// made has not been claimed by a child yet and may still start.
    pub fn waits_for_children(&self, id: &BoxId, now_ms: i64, start_grace_ms: i64) -> bool {
        let Some(b) = self.get(id) else { return false };
        // From the owner's end when that came after the spawn: 2026.4.27, stalled loading its
        // runtime, started a child 43 s after the spawn line, 8 s after the parent's answer.
        let since = |s: &Spawn| b.ending.as_ref().map_or(s.at_ms, |e| e.at_ms.max(s.at_ms));
        b.children.values().any(|c| c.running)
            || b.spawns
                .iter()
                .any(|s| !s.claimed && !s.failed && now_ms - since(s) < start_grace_ms)
    }

    /// A child's turn in this box got its first transcript line: its duration counts from it.
    pub fn child_started(&mut self, id: &BoxId, child: &SessionId, at_ms: i64) {
        if let Some(link) = self.get_mut(id).and_then(|b| b.children.get_mut(child)) {
            link.turn_started_ms = at_ms;
        }
    }

    /// Closes a box whose owner already ended, once nothing keeps it open. It is dated at its
    /// last activity (a child's end), not at the moment a spawn's start grace ran out.
    pub fn finish_if_ready(&mut self, out: &mut Outbox, id: &BoxId, now_ms: i64, grace_ms: i64) {
        let Some((ending, activity)) = self
            .get(id)
            .and_then(|b| Some((b.ending.clone()?, b.last_line_ms.unwrap_or(b.last_activity))))
        else {
            return;
        };
        if !self.waits_for_children(id, now_ms, grace_ms) {
            self.close(
                out,
                id,
                ending.state,
                activity.max(ending.at_ms),
                ending.error,
            );
        }
    }

    /// Turns the outbox into deltas (one per box, `seq` continuing the box's count), folds them
    /// into the mirrors, and forgets boxes that closed.
    pub fn flush(&mut self, out: Outbox) -> Vec<BoxDelta> {
        let mut deltas = Vec::with_capacity(out.pending.len());
        for (id, ops) in out.pending {
            let Some(b) = self.map.get_mut(&id) else {
                continue;
            };
            // Every close and retract goes through the outbox, so the boxes it names are the
            // only ones to forget: a walk over all of them per input grew with the sessions.
            let closed = b.closed;
            let seq = b.model.as_ref().map_or(1, |m| m.last_seq + 1);
            let delta = BoxDelta { id, seq, ops };
            match &mut b.model {
                Some(m) => {
                    // Cannot fail: seq was computed from the mirror itself.
                    let _ = m.apply(&delta);
                }
                None => b.model = BoxModel::open(&delta).ok(),
            }
            if closed {
                self.map.remove(&delta.id);
            }
            deltas.push(delta);
        }
        deltas
    }
}
