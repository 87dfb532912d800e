//! Writes of the post store from the async worker: off the runtime thread (fsync can take a
//! while), one at a time, never an older snapshot over a newer one, and grouped: every snapshot
//! handed in while a write runs is covered by ONE next write of the newest of them. With many
//! boxes starting at once (each create puts its "creating" marker on disk first), a create
//! waits for at most the write in progress and one more, not for a queue of whole-file fsyncs.
//! Once a write is on disk the marker journal drops the lines it covers.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::marker_journal::MarkerJournal;
use super::post_store::write_atomic;

pub(super) struct Persister {
    path: Option<PathBuf>,
    /// The "creating" markers beside the file.
    pub journal: Arc<MarkerJournal>,
    /// The generation on disk; held across a write so writes happen one at a time.
    written: tokio::sync::Mutex<u64>,
    /// The newest snapshot handed in and not yet taken by a write.
    newest: Mutex<Option<(u64, Vec<u8>)>>,
    /// Files written so far (tests check the debounce and the grouping with it).
    pub writes: AtomicU64,
    failing: AtomicBool,
}

impl Persister {
    pub fn new(path: Option<PathBuf>) -> Arc<Persister> {
        Arc::new(Persister {
            journal: MarkerJournal::new(path.as_deref()),
            path,
            written: tokio::sync::Mutex::new(0),
            newest: Mutex::new(None),
            writes: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        })
    }

    /// Returns once snapshot `generation`, or a newer one that includes its changes, is on
    /// disk: true, or false when the write that was to cover it failed (logged here, once until
    /// writes work again).
    pub async fn write(&self, generation: u64, bytes: Vec<u8>) -> bool {
        let Some(path) = self.path.clone() else {
            return true;
        };
        {
            let mut newest = self.newest.lock().unwrap_or_else(PoisonError::into_inner);
            if newest.as_ref().is_none_or(|(g, _)| *g < generation) {
                *newest = Some((generation, bytes));
            }
        }
        let mut written = self.written.lock().await;
        if generation <= *written {
            return true;
        }
        let taken = self
            .newest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Nothing left although ours is not on disk: the write that took it failed.
        let Some((taken_gen, bytes)) = taken else {
            return false;
        };
        let target = path.clone();
        let result = tokio::task::spawn_blocking(move || write_atomic(&target, &bytes))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        match result {
            Ok(()) => {
                *written = taken_gen;
                self.writes.fetch_add(1, Ordering::Relaxed);
                self.journal.covered_through(taken_gen).await;
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(path = %path.display(), "the posts state file is written again");
                }
                true
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(path = %path.display(), error = %e,
                        "cannot write the posts state file; a restart may post open boxes again");
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn snapshots_handed_in_during_a_write_share_the_next_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("posts.json");
        let p = Persister::new(Some(path.clone()));
        let all = (1..=10u64).map(|g| {
            let p = p.clone();
            async move { p.write(g, format!("gen {g}").into_bytes()).await }
        });
        let results = futures_util::future::join_all(all).await;
        assert!(results.iter().all(|ok| *ok), "every write reported done");
        let writes = p.writes.load(Ordering::Relaxed);
        assert!(
            writes <= 2,
            "ten snapshots took {writes} file writes: the one in progress and one for the rest"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "gen 10",
            "the newest snapshot is what stays on disk"
        );
        assert!(
            p.write(3, b"gen 3".to_vec()).await,
            "an older one is covered"
        );
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "gen 10");
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_to_every_snapshot_it_was_to_cover() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: the rename fails.
        let path = dir.path().join("posts.json");
        std::fs::create_dir(&path).expect("mkdir");
        std::fs::write(path.join("x"), "keep the directory non-empty").expect("write");
        let p = Persister::new(Some(path.clone()));
        let all = (1..=3u64).map(|g| {
            let p = p.clone();
            async move { p.write(g, b"x".to_vec()).await }
        });
        let results = futures_util::future::join_all(all).await;
        assert_eq!(results, vec![false, false, false]);
        assert_eq!(p.writes.load(Ordering::Relaxed), 0);
    }
}
