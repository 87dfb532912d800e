//! Errors of the SQLite store reader. Like the JSONL reader's, each message names the file, says
//! what was wrong and what happens next: the daemon runs unattended and its log is all an
//! operator sees. None of them quotes stored content.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database (or its `agent/` dir) is not there (yet): a gateway of 2026.8+ creates it on
    /// its first start, so callers wait for it rather than report a failure.
    #[error("{path} does not exist (yet): waiting for the gateway to create it")]
    NotFound { path: PathBuf },

    /// Transient: the file is being created, or the WAL files a read-only reader needs are not
    /// there. Opening it anyway would make SQLite create them (as root) or fail (without
    /// CAP_DAC_OVERRIDE), so the caller retries when the gateway next touches the directory.
    #[error("{path} cannot be read yet: {why}; retrying once the gateway writes it")]
    NotReady { path: PathBuf, why: &'static str },

    /// The gateway held a lock through every retry; the caller tries again at the next event.
    #[error(
        "{path} stayed locked by the gateway through {tries} tries; retrying at the next change",
        tries = super::BUSY_TRIES
    )]
    Busy { path: PathBuf },

    /// Tables or columns this reader relies on are missing, or the schema is older than any
    /// release that wrote this store. Also what a database in the middle of a migration looks
    /// like. The caller reports it once and skips the database until it changes.
    #[error(
        "{path} has an OpenClaw agent schema this reader does not know ({found}); skipping it \
         (upgrade openclaw-livestatus if OpenClaw was upgraded)"
    )]
    UnknownSchema { path: PathBuf, found: String },

    /// Refused by the guarded reader's checks: a symlink, not a regular file, hard links, a
    /// foreign owner.
    #[error(transparent)]
    Refused(crate::guarded::GuardError),

    #[error(
        "{path} was replaced while it was being opened: refusing it; it is opened again at the next change"
    )]
    Replaced { path: PathBuf },

    #[error("{path}: {op} failed: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: SQLite read failed: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Worth trying again at the next change of the directory (as opposed to a refusal or a
    /// schema the reader cannot use).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound { .. }
                | StoreError::NotReady { .. }
                | StoreError::Busy { .. }
                | StoreError::Replaced { .. }
        )
    }

    pub(super) fn io(path: PathBuf, op: &'static str, source: std::io::Error) -> StoreError {
        if source.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound { path }
        } else {
            StoreError::Io { path, op, source }
        }
    }
}

impl From<crate::guarded::GuardError> for StoreError {
    fn from(e: crate::guarded::GuardError) -> StoreError {
        match e {
            crate::guarded::GuardError::NotFound { path } => StoreError::NotFound { path },
            other => StoreError::Refused(other),
        }
    }
}
