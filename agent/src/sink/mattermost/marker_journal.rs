//! The "creating since" markers, appended to `posts.creating.jsonl` beside `posts.json`.
//!
//! A create must not leave before its marker is on disk: a crash between the two would post the
//! box twice after a restart. Writing the whole post store for it (a day of posts, megabytes
//! under load, a temp file, two fsyncs) made every box's first request wait milliseconds and
//! cost most of the CPU of a busy host; one short line and one `fdatasync` is all the guarantee
//! needs (0.2 ms against 0.8–3.5 ms here). Lines carry the store generation they belong to and
//! `posts.json` records its own, so a reader applies only the lines newer than the file, and
//! after every store write the journal keeps only those.
//!
//! Appends are grouped like the store's writes: every line handed in while a sync runs goes out
//! with the next one, so many boxes starting at once wait for two syncs at most.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Serialize};

use super::post_store::{FileEntry, FileEntryRef, PostEntry, PostKey, sync_dir_of, write_atomic};

pub const MARKERS_FILE: &str = "posts.creating.jsonl";

#[derive(Serialize, Deserialize)]
struct Line<E> {
    generation: u64,
    #[serde(flatten)]
    entry: E,
}

/// One journal line (with its newline) for a box's entry as of store generation `generation`.
pub(super) fn line(generation: u64, key: &PostKey, entry: &PostEntry) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(&Line {
        generation,
        entry: FileEntryRef { key, entry },
    })
    .unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The entries a journal holds, oldest generation first. A line that does not parse is skipped
/// (the last one may have been cut by a crash; an earlier one is logged).
pub(super) fn entries(bytes: &[u8], path: &Path) -> Vec<(u64, FileEntry)> {
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let last = lines.len().saturating_sub(1);
    let mut out: Vec<(u64, FileEntry)> = lines
        .iter()
        .enumerate()
        .filter_map(
            |(i, l)| match serde_json::from_slice::<Line<FileEntry>>(l) {
                Ok(line) => Some((line.generation, line.entry)),
                Err(e) => {
                    if i != last || bytes.ends_with(b"\n") {
                        tracing::warn!(path = %path.display(), line = i + 1, error = %e,
                        "a line of the create markers file is not understood; skipped");
                    }
                    None
                }
            },
        )
        .collect();
    out.sort_by_key(|(generation, _)| *generation);
    out
}

/// A line waiting for its sync, and what became of it.
type Waiting = (u64, Vec<u8>, Arc<OnceLock<bool>>);

pub(super) struct MarkerJournal {
    path: Option<PathBuf>,
    /// Lines handed in and not yet taken by a sync.
    pending: Mutex<Vec<Waiting>>,
    /// Held across a sync or a cut, so they happen one at a time.
    disk: tokio::sync::Mutex<Disk>,
    /// Syncs so far (tests check the grouping with it).
    pub syncs: AtomicU64,
    failing: AtomicBool,
}

#[derive(Default)]
struct Disk {
    file: Option<Arc<File>>,
    /// A write failed: the file may end in part of a line, which the next write must end first.
    torn: bool,
    /// What this run's lines in the file are, for the cut after a store write.
    lines: Vec<(u64, Vec<u8>)>,
}

impl MarkerJournal {
    /// The journal beside the store file `posts`; None for a store that is never written.
    pub fn new(posts: Option<&Path>) -> Arc<MarkerJournal> {
        Arc::new(MarkerJournal {
            path: posts.map(|p| p.with_file_name(MARKERS_FILE)),
            pending: Mutex::new(Vec::new()),
            disk: tokio::sync::Mutex::new(Disk::default()),
            syncs: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        })
    }

    /// Returns once `line` is on disk: true, or false when the sync that was to carry it failed
    /// (logged here, once until syncs work again).
    pub async fn append(&self, generation: u64, line: Vec<u8>) -> bool {
        let Some(path) = self.path.clone() else {
            return true;
        };
        let done = Arc::new(OnceLock::new());
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((generation, line, done.clone()));
        let mut disk = self.disk.lock().await;
        if let Some(ok) = done.get() {
            return *ok;
        }
        let taken =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let mut bytes: Vec<u8> = Vec::new();
        if disk.torn {
            bytes.push(b'\n');
        }
        bytes.extend(taken.iter().flat_map(|(_, l, _)| l.iter().copied()));
        let file = disk.file.clone();
        let result = tokio::task::spawn_blocking(move || {
            let file = match file {
                Some(f) => f,
                None => Arc::new(open_append(&path)?),
            };
            (&*file).write_all(&bytes)?;
            file.sync_data()?;
            Ok::<_, io::Error>(file)
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)));
        let ok = match result {
            Ok(file) => {
                disk.file = Some(file);
                disk.torn = false;
                self.syncs.fetch_add(1, Ordering::Relaxed);
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(path = %self.shown(), "the create markers file is written again");
                }
                true
            }
            Err(e) => {
                disk.file = None;
                disk.torn = true;
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(path = %self.shown(), error = %e,
                        "cannot write the create markers file; a restart may post a box twice");
                }
                false
            }
        };
        for (generation, line, done) in taken {
            if ok {
                disk.lines.push((generation, line));
            }
            let _ = done.set(ok);
        }
        ok
    }

    /// The store is on disk as of `generation`: drops the lines it covers, so the journal stays
    /// as short as the markers written since.
    pub async fn covered_through(&self, generation: u64) {
        let Some(path) = self.path.clone() else {
            return;
        };
        let mut disk = self.disk.lock().await;
        disk.lines.retain(|(g, _)| *g > generation);
        let kept: Vec<u8> = disk
            .lines
            .iter()
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
        let file = disk.file.clone();
        let result = tokio::task::spawn_blocking(move || cut(&path, file, &kept))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        match result {
            Ok(file) => {
                disk.file = file;
                disk.torn = false;
            }
            Err(e) => {
                // Harmless: lines the store covers are ignored when read.
                tracing::debug!(path = %self.shown(), error = %e, "the create markers file is not cut");
                disk.file = None;
            }
        }
    }

    fn shown(&self) -> String {
        self.path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}

/// Leaves only `kept` in the journal. Empty: a truncation, not synced (a lost one leaves lines
/// the store covers, which readers ignore). Otherwise the kept lines are written to a new file
/// that replaces the old one, synced with its directory before any later append relies on it.
fn cut(path: &Path, file: Option<Arc<File>>, kept: &[u8]) -> io::Result<Option<Arc<File>>> {
    if kept.is_empty() {
        // Opened here if it was not: the first write of the store comes at start, so the first
        // create does not also pay for making the file.
        let f = match file {
            Some(f) => f,
            None => Arc::new(open_append(path)?),
        };
        f.set_len(0)?;
        return Ok(Some(f));
    }
    write_atomic(path, kept)?;
    Ok(Some(Arc::new(open_append(path)?)))
}

/// The data dir is the daemon's own and not writable by others (checked at start); no symlink
/// is followed all the same, and only a regular file is appended to. The directory is synced:
/// `fdatasync` of a line does not make a file just created part of the directory on disk.
fn open_append(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    sync_dir_of(path)?;
    Ok(file)
}

#[cfg(test)]
mod tests;
