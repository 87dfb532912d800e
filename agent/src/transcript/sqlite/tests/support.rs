//! The recorded 2026.9.6 stores, unpacked into a temp `agent/` dir, and a writer that behaves
//! like the gateway.

use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::super::{AgentStore, Cursor};
use crate::transcript::event::{TranscriptEvent, TranscriptRecord};
use crate::transcript::test_support::fixture_root;

pub(crate) const DB_NAME: &str = "openclaw-agent.sqlite";
pub(crate) const CHANNEL_KEY: &str = "agent:main:mattermost:channel:ch4town5quare00000000000ab";
pub(super) const TOWN: &str = "ch4town5quare00000000000ab";
pub(crate) const CHANNEL_SID: &str = "f42a2b9b-d35f-4693-90d4-7d028dbd6841";
pub(super) const THREAD_SID: &str = "fd085f9c-0107-42d4-93a6-1757955ae74e";

/// A store in `<tmp>/agent/`.
pub(super) struct Fixture {
    pub tmp: tempfile::TempDir,
    pub db: PathBuf,
}

impl Fixture {
    pub fn agent_dir(&self) -> PathBuf {
        self.tmp.path().join("agent")
    }

    pub fn open(&self) -> AgentStore {
        AgentStore::open(&self.db).expect("open the store")
    }

    /// A read-write connection, as the gateway holds one.
    pub fn writer(&self) -> Connection {
        let conn = Connection::open(&self.db).expect("writer");
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal", "the recorded stores are WAL databases");
        conn
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.agent_dir())
            .expect("list agent dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

pub(super) fn scenario_dir(scenario: &str) -> PathBuf {
    fixture_root().join("2026.9.6").join(scenario)
}

fn gunzip(from: &Path, to: &Path) {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(from).expect("fixture"))
        .read_to_end(&mut bytes)
        .expect("gunzip");
    std::fs::write(to, bytes).expect("write");
}

/// `state` is `final` (checkpointed; the export dropped the 0-byte `-wal` and the `-shm`, which
/// are recreated empty as the stopped gateway leaves them) or `live` (copied while the gateway
/// ran: `-wal` and `-shm` as they were).
pub(super) fn fixture(scenario: &str, state: &str) -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let agent = tmp.path().join("agent");
    std::fs::create_dir(&agent).expect("agent dir");
    let db = unpack(scenario, state, &agent);
    Fixture { tmp, db }
}

/// The recorded store of `scenario` in `state` (see `fixture`), unpacked into `agent`, an
/// existing directory; returns the database's path.
pub(crate) fn unpack(scenario: &str, state: &str, agent: &Path) -> PathBuf {
    let src = scenario_dir(scenario).join(state);
    for suffix in ["", "-wal", "-shm"] {
        let gz = src.join(format!("{DB_NAME}{suffix}.gz"));
        let to = agent.join(format!("{DB_NAME}{suffix}"));
        if gz.exists() {
            gunzip(&gz, &to);
        } else {
            std::fs::write(&to, b"").expect("empty WAL file");
        }
    }
    agent.join(DB_NAME)
}

pub(super) fn dump(scenario: &str, name: &str) -> serde_json::Value {
    let path = scenario_dir(scenario).join("sqlite-dump").join(name);
    serde_json::from_slice(&std::fs::read(path).expect("dump")).expect("dump json")
}

/// The dump's decoded rows of one session, in seq order: `(seq, event JSON)`.
pub(super) fn dump_rows(scenario: &str, session_id: &str) -> Vec<(i64, serde_json::Value)> {
    let path = scenario_dir(scenario)
        .join("sqlite-dump")
        .join("transcript_events.decoded.jsonl");
    let text = std::fs::read_to_string(path).expect("dump");
    let mut rows: Vec<(i64, serde_json::Value)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("dump line"))
        .filter(|r| r["session_id"] == session_id)
        .map(|r| (r["seq"].as_i64().expect("seq"), r["event"].clone()))
        .collect();
    rows.sort_by_key(|(seq, _)| *seq);
    rows
}

/// Everything after `cursor`, `max` records per call, as a caller loops.
pub(super) fn read_all(
    store: &mut AgentStore,
    session_id: &str,
    mut cursor: Cursor,
    max: usize,
) -> (Vec<TranscriptRecord>, Cursor) {
    let mut records = Vec::new();
    for _ in 0..1000 {
        let batch = store.read_new(session_id, cursor, max).expect("read_new");
        assert!(batch.records.len() <= max, "batch over max");
        assert!(!batch.rewritten, "nothing was rewritten");
        let done = batch.records.len() < max;
        records.extend(batch.records);
        cursor = batch.cursor;
        if done {
            return (records, cursor);
        }
    }
    panic!("read_new never ran dry");
}

/// One short word per record, for readable assertions.
pub(super) fn kinds(records: &[TranscriptRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let kind = match &r.event {
                TranscriptEvent::Header { .. } => "header".to_owned(),
                TranscriptEvent::User { .. } => "user".to_owned(),
                TranscriptEvent::Assistant { tool_calls, .. } if tool_calls.is_empty() => {
                    "assistant".to_owned()
                }
                TranscriptEvent::Assistant { tool_calls, .. } => format!(
                    "assistant({})",
                    tool_calls
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                TranscriptEvent::ToolResult { tool_name, .. } => format!("result({tool_name})"),
                TranscriptEvent::Compaction { .. } => "compaction".to_owned(),
            };
            if r.history {
                format!("history:{kind}")
            } else {
                kind
            }
        })
        .collect()
}

/// A `navigation_json` the store's CHECK accepts (required with `event_zstd`).
pub(super) fn navigation(bytes: usize) -> String {
    serde_json::json!({
        "version": 1, "report": {"kind": "canonical"}, "navigation": {}, "reset": {}, "model": {},
        "modelBytes": bytes, "modelWithoutCheckpointBytes": bytes, "withoutCustomDataBytes": bytes
    })
    .to_string()
}

/// Appends rows the way the gateway commits them: one transaction, `event_json` for small
/// entries, `event_zstd` (plus size and navigation) for large ones.
pub(super) fn append(writer: &mut Connection, session_id: &str, rows: &[(i64, &str, bool)]) {
    let tx = writer.transaction().expect("begin");
    for &(seq, json, compress) in rows {
        if compress {
            let frame = zstd::encode_all(json.as_bytes(), 3).expect("compress");
            tx.execute(
                "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, \
                 event_utf8_bytes, navigation_json) VALUES (?1, ?2, NULL, 1795319300000, ?3, ?4, ?5)",
                rusqlite::params![session_id, seq, frame, json.len() as i64, navigation(json.len())],
            )
            .expect("insert compressed row");
        } else {
            tx.execute(
                "INSERT INTO transcript_events (session_id, seq, event_json, created_at) \
                 VALUES (?1, ?2, ?3, 1795319300000)",
                rusqlite::params![session_id, seq, json],
            )
            .expect("insert row");
        }
    }
    tx.commit().expect("commit");
}
