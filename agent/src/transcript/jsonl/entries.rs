//! A transcript's complete lines made records: each parsed, a fork's copied history marked,
//! the records of lines read again after a rewrite counted, and unreadable lines logged at a
//! bounded rate (a corrupt file must not flood the log).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::transcript::event::{TranscriptEvent, TranscriptRecord};
use crate::transcript::fork::ForkState;
use crate::transcript::parse::{ParseError, parse_entry};

/// Unparseable lines: the first is logged, then at most one summary per this interval.
const BAD_LINE_LOG_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(super) struct Entries {
    fork: ForkState,
    /// After a truncation or rewrite: where reading had got before it. Records of lines starting
    /// before this are read again, not new.
    reread_until: u64,
    /// How many of the current read's records (its first ones) were read again.
    reread_records: usize,
    bad_lines: BadLines,
}

#[derive(Debug, Default)]
struct BadLines {
    last_warn: Option<Instant>,
    suppressed: u64,
}

impl Entries {
    /// Another file took the name: its unreadable lines are logged afresh.
    pub fn new_file(&mut self) {
        self.bad_lines = BadLines::default();
    }

    /// The same file is read again from its start; nothing of it is read again.
    pub fn restart(&mut self) {
        self.fork = ForkState::default();
        self.reread_until = 0;
    }

    /// The same file is read again from its start, and the lines before `until` were read
    /// already.
    pub fn restart_rereading(&mut self, until: u64) {
        let until = until.max(self.reread_until);
        self.restart();
        self.reread_until = until;
    }

    /// A read begins: its records are counted from none read again.
    pub fn start_read(&mut self) {
        self.reread_records = 0;
    }

    /// A read ended with the first line not handed out at `offset`.
    pub fn end_read(&mut self, offset: u64) {
        if offset >= self.reread_until {
            self.reread_until = 0;
        }
    }

    /// How many of the last read's records, counted from its first, were read again.
    pub fn take_reread(&mut self) -> usize {
        std::mem::take(&mut self.reread_records)
    }

    /// Resuming past the header: the header line is seen again so a fork's marking applies.
    pub fn header_again(&mut self, line: &[u8]) {
        if let Ok(parsed) = parse_entry(line)
            && let Some(TranscriptEvent::Header {
                ts_ms,
                parent_session,
                ..
            }) = parsed.event
        {
            self.fork.on_header(ts_ms, parent_session.is_some());
        }
    }

    /// A complete line starting at `start`: its record, if it gives one, goes to `records`.
    pub fn line(
        &mut self,
        line: &[u8],
        start: u64,
        path: &Path,
        records: &mut Vec<TranscriptRecord>,
    ) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let parsed = parse_entry(line);
        crate::metrics::count_transcript_line(parsed.is_ok());
        match parsed {
            Ok(parsed) => {
                if let Some(record) = self.fork.record(parsed) {
                    if start < self.reread_until {
                        self.reread_records += 1;
                    }
                    records.push(record);
                }
            }
            Err(err) => self.bad_line(path, start, line.len(), &err),
        }
    }

    /// The last line of a file that gets no more appends, without its newline: taken if it is
    /// a complete entry, dropped (with a warning) if not.
    pub fn final_partial(
        &mut self,
        line: &[u8],
        start: u64,
        path: &Path,
        records: &mut Vec<TranscriptRecord>,
    ) {
        if parse_entry(line).is_ok() {
            self.line(line, start, path, records);
        } else {
            tracing::warn!(
                file = %path.display(),
                offset = start,
                len = line.len(),
                "the replaced transcript ends in an incomplete line; dropping it"
            );
        }
    }

    fn bad_line(&mut self, path: &Path, offset: u64, len: usize, err: &ParseError) {
        let now = Instant::now();
        let due = self
            .bad_lines
            .last_warn
            .is_none_or(|t| now.duration_since(t) >= BAD_LINE_LOG_EVERY);
        if due {
            tracing::warn!(
                file = %path.display(),
                offset,
                len,
                skipped_since_last_warning = self.bad_lines.suppressed,
                "skipped an unreadable transcript line: {err}"
            );
            self.bad_lines.last_warn = Some(now);
            self.bad_lines.suppressed = 0;
        } else {
            self.bad_lines.suppressed += 1;
        }
    }
}
