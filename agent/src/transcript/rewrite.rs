//! Noticing a transcript rewritten in place: the same inode, no shorter than what was read, but
//! other bytes where reading already went (`O_TRUNC`, then one write longer than the old offset).
//! Neither the file identity nor the size shows it, so the tailer keeps the last bytes it read
//! and compares them with what the file holds there now before each read. A resume point carries
//! a fingerprint of the bytes before its offset for the same check after a restart.

use serde::{Deserialize, Serialize};

use super::safe_open::FileIdentity;

/// How many of the last bytes read are kept and compared: a line or more of a transcript, and
/// one small `pread` per read.
pub const WINDOW_BYTES: usize = 4 << 10;

/// Where to resume reading a transcript after a restart: the very same file (`identity`), at
/// `offset` (a line boundary), if the bytes before it are still those that were read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub identity: FileIdentity,
    pub offset: u64,
    /// `None`: not checked (the caller took the offset from the file just now, e.g. its size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Fingerprint>,
}

/// A hash of the `len` bytes that ended just before an offset. FNV-1a: stable across builds
/// and versions, which a persisted value needs (std's `DefaultHasher` promises neither).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u32,
    pub hash: u64,
}

impl Fingerprint {
    pub fn of(bytes: &[u8]) -> Fingerprint {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Fingerprint {
            // At most WINDOW_BYTES by construction.
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            hash,
        }
    }
}

/// The last bytes read (at most `WINDOW_BYTES`), ending at the tailer's read position.
#[derive(Debug, Default)]
pub(super) struct ReadWindow {
    bytes: Vec<u8>,
}

impl ReadWindow {
    /// Starts the window over with `bytes` (the file's bytes ending at the read position).
    pub(super) fn reset(&mut self, bytes: &[u8]) {
        self.bytes.clear();
        self.push(bytes);
    }

    /// Bytes just read, in file order after those kept.
    pub(super) fn push(&mut self, read: &[u8]) {
        if read.len() >= WINDOW_BYTES {
            self.bytes.clear();
            self.bytes
                .extend_from_slice(&read[read.len() - WINDOW_BYTES..]);
            return;
        }
        self.bytes.extend_from_slice(read);
        if self.bytes.len() > WINDOW_BYTES {
            self.bytes.drain(..self.bytes.len() - WINDOW_BYTES);
        }
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The fingerprint of the kept bytes before `offset`, the window ending at `read_pos`
    /// (`offset <= read_pos`; bytes between them are a partial line). Shorter than the window
    /// while a partial line is pending, empty when that line is longer than the window.
    pub(super) fn fingerprint_before(&self, offset: u64, read_pos: u64) -> Fingerprint {
        let pending = usize::try_from(read_pos.saturating_sub(offset)).unwrap_or(usize::MAX);
        let keep = self.bytes.len().saturating_sub(pending);
        Fingerprint::of(&self.bytes[..keep])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_keeps_the_last_bytes_read() {
        let mut w = ReadWindow::default();
        w.push(b"abc");
        w.push(b"def");
        assert_eq!(w.bytes(), b"abcdef");
        let big = vec![b'x'; WINDOW_BYTES + 10];
        w.push(&big);
        assert_eq!(w.bytes().len(), WINDOW_BYTES);
        w.push(b"tail");
        assert_eq!(w.bytes().len(), WINDOW_BYTES);
        assert!(w.bytes().ends_with(b"xtail"));
    }

    #[test]
    fn the_fingerprint_leaves_out_a_pending_partial_line() {
        let mut w = ReadWindow::default();
        w.push(b"line one\npart");
        // Read up to 13, the first line ends at 9.
        assert_eq!(w.fingerprint_before(9, 13), Fingerprint::of(b"line one\n"));
        assert_eq!(
            w.fingerprint_before(13, 13),
            Fingerprint::of(b"line one\npart")
        );
        assert_eq!(w.fingerprint_before(0, 1 << 20).len, 0);
    }

    #[test]
    fn the_fingerprint_is_stable_across_builds() {
        // Persisted in state files: a changed hash would make every restart re-read from 0.
        assert_eq!(Fingerprint::of(b"").hash, 0xcbf2_9ce4_8422_2325);
        assert_eq!(Fingerprint::of(b"a").hash, 0xaf63_dc4c_8601_ec8c);
    }
}
