//! What user space tells the kernel filter: directories, each with the depths below it where
//! files are in scope (see `MAX_DEPTH` in the shared crate), and the inodes of files already
//! open for writing when the tier started.
//!
//! Anchors are registered rather than every state dir: a gateway that appears later lies at a
//! fixed depth below its home (or below its named state dir's parent), so the kernel matches
//! it with no update from user space.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use openclaw_livestatus_ebpf::{InodeKey, MAX_DEPTH, dev_to_kernel};

use crate::layout;
use crate::watch::Scope;
use crate::watch::shape;

/// From a session file's directory (depth 1) up to its state dir.
pub(crate) const STATE_DIR_DEPTH: u32 = 4;

pub(crate) fn key_of(path: &Path) -> Option<InodeKey> {
    let m = std::fs::metadata(path).ok()?;
    Some(InodeKey {
        dev: dev_to_kernel(m.dev()),
        ino: m.ino(),
    })
}

/// (directory, depth mask) pairs for the kernel's directory map.
pub(crate) fn registrations(scope: &Scope) -> Vec<(PathBuf, u32)> {
    let mut out: Vec<(PathBuf, u32)> = Vec::new();
    let mut add = |p: PathBuf, depth: u32| {
        if depth > MAX_DEPTH {
            tracing::warn!(tier = "ebpf", path = %p.display(), "directory too far above a state dir for the kernel filter; left to the poll safety net");
            return;
        }
        match out.iter_mut().find(|(q, _)| *q == p) {
            Some((_, mask)) => *mask |= 1 << depth,
            None => out.push((p, 1 << depth)),
        }
    };
    for (anchor, _) in shape::anchors(scope) {
        match scope {
            Scope::Discover { .. } => {
                // <fs>/root/<state> and <fs>/home/<user>/<state>.
                add(anchor.clone(), STATE_DIR_DEPTH + 2);
                add(anchor.clone(), STATE_DIR_DEPTH + 3);
                add(anchor.join("home"), STATE_DIR_DEPTH + 2);
            }
            Scope::Gateways(_) => {
                // The state dir itself, and its nearest existing ancestor, which keeps matching
                // when the state dir is created (again) later.
                add(anchor.clone(), STATE_DIR_DEPTH);
                let mut depth = STATE_DIR_DEPTH + 1;
                let mut up = anchor.parent();
                while let Some(dir) = up {
                    if dir.is_dir() {
                        add(dir.to_path_buf(), depth);
                        break;
                    }
                    depth += 1;
                    up = dir.parent();
                }
            }
        }
    }
    out
}

/// Every directory that holds files of interest in the scope today: where unlinks and renames
/// are placed when no open taught us the directory yet.
pub(crate) fn session_dirs(scope: &Scope) -> Vec<PathBuf> {
    let mut state_dirs = Vec::new();
    for (anchor, _) in shape::anchors(scope) {
        match scope {
            Scope::Discover { .. } => {
                for home in layout::home_roots_under(&anchor) {
                    state_dirs.extend(layout::state_dirs_in_home(&home));
                }
            }
            Scope::Gateways(_) => state_dirs.push(anchor),
        }
    }
    let mut out = Vec::new();
    for st in state_dirs {
        for id in layout::agent_ids(&st) {
            out.push(layout::sessions_dir(&st, &id));
            if let Some(store) = layout::agent_db_path(&st, &id).parent() {
                out.push(store.to_path_buf());
            }
        }
    }
    out.retain(|d| d.is_dir());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discover_registers_the_fs_root_and_home_at_state_dir_depths() {
        let r = registrations(&Scope::Discover {
            fs_root: "/fs".into(),
        });
        assert_eq!(
            r,
            vec![
                (PathBuf::from("/fs"), (1 << 6) | (1 << 7)),
                (PathBuf::from("/fs/home"), 1 << 6),
            ]
        );
    }

    #[test]
    fn a_missing_gateway_is_registered_through_its_nearest_ancestor() {
        let tmp = tempfile::tempdir().expect("tmp");
        let gw = tmp.path().join("a/b/gw");
        let r = registrations(&Scope::Gateways(vec![gw.clone()]));
        assert_eq!(r, vec![(gw, 1 << 4), (tmp.path().to_path_buf(), 1 << 7)]);
    }
}
