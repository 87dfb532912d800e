//! An open directory that files are opened beneath: never through a symlink at the last
//! component (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, else `O_NOFOLLOW` on one
//! component), never blocking (`O_NONBLOCK`), then checked on the opened fd.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode};

use super::{GuardError, Opened, Owner, check_stat};

/// Set once openat2 turned out to be missing (kernel < 5.6, or a seccomp filter), so later opens
/// go straight to the single-component openat fallback.
static OPENAT2_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// An open directory: the anchor files are opened beneath, and the owner `Owner::DirOwner` means.
#[derive(Debug)]
pub struct Dir {
    /// O_PATH: enough to resolve names beneath it, no right to read its entries by itself.
    fd: OwnedFd,
    path: PathBuf,
    uid: u32,
    mode: u32,
    /// Refuse names that cross onto another mount (a user's sessions dir); an admin's path may
    /// name a bind-mounted secret.
    same_mount: bool,
}

impl Dir {
    /// Opens the directory at `path`, refusing a symlink at its last component (a user could
    /// point it at another user's files); components above it are the caller's to vet.
    pub fn open_nofollow(path: &Path) -> Result<Dir, GuardError> {
        Dir::open_with(path, OFlag::O_NOFOLLOW, true)
    }

    /// The directory holding a path an admin named: symlinks in it are the admin's own.
    pub(super) fn open_parent_of(path: &Path) -> Result<(Dir, &OsStr), GuardError> {
        let name = path
            .file_name()
            .filter(|_| !path.as_os_str().as_bytes().ends_with(b"/"))
            .ok_or_else(|| GuardError::NotRegular {
                path: path.to_owned(),
                kind: "directory",
            })?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = Dir::open_with(parent, OFlag::empty(), false).map_err(|e| match e {
            // The file is missing as much as its directory is.
            GuardError::NotFound { .. } => GuardError::NotFound {
                path: path.to_owned(),
            },
            other => other,
        })?;
        Ok((dir, name))
    }

    fn open_with(path: &Path, extra: OFlag, same_mount: bool) -> Result<Dir, GuardError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | extra;
        let fd = match nix::fcntl::open(path, flags, Mode::empty()) {
            // SAFETY: a successful open returned this fd and nothing else owns it.
            Ok(raw) => unsafe { OwnedFd::from_raw_fd(raw) },
            Err(Errno::ENOTDIR) => {
                // O_PATH|O_NOFOLLOW opens a symlink itself and O_DIRECTORY then refuses it: tell
                // a symlink from a plain file for the message.
                let is_link =
                    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
                return Err(if is_link && extra.contains(OFlag::O_NOFOLLOW) {
                    GuardError::Symlink {
                        path: path.to_owned(),
                    }
                } else {
                    GuardError::NotADirectory {
                        path: path.to_owned(),
                    }
                });
            }
            Err(Errno::ELOOP) => {
                return Err(GuardError::Symlink {
                    path: path.to_owned(),
                });
            }
            Err(errno) => return Err(GuardError::io(path.to_owned(), "open", errno.into())),
        };
        let st = nix::sys::stat::fstat(fd.as_raw_fd())
            .map_err(|e| GuardError::io(path.to_owned(), "stat", e.into()))?;
        Ok(Dir {
            fd,
            path: path.to_owned(),
            uid: st.st_uid,
            mode: st.st_mode,
            same_mount,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn owner_uid(&self) -> u32 {
        self.uid
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Refuses a directory other users may write to: they could swap the files in it.
    /// Group-writable passes: with the user-private groups of Debian, Ubuntu and Fedora the
    /// group is its owner alone, and a shared group is one the owner chose to trust.
    pub fn check_private(&self) -> Result<(), GuardError> {
        // The mode may have changed since the dir was opened: ask again through the fd.
        let mode = nix::sys::stat::fstat(self.fd.as_raw_fd())
            .map(|st| st.st_mode)
            .unwrap_or(self.mode);
        if mode & 0o002 != 0 {
            return Err(GuardError::WritableByOthers {
                dir: self.path.clone(),
                mode: mode & 0o7777,
            });
        }
        Ok(())
    }

    /// Opens `name` (one path component) beneath this dir and checks the opened file.
    pub fn open(&self, name: &OsStr, owner: &Owner) -> Result<Opened, GuardError> {
        let path = self.path.join(name);
        let fd = self
            .open_fd(name)
            .map_err(|errno| open_error(&path, errno))?;
        let file = File::from(fd);
        let st = nix::sys::stat::fstat(file.as_raw_fd())
            .map_err(|e| GuardError::io(path.clone(), "stat", e.into()))?;
        self.check(&path, &st, owner)?;
        Ok(Opened {
            file,
            path,
            size: u64::try_from(st.st_size).unwrap_or(0),
        })
    }

    /// `stat` of `name` without opening it, `None` when absent; the same checks as `open` (a
    /// symlink at the name is refused, not "absent").
    pub fn stat(&self, name: &OsStr, owner: &Owner) -> Result<Option<FileStat>, GuardError> {
        let path = self.path.join(name);
        let st = match nix::sys::stat::fstatat(
            Some(self.fd.as_raw_fd()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(None),
            Err(errno) => return Err(GuardError::io(path, "stat", errno.into())),
        };
        self.check(&path, &st, owner)?;
        Ok(Some(st))
    }

    /// The checks on a file's `stat`: a regular file with one link and the expected owner.
    pub fn check(&self, path: &Path, st: &FileStat, owner: &Owner) -> Result<(), GuardError> {
        let (expected, whose) = match owner {
            Owner::Uid { uid, whose } => (vec![*uid], *whose),
            Owner::DirOwner => (vec![self.uid], "the owner of its directory"),
            Owner::Admin => {
                let me = nix::unistd::geteuid().as_raw();
                let mut uids = vec![me];
                if me != 0 {
                    uids.push(0);
                }
                (uids, "the daemon's user or root")
            }
        };
        check_stat(path, st, &expected, whose)
    }

    fn open_fd(&self, name: &OsStr) -> Result<OwnedFd, Errno> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
            return Err(Errno::EINVAL);
        }
        // O_NONBLOCK: opening a FIFO planted under the name must not hang the daemon (it is then
        // refused as not regular); it changes nothing for reads of a regular file.
        let flags = OFlag::O_RDONLY
            | OFlag::O_CLOEXEC
            | OFlag::O_NOFOLLOW
            | OFlag::O_NOCTTY
            | OFlag::O_NONBLOCK;
        let raw = if OPENAT2_UNAVAILABLE.load(Ordering::Relaxed) {
            None
        } else {
            let mut resolve = ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS;
            if self.same_mount {
                resolve |= ResolveFlag::RESOLVE_NO_XDEV;
            }
            let how = OpenHow::new().flags(flags).resolve(resolve);
            match nix::fcntl::openat2(self.fd.as_raw_fd(), name, how) {
                Ok(fd) => Some(fd),
                // ENOSYS: kernel before 5.6; EPERM: a seccomp filter that does not know it.
                Err(Errno::ENOSYS | Errno::EPERM) => {
                    OPENAT2_UNAVAILABLE.store(true, Ordering::Relaxed);
                    None
                }
                Err(errno) => return Err(errno),
            }
        };
        let raw = match raw {
            Some(fd) => fd,
            // `name` is one component, so O_NOFOLLOW on it gives what the resolve flags give:
            // no symlink followed, nothing outside the dir.
            None => nix::fcntl::openat(Some(self.fd.as_raw_fd()), name, flags, Mode::empty())?,
        };
        // SAFETY: `raw` was just returned by a successful openat2/openat, so it is an open fd
        // that nothing else owns; OwnedFd takes sole ownership and closes it exactly once.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }
}

fn open_error(path: &Path, errno: Errno) -> GuardError {
    let path = path.to_owned();
    match errno {
        Errno::ENOENT => GuardError::NotFound { path },
        // O_NOFOLLOW and RESOLVE_NO_SYMLINKS both answer ELOOP.
        Errno::ELOOP => GuardError::Symlink { path },
        Errno::EXDEV | Errno::EINVAL => GuardError::Escapes { path },
        Errno::ENXIO | Errno::ENODEV => GuardError::NotRegular {
            path,
            kind: "socket or device",
        },
        Errno::EISDIR => GuardError::NotRegular {
            path,
            kind: "directory",
        },
        other => GuardError::io(path, "open", other.into()),
    }
}
