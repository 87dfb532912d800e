//! The bytes read from a transcript cut into complete lines, bounded: a line longer than
//! `MAX_LINE_BYTES` (a runaway tool output) is skipped without being held, and the file goes on.

use std::path::Path;

/// Longest line read; longer ones are skipped.
pub const MAX_LINE_BYTES: usize = 8 << 20;
/// A pending partial line whose buffer grew past this is given back to the allocator once done.
const KEEP_BUFFER_BYTES: usize = 1 << 20;

/// Where the first line not yet handed out starts (`offset`, always a line boundary), where
/// the next read starts (`read_pos`), and what lies between: a partial line, or an oversized
/// one being skipped.
#[derive(Default)]
pub(super) struct Lines {
    offset: u64,
    read_pos: u64,
    /// The partial line read so far (starts at `offset`).
    pending: Vec<u8>,
    /// Set while discarding an oversized line: (its start offset, bytes seen so far).
    skipping: Option<(u64, u64)>,
}

impl Lines {
    /// Nothing held, at `pos`, which must be a line boundary.
    pub fn at(pos: u64) -> Lines {
        Lines {
            offset: pos,
            read_pos: pos,
            ..Lines::default()
        }
    }

    /// Start of the first line not yet handed out.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where the next read starts: `offset` + the bytes held or being skipped.
    pub fn read_pos(&self) -> u64 {
        self.read_pos
    }

    /// Cuts the bytes read next (from `read_pos`) into lines; `line` gets each complete one
    /// with its start offset, without its newline.
    pub fn split(&mut self, mut chunk: &[u8], path: &Path, mut line: impl FnMut(&[u8], u64)) {
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
                warn_oversized(path, start, total);
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
                    warn_oversized(path, start, len as u64);
                } else if self.pending.is_empty() {
                    // The common case: the whole line is in this chunk, no copy.
                    line(segment, start);
                } else {
                    let mut whole = std::mem::take(&mut self.pending);
                    whole.extend_from_slice(segment);
                    line(&whole, start);
                    self.pending = whole;
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

    /// The partial line held, taken out, with its start offset; None when there is none.
    pub fn take_partial(&mut self) -> Option<(Vec<u8>, u64)> {
        if self.pending.is_empty() {
            return None;
        }
        Some((std::mem::take(&mut self.pending), self.offset))
    }

    /// How much the buffer of a partial line holds on to.
    #[cfg(test)]
    pub fn buffer_capacity(&self) -> usize {
        self.pending.capacity()
    }

    #[cfg(test)]
    pub fn is_skipping(&self) -> bool {
        self.skipping.is_some()
    }

    /// Accounts for the newline ending the current line and commits the offset past it.
    fn end_line(&mut self) {
        self.read_pos += 1;
        self.offset = self.read_pos;
    }
}

/// By hand so that a logged tailer never prints the partial line it holds (users' content).
impl std::fmt::Debug for Lines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lines")
            .field("offset", &self.offset)
            .field("read_pos", &self.read_pos)
            .field("pending_bytes", &self.pending.len())
            .field("skipping", &self.skipping)
            .finish()
    }
}

fn warn_oversized(path: &Path, offset: u64, len: u64) {
    tracing::warn!(
        file = %path.display(),
        offset,
        len,
        max = MAX_LINE_BYTES,
        "skipped a transcript line longer than the limit"
    );
}
