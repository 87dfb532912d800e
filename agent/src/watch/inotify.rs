//! inotify tier: one non-recursive watch per directory of the OpenClaw shape (see `shape`), never a
//! whole home. Unprivileged, and fast enough to see a lock file that lives for tens of ms.
//!
//! inotify only reports inside directories that are already watched, so every directory that
//! appears is watched and then listed: what the gateway created in it before the watch was in
//! place is reported from the listing, what it creates after from the watch.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use futures_util::{FutureExt, StreamExt};
use inotify::{EventMask, EventOwned, EventStream, Inotify, WatchDescriptor, WatchMask, Watches};
use tokio::sync::mpsc;

use super::shape::{self, Role};
use super::{
    FsEvent, FsEventKind, Scope, TierKind, WatchError, WatchHandle, access_hint,
    inotify_init_error, max_user_watches,
};

/// Holds a few thousand events per read(); a longer burst just takes more reads.
const READ_BUF_SIZE: usize = 64 * 1024;
/// Bounds the work (and the delay of the first event) per batch in an endless burst.
const MAX_BATCH: usize = 4096;

pub(crate) async fn start(
    scope: Scope,
    tx: mpsc::Sender<FsEvent>,
) -> Result<WatchHandle, WatchError> {
    let inotify = Inotify::init().map_err(inotify_init_error)?;
    let mut tree = Tree::new(inotify.watches(), &scope);
    let mut out = Vec::new();
    for i in 0..tree.anchors.len() {
        tree.arm_anchor(i, false, &mut out)
            .map_err(ArmError::into_watch_error)?;
    }
    let stream = inotify
        .into_event_stream(vec![0u8; READ_BUF_SIZE])
        .map_err(inotify_init_error)?;
    tracing::debug!(
        tier = "inotify",
        watches = tree.by_wd.len(),
        "inotify tier armed"
    );
    let task = tokio::spawn(run(stream, tree, tx));
    Ok(WatchHandle::new(TierKind::Inotify, vec![task]))
}

async fn run(mut stream: EventStream<Vec<u8>>, mut tree: Tree, tx: mpsc::Sender<FsEvent>) {
    loop {
        let batch = match next_batch(&mut stream).await {
            Some(Ok(b)) => b,
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Some(Err(e)) => {
                tracing::error!(tier = "inotify", error = %e, "cannot read inotify events; inotify tier stopped, the poll safety net remains");
                return;
            }
            None => {
                tracing::error!(
                    tier = "inotify",
                    "inotify fd closed; inotify tier stopped, the poll safety net remains"
                );
                return;
            }
        };
        let mut out = Vec::new();
        for ev in batch {
            tree.handle(ev, &mut out);
        }
        coalesce(&mut out);
        for ev in out {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    }
}

struct RawEvent {
    wd: i32,
    mask: EventMask,
    name: Option<OsString>,
}

fn raw(e: EventOwned) -> RawEvent {
    RawEvent {
        wd: e.wd.get_watch_descriptor_id(),
        mask: e.mask,
        name: e.name,
    }
}

/// The next event and every one already queued behind it, so that a burst is handled (and
/// coalesced) as a whole instead of event by event.
async fn next_batch(stream: &mut EventStream<Vec<u8>>) -> Option<io::Result<Vec<RawEvent>>> {
    let first = match stream.next().await? {
        Ok(e) => e,
        Err(e) => return Some(Err(e)),
    };
    let mut batch = vec![raw(first)];
    while batch.len() < MAX_BATCH {
        match stream.next().now_or_never() {
            Some(Some(Ok(e))) => batch.push(raw(e)),
            // Nothing queued, or an error the next awaited read reports.
            _ => break,
        }
    }
    Some(Ok(batch))
}

/// Drops an `Appended` when the same batch already holds an unsent `Appended` for that path with
/// nothing else for it in between: the receiver reads the file after both writes anyway. The
/// last write of a burst is therefore always covered.
pub(crate) fn coalesce(out: &mut Vec<FsEvent>) {
    let mut last: HashMap<PathBuf, FsEventKind> = HashMap::new();
    out.retain(|ev| {
        let prev = last.insert(ev.path.clone(), ev.kind);
        !(ev.kind == FsEventKind::Appended && prev == Some(FsEventKind::Appended))
    });
}

struct Watched {
    wd: WatchDescriptor,
    path: PathBuf,
    role: Role,
}

enum ArmError {
    /// ENOSPC: `fs.inotify.max_user_watches` is used up.
    Limit(PathBuf),
    /// The directory exists but cannot be watched (permissions, kernel memory).
    Io(PathBuf, io::Error),
}

impl ArmError {
    fn into_watch_error(self) -> WatchError {
        match self {
            ArmError::Limit(path) => WatchError::WatchLimit {
                path,
                limit: max_user_watches(),
            },
            ArmError::Io(path, source) => WatchError::Watch {
                path,
                hint: access_hint(&source),
                source,
            },
        }
    }
}

/// The watched directories. Paths are as of the last event handled; the kernel's queue, read in
/// order, brings every later rename or deletion, so the map converges on the filesystem.
struct Tree {
    watches: Watches,
    by_wd: HashMap<i32, Watched>,
    by_path: HashMap<PathBuf, i32>,
    anchors: Vec<(PathBuf, Role)>,
    roots: Vec<PathBuf>,
    limit_warned: bool,
}

fn mask_for(role: &Role, anchor: bool) -> WatchMask {
    let mut m = WatchMask::CREATE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
        // No events for files that are already unlinked but still open.
        | WatchMask::EXCL_UNLINK;
    // Homes and the like only matter for the directories appearing in them; writes to files
    // there (shell history, editors) must not wake us.
    // Every write is a MODIFY; a CLOSE_WRITE after it (inotify does not merge the two) would
    // only make the file be read once more for nothing, at every append.
    if role.holds_files() {
        m |= WatchMask::MODIFY;
    }
    // Below the anchors a symlinked directory leads out of the tree; the anchors themselves
    // (and the way to them) were named by the operator.
    if !anchor {
        m |= WatchMask::DONT_FOLLOW;
    }
    m
}

fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

fn ev(path: PathBuf, kind: FsEventKind) -> FsEvent {
    FsEvent { path, kind }
}

impl Tree {
    fn new(watches: Watches, scope: &Scope) -> Self {
        Tree {
            watches,
            by_wd: HashMap::new(),
            by_path: HashMap::new(),
            anchors: shape::anchors(scope),
            roots: shape::rescan_roots(scope),
            limit_warned: false,
        }
    }

    /// Watches anchor `i`, or, while it does not exist, its nearest existing ancestor so that its
    /// creation is seen.
    fn arm_anchor(&mut self, i: usize, emit: bool, out: &mut Vec<FsEvent>) -> Result<(), ArmError> {
        let (path, role) = self.anchors[i].clone();
        if path.is_dir() && self.arm(&path, role.clone(), emit, out)? {
            return Ok(());
        }
        let mut up = path.parent();
        while let Some(dir) = up {
            if dir.is_dir() {
                let pending = Role::Pending(vec![(path.clone(), role)]);
                if self.arm(dir, pending, emit, out)? {
                    return Ok(());
                }
                // Vanished in between: look further up with the role we still hold.
                return self.arm_anchor(i, emit, out);
            }
            up = dir.parent();
        }
        Ok(())
    }

    /// Watches `dir` as `role`, then lists it and arms what matters below. With `emit`, reports
    /// each reported directory and file of interest that was not watched before (a directory
    /// that appeared, with whatever the gateway already put in it). Ok(false): `dir` is gone.
    ///
    /// Only the error for `dir` itself is returned (and the watch limit, which stops the
    /// descent); a subdirectory that cannot be watched is logged and left to the safety net.
    fn arm(
        &mut self,
        dir: &Path,
        role: Role,
        emit: bool,
        out: &mut Vec<FsEvent>,
    ) -> Result<bool, ArmError> {
        let is_anchor =
            matches!(role, Role::Pending(_)) || self.anchors.iter().any(|(p, _)| p == dir);
        let mask = mask_for(&role, is_anchor);
        let wd = match self.add_watch(dir, mask)? {
            Some(wd) => wd,
            None => return Ok(false),
        };
        let id = wd.get_watch_descriptor_id();
        let fresh = match self.by_wd.get_mut(&id) {
            Some(w) if w.path == dir => {
                if let (Role::Pending(have), Role::Pending(more)) = (&mut w.role, &role) {
                    for t in more {
                        if !have.contains(t) {
                            have.push(t.clone());
                        }
                    }
                }
                false
            }
            Some(w) => {
                // The same inode under another name: it was moved here and the move has not
                // been read yet. What is recorded under the old name is stale; start over.
                let old = w.path.clone();
                self.forget(&old);
                let Some(wd) = self.add_watch(dir, mask)? else {
                    return Ok(false);
                };
                self.insert(wd, dir, role.clone());
                true
            }
            None => {
                self.insert(wd, dir, role.clone());
                true
            }
        };
        if emit && fresh && role.is_reported() {
            out.push(ev(dir.to_path_buf(), FsEventKind::Created));
        }

        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(true);
        };
        for entry in entries.flatten() {
            // The dirent type does not follow symlinks, like the watch masks below anchors.
            let Ok(ft) = entry.file_type() else { continue };
            let name = entry.file_name();
            if ft.is_dir() {
                let Some(child_role) = role.child_dir(dir, &name) else {
                    continue;
                };
                match self.arm(&entry.path(), child_role, emit, out) {
                    Ok(_) => {}
                    Err(ArmError::Limit(p)) => return Err(ArmError::Limit(p)),
                    Err(e @ ArmError::Io(..)) => self.report(e),
                }
            } else if emit && fresh && ft.is_file() && role.holds_files() {
                let path = entry.path();
                if shape::is_file_of_interest(&path) {
                    out.push(ev(path, FsEventKind::Created));
                }
            }
        }
        Ok(true)
    }

    fn add_watch(
        &mut self,
        dir: &Path,
        mask: WatchMask,
    ) -> Result<Option<WatchDescriptor>, ArmError> {
        match self.watches.add(dir, mask) {
            Ok(wd) => Ok(Some(wd)),
            Err(e) if is_gone(&e) => Ok(None),
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                Err(ArmError::Limit(dir.to_path_buf()))
            }
            Err(e) => Err(ArmError::Io(dir.to_path_buf(), e)),
        }
    }

    fn insert(&mut self, wd: WatchDescriptor, dir: &Path, role: Role) {
        let id = wd.get_watch_descriptor_id();
        // Another inode still recorded under this name was replaced; its removal may still be
        // queued, but nothing recorded for it is valid any more.
        if self.by_path.get(dir).is_some_and(|&old| old != id) {
            self.forget(dir);
        }
        self.by_path.insert(dir.to_path_buf(), id);
        self.by_wd.insert(
            id,
            Watched {
                wd,
                path: dir.to_path_buf(),
                role,
            },
        );
    }

    /// Stops watching `path` and everything recorded below it.
    fn forget(&mut self, path: &Path) {
        let ids: Vec<i32> = self
            .by_wd
            .iter()
            .filter(|(_, w)| w.path.starts_with(path))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.forget_one(id);
        }
    }

    fn forget_one(&mut self, id: i32) {
        let Some(w) = self.by_wd.remove(&id) else {
            return;
        };
        if self.by_path.get(&w.path) == Some(&id) {
            self.by_path.remove(&w.path);
        }
        // Fails with EINVAL when the kernel already dropped the watch (deleted directory),
        // which is the outcome we want anyway.
        let _ = self.watches.remove(w.wd);
    }

    /// A watched directory went away (deleted, moved, unmounted) as seen from the directory
    /// itself: needed where its parent is not watched (the anchors).
    fn lost(&mut self, id: i32, out: &mut Vec<FsEvent>) {
        let Some(w) = self.by_wd.get(&id) else {
            return;
        };
        let path = w.path.clone();
        let reported = w.role.is_reported();
        if self.by_path.get(&path) == Some(&id) {
            self.forget(&path);
        } else {
            self.forget_one(id);
        }
        if reported {
            out.push(ev(path.clone(), FsEventKind::Removed));
        }
        self.rearm_anchors_under(&path, out);
    }

    /// After `path` went away: anchors at or below it are watched again from their nearest
    /// existing ancestor, so that they are picked up when they come back.
    fn rearm_anchors_under(&mut self, path: &Path, out: &mut Vec<FsEvent>) {
        for i in 0..self.anchors.len() {
            if self.anchors[i].0.starts_with(path)
                && let Err(e) = self.arm_anchor(i, true, out)
            {
                self.report(e);
            }
        }
    }

    fn report(&mut self, e: ArmError) {
        match e {
            ArmError::Limit(path) => {
                if !self.limit_warned {
                    self.limit_warned = true;
                    tracing::warn!(
                        tier = "inotify",
                        path = %path.display(),
                        max_user_watches = %max_user_watches(),
                        "inotify watch limit reached; new directories are covered only by the poll safety net until fs.inotify.max_user_watches is raised"
                    );
                }
            }
            ArmError::Io(path, error) => {
                tracing::warn!(tier = "inotify", path = %path.display(), %error, "cannot watch directory; left to the poll safety net");
            }
        }
    }

    fn handle(&mut self, raw: RawEvent, out: &mut Vec<FsEvent>) {
        let mask = raw.mask;
        if mask.contains(EventMask::Q_OVERFLOW) {
            crate::metrics::count_kernel_drop("inotify");
            tracing::warn!(
                tier = "inotify",
                "inotify queue overflowed; asking for a rescan"
            );
            // Directories created during the lost events are not watched yet: arm first, so the
            // rescan downstream happens with every watch in place.
            for i in 0..self.anchors.len() {
                if let Err(e) = self.arm_anchor(i, false, out) {
                    self.report(e);
                }
            }
            out.extend(
                self.roots
                    .iter()
                    .map(|r| ev(r.clone(), FsEventKind::Rescan)),
            );
            return;
        }
        let Some(w) = self.by_wd.get(&raw.wd) else {
            // A watch we already forgot; its last events are still draining.
            return;
        };
        if mask.intersects(
            EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED | EventMask::UNMOUNT,
        ) {
            self.lost(raw.wd, out);
            return;
        }
        let Some(name) = raw.name else { return };
        let dir = w.path.clone();
        let role = w.role.clone();
        let child = dir.join(&name);

        if mask.contains(EventMask::ISDIR) {
            let Some(child_role) = role.child_dir(&dir, &name) else {
                return;
            };
            if mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
                if let Err(e) = self.arm(&child, child_role, true, out) {
                    self.report(e);
                }
            } else if mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                // A moved directory keeps its watches under its new name; they must go now,
                // while the old name still identifies them.
                self.forget(&child);
                if child_role.is_reported() {
                    out.push(ev(child.clone(), FsEventKind::Removed));
                }
                self.rearm_anchors_under(&child, out);
            }
            return;
        }

        if !role.holds_files() || !shape::is_file_of_interest(&child) {
            return;
        }
        let kind = if mask.contains(EventMask::CREATE) {
            FsEventKind::Created
        } else if mask.contains(EventMask::MODIFY) {
            FsEventKind::Appended
        } else if mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
            FsEventKind::Removed
        } else if mask.contains(EventMask::MOVED_TO) {
            FsEventKind::Renamed
        } else {
            return;
        };
        out.push(ev(child, kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_keeps_the_last_append_and_every_other_kind() {
        let a = PathBuf::from("/s/a.jsonl");
        let b = PathBuf::from("/s/b.jsonl");
        let mut out = vec![
            ev(a.clone(), FsEventKind::Created),
            ev(a.clone(), FsEventKind::Appended),
            ev(a.clone(), FsEventKind::Appended),
            ev(b.clone(), FsEventKind::Appended),
            ev(a.clone(), FsEventKind::Appended),
            ev(a.clone(), FsEventKind::Removed),
            ev(a.clone(), FsEventKind::Created),
            ev(a.clone(), FsEventKind::Appended),
        ];
        coalesce(&mut out);
        assert_eq!(
            out,
            vec![
                ev(a.clone(), FsEventKind::Created),
                ev(a.clone(), FsEventKind::Appended),
                ev(b, FsEventKind::Appended),
                ev(a.clone(), FsEventKind::Removed),
                ev(a.clone(), FsEventKind::Created),
                ev(a, FsEventKind::Appended),
            ]
        );
    }
}
