//! Turn lifecycle: a turn starts on the lock or a first entry, ends on a stop reason, or is cut
//! off by a reset, a removal or a timeout.

use std::collections::HashMap;

use super::{Target, Tracker, Turn};
use crate::session::boxes::{Ending, Outbox};
use crate::session::delta::{BoxId, BoxState, SessionId};

impl Tracker {
    pub(super) fn on_lock(&mut self, sid: &SessionId, held: bool, at_ms: i64, out: &mut Outbox) {
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

    /// Starts a turn if none is open, and marks it as having transcript content; the turn's
    /// first line dates it for good (`BoxOp::FirstLine`).
    pub(super) fn ensure_turn(
        &mut self,
        sid: &SessionId,
        at_ms: i64,
        line_ms: Option<i64>,
        out: &mut Outbox,
    ) {
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

    pub(super) fn start_turn(&mut self, sid: &SessionId, at_ms: i64, out: &mut Outbox) {
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

    /// The turn ended on a stop reason, seen at `at_ms`, in a line dated `ended_ms` (what the
    /// box shows: a tier that saw the line late must not lengthen the turn).
    pub(super) fn end_turn(
        &mut self,
        sid: &SessionId,
        state: BoxState,
        error: Option<String>,
        (at_ms, ended_ms): (i64, i64),
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
                .end_child(out, &target.box_id, sid, state, error.as_deref(), ended_ms);
            self.boxes.touch(&target.box_id, at_ms);
            self.boxes
                .finish_if_ready(out, &target.box_id, at_ms, grace);
        } else {
            let ending = Ending {
                state,
                error,
                at_ms: ended_ms,
            };
            self.boxes.set_ending(&target.box_id, ending);
            self.boxes
                .finish_if_ready(out, &target.box_id, at_ms, grace);
        }
    }

    /// The turn stops without a stop reason (timeout, reset, removal): `[INTERRUPTED]`, or
    /// retracted when it never saw a transcript entry.
    pub(super) fn abort_turn(&mut self, sid: &SessionId, ended_ms: i64, out: &mut Outbox) {
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

    /// The turn goes on without a box: its box is withdrawn (a post already made is deleted)
    /// and its lines go nowhere. A sub-agent's turn is its parent's to show, so it is left be.
    pub(super) fn unshow_turn(&mut self, sid: &SessionId, out: &mut Outbox) {
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if s.is_child() {
            return;
        }
        if let Some(target) = s.turn.as_mut().and_then(|t| t.target.take()) {
            self.boxes.retract(out, &target.box_id);
        }
    }

    pub(super) fn on_reset(&mut self, sid: &SessionId, at_ms: i64, out: &mut Outbox) {
        self.abort_turn(sid, at_ms, out);
        if let Some(s) = self.sessions.get_mut(sid) {
            s.lock_held = false;
            s.lock_released_at = None;
            s.last_turn_end = None;
            s.recent.clear();
        }
    }

    pub(super) fn on_gone(&mut self, sid: &SessionId, at_ms: i64, out: &mut Outbox) {
        self.on_reset(sid, at_ms, out);
        for id in &self.boxes.open_of(sid) {
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
}
