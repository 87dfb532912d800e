//! The recorded OpenClaw 2026.9.6 stores: a channel turn with tools, and a thread reply that
//! forks the channel session.

use super::super::events::generation_id;
use super::super::{Cursor, StoreSession};
use super::support::*;
use crate::gateway::{Route, Target};
use crate::transcript::event::{StopReason, TranscriptEvent, TranscriptRecord};
use crate::transcript::parse::parse_line;

fn channel_route(root: Option<&str>) -> Option<Route> {
    Some(Route {
        account_id: "default".to_owned(),
        target: Target::Channel(TOWN.to_owned()),
        root_id: root.map(str::to_owned),
    })
}

/// `session_nodes.json` of the dump: `(key, current_session_id)`, sorted.
fn dumped_nodes(scenario: &str) -> Vec<(String, String)> {
    let mut nodes: Vec<(String, String)> = dump(scenario, "session_nodes.json")
        .as_array()
        .expect("array")
        .iter()
        .map(|n| {
            (
                n["session_key"].as_str().expect("key").to_owned(),
                n["current_session_id"].as_str().expect("sid").to_owned(),
            )
        })
        .collect();
    nodes.sort();
    nodes
}

fn generation_in_dump(scenario: &str, session_id: &str) -> i64 {
    let marks = dump(scenario, "transcript_rewrite_watermarks.json");
    let token = marks
        .as_array()
        .expect("array")
        .iter()
        .find(|m| m["session_id"] == session_id)
        .and_then(|m| m["generation"].as_str())
        .expect("watermark");
    generation_id(token)
}

#[test]
fn the_channel_session_is_routed_to_its_channel() {
    let fx = fixture("a_channel_tools", "final");
    let mut store = fx.open();
    assert_eq!(store.schema_version(), 23);
    let sessions = store.sessions().expect("sessions");
    assert_eq!(
        sessions,
        vec![StoreSession {
            key: CHANNEL_KEY.to_owned(),
            session_id: CHANNEL_SID.to_owned(),
            spawned_by: None,
            label: None,
            route: channel_route(None),
        }]
    );
    let listed: Vec<(String, String)> = sessions
        .iter()
        .map(|s| (s.key.clone(), s.session_id.clone()))
        .collect();
    assert_eq!(listed, dumped_nodes("a_channel_tools"));
}

#[test]
fn the_thread_session_is_routed_into_the_thread_of_the_first_post() {
    let fx = fixture("b_thread_reply", "final");
    let mut store = fx.open();
    let sessions = store.sessions().expect("sessions");
    let listed: Vec<(String, String)> = sessions
        .iter()
        .map(|s| (s.key.clone(), s.session_id.clone()))
        .collect();
    assert_eq!(listed, dumped_nodes("b_thread_reply"));

    // The thread's root is the post that started scenario a: the channel session's user row
    // recorded it as its transport message id.
    let root = dump_rows("b_thread_reply", CHANNEL_SID)
        .iter()
        .find_map(|(_, e)| {
            e["message"]["__openclaw"]["transport"]["messageId"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("the channel turn's post id");
    let nodes = dump("b_thread_reply", "session_nodes.json");
    let thread_node = nodes
        .as_array()
        .expect("array")
        .iter()
        .find(|n| n["current_session_id"] == THREAD_SID)
        .expect("thread node");
    let entry: serde_json::Value = match &thread_node["entry_json"] {
        serde_json::Value::String(s) => serde_json::from_str(s).expect("entry"),
        other => other.clone(),
    };
    assert_eq!(entry["delivery"]["route"]["thread"]["id"], root.as_str());

    let thread = sessions
        .iter()
        .find(|s| s.session_id == THREAD_SID)
        .expect("thread session");
    assert_eq!(thread.key, format!("{CHANNEL_KEY}:thread:{root}"));
    assert_eq!(thread.route, channel_route(Some(&root)));
    let channel = sessions
        .iter()
        .find(|s| s.session_id == CHANNEL_SID)
        .expect("channel session");
    assert_eq!(channel.route, channel_route(None));
}

#[test]
fn a_channel_turn_reads_as_user_tools_results_and_final_answer() {
    let fx = fixture("a_channel_tools", "final");
    let mut store = fx.open();
    let batch = store
        .read_new(CHANNEL_SID, Cursor::default(), 100)
        .expect("read");
    assert!(!batch.rewritten);
    assert_eq!(
        kinds(&batch.records),
        [
            "header",
            "user",
            "assistant(read,exec)",
            "result(read)",
            "result(exec)",
            "assistant"
        ]
    );
    let TranscriptEvent::User {
        text, message_id, ..
    } = &batch.records[1].event
    else {
        panic!("user");
    };
    assert!(text.starts_with("[scen:tools]"), "{text}");
    assert_eq!(message_id.as_deref(), Some("iyyqrdjs6b6wgnkd35sgtsx0kf"));
    let TranscriptEvent::Assistant {
        stop, total_tokens, ..
    } = &batch.records[2].event
    else {
        panic!("assistant");
    };
    assert_eq!((stop, *total_tokens), (&StopReason::ToolUse, Some(120)));
    for result in &batch.records[3..5] {
        assert!(
            matches!(
                &result.event,
                TranscriptEvent::ToolResult {
                    is_error: false,
                    ..
                }
            ),
            "{result:?}"
        );
    }
    let TranscriptEvent::Assistant {
        stop, total_tokens, ..
    } = &batch.records[5].event
    else {
        panic!("final assistant");
    };
    assert_eq!(stop, &StopReason::Stop);
    assert!(total_tokens.is_some_and(|t| t > 0));
    assert!(batch.records.iter().all(|r| !r.history));

    // The cursor is past the last row (a `custom` entry without a record), in the session's
    // rewrite generation.
    assert_eq!(
        batch.cursor,
        Cursor {
            generation: generation_in_dump("a_channel_tools", CHANNEL_SID),
            last_seq: 9
        }
    );
    // Every row of this recording is plain `event_json`: the exec output (971 bytes of JSON)
    // stayed under the gateway's compression threshold. Compressed rows: see `writer.rs`.
    assert_eq!(store.stats().rows, 10);
    assert_eq!(store.stats().zstd_rows, 0);

    let again = store
        .read_new(CHANNEL_SID, batch.cursor, 100)
        .expect("again");
    assert!(again.records.is_empty());
    assert_eq!((again.cursor, again.rewritten), (batch.cursor, false));
}

#[test]
fn rows_hold_the_same_entries_as_the_jsonl_files() {
    for (scenario, sid) in [
        ("a_channel_tools", CHANNEL_SID),
        ("b_thread_reply", CHANNEL_SID),
        ("b_thread_reply", THREAD_SID),
    ] {
        let expected: Vec<TranscriptEvent> = dump_rows(scenario, sid)
            .iter()
            .filter_map(|(_, e)| parse_line(e.to_string().as_bytes()).expect("dump entry parses"))
            .collect();
        let mut store = fixture(scenario, "final").open();
        let (records, _) = read_all(&mut store, sid, Cursor::START, 1000);
        let events: Vec<TranscriptEvent> = records.into_iter().map(|r| r.event).collect();
        assert_eq!(events, expected, "{scenario} {sid}");
    }
}

#[test]
fn max_bounds_each_batch_and_the_batches_add_up_without_gap_or_duplicate() {
    let mut store = fixture("b_thread_reply", "final").open();
    let (all, end) = read_all(&mut store, THREAD_SID, Cursor::START, 1000);
    assert_eq!(all.len(), 10);
    for max in 1..=all.len() + 1 {
        let (records, cursor) = read_all(&mut store, THREAD_SID, Cursor::START, max);
        assert_eq!(records, all, "max {max}");
        assert_eq!(cursor, end, "max {max}");
    }
    let none = store.read_new(THREAD_SID, Cursor::START, 0).expect("max 0");
    assert!(none.records.is_empty());
    assert_eq!(none.cursor.last_seq, -1);
}

#[test]
fn the_live_copy_with_every_row_in_the_wal_reads_like_the_checkpointed_one() {
    for scenario in ["a_channel_tools", "b_thread_reply"] {
        let live = fixture(scenario, "live");
        if scenario == "a_channel_tools" {
            let main = std::fs::metadata(&live.db).expect("main file").len();
            let wal = std::fs::metadata(format!("{}-wal", live.db.display()))
                .expect("wal")
                .len();
            assert_eq!(
                main, 4096,
                "a brand-new store: only its first page is checkpointed"
            );
            assert!(wal > 1 << 20, "the rows are in the WAL ({wal} bytes)");
        }
        let mut live = live.open();
        let mut done = fixture(scenario, "final").open();
        assert_eq!(
            live.sessions().expect("live"),
            done.sessions().expect("final")
        );
        for session in done.sessions().expect("sessions") {
            let sid = session.session_id.as_str();
            let a = read_all(&mut live, sid, Cursor::START, 4);
            let b = read_all(&mut done, sid, Cursor::START, 4);
            assert!(!a.0.is_empty(), "{scenario} {sid}");
            assert_eq!(a, b, "{scenario} {sid}");
        }
    }
}

fn thread_kinds() -> Vec<&'static str> {
    vec![
        "header",
        "history:user",
        "history:assistant(read,exec)",
        "history:result(read)",
        "history:result(exec)",
        "history:assistant",
        "user",
        "assistant(exec)",
        "result(exec)",
        "assistant",
    ]
}

#[test]
fn a_thread_reply_marks_the_copied_channel_history() {
    let mut store = fixture("b_thread_reply", "final").open();
    let (records, _) = read_all(&mut store, THREAD_SID, Cursor::START, 1000);
    assert_eq!(kinds(&records), thread_kinds());
    let TranscriptEvent::Header {
        parent_session: Some(parent),
        ts_ms: Some(fork_ts),
        ..
    } = &records[0].event
    else {
        panic!("a fork header");
    };
    assert!(
        parent.starts_with(&format!("sqlite:main:{CHANNEL_SID}:")),
        "{parent}"
    );
    for r in &records[1..] {
        let ts = r.event.ts_ms().expect("stamped");
        assert_eq!(r.history, ts < *fork_ts, "{r:?}");
    }
    let TranscriptEvent::User { message_id, .. } = &records[6].event else {
        panic!("the thread's own prompt");
    };
    assert_eq!(message_id.as_deref(), Some("xb35ex1jv8rh386gvx5p6h51d7"));

    // The channel session itself has no copied history.
    let (channel, _) = read_all(&mut store, CHANNEL_SID, Cursor::START, 1000);
    assert!(channel.iter().all(|r| !r.history));
}

#[test]
fn resuming_inside_the_copied_prefix_after_a_restart_keeps_marking_it() {
    let fx = fixture("b_thread_reply", "final");
    let full = read_all(&mut fx.open(), THREAD_SID, Cursor::START, 1000).0;
    for split in 1..full.len() {
        let first = fx
            .open()
            .read_new(THREAD_SID, Cursor::START, split)
            .expect("first part");
        // A new store: nothing remembered of the fork, as after a daemon restart.
        let (rest, _) = read_all(&mut fx.open(), THREAD_SID, first.cursor, 1000);
        let mut joined: Vec<TranscriptRecord> = first.records;
        joined.extend(rest);
        assert_eq!(joined, full, "split after {split} records");
    }
}
