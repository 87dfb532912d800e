//! From a directory handle in an event to the directory's path. A filesystem-wide mark reports
//! every directory of the filesystem, so this runs for noise too: paths are cached (bounded),
//! and the cache is invalidated when a directory is renamed or deleted.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::record::Fid;
use super::sys;

/// Entries per cache generation: two generations hold at most twice this many paths.
const CACHE_GENERATION: usize = 2048;
/// Bind mounts of one filesystem we decode through; more is not a layout we expect.
const MAX_MOUNTS_PER_FS: usize = 8;

/// A bounded cache that keeps what was used recently: lookups promote from the previous
/// generation, and a full current generation replaces the previous one.
#[derive(Default)]
struct TwoGen {
    current: HashMap<Fid, PathBuf>,
    previous: HashMap<Fid, PathBuf>,
}

impl TwoGen {
    fn get(&mut self, fid: &Fid) -> Option<PathBuf> {
        if let Some(p) = self.current.get(fid) {
            return Some(p.clone());
        }
        let p = self.previous.remove(fid)?;
        self.insert(fid.clone(), p.clone());
        Some(p)
    }

    fn insert(&mut self, fid: Fid, path: PathBuf) {
        if self.current.len() >= CACHE_GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(fid, path);
    }

    fn retain(&mut self, keep: impl Fn(&Path) -> bool) {
        self.current.retain(|_, p| keep(p));
        self.previous.retain(|_, p| keep(p));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// The mounts handles are decoded through, per filesystem, and the path cache.
#[derive(Default)]
pub(crate) struct Resolver {
    mounts: HashMap<[u8; 8], Vec<(i32, OwnedFd)>>,
    cache: TwoGen,
    denied_warned: bool,
}

impl Resolver {
    pub(crate) fn is_marked(&self, fsid: &[u8; 8]) -> bool {
        self.mounts.contains_key(fsid)
    }

    pub(crate) fn knows_mount(&self, fsid: &[u8; 8], mount_id: i32) -> bool {
        self.mounts
            .get(fsid)
            .is_some_and(|m| m.iter().any(|(id, _)| *id == mount_id))
    }

    pub(crate) fn add_mount(&mut self, fsid: [u8; 8], mount_id: i32, fd: OwnedFd) {
        let mounts = self.mounts.entry(fsid).or_default();
        if mounts.len() < MAX_MOUNTS_PER_FS && !mounts.iter().any(|(id, _)| *id == mount_id) {
            mounts.push((mount_id, fd));
        }
    }

    pub(crate) fn filesystems(&self) -> usize {
        self.mounts.len()
    }

    /// The path of directory `fid`, through the first mount where it is `wanted` (in scope),
    /// else the first where it resolves at all. None: gone, or not on a filesystem we marked.
    pub(crate) fn resolve(&mut self, fid: &Fid, wanted: impl Fn(&Path) -> bool) -> Option<PathBuf> {
        if let Some(p) = self.cache.get(fid) {
            return Some(p);
        }
        let mut found = None;
        for (_, fd) in self.mounts.get(&fid.fsid)? {
            match sys::path_of(fd.as_fd(), fid) {
                Ok(p) if wanted(&p) => {
                    found = Some(p);
                    break;
                }
                Ok(p) => {
                    found.get_or_insert(p);
                }
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    if std::mem::replace(&mut self.denied_warned, true) {
                        return None;
                    }
                    tracing::warn!(
                        tier = "fanotify",
                        "cannot resolve a directory handle: CAP_DAC_READ_SEARCH is needed by open_by_handle_at; events are missed until the daemon keeps it"
                    );
                    return None;
                }
                Err(_) => {}
            }
        }
        let p = found?;
        self.cache.insert(fid.clone(), p.clone());
        Some(p)
    }

    /// `dir` was renamed or deleted: the paths of everything below it are stale.
    pub(crate) fn invalidate_under(&mut self, dir: &Path) {
        self.cache.retain(|p| !p.starts_with(dir));
    }

    /// A renamed or deleted directory whose old path is unknown: nothing cached can be trusted.
    pub(crate) fn clear(&mut self) {
        self.cache = TwoGen::default();
    }

    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.cache.len()
    }

    #[cfg(test)]
    pub(crate) fn remember(&mut self, fid: Fid, path: PathBuf) {
        self.cache.insert(fid, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fid(n: u32) -> Fid {
        Fid {
            fsid: [0; 8],
            handle_type: 1,
            handle: n.to_ne_bytes().into(),
        }
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let mut r = Resolver::default();
        r.remember(fid(0), "/hot".into());
        for n in 1..(CACHE_GENERATION as u32 * 5) {
            r.remember(fid(n), format!("/d/{n}").into());
            // Used all along, so never evicted.
            assert_eq!(r.resolve(&fid(0), |_| true), Some("/hot".into()));
        }
        assert!(r.cached() <= 2 * CACHE_GENERATION, "{}", r.cached());
        // Long unused: evicted, and with no mount to decode through it is not found.
        assert_eq!(r.resolve(&fid(1), |_| true), None);
    }

    #[test]
    fn a_renamed_directory_invalidates_what_is_below_it() {
        let mut r = Resolver::default();
        r.remember(fid(1), "/h/a/.openclaw".into());
        r.remember(fid(2), "/h/a/.openclaw/agents".into());
        r.remember(fid(3), "/h/a/.openclaw-work".into());
        r.invalidate_under(Path::new("/h/a/.openclaw"));
        assert_eq!(r.resolve(&fid(1), |_| true), None);
        assert_eq!(r.resolve(&fid(2), |_| true), None);
        assert_eq!(
            r.resolve(&fid(3), |_| true),
            Some("/h/a/.openclaw-work".into())
        );
    }
}
