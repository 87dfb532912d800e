//! Opening users' session files safely. The daemon reads every user's transcripts with root's
//! (or CAP_DAC_READ_SEARCH's) rights, and the names it opens come from files those users write
//! (`sessionFile` in `sessions.json`). A user must not be able to make it read anything they
//! could not read themselves: so files are opened through the guarded reader (`crate::guarded`)
//! relative to the sessions dir's fd, never through a symlink or out of the dir, and only when
//! they are plain files with one link owned by the dir's owner, in a dir other users may not
//! write to.

use std::ffi::OsStr;
use std::fs::File;
use std::path::Path;

use crate::guarded::{Dir, GuardError, Owner};

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
    dir: Dir,
}

impl SessionsDir {
    /// Opens the directory at `path`. Its last component must not be a symlink (a user could
    /// point it at another user's sessions), and other users may not write to it; components
    /// above it are the caller's to vet, and `open_owned_by` lets the caller pin the owner it
    /// expects.
    pub fn open(path: &Path) -> Result<SessionsDir, TailError> {
        let dir = Dir::open_nofollow(path)?;
        dir.check_private()?;
        Ok(SessionsDir { dir })
    }

    /// Like `open`, and also requires the directory to belong to `uid` (the owner of the state
    /// dir it was found under), which defeats a sessions dir that is a link into someone else's
    /// state through a symlinked parent.
    pub fn open_owned_by(path: &Path, uid: u32) -> Result<SessionsDir, TailError> {
        let dir = SessionsDir::open(path)?;
        if dir.owner_uid() != uid {
            return Err(TailError::Refused(GuardError::DirOwner {
                dir: path.to_owned(),
                uid: dir.owner_uid(),
                expected: uid,
                whose: "the state dir's owner",
            }));
        }
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The uid every file read from this dir must belong to.
    pub fn owner_uid(&self) -> u32 {
        self.dir.owner_uid()
    }

    /// Opens `name` (one path component) read-only, refusing symlinks, anything outside the dir,
    /// non-regular files, files with more than one link, files not owned by the dir's owner, and
    /// any file once the dir has become writable by others.
    pub fn open_file(&self, name: &str) -> Result<File, TailError> {
        self.check_name(name)?;
        self.dir.check_private()?;
        Ok(self.dir.open(OsStr::new(name), &Owner::DirOwner)?.file)
    }

    /// Reads all of `name` (same checks as `open_file`) if it is at most `max` bytes: for
    /// `sessions.json` and lock files, which are read whole.
    pub fn read_small(&self, name: &str, max: usize) -> Result<Vec<u8>, TailError> {
        self.check_name(name)?;
        self.dir.check_private()?;
        let opened = self.dir.open(OsStr::new(name), &Owner::DirOwner)?;
        Ok(opened.read_all(u64::try_from(max).unwrap_or(u64::MAX))?)
    }

    /// Identity and size of `name` without opening it; `None` when it does not exist. The same
    /// checks as `open_file` apply (a symlink at the name is an error, not "absent").
    pub fn stat(&self, name: &str) -> Result<Option<(FileIdentity, u64)>, TailError> {
        self.check_name(name)?;
        let Some(st) = self.dir.stat(OsStr::new(name), &Owner::DirOwner)? else {
            return Ok(None);
        };
        let identity = FileIdentity {
            dev: st.st_dev,
            ino: st.st_ino,
        };
        Ok(Some((identity, u64::try_from(st.st_size).unwrap_or(0))))
    }

    fn check_name(&self, name: &str) -> Result<(), TailError> {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(TailError::BadName {
                dir: self.path().to_owned(),
                name: name.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt, symlink};

    use nix::errno::Errno;
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    fn setup() -> (tempfile::TempDir, SessionsDir) {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join("a.jsonl"), b"{\"type\":\"session\"}\n").expect("write");
        let dir = SessionsDir::open(tmp.path()).expect("open dir");
        (tmp, dir)
    }

    fn refusal<T: std::fmt::Debug>(r: Result<T, TailError>) -> GuardError {
        match r {
            Err(TailError::Refused(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
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
            refusal(dir.read_small("a.jsonl", 18)),
            GuardError::TooLarge { max: 18, .. }
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
            let err = refusal(dir.open_file(name));
            assert!(matches!(err, GuardError::Symlink { .. }), "{err}");
            assert!(
                err.to_string()
                    .contains("is a symlink: refusing to follow it")
            );
            assert!(matches!(
                refusal(dir.stat(name)),
                GuardError::Symlink { .. }
            ));
        }
        // The sessions dir itself may not be a symlink either.
        let other = tempfile::tempdir().expect("tempdir");
        let link = other.path().join("sessions");
        symlink(tmp.path(), &link).expect("symlink");
        assert!(matches!(
            refusal(SessionsDir::open(&link)),
            GuardError::Symlink { .. }
        ));
        assert!(matches!(
            refusal(SessionsDir::open(&tmp.path().join("a.jsonl"))),
            GuardError::NotADirectory { .. }
        ));
    }

    #[test]
    fn fallback_open_refuses_symlinks_too() {
        let (tmp, dir) = setup();
        symlink("/etc/passwd", tmp.path().join("out.jsonl")).expect("symlink");
        let raw = nix::fcntl::openat(
            Some(dir.dir.as_fd().as_raw_fd()),
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
            let err = refusal(dir.open_file(name));
            assert!(
                matches!(err, GuardError::HardLinks { nlink: 2, .. }),
                "{err}"
            );
            assert!(err.to_string().contains("has 2 hard links"));
        }
        assert!(matches!(
            refusal(dir.stat("b.jsonl")),
            GuardError::HardLinks { .. }
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
        let err = refusal(dir.open_file("a.jsonl"));
        assert!(
            matches!(&err, GuardError::WrongOwner { uid: 4242, expected, .. } if expected == &[dir.owner_uid()]),
            "{err}"
        );
        assert!(
            err.to_string().contains(&format!(
                "owned by uid 4242, but the owner of its directory is uid {}",
                dir.owner_uid()
            )),
            "{err}"
        );
        assert!(matches!(
            refusal(dir.stat("a.jsonl")),
            GuardError::WrongOwner { .. }
        ));

        // A dir owned by someone else than the state dir's owner is refused up front.
        let uid = dir.owner_uid();
        assert!(SessionsDir::open_owned_by(tmp.path(), uid).is_ok());
        assert!(matches!(
            refusal(SessionsDir::open_owned_by(tmp.path(), uid + 1)),
            GuardError::DirOwner { .. }
        ));
    }

    #[test]
    fn a_sessions_dir_others_may_write_is_not_followed() {
        use std::os::unix::fs::PermissionsExt;
        let (tmp, dir) = setup();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        // Refused at open, and for a dir opened before the chmod, at its next file.
        let at_open = refusal(SessionsDir::open(tmp.path()));
        assert!(
            matches!(at_open, GuardError::WritableByOthers { .. }),
            "{at_open}"
        );
        assert!(matches!(
            refusal(dir.open_file("a.jsonl")),
            GuardError::WritableByOthers { .. }
        ));
        assert!(
            at_open
                .to_string()
                .contains(&format!("chmod o-w {}", tmp.path().display()))
        );
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
            refusal(dir.open_file("sub")),
            GuardError::NotRegular {
                kind: "directory",
                ..
            }
        ));
    }

    #[test]
    fn fifo_refused_without_blocking() {
        let (tmp, dir) = setup();
        nix::unistd::mkfifo(&tmp.path().join("f.jsonl"), Mode::S_IRWXU).expect("mkfifo");
        assert!(matches!(
            refusal(dir.open_file("f.jsonl")),
            GuardError::NotRegular { kind: "FIFO", .. }
        ));
    }
}
