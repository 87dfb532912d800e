//! Writes of the post store from the async worker: off the runtime thread (fsync can take a
//! while), one at a time, and never an older snapshot over a newer one.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::service::state::write_atomic;

pub(super) struct Persister {
    path: Option<PathBuf>,
    /// The generation on disk; held across a write so writes happen one at a time.
    written: tokio::sync::Mutex<u64>,
    /// Files written so far (tests check the debounce with it).
    pub writes: AtomicU64,
    failing: AtomicBool,
}

impl Persister {
    pub fn new(path: Option<PathBuf>) -> Arc<Persister> {
        Arc::new(Persister {
            path,
            written: tokio::sync::Mutex::new(0),
            writes: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        })
    }

    /// Puts snapshot `generation` on disk unless a newer one is there already (it includes
    /// this one's changes). Errors are logged here, once until writes work again.
    pub async fn write(&self, generation: u64, bytes: Vec<u8>) -> bool {
        let Some(path) = self.path.clone() else {
            return true;
        };
        let mut written = self.written.lock().await;
        if generation <= *written {
            return true;
        }
        let target = path.clone();
        let result = tokio::task::spawn_blocking(move || write_atomic(&target, &bytes))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        match result {
            Ok(()) => {
                *written = generation;
                self.writes.fetch_add(1, Ordering::Relaxed);
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
