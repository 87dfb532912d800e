//! What the reader refuses, and how it leaves the gateway's files alone.

use std::os::unix::fs::{MetadataExt, symlink};

use rusqlite::Connection;

use super::super::{AgentStore, Cursor, StoreError};
use super::support::*;
use crate::guarded::GuardError;

fn open_err(path: &std::path::Path) -> StoreError {
    AgentStore::open(path).expect_err("refused")
}

/// A store in WAL mode made by `ddl`, kept open by the returned writer (the gateway).
fn made_store(ddl: &str) -> (Fixture, Connection) {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(tmp.path().join("agent")).expect("agent dir");
    let db = tmp.path().join("agent").join(DB_NAME);
    let writer = Connection::open(&db).expect("create");
    writer
        .execute_batch(&format!("PRAGMA journal_mode = WAL; {ddl}"))
        .expect("ddl");
    (Fixture { tmp, db }, writer)
}

const SCHEMA_META: &str = "CREATE TABLE schema_meta (meta_key TEXT PRIMARY KEY, role TEXT, \
    schema_version INTEGER, created_at INTEGER, updated_at INTEGER); \
    INSERT INTO schema_meta VALUES ('primary', 'agent', 23, 1, 1);";
const NODES: &str = "CREATE TABLE session_nodes (session_key TEXT PRIMARY KEY, current_session_id TEXT, entry_json TEXT);";
const MARKS: &str =
    "CREATE TABLE transcript_rewrite_watermarks (session_id TEXT PRIMARY KEY, generation TEXT);";

fn unknown_schema(fx: &Fixture) -> String {
    match open_err(&fx.db) {
        StoreError::UnknownSchema { found, .. } => found,
        other => panic!("expected UnknownSchema, got {other}"),
    }
}

#[test]
fn a_store_without_transcript_events_is_an_unknown_schema() {
    let (fx, _gateway) = made_store(&format!("{SCHEMA_META} {NODES} {MARKS}"));
    assert_eq!(unknown_schema(&fx), "schema 23: no table transcript_events");
}

#[test]
fn a_store_half_migrated_or_too_old_is_an_unknown_schema() {
    let (fx, _gateway) = made_store(&format!(
        "{SCHEMA_META} {NODES} {MARKS} CREATE TABLE transcript_events (session_id TEXT, seq INTEGER);"
    ));
    assert_eq!(
        unknown_schema(&fx),
        "schema 23: transcript_events has no column event_json"
    );

    let (fx, _gateway) = made_store(&format!(
        "PRAGMA user_version = 7; {NODES} {MARKS} \
         CREATE TABLE transcript_events (session_id TEXT, seq INTEGER, event_json TEXT);"
    ));
    assert_eq!(
        unknown_schema(&fx),
        "schema 7, older than 13 (the first with rewrite generations)"
    );

    // A view under the name is not the table the gateway writes.
    let (fx, _gateway) = made_store(&format!(
        "{SCHEMA_META} {NODES} {MARKS} \
         CREATE VIEW transcript_events AS SELECT 'x' AS session_id, 0 AS seq, '{{}}' AS event_json;"
    ));
    assert_eq!(unknown_schema(&fx), "schema 23: no table transcript_events");

    let (fx, _gateway) = made_store("CREATE TABLE t (x);");
    assert_eq!(
        unknown_schema(&fx),
        "no schema version: no table transcript_events"
    );
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let fx = fixture("a_channel_tools", "final");
    std::fs::write(&fx.db, vec![b'x'; 4096]).expect("overwrite");
    assert_eq!(unknown_schema(&fx), "not an SQLite 3 database");
}

#[test]
fn a_symlink_at_the_store_or_its_agent_dir_is_refused() {
    let fx = fixture("a_channel_tools", "final");
    let link = fx.agent_dir().join("link.sqlite");
    symlink(&fx.db, &link).expect("symlink");
    assert!(
        matches!(open_err(&link), StoreError::Refused(GuardError::Symlink { path }) if path == link)
    );

    let linked_dir = fx.tmp.path().join("linked-agent");
    symlink(fx.agent_dir(), &linked_dir).expect("dir symlink");
    let through = linked_dir.join(DB_NAME);
    assert!(
        matches!(open_err(&through), StoreError::Refused(GuardError::Symlink { path }) if path == linked_dir)
    );

    // A `-wal` planted as a symlink (SQLite would follow its name to any file).
    let wal = fx.agent_dir().join(format!("{DB_NAME}-wal"));
    std::fs::remove_file(&wal).expect("rm wal");
    symlink("/etc/passwd", &wal).expect("wal symlink");
    assert!(
        matches!(open_err(&fx.db), StoreError::Refused(GuardError::Symlink { path }) if path == wal)
    );
}

#[test]
fn a_hard_linked_store_is_refused() {
    let fx = fixture("a_channel_tools", "final");
    std::fs::hard_link(&fx.db, fx.tmp.path().join("elsewhere.sqlite")).expect("link");
    assert!(matches!(
        open_err(&fx.db),
        StoreError::Refused(GuardError::HardLinks { nlink: 2, .. })
    ));
}

#[test]
fn a_store_of_another_user_than_its_agent_dir_is_refused() {
    if nix::unistd::geteuid().as_raw() != 0 {
        eprintln!("skipped: needs root to chown");
        return;
    }
    let fx = fixture("a_channel_tools", "final");
    let dir_uid = std::fs::metadata(fx.agent_dir()).expect("dir").uid();
    std::os::unix::fs::lchown(&fx.db, Some(4242), None).expect("chown");
    let err = open_err(&fx.db);
    assert!(
        matches!(&err, StoreError::Refused(GuardError::WrongOwner { uid: 4242, expected, .. }) if expected == &[dir_uid]),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("chown {dir_uid}")),
        "{err}"
    );

    // The gateway's user owns everything, the daemon (root) only reads: fine.
    let owner = 4242;
    for name in fx.names() {
        std::os::unix::fs::lchown(fx.agent_dir().join(name), Some(owner), None).expect("chown");
    }
    std::os::unix::fs::lchown(fx.agent_dir(), Some(owner), None).expect("chown dir");
    let mut store = fx.open();
    assert_eq!(store.sessions().expect("sessions").len(), 1);
    // ...but a `-shm` of someone else is not the gateway's.
    drop(store);
    let shm = fx.agent_dir().join(format!("{DB_NAME}-shm"));
    std::os::unix::fs::lchown(&shm, Some(0), None).expect("chown shm");
    assert!(
        matches!(open_err(&fx.db), StoreError::Refused(GuardError::WrongOwner { path, .. }) if path == shm)
    );
}

#[test]
fn without_its_wal_files_the_store_is_not_ready_and_nothing_is_created() {
    for missing in ["-wal", "-shm"] {
        let fx = fixture("a_channel_tools", "final");
        std::fs::remove_file(fx.agent_dir().join(format!("{DB_NAME}{missing}"))).expect("rm");
        let before = fx.names();
        let err = open_err(&fx.db);
        assert!(
            matches!(&err, StoreError::NotReady { why, .. } if why.contains(missing)),
            "{err}"
        );
        assert!(err.is_transient());
        assert_eq!(fx.names(), before, "the reader created nothing");
    }
    let fx = fixture("a_channel_tools", "final");
    std::fs::write(&fx.db, b"").expect("truncate");
    assert!(matches!(open_err(&fx.db), StoreError::NotReady { .. }));
    let gone = fx.agent_dir().join("nothing.sqlite");
    assert!(matches!(open_err(&gone), StoreError::NotFound { path } if path == gone));
}

#[test]
fn a_copied_store_reads_as_a_snapshot_for_replay_only_when_the_main_file_is_whole() {
    let fx = fixture("a_channel_tools", "final");
    for suffix in ["-wal", "-shm"] {
        std::fs::remove_file(fx.agent_dir().join(format!("{DB_NAME}{suffix}"))).expect("rm");
    }
    let before = fx.names();
    let mut store = AgentStore::open_snapshot(&fx.db).expect("snapshot of a copied store");
    let keys: Vec<String> = store
        .sessions()
        .expect("sessions")
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert!(keys.iter().any(|k| k == CHANNEL_KEY), "{keys:?}");
    drop(store);
    assert_eq!(fx.names(), before, "the snapshot created nothing");

    // Rows still in a WAL whose -shm is gone: the main file alone would lose them.
    let fx = fixture("b_thread_reply", "live");
    std::fs::remove_file(fx.agent_dir().join(format!("{DB_NAME}-shm"))).expect("rm shm");
    let err = AgentStore::open_snapshot(&fx.db).expect_err("a WAL with rows is not skipped");
    assert!(matches!(err, StoreError::NotReady { .. }), "{err}");
}

#[test]
fn reading_writes_nothing() {
    let fx = fixture("b_thread_reply", "live");
    let stamp = |fx: &Fixture| {
        fx.names()
            .into_iter()
            .map(|n| {
                let path = fx.agent_dir().join(&n);
                let m = std::fs::metadata(&path).expect("stat");
                let bytes = std::fs::read(&path).expect("read");
                (n, m.len(), m.mtime(), m.mtime_nsec(), bytes)
            })
            .collect::<Vec<_>>()
    };
    let before = stamp(&fx);
    let mut store = fx.open();
    for session in store.sessions().expect("sessions") {
        read_all(&mut store, &session.session_id, Cursor::START, 3);
    }
    store.change_token().expect("token");
    drop(store);
    assert!(
        before == stamp(&fx),
        "db, -wal and -shm are byte for byte unchanged"
    );
}

#[test]
fn a_lock_held_through_every_retry_is_busy_and_reading_resumes_after() {
    let fx = fixture("a_channel_tools", "final");
    // A rollback-journal store: there a writer's EXCLUSIVE lock keeps readers out (in WAL mode
    // only recovery or a checkpoint-restart does).
    let writer = Connection::open(&fx.db).expect("writer");
    let mode: String = writer
        .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "delete");
    let mut store = fx.open();
    writer.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let started = std::time::Instant::now();
    let err = store
        .read_new(CHANNEL_SID, Cursor::START, 10)
        .expect_err("locked");
    assert!(matches!(err, StoreError::Busy { .. }), "{err}");
    assert!(err.is_transient());
    let waited = started.elapsed();
    assert!(
        waited >= 2 * super::super::open::BUSY_TIMEOUT
            && waited < std::time::Duration::from_secs(2),
        "waited {waited:?}: each try waits for the lock, the whole call stays short"
    );
    writer.execute_batch("COMMIT").expect("unlock");
    assert_eq!(
        read_all(&mut store, CHANNEL_SID, Cursor::START, 10).0.len(),
        6
    );
}
