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
//!
//! This file follows the file (opening, parking, resuming, noticing a rewrite or a successor);
//! `lines` cuts what is read into bounded lines, `entries` makes them records.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;

use super::error::TailError;
use super::event::TranscriptRecord;
use super::rewrite::{Fingerprint, ReadWindow, ResumePoint, WINDOW_BYTES};
pub use super::safe_open::{FileIdentity, SessionsDir};

mod entries;
mod lines;

use entries::Entries;
use lines::Lines;
pub use lines::MAX_LINE_BYTES;

/// Bytes read per syscall.
const CHUNK_BYTES: usize = 64 << 10;
/// How much of the file's start is read to find the header when resuming past it.
const HEADER_PROBE_BYTES: usize = 64 << 10;

pub struct JsonlTailer {
    /// None while parked: a quiet transcript holds no fd (a host keeps thousands of them).
    file: Option<File>,
    /// Parked since `deferred`: the resume checks of `open` run when it is first unparked.
    resume_pending: bool,
    name: String,
    path: PathBuf,
    identity: FileIdentity,
    lines: Lines,
    entries: Entries,
    truncated: bool,
    resumed: bool,
    /// The last bytes read, ending at the read position: a rewrite in place changes them.
    window: ReadWindow,
}

impl std::fmt::Debug for JsonlTailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlTailer")
            .field("path", &self.path)
            .field("identity", &self.identity)
            .field("lines", &self.lines)
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
            lines: Lines::default(),
            entries: Entries::default(),
            truncated: false,
            resumed: false,
            window: ReadWindow::default(),
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
        let Some((identity, size)) = dir.stat(name)? else {
            return Err(TailError::NotFound {
                path: dir.path().join(name),
            });
        };
        Ok(JsonlTailer::deferred_at(dir, name, identity, size))
    }

    /// A `deferred` tailer from what an earlier one recorded (`identity`, `offset`): the same
    /// checks run at its first `unpark`, against the file as it was when it was recorded.
    pub fn deferred_at(
        dir: &SessionsDir,
        name: &str,
        identity: FileIdentity,
        offset: u64,
    ) -> JsonlTailer {
        JsonlTailer {
            file: None,
            resume_pending: true,
            name: name.to_owned(),
            path: dir.path().join(name),
            identity,
            lines: Lines::at(offset),
            entries: Entries::default(),
            truncated: false,
            resumed: false,
            window: ReadWindow::default(),
        }
    }

    /// A `deferred` tailer never unparked since: its file's identity and end are all it knows.
    pub fn is_untouched_deferred(&self) -> bool {
        self.file.is_none() && self.resume_pending
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
            self.lines = Lines::at(offset);
            self.window.reset(&before);
            self.resumed = true;
            self.restore_fork_state()?;
        } else {
            tracing::info!(
                path = %self.path.display(),
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
            tracing::debug!(path = %self.path.display(), "transcript replaced while not open; following the new file");
            self.identity = identity;
            self.restart();
            self.entries.new_file();
            self.resumed = false;
            self.resume_pending = false;
            return Ok(());
        }
        if std::mem::take(&mut self.resume_pending) {
            let point = ResumePoint {
                identity,
                offset: self.lines.offset(),
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
        let offset = self.lines.offset();
        ResumePoint {
            identity: self.identity,
            offset,
            before: Some(
                self.window
                    .fingerprint_before(offset, self.lines.read_pos()),
            ),
        }
    }

    /// Reads everything appended since the last call and returns the records of the complete
    /// lines (a trailing partial line waits for its newline).
    pub fn read_new(&mut self) -> Result<Vec<TranscriptRecord>, TailError> {
        let size = self.size()?;
        self.read_upto(u64::MAX, size).map(|(records, _)| records)
    }

    /// `read_new` when the caller has just seen the open file's size (`stat` of its name gave
    /// this file's identity): saves a syscall per append.
    pub fn read_new_sized(&mut self, size: u64) -> Result<Vec<TranscriptRecord>, TailError> {
        self.read_upto(u64::MAX, size).map(|(records, _)| records)
    }

    /// Like `read_new`, but stops after about `max_bytes` of input (at least one chunk); the
    /// flag says whether more is waiting. For the first read of a long transcript.
    pub fn read_limited(
        &mut self,
        max_bytes: u64,
    ) -> Result<(Vec<TranscriptRecord>, bool), TailError> {
        let size = self.size()?;
        self.read_upto(max_bytes, size)
    }

    fn read_upto(
        &mut self,
        max_bytes: u64,
        size: u64,
    ) -> Result<(Vec<TranscriptRecord>, bool), TailError> {
        let read_pos = self.lines.read_pos();
        let mut pending = None;
        if size < read_pos {
            tracing::warn!(
                path = %self.path.display(),
                size,
                offset = read_pos,
                "transcript got shorter than what was read (truncated or rewritten): reading it again from the start"
            );
            self.restart_rereading(read_pos);
        } else {
            // The rewrite check and the new bytes come in one read: an append is a line or two,
            // and a second syscall per append was a tenth of the pipeline's cost (load bench).
            match self.read_checked(size - read_pos)? {
                Some(read) => pending = Some(read),
                None => {
                    tracing::warn!(
                        path = %self.path.display(),
                        offset = read_pos,
                        "transcript was rewritten in place (other bytes where it was already read): reading it again from the start"
                    );
                    self.restart_rereading(read_pos);
                }
            }
        }
        self.entries.start_read();
        let mut records = Vec::new();
        let mut consumed = 0u64;
        if let Some((buf, kept)) = pending {
            self.take_in(&buf[kept..], &mut records);
            consumed = (buf.len() - kept) as u64;
        }
        // No further read when the first took all that `size` showed: a write after it brings
        // its own event. Otherwise (a restart, more than a chunk) read on to the end.
        let due = size.saturating_sub(self.lines.read_pos());
        if due > 0 && consumed < max_bytes {
            let mut chunk = vec![0u8; usize::try_from(due).unwrap_or(CHUNK_BYTES).min(CHUNK_BYTES)];
            while consumed < max_bytes {
                let n = self.read_chunk(&mut chunk)?;
                if n == 0 {
                    break;
                }
                self.take_in(&chunk[..n], &mut records);
                consumed += n as u64;
            }
        }
        self.entries.end_read(self.lines.offset());
        let more = consumed >= max_bytes && self.size()? > self.lines.read_pos();
        Ok((records, more))
    }

    /// Cuts bytes read at the read position into records, and keeps their tail for the rewrite
    /// check.
    fn take_in(&mut self, bytes: &[u8], records: &mut Vec<TranscriptRecord>) {
        self.lines.split(bytes, &self.path, |line, start| {
            self.entries.line(line, start, &self.path, records)
        });
        self.window.push(bytes);
    }

    /// One read from just before the read position: the bytes of the rewrite window as they
    /// are in the file now, then up to `waiting` new bytes (at most a chunk). Some((buf, kept)):
    /// the first `kept` bytes are still those read, the rest is new; None: they are not (or
    /// the file got shorter meanwhile), a rewrite.
    fn read_checked(&self, waiting: u64) -> Result<Option<(Vec<u8>, usize)>, TailError> {
        let window = self.window.bytes();
        let kept = window.len();
        let new = usize::try_from(waiting)
            .unwrap_or(CHUNK_BYTES)
            .min(CHUNK_BYTES);
        // The window holds bytes read, so it never reaches before the file's start.
        let buf = self.read_span(self.lines.read_pos() - kept as u64, kept + new)?;
        if buf.len() < kept || buf[..kept] != *window {
            return Ok(None);
        }
        Ok(Some((buf, kept)))
    }

    /// Start of the first line not yet returned: the offset to persist.
    pub fn offset(&self) -> u64 {
        self.lines.offset()
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
        self.entries.take_reread()
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
        // The old file gets no more appends: its last line may lack only its newline.
        if let Some((line, start)) = self.lines.take_partial() {
            self.entries
                .final_partial(&line, start, &self.path, &mut records);
        }
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
        self.entries.new_file();
        self.resumed = false;
        Ok(records)
    }

    /// Reading starts over at 0 in the same file, which held `until` bytes already read.
    fn restart_rereading(&mut self, until: u64) {
        self.entries.restart_rereading(until);
        self.lines = Lines::default();
        self.window = ReadWindow::default();
        self.truncated = true;
    }

    fn restart(&mut self) {
        self.entries.restart();
        self.lines = Lines::default();
        self.window = ReadWindow::default();
    }

    /// Up to `max` bytes of the file ending at `end` (fewer when the file is shorter now).
    fn bytes_before(&self, end: u64, max: usize) -> Result<Vec<u8>, TailError> {
        let len = usize::try_from(end).map_or(max, |end| end.min(max));
        self.read_span(end - len as u64, len)
    }

    /// Up to `len` bytes of the file from `start` (fewer where it ends).
    fn read_span(&self, start: u64, len: usize) -> Result<Vec<u8>, TailError> {
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
            match self.file()?.read_at(buf, self.lines.read_pos()) {
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
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            self.entries.header_again(&buf[..end]);
        }
        Ok(())
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
mod tests;
