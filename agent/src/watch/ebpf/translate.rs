//! Kernel records → `FsEvent`s: paths rebuilt from what earlier records taught us (the kernel
//! sends a path only with opens), and the scope checked again precisely (the kernel's filter
//! is by name and directory depth, coarser on purpose).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use openclaw_livestatus_ebpf::{
    ANCESTOR_SLOT, AT_FDCWD, EventKind, FLAG_ANCESTORS, FLAG_CREATED, FLAG_USER_PATHS, FileEvent,
    InodeKey,
};

use crate::layout::{self, Place};
use crate::watch::shape;
use crate::watch::{FsEvent, FsEventKind, Scope};

/// Bounds each cache; when one is full it is cleared (what is lost is relearned from the next
/// open, or found again by `Translator::learn_dirs`).
const MAX_ENTRIES: usize = 16384;

pub(crate) struct Translator {
    scope: Scope,
    /// Absolute scope anchors (state dirs, or the fs root).
    anchors: Vec<PathBuf>,
    /// Open files of interest: where writes to an inode go.
    files: HashMap<InodeKey, PathBuf>,
    /// Directories holding files of interest: where unlinks and renames happen.
    dirs: HashMap<InodeKey, PathBuf>,
    /// State dirs outside the searched homes, found by a turn's lock (discovery scope).
    adopted: std::collections::BTreeSet<PathBuf>,
    /// Adopted since the reader last asked, for the kernel's directory map.
    newly_adopted: Vec<PathBuf>,
}

/// A record names a directory we cannot place: the caller rescans it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct UnknownDir;

fn bytes_path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(b))
}

fn field(buf: &[u8], len: u32) -> &[u8] {
    &buf[..(len as usize).min(buf.len())]
}

impl Translator {
    pub(crate) fn new(scope: &Scope) -> Self {
        Translator {
            scope: scope.clone(),
            anchors: shape::rescan_roots(scope),
            files: HashMap::new(),
            dirs: HashMap::new(),
            adopted: Default::default(),
            newly_adopted: Vec::new(),
        }
    }

    /// State dirs adopted since the last call.
    pub(crate) fn take_adopted(&mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.newly_adopted)
    }

    /// Host-wide discovery (the registry applies the same rule): a lock created in a state dir
    /// no searched home holds adopts that state dir, unless everyone may write to it.
    fn adopt(&mut self, path: &Path) -> bool {
        if !matches!(self.scope, Scope::Discover { .. }) {
            return false;
        }
        let Some(Place::SessionFile {
            state_dir,
            file: layout::SessionFile::Lock { .. },
            ..
        }) = layout::place_of(path)
        else {
            return false;
        };
        if self.adopted.contains(&state_dir) {
            return true;
        }
        if !layout::is_adoptable_state_dir(&state_dir) || self.adopted.len() >= MAX_ENTRIES {
            return false;
        }
        self.adopted.insert(state_dir.clone());
        self.newly_adopted.push(state_dir);
        true
    }

    pub(crate) fn roots(&self) -> &[PathBuf] {
        &self.anchors
    }

    /// Whether `path` is a file the stages below act on, inside this tier's scope.
    pub(crate) fn in_scope(&self, path: &Path) -> bool {
        if !shape::is_file_of_interest(path) {
            return false;
        }
        let state_dir = match layout::place_of(path) {
            Some(Place::SessionFile { state_dir, .. })
            | Some(Place::AgentStoreFile { state_dir, .. }) => state_dir,
            _ => return false,
        };
        if self.adopted.contains(&state_dir) {
            return true;
        }
        match &self.scope {
            Scope::Gateways(_) => self.anchors.contains(&state_dir),
            Scope::Discover { .. } => self
                .anchors
                .first()
                .is_some_and(|fs_root| layout::is_discovered_state_dir(fs_root, &state_dir)),
        }
    }

    /// Records that `path` (a file of interest) is inode `key`, e.g. from the scan of fds
    /// opened before the tier started.
    pub(crate) fn learn_file(&mut self, key: InodeKey, path: PathBuf) {
        if self.files.len() >= MAX_ENTRIES {
            self.files.clear();
        }
        self.files.insert(key, path);
    }

    pub(crate) fn learn_dir(&mut self, key: InodeKey, path: PathBuf) {
        if self.dirs.len() >= MAX_ENTRIES {
            self.dirs.clear();
        }
        self.dirs.insert(key, path);
    }

    pub(crate) fn knows_dir(&self, key: &InodeKey) -> bool {
        self.dirs.contains_key(key)
    }

    pub(crate) fn handle(
        &mut self,
        ev: &FileEvent,
        out: &mut Vec<FsEvent>,
    ) -> Result<(), UnknownDir> {
        let push = |out: &mut Vec<FsEvent>, path: PathBuf, kind| out.push(FsEvent { path, kind });
        match EventKind::from_u32(ev.kind) {
            Some(EventKind::Open) => {
                let path = if ev.flags & FLAG_ANCESTORS != 0 {
                    match ancestors_path(ev) {
                        Some(p) => p,
                        None => return Ok(()),
                    }
                } else if ev.path_len > 0 {
                    bytes_path(field(&ev.path, ev.path_len))
                } else {
                    // Tracepoint variant: no bpf_d_path; placed by its directory.
                    self.dir_path(ev.dev, ev.dir_ino)?.join(name(ev))
                };
                if !path.is_absolute() {
                    return Ok(());
                }
                if let Some(dir) = path.parent() {
                    let key = InodeKey {
                        dev: ev.dev,
                        ino: ev.dir_ino,
                    };
                    if ev.dir_ino != 0 && !self.dirs.contains_key(&key) {
                        self.learn_dir(key, dir.to_path_buf());
                    }
                }
                let wanted =
                    self.in_scope(&path) || (ev.flags & FLAG_CREATED != 0 && self.adopt(&path));
                if !wanted {
                    return Ok(());
                }
                let key = InodeKey {
                    dev: ev.dev,
                    ino: ev.ino,
                };
                self.learn_file(key, path.clone());
                if ev.flags & FLAG_CREATED != 0 {
                    push(out, path, FsEventKind::Created);
                }
            }
            Some(EventKind::Write) => {
                let key = InodeKey {
                    dev: ev.dev,
                    ino: ev.ino,
                };
                if let Some(path) = self.files.get(&key) {
                    push(out, path.clone(), FsEventKind::Appended);
                }
            }
            Some(EventKind::Unlink) if ev.flags & FLAG_USER_PATHS != 0 => {
                let Some(path) = user_path(ev.tgid, ev.dfd, field(&ev.path, ev.path_len)) else {
                    return Ok(());
                };
                self.files.retain(|_, p| *p != path);
                if self.in_scope(&path) {
                    push(out, path, FsEventKind::Removed);
                }
            }
            Some(EventKind::Rename) if ev.flags & FLAG_USER_PATHS != 0 => {
                let old = user_path(ev.tgid, ev.dfd, field(&ev.path, ev.path_len));
                let new = user_path(ev.tgid, ev.new_dfd, field(&ev.new_path, ev.new_path_len));
                let (Some(old), Some(new)) = (old, new) else {
                    return Ok(());
                };
                self.renamed(old, new, out);
            }
            Some(EventKind::Unlink) => {
                let path = self.dir_path(ev.dev, ev.dir_ino)?.join(name(ev));
                self.files.retain(|_, p| *p != path);
                if self.in_scope(&path) {
                    push(out, path, FsEventKind::Removed);
                }
            }
            Some(EventKind::Rename) => {
                let old = self.dir_path(ev.dev, ev.dir_ino)?.join(name(ev));
                let new = self
                    .dir_path(ev.dev, ev.new_dir_ino)?
                    .join(OsStr::from_bytes(field(&ev.new_name, ev.new_name_len)));
                self.renamed(old, new, out);
            }
            None => {}
        }
        Ok(())
    }

    fn renamed(&mut self, old: PathBuf, new: PathBuf, out: &mut Vec<FsEvent>) {
        for p in self.files.values_mut() {
            if *p == old {
                *p = new.clone();
            }
        }
        if self.in_scope(&old) {
            out.push(FsEvent {
                path: old,
                kind: FsEventKind::Removed,
            });
        }
        if self.in_scope(&new) {
            out.push(FsEvent {
                path: new,
                kind: FsEventKind::Renamed,
            });
        }
    }

    fn dir_path(&self, dev: u64, ino: u64) -> Result<PathBuf, UnknownDir> {
        self.dirs
            .get(&InodeKey { dev, ino })
            .cloned()
            .ok_or(UnknownDir)
    }
}

/// A path as a process passed it to a syscall, made absolute through its cwd or directory fd
/// (read from /proc right away: the process is usually still there, a gateway always is).
pub(crate) fn user_path(tgid: u32, dfd: i32, raw: &[u8]) -> Option<PathBuf> {
    let p = bytes_path(raw);
    if p.is_absolute() {
        return Some(p);
    }
    let base = if dfd == AT_FDCWD {
        std::fs::read_link(format!("/proc/{tgid}/cwd")).ok()?
    } else {
        std::fs::read_link(format!("/proc/{tgid}/fd/{dfd}")).ok()?
    };
    Some(base.join(p))
}

/// The path of a host-wide lock from its ancestors' names (see `FLAG_ANCESTORS`): joined below
/// `/`, or below the mount point of its filesystem when the walk stopped at a mount's root; only
/// a path that is this very file (same device and inode) is returned.
fn ancestors_path(ev: &FileEvent) -> Option<PathBuf> {
    if ev.new_path_len != 1 {
        return None;
    }
    let mut below_root = PathBuf::new();
    for i in (0..(ev.new_name_len as usize).min(ev.new_name.len())).rev() {
        let (buf, slot) = if i < 4 {
            (&ev.path[..], i)
        } else {
            (&ev.new_path[..], i - 4)
        };
        let start = slot * ANCESTOR_SLOT;
        let len = usize::from(ev.new_name[i]).min(ANCESTOR_SLOT);
        let name = buf.get(start..start + len)?;
        if name.is_empty() || name.contains(&b'/') {
            return None;
        }
        below_root.push(OsStr::from_bytes(name));
    }
    below_root.push(name(ev));
    let is_it = |p: &Path| {
        std::fs::symlink_metadata(p).is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            openclaw_livestatus_ebpf::dev_to_kernel(m.dev()) == ev.dev && m.ino() == ev.ino
        })
    };
    let direct = Path::new("/").join(&below_root);
    if is_it(&direct) {
        return Some(direct);
    }
    mount_points(ev.dev)
        .into_iter()
        .map(|m| m.join(&below_root))
        .find(|p| is_it(p))
}

/// Where the filesystem with kernel device number `dev` is mounted with its root (from
/// /proc/self/mountinfo: `id parent major:minor root mountpoint …`).
fn mount_points(dev: u64) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let want = format!("{}:{}", dev >> 20, dev & 0xfffff);
    info.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 4 && f[2] == want && f[3] == "/").then(|| unescape_mount(f[4]))
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mount(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(oct) = s.get(i + 1..i + 4)
            && let Ok(v) = u8::from_str_radix(oct, 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

fn name(ev: &FileEvent) -> &OsStr {
    OsStr::from_bytes(field(&ev.name, ev.name_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openclaw_livestatus_ebpf::{NAME_LEN, PATH_LEN};

    fn raw(kind: EventKind) -> FileEvent {
        FileEvent {
            kind: kind as u32,
            tgid: 1,
            dev: 7,
            ino: 0,
            dir_ino: 0,
            new_dir_ino: 0,
            flags: 0,
            path_len: 0,
            name_len: 0,
            new_name_len: 0,
            new_path_len: 0,
            dfd: 0,
            new_dfd: 0,
            _pad: 0,
            path: [0; PATH_LEN],
            new_path: [0; PATH_LEN],
            name: [0; NAME_LEN],
            new_name: [0; NAME_LEN],
        }
    }

    fn open(path: &str, ino: u64, dir_ino: u64, created: bool) -> FileEvent {
        let mut e = raw(EventKind::Open);
        e.path[..path.len()].copy_from_slice(path.as_bytes());
        e.path_len = path.len() as u32;
        e.ino = ino;
        e.dir_ino = dir_ino;
        e.flags = if created { FLAG_CREATED } else { 0 };
        e
    }

    fn named(kind: EventKind, dir_ino: u64, name: &str) -> FileEvent {
        let mut e = raw(kind);
        e.name[..name.len()].copy_from_slice(name.as_bytes());
        e.name_len = name.len() as u32;
        e.dir_ino = dir_ino;
        e
    }

    fn ev(path: &str, kind: FsEventKind) -> FsEvent {
        FsEvent {
            path: path.into(),
            kind,
        }
    }

    const S: &str = "/srv/gw/agents/main/sessions";

    #[test]
    fn opens_writes_unlinks_and_renames_become_fs_events() {
        let mut t = Translator::new(&Scope::Gateways(vec!["/srv/gw".into()]));
        let mut out = Vec::new();
        let jsonl = format!("{S}/a.jsonl");
        t.handle(&open(&jsonl, 10, 5, true), &mut out)
            .expect("open");
        t.handle(&open(&format!("{S}/sessions.json"), 11, 5, false), &mut out)
            .expect("open");
        let mut w = raw(EventKind::Write);
        w.ino = 10;
        t.handle(&w, &mut out).expect("write");
        // A write to an inode never opened through a matching path says nothing.
        w.ino = 99;
        t.handle(&w, &mut out).expect("write");
        let mut r = named(EventKind::Rename, 5, "sessions.json.1.tmp");
        r.new_dir_ino = 5;
        let new = b"sessions.json";
        r.new_name[..new.len()].copy_from_slice(new);
        r.new_name_len = new.len() as u32;
        t.handle(&r, &mut out).expect("rename");
        t.handle(&named(EventKind::Unlink, 5, "a.jsonl"), &mut out)
            .expect("unlink");
        assert_eq!(
            out,
            vec![
                ev(&jsonl, FsEventKind::Created),
                ev(&jsonl, FsEventKind::Appended),
                ev(&format!("{S}/sessions.json"), FsEventKind::Renamed),
                ev(&jsonl, FsEventKind::Removed),
            ]
        );
        assert_eq!(
            t.handle(&named(EventKind::Unlink, 6, "b.jsonl"), &mut out),
            Err(UnknownDir)
        );
    }

    #[test]
    fn user_paths_are_made_absolute_through_proc() {
        let me = std::process::id();
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(
            user_path(me, AT_FDCWD, b"a.jsonl"),
            Some(cwd.join("a.jsonl"))
        );
        assert_eq!(
            user_path(me, 3, b"/abs/x.jsonl"),
            Some("/abs/x.jsonl".into())
        );
        let mut t = Translator::new(&Scope::Gateways(vec!["/srv/gw".into()]));
        let mut r = raw(EventKind::Rename);
        r.flags = FLAG_USER_PATHS;
        let (a, b) = (
            format!("{S}/sessions.json.7.tmp"),
            format!("{S}/sessions.json"),
        );
        r.path[..a.len()].copy_from_slice(a.as_bytes());
        r.path_len = a.len() as u32;
        r.new_path[..b.len()].copy_from_slice(b.as_bytes());
        r.new_path_len = b.len() as u32;
        let mut out = Vec::new();
        t.handle(&r, &mut out).expect("rename");
        assert_eq!(out, vec![ev(&b, FsEventKind::Renamed)]);
    }

    #[test]
    fn scope_is_checked_again_in_user_space() {
        let g = Translator::new(&Scope::Gateways(vec!["/srv/gw".into()]));
        assert!(g.in_scope(Path::new(&format!("{S}/a.jsonl.lock"))));
        assert!(!g.in_scope(Path::new("/srv/other/agents/main/sessions/a.jsonl.lock")));
        assert!(!g.in_scope(Path::new(&format!("{S}/a.trajectory.jsonl"))));
        let d = Translator::new(&Scope::Discover {
            fs_root: "/fs".into(),
        });
        for yes in [
            "/fs/root/.openclaw/agents/main/sessions/a.jsonl",
            "/fs/home/bob/.openclaw-work/agents/x/agent/openclaw-agent.sqlite-wal",
        ] {
            assert!(d.in_scope(Path::new(yes)), "{yes}");
        }
        for no in [
            "/fs/home/bob/notes/agents/main/sessions/a.jsonl",
            "/fs/srv/.openclaw/agents/main/sessions/a.jsonl",
            "/elsewhere/home/bob/.openclaw/agents/main/sessions/a.jsonl",
            "/fs/home/bob/.openclaw/agents/main/agent/openclaw-agent.sqlite-shm",
        ] {
            assert!(!d.in_scope(Path::new(no)), "{no}");
        }
    }
}
