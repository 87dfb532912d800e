//! Time-driven rules: lock-only boxes retracted, tail locks that turn out to be turns, idle
//! timeouts, max duration, boxes done waiting for their children, shutdown.

use std::collections::HashSet;

use super::Tracker;
use crate::session::boxes::Outbox;
use crate::session::delta::{BoxDelta, BoxId, BoxState, SessionId};

impl Tracker {
    /// Time-driven changes: lock-only boxes retracted, tail locks that turned out to be turns,
    /// idle timeouts, max duration, boxes done waiting for their children.
    pub fn tick(&mut self, now_ms: i64) -> Vec<BoxDelta> {
        let mut out = Outbox::default();
        // Only sessions with a timer running: a host's history is thousands of quiet ones.
        let owners: HashSet<&SessionId> = self.boxes.iter_open().map(|(_, b)| &b.owner).collect();
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
        self.boxes.iter_open().next().is_some() || self.sessions.values().any(|s| s.has_timer())
    }

    /// Every open box → Close Interrupted (the daemon stops watching).
    pub fn shutdown(&mut self, now_ms: i64) -> Vec<BoxDelta> {
        let mut out = Outbox::default();
        let open: Vec<BoxId> = self.boxes.iter_open().map(|(id, _)| id.clone()).collect();
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

    /// Applies every time-based rule to one session and the boxes it owns, as of `now_ms`.
    pub(super) fn expire_session(&mut self, sid: &SessionId, now_ms: i64, out: &mut Outbox) {
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
}
