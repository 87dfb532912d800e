//! What this reader needs of the agent schema, checked before the first read and again whenever
//! the schema cookie moves (a gateway upgrade migrating the store while it is followed).
//!
//! Verified on OpenClaw 2026.9.6 (agent schema 23, `schema_meta.schema_version` and
//! `PRAGMA user_version` agree):
//! - `transcript_events(session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes,
//!   navigation_json)`, primary key `(session_id, seq)`; a row holds `event_json`, or (large
//!   events) `event_zstd` with `event_json` NULL. 2026.8 stores have no `event_zstd`.
//! - `transcript_rewrite_watermarks(session_id, generation TEXT, updated_at)`.
//! - `session_nodes(session_key, current_session_id, entry_json, …, spawned_by, label,
//!   parent_session_key, …)`.
//! - `conversations(channel, account_id, kind, peer_id, delivery_target, native_channel_id, …)`.
//!
//! Newer versions are read as long as these are there (OpenClaw migrates by adding): refusing
//! every upgrade would blind the daemon more often than a changed meaning would mislead it.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

/// Below this, stores may lack rewrite generations (OpenClaw backfills them when migrating to
/// 13: "drop the generation backfill once the minimum supported agent schema is 13").
pub(super) const MIN_SCHEMA_VERSION: i64 = 13;
/// The newest version checked against real data; newer ones are read, with a notice.
pub(super) const TESTED_SCHEMA_VERSION: i64 = 23;

/// Longest `event_json` / `event_zstd` / decoded event read; a larger row is skipped unread.
pub(super) const MAX_EVENT_BYTES: i64 = 64 << 20;

#[derive(Debug)]
pub(super) struct Schema {
    pub version: i64,
    /// `PRAGMA schema_version` when checked: any DDL changes it.
    pub cookie: i64,
    /// Rows of one session after a seq: `seq, json, json_len, zstd, zstd_len, utf8_bytes`.
    /// Params: session id, seq, size limit.
    pub events_sql: String,
    /// `session_key, current_session_id, entry_json, spawned_by, label, parent_session_key`.
    pub sessions_sql: String,
    /// The DM channel of (account, user); None when the store has no usable `conversations`.
    pub dm_channel_sql: Option<&'static str>,
}

const REQUIRED: [(&str, &[&str]); 3] = [
    ("transcript_events", &["session_id", "seq", "event_json"]),
    (
        "transcript_rewrite_watermarks",
        &["session_id", "generation"],
    ),
    (
        "session_nodes",
        &["session_key", "current_session_id", "entry_json"],
    ),
];

const CONVERSATION_COLUMNS: [&str; 6] = [
    "channel",
    "account_id",
    "kind",
    "peer_id",
    "delivery_target",
    "native_channel_id",
];

impl Schema {
    /// Checks the store; `Err(found)` describes what does not fit, with the version.
    pub fn check(conn: &Connection, path: &Path) -> Result<Schema, String> {
        let version = schema_version(conn).map_err(|e| format!("schema unreadable: {e}"))?;
        let cookie: i64 = conn
            .pragma_query_value(None, "schema_version", |r| r.get(0))
            .map_err(|e| format!("schema unreadable: {e}"))?;
        let describe = |what: String| match version {
            Some(v) => format!("schema {v}: {what}"),
            None => format!("no schema version: {what}"),
        };
        for (table, columns) in REQUIRED {
            let present = columns_of(conn, table).map_err(|e| describe(e.to_string()))?;
            let Some(present) = present else {
                return Err(describe(format!("no table {table}")));
            };
            if let Some(missing) = columns.iter().find(|c| !present.iter().any(|p| p == *c)) {
                return Err(describe(format!("{table} has no column {missing}")));
            }
        }
        let version = match version {
            Some(v) if v >= MIN_SCHEMA_VERSION => v,
            Some(v) => {
                return Err(format!(
                    "schema {v}, older than {MIN_SCHEMA_VERSION} (the first with rewrite generations)"
                ));
            }
            None => return Err(describe("the tables are there but no version".to_owned())),
        };
        let events = columns_of(conn, "transcript_events")
            .map_err(|e| describe(e.to_string()))?
            .unwrap_or_default();
        let has = |c: &str| events.iter().any(|p| p == c);
        let zstd = if has("event_zstd") {
            "CASE WHEN length(event_zstd) <= ?3 THEN event_zstd END, length(event_zstd)"
        } else {
            "NULL, NULL"
        };
        let utf8 = if has("event_utf8_bytes") {
            "event_utf8_bytes"
        } else {
            "NULL"
        };
        // The payload columns come back NULL past the limit, with their size, so an oversized
        // row is skipped without SQLite loading it. octet_length: bytes, not characters.
        let events_sql = format!(
            "SELECT seq, CASE WHEN octet_length(event_json) <= ?3 THEN event_json END, \
             octet_length(event_json), {zstd}, {utf8} FROM transcript_events \
             WHERE session_id = ?1 AND seq > ?2 ORDER BY seq"
        );
        let nodes = columns_of(conn, "session_nodes")
            .map_err(|e| describe(e.to_string()))?
            .unwrap_or_default();
        let optional = |c: &'static str| {
            if nodes.iter().any(|p| p == c) {
                c
            } else {
                "NULL"
            }
        };
        let sessions_sql = format!(
            "SELECT session_key, current_session_id, entry_json, length(entry_json), {}, {}, {} \
             FROM session_nodes ORDER BY session_key",
            optional("spawned_by"),
            optional("label"),
            optional("parent_session_key"),
        );
        let conversations = columns_of(conn, "conversations")
            .map_err(|e| describe(e.to_string()))?
            .unwrap_or_default();
        let dm_channel_sql = CONVERSATION_COLUMNS
            .iter()
            .all(|c| conversations.iter().any(|p| p == c))
            .then_some(
                "SELECT native_channel_id FROM conversations \
                 WHERE channel = 'mattermost' AND account_id = ?1 AND kind = 'direct' \
                 AND peer_id = ?2 AND delivery_target = 'user:' || ?2 \
                 AND native_channel_id IS NOT NULL ORDER BY rowid DESC LIMIT 1",
            );
        if version > TESTED_SCHEMA_VERSION {
            tracing::info!(
                path = %path.display(),
                version,
                tested = TESTED_SCHEMA_VERSION,
                "OpenClaw agent store is newer than the newest schema checked against real data; reading it, the tables used are all there"
            );
        }
        Ok(Schema {
            version,
            cookie,
            events_sql,
            sessions_sql,
            dm_channel_sql,
        })
    }
}

/// `schema_meta.schema_version` of the primary store, else `PRAGMA user_version` (both are 23
/// in 2026.9.6); None when neither says anything (a store being created).
fn schema_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let meta = columns_of(conn, "schema_meta")?.unwrap_or_default();
    if meta.iter().any(|c| c == "schema_version") {
        let order = if meta.iter().any(|c| c == "meta_key") {
            "ORDER BY meta_key = 'primary' DESC"
        } else {
            ""
        };
        let sql = format!("SELECT schema_version FROM schema_meta {order} LIMIT 1");
        if let Some(Some(v)) = conn
            .query_row(&sql, [], |r| r.get::<_, Option<i64>>(0))
            .optional()?
        {
            return Ok(Some(v));
        }
    }
    let user: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    Ok((user > 0).then_some(user))
}

/// The columns of `table`, or None when there is no such TABLE (a view of that name does not
/// count: the schema is the user's, and only real tables are read).
fn columns_of(conn: &Connection, table: &str) -> rusqlite::Result<Option<Vec<String>>> {
    let is_table: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
        [table],
        |r| r.get(0),
    )?;
    if !is_table {
        return Ok(None);
    }
    let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = stmt
        .query_map([table], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(names))
}
