//! The in-kernel filter: which names matter, and whether a directory is under one that user
//! space registered.

use aya_ebpf::maps::HashMap;
use openclaw_livestatus_ebpf::{InodeKey, MAX_DEPTH};

use crate::kernel::{self, cfg};

const SUFFIXES: [&[u8]; 5] = [
    b".jsonl",
    b".jsonl.lock",
    b"sessions.json",
    b"openclaw-agent.sqlite",
    b"openclaw-agent.sqlite-wal",
];

/// Whether a file name (`len` bytes of `name`) ends like one of OpenClaw's session files. Rotated
/// transcripts (`.jsonl.reset.<ts>`) are only ever renamed to, and the rename's other side is a
/// `.jsonl`, so they need no entry.
#[inline(always)]
pub fn name_matches<const N: usize>(name: &[u8; N], len: u32) -> bool {
    let len = len as usize;
    let mut i = 0;
    while i < SUFFIXES.len() {
        if ends_with(name, len, SUFFIXES[i]) {
            return true;
        }
        i += 1;
    }
    false
}

/// A turn's lock (`<transcript>.jsonl.lock`), the one file host-wide discovery looks for.
#[inline(always)]
pub fn is_lock<const N: usize>(name: &[u8; N], len: u32) -> bool {
    ends_with(name, len as usize, b".jsonl.lock")
}

#[inline(always)]
fn ends_with<const N: usize>(name: &[u8; N], len: usize, suffix: &[u8]) -> bool {
    if len < suffix.len() || len > N {
        return false;
    }
    let start = len - suffix.len();
    let mut j = 0;
    while j < suffix.len() {
        // Masked so the verifier sees every index in bounds.
        if name[(start + j) & (N - 1)] != suffix[j] {
            return false;
        }
        j += 1;
    }
    true
}

/// Walks up from `dir` (depth 1) to `MAX_DEPTH`, looking for a registered directory whose mask
/// names that depth. Stops at the filesystem's root (a dentry that is its own parent).
#[inline(always)]
pub fn in_registered_dir(dirs: &HashMap<InodeKey, u32>, dir: *const u8, dev: u64) -> bool {
    let mut d = dir;
    let mut depth = 1;
    while depth <= MAX_DEPTH {
        if d.is_null() {
            return false;
        }
        let Some(ino) = kernel::dentry_ino(d) else {
            return false;
        };
        if let Some(mask) = unsafe { dirs.get(&InodeKey { dev, ino }) }
            && mask & (1 << depth) != 0
        {
            return true;
        }
        let Some(up) = kernel::read::<*const u8>(d, cfg(&kernel::OFF_DENTRY_D_PARENT)) else {
            return false;
        };
        if up == d {
            return false;
        }
        d = up;
        depth += 1;
    }
    false
}
