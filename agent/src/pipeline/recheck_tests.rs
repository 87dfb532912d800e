//! A store's commit that is not yet readable when the write that announces it wakes the core
//! must still open its box without waiting for the gateway's next write (see `stores.rs`).

use std::path::Path;

use rusqlite::Connection;

use super::Core;
use crate::session::tracker::SessionConfig;
use crate::session::{BoxDelta, BoxOp};
use crate::transcript::sqlite::tests::support::{CHANNEL_KEY, CHANNEL_SID, DB_NAME, unpack};
use crate::watch::{FsEvent, FsEventKind, Scope};

fn opened_for(deltas: &[BoxDelta], key: &str) -> bool {
    deltas.iter().filter(|d| !d.is_restored_history()).any(|d| {
        d.ops
            .iter()
            .any(|op| matches!(op, BoxOp::Open { session_key, .. } if session_key == key))
    })
}

/// A user's message, as the gateway starts a turn with it.
fn user_row(now_ms: i64) -> String {
    serde_json::json!({
        "type": "message", "id": "e-recheck", "parentId": null,
        "timestamp": crate::clock::format_rfc3339_ms(now_ms),
        "message": {"role": "user", "content": "[scen:more] once more", "timestamp": now_ms}
    })
    .to_string()
}

fn wal_written(agent: &Path) -> FsEvent {
    FsEvent {
        path: agent.join(format!("{DB_NAME}-wal")),
        kind: FsEventKind::Appended,
    }
}

#[test]
fn a_commit_not_yet_visible_at_its_wakeup_opens_its_box_at_the_first_recheck() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state");
    let agent = state.join("agents/main/agent");
    std::fs::create_dir_all(&agent).expect("agent dir");
    let db = unpack("a_channel_tools", "final", &agent);
    // Opened first, as the gateway holds its store open before anyone reads it.
    let mut writer = Connection::open(&db).expect("writer");
    let mode: String = writer
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "wal");
    let mut core = Core::new(
        Scope::Gateways(vec![state.clone()]),
        SessionConfig::default(),
    );
    let now = crate::clock::now_ms();
    let history = core.startup(now);
    assert!(history.iter().all(BoxDelta::is_restored_history));
    assert_eq!(core.next_due(), None, "no wakeup yet, nothing to ask again");

    // The gateway's transaction has written its frames (the tier reports the write) but has
    // not published the commit yet.
    let seq: i64 = writer
        .query_row(
            "SELECT max(seq) + 1 FROM transcript_events WHERE session_id = ?1",
            [CHANNEL_SID],
            |r| r.get(0),
        )
        .expect("next seq");
    let tx = writer.transaction().expect("begin");
    tx.execute(
        "INSERT INTO transcript_events (session_id, seq, event_json, created_at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![CHANNEL_SID, seq, user_row(now), now],
    )
    .expect("insert");
    let woke = core.on_events(&[wal_written(&agent)], now);
    assert!(
        !opened_for(&woke, CHANNEL_KEY),
        "nothing is committed yet: {woke:?}"
    );
    assert_eq!(core.next_due(), Some(now + 3), "first recheck 3 ms later");
    tx.commit().expect("commit");

    // No further write comes (the model is still thinking): the recheck finds the turn.
    let rechecked = core.on_due(now + 3);
    assert!(
        opened_for(&rechecked, CHANNEL_KEY),
        "the recheck opens the committed turn's box: {rechecked:?}"
    );
    assert_eq!(core.next_due(), Some(now + 12));

    // The later rechecks find nothing new, and then stop; a busy loop skips steps it missed.
    assert!(core.on_due(now + 50).is_empty());
    assert_eq!(core.next_due(), Some(now + 120));
    assert!(core.on_due(now + 120).is_empty());
    assert_eq!(core.next_due(), None, "an idle store is not asked again");
}
