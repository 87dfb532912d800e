//! Opening a user's store: the filesystem checks a privileged reader owes the user, and a
//! connection that can never write.
//!
//! How SQLite behaves here (checked on the recorded databases with SQLite 3.40 and the bundled
//! 3.46, files of another uid, as root with and without CAP_DAC_OVERRIDE/CAP_CHOWN, and with a
//! writer of that uid committing while the reader followed):
//! - The gateway keeps `-wal` and `-shm` beside the database, also after a clean shutdown
//!   (2026.9.6 leaves a 0-byte `-wal` and the `-shm`). A read-only connection reads them: rows
//!   still in the WAL are seen, so the database must never be opened `immutable`.
//! - If either file is missing, SQLite running as root creates what it needs (a 0-byte `-wal`,
//!   and a `-shm` unless `readonly_shm` is set; chowned to the database's owner), and running
//!   without CAP_DAC_OVERRIDE fails ("attempt to write a readonly database" / "unable to open
//!   database file"). So a missing `-wal`/`-shm` is `NotReady` here, checked before SQLite sees
//!   the path: the reader creates nothing.
//! - `-shm` owned by the gateway's user and not writable for the daemon (the daemon keeps only
//!   CAP_DAC_READ_SEARCH): SQLite falls back to a read-only shared-memory index and reads work.
//!   The connection asks for that mode from the start (`readonly_shm=1`), so it behaves the same
//!   before and after the capability drop and never writes the `-shm` (no read marks, no WAL
//!   index recovery): it cannot disturb the gateway's locking state.
//! - While this connection is open it holds a shared lock on the database, so the gateway's
//!   last connection does not checkpoint-and-remove the WAL on close (an explicit
//!   `wal_checkpoint(TRUNCATE)` still succeeds between reads); the next gateway start
//!   checkpoints it instead. Nothing is lost.

use std::fs::Metadata;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::guarded::{self, GuardError, Owner, check_stat};

use super::error::StoreError;

/// How long one statement waits on a gateway lock before SQLITE_BUSY: short, the caller retries.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_millis(50);

/// Offset 18 of the SQLite header: the file format version for reads, 2 = WAL.
const WAL_FORMAT: u8 = 2;
const HEADER_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// What the checks saw of the database file; compared again after SQLite opened it, so a file
/// swapped in between is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
}

/// How a store with no `-wal`/`-shm` beside it is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Missing {
    /// `NotReady`: a follower waits for the gateway to open it.
    Wait,
    /// Read as an immutable snapshot: with no WAL every committed row is in the main file. For a
    /// one-shot reader of a copied or restored state dir (`replay`), never for a follower, which
    /// would miss what a gateway opening it later commits to the WAL.
    Snapshot,
}

/// Checks `db_path` and opens a read-only connection to it.
pub(super) fn open_read_only(db_path: &Path, missing: Missing) -> Result<Connection, StoreError> {
    let agent_dir = match db_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let dir_meta = lstat(agent_dir)?;
    if dir_meta.file_type().is_symlink() {
        return Err(GuardError::Symlink {
            path: agent_dir.to_owned(),
        }
        .into());
    }
    if !dir_meta.is_dir() {
        return Err(GuardError::NotADirectory {
            path: agent_dir.to_owned(),
        }
        .into());
    }
    let (before, snapshot) = match check_db_file(db_path, dir_meta.uid()) {
        Ok(identity) => (identity, false),
        Err(StoreError::NotReady { .. })
            if missing == Missing::Snapshot && main_file_is_whole(db_path) =>
        {
            (identity(&lstat(db_path)?), true)
        }
        Err(e) => return Err(e),
    };

    // SQLite opens by name: give it a path without symlinks and forbid them
    // (SQLITE_OPEN_NOFOLLOW), so a component swapped for a symlink after the checks is refused.
    let file_name = db_path.file_name().ok_or_else(|| GuardError::NotRegular {
        path: db_path.to_owned(),
        kind: "directory",
    })?;
    let canonical = std::fs::canonicalize(agent_dir)
        .map_err(|e| StoreError::io(agent_dir.to_owned(), "resolve", e))?
        .join(file_name);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let conn =
        Connection::open_with_flags(read_only_uri(&canonical, snapshot), flags).map_err(|e| {
            StoreError::Sqlite {
                path: db_path.to_owned(),
                source: e,
            }
        })?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| StoreError::Sqlite {
            path: db_path.to_owned(),
            source: e,
        })?;
    // The schema is the user's: views or triggers there must not reach functions with side
    // effects. Connection-local, writes nothing.
    conn.pragma_update(None, "trusted_schema", false)
        .map_err(|e| StoreError::Sqlite {
            path: db_path.to_owned(),
            source: e,
        })?;

    let after = identity(&lstat(db_path)?);
    if after != before {
        return Err(StoreError::Replaced {
            path: db_path.to_owned(),
        });
    }
    Ok(conn)
}

/// When a read fails right after opening, this tells whether the WAL files vanished meanwhile
/// (the gateway's owner cleaned up), which is `NotReady`, not a failure.
pub(super) fn missing_wal_files(db_path: &Path) -> Option<StoreError> {
    for (suffix, why) in WAL_FILES {
        let path = sibling(db_path, suffix);
        if matches!(std::fs::symlink_metadata(&path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
        {
            return Some(StoreError::NotReady {
                path: db_path.to_owned(),
                why,
            });
        }
    }
    None
}

const WAL_FILES: [(&str, &str); 2] = [
    (
        "-wal",
        "no -wal beside it (not opened by a gateway since it was created, copied or restored)",
    ),
    (
        "-shm",
        "no -shm beside it (not opened by a gateway since it was created, copied or restored)",
    ),
];

/// The database file: regular, one link, owned by the agent dir's owner; in WAL mode, its
/// `-wal` and `-shm` must exist and pass the same checks.
fn check_db_file(db_path: &Path, dir_uid: u32) -> Result<Identity, StoreError> {
    let identity = check_owned_file(db_path, dir_uid)?;
    match read_header_format(db_path, identity, dir_uid)? {
        Header::TooShort => Err(StoreError::NotReady {
            path: db_path.to_owned(),
            why: "shorter than an SQLite header (being created)",
        }),
        Header::NotSqlite => Err(StoreError::UnknownSchema {
            path: db_path.to_owned(),
            found: "not an SQLite 3 database".to_owned(),
        }),
        Header::Format(format) => {
            if format == WAL_FORMAT {
                for (suffix, why) in WAL_FILES {
                    let path = sibling(db_path, suffix);
                    match check_owned_file(&path, dir_uid) {
                        Ok(_) => {}
                        Err(StoreError::NotFound { .. }) => {
                            return Err(StoreError::NotReady {
                                path: db_path.to_owned(),
                                why,
                            });
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            Ok(identity)
        }
    }
}

/// The guarded reader's checks on a file SQLite opens by name (`-wal`, `-shm`) or the database.
fn check_owned_file(path: &Path, dir_uid: u32) -> Result<Identity, StoreError> {
    let st = nix::sys::stat::lstat(path)
        .map_err(|e| StoreError::io(path.to_owned(), "stat", e.into()))?;
    check_stat(path, &st, &[dir_uid], WHOSE)?;
    Ok(Identity {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

const WHOSE: &str = "the owner of its agent dir";

/// Whether the main file alone holds every committed row: a complete header (the database is
/// not being created) and no WAL content (a `-shm` alone missing must not hide a WAL's rows).
fn main_file_is_whole(db_path: &Path) -> bool {
    let header = lstat(db_path)
        .and_then(|meta| read_header_format(db_path, identity(&meta), meta.uid()))
        .is_ok_and(|h| matches!(h, Header::Format(_)));
    let wal_empty = match std::fs::symlink_metadata(sibling(db_path, "-wal")) {
        Ok(meta) => meta.is_file() && meta.len() == 0,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    header && wal_empty
}

enum Header {
    TooShort,
    NotSqlite,
    Format(u8),
}

/// Reads the first 100 bytes through the guarded reader, from the very file `expected` names.
fn read_header_format(path: &Path, expected: Identity, owner: u32) -> Result<Header, StoreError> {
    let owner = Owner::Uid {
        uid: owner,
        whose: WHOSE,
    };
    let file = guarded::open(path, &owner)?.file;
    let opened = file
        .metadata()
        .map_err(|e| StoreError::io(path.to_owned(), "stat", e))?;
    if identity(&opened) != expected {
        return Err(StoreError::Replaced {
            path: path.to_owned(),
        });
    }
    let mut header = [0u8; 100];
    let mut filled = 0;
    let mut reader = file.take(header.len() as u64);
    loop {
        match reader.read(&mut header[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StoreError::io(path.to_owned(), "read", e)),
        }
    }
    if filled < header.len() {
        return Ok(Header::TooShort);
    }
    if &header[..16] != HEADER_MAGIC {
        return Ok(Header::NotSqlite);
    }
    Ok(Header::Format(header[18]))
}

fn lstat(path: &Path) -> Result<Metadata, StoreError> {
    std::fs::symlink_metadata(path).map_err(|e| StoreError::io(path.to_owned(), "stat", e))
}

fn identity(meta: &Metadata) -> Identity {
    Identity {
        dev: meta.dev(),
        ino: meta.ino(),
    }
}

pub(super) fn sibling(db_path: &Path, suffix: &str) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A `file:` URI for `path` with every byte outside the unreserved set percent-encoded (a `?`
/// or `%` in a directory name must not be read as URI syntax).
fn read_only_uri(path: &Path, immutable: bool) -> String {
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str(if immutable {
        "?mode=ro&immutable=1"
    } else {
        "?mode=ro&readonly_shm=1"
    });
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_escapes_what_sqlite_would_parse() {
        assert_eq!(
            read_only_uri(Path::new("/home/a b/x?y%z#/db.sqlite"), false),
            "file:/home/a%20b/x%3Fy%25z%23/db.sqlite?mode=ro&readonly_shm=1"
        );
    }
}
