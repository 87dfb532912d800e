//! Opening users' session files safely. The daemon reads every user's transcripts with root's
//! (or CAP_DAC_READ_SEARCH's) rights, and the names it opens come from files those users write
//! (`sessions.json`'s `sessionFile`). A user must not be able to make it read anything they could
//! not read themselves: so files are opened relative to the sessions dir's fd, never through a
//! symlink or out of the dir, and only when they are plain files with one link owned by the
//! dir's owner.

use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};

use super::error::TailError;

/// Which file a path named when it was opened: a rename keeps it, a rewrite or a successor file
/// changes it. Persisted with the offset, so a restart resumes only on the very same file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
}

/// An open `<state>/agents/<id>/sessions` directory: the anchor every file is opened beneath.
#[derive(Debug)]
pub struct SessionsDir {
    /// O_PATH: enough to resolve names beneath it, no right to read its entries by itself.
    fd: OwnedFd,
    uid: u32,
    path: PathBuf,
}

/// Set once openat2 turned out to be missing (kernel < 5.6, or a seccomp filter), so later opens
/// go straight to the single-component openat fallback.
static OPENAT2_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

impl SessionsDir {
    /// Opens the directory at `path`. Its last component must not be a symlink (a user could
    /// point it at another user's sessions); components above it are the caller's to vet, and
    /// `open_owned_by` lets the caller pin the owner it expects.
    pub fn open(path: &Path) -> Result<SessionsDir, TailError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| dir_open_error(path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| TailError::io(path.to_owned(), "stat sessions dir", e))?;
        if !meta.is_dir() {
            return Err(TailError::NotADirectory {
                path: path.to_owned(),
            });
        }
        Ok(SessionsDir {
            fd: OwnedFd::from(file),
            uid: meta.uid(),
            path: path.to_owned(),
        })
    }

    /// Like `open`, and also requires the directory to belong to `uid` (the owner of the state
    /// dir it was found under), which defeats a sessions dir that is a link into someone else's
    /// state through a symlinked parent.
    pub fn open_owned_by(path: &Path, uid: u32) -> Result<SessionsDir, TailError> {
        let dir = SessionsDir::open(path)?;
        if dir.uid != uid {
            return Err(TailError::DirOwner {
                path: path.to_owned(),
                uid: dir.uid,
                expected: uid,
            });
        }
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The uid every file read from this dir must belong to.
    pub fn owner_uid(&self) -> u32 {
        self.uid
    }

    /// Opens `name` (one path component) read-only, refusing symlinks, anything outside the dir,
    /// non-regular files, files with more than one link, and files not owned by the dir's owner.
    pub fn open_file(&self, name: &str) -> Result<File, TailError> {
        self.check_name(name)?;
        let path = self.path.join(name);
        let fd = self
            .open_fd(name)
            .map_err(|errno| open_error(&path, errno))?;
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| TailError::io(path.clone(), "stat", e))?;
        self.check(&path, &Meta::from_metadata(&meta))?;
        Ok(file)
    }

    /// Reads all of `name` (same checks as `open_file`) if it is at most `max` bytes: for
    /// `sessions.json` and lock files, which are read whole.
    pub fn read_small(&self, name: &str, max: usize) -> Result<Vec<u8>, TailError> {
        let file = self.open_file(name)?;
        let path = self.path.join(name);
        let max64 = u64::try_from(max).unwrap_or(u64::MAX);
        let size = file
            .metadata()
            .map_err(|e| TailError::io(path.clone(), "stat", e))?
            .len();
        if size > max64 {
            return Err(TailError::TooLarge {
                path,
                size,
                max: max64,
            });
        }
        // The file may grow between fstat and read; reading one byte past `max` tells.
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(max).min(max));
        file.take(max64.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| TailError::io(path.clone(), "read", e))?;
        if buf.len() > max {
            return Err(TailError::TooLarge {
                path,
                size: buf.len() as u64,
                max: max64,
            });
        }
        Ok(buf)
    }

    /// Identity and size of `name` without opening it; `None` when it does not exist. The same
    /// checks as `open_file` apply (a symlink at the name is an error, not "absent").
    pub fn stat(&self, name: &str) -> Result<Option<(FileIdentity, u64)>, TailError> {
        self.check_name(name)?;
        let path = self.path.join(name);
        let st = match nix::sys::stat::fstatat(
            Some(self.fd.as_raw_fd()),
            OsStr::new(name),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return Ok(None),
            Err(errno) => return Err(TailError::io(path, "stat", errno.into())),
        };
        #[allow(clippy::useless_conversion)] // nlink_t is u32 on some targets, u64 here.
        let meta = Meta {
            mode: st.st_mode,
            nlink: u64::from(st.st_nlink),
            uid: st.st_uid,
        };
        self.check(&path, &meta)?;
        let identity = FileIdentity {
            dev: st.st_dev,
            ino: st.st_ino,
        };
        Ok(Some((identity, u64::try_from(st.st_size).unwrap_or(0))))
    }

    fn check_name(&self, name: &str) -> Result<(), TailError> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(TailError::BadName {
                dir: self.path.clone(),
                name: name.to_owned(),
            });
        }
        Ok(())
    }

    fn open_fd(&self, name: &str) -> Result<OwnedFd, Errno> {
        // O_NONBLOCK: opening a FIFO planted under a transcript's name must not hang the daemon
        // (it is then refused as not regular). It does not change reads of regular files.
        let flags = OFlag::O_RDONLY
            | OFlag::O_CLOEXEC
            | OFlag::O_NOFOLLOW
            | OFlag::O_NOCTTY
            | OFlag::O_NONBLOCK;
        let raw = if OPENAT2_UNAVAILABLE.load(Ordering::Relaxed) {
            None
        } else {
            let how = OpenHow::new().flags(flags).resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS
                    | ResolveFlag::RESOLVE_NO_XDEV,
            );
            match nix::fcntl::openat2(self.fd.as_raw_fd(), OsStr::new(name), how) {
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
            // `name` is one component (check_name), so O_NOFOLLOW on it gives what the resolve
            // flags give: no symlink followed, nothing outside the dir.
            None => nix::fcntl::openat(
                Some(self.fd.as_raw_fd()),
                OsStr::new(name),
                flags,
                Mode::empty(),
            )?,
        };
        // SAFETY: `raw` was just returned by a successful openat2/openat, so it is an open fd
        // that nothing else owns; OwnedFd takes sole ownership and closes it exactly once.
        Ok(unsafe { OwnedFd::from_raw_fd(raw) })
    }

    fn check(&self, path: &Path, meta: &Meta) -> Result<(), TailError> {
        let kind = SFlag::from_bits_truncate(meta.mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFLNK {
            return Err(TailError::Symlink {
                path: path.to_owned(),
            });
        }
        if kind != SFlag::S_IFREG {
            return Err(TailError::NotRegular {
                path: path.to_owned(),
                kind: kind_name(kind),
            });
        }
        let nlink = meta.nlink;
        if nlink == 0 {
            // Unlinked between open and fstat: for the caller the file is gone.
            return Err(TailError::NotFound {
                path: path.to_owned(),
            });
        }
        if nlink != 1 {
            return Err(TailError::HardLinks {
                path: path.to_owned(),
                nlink,
            });
        }
        if meta.uid != self.uid {
            return Err(TailError::WrongOwner {
                path: path.to_owned(),
                uid: meta.uid,
                dir_uid: self.uid,
            });
        }
        Ok(())
    }
}

/// The fields the checks need, from either fstat (open files) or fstatat (names).
struct Meta {
    mode: libc::mode_t,
    nlink: u64,
    uid: u32,
}

impl Meta {
    fn from_metadata(m: &Metadata) -> Meta {
        Meta {
            mode: m.mode(),
            nlink: m.nlink(),
            uid: m.uid(),
        }
    }
}

fn kind_name(kind: SFlag) -> &'static str {
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

fn open_error(path: &Path, errno: Errno) -> TailError {
    let path = path.to_owned();
    match errno {
        Errno::ENOENT => TailError::NotFound { path },
        // O_NOFOLLOW and RESOLVE_NO_SYMLINKS both answer ELOOP.
        Errno::ELOOP => TailError::Symlink { path },
        Errno::EXDEV => TailError::Escapes { path },
        Errno::ENXIO | Errno::ENODEV => TailError::NotRegular {
            path,
            kind: "socket or device",
        },
        Errno::EISDIR => TailError::NotRegular {
            path,
            kind: "directory",
        },
        other => TailError::io(path, "open", other.into()),
    }
}

fn dir_open_error(path: &Path, err: std::io::Error) -> TailError {
    match Errno::from_raw(err.raw_os_error().unwrap_or(0)) {
        Errno::ENOTDIR => {
            // O_PATH|O_NOFOLLOW opens a symlink itself, and O_DIRECTORY then refuses it; tell a
            // symlink from a plain file for the message.
            let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link {
                TailError::Symlink {
                    path: path.to_owned(),
                }
            } else {
                TailError::NotADirectory {
                    path: path.to_owned(),
                }
            }
        }
        Errno::ELOOP => TailError::Symlink {
            path: path.to_owned(),
        },
        _ => TailError::io(path.to_owned(), "open sessions dir", err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn setup() -> (tempfile::TempDir, SessionsDir) {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("a.jsonl"), b"{\"type\":\"session\"}\n").expect("write");
        let dir = SessionsDir::open(tmp.path()).expect("open dir");
        (tmp, dir)
    }

    #[test]
    fn opens_and_stats_a_plain_file() {
        let (tmp, dir) = setup();
        let mut s = String::new();
        dir.open_file("a.jsonl")
            .expect("open")
            .read_to_string(&mut s)
            .expect("read");
        assert_eq!(s, "{\"type\":\"session\"}\n");
        let meta = std::fs::metadata(tmp.path().join("a.jsonl")).expect("meta");
        let (id, size) = dir.stat("a.jsonl").expect("stat").expect("present");
        assert_eq!(
            id,
            FileIdentity {
                dev: meta.dev(),
                ino: meta.ino()
            }
        );
        assert_eq!(size, 19);
        assert_eq!(dir.read_small("a.jsonl", 19).expect("fits"), s.as_bytes());
        assert!(matches!(
            dir.read_small("a.jsonl", 18),
            Err(TailError::TooLarge {
                size: 19,
                max: 18,
                ..
            })
        ));
        assert_eq!(dir.path(), tmp.path());
        assert_eq!(dir.owner_uid(), meta.uid());
    }

    #[test]
    fn missing_is_not_found() {
        let (_tmp, dir) = setup();
        let err = dir.open_file("nope.jsonl").expect_err("missing");
        assert!(err.is_not_found(), "{err}");
        assert!(dir.stat("nope.jsonl").expect("stat").is_none());
        assert!(
            dir.read_small("nope.jsonl", 10)
                .expect_err("missing")
                .is_not_found()
        );
        assert!(
            SessionsDir::open(Path::new("/nonexistent/sessions"))
                .expect_err("missing dir")
                .is_not_found()
        );
    }

    #[test]
    fn symlink_refused() {
        let (tmp, dir) = setup();
        symlink("a.jsonl", tmp.path().join("link.jsonl")).expect("symlink");
        symlink("/etc/passwd", tmp.path().join("out.jsonl")).expect("symlink");
        for name in ["link.jsonl", "out.jsonl"] {
            let err = dir.open_file(name).expect_err("symlink");
            assert!(matches!(err, TailError::Symlink { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("is a symlink: refusing to follow it")
            );
            assert!(matches!(dir.stat(name), Err(TailError::Symlink { .. })));
        }
        // The sessions dir itself may not be a symlink either.
        let other = tempfile::tempdir().expect("tempdir");
        let link = other.path().join("sessions");
        symlink(tmp.path(), &link).expect("symlink");
        assert!(matches!(
            SessionsDir::open(&link),
            Err(TailError::Symlink { .. })
        ));
        assert!(matches!(
            SessionsDir::open(&tmp.path().join("a.jsonl")),
            Err(TailError::NotADirectory { .. })
        ));
    }

    #[test]
    fn fallback_open_refuses_symlinks_too() {
        let (tmp, dir) = setup();
        symlink("/etc/passwd", tmp.path().join("out.jsonl")).expect("symlink");
        let raw = nix::fcntl::openat(
            Some(dir.fd.as_raw_fd()),
            OsStr::new("out.jsonl"),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        );
        assert_eq!(raw.err(), Some(Errno::ELOOP));
    }

    #[test]
    fn hard_link_refused() {
        let (tmp, dir) = setup();
        std::fs::hard_link(tmp.path().join("a.jsonl"), tmp.path().join("b.jsonl")).expect("link");
        for name in ["a.jsonl", "b.jsonl"] {
            let err = dir.open_file(name).expect_err("two links");
            assert!(
                matches!(err, TailError::HardLinks { nlink: 2, .. }),
                "{err}"
            );
            assert!(err.to_string().contains("has 2 hard links"));
        }
        assert!(matches!(
            dir.stat("b.jsonl"),
            Err(TailError::HardLinks { .. })
        ));
    }

    #[test]
    fn wrong_owner_refused() {
        if !is_root() {
            eprintln!("skipped: chown needs root");
            return;
        }
        let (tmp, dir) = setup();
        let path = tmp.path().join("a.jsonl");
        std::os::unix::fs::chown(&path, Some(4242), None).expect("chown");
        let err = dir.open_file("a.jsonl").expect_err("other owner");
        assert!(
            matches!(err, TailError::WrongOwner { uid: 4242, dir_uid, .. } if dir_uid == dir.owner_uid()),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("owned by uid 4242 but the sessions dir is owned by uid")
        );
        assert!(matches!(
            dir.stat("a.jsonl"),
            Err(TailError::WrongOwner { .. })
        ));

        // A dir owned by someone else than the state dir's owner is refused up front.
        let uid = dir.owner_uid();
        assert!(SessionsDir::open_owned_by(tmp.path(), uid).is_ok());
        assert!(matches!(
            SessionsDir::open_owned_by(tmp.path(), uid + 1),
            Err(TailError::DirOwner { .. })
        ));
    }

    #[test]
    fn names_must_be_one_component() {
        let (tmp, dir) = setup();
        std::fs::create_dir(tmp.path().join("sub")).expect("mkdir");
        std::fs::write(tmp.path().join("sub/x"), b"x").expect("write");
        for name in ["../x", "..", ".", "", "sub/x", "/etc/passwd", "a\0b"] {
            let err = dir.open_file(name).expect_err(name);
            assert!(matches!(err, TailError::BadName { .. }), "{name:?}: {err}");
            assert!(matches!(dir.stat(name), Err(TailError::BadName { .. })));
        }
        assert!(matches!(
            dir.open_file("sub"),
            Err(TailError::NotRegular {
                kind: "directory",
                ..
            })
        ));
    }

    #[test]
    fn fifo_refused_without_blocking() {
        let (tmp, dir) = setup();
        nix::unistd::mkfifo(&tmp.path().join("f.jsonl"), Mode::S_IRWXU).expect("mkfifo");
        assert!(matches!(
            dir.open_file("f.jsonl"),
            Err(TailError::NotRegular { kind: "FIFO", .. })
        ));
    }
}
