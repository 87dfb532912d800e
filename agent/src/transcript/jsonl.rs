//! Tails one JSONL transcript: reads what was appended since last time, hands out complete lines
//! only, survives truncation and rotation, and marks a forked transcript's copied history.
//!
//! Offsets: `offset()` is always the start of the first line not yet handed out (a line boundary),
//! so persisting it with `identity()` and resuming there neither repeats nor loses a line.
//!
//! Truncation (the file got shorter than what was read) or a rewrite in place (the bytes where
//! reading already went changed, see `rewrite`): reading restarts at 0 and the records come back
//! as usual, header first; `take_truncated()` tells the caller once, so it can decide whether a
//! restarted transcript means a rewritten session. The file may be written back in several
//! writes (2026.7.1 truncates, then rewrites): every record read again up to where reading had
//! got before is counted by `take_reread()` in the read that returns it, so the caller can take
//! it as history however many reads it comes in.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::error::TailError;
use super::event::{TranscriptEvent, TranscriptRecord};
use super::fork::ForkState;
use super::parse::parse_entry;
use super::rewrite::{Fingerprint, ReadWindow, ResumePoint, WINDOW_BYTES};
pub use super::safe_open::{FileIdentity, SessionsDir};

/// Longest line read; longer ones (a runaway tool output) are skipped, the file goes on.
pub const MAX_LINE_BYTES: usize = 8 << 20;
/// Bytes read per syscall.
const CHUNK_BYTES: usize = 64 << 10;
/// Smallest read buffer: room for a few lines that arrive while a read is under way.
const MIN_CHUNK_BYTES: usize = 8 << 10;
/// How much of the file's start is read to find the header when resuming past it.
const HEADER_PROBE_BYTES: usize = 64 << 10;
/// A pending partial line whose buffer grew past this is given back to the allocator once done.
const KEEP_BUFFER_BYTES: usize = 1 << 20;
/// Unparseable lines: the first is logged, then at most one summary per this interval.
const BAD_LINE_LOG_EVERY: Duration = Duration::from_secs(60);

pub struct JsonlTailer {
    /// None while parked: a quiet transcript holds no fd (a host keeps thousands of them).
    file: Option<File>,
    /// Parked since `deferred`: the resume checks of `open` run when it is first unparked.
    resume_pending: bool,
    name: String,
    path: PathBuf,
    identity: FileIdentity,
    /// Start of the first line not yet handed out.
    offset: u64,
    /// Where the next read starts: `offset` + bytes held in `pending` or being skipped.
    read_pos: u64,
    /// The partial line read so far (starts at `offset`).
    pending: Vec<u8>,
    /// Set while discarding an oversized line: (its start offset, bytes seen so far).
    skipping: Option<(u64, u64)>,
    truncated: bool,
    /// After a truncation or rewrite: where reading had got before it. Records of lines starting
    /// before this are read again, not new.
    reread_until: u64,
    /// How many of the last read's records (its first ones) were read again.
    reread_records: usize,
    resumed: bool,
    fork: ForkState,
    /// The last bytes read, ending at `read_pos`: a rewrite in place changes them.
    window: ReadWindow,
    bad_lines: BadLines,
}

#[derive(Debug, Default)]
struct BadLines {
    last_warn: Option<Instant>,
    suppressed: u64,
}

/// By hand so that a logged tailer never prints the partial line it holds (users' content).
impl std::fmt::Debug for JsonlTailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlTailer")
            .field("path", &self.path)
            .field("identity", &self.identity)
            .field("offset", &self.offset)
            .field("read_pos", &self.read_pos)
            .field("pending_bytes", &self.pending.len())
            .field("skipping", &self.skipping)
            .finish_non_exhaustive()
    }
}

impl JsonlTailer {
    /// Opens `name` inside `dir` (see `SessionsDir::open_file` for the checks). Starts at offset
    /// 0, or at `resume` (persisted earlier from `resume_point()`) when the file is the same one,
    /// at least that long, the offset is at a line boundary and the bytes before it are those
    /// that were read; `resumed()` says which.
    pub fn open(
        dir: &SessionsDir,
        name: &str,
        resume: Option<ResumePoint>,
    ) -> Result<JsonlTailer, TailError> {
        let file = dir.open_file(name)?;
        let path = dir.path().join(name);
        let (identity, size) = identity_of(&file, &path)?;
        let mut tailer = JsonlTailer {
            file: Some(file),
            resume_pending: false,
            name: name.to_owned(),
            path,
            identity,
            offset: 0,
            read_pos: 0,
            pending: Vec::new(),
            skipping: None,
            truncated: false,
            reread_until: 0,
            reread_records: 0,
            resumed: false,
            fork: ForkState::default(),
            window: ReadWindow::default(),
            bad_lines: BadLines::default(),
        };
        if let Some(point) = resume {
            tailer.resume_at(point, size)?;
        }
        Ok(tailer)
    }

    /// A tailer at the end of `name` as it is now, parked: nothing is opened until the file is
    /// read (`unpark`), when the checks of `open` with that end as resume point are made. For
    /// history: thousands of finished transcripts cost a stat each, not an fd.
    pub fn deferred(dir: &SessionsDir, name: &str) -> Result<JsonlTailer, TailError> {
        let path = dir.path().join(name);
        let Some((identity, size)) = dir.stat(name)? else {
            return Err(TailError::NotFound { path });
        };
        Ok(JsonlTailer {
            file: None,
            resume_pending: true,
            name: name.to_owned(),
            path,
            identity,
            offset: size,
            read_pos: size,
            pending: Vec::new(),
            skipping: None,
            truncated: false,
            reread_until: 0,
            reread_records: 0,
            resumed: false,
            fork: ForkState::default(),
            window: ReadWindow::default(),
            bad_lines: BadLines::default(),
        })
    }

    /// Continues at `point` if it is this file, at most `size` long, at a line boundary, with
    /// the bytes read before it unchanged; else stays at 0.
    fn resume_at(&mut self, point: ResumePoint, size: u64) -> Result<(), TailError> {
        if point.identity != self.identity
            || point.offset == 0
            || point.offset > size
            || self.byte_at(point.offset - 1)? != Some(b'\n')
        {
            return Ok(());
        }
        let offset = point.offset;
        let before = self.bytes_before(offset, WINDOW_BYTES)?;
        let same = point.before.is_none_or(|fp| {
            let len = fp.len as usize;
            len <= before.len() && Fingerprint::of(&before[before.len() - len..]) == fp
        });
        if same {
            self.offset = offset;
            self.read_pos = offset;
            self.window.reset(&before);
            self.resumed = true;
            self.restore_fork_state()?;
        } else {
            tracing::info!(
                file = %self.path.display(),
                offset,
                "transcript was rewritten while the daemon was not reading it: reading it from the start"
            );
        }
        Ok(())
    }

    /// Closes the file until the next `unpark`; where reading stopped is kept.
    pub fn park(&mut self) {
        self.file = None;
    }

    pub fn is_parked(&self) -> bool {
        self.file.is_none()
    }

    /// Opens a parked tailer's file again by its name. The same file continues where reading
    /// stopped. Another file at the name (renamed away and succeeded while parked) is followed
    /// from its start: what the old file got after the last read cannot be reached any more.
    pub fn unpark(&mut self, dir: &SessionsDir) -> Result<(), TailError> {
        if self.file.is_some() {
            return Ok(());
        }
        let file = dir.open_file(&self.name)?;
        let (identity, size) = identity_of(&file, &self.path)?;
        self.file = Some(file);
        if identity != self.identity {
            tracing::debug!(file = %self.path.display(), "transcript replaced while not open; following the new file");
            self.identity = identity;
            self.restart();
            self.resumed = false;
            self.resume_pending = false;
            self.bad_lines = BadLines::default();
            return Ok(());
        }
        if std::mem::take(&mut self.resume_pending) {
            let point = ResumePoint {
                identity,
                offset: self.offset,
                before: None,
            };
            self.restart();
            self.resume_at(point, size)?;
            if !self.resumed && point.offset > 0 {
                // Shorter or other than when it was deferred: a rewrite, told like one.
                self.restart_rereading(point.offset);
            }
        }
        Ok(())
    }

    /// Where a restart can resume this transcript without repeating or losing a line.
    pub fn resume_point(&self) -> ResumePoint {
        ResumePoint {
            identity: self.identity,
            offset: self.offset,
            before: Some(self.window.fingerprint_before(self.offset, self.read_pos)),
        }
    }

    /// Reads everything appended since the last call and returns the records of the complete
    /// lines (a trailing partial line waits for its newline).
    pub fn read_new(&mut self) -> Result<Vec<TranscriptRecord>, TailError> {
        self.read_limited(u64::MAX).map(|(records, _)| records)
    }

    /// Like `read_new`, but stops after about `max_bytes` of input (at least one chunk); the
    /// flag says whether more is waiting. For the first read of a long transcript.
    pub fn read_limited(
        &mut self,
        max_bytes: u64,
    ) -> Result<(Vec<TranscriptRecord>, bool), TailError> {
        let size = self.size()?;
        if size < self.read_pos {
            tracing::warn!(
                file = %self.path.display(),
                size,
                offset = self.read_pos,
                "transcript got shorter than what was read (truncated or rewritten): reading it again from the start"
            );
            self.restart_rereading(self.read_pos);
        } else if self.rewritten()? {
            tracing::warn!(
                file = %self.path.display(),
                offset = self.read_pos,
                "transcript was rewritten in place (other bytes where it was already read): reading it again from the start"
            );
            self.restart_rereading(self.read_pos);
        }
        self.reread_records = 0;
        let mut records = Vec::new();
        // Sized to what is there: an append is a line or two, not a chunk to zero each time.
        let waiting = usize::try_from(size - self.read_pos).unwrap_or(CHUNK_BYTES);
        let mut chunk = vec![0u8; waiting.clamp(MIN_CHUNK_BYTES, CHUNK_BYTES)];
        let mut consumed = 0u64;
        while consumed < max_bytes {
            let n = self.read_chunk(&mut chunk)?;
            if n == 0 {
                break;
            }
            self.consume(&chunk[..n], &mut records);
            self.window.push(&chunk[..n]);
            consumed += n as u64;
        }
        if self.offset >= self.reread_until {
            self.reread_until = 0;
        }
        let more = consumed >= max_bytes && self.size()? > self.read_pos;
        Ok((records, more))
    }

    /// Start of the first line not yet returned: the offset to persist.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn identity(&self) -> FileIdentity {
        self.identity
    }

    /// The name this tailer follows (inside its sessions dir).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `open` honoured the resume point (else it started at 0).
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// True once after reading restarted at 0 because the file shrank or was rewritten in place.
    pub fn take_truncated(&mut self) -> bool {
        std::mem::take(&mut self.truncated)
    }

    /// How many of the records the last read returned, counted from its first, were read again
    /// after a truncation or rewrite (see the module's doc).
    pub fn take_reread(&mut self) -> usize {
        std::mem::take(&mut self.reread_records)
    }

    /// Whether `name` in `dir` is now a different file than the one being read (the daily reset
    /// renamed it away and a new session file took the name). A missing name is not a change:
    /// the old file may still be written under its new name until the successor appears.
    pub fn is_replaced(&self, dir: &SessionsDir) -> Result<bool, TailError> {
        Ok(dir
            .stat(&self.name)?
            .is_some_and(|(id, _)| id != self.identity))
    }

    /// Switches to the file now at `name` (rotation, rewrite, or a successor file). The old fd is
    /// read to its end first and those records are returned: nothing written before the switch
    /// is lost. The new file is then read from 0 by the next `read_new`. When `name` is still
    /// the same file, this is just `read_new`.
    pub fn reopen(
        &mut self,
        dir: &SessionsDir,
        name: &str,
    ) -> Result<Vec<TranscriptRecord>, TailError> {
        // Open the new file first: if it is not there (yet), nothing changes and the caller
        // retries later, with no records lost in between.
        let file = dir.open_file(name)?;
        let path = dir.path().join(name);
        let (identity, _) = identity_of(&file, &path)?;
        if identity == self.identity {
            self.name = name.to_owned();
            self.path = path;
            return self.read_new();
        }
        let mut records = self.read_new()?;
        self.flush_final_partial(&mut records);
        tracing::debug!(
            old = %self.path.display(),
            new = %path.display(),
            "transcript replaced; following the new file"
        );
        self.file = Some(file);
        self.resume_pending = false;
        self.name = name.to_owned();
        self.path = path;
        self.identity = identity;
        self.restart();
        self.resumed = false;
        self.bad_lines = BadLines::default();
        Ok(records)
    }

    /// Reading starts over at 0 in the same file, which held `until` bytes already read.
    fn restart_rereading(&mut self, until: u64) {
        let until = until.max(self.reread_until);
        self.restart();
        self.reread_until = until;
        self.truncated = true;
    }

    fn restart(&mut self) {
        self.reread_until = 0;
        self.offset = 0;
        self.read_pos = 0;
        self.pending = Vec::new();
        self.skipping = None;
        self.fork = ForkState::default();
        self.window = ReadWindow::default();
    }

    /// Whether the file no longer holds, where reading already went, the bytes that were read.
    fn rewritten(&self) -> Result<bool, TailError> {
        let kept = self.window.bytes();
        if kept.is_empty() {
            return Ok(false);
        }
        let now = self.bytes_before(self.read_pos, kept.len())?;
        Ok(now != kept)
    }

    /// Up to `max` bytes of the file ending at `end` (fewer when the file is shorter now).
    fn bytes_before(&self, end: u64, max: usize) -> Result<Vec<u8>, TailError> {
        let len = usize::try_from(end).map_or(max, |end| end.min(max));
        let start = end - len as u64;
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            match self
                .file()?
                .read_at(&mut buf[filled..], start + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TailError::io(self.path.clone(), "read", e)),
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }

    /// The open file; reading a parked tailer is a caller's mistake, reported as an I/O error.
    fn file(&self) -> Result<&File, TailError> {
        self.file.as_ref().ok_or_else(|| {
            TailError::io(
                self.path.clone(),
                "read",
                std::io::Error::other("the transcript is parked (not open)"),
            )
        })
    }

    fn size(&self) -> Result<u64, TailError> {
        self.file()?
            .metadata()
            .map(|m| m.len())
            .map_err(|e| TailError::io(self.path.clone(), "stat", e))
    }

    fn read_chunk(&self, buf: &mut [u8]) -> Result<usize, TailError> {
        loop {
            match self.file()?.read_at(buf, self.read_pos) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(TailError::io(self.path.clone(), "read", e)),
            }
        }
    }

    fn byte_at(&self, pos: u64) -> Result<Option<u8>, TailError> {
        let mut b = [0u8; 1];
        match self.file()?.read_at(&mut b, pos) {
            Ok(1) => Ok(Some(b[0])),
            Ok(_) => Ok(None),
            Err(e) => Err(TailError::io(self.path.clone(), "read", e)),
        }
    }

    /// Resuming past the header: read it again so a fork's history marking still applies.
    fn restore_fork_state(&mut self) -> Result<(), TailError> {
        let mut buf = vec![0u8; HEADER_PROBE_BYTES];
        let mut filled = 0;
        while filled < buf.len() {
            match self.file()?.read_at(&mut buf[filled..], filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TailError::io(self.path.clone(), "read", e)),
            }
        }
        let buf = &buf[..filled];
        let Some(end) = buf.iter().position(|&b| b == b'\n') else {
            return Ok(());
        };
        if let Ok(parsed) = parse_entry(&buf[..end])
            && let Some(TranscriptEvent::Header {
                ts_ms,
                parent_session,
                ..
            }) = parsed.event
        {
            self.fork.on_header(ts_ms, parent_session.is_some());
        }
        Ok(())
    }

    /// Splits freshly read bytes into lines; `read_pos` is at the chunk's start on entry.
    fn consume(&mut self, mut chunk: &[u8], records: &mut Vec<TranscriptRecord>) {
        while !chunk.is_empty() {
            let newline = chunk.iter().position(|&b| b == b'\n');
            let seg_len = newline.unwrap_or(chunk.len());
            let (segment, rest) = chunk.split_at(seg_len);
            if let Some((start, seen)) = self.skipping {
                let total = seen + segment.len() as u64;
                self.read_pos += segment.len() as u64;
                if newline.is_none() {
                    self.skipping = Some((start, total));
                    return;
                }
                self.skipping = None;
                self.end_line();
                tracing::warn!(
                    file = %self.path.display(),
                    offset = start,
                    len = total,
                    max = MAX_LINE_BYTES,
                    "skipped a transcript line longer than the limit"
                );
            } else if newline.is_none() {
                self.read_pos += segment.len() as u64;
                if self.pending.len() + segment.len() > MAX_LINE_BYTES {
                    // Too long already: stop buffering and discard up to the next newline.
                    let seen = (self.pending.len() + segment.len()) as u64;
                    self.skipping = Some((self.offset, seen));
                    self.pending = Vec::new();
                } else {
                    self.pending.extend_from_slice(segment);
                }
                return;
            } else {
                let start = self.offset;
                let len = self.pending.len() + segment.len();
                self.read_pos += segment.len() as u64;
                if len > MAX_LINE_BYTES {
                    tracing::warn!(
                        file = %self.path.display(),
                        offset = start,
                        len,
                        max = MAX_LINE_BYTES,
                        "skipped a transcript line longer than the limit"
                    );
                } else if self.pending.is_empty() {
                    // The common case: the whole line is in this chunk, no copy.
                    self.handle_line(segment, start, records);
                } else {
                    let mut line = std::mem::take(&mut self.pending);
                    line.extend_from_slice(segment);
                    self.handle_line(&line, start, records);
                    self.pending = line;
                }
                self.pending.clear();
                if self.pending.capacity() > KEEP_BUFFER_BYTES {
                    self.pending = Vec::new();
                }
                self.end_line();
            }
            // Past the newline.
            chunk = &rest[1..];
        }
    }

    /// Accounts for the newline ending the current line and commits the offset past it.
    fn end_line(&mut self) {
        self.read_pos += 1;
        self.offset = self.read_pos;
    }

    fn handle_line(&mut self, line: &[u8], start: u64, records: &mut Vec<TranscriptRecord>) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let parsed = parse_entry(line);
        crate::metrics::count_transcript_line(parsed.is_ok());
        match parsed {
            Ok(parsed) => {
                let history = match &parsed.event {
                    Some(TranscriptEvent::Header {
                        ts_ms,
                        parent_session,
                        ..
                    }) => {
                        self.fork.on_header(*ts_ms, parent_session.is_some());
                        false
                    }
                    _ => self.fork.classify(parsed.ts_ms),
                };
                if let Some(event) = parsed.event {
                    if start < self.reread_until {
                        self.reread_records += 1;
                    }
                    records.push(TranscriptRecord { event, history });
                }
            }
            Err(err) => self.bad_line(start, line.len(), &err),
        }
    }

    fn bad_line(&mut self, offset: u64, len: usize, err: &super::parse::ParseError) {
        let now = Instant::now();
        let due = self
            .bad_lines
            .last_warn
            .is_none_or(|t| now.duration_since(t) >= BAD_LINE_LOG_EVERY);
        if due {
            tracing::warn!(
                file = %self.path.display(),
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

    /// The old file of a rotation gets no more appends: a last line without its newline is
    /// taken if it is a complete entry, and dropped (with a warning) if not.
    fn flush_final_partial(&mut self, records: &mut Vec<TranscriptRecord>) {
        if self.pending.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.pending);
        if parse_entry(&line).is_ok() {
            let start = self.offset;
            self.handle_line(&line, start, records);
        } else {
            tracing::warn!(
                file = %self.path.display(),
                offset = self.offset,
                len = line.len(),
                "the replaced transcript ends in an incomplete line; dropping it"
            );
        }
    }
}

fn identity_of(file: &File, path: &std::path::Path) -> Result<(FileIdentity, u64), TailError> {
    let meta = file
        .metadata()
        .map_err(|e| TailError::io(path.to_owned(), "stat", e))?;
    Ok((
        FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
        },
        meta.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::event::StopReason;
    use crate::transcript::test_support::fixture_root;
    use std::io::Write;

    const HEADER: &str = r#"{"type":"session","version":3,"id":"s1","timestamp":"2026-11-22T03:50:29.391Z","cwd":"/w"}"#;

    fn user(text: &str, ts: &str) -> String {
        serde_json::json!({"type": "message", "timestamp": ts, "message": {"role": "user", "content": text}})
            .to_string()
    }

    fn user_texts(records: &[TranscriptRecord]) -> Vec<String> {
        records
            .iter()
            .filter_map(|r| match &r.event {
                TranscriptEvent::User { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    fn append(path: &std::path::Path, data: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .expect("open for append");
        f.write_all(data.as_bytes()).expect("append");
    }

    fn setup(initial: &str) -> (tempfile::TempDir, SessionsDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("s1.jsonl");
        std::fs::write(&path, initial).expect("write");
        let dir = SessionsDir::open(tmp.path()).expect("dir");
        (tmp, dir, path)
    }

    #[test]
    fn partial_line_waits_for_its_newline() {
        let (_tmp, dir, path) = setup(&format!("{HEADER}\n"));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        let first = t.read_new().expect("read");
        assert!(matches!(
            first[..],
            [TranscriptRecord {
                event: TranscriptEvent::Header { .. },
                history: false
            }]
        ));
        let header_end = HEADER.len() as u64 + 1;
        assert_eq!(t.offset(), header_end);

        let line = user("hello", "2026-11-22T03:50:30Z");
        let (a, b) = line.split_at(20);
        append(&path, a);
        assert!(t.read_new().expect("read").is_empty());
        assert_eq!(t.offset(), header_end, "offset stays at the line start");
        append(&path, b);
        assert!(t.read_new().expect("read").is_empty(), "still no newline");
        append(&path, "\n\n   \n");
        assert_eq!(user_texts(&t.read_new().expect("read")), ["hello"]);
        assert_eq!(t.offset(), std::fs::metadata(&path).expect("meta").len());
        assert!(t.read_new().expect("read").is_empty());
    }

    #[test]
    fn truncation_restarts_from_zero() {
        let body = format!(
            "{HEADER}\n{}\n{}\n",
            user("one", "2026-11-22T03:50:30Z"),
            user("two", "2026-11-22T03:50:31Z")
        );
        let (_tmp, dir, path) = setup(&body);
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        assert_eq!(user_texts(&t.read_new().expect("read")), ["one", "two"]);
        assert!(!t.take_truncated());

        // Rewritten shorter in place (same inode).
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .expect("truncate");
        append(
            &path,
            &format!("{HEADER}\n{}\n", user("three", "2026-11-22T03:50:32Z")),
        );
        let identity = t.identity();
        let again = t.read_new().expect("read");
        assert!(matches!(again[0].event, TranscriptEvent::Header { .. }));
        assert_eq!(user_texts(&again), ["three"]);
        assert!(t.take_truncated());
        assert!(!t.take_truncated(), "reported once");
        assert_eq!(t.identity(), identity);
        assert_eq!(t.offset(), std::fs::metadata(&path).expect("meta").len());
    }

    /// Replaces the whole content of the file at `path` the way an editor or a rewriting writer
    /// does: same inode, `O_TRUNC`, then one write.
    fn rewrite_in_place(path: &std::path::Path, data: &str) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .expect("open for rewrite");
        f.write_all(data.as_bytes()).expect("rewrite");
    }

    #[test]
    fn a_transcript_rewritten_in_place_longer_than_what_was_read_is_read_again() {
        let (_tmp, dir, path) = setup(&format!(
            "{HEADER}\n{}\n{}\n",
            user("one", "2026-11-22T03:50:30Z"),
            user("two", "2026-11-22T03:50:31Z")
        ));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        assert_eq!(user_texts(&t.read_new().expect("read")), ["one", "two"]);
        let identity = t.identity();
        let old_offset = t.offset();

        // The writer rewrites the session (a rewind, an edit): every line is new and the file
        // ends up longer than where reading was, so neither the inode nor the size tells.
        let rewritten = format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            user("uno", "2026-11-22T03:50:30Z"),
            user("dos", "2026-11-22T03:50:31Z"),
            user("tres", "2026-11-22T03:50:32Z"),
            user("cuatro", "2026-11-22T03:50:33Z")
        );
        assert!(rewritten.len() as u64 > old_offset);
        rewrite_in_place(&path, &rewritten);
        assert!(!t.is_replaced(&dir).expect("stat"), "the same file");

        let again = t.read_new().expect("read");
        assert!(matches!(again[0].event, TranscriptEvent::Header { .. }));
        assert_eq!(user_texts(&again), ["uno", "dos", "tres", "cuatro"]);
        assert!(t.take_truncated(), "told like a truncation");
        assert_eq!(t.identity(), identity);
        assert_eq!(t.offset(), rewritten.len() as u64);

        // Plain appends after that are no rewrite.
        append(
            &path,
            &format!("{}\n", user("cinco", "2026-11-22T03:50:34Z")),
        );
        assert_eq!(user_texts(&t.read_new().expect("read")), ["cinco"]);
        assert!(!t.take_truncated());
    }

    #[test]
    fn a_partial_line_rewritten_in_place_is_read_again() {
        let (_tmp, dir, path) = setup(&format!("{HEADER}\n"));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        t.read_new().expect("read");
        let line = user("first draft", "2026-11-22T03:50:30Z");
        append(&path, &line[..line.len() - 5]);
        assert!(t.read_new().expect("read").is_empty());

        rewrite_in_place(
            &path,
            &format!("{HEADER}\n{}\n", user("final", "2026-11-22T03:50:30Z")),
        );
        assert_eq!(user_texts(&t.read_new().expect("read")), ["final"]);
        assert!(t.take_truncated());
    }

    #[test]
    fn a_restart_does_not_resume_into_a_transcript_rewritten_meanwhile() {
        let (_tmp, dir, path) = setup(&format!(
            "{HEADER}\n{}\n",
            user("one", "2026-11-22T03:50:30Z")
        ));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        t.read_new().expect("read");
        // A partial line is pending when the daemon stops: the point is before it.
        append(&path, "{\"type\":\"mess");
        t.read_new().expect("read");
        let saved = t.resume_point();
        assert_eq!(saved.offset, t.offset());
        drop(t);

        // Persisted and read back (the point goes through the state file as JSON).
        let json = serde_json::to_string(&saved).expect("serialize");
        let saved: ResumePoint = serde_json::from_str(&json).expect("deserialize");

        // Unchanged but for the rest of the line: resumed.
        append(
            &path,
            "age\",\"message\":{\"role\":\"user\",\"content\":\"two\"}}\n",
        );
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", Some(saved)).expect("resume");
        assert!(t.resumed());
        assert_eq!(user_texts(&t.read_new().expect("read")), ["two"]);
        drop(t);

        // Rewritten in place while the daemon was down, longer than the saved offset.
        rewrite_in_place(
            &path,
            &format!(
                "{HEADER}\n{}\n{}\n",
                user("uno", "2026-11-22T03:50:30Z"),
                user("dos", "2026-11-22T03:50:31Z")
            ),
        );
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", Some(saved)).expect("open");
        assert!(!t.resumed());
        assert_eq!(user_texts(&t.read_new().expect("read")), ["uno", "dos"]);
    }

    #[test]
    fn lines_written_back_after_a_truncation_are_counted_as_read_again_up_to_the_old_end() {
        let old = format!(
            "{HEADER}\n{}\n{}\n",
            user("a", "2026-11-22T03:50:30Z"),
            user("b", "2026-11-22T03:50:31Z")
        );
        let (_tmp, dir, path) = setup(&old);
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        assert_eq!(t.read_new().expect("read").len(), 3);
        assert_eq!(t.take_reread(), 0, "a first read reads nothing again");
        std::fs::write(&path, "").expect("truncate");
        assert!(t.read_new().expect("read").is_empty());
        assert!(t.take_truncated());
        append(&path, &old);
        append(&path, &format!("{}\n", user("c", "2026-11-22T03:50:32Z")));
        let records = t.read_new().expect("read");
        assert_eq!(user_texts(&records), ["a", "b", "c"]);
        assert_eq!(t.take_reread(), 3, "header, a and b were read before");
        assert!(!t.take_truncated(), "the truncation was told once");
        append(&path, &format!("{}\n", user("d", "2026-11-22T03:50:33Z")));
        t.read_new().expect("read");
        assert_eq!(t.take_reread(), 0, "past the old end, lines are new");
    }

    #[test]
    fn a_parked_tailer_holds_no_file_and_continues_where_it_stopped() {
        let (_tmp, dir, path) = setup(&format!(
            "{HEADER}\n{}\n",
            user("one", "2026-11-22T03:50:30Z")
        ));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        assert_eq!(user_texts(&t.read_new().expect("read")), ["one"]);
        t.park();
        assert!(t.is_parked());
        assert!(t.read_new().is_err(), "a parked tailer is not read");
        append(&path, &format!("{}\n", user("two", "2026-11-22T03:50:31Z")));
        t.unpark(&dir).expect("unpark");
        assert_eq!(user_texts(&t.read_new().expect("read")), ["two"]);
    }

    #[test]
    fn a_deferred_tailer_starts_at_the_end_without_opening_the_file() {
        let (_tmp, dir, path) = setup(&format!(
            "{HEADER}\n{}\n",
            user("history", "2026-11-22T03:50:30Z")
        ));
        let mut t = JsonlTailer::deferred(&dir, "s1.jsonl").expect("deferred");
        assert!(t.is_parked());
        append(
            &path,
            &format!("{}\n", user("news", "2026-11-22T03:50:31Z")),
        );
        t.unpark(&dir).expect("unpark");
        assert!(
            t.resumed(),
            "the end it was deferred at is checked and kept"
        );
        assert_eq!(user_texts(&t.read_new().expect("read")), ["news"]);
        assert!(matches!(
            JsonlTailer::deferred(&dir, "absent.jsonl"),
            Err(TailError::NotFound { .. })
        ));
    }

    #[test]
    fn a_deferred_tailer_of_a_file_without_a_final_newline_reads_it_from_the_start() {
        let (_tmp, dir, _path) = setup(&format!(
            "{HEADER}\n{}",
            user("unfinished", "2026-11-22T03:50:30Z")
        ));
        let mut t = JsonlTailer::deferred(&dir, "s1.jsonl").expect("deferred");
        t.unpark(&dir).expect("unpark");
        assert!(
            !t.resumed(),
            "the end is not a line boundary, as `open` would refuse it"
        );
        assert_eq!(t.offset(), 0);
    }

    #[test]
    fn a_file_that_took_a_parked_tailers_name_is_followed_from_its_start() {
        let (tmp, dir, path) = setup(&format!(
            "{HEADER}\n{}\n",
            user("old", "2026-11-22T03:50:30Z")
        ));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        t.read_new().expect("read");
        t.park();
        std::fs::rename(&path, tmp.path().join("s1.jsonl.reset.x")).expect("rename");
        assert!(t.unpark(&dir).expect_err("gone").is_not_found());
        std::fs::write(
            &path,
            format!("{HEADER}\n{}\n", user("new", "2026-11-22T04:02:56Z")),
        )
        .expect("new file");
        t.unpark(&dir).expect("unpark");
        assert_eq!(user_texts(&t.read_new().expect("read")), ["new"]);
    }

    #[test]
    fn rotation_drains_the_old_file_first() {
        let (tmp, dir, path) = setup(&format!(
            "{HEADER}\n{}\n",
            user("old-1", "2026-11-22T03:50:30Z")
        ));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        assert_eq!(user_texts(&t.read_new().expect("read")), ["old-1"]);
        let old_identity = t.identity();

        // Written after our last read, then the daily reset renames the file away and a new
        // session starts under the same name.
        append(
            &path,
            &format!(
                "{}\n{}",
                user("old-2", "2026-11-22T03:50:31Z"),
                user("old-3", "2026-11-22T03:50:32Z")
            ),
        );
        let reset = tmp.path().join("s1.jsonl.reset.2026-11-22T04-02-55.808Z");
        std::fs::rename(&path, &reset).expect("rename");
        assert!(
            !t.is_replaced(&dir).expect("stat"),
            "a missing name is no replacement"
        );
        std::fs::write(
            &path,
            format!("{HEADER}\n{}\n", user("new-1", "2026-11-22T04:02:56Z")),
        )
        .expect("new file");
        assert!(t.is_replaced(&dir).expect("stat"));

        let drained = t.reopen(&dir, "s1.jsonl").expect("reopen");
        // The old file's unterminated last line is complete JSON, so it is kept too.
        assert_eq!(user_texts(&drained), ["old-2", "old-3"]);
        assert_ne!(t.identity(), old_identity);
        assert_eq!(t.offset(), 0);
        assert!(!t.is_replaced(&dir).expect("stat"));
        let fresh = t.read_new().expect("read");
        assert!(matches!(fresh[0].event, TranscriptEvent::Header { .. }));
        assert_eq!(user_texts(&fresh), ["new-1"]);

        // Reopening the same file is a plain read.
        append(
            &path,
            &format!("{}\n", user("new-2", "2026-11-22T04:02:57Z")),
        );
        assert_eq!(
            user_texts(&t.reopen(&dir, "s1.jsonl").expect("same")),
            ["new-2"]
        );

        // No file at the name: an error the caller waits on, and the tailer is unchanged.
        std::fs::remove_file(&path).expect("rm");
        assert!(t.reopen(&dir, "s1.jsonl").expect_err("gone").is_not_found());
    }

    #[test]
    fn oversized_line_is_skipped() {
        let (_tmp, dir, path) = setup(&format!("{HEADER}\n"));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        t.read_new().expect("read");

        // Arrives in pieces, so the tailer must stop buffering before the newline shows up.
        let huge = format!(
            "{{\"type\":\"message\",\"pad\":\"{}",
            "z".repeat(MAX_LINE_BYTES / 2)
        );
        append(&path, &huge);
        assert!(t.read_new().expect("read").is_empty());
        append(&path, &huge);
        assert!(t.read_new().expect("read").is_empty());
        assert!(
            t.pending.capacity() <= MAX_LINE_BYTES,
            "not buffering the whole line"
        );
        assert!(t.skipping.is_some());
        append(
            &path,
            &format!("\"}}\n{}\n", user("after", "2026-11-22T03:50:40Z")),
        );
        assert_eq!(user_texts(&t.read_new().expect("read")), ["after"]);
        assert!(t.skipping.is_none());

        // Complete in one write (longer than the limit by one byte).
        let exact = format!("{{\"p\":\"{}\"}}", "z".repeat(MAX_LINE_BYTES - 7));
        assert_eq!(exact.len(), MAX_LINE_BYTES + 1);
        append(
            &path,
            &format!("{exact}\n{}\n", user("after-2", "2026-11-22T03:50:41Z")),
        );
        assert_eq!(user_texts(&t.read_new().expect("read")), ["after-2"]);
        assert_eq!(t.offset(), std::fs::metadata(&path).expect("meta").len());
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let body = format!(
            "{HEADER}\nnot json at all\n[1,2]\n{{\"type\":\"message\",\"message\":{{\"role\":\"user\",\"content\":\"\u{0}\n{}\n\u{feff}\n{}\n",
            user("ok-1", "2026-11-22T03:50:30Z"),
            user("ok-2", "2026-11-22T03:50:31Z")
        );
        let (_tmp, dir, _path) = setup(&body);
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        assert_eq!(user_texts(&t.read_new().expect("read")), ["ok-1", "ok-2"]);
    }

    #[test]
    fn forked_transcript_marks_copied_history() {
        let src = fixture_root().join(
            "2026.7.1/b_thread_reply/sessions/2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl",
        );
        let name = "2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl";
        let tmp = tempfile::tempdir().expect("tempdir");
        let bytes = std::fs::read(&src).expect("fixture");
        std::fs::write(tmp.path().join(name), &bytes).expect("copy");
        let dir = SessionsDir::open(tmp.path()).expect("dir");
        let mut t = JsonlTailer::open(&dir, name, None).expect("open");
        let records = t.read_new().expect("read");

        // Lines 1-10 are the header and the copy; records exist only for the shown entries.
        let lines: Vec<&[u8]> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 15);
        let summary: Vec<(&str, bool)> = records
            .iter()
            .map(|r| {
                let kind = match &r.event {
                    TranscriptEvent::Header { .. } => "header",
                    TranscriptEvent::User { .. } => "user",
                    TranscriptEvent::Assistant { .. } => "assistant",
                    TranscriptEvent::ToolResult { .. } => "tool",
                    TranscriptEvent::Compaction { .. } => "compaction",
                };
                (kind, r.history)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("header", false),
                ("user", true),
                ("assistant", true),
                ("tool", true),
                ("tool", true),
                ("assistant", true),
                ("user", false),
                ("assistant", false),
                ("tool", false),
                ("assistant", false),
            ]
        );
        assert_eq!(
            user_texts(&records[6..]),
            ["[scen:thread] follow-up in the thread: run an echo"]
        );
        assert!(matches!(
            &records[9].event,
            TranscriptEvent::Assistant { stop: StopReason::Stop, text, .. } if text.starts_with("Thread reply")
        ));

        // Resuming in the middle of the copy still knows it is history (header re-read).
        let eighth_line_start: usize = lines[..7].iter().map(|l| l.len() + 1).sum();
        let at = ResumePoint {
            identity: t.identity(),
            offset: eighth_line_start as u64,
            before: None,
        };
        let mut r = JsonlTailer::open(&dir, name, Some(at)).expect("resume");
        assert!(r.resumed());
        let rest = r.read_new().expect("read");
        let flags: Vec<bool> = rest.iter().map(|r| r.history).collect();
        assert_eq!(flags, [true, true, false, false, false, false]);

        // The channel transcript (no parentSession) has no history at all.
        let channel = fixture_root()
            .join("2026.7.1/b_thread_reply/sessions/378cc088-7929-479b-991c-8aad99f30827.jsonl");
        std::fs::write(
            tmp.path().join("c.jsonl"),
            std::fs::read(channel).expect("fixture"),
        )
        .expect("copy");
        let mut c = JsonlTailer::open(&dir, "c.jsonl", None).expect("open");
        let recs = c.read_new().expect("read");
        assert!(recs.len() > 5 && recs.iter().all(|r| !r.history));
    }

    #[test]
    fn fork_prefix_without_timestamps_and_clock_steps() {
        let header = r#"{"type":"session","id":"f","timestamp":"2026-11-22T03:51:03.547Z","parentSession":"/p.jsonl"}"#;
        let no_ts = r#"{"type":"message","message":{"role":"user","content":"copied, no ts"}}"#;
        let body = format!(
            "{header}\n{}\n{no_ts}\n{}\n{}\n{no_ts}\n",
            user("copied", "2026-11-22T03:50:00Z"),
            user("new", "2026-11-22T03:51:04Z"),
            user("clock stepped back", "2026-11-22T03:40:00Z"),
        );
        let (_tmp, dir, _path) = setup(&body);
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        let flags: Vec<(String, bool)> = t
            .read_new()
            .expect("read")
            .into_iter()
            .filter_map(|r| match r.event {
                TranscriptEvent::User { text, .. } => Some((text, r.history)),
                _ => None,
            })
            .collect();
        assert_eq!(
            flags,
            [
                ("copied".to_owned(), true),
                ("copied, no ts".to_owned(), true),
                ("new".to_owned(), false),
                ("clock stepped back".to_owned(), false),
                ("copied, no ts".to_owned(), false),
            ]
        );
    }

    #[test]
    fn resume_at_an_offset() {
        let body = format!("{HEADER}\n{}\n", user("one", "2026-11-22T03:50:30Z"));
        let (tmp, dir, path) = setup(&body);
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        t.read_new().expect("read");
        let saved = t.resume_point();
        assert_eq!(saved.offset, t.offset());
        drop(t);

        append(&path, &format!("{}\n", user("two", "2026-11-22T03:50:31Z")));
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", Some(saved)).expect("resume");
        assert!(t.resumed());
        assert_eq!(t.offset(), saved.offset);
        assert_eq!(user_texts(&t.read_new().expect("read")), ["two"]);

        // Not at a line boundary, past the end, another file, or other bytes before the
        // offset: start over at 0.
        let other_file = FileIdentity {
            dev: saved.identity.dev,
            ino: saved.identity.ino + 1,
        };
        let other_bytes = Fingerprint {
            hash: saved.before.expect("fingerprint").hash ^ 1,
            ..saved.before.expect("fingerprint")
        };
        for bad in [
            ResumePoint {
                offset: saved.offset - 3,
                before: None,
                ..saved
            },
            ResumePoint {
                offset: 1 << 40,
                ..saved
            },
            ResumePoint {
                identity: other_file,
                ..saved
            },
            ResumePoint {
                before: Some(other_bytes),
                ..saved
            },
        ] {
            let mut t = JsonlTailer::open(&dir, "s1.jsonl", Some(bad)).expect("open");
            assert!(!t.resumed(), "{bad:?}");
            assert_eq!(t.offset(), 0);
            assert_eq!(user_texts(&t.read_new().expect("read")), ["one", "two"]);
        }
        drop(tmp);
    }

    #[test]
    fn limited_reads_report_more() {
        let mut body = format!("{HEADER}\n");
        for i in 0..2000 {
            body.push_str(&user(&format!("m{i}"), "2026-11-22T03:50:30Z"));
            body.push('\n');
        }
        assert!(body.len() > 2 * CHUNK_BYTES);
        let (_tmp, dir, _path) = setup(&body);
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
        let (first, more) = t.read_limited(1).expect("read");
        assert!(more);
        assert!(!first.is_empty());
        let mut all = user_texts(&first);
        loop {
            let (recs, more) = t.read_limited(CHUNK_BYTES as u64).expect("read");
            all.extend(user_texts(&recs));
            if !more {
                break;
            }
        }
        assert_eq!(all.len(), 2000);
        assert_eq!(all[1999], "m1999");
    }

    #[test]
    fn refuses_unsafe_files() {
        let (tmp, dir, _path) = setup(&format!("{HEADER}\n"));
        std::os::unix::fs::symlink("s1.jsonl", tmp.path().join("l.jsonl")).expect("symlink");
        assert!(matches!(
            JsonlTailer::open(&dir, "l.jsonl", None),
            Err(TailError::Refused(
                crate::guarded::GuardError::Symlink { .. }
            ))
        ));
        assert!(
            JsonlTailer::open(&dir, "absent.jsonl", None)
                .expect_err("missing")
                .is_not_found()
        );
        assert!(matches!(
            JsonlTailer::open(&dir, "../s1.jsonl", None),
            Err(TailError::BadName { .. })
        ));
    }
}
