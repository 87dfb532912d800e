//! The copied-history prefix of a forked session (a thread reply), the same in both eras: if
//! the header names a parent session, the entries right after it that are stamped before the
//! header are the parent's history, copied; the first entry stamped at or after the header
//! (shown or not) ends the prefix, so a later clock step cannot hide progress.

use super::event::{TranscriptEvent, TranscriptRecord};
use super::parse::Parsed;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ForkState {
    /// The fork header's timestamp; entries strictly before it are copies.
    fork_ts: Option<i64>,
    /// Still inside the copied prefix.
    in_prefix: bool,
}

impl ForkState {
    pub fn on_header(&mut self, ts_ms: Option<i64>, parent: bool) {
        // A fork without a usable timestamp cannot be split; showing the copy beats hiding the
        // real turn, so nothing is marked.
        self.fork_ts = ts_ms.filter(|_| parent);
        self.in_prefix = self.fork_ts.is_some();
    }

    /// Whether an entry with this timestamp is copied history.
    pub fn classify(&mut self, ts_ms: Option<i64>) -> bool {
        let (true, Some(fork)) = (self.in_prefix, self.fork_ts) else {
            return false;
        };
        match ts_ms {
            Some(ts) if ts >= fork => {
                self.in_prefix = false;
                false
            }
            _ => true,
        }
    }

    /// A parsed entry, next in its transcript, as a record: a header starts (or not) a fork's
    /// copied prefix, any other entry is copied history while inside it. None: the entry
    /// shows nothing, though its timestamp may have ended the prefix.
    pub fn record(&mut self, parsed: Parsed) -> Option<TranscriptRecord> {
        let history = match &parsed.event {
            Some(TranscriptEvent::Header {
                ts_ms,
                parent_session,
                ..
            }) => {
                self.on_header(*ts_ms, parent_session.is_some());
                false
            }
            _ => self.classify(parsed.ts_ms),
        };
        parsed
            .event
            .map(|event| TranscriptRecord { event, history })
    }

    pub fn in_prefix(&self) -> bool {
        self.in_prefix
    }
}
