//! poll tier: walks the covered tree every interval, stats the files of interest and reports the
//! difference to the previous walk. It is the primary tier where inotify cannot work (network
//! filesystems, no watches left) and the safety net beside the faster tiers.
//!
//! Memory is one entry per file or directory of interest; nothing is read, only stat()ed.

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::shape::{self, Role};
use super::{FsEvent, FsEventKind, Scope, TierKind, WatchError, WatchHandle, access_hint};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    dir: bool,
}

impl Stat {
    fn of(m: &Metadata) -> Self {
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            dir: m.is_dir(),
        }
    }

    fn identity(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}

type Snapshot = HashMap<PathBuf, Stat>;

struct Walk {
    seen: Snapshot,
    /// Directories that exist but could not be listed: what was under them is unknown, not gone.
    unreadable: Vec<PathBuf>,
}

pub(crate) async fn start(
    scope: Scope,
    interval: Duration,
    what: &'static str,
    tx: mpsc::Sender<FsEvent>,
) -> Result<WatchHandle, WatchError> {
    if interval.is_zero() {
        return Err(WatchError::BadInterval { what, interval });
    }
    let anchors: Arc<[(PathBuf, Role)]> = shape::anchors(&scope).into();
    // The baseline must be complete before we return: a change the daemon's initial scan misses
    // and the baseline already contains would never be reported.
    let a = Arc::clone(&anchors);
    let baseline = tokio::task::spawn_blocking(move || walk(&a, true))
        .await
        .map_err(|e| WatchError::Task {
            tier: TierKind::Poll,
            reason: e.to_string(),
        })??;
    for dir in &baseline.unreadable {
        tracing::warn!(tier = "poll", path = %dir.display(), "cannot list directory; not covered until it becomes readable");
    }
    tracing::debug!(
        tier = "poll",
        entries = baseline.seen.len(),
        ?interval,
        "poll tier armed"
    );
    let task = tokio::spawn(run(anchors, baseline.seen, interval, tx));
    Ok(WatchHandle::new(TierKind::Poll, vec![task]))
}

async fn run(
    anchors: Arc<[(PathBuf, Role)]>,
    mut snapshot: Snapshot,
    interval: Duration,
    tx: mpsc::Sender<FsEvent>,
) {
    let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
    // A walk slower than the interval must not be followed by a burst of catch-up walks.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
        let a = Arc::clone(&anchors);
        let prev = std::mem::take(&mut snapshot);
        // stat()ing thousands of files is blocking work; keep it off the async workers.
        let res = tokio::task::spawn_blocking(move || {
            let (next, mut events) = round(&a, prev);
            if events.is_empty() {
                return (next, events);
            }
            // A walk is not atomic: a file stat()ed just before its write is missed while a file
            // written after it, stat()ed later, is seen (a sub-agent's line before its parent's).
            // Every write that came before one this walk saw is complete now, so a second walk
            // in the same batch sees all of them and the core can order them by time.
            let (next, more) = round(&a, next);
            events.extend(more);
            (next, events)
        })
        .await;
        let events = match res {
            Ok((next, events)) => {
                snapshot = next;
                events
            }
            Err(e) => {
                tracing::error!(tier = "poll", error = %e, "poll walk failed; poll tier stopped");
                return;
            }
        };
        for ev in events {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    }
}

/// One walk, compared with the last.
fn round(anchors: &[(PathBuf, Role)], prev: Snapshot) -> (Snapshot, Vec<FsEvent>) {
    match walk(anchors, false) {
        Ok(w) => diff(prev, w),
        // A lenient walk has no errors to return; keep the old view if that ever changes.
        Err(_) => (prev, Vec::new()),
    }
}

/// Walks every anchor. `strict` (the baseline) turns an anchor that exists but cannot be read
/// into an error, so a misconfigured `--gateway` fails at start instead of silently.
fn walk(anchors: &[(PathBuf, Role)], strict: bool) -> Result<Walk, WatchError> {
    let mut w = Walk {
        seen: HashMap::new(),
        unreadable: Vec::new(),
    };
    for (anchor, role) in anchors {
        // The anchor was named by the operator (or is the fs root): following a symlink there is
        // their choice. Below it, nothing is followed.
        let meta = match std::fs::metadata(anchor) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => continue,
            Err(e) if is_gone(&e) => continue,
            Err(e) if strict => {
                return Err(WatchError::Read {
                    path: anchor.clone(),
                    hint: access_hint(&e),
                    source: e,
                });
            }
            Err(_) => {
                w.unreadable.push(anchor.clone());
                continue;
            }
        };
        if let Err(e) = visit(anchor, role, &meta, &mut w)
            && strict
        {
            return Err(WatchError::Read {
                path: anchor.clone(),
                hint: access_hint(&e),
                source: e,
            });
        }
    }
    Ok(w)
}

/// Records `dir` (if reported) and descends what matters in it. Returns the error of listing
/// `dir` itself; errors below are recorded as unreadable and do not stop the walk.
fn visit(dir: &Path, role: &Role, meta: &Metadata, w: &mut Walk) -> io::Result<()> {
    if role.is_reported() {
        w.seen.insert(dir.to_path_buf(), Stat::of(meta));
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if is_gone(&e) => return Ok(()),
        Err(e) => {
            w.unreadable.push(dir.to_path_buf());
            return Err(e);
        }
    };
    for entry in entries.flatten() {
        // The dirent type does not follow symlinks: a symlinked directory is never descended
        // and a symlinked file is never stat()ed through.
        let Ok(ft) = entry.file_type() else { continue };
        let name = entry.file_name();
        if ft.is_dir() {
            let Some(child_role) = role.child_dir(dir, &name) else {
                continue;
            };
            let Ok(m) = entry.metadata() else { continue };
            let _ = visit(&entry.path(), &child_role, &m, w);
        } else if ft.is_file() && role.holds_files() {
            let path = entry.path();
            if !shape::is_file_of_interest(&path) {
                continue;
            }
            if let Ok(m) = entry.metadata() {
                w.seen.insert(path, Stat::of(&m));
            }
        }
    }
    Ok(())
}

fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// The events that turn `prev` into the new walk, and the snapshot to keep.
fn diff(prev: Snapshot, walk: Walk) -> (Snapshot, Vec<FsEvent>) {
    let Walk {
        seen: mut next,
        unreadable,
    } = walk;
    for (p, st) in &prev {
        if !next.contains_key(p) && unreadable.iter().any(|u| p.starts_with(u)) {
            next.insert(p.clone(), *st);
        }
    }

    let mut removed: Vec<(&PathBuf, &Stat)> = prev
        .iter()
        .filter(|(p, _)| !next.contains_key(*p))
        .collect();
    removed.sort_by(|a, b| a.0.cmp(b.0));
    // A file whose inode turns up under a new name was renamed there (a reset's rotation).
    let moved_away: HashSet<(u64, u64)> = removed
        .iter()
        .filter(|(_, st)| !st.dir)
        .map(|(_, st)| st.identity())
        .collect();

    let mut changed: Vec<(&PathBuf, FsEventKind)> = Vec::new();
    for (p, st) in &next {
        let kind = match prev.get(p) {
            None if !st.dir && moved_away.contains(&st.identity()) => FsEventKind::Renamed,
            None => FsEventKind::Created,
            Some(old) if old.identity() != st.identity() || old.dir != st.dir => {
                // Another inode at the same name: replaced by a rename (`sessions.json`'s tmp +
                // rename), which is what inotify reports too.
                if st.dir {
                    FsEventKind::Created
                } else {
                    FsEventKind::Renamed
                }
            }
            Some(old)
                if !st.dir
                    && (old.size, old.mtime, old.mtime_nsec)
                        != (st.size, st.mtime, st.mtime_nsec) =>
            {
                FsEventKind::Appended
            }
            Some(_) => continue,
        };
        changed.push((p, kind));
    }
    // Parents sort before their contents, so a new directory is reported before its files.
    changed.sort_by(|a, b| a.0.cmp(b.0));

    let mut events: Vec<FsEvent> = removed
        .iter()
        .map(|(p, _)| FsEvent {
            path: (*p).clone(),
            kind: FsEventKind::Removed,
        })
        .collect();
    events.extend(changed.into_iter().map(|(p, kind)| FsEvent {
        path: p.clone(),
        kind,
    }));
    (next, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(ino: u64, size: u64) -> Stat {
        Stat {
            dev: 1,
            ino,
            size,
            mtime: 0,
            mtime_nsec: 0,
            dir: false,
        }
    }

    fn snap(items: &[(&str, Stat)]) -> Snapshot {
        items.iter().map(|(p, s)| (PathBuf::from(p), *s)).collect()
    }

    fn kinds(events: &[FsEvent]) -> Vec<(&str, FsEventKind)> {
        events
            .iter()
            .map(|e| (e.path.to_str().expect("utf-8 test path"), e.kind))
            .collect()
    }

    #[test]
    fn a_rotated_transcript_is_a_removal_and_a_rename() {
        let prev = snap(&[("/s/a.jsonl", st(7, 10))]);
        let walk = Walk {
            seen: snap(&[("/s/a.jsonl.reset.1", st(7, 10)), ("/s/b.jsonl", st(8, 1))]),
            unreadable: Vec::new(),
        };
        let (next, events) = diff(prev, walk);
        assert_eq!(
            kinds(&events),
            vec![
                ("/s/a.jsonl", FsEventKind::Removed),
                ("/s/a.jsonl.reset.1", FsEventKind::Renamed),
                ("/s/b.jsonl", FsEventKind::Created),
            ]
        );
        assert_eq!(next.len(), 2);
    }

    #[test]
    fn in_place_changes_are_appends_and_a_new_inode_is_a_rename() {
        let prev = snap(&[("/s/a.jsonl", st(7, 10)), ("/s/sessions.json", st(3, 5))]);
        let walk = Walk {
            seen: snap(&[("/s/a.jsonl", st(7, 12)), ("/s/sessions.json", st(4, 5))]),
            unreadable: Vec::new(),
        };
        let (_, events) = diff(prev, walk);
        assert_eq!(
            kinds(&events),
            vec![
                ("/s/a.jsonl", FsEventKind::Appended),
                ("/s/sessions.json", FsEventKind::Renamed),
            ]
        );
        let same = snap(&[("/s/a.jsonl", st(7, 12))]);
        let (_, events) = diff(
            same.clone(),
            Walk {
                seen: same,
                unreadable: Vec::new(),
            },
        );
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn an_unreadable_directory_is_not_a_removal() {
        let prev = snap(&[("/h/bob/.openclaw/agents/main/sessions/a.jsonl", st(7, 10))]);
        let walk = Walk {
            seen: HashMap::new(),
            unreadable: vec![PathBuf::from("/h/bob")],
        };
        let (next, events) = diff(prev, walk);
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(next.len(), 1);
    }
}
