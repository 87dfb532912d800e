//! Read-only views of the tracker for the local API.

use super::Tracker;
use crate::session::delta::SessionId;

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

impl Tracker {
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
            .iter_open()
            .map(|(_, b)| OpenBoxView {
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
}
