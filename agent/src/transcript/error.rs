//! Errors of the transcript readers. Each message names the file, says what was wrong, and what
//! happens next, because the daemon runs unattended and its log is all an operator sees.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// Distinct from the other errors: for a brand-new session the lock file comes first and the
    /// transcript appears only once the first assistant message is complete, so callers wait.
    #[error("{path} does not exist (yet): waiting for the gateway to create it")]
    NotFound { path: PathBuf },

    #[error(
        "{name:?} is not a plain file name in {dir}: refusing to open it (names must be one path \
         component, not empty, '.' or '..')"
    )]
    BadName { dir: PathBuf, name: String },

    #[error(
        "{path} is a symlink: refusing to follow it (transcripts must be regular files and session \
         dirs real directories)"
    )]
    Symlink { path: PathBuf },

    #[error("{path} is a {kind}, not a regular file: refusing to read it")]
    NotRegular { path: PathBuf, kind: &'static str },

    #[error("{path} is not a directory: refusing to use it as a sessions dir")]
    NotADirectory { path: PathBuf },

    #[error(
        "{path} has {nlink} hard links: refusing to read it (a transcript must have exactly one \
         link, or it may be somebody else's file linked in)"
    )]
    HardLinks { path: PathBuf, nlink: u64 },

    #[error(
        "{path} is owned by uid {uid} but the sessions dir is owned by uid {dir_uid}: refusing to \
         read it (the gateway's user must own its own files; fix the owner)"
    )]
    WrongOwner {
        path: PathBuf,
        uid: u32,
        dir_uid: u32,
    },

    #[error(
        "sessions dir {path} is owned by uid {uid}, expected uid {expected} (the state dir's \
         owner): refusing to read it (is it a link into another user's state?)"
    )]
    DirOwner {
        path: PathBuf,
        uid: u32,
        expected: u32,
    },

    #[error("{path} resolves outside the sessions dir or onto another mount: refusing to open it")]
    Escapes { path: PathBuf },

    #[error("{path} is {size} bytes, over the {max}-byte limit for this file: refusing to read it")]
    TooLarge { path: PathBuf, size: u64, max: u64 },

    #[error("{path}: {op} failed: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl TailError {
    /// The file (or dir) is not there: wait for it rather than report a failure.
    pub fn is_not_found(&self) -> bool {
        matches!(self, TailError::NotFound { .. })
    }

    pub(crate) fn io(path: PathBuf, op: &'static str, source: std::io::Error) -> TailError {
        if source.kind() == std::io::ErrorKind::NotFound {
            TailError::NotFound { path }
        } else {
            TailError::Io { path, op, source }
        }
    }
}
