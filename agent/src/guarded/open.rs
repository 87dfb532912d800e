//! What a guarded read is held to (owner, size), the checks on a file's `stat`, and reading an
//! opened file no further than its bound.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::sys::stat::{FileStat, SFlag};

use super::{Dir, GuardError};

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

/// Opens `path` and checks it (see the module doc), `owner` owning it. The directory holding it
/// may be reached through symlinks (an admin's paths may); the file itself may not be one.
pub fn open(path: &Path, owner: &Owner) -> Result<Opened, GuardError> {
    let (dir, name) = Dir::open_parent_of(path)?;
    let mut opened = dir.open(name, owner)?;
    opened.path = path.to_owned();
    Ok(opened)
}

/// Opens, checks and reads all of `path` as `rules` say.
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
