//! The order a batch's inputs reach the tracker: merged across sessions by transcript time,
//! each session's own order kept. A heap over the sessions' heads, so a batch of many sessions
//! costs O(inputs × log sessions), not a scan of every session per input.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use crate::session::tracker::SessionInput;
use crate::session::{SessionId, SessionRef};

/// Inputs grouped per session, in the order sessions first appear in the batch.
pub(super) struct TimeMerge {
    sessions: Vec<SessionRef>,
    queues: Vec<VecDeque<SessionInput>>,
    /// Per session, the time of the input it gave last: an input without a time of its own
    /// (a lock, a history line) sorts there, right after what came before it.
    last: Vec<i64>,
    /// (head time, session index): the smallest first, ties to the session seen first.
    heads: BinaryHeap<Reverse<(i64, usize)>>,
}

impl TimeMerge {
    pub(super) fn new(inputs: Vec<(SessionRef, SessionInput)>) -> TimeMerge {
        let mut merge = TimeMerge {
            sessions: Vec::new(),
            queues: Vec::new(),
            last: Vec::new(),
            heads: BinaryHeap::new(),
        };
        let mut index: HashMap<SessionId, usize> = HashMap::new();
        let mut previous: Option<usize> = None;
        for (session, input) in inputs {
            // A file read yields runs of one session's lines: skip the lookup for those.
            let i = match previous {
                Some(i) if merge.sessions[i].id == session.id => i,
                _ => *index.entry(session.id.clone()).or_insert_with(|| {
                    merge.sessions.push(session);
                    merge.queues.push(VecDeque::new());
                    merge.last.push(i64::MIN);
                    merge.sessions.len() - 1
                }),
            };
            merge.queues[i].push_back(input);
            previous = Some(i);
        }
        for i in 0..merge.queues.len() {
            merge.push_head(i);
        }
        merge
    }

    fn push_head(&mut self, i: usize) {
        if let Some(head) = self.queues[i].front() {
            let key = match head {
                SessionInput::Record(r) if !r.history => r.event.ts_ms().unwrap_or(self.last[i]),
                _ => self.last[i],
            };
            self.heads.push(Reverse((key, i)));
        }
    }

    /// The next input in order, with its session.
    pub(super) fn next(&mut self) -> Option<(&SessionRef, SessionInput)> {
        let Reverse((key, i)) = self.heads.pop()?;
        let input = self.queues[i].pop_front()?;
        self.last[i] = key;
        self.push_head(i);
        Some((&self.sessions[i], input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fixture::session_ref;
    use crate::transcript::{TranscriptEvent, TranscriptRecord};

    fn line(ts: Option<i64>, history: bool) -> SessionInput {
        SessionInput::Record(TranscriptRecord {
            event: TranscriptEvent::Compaction { ts_ms: ts },
            history,
        })
    }

    /// Each input tagged (session, its n-th input) through the merge.
    fn order(inputs: Vec<(&str, SessionInput)>) -> Vec<String> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut merge = TimeMerge::new(
            inputs
                .into_iter()
                .map(|(key, input)| (session_ref(key, None, None), input))
                .collect(),
        );
        let mut out = Vec::new();
        while let Some((session, _)) = merge.next() {
            let n = seen.entry(session.id.key.clone()).or_default();
            out.push(format!("{}{n}", session.id.key));
            *n += 1;
        }
        out
    }

    #[test]
    fn sessions_interleave_by_time_and_each_keeps_its_own_order() {
        let got = order(vec![
            ("p", line(Some(30), false)),
            ("p", line(Some(10), false)),
            ("c", line(Some(20), false)),
            ("c", line(Some(40), false)),
        ]);
        // p's second line is older than its first, but a session's order is never changed.
        assert_eq!(got, ["c0", "p0", "p1", "c1"]);
    }

    #[test]
    fn an_input_without_a_time_follows_what_its_session_gave_before() {
        let got = order(vec![
            ("a", line(Some(10), false)),
            ("a", SessionInput::Lock { held: false }),
            ("a", line(None, false)),
            ("a", line(Some(5), true)),
            ("b", line(Some(12), false)),
            ("a", line(Some(50), false)),
        ]);
        assert_eq!(got, ["a0", "a1", "a2", "a3", "b0", "a4"]);
    }

    #[test]
    fn equal_times_go_to_the_session_seen_first() {
        let got = order(vec![
            ("b", line(Some(7), false)),
            ("a", line(Some(7), false)),
            ("b", line(Some(7), false)),
        ]);
        assert_eq!(got, ["b0", "b1", "a0"]);
    }
}
