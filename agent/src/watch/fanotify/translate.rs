//! From fanotify records to the `FsEvent`s every tier reports. A filesystem mark sees the whole
//! filesystem, so the scope is applied here: a directory's role follows from its path (the
//! same roles the inotify tier descends), and only what that role covers is reported.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::record::{Event, Fid, Record};
use super::resolve::Resolver;
use super::sys;
use crate::watch::shape::{self, Role};
use crate::watch::{FsEvent, FsEventKind, Scope, access_hint};

/// A scope anchor: as the operator (or discovery) spells it, and where it really is. Events
/// carry real paths; reports use the spelling, as the inotify tier's do.
#[derive(Clone, Debug)]
struct Anchor {
    spelled: PathBuf,
    real: PathBuf,
    role: Role,
}

/// The real path of `p`: its longest existing prefix resolved, the rest appended. A missing
/// anchor keeps its spelling until it exists.
fn real_path(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = p;
    loop {
        if let Ok(real) = cur.canonicalize() {
            return rest.iter().rev().fold(real, |acc, n: &&OsStr| acc.join(n));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                cur = parent;
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// Where placing a mark failed, for the arming error.
pub(crate) struct MarkError {
    pub path: PathBuf,
    pub source: io::Error,
}

/// What the tier knows: the scope, the directories of the shape (pinned: their handles must
/// resolve even after they are gone, for the deletions inside them), and the marks.
pub(crate) struct Tree {
    group: Arc<OwnedFd>,
    anchors: Vec<Anchor>,
    known: HashMap<Fid, PathBuf>,
    known_by_path: HashMap<PathBuf, Fid>,
    resolver: Resolver,
}

fn ev(path: PathBuf, kind: FsEventKind) -> FsEvent {
    FsEvent { path, kind }
}

fn is_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR))
}

/// Whether a file of this name could be of interest in some directory of the shape: most
/// events on a filesystem are not, and this needs no system call.
fn name_may_matter(name: &OsStr) -> bool {
    const HOMES: [&str; 3] = [
        "/h/.openclaw/agents/a/sessions",
        "/h/.openclaw/agents/a/agent",
        "/h/.openclaw",
    ];
    HOMES
        .iter()
        .any(|d| shape::is_file_of_interest(&Path::new(d).join(name)))
}

/// The role of the directory at real path `dir` in this scope, if it has one.
fn role_of(anchors: &[Anchor], dir: &Path) -> Option<Role> {
    let mut on_the_way = Vec::new();
    'anchors: for a in anchors {
        if let Ok(rest) = dir.strip_prefix(&a.real) {
            let mut role = a.role.clone();
            let mut cur = a.real.clone();
            for c in rest.components() {
                let name = c.as_os_str();
                match role.child_dir(&cur, name) {
                    Some(r) => role = r,
                    None => continue 'anchors,
                }
                cur.push(name);
            }
            return Some(role);
        }
        if a.real.starts_with(dir) {
            on_the_way.push((a.real.clone(), a.role.clone()));
        }
    }
    (!on_the_way.is_empty()).then_some(Role::Pending(on_the_way))
}

impl Tree {
    pub(crate) fn new(group: Arc<OwnedFd>, scope: &Scope) -> Self {
        let anchors = shape::anchors(scope)
            .into_iter()
            .map(|(spelled, role)| Anchor {
                real: real_path(&spelled),
                spelled,
                role,
            })
            .collect();
        Tree {
            group,
            anchors,
            known: HashMap::new(),
            known_by_path: HashMap::new(),
            resolver: Resolver::default(),
        }
    }

    pub(crate) fn filesystems(&self) -> usize {
        self.resolver.filesystems()
    }

    /// The spelling the stages below know `real` by.
    fn spell(&self, real: PathBuf) -> PathBuf {
        for a in &self.anchors {
            if a.real != a.spelled
                && let Ok(rest) = real.strip_prefix(&a.real)
            {
                return if rest.as_os_str().is_empty() {
                    a.spelled.clone()
                } else {
                    a.spelled.join(rest)
                };
            }
        }
        real
    }

    /// Marks every anchor (or its nearest existing ancestor, where its creation will be seen)
    /// and walks what exists, marking each directory of the shape. `emit`: report what is found (after an
    /// overflow the caller asks for a rescan instead). Errors only for the anchors themselves.
    pub(crate) fn arm_anchors(
        &mut self,
        emit: bool,
        out: &mut Vec<FsEvent>,
    ) -> Result<(), MarkError> {
        for i in 0..self.anchors.len() {
            // Anchors that did not exist at start may exist now under another real path.
            let real = real_path(&self.anchors[i].spelled);
            self.anchors[i].real = real;
            let a = self.anchors[i].clone();
            let mut dir = a.real.as_path();
            let role = loop {
                if dir.is_dir() {
                    break role_of(&self.anchors, dir);
                }
                match dir.parent() {
                    Some(p) => dir = p,
                    None => break None,
                }
            };
            let Some(role) = role else { continue };
            let dir = dir.to_path_buf();
            // The anchor's own mark first, so that a refusal (no fanotify on this filesystem)
            // stops the arming with the path and why; `walk` marks the rest.
            self.mark(&dir)
                .and_then(|_| sys::mark_dir(self.group.as_fd(), &dir, role.holds_files()))
                .map_err(|source| MarkError {
                    path: dir.clone(),
                    source,
                })?;
            self.walk(&dir, role, emit, out);
        }
        Ok(())
    }

    /// Makes sure handles of the filesystem of `dir` can be decoded through its mount. Ok(true):
    /// a filesystem not seen before (a new mount), so nothing on it was reported until now.
    fn mark(&mut self, dir: &Path) -> io::Result<bool> {
        let (fid, mount_id) = sys::dir_id(dir)?;
        self.mark_known(dir, &fid, mount_id)
    }

    fn mark_known(&mut self, dir: &Path, fid: &Fid, mount_id: i32) -> io::Result<bool> {
        if self.resolver.knows_mount(&fid.fsid, mount_id) {
            return Ok(false);
        }
        let new_fs = !self.resolver.is_marked(&fid.fsid);
        if new_fs {
            tracing::debug!(tier = "fanotify", path = %dir.display(), "new filesystem");
        }
        self.resolver
            .add_mount(fid.fsid, mount_id, sys::open_mount_fd(dir)?);
        Ok(new_fs)
    }

    /// Registers and marks `dir` (real path) as `role` and descends what matters below it. With
    /// `emit`, reports the directories and files of interest that were not known before. What a
    /// filesystem not seen before holds (a new mount) is reported too.
    fn walk(&mut self, dir: &Path, role: Role, emit: bool, out: &mut Vec<FsEvent>) {
        let (fid, mount_id) = match sys::dir_id(dir) {
            Ok(id) => id,
            Err(e) if is_gone(&e) => return,
            Err(e) => {
                tracing::warn!(tier = "fanotify", path = %dir.display(), error = %e, hint = access_hint(&e), "cannot identify directory; left to the poll safety net");
                return;
            }
        };
        let emit = match self.mark_known(dir, &fid, mount_id) {
            Ok(new_fs) => emit || new_fs,
            Err(e) if is_gone(&e) => return,
            Err(e) => {
                tracing::warn!(tier = "fanotify", path = %dir.display(), error = %e, hint = mark_hint(&e), "cannot mark the filesystem of this directory; left to the poll safety net");
                emit
            }
        };
        let fresh = self.known.get(&fid).is_none_or(|p| p != dir);
        if fresh {
            self.forget(dir);
            self.known.insert(fid.clone(), dir.to_path_buf());
            self.known_by_path.insert(dir.to_path_buf(), fid);
        }
        if fresh && let Err(e) = sys::mark_dir(self.group.as_fd(), dir, role.holds_files()) {
            if is_gone(&e) {
                return;
            }
            tracing::warn!(tier = "fanotify", path = %dir.display(), error = %e, hint = mark_hint(&e), "cannot mark this directory; what happens in it is left to the poll safety net");
        }
        if emit && fresh && role.is_reported() {
            out.push(ev(self.spell(dir.to_path_buf()), FsEventKind::Created));
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            // The dirent type does not follow symlinks: below the anchors a symlinked
            // directory leads out of the tree, and no event on its target is ours.
            let Ok(ft) = entry.file_type() else { continue };
            let name = entry.file_name();
            if ft.is_dir() {
                if let Some(child_role) = role.child_dir(dir, &name) {
                    self.walk(&entry.path(), child_role, emit, out);
                }
            } else if emit && fresh && ft.is_file() && role.holds_files() {
                let path = self.spell(entry.path());
                if shape::is_file_of_interest(&path) {
                    out.push(ev(path, FsEventKind::Created));
                }
            }
        }
    }

    /// `path` and everything below it are no longer what we knew.
    fn forget(&mut self, path: &Path) {
        let gone: Vec<PathBuf> = self
            .known_by_path
            .keys()
            .filter(|p| p.starts_with(path))
            .cloned()
            .collect();
        for p in gone {
            if let Some(fid) = self.known_by_path.remove(&p)
                && self.known.get(&fid) == Some(&p)
            {
                self.known.remove(&fid);
            }
        }
    }

    fn resolve(&mut self, fid: &Fid) -> Option<PathBuf> {
        if let Some(p) = self.known.get(fid) {
            return Some(p.clone());
        }
        let anchors = &self.anchors;
        self.resolver
            .resolve(fid, |p| role_of(anchors, p).is_some())
    }

    pub(crate) fn handle(&mut self, rec: Record, out: &mut Vec<FsEvent>) {
        match rec {
            Record::Overflow => self.overflow(out),
            Record::Event(e) => self.event(e, out),
        }
    }

    fn overflow(&mut self, out: &mut Vec<FsEvent>) {
        crate::metrics::count_kernel_drop("fanotify");
        tracing::warn!(
            tier = "fanotify",
            "fanotify queue overflowed; asking for a rescan"
        );
        // Paths renamed while events were lost are unknown: start over, then rescan with
        // every mark in place.
        self.resolver.clear();
        self.known.clear();
        self.known_by_path.clear();
        if let Err(e) = self.arm_anchors(false, out) {
            tracing::warn!(tier = "fanotify", path = %e.path.display(), error = %e.source, "cannot mark filesystem after overflow; left to the poll safety net");
        }
        for a in &self.anchors {
            out.push(ev(a.spelled.clone(), FsEventKind::Rescan));
        }
    }

    /// Periodic check for filesystems mounted over directories we know (no event says so):
    /// new marks, and a report of what the new filesystem holds.
    pub(crate) fn recheck_mounts(&mut self, out: &mut Vec<FsEvent>) {
        if let Err(e) = self.arm_anchors(false, out) {
            tracing::warn!(tier = "fanotify", path = %e.path.display(), error = %e.source, "cannot mark filesystem; left to the poll safety net");
        }
    }

    fn event(&mut self, e: Event, out: &mut Vec<FsEvent>) {
        let (Some(dir_fid), Some(name)) = (e.dir, e.name) else {
            return;
        };
        let mask = e.mask;
        let is_dir = mask & libc::FAN_ONDIR != 0;
        if !is_dir && !name_may_matter(&name) {
            return;
        }
        let dir_gone = is_dir && mask & (libc::FAN_DELETE | libc::FAN_MOVED_FROM) != 0;
        let Some(dir) = self.resolve(&dir_fid) else {
            if dir_gone {
                // Some directory was renamed or deleted and we cannot tell which.
                self.resolver.clear();
            }
            return;
        };
        let child = dir.join(&name);
        if dir_gone {
            self.resolver.invalidate_under(&child);
        }
        let Some(role) = role_of(&self.anchors, &dir) else {
            return;
        };
        if is_dir {
            self.dir_event(&dir, &name, &role, mask, out);
        } else if role.holds_files() {
            self.file_event(child, mask, out);
        }
    }

    /// Merged masks come in the order that leaves the last report true to what is on disk now:
    /// if the entry exists, its removal (if any) before its creation; if not, after.
    fn dir_event(
        &mut self,
        dir: &Path,
        name: &OsStr,
        role: &Role,
        mask: u64,
        out: &mut Vec<FsEvent>,
    ) {
        let Some(child_role) = role.child_dir(dir, name) else {
            return;
        };
        let child = dir.join(name);
        let appeared = mask & (libc::FAN_CREATE | libc::FAN_MOVED_TO) != 0;
        let vanished = mask & (libc::FAN_DELETE | libc::FAN_MOVED_FROM) != 0;
        if vanished {
            self.forget(&child);
            if child_role.is_reported() {
                out.push(ev(self.spell(child.clone()), FsEventKind::Removed));
            }
        }
        if appeared {
            self.walk(&child, child_role, true, out);
        }
    }

    fn file_event(&mut self, child: PathBuf, mask: u64, out: &mut Vec<FsEvent>) {
        let path = self.spell(child);
        if !shape::is_file_of_interest(&path) {
            return;
        }
        let merged = (mask & (libc::FAN_CREATE | libc::FAN_MOVED_TO)) != 0
            && (mask & (libc::FAN_DELETE | libc::FAN_MOVED_FROM)) != 0;
        // Only a merged appearance and removal needs to know which came last.
        let exists = merged && path.symlink_metadata().is_ok();
        let kinds = file_kinds(mask, exists);
        for k in kinds {
            out.push(ev(path.clone(), k));
        }
    }
}

/// The reports for one (possibly merged) mask on a file, in the order that leaves the last
/// one true to the disk: if the file `exists` now, its removal before its creation; if not,
/// after. Writes come after the creation they follow.
fn file_kinds(mask: u64, exists: bool) -> Vec<FsEventKind> {
    let created = mask & libc::FAN_CREATE != 0;
    let written = mask & (libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE) != 0;
    let removed = mask & (libc::FAN_DELETE | libc::FAN_MOVED_FROM) != 0;
    let renamed = mask & libc::FAN_MOVED_TO != 0;
    let mut kinds = Vec::with_capacity(4);
    if removed && exists {
        kinds.push(FsEventKind::Removed);
    }
    if created {
        kinds.push(FsEventKind::Created);
    }
    if renamed {
        kinds.push(FsEventKind::Renamed);
    }
    if written {
        kinds.push(FsEventKind::Appended);
    }
    if removed && !exists {
        kinds.push(FsEventKind::Removed);
    }
    kinds
}

/// What to do about a mark that cannot be placed.
pub(crate) fn mark_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "placing a filesystem mark needs CAP_SYS_ADMIN: run the daemon as root (the unit \
             grants it), or use --tier inotify"
        }
        Some(libc::ENODEV) | Some(libc::EOPNOTSUPP) | Some(libc::EXDEV) => {
            "this filesystem cannot report file handles to fanotify (network, FUSE, or a btrfs \
             subvolume); use --tier inotify"
        }
        Some(libc::ENOSPC) => {
            "the fanotify mark limit is reached (fs.fanotify.max_user_marks): raise it with \
             sysctl, or use --tier inotify"
        }
        _ => "check the path, or use --tier inotify",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchors(scope: &Scope) -> Vec<Anchor> {
        shape::anchors(scope)
            .into_iter()
            .map(|(spelled, role)| Anchor {
                real: spelled.clone(),
                spelled,
                role,
            })
            .collect()
    }

    #[test]
    fn roles_follow_from_paths_as_the_inotify_tier_descends_them() {
        let d = anchors(&Scope::Discover {
            fs_root: "/r".into(),
        });
        let p = |s: &str| role_of(&d, Path::new(s));
        assert_eq!(p("/r"), Some(Role::FsRoot));
        assert_eq!(p("/r/home/alice"), Some(Role::Home));
        assert_eq!(p("/r/root/.openclaw-work"), Some(Role::StateDir));
        assert_eq!(
            p("/r/home/a/.openclaw/agents/m/sessions"),
            Some(Role::Sessions)
        );
        assert_eq!(p("/r/home/a/.openclaw/workspace"), None);
        assert_eq!(p("/r/usr/lib"), None);
        assert_eq!(p("/elsewhere"), None);
        assert_eq!(
            p("/"),
            Some(Role::Pending(vec![("/r".into(), Role::FsRoot)]))
        );

        let g = anchors(&Scope::Gateways(vec![
            "/srv/gw".into(),
            "/h/a/.openclaw".into(),
        ]));
        let p = |s: &str| role_of(&g, Path::new(s));
        assert_eq!(p("/srv/gw/agents/x"), Some(Role::Agent));
        assert_eq!(
            p("/h/a"),
            Some(Role::Pending(vec![(
                "/h/a/.openclaw".into(),
                Role::StateDir
            )]))
        );
        assert_eq!(p("/h/b/.openclaw"), None);
        assert_eq!(p("/srv/other"), None);
    }

    #[test]
    fn merged_masks_end_on_what_is_on_disk() {
        use FsEventKind::*;
        // 0x14a as measured: CREATE | MOVED_FROM | CLOSE_WRITE | MODIFY, file gone.
        assert_eq!(file_kinds(0x14a, false), vec![Created, Appended, Removed]);
        assert_eq!(
            file_kinds(libc::FAN_DELETE | libc::FAN_CREATE | libc::FAN_MODIFY, true),
            vec![Removed, Created, Appended]
        );
        assert_eq!(
            file_kinds(libc::FAN_MOVED_TO | libc::FAN_CLOSE_WRITE, true),
            vec![Renamed, Appended]
        );
        assert_eq!(file_kinds(libc::FAN_MODIFY, true), vec![Appended]);
        assert_eq!(file_kinds(libc::FAN_DELETE, false), vec![Removed]);
    }

    #[test]
    fn only_names_of_interest_pass_the_first_filter() {
        for yes in [
            "a.jsonl",
            "a.jsonl.lock",
            "sessions.json",
            "openclaw.json",
            "openclaw-agent.sqlite-wal",
        ] {
            assert!(name_may_matter(OsStr::new(yes)), "{yes}");
        }
        for no in [
            "libfoo.rlib",
            "notes.txt",
            "x.trajectory.jsonl",
            "sessions.json.1.a.tmp",
            "openclaw-agent.sqlite-shm",
        ] {
            assert!(!name_may_matter(OsStr::new(no)), "{no}");
        }
    }
}
