//! OpenClaw 2026.8+ keeps sessions in a WAL-mode SQLite store. A real 2026.9.6 store, with its
//! last turn held back, gets that turn committed row by row (one transaction per event, as the
//! gateway does, one row stored zstd-compressed, at the pace the rows' `created_at` says) while
//! the pipeline follows it on a tier.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use livestatus::playback::Pace;
use livestatus::service::config::TierChoice;
use livestatus::watch::Scope;

use crate::live::{Seen, replayed};
use crate::{Collector, scenario_dir, summary, tier_options};

/// Every SQLite-era scenario kept in the repo.
pub const SQLITE_SCENARIOS: [&str; 2] = ["2026.9.6/a_channel_tools", "2026.9.6/b_thread_reply"];

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
pub fn state_with_store(tmp: &Path, scenario: &str) -> PathBuf {
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

/// Commits the held rows back, one transaction each, the tool results compressed, each after
/// the gap since the previous one's `created_at` as `pace` plays it.
fn commit_rows(conn: rusqlite::Connection, rows: Vec<Row>, pace: Pace) {
    let mut last = rows.first().map_or(0, |r| r.created_at);
    for r in rows {
        std::thread::sleep(pace.wait(r.created_at - last).max(Duration::from_millis(1)));
        last = last.max(r.created_at);
        insert_row(&conn, &r, &r.json);
    }
}

/// One row in one transaction, a tool result compressed as the gateway stores large rows.
fn insert_row(conn: &rusqlite::Connection, r: &Row, json: &str) {
    if json.contains(r#""role":"toolResult""#) {
        let packed = zstd::encode_all(json.as_bytes(), 3).expect("zstd");
        conn.execute(
            "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json) VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6)",
            rusqlite::params![r.session_id, r.seq, r.created_at, packed, json.len() as i64, NAVIGATION],
        )
        .expect("insert compressed");
    } else {
        conn.execute(
            "INSERT INTO transcript_events (session_id, seq, event_json, created_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![r.session_id, r.seq, json, r.created_at],
        )
        .expect("insert");
    }
}

/// A scenario's store in `state` with its last turn held back, committed a few rows at a time
/// on request (crash tests kill the daemon between rows), each row stamped when committed as a
/// gateway running now stamps it, by a writer that stays open as the gateway's does.
pub struct HeldTurn {
    _staging: tempfile::TempDir,
    conn: rusqlite::Connection,
    rows: std::collections::VecDeque<Row>,
}

impl HeldTurn {
    pub fn new(state: &Path, scenario: &str) -> HeldTurn {
        let staging = tempfile::tempdir().expect("tmp");
        let staged = state_with_store(staging.path(), scenario);
        let staged_db = staged.join("agents/main/agent/openclaw-agent.sqlite");
        let (writer, held) = hold_back_last_turn(&staged_db);
        drop(writer);
        let agent_dir = state.join("agents/main/agent");
        std::fs::create_dir_all(&agent_dir).expect("agent dir");
        let db = agent_dir.join("openclaw-agent.sqlite");
        std::fs::rename(&staged_db, &db).expect("move the store in");
        HeldTurn {
            _staging: staging,
            conn: open_writer(&db),
            rows: held.into(),
        }
    }

    /// Commits up to `n` rows, `gap` apart; false once every row is in.
    pub fn commit(&mut self, n: usize, gap: Duration) -> bool {
        for _ in 0..n {
            let Some(r) = self.rows.pop_front() else {
                return false;
            };
            std::thread::sleep(gap);
            let now = livestatus::clock::now_ms();
            let json = match livestatus::playback::absolute_ms(r.json.as_bytes()) {
                Some(was) => String::from_utf8(livestatus::playback::shift_timestamps(
                    r.json.as_bytes(),
                    now - was,
                ))
                .expect("utf-8"),
                None => r.json.clone(),
            };
            insert_row(&self.conn, &r, &json);
        }
        !self.rows.is_empty()
    }
}

/// How the store is there for the pipeline.
#[derive(Clone, Copy, Debug)]
pub enum Arrival {
    /// Open by a running gateway before the pipeline starts.
    Running,
    /// Moved in after the pipeline started, as `openclaw doctor` migrating a gateway leaves
    /// it: its earlier turns are history, not news.
    Migrated,
}

/// The scenario's last turn committed live on `tier`: the boxes shown, against the box replay
/// prints for that turn of the finished store.
pub fn live_turn(scenario: &str, tier: TierChoice, arrival: Arrival, pace: Pace) -> Seen {
    let tmp = tempfile::tempdir().expect("tmp");
    let staged = state_with_store(&tmp.path().join("staging"), scenario);
    let want = replayed(&staged);
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
                // A fixed wait: the held rows keep their recorded times, so committed before
                // the tier has found the store they would be read as history, not news; and
                // nothing the pipeline hands on says it has read a store with no ended turn
                // (a_channel_tools has none before the held one).
                std::thread::sleep(Duration::from_millis(1500));
                writer
            });
            commit_rows(writer, held, pace);
            // Past the deadline the run stops anyway: the caller compares what was seen.
            crate::wait::until(Duration::from_secs(10), || {
                !watcher.boxes().is_empty() && watcher.open_boxes() == 0
            });
            let _ = stop_tx.send(());
        });
    });
    crate::run_pipeline(
        tier_options(Scope::Gateways(vec![state.clone()]), tier),
        &mut sink,
        stop_rx,
        move || {
            if let Some(start) = start.take() {
                start();
            }
        },
    );
    Seen {
        got: collector.boxes().iter().map(summary).collect(),
        want: want.last().cloned().into_iter().collect(),
        errors: collector.errors(),
    }
}

/// A writer as the gateway holds one: WAL mode, open for the whole run.
fn open_writer(db: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).expect("writer");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("wal");
    conn
}

/// Jobs for every SQLite-era scenario, both arrivals, on every tier at every pace.
pub fn jobs(tiers: &[TierChoice]) -> Vec<crate::live::Job> {
    let mut jobs = Vec::new();
    for scenario in SQLITE_SCENARIOS {
        for arrival in [Arrival::Running, Arrival::Migrated] {
            for &tier in tiers {
                for (pace_name, pace) in crate::live::PACES {
                    jobs.push(crate::live::Job {
                        name: format!("{scenario} ({arrival:?}) on {tier:?} at {pace_name} pace"),
                        run: Box::new(move || live_turn(scenario, tier, arrival, pace)),
                    });
                }
            }
        }
    }
    jobs
}
