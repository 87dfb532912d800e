//! The one error of the guarded reader. Each message names the file, says what is wrong with it
//! and what to do, and quotes an OS error at most once: the OS error is part of the text, not a
//! `source` that `{:#}` would print a second time.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// Distinct from the refusals: a file that is not there (yet) is waited for, not reported.
    #[error("{path} does not exist")]
    NotFound { path: PathBuf },

    #[error(
        "{path} is a symlink: refusing to follow it (name the file itself, or replace the link \
         with the file)"
    )]
    Symlink { path: PathBuf },

    #[error(
        "{path} is a {kind}, not a regular file: refusing to read it (it must be a plain file)"
    )]
    NotRegular { path: PathBuf, kind: &'static str },

    #[error("{path} is not a directory: refusing to use it as one")]
    NotADirectory { path: PathBuf },

    #[error(
        "{path} has {nlink} hard links: refusing to read it (it may be another user's file linked \
         in; give it a single link, e.g. copy it and remove the other names)"
    )]
    HardLinks { path: PathBuf, nlink: u64 },

    #[error(
        "{path} is owned by uid {uid}, but {expected_is}: refusing to read it (fix the owner: \
         `chown {expected} {path}`)",
        expected_is = expected_owner(expected, whose),
        expected = expected.first().copied().unwrap_or(0),
    )]
    WrongOwner {
        path: PathBuf,
        uid: u32,
        /// The uids accepted (the first one is the one to chown to).
        expected: Vec<u32>,
        /// Whose files these are, e.g. "the sessions dir's owner".
        whose: &'static str,
    },

    #[error(
        "{dir} is writable by other users (mode {mode:o}): not following it, anyone could \
         replace the files in it; fix with `chmod o-w {dir}`"
    )]
    WritableByOthers { dir: PathBuf, mode: u32 },

    #[error(
        "{dir} is owned by uid {uid}, but {whose} is uid {expected}: refusing to use it (fix with \
         `chown {expected} {dir}`)"
    )]
    DirOwner {
        dir: PathBuf,
        uid: u32,
        expected: u32,
        whose: &'static str,
    },

    #[error("{path} resolves outside its directory or onto another mount: refusing to open it")]
    Escapes { path: PathBuf },

    #[error(
        "{path} is larger than the {max}-byte limit for this file{while_reading}: refusing to \
         read it (is it the right file?)",
        while_reading = if *grew { " (it grew while being read)" } else { "" }
    )]
    TooLarge { path: PathBuf, max: u64, grew: bool },

    #[error("{path}: cannot {op}: {error}")]
    Io {
        path: PathBuf,
        op: &'static str,
        error: std::io::Error,
    },
}

impl GuardError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, GuardError::NotFound { .. })
    }

    pub(super) fn io(path: PathBuf, op: &'static str, error: std::io::Error) -> GuardError {
        if error.kind() == std::io::ErrorKind::NotFound {
            GuardError::NotFound { path }
        } else {
            GuardError::Io { path, op, error }
        }
    }
}

fn expected_owner(expected: &[u32], whose: &str) -> String {
    match expected {
        [one] => format!("{whose} is uid {one}"),
        many => {
            let uids: Vec<String> = many.iter().map(u32::to_string).collect();
            format!("{whose} is one of uid {}", uids.join(", "))
        }
    }
}
