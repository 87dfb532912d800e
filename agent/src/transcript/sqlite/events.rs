//! A session's transcript rows after a cursor, decoded into records.
//!
//! Rows are ordered by `(session_id, seq)`, never `created_at` (2026.9.6 commits seq 1 two ms
//! before seq 0). `transcript_rewrite_watermarks.generation` is a random 32-hex token per
//! session, written with the session's first rows and replaced whenever the gateway rewrites
//! the transcript (compaction, rewind): seqs of a new generation mean nothing in the old one.
//! OpenClaw's own delta reader keeps `{generation, lastSeq}` cursors and restarts from the
//! beginning on a generation mismatch, or when the cursor is past the last row; so does this.

use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, Transaction, params};

use super::fork::{ForkMemo, ForkState};
use super::payload::{self, PayloadError, Source};
use super::schema::{MAX_EVENT_BYTES, Schema};
use super::{Batch, Cursor};
use crate::transcript::event::TranscriptEvent;
use crate::transcript::parse::{ParseError, parse_entry};

/// Unreadable rows: the first is logged, then at most one summary per this interval.
const BAD_ROW_LOG_EVERY: Duration = Duration::from_secs(60);

/// What one read produced besides the batch, for tests and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReadStats {
    pub rows: u64,
    pub zstd_rows: u64,
    pub skipped_rows: u64,
}

/// The cursor's `generation` for a stored generation token: a stable 64-bit FNV-1a of it (it
/// only has to tell two tokens apart and survive a restart). Never 0: 0 means "no watermark".
pub(super) fn generation_id(token: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in token.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    match i64::from_ne_bytes(hash.to_ne_bytes()) {
        0 => 1,
        id => id,
    }
}

pub(super) struct Reader<'a> {
    pub schema: &'a Schema,
    pub forks: &'a mut ForkMemo,
    pub bad_rows: &'a mut BadRows,
    pub stats: &'a mut ReadStats,
    pub path: &'a std::path::Path,
}

impl Reader<'_> {
    pub fn read(
        &mut self,
        tx: &Transaction<'_>,
        session_id: &str,
        cursor: Cursor,
        max: usize,
    ) -> rusqlite::Result<Batch> {
        let token: Option<String> = tx
            .prepare_cached(
                "SELECT generation FROM transcript_rewrite_watermarks WHERE session_id = ?1",
            )?
            .query_row([session_id], |r| r.get(0))
            .optional()?;
        let generation = token.as_deref().map_or(0, generation_id);
        let max_seq: Option<i64> = tx
            .prepare_cached("SELECT max(seq) FROM transcript_events WHERE session_id = ?1")?
            .query_row([session_id], |r| r.get(0))?;
        let resumed = cursor.last_seq >= 0;
        // Generation 0 in a cursor: no watermark was there when it was taken; the first one
        // seen is adopted rather than counted as a rewrite.
        let rewritten = resumed
            && ((cursor.generation != 0 && cursor.generation != generation)
                || max_seq.is_none_or(|m| m < cursor.last_seq));
        if rewritten {
            tracing::debug!(
                file = %self.path.display(),
                session_id,
                "transcript rewritten (compaction or rewind): reading it again from the start"
            );
        }
        let after = if rewritten { -1 } else { cursor.last_seq };
        let mut fork = if after < 0 {
            ForkState::default()
        } else {
            match self.forks.get(session_id, generation, after) {
                Some(state) => state,
                None => self.restore_fork(tx, session_id, after)?,
            }
        };

        let mut records = Vec::new();
        let mut last_seq = after;
        if max > 0 {
            let mut stmt = tx.prepare_cached(&self.schema.events_sql)?;
            let mut rows = stmt.query(params![session_id, after, MAX_EVENT_BYTES])?;
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                last_seq = seq;
                self.stats.rows += 1;
                let decoded = payload::entry_json(row, MAX_EVENT_BYTES)?;
                let json = match decoded {
                    Ok(found) => found,
                    Err(err) => {
                        self.skip(session_id, seq, &RowProblem::Payload(err));
                        continue;
                    }
                };
                if json.source == Source::Zstd {
                    self.stats.zstd_rows += 1;
                }
                let parsed = parse_entry(&json.bytes);
                crate::metrics::count_transcript_line(parsed.is_ok());
                match parsed {
                    Ok(parsed) => records.extend(fork.record(parsed)),
                    Err(err) => self.skip(session_id, seq, &RowProblem::Parse(err)),
                }
                if records.len() >= max {
                    break;
                }
            }
        }
        self.forks.put(session_id, generation, last_seq, fork);
        Ok(Batch {
            records,
            cursor: Cursor {
                generation,
                last_seq,
            },
            rewritten,
        })
    }

    /// Resuming at a cursor this store did not hand out (a daemon restart): reads the header
    /// and, while still inside a fork's copied prefix, the rows up to the cursor.
    fn restore_fork(
        &mut self,
        tx: &Transaction<'_>,
        session_id: &str,
        upto: i64,
    ) -> rusqlite::Result<ForkState> {
        let mut fork = ForkState::default();
        let mut stmt = tx.prepare_cached(&self.schema.events_sql)?;
        let mut rows = stmt.query(params![session_id, i64::MIN, MAX_EVENT_BYTES])?;
        let mut first = true;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            if seq > upto || (!first && !fork.in_prefix()) {
                break;
            }
            let Ok(json) = payload::entry_json(row, MAX_EVENT_BYTES)? else {
                first = false;
                continue;
            };
            let Ok(parsed) = parse_entry(&json.bytes) else {
                first = false;
                continue;
            };
            if first {
                first = false;
                match parsed.event {
                    Some(TranscriptEvent::Header {
                        ts_ms,
                        parent_session,
                        ..
                    }) => fork.on_header(ts_ms, parent_session.is_some()),
                    _ => break,
                }
            } else {
                fork.classify(parsed.ts_ms);
            }
        }
        Ok(fork)
    }

    fn skip(&mut self, session_id: &str, seq: i64, problem: &RowProblem) {
        self.stats.skipped_rows += 1;
        self.bad_rows.note(|suppressed| {
            tracing::warn!(
                file = %self.path.display(),
                session_id,
                seq,
                skipped_since_last_warning = suppressed,
                "skipped an unreadable transcript row: {problem}"
            );
        });
    }
}

#[derive(Debug, thiserror::Error)]
enum RowProblem {
    #[error("{0}")]
    Payload(PayloadError),
    #[error("{0}")]
    Parse(ParseError),
}

/// Rate limit for bad-row warnings (a corrupt store must not flood the journal).
#[derive(Debug, Default)]
pub(super) struct BadRows {
    last_warn: Option<Instant>,
    suppressed: u64,
}

impl BadRows {
    fn note(&mut self, warn: impl FnOnce(u64)) {
        let now = Instant::now();
        if self
            .last_warn
            .is_none_or(|t| now.duration_since(t) >= BAD_ROW_LOG_EVERY)
        {
            warn(self.suppressed);
            self.last_warn = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_ids_are_stable_distinct_and_never_zero() {
        let a = generation_id("a559b4a31b4f43658bb4923b07106038");
        assert_eq!(a, generation_id("a559b4a31b4f43658bb4923b07106038"));
        assert_ne!(a, generation_id("430269efc0ac4de6b6d9834f30bea61e"));
        assert_ne!(generation_id(""), 0);
        // Pinned: cursors persist across restarts and releases.
        assert_eq!(generation_id(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
    }
}
