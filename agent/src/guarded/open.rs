//! Opening and reading a file someone else controls: always relative to an open directory, never
//! through a symlink at the last component, never blocking on open, then checked on the opened
//! fd (regular file, one link, the expected owner) and read no further than a bound.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

use super::GuardError;

/// Who must own a file for it to be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// This uid; `whose` says whose files these are, for the message ("the state dir's owner").
    Uid { uid: u32, whose: &'static str },
    /// Whoever owns the directory the file is opened in.
    DirOwner,
    /// The daemon's effective user or root: files an admin names in the daemon's own config.
    Admin,
}

/// What a read of one kind of file is held to.
#[derive(Clone, Debug)]
pub struct Rules {
    pub owner: Owner,
    /// Larger files (also one that grows past this while being read) are refused.
    pub max_bytes: u64,
}

impl Rules {
    pub fn admin(max_bytes: u64) -> Rules {
        Rules {
            owner: Owner::Admin,
            max_bytes,
        }
    }

    pub fn dir_owner(max_bytes: u64) -> Rules {
        Rules {
            owner: Owner::DirOwner,
            max_bytes,
        }
    }

    pub fn owned_by(uid: u32, whose: &'static str, max_bytes: u64) -> Rules {
        Rules {
            owner: Owner::Uid { uid, whose },
            max_bytes,
        }
    }
}

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
    fn open_parent_of(path: &Path) -> Result<(Dir, &OsStr), GuardError> {
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

/// A file that passed the checks, not read yet.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub path: PathBuf,
    /// Its size when it was checked.
    pub size: u64,
}

impl Opened {
    /// Reads it whole, refusing it when it is (or grows, while being read) larger than `max`.
    pub fn read_all(self, max: u64) -> Result<Vec<u8>, GuardError> {
        if self.size > max {
            return Err(GuardError::TooLarge {
                path: self.path,
                max,
                grew: false,
            });
        }
        let mut buf = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
        // One byte past `max` tells a file that grew after the check.
        self.file
            .take(max.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| GuardError::io(self.path.clone(), "read", e))?;
        if buf.len() as u64 > max {
            return Err(GuardError::TooLarge {
                path: self.path,
                max,
                grew: true,
            });
        }
        Ok(buf)
    }
}

/// Refuses a directory other users may write to (see `Dir::check_private`), or that is not
/// one; symlinks to it are followed (a state dir named by an admin may be one).
pub fn check_private_dir(path: &Path) -> Result<(), GuardError> {
    let st = nix::sys::stat::stat(path)
        .map_err(|e| GuardError::io(path.to_owned(), "stat", e.into()))?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFDIR {
        return Err(GuardError::NotADirectory {
            path: path.to_owned(),
        });
    }
    if st.st_mode & 0o002 != 0 {
        return Err(GuardError::WritableByOthers {
            dir: path.to_owned(),
            mode: st.st_mode & 0o7777,
        });
    }
    Ok(())
}

/// Opens `path` under `rules` (see the module doc). The directory holding it may be reached
/// through symlinks; the file itself may not be one.
pub fn open(path: &Path, owner: &Owner) -> Result<Opened, GuardError> {
    let (dir, name) = Dir::open_parent_of(path)?;
    let mut opened = dir.open(name, owner)?;
    opened.path = path.to_owned();
    Ok(opened)
}

/// Reads all of `path` under `rules`.
pub fn read(path: &Path, rules: &Rules) -> Result<Vec<u8>, GuardError> {
    open(path, &rules.owner)?.read_all(rules.max_bytes)
}

/// The checks on a file's `stat`: regular, one link, owned by one of `expected`.
pub fn check_stat(
    path: &Path,
    st: &FileStat,
    expected: &[u32],
    whose: &'static str,
) -> Result<(), GuardError> {
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFLNK {
        return Err(GuardError::Symlink {
            path: path.to_owned(),
        });
    }
    if kind != SFlag::S_IFREG {
        return Err(GuardError::NotRegular {
            path: path.to_owned(),
            kind: kind_name(kind),
        });
    }
    #[allow(clippy::useless_conversion)] // nlink_t is u32 on some targets, u64 here.
    let nlink = u64::from(st.st_nlink);
    if nlink == 0 {
        // Unlinked between open and fstat: for the caller the file is gone.
        return Err(GuardError::NotFound {
            path: path.to_owned(),
        });
    }
    if nlink != 1 {
        return Err(GuardError::HardLinks {
            path: path.to_owned(),
            nlink,
        });
    }
    if !expected.contains(&st.st_uid) {
        return Err(GuardError::WrongOwner {
            path: path.to_owned(),
            uid: st.st_uid,
            expected: expected.to_vec(),
            whose,
        });
    }
    Ok(())
}

pub fn kind_name(kind: SFlag) -> &'static str {
    match kind {
        SFlag::S_IFDIR => "directory",
        SFlag::S_IFIFO => "FIFO",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFCHR => "character device",
        SFlag::S_IFBLK => "block device",
        SFlag::S_IFLNK => "symlink",
        _ => "special file",
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
