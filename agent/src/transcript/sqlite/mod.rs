//! Reader of the SQLite session store of OpenClaw 2026.8+:
//! `<state>/agents/<id>/agent/openclaw-agent.sqlite`, which replaces `sessions.json` and the
//! per-session `.jsonl` files. It lists the sessions with their Mattermost routes and hands out
//! each session's transcript rows, after a cursor, as the same `TranscriptRecord`s the JSONL
//! tailer produces.
//!
//! The gateway owns the database and writes it in WAL mode; this reader is never in its way:
//! - one read-only connection that cannot write even the shared-memory index (see `open`),
//!   no checkpoints, no `immutable` (rows live in the WAL until the gateway checkpoints);
//! - every call is one short read transaction: a consistent snapshot, released at once;
//! - a gateway lock is waited on for at most `BUSY_TIMEOUT`, three times, then `Busy`, and the
//!   caller tries again at the next change.
//!
//! - `open`: the filesystem checks and the connection.
//! - `schema`: what is read, checked before the first read and after any schema change.
//! - `events`: rows → records, cursors and rewrite generations.
//! - `payload`: `event_json`, or `event_zstd` decoded under a limit.
//! - `fork`: a thread session's copied parent history.
//! - `sessions`: `session_nodes` → sessions and routes.

mod error;
mod events;
mod fork;
mod open;
mod payload;
mod schema;
mod sessions;

#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, Transaction};

pub use error::StoreError;

use events::{BadRows, ReadStats, Reader};
use fork::ForkMemo;
use schema::Schema;

use crate::transcript::event::TranscriptRecord;

/// Tries of one call when the gateway holds a lock (each waits `open::BUSY_TIMEOUT`).
const BUSY_TRIES: u32 = 3;

/// One agent's store, open read-only.
pub struct AgentStore {
    conn: Connection,
    path: PathBuf,
    schema: Schema,
    forks: ForkMemo,
    bad_rows: BadRows,
    stats: ReadStats,
}

/// A session of the store: `session_nodes` row `key → current_session_id`, with the routing of
/// its entry.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreSession {
    pub key: String,
    /// The transcript now written under `key` (a reset or `/new` starts another one).
    pub session_id: String,
    /// The parent session's key, for a sub-agent.
    pub spawned_by: Option<String>,
    pub label: Option<String>,
    pub route: Option<crate::gateway::Route>,
}

/// Where reading a session's transcript stopped. Persist it to resume after a restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Which rewrite generation `last_seq` counts in (0: none recorded yet).
    pub generation: i64,
    /// The last seq handed out; -1 before anything was read.
    pub last_seq: i64,
}

impl Cursor {
    /// Before the first row.
    pub const START: Cursor = Cursor {
        generation: 0,
        last_seq: -1,
    };
}

/// By hand: a derived default would say `last_seq: 0`, which skips the header row (seq 0).
impl Default for Cursor {
    fn default() -> Cursor {
        Cursor::START
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub records: Vec<TranscriptRecord>,
    /// Where the next call continues: just past the last row read (a row that yields no record,
    /// like a `custom` entry, still moves it).
    pub cursor: Cursor,
    /// The generation changed (compaction, rewind) or the rows the cursor counted are gone:
    /// `records` restart at the beginning and are the WHOLE transcript, as far as this batch goes.
    pub rewritten: bool,
}

impl std::fmt::Debug for AgentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentStore")
            .field("path", &self.path)
            .field("schema_version", &self.schema.version)
            .finish_non_exhaustive()
    }
}

impl AgentStore {
    /// Opens `db_path` (`<state>/agents/<id>/agent/openclaw-agent.sqlite`) read-only after the
    /// checks a privileged reader owes the user: no symlink at it or at its `agent/` dir, a
    /// regular file with one link owned by the `agent/` dir's owner, and (WAL mode) a `-wal` and
    /// `-shm` of the same owner beside it. Then checks the schema.
    pub fn open(db_path: &Path) -> Result<AgentStore, StoreError> {
        AgentStore::open_with(db_path, open::Missing::Wait)
    }

    /// [`AgentStore::open`] for a one-shot read (`replay`): a store no gateway has opened since
    /// it was copied or restored (no `-wal`, no `-shm`) is read as it is instead of `NotReady`.
    pub fn open_snapshot(db_path: &Path) -> Result<AgentStore, StoreError> {
        AgentStore::open_with(db_path, open::Missing::Snapshot)
    }

    fn open_with(db_path: &Path, missing: open::Missing) -> Result<AgentStore, StoreError> {
        let conn = open::open_read_only(db_path, missing)?;
        let mut store = AgentStore {
            conn,
            path: db_path.to_owned(),
            schema: Schema {
                version: 0,
                cookie: i64::MIN,
                events_sql: String::new(),
                sessions_sql: String::new(),
                dm_channel_sql: None,
            },
            forks: ForkMemo::default(),
            bad_rows: BadRows::default(),
            stats: ReadStats::default(),
        };
        match store.read(|_, _| Ok(())) {
            Ok(()) => Ok(store),
            // The WAL files may have gone between the checks and SQLite's first read.
            Err(err @ StoreError::Sqlite { .. }) => {
                Err(open::missing_wal_files(db_path).unwrap_or(err))
            }
            Err(e) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The store's agent schema version (23 for OpenClaw 2026.9.6).
    pub fn schema_version(&self) -> i64 {
        self.schema.version
    }

    /// Current sessions (`session_nodes`: key → current_session_id, entry_json), sorted by key,
    /// with routing.
    pub fn sessions(&mut self) -> Result<Vec<StoreSession>, StoreError> {
        self.read(sessions::list)
    }

    /// Rows of `session_id` after `cursor` in `(session_id, seq)` order, decoded: at most `max`
    /// records per call (call again while `records.len() == max`). Rows that yield no record
    /// (entry types a box does not show, unreadable rows, which are logged) are passed over in
    /// the same call, so fewer than `max` records means nothing more is stored right now.
    pub fn read_new(
        &mut self,
        session_id: &str,
        cursor: Cursor,
        max: usize,
    ) -> Result<Batch, StoreError> {
        let AgentStore {
            conn,
            path,
            schema,
            forks,
            bad_rows,
            stats,
        } = self;
        read_txn(conn, path, schema, |tx, schema| {
            Reader {
                schema,
                forks,
                bad_rows,
                stats,
                path,
            }
            .read(tx, session_id, cursor, max)
        })
    }

    /// Everything stored for `session_id` after `cursor`, read in bounded queries so no
    /// transaction holds the gateway's store for long. After a rewrite (compaction, rewind)
    /// the records are the whole transcript and `rewritten` says so.
    pub fn read_all_after(
        &mut self,
        session_id: &str,
        mut cursor: Cursor,
    ) -> Result<Batch, StoreError> {
        const PER_QUERY: usize = 500;
        let mut records = Vec::new();
        let mut rewritten = false;
        loop {
            let batch = self.read_new(session_id, cursor, PER_QUERY)?;
            if batch.rewritten {
                rewritten = true;
                records.clear();
            }
            let full = batch.records.len() == PER_QUERY;
            records.extend(batch.records);
            cursor = batch.cursor;
            if !full {
                return Ok(Batch {
                    records,
                    cursor,
                    rewritten,
                });
            }
        }
    }

    /// A cheap "has anything changed?" token: `PRAGMA data_version`, which moves whenever
    /// another connection commits (any table: transcripts and routing alike). Comparable only
    /// between calls on the same `AgentStore`.
    pub fn change_token(&mut self) -> Result<i64, StoreError> {
        let path = self.path.clone();
        read_once(&self.conn, &path, |conn| {
            conn.pragma_query_value(None, "data_version", |r| r.get(0))
        })
    }

    fn read<T>(
        &mut self,
        f: impl FnMut(&Transaction<'_>, &Schema) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        read_txn(&mut self.conn, &self.path, &mut self.schema, f)
    }

    #[cfg(test)]
    fn stats(&self) -> ReadStats {
        self.stats
    }
}

/// One `event_zstd` frame as a row is read: decoded under `limit` bytes (`event_utf8_bytes`
/// as `declared`, when stored), then parsed like a JSONL line. For the fuzz targets (fuzz/),
/// which feed it arbitrary frames; the daemon reads rows through [`AgentStore`]. The error is
/// the text the daemon would log for the row.
pub fn decode_event_zstd(
    frame: &[u8],
    declared: Option<i64>,
    limit: i64,
) -> Result<Option<crate::transcript::TranscriptEvent>, String> {
    let json = payload::decode_zstd(frame, declared, limit).map_err(|e| e.to_string())?;
    crate::transcript::parse_line(&json).map_err(|e| e.to_string())
}

/// Runs `f` in one read transaction, after making sure the schema checked earlier still holds;
/// retries on SQLITE_BUSY.
fn read_txn<T>(
    conn: &mut Connection,
    path: &Path,
    schema: &mut Schema,
    mut f: impl FnMut(&Transaction<'_>, &Schema) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let attempt = (|| -> Result<T, Failure> {
            let tx = conn.transaction()?;
            let cookie: i64 = tx.pragma_query_value(None, "schema_version", |r| r.get(0))?;
            if cookie != schema.cookie {
                *schema = Schema::check(&tx, path).map_err(Failure::Schema)?;
            }
            let value = f(&tx, schema)?;
            // Ends the read transaction; nothing was written.
            tx.commit()?;
            Ok(value)
        })();
        match attempt {
            Ok(value) => return Ok(value),
            Err(Failure::Schema(found)) => {
                // Checked again next time: a migration in progress finishes.
                schema.cookie = i64::MIN;
                return Err(StoreError::UnknownSchema {
                    path: path.to_owned(),
                    found,
                });
            }
            Err(Failure::Sqlite(e)) if is_busy(&e) => {
                if tries >= BUSY_TRIES {
                    return Err(StoreError::Busy {
                        path: path.to_owned(),
                    });
                }
            }
            Err(Failure::Sqlite(e)) => {
                return Err(StoreError::Sqlite {
                    path: path.to_owned(),
                    source: e,
                });
            }
        }
    }
}

/// One statement outside an explicit transaction, with the same busy handling.
fn read_once<T>(
    conn: &Connection,
    path: &Path,
    f: impl Fn(&Connection) -> rusqlite::Result<T>,
) -> Result<T, StoreError> {
    let mut tries = 0;
    loop {
        tries += 1;
        match f(conn) {
            Ok(value) => return Ok(value),
            Err(e) if is_busy(&e) && tries < BUSY_TRIES => {}
            Err(e) if is_busy(&e) => {
                return Err(StoreError::Busy {
                    path: path.to_owned(),
                });
            }
            Err(e) => {
                return Err(StoreError::Sqlite {
                    path: path.to_owned(),
                    source: e,
                });
            }
        }
    }
}

enum Failure {
    Sqlite(rusqlite::Error),
    Schema(String),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Failure {
        Failure::Sqlite(e)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}
