//! A copy of a recorded store, written while the reader follows it: appends (some compressed),
//! rewrites, routing changes, a migration.

use super::super::events::generation_id;
use super::super::{Cursor, StoreError};
use super::support::*;
use crate::gateway::{Route, Target};
use crate::transcript::event::TranscriptEvent;

const BIG_OUTPUT_CALL: &str = "call_zstd_0001";

/// A tool result too large for `event_json` in 2026.9.6 (exec output over about 1 KB).
fn big_tool_result() -> String {
    serde_json::json!({
        "type": "message", "id": "e-big", "parentId": "e-user",
        "timestamp": "2026-11-22T03:48:01.000Z",
        "message": {"role": "toolResult", "toolCallId": BIG_OUTPUT_CALL, "toolName": "exec",
                    "isError": false,
                    "content": [{"type": "text", "text": "line of output\n".repeat(400)}],
                    "timestamp": 1795319281000_i64}
    })
    .to_string()
}

fn user_row() -> String {
    serde_json::json!({
        "type": "message", "id": "e-user", "parentId": null,
        "timestamp": "2026-11-22T03:48:00.000Z",
        "message": {"role": "user", "content": "[scen:more] once more", "timestamp": 1795319280000_i64}
    })
    .to_string()
}

#[test]
fn a_commit_while_the_reader_is_open_changes_the_token_and_yields_exactly_the_new_rows() {
    let fx = fixture("a_channel_tools", "final");
    let mut writer = fx.writer();
    let mut store = fx.open();
    let (_, cursor) = read_all(&mut store, CHANNEL_SID, Cursor::START, 100);
    let before = store.change_token().expect("token");
    assert_eq!(
        store.change_token().expect("token"),
        before,
        "nothing changed"
    );

    append(
        &mut writer,
        CHANNEL_SID,
        &[(10, &user_row(), false), (11, &big_tool_result(), true)],
    );
    let stored: Option<String> = writer
        .query_row(
            "SELECT event_json FROM transcript_events WHERE session_id = ?1 AND seq = 11",
            [CHANNEL_SID],
            |r| r.get(0),
        )
        .expect("row 11");
    assert_eq!(stored, None, "row 11 is stored compressed only");

    let after = store.change_token().expect("token");
    assert_ne!(after, before, "a commit by the gateway moves the token");
    let zstd_before = store.stats().zstd_rows;
    let batch = store.read_new(CHANNEL_SID, cursor, 100).expect("read");
    assert!(!batch.rewritten);
    assert_eq!(kinds(&batch.records), ["user", "result(exec)"]);
    let TranscriptEvent::ToolResult { tool_call_id, .. } = &batch.records[1].event else {
        panic!("tool result");
    };
    assert_eq!(tool_call_id, BIG_OUTPUT_CALL);
    assert_eq!(store.stats().zstd_rows, zstd_before + 1);
    assert_eq!(
        batch.cursor,
        Cursor {
            generation: cursor.generation,
            last_seq: 11
        }
    );
    assert!(
        store
            .read_new(CHANNEL_SID, batch.cursor, 100)
            .expect("again")
            .records
            .is_empty()
    );
}

#[test]
fn the_reader_never_holds_back_the_gateways_checkpoint() {
    let fx = fixture("a_channel_tools", "live");
    let writer = fx.writer();
    let mut store = fx.open();
    let (records, _) = read_all(&mut store, CHANNEL_SID, Cursor::START, 100);
    store.sessions().expect("sessions");
    // TRUNCATE needs every reader out of the WAL: the reader's transactions are over.
    let (busy, _, _): (i64, i64, i64) = writer
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .expect("checkpoint");
    assert_eq!(busy, 0, "the checkpoint was not blocked");
    let wal = std::fs::metadata(format!("{}-wal", fx.db.display()))
        .expect("wal")
        .len();
    assert_eq!(wal, 0, "the WAL was truncated");
    // Still open, still reading the same rows, now from the main file.
    let (again, _) = read_all(&mut store, CHANNEL_SID, Cursor::START, 100);
    assert_eq!(again, records);
}

#[test]
fn a_new_generation_restarts_the_transcript_from_the_start() {
    let fx = fixture("a_channel_tools", "final");
    let writer = fx.writer();
    let mut store = fx.open();
    let (all, cursor) = read_all(&mut store, CHANNEL_SID, Cursor::START, 100);

    writer
        .execute(
            "UPDATE transcript_rewrite_watermarks SET generation = ?1 WHERE session_id = ?2",
            ["0123456789abcdef0123456789abcdef", CHANNEL_SID],
        )
        .expect("rewrite");
    let batch = store.read_new(CHANNEL_SID, cursor, 100).expect("read");
    assert!(batch.rewritten);
    assert_eq!(batch.records, all, "the whole transcript again");
    assert_eq!(
        batch.cursor,
        Cursor {
            generation: generation_id("0123456789abcdef0123456789abcdef"),
            last_seq: 9
        }
    );
    // Bounded too: the first batch of a rewrite starts at the header.
    let first = store.read_new(CHANNEL_SID, cursor, 2).expect("read");
    assert!(first.rewritten);
    assert_eq!(kinds(&first.records), ["header", "user"]);
    let next = store
        .read_new(CHANNEL_SID, batch.cursor, 100)
        .expect("read");
    assert!(!next.rewritten && next.records.is_empty());
}

#[test]
fn rows_gone_behind_the_cursor_count_as_a_rewrite() {
    let fx = fixture("a_channel_tools", "final");
    let writer = fx.writer();
    let mut store = fx.open();
    let (_, cursor) = read_all(&mut store, CHANNEL_SID, Cursor::START, 100);
    writer
        .execute(
            "DELETE FROM transcript_events WHERE session_id = ?1 AND seq > 4",
            [CHANNEL_SID],
        )
        .expect("truncate");
    let batch = store.read_new(CHANNEL_SID, cursor, 100).expect("read");
    assert!(batch.rewritten);
    assert_eq!(
        kinds(&batch.records),
        ["header", "user", "assistant(read,exec)"]
    );
}

#[test]
fn a_cursor_taken_before_any_watermark_adopts_the_first_one() {
    let fx = fixture("a_channel_tools", "final");
    let mut store = fx.open();
    let (_, cursor) = read_all(&mut store, CHANNEL_SID, Cursor::START, 100);
    let unmarked = Cursor {
        generation: 0,
        ..cursor
    };
    let batch = store.read_new(CHANNEL_SID, unmarked, 100).expect("read");
    assert!(!batch.rewritten && batch.records.is_empty());
    assert_eq!(batch.cursor, cursor);
}

const ALICE: &str = "us3a7lice0000000000000000a";
const ALICE_DM: &str = "ch7dm0alice0bot00000000000";
const BOB: &str = "us9bob000000000000000000bb";
const BOB_DM: &str = "ch9bobdm00000000000000000b";
const CAROL: &str = "us9carol00000000000000000c";

fn dm_entry(user: &str, native: Option<&str>) -> String {
    let mut origin = serde_json::json!({
        "provider": "mattermost", "surface": "mattermost", "chatType": "direct",
        "from": format!("mattermost:{user}"), "to": format!("user:{user}"), "accountId": "default"
    });
    if let Some(native) = native {
        origin["nativeChannelId"] = native.into();
    }
    serde_json::json!({
        "sessionId": format!("dm-{user}"), "chatType": "direct",
        "delivery": {"kind": "external",
                     "route": {"channel": "mattermost", "accountId": "default",
                               "target": {"to": format!("user:{user}")}},
                     "context": {"channel": "mattermost", "to": format!("user:{user}"),
                                 "accountId": "default"},
                     "origin": origin}
    })
    .to_string()
}

#[test]
fn a_dm_goes_to_the_recorded_dm_channel_and_otherwise_to_the_user() {
    let fx = fixture("a_channel_tools", "final");
    let writer = fx.writer();
    let mut store = fx.open();
    for (key, user, native) in [
        ("agent:main:main", ALICE, Some(ALICE_DM)),
        ("agent:main:bob", BOB, None),
        ("agent:main:carol", CAROL, None),
    ] {
        writer
            .execute(
                "INSERT INTO session_nodes (session_key, current_session_id, entry_json, updated_at) \
                 VALUES (?1, ?2, ?3, 1)",
                [key, &format!("dm-{user}"), &dm_entry(user, native)],
            )
            .expect("insert node");
    }
    // Bob's DM channel is known only to the conversation registry, as 2026.9.6 keeps it.
    writer
        .execute(
            "INSERT INTO conversations (conversation_id, channel, account_id, kind, peer_id, \
             delivery_target, native_channel_id, created_at, updated_at) \
             VALUES ('conv_bob', 'mattermost', 'default', 'direct', ?1, ?2, ?3, 1, 1)",
            [BOB, &format!("user:{BOB}"), BOB_DM],
        )
        .expect("insert conversation");
    let sessions = store.sessions().expect("sessions");
    let route_of = |key: &str| {
        sessions
            .iter()
            .find(|s| s.key == key)
            .and_then(|s| s.route.clone())
            .expect("routed")
    };
    let dm = |target| Route {
        account_id: "default".to_owned(),
        target,
        root_id: None,
    };
    assert_eq!(
        route_of("agent:main:main"),
        dm(Target::Channel(ALICE_DM.to_owned()))
    );
    assert_eq!(
        route_of("agent:main:bob"),
        dm(Target::Channel(BOB_DM.to_owned()))
    );
    assert_eq!(
        route_of("agent:main:carol"),
        dm(Target::User(CAROL.to_owned()))
    );
}

#[test]
fn a_migration_under_the_reader_is_an_unknown_schema_until_it_is_done() {
    let fx = fixture("a_channel_tools", "final");
    let writer = fx.writer();
    let mut store = fx.open();
    writer
        .execute_batch("ALTER TABLE transcript_events RENAME TO transcript_events_v23")
        .expect("rename");
    let err = store
        .read_new(CHANNEL_SID, Cursor::START, 10)
        .expect_err("table gone");
    let StoreError::UnknownSchema { found, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(found, "schema 23: no table transcript_events");
    assert!(!err.is_transient());
    writer
        .execute_batch("ALTER TABLE transcript_events_v23 RENAME TO transcript_events")
        .expect("rename back");
    let (records, _) = read_all(&mut store, CHANNEL_SID, Cursor::START, 100);
    assert_eq!(records.len(), 6);
}
