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

    /// Refused by the guarded reader: a symlink, not a regular file, hard links, a foreign
    /// owner, a dir others may write, too large.
    #[error(transparent)]
    Refused(crate::guarded::GuardError),

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

    /// Refused, as opposed to absent or failing to read: reported once, not per event.
    pub fn is_refusal(&self) -> bool {
        matches!(self, TailError::Refused(_))
    }

    pub(crate) fn io(path: PathBuf, op: &'static str, source: std::io::Error) -> TailError {
        if source.kind() == std::io::ErrorKind::NotFound {
            TailError::NotFound { path }
        } else {
            TailError::Io { path, op, source }
        }
    }
}

impl From<crate::guarded::GuardError> for TailError {
    fn from(e: crate::guarded::GuardError) -> TailError {
        match e {
            crate::guarded::GuardError::NotFound { path } => TailError::NotFound { path },
            other => TailError::Refused(other),
        }
    }
}
