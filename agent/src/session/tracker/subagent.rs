//! Sub-agent attachment: a child session's lines go into the box of the session that spawned
//! it, under the spawn line that started it.

use super::{SessionState, Target, Tracker};
use crate::session::delta::{BoxId, SessionId};

impl Tracker {
    /// Where the session's current turn writes, attaching a child to its parent's box on
    /// first need.
    pub(super) fn resolve_target(&mut self, sid: &SessionId, at_ms: i64) -> Option<Target> {
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
        let turn_started = turn.first_line_ms.unwrap_or(turn.started_ms);
        self.boxes.touch(&box_id, at_ms);
        let depth = self.boxes.attach_child(
            &box_id,
            &parent,
            sid,
            own_label.as_deref(),
            turn_started,
            parent_depth,
        )?;
        let target = Target { box_id, depth };
        if let Some(turn) = self.sessions.get_mut(sid).and_then(|s| s.turn.as_mut()) {
            turn.target = Some(target.clone());
        }
        Some(target)
    }

    /// The spawning session, the box a child's lines go to, and the depth of the spawner's own
    /// lines there.
    pub(super) fn parent_box(&self, sid: &SessionId, at_ms: i64) -> Option<(SessionId, BoxId, u8)> {
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
            let open = self.boxes.open_of(parent);
            let with_free_spawn = |want: Option<&str>| {
                open.iter()
                    .rev()
                    .find(|id| self.boxes.has_free_spawn(id, parent, want))
            };
            let id = label
                .as_deref()
                .and_then(|l| with_free_spawn(Some(l)))
                .or_else(|| with_free_spawn(None))
                .or_else(|| open.last())?;
            (id.clone(), 0)
        };
        // During catch-up a child's old turns must not land in a newer box of its parent.
        if at_ms < self.boxes.get(&box_id)?.started_ms {
            return None;
        }
        Some((parent.clone(), box_id, depth))
    }
}
