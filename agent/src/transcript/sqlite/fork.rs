//! Where each session's copied-history prefix stood (`crate::transcript::fork`), kept between
//! reads of the store.
//!
//! 2026.9.6: header `{"type":"session","version":4,…,"parentSession":"sqlite:main:<sid>:…"}` at
//! seq 0, the parent's rows copied as seq 1..9 with their old timestamps, then the thread's turn.

use std::collections::HashMap;

pub(super) use crate::transcript::fork::ForkState;

/// The fork state of each session after the last row handed out, so the next `read_new` from
/// that cursor continues the prefix without reading the header again.
#[derive(Debug, Default)]
pub(super) struct ForkMemo {
    by_session: HashMap<String, (i64, i64, ForkState)>,
}

/// Sessions remembered at most; past this the memo starts over (a miss only costs re-reading
/// the header and the copied prefix once).
const MAX_REMEMBERED: usize = 4096;

impl ForkMemo {
    pub fn get(&self, session_id: &str, generation: i64, last_seq: i64) -> Option<ForkState> {
        match self.by_session.get(session_id) {
            Some(&(g, s, state)) if g == generation && s == last_seq => Some(state),
            _ => None,
        }
    }

    pub fn put(&mut self, session_id: &str, generation: i64, last_seq: i64, state: ForkState) {
        if self.by_session.len() >= MAX_REMEMBERED && !self.by_session.contains_key(session_id) {
            self.by_session.clear();
        }
        self.by_session
            .insert(session_id.to_owned(), (generation, last_seq, state));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_ends_at_the_first_entry_stamped_after_the_fork() {
        let mut fork = ForkState::default();
        fork.on_header(Some(100), true);
        assert!(fork.classify(Some(10)));
        assert!(fork.classify(None));
        assert!(!fork.classify(Some(100)));
        // An old stamp after the prefix (a clock step) is progress.
        assert!(!fork.classify(Some(10)));
    }

    #[test]
    fn a_session_without_parent_has_no_history() {
        let mut fork = ForkState::default();
        fork.on_header(Some(100), false);
        assert!(!fork.classify(Some(10)));
    }
}
