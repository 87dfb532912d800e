//! The post store as the worker holds it, and when it goes to disk. Every change bumps a
//! generation, so the `Persister` never writes an older snapshot over a newer one. Changes are
//! written debounced (a busy box must not cost an fsync per state), but the "creating since"
//! marker before a create goes to the marker journal at once: it must be on disk before the
//! POST leaves, or a crash between the two would post the box twice after a restart.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::post_store::PostStore;
use crate::clock;

use super::job::Marker;
use super::marker_journal;
use super::persist::Persister;
use super::tracked::Tracked;

/// At most one debounced store write per this period (the write before a create is not held).
const STORE_DEBOUNCE: Duration = Duration::from_millis(500);

/// The post store, and what of it is not on disk yet.
pub(super) struct StoreWriter {
    pub posts: PostStore,
    persist: Arc<Persister>,
    /// The generation of `posts` as it is now.
    generation: u64,
    /// Changed since the last write was started.
    dirty: bool,
    last_write: Option<Instant>,
}

impl StoreWriter {
    pub fn new(mut posts: PostStore, persist: Arc<Persister>) -> StoreWriter {
        posts.prune(clock::now_ms());
        StoreWriter {
            // Goes on from the generations of earlier runs, which the journal's lines carry.
            generation: posts.generation() + 1,
            posts,
            persist,
            // Written once at start, so the next run knows when this one began (see
            // `PostStore::unposted_since_ms`) even if nothing is posted before a crash.
            dirty: true,
            last_write: None,
        }
    }

    pub fn changed(&mut self) {
        self.generation += 1;
        self.dirty = true;
    }

    /// Records what a box's post now is (or that it has none).
    pub fn save(&mut self, b: &Tracked) {
        let key = b.key.clone();
        match b.entry(clock::now_ms()) {
            Some(entry) => self.posts.put(key, entry),
            None => {
                self.posts.remove(&key);
            }
        }
        self.changed();
    }

    /// Records "creating since now" for the box and returns the journal line the create job
    /// must put on disk before it posts.
    pub fn marker(&mut self, b: &mut Tracked) -> Option<Marker> {
        b.marker_ms = Some(clock::now_ms());
        self.save(b);
        let entry = self.posts.get(&b.key)?;
        Some(Marker {
            journal: self.persist.journal.clone(),
            generation: self.generation,
            line: marker_journal::line(self.generation, &b.key, entry),
        })
    }

    /// Starts a debounced store write when one is due; returns when the next one may start.
    pub fn flush(&mut self, now: Instant) -> Option<Instant> {
        if !self.dirty {
            return None;
        }
        if let Some(last) = self.last_write {
            let due = last + STORE_DEBOUNCE;
            if now < due {
                return Some(due);
            }
        }
        self.posts.prune(clock::now_ms());
        self.dirty = false;
        self.last_write = Some(now);
        let persist = self.persist.clone();
        let (generation, bytes) = (self.generation, self.posts.to_bytes(self.generation));
        tokio::spawn(async move {
            persist.write(generation, bytes).await;
        });
        None
    }

    /// The final write, waited for: whether the store reached the disk.
    pub async fn close(&mut self) -> bool {
        self.posts.prune(clock::now_ms());
        self.generation += 1;
        self.persist
            .write(self.generation, self.posts.to_bytes(self.generation))
            .await
    }
}
