//! OpenClaw 2026.8+ keeps sessions in a WAL-mode SQLite store. A real 2026.9.6 store, with its
//! last turn held back, gets that turn committed row by row (one transaction per event, as the
//! gateway does, one row stored zstd-compressed) while the pipeline follows it on each tier:
//! the box must be the one `replay` prints for the finished store.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use livestatus::cli::replay::replay_models;
use livestatus::service::config::TierChoice;
use livestatus::session::tracker::SessionConfig;
use livestatus::watch::Scope;
use livestatus_e2e::{Collector, scenario_dir, summary, tier_options};

/// A compressed row must carry a navigation record of this shape (the table's CHECK).
const NAVIGATION: &str = r#"{"version":1,"report":{"kind":"canonical"},"navigation":{},"reset":{},"model":{},"modelBytes":0,"modelWithoutCheckpointBytes":0,"withoutCustomDataBytes":0}"#;

fn gunzip(from: &Path, to: &Path) {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(from).expect("fixture"))
        .read_to_end(&mut bytes)
        .expect("gunzip");
    std::fs::write(to, bytes).expect("write db");
}

/// A state dir holding the scenario's final store.
fn state_with_store(tmp: &Path, scenario: &str) -> PathBuf {
    let state = tmp.join("home/alice/.openclaw");
    let agent = state.join("agents/main/agent");
    std::fs::create_dir_all(&agent).expect("agent dir");
    gunzip(
        &scenario_dir(scenario).join("final/openclaw-agent.sqlite.gz"),
        &agent.join("openclaw-agent.sqlite"),
    );
    state
}

struct Row {
    session_id: String,
    seq: i64,
    json: String,
    created_at: i64,
}

/// Removes the rows of the last turn (from the last user message on) and returns them, with
/// the connection kept open as a running gateway keeps it (its `-wal` and `-shm` stay).
fn hold_back_last_turn(db: &Path) -> (rusqlite::Connection, Vec<Row>) {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    let mut stmt = conn
        .prepare("SELECT session_id, seq, event_json, created_at FROM transcript_events WHERE event_json IS NOT NULL ORDER BY session_id, seq")
        .expect("select");
    let rows: Vec<Row> = stmt
        .query_map([], |r| {
            Ok(Row {
                session_id: r.get(0)?,
                seq: r.get(1)?,
                json: r.get(2)?,
                created_at: r.get(3)?,
            })
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let last_user = rows
        .iter()
        .rposition(|r| r.json.contains(r#""role":"user""#))
        .expect("a user message");
    let held: Vec<Row> = rows.into_iter().skip(last_user).collect();
    for r in &held {
        conn.execute(
            "DELETE FROM transcript_events WHERE session_id = ?1 AND seq = ?2",
            rusqlite::params![r.session_id, r.seq],
        )
        .expect("delete");
    }
    drop(stmt);
    (conn, held)
}

/// Commits the held rows back, one transaction each, the tool results compressed.
fn commit_rows(conn: rusqlite::Connection, rows: Vec<Row>, gap: Duration) {
    for r in rows {
        std::thread::sleep(gap);
        if r.json.contains(r#""role":"toolResult""#) {
            let packed = zstd::encode_all(r.json.as_bytes(), 3).expect("zstd");
            conn.execute(
                "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6)",
                rusqlite::params![r.session_id, r.seq, r.created_at, packed, r.json.len() as i64, NAVIGATION],
            )
            .expect("insert compressed");
        } else {
            conn.execute(
                "INSERT INTO transcript_events (session_id, seq, event_json, created_at) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![r.session_id, r.seq, r.json, r.created_at],
            )
            .expect("insert");
        }
    }
}

/// How the store is there for the pipeline.
#[derive(Clone, Copy, Debug)]
enum Arrival {
    /// Open by a running gateway before the pipeline starts.
    Running,
    /// Moved in after the pipeline started, as `openclaw doctor` migrating a gateway leaves
    /// it: its earlier turns are history, not news.
    Migrated,
}

fn live_turn(
    scenario: &str,
    tier: TierChoice,
    arrival: Arrival,
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let tmp = tempfile::tempdir().expect("tmp");
    let staged = state_with_store(&tmp.path().join("staging"), scenario);
    let want: Vec<Vec<String>> = replay_models(&staged, SessionConfig::default())
        .expect("replay of the finished store")
        .iter()
        .map(summary)
        .collect();
    let state = tmp.path().join("home/alice/.openclaw");
    let agent_dir = state.join("agents/main/agent");
    let db = agent_dir.join("openclaw-agent.sqlite");
    let staged_db = staged.join("agents/main/agent/openclaw-agent.sqlite");
    let (writer, held) = hold_back_last_turn(&staged_db);
    assert!(held.len() >= 5, "the last turn has {} rows", held.len());
    let writer = match arrival {
        Arrival::Running => {
            drop(writer);
            std::fs::create_dir_all(&agent_dir).expect("agent dir");
            std::fs::rename(&staged_db, &db).expect("move the store in");
            Some(open_writer(&db))
        }
        Arrival::Migrated => {
            drop(writer);
            std::fs::create_dir_all(state.join("agents")).expect("agents dir");
            None
        }
    };
    let collector = Collector::default();
    let mut sink = collector.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = collector.clone();
    let mut start = Some(move || {
        std::thread::spawn(move || {
            let writer = writer.unwrap_or_else(|| {
                std::fs::create_dir_all(&agent_dir).expect("agent dir");
                std::fs::rename(&staged_db, &db).expect("move the store in");
                let writer = open_writer(&db);
                // Long enough for every tier to find the store and read its history.
                std::thread::sleep(Duration::from_millis(1500));
                writer
            });
            commit_rows(writer, held, Duration::from_millis(30));
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::time::Instant::now() < deadline
                && (watcher.boxes().is_empty() || watcher.open_boxes() > 0)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = stop_tx.send(());
        });
    });
    livestatus_e2e::run_pipeline(
        tier_options(Scope::Gateways(vec![state.clone()]), tier),
        &mut sink,
        stop_rx,
        move || {
            if let Some(start) = start.take() {
                start();
            }
        },
    );
    assert!(collector.errors().is_empty(), "{:?}", collector.errors());
    let got = collector.boxes().iter().map(summary).collect();
    (got, want)
}

/// A writer as the gateway holds one: WAL mode, open for the whole run.
fn open_writer(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).expect("writer");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn
}

#[test]
fn a_turn_committed_to_a_live_sqlite_store_shows_as_replay_shows_it_on_every_tier() {
    // The thread scenario's store also holds a finished channel turn: history, never a box.
    let scenarios = [
        ("2026.9.6/a_channel_tools", "hello.txt"),
        ("2026.9.6/b_thread_reply", "thread-reply-ok"),
    ];
    let tiers = livestatus_e2e::tiers_here(
        "a_turn_committed_to_a_live_sqlite_store_shows_as_replay_shows_it_on_every_tier",
    );
    for (scenario, needle) in scenarios {
        for arrival in [Arrival::Running, Arrival::Migrated] {
            for &tier in &tiers {
                let (got, want) = live_turn(scenario, tier, arrival);
                let run = format!("{scenario} {tier:?} {arrival:?}");
                assert_eq!(got.len(), 1, "{run}: {got:#?}");
                assert_eq!(got[0], want[want.len() - 1], "{run}");
                assert!(
                    got[0]
                        .iter()
                        .any(|l| l.contains(needle) && l.ends_with("[OK]")),
                    "{run}: {got:#?}"
                );
            }
        }
    }
}

#[test]
fn replay_of_a_sqlite_era_state_dir_prints_every_turn_with_its_tools() {
    for scenario in ["2026.9.6/a_channel_tools", "2026.9.6/b_thread_reply"] {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = state_with_store(tmp.path(), scenario);
        let boxes: Vec<Vec<String>> = replay_models(&state, SessionConfig::default())
            .expect("replay")
            .iter()
            .map(summary)
            .collect();
        assert!(!boxes.is_empty(), "{scenario}");
        let channel = boxes
            .iter()
            .find(|b| {
                b[0].starts_with("agent:main:mattermost:channel:ch4town5quare00000000000ab [DONE]")
            })
            .unwrap_or_else(|| panic!("{scenario}: {boxes:#?}"));
        assert!(
            channel
                .iter()
                .any(|l| l.contains("hello.txt") && l.ends_with("[OK]")),
            "{channel:#?}"
        );
        assert!(
            channel
                .iter()
                .any(|l| l.starts_with("exec:") && l.ends_with("[OK]")),
            "{channel:#?}"
        );
        if scenario.ends_with("b_thread_reply") {
            let thread = boxes
                .iter()
                .find(|b| b[0].contains(":thread:"))
                .unwrap_or_else(|| panic!("no thread box: {boxes:#?}"));
            assert!(
                thread.iter().any(|l| l.contains("thread-reply-ok")),
                "{thread:#?}"
            );
            assert!(
                !thread.iter().any(|l| l.contains("hello.txt")),
                "copied history shown: {thread:#?}"
            );
        }
    }
}
