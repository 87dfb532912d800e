//! The plugin transport of the one Mattermost sink, against the stub's stand-in for the plugin's
//! batch API: batching across sessions, seq and snapshots, auto-detection, and the move of a box
//! to REST, in the post the plugin made.

use std::time::Duration;

use serde_json::Value;
use tokio::time::{Instant, sleep};

use super::stub::{PLUGIN_SECRET, Stub, StubState, wait_until};
use super::*;
use crate::service::config::{MattermostMode, Secret};
use crate::sink::mattermost::PluginOptions;

fn plugin_opts(mode: MattermostMode, throttle_ms: u64) -> RestOptions {
    RestOptions {
        throttle: Duration::from_millis(throttle_ms),
        plugin: PluginOptions {
            mode,
            url: None,
            secret: Some(Secret::new(PLUGIN_SECRET)),
            recheck: Duration::from_millis(100),
            servers: Default::default(),
        },
        ..opts()
    }
}

/// Makes the plugin answer again (`change`), then waits until the sink has asked its health:
/// from then on a box that opens goes to it.
async fn plugin_back(stub: &Stub, change: impl FnOnce(&mut StubState)) {
    let healths = stub.with(|s| {
        change(s);
        s.plugin.healths
    });
    stub.wait("the plugin's health asked again", WAIT, |s| {
        s.plugin.healths > healths
    })
    .await;
}

fn ops_of(delta: &Value) -> Vec<String> {
    delta["ops"]
        .as_array()
        .map(|ops| {
            ops.iter()
                .map(|o| o["op"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn many_sessions_stream_in_one_batch_per_window_and_no_post_is_edited() {
    let stub = Stub::start().await;
    stub.with(|s| s.plugin.up = true);
    let window = Duration::from_millis(200);
    let mut sink = RestSink::start(
        plugin_opts(MattermostMode::Auto, window.as_millis() as u64),
        accounts(&stub),
        PostStore::in_memory(),
    );
    let mut turns: Vec<Turn> = (0..10)
        .map(|n| Turn::new(&key(n), 1, to_channel(None)))
        .collect();
    let start = Instant::now();
    for t in &mut turns {
        sink.deliver(&[t.open()], NOW);
    }
    for step in 0..20 {
        for t in &mut turns {
            sink.deliver(&[t.line(&format!("exec: step {step}"))], NOW);
        }
        // A fixed pace on purpose: lines over several batch windows.
        sleep(Duration::from_millis(20)).await;
    }
    for t in &mut turns {
        sink.deliver(&[t.close(BoxState::Done)], NOW);
    }
    stub.wait("every session closed", WAIT, |s| {
        s.plugin.sessions.len() == 10 && s.plugin.sessions.values().all(|v| v.3)
    })
    .await;
    let elapsed = start.elapsed();
    sink.finish(NOW);
    let report = sink.drain(WAIT).await;
    assert_eq!(report.plugin_posts, 10);
    assert_eq!(report.delivered, 10);
    stub.with(|s| {
        // One request per window for all ten sessions (leading edge + one per window after).
        let windows = (elapsed.as_millis() / window.as_millis()) as usize + 2;
        assert!(
            s.plugin.batches.len() <= windows,
            "{} batches in {elapsed:?}",
            s.plugin.batches.len()
        );
        // Each batch carries a session at most once, as one delta.
        for b in &s.plugin.batches {
            let mut keys: Vec<&str> = b.iter().filter_map(|d| d["session_key"].as_str()).collect();
            let n = keys.len();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), n, "{b:#?}");
        }
        // Every line arrived, in order, once.
        for n in 0..10 {
            let (_, _, applied, _) = &s.plugin.sessions[&key(n)];
            let lines: Vec<&str> = applied
                .iter()
                .filter(|o| o["op"] == "add_line")
                .filter_map(|o| o["text"].as_str())
                .collect();
            let want: Vec<String> = (0..20).map(|i| format!("exec: step {i}")).collect();
            assert_eq!(lines, want, "session {n}");
        }
        // The first delta of a box opens it at seq 1.
        let first = &s.plugin.batches[0][0];
        assert_eq!(first["seq"], 1);
        assert_eq!(ops_of(first)[0], "open");
        assert_eq!(first["channel_id"], CH);
        // Nothing over REST: no post made or edited by the bot.
        assert_eq!(s.creates(), 0);
        assert_eq!(s.patches(), 0);
        assert_eq!(s.plugin.healths, 1, "health is checked once for the server");
        assert_eq!(
            report.requests as usize,
            s.plugin.batches.len() + s.plugin.healths,
            "every request is counted"
        );
    });
}

#[tokio::test]
async fn a_gap_is_repaired_with_a_snapshot_that_keeps_the_post() {
    let stub = Stub::start().await;
    stub.with(|s| s.plugin.up = true);
    let mut sink = RestSink::start(
        plugin_opts(MattermostMode::Plugin, 20),
        accounts(&stub),
        PostStore::in_memory(),
    );
    let mut t = Turn::new(&key(1), 1, to_channel(Some(ROOT)));
    sink.deliver(&[t.open(), t.line("read: a")], NOW);
    stub.wait("the box at the plugin", WAIT, |s| {
        s.plugin.sessions.contains_key(&key(1))
    })
    .await;
    let post = stub.with(|s| s.plugin.sessions[&key(1)].1.clone());
    // The plugin's record falls behind (a lost KV write): it has seq 0 of nothing newer.
    stub.with(|s| {
        if let Some(rec) = s.plugin.sessions.get_mut(&key(1)) {
            rec.0 = 0;
        }
    });
    let batches = stub.with(|s| s.plugin.batches.len());
    sink.deliver(&[t.line("read: b")], NOW);
    // The gap is met by the batch that carries b, before c is written.
    stub.wait("the batch after the gap", WAIT, |s| {
        s.plugin.batches.len() > batches
    })
    .await;
    sink.deliver(&[t.line("read: c"), t.close(BoxState::Done)], NOW);
    stub.wait("a finished record", WAIT, |s| s.plugin.sessions[&key(1)].3)
        .await;
    stub.with(|s| {
        let (_, kept, ops, _) = &s.plugin.sessions[&key(1)];
        assert_eq!(kept, &post, "the snapshot keeps the post");
        let snapshot = s
            .plugin
            .batches
            .iter()
            .flatten()
            .find(|d| d["snapshot"] == true)
            .expect("a snapshot after the gap");
        assert_eq!(ops_of(snapshot)[0], "open");
        assert_eq!(snapshot["root_id"], ROOT);
        let lines: Vec<&str> = ops
            .iter()
            .filter(|o| o["op"] == "add_line")
            .filter_map(|o| o["text"].as_str())
            .collect();
        assert_eq!(lines, ["read: a", "read: b", "read: c"]);
        assert_eq!(s.creates(), 0);
    });
}

#[tokio::test]
async fn a_plugin_that_keeps_failing_hands_its_boxes_to_rest_in_the_same_post_and_new_boxes_return()
{
    let stub = Stub::start().await;
    stub.with(|s| s.plugin.up = true);
    let mut sink = RestSink::start(
        plugin_opts(MattermostMode::Auto, 20),
        accounts(&stub),
        PostStore::in_memory(),
    );
    let mut t = Turn::new(&key(1), 1, to_channel(None));
    sink.deliver(&[t.open(), t.line("read: a")], NOW);
    stub.wait("the plugin's post", WAIT, |s| {
        s.plugin.sessions.contains_key(&key(1))
    })
    .await;
    let post = stub.with(|s| s.plugin.sessions[&key(1)].1.clone());
    stub.with(|s| s.plugin.failing = true);
    sink.deliver(&[t.line("read: b")], NOW);
    sink.deliver(&[t.close(BoxState::Done)], NOW);
    let last = t.text();
    stub.wait("the final box over REST", WAIT, |s| {
        s.posts.get(&post).is_some_and(|p| p.message == last)
    })
    .await;
    stub.with(|s| {
        assert_eq!(s.creates(), 0, "the box moved; it was not posted again");
        assert!(s.patches() >= 1);
    });

    // Back: the plugin answers again; the next turn goes to it.
    plugin_back(&stub, |s| s.plugin.failing = false).await;
    let mut t2 = Turn::new(&key(2), 1, to_channel(None));
    sink.deliver(
        &[t2.open(), t2.line("read: z"), t2.close(BoxState::Done)],
        NOW,
    );
    stub.wait("the next turn at the plugin", WAIT, |s| {
        s.plugin.sessions.get(&key(2)).is_some_and(|r| r.3)
    })
    .await;
    // The moved box's record at the plugin was left active: it gets the final box (keeping
    // the post), so the plugin's cleanup never marks that post [INTERRUPTED].
    stub.wait("the moved box's final state at the plugin", WAIT, |s| {
        s.plugin.sessions.get(&key(1)).is_some_and(|r| r.3)
    })
    .await;
    sink.finish(NOW);
    let report = sink.drain(WAIT).await;
    assert_eq!(report.delivered, 2);
    stub.with(|s| {
        assert_eq!(s.creates(), 0);
        assert_eq!(s.plugin.sessions[&key(1)].1, post, "the same post");
        let snapshot = s
            .plugin
            .batches
            .iter()
            .flatten()
            .find(|d| d["session_key"] == key(1).as_str() && d["snapshot"] == true)
            .expect("the final box as a snapshot");
        assert_eq!(ops_of(snapshot).last().map(String::as_str), Some("close"));
    });
}

#[tokio::test]
async fn rest_mode_or_no_secret_never_asks_the_plugin_and_auto_without_one_is_rest() {
    for (mode, secret) in [(MattermostMode::Rest, true), (MattermostMode::Auto, false)] {
        let stub = Stub::start().await;
        stub.with(|s| s.plugin.up = true);
        let mut o = plugin_opts(mode, 20);
        if !secret {
            o.plugin.secret = None;
        }
        let mut sink = RestSink::start(o, accounts(&stub), PostStore::in_memory());
        let mut t = Turn::new(&key(1), 1, to_channel(None));
        sink.deliver(&[t.open(), t.close(BoxState::Done)], NOW);
        stub.wait("the REST post", WAIT, |s| s.creates() == 1).await;
        sink.finish(NOW);
        sink.drain(WAIT).await;
        stub.with(|s| {
            assert_eq!(s.plugin.healths, 0, "{mode:?}");
            assert!(s.plugin.batches.is_empty(), "{mode:?}");
        });
        if !secret {
            let modes = sink_modes_after(&stub).await;
            assert!(modes.contains("no plugin secret"), "{modes}");
        }
    }
}

/// The `transport_modes` of a sink that handled one box with auto and no secret.
async fn sink_modes_after(stub: &Stub) -> String {
    let mut o = plugin_opts(MattermostMode::Auto, 20);
    o.plugin.secret = None;
    let mut sink = RestSink::start(o, accounts(stub), PostStore::in_memory());
    let mut t = Turn::new(&key(9), 1, to_channel(None));
    sink.deliver(&[t.open()], NOW);
    wait_until("the sink's transport modes", WAIT, || {
        !sink.transport_modes().is_empty()
    })
    .await;
    format!("{:?}", sink.transport_modes())
}

#[tokio::test]
async fn auto_uses_rest_while_the_plugin_is_missing_and_the_plugin_once_it_answers() {
    let stub = Stub::start().await;
    let mut sink = RestSink::start(
        plugin_opts(MattermostMode::Auto, 20),
        accounts(&stub),
        PostStore::in_memory(),
    );
    let mut t = Turn::new(&key(1), 1, to_channel(None));
    sink.deliver(&[t.open(), t.close(BoxState::Done)], NOW);
    stub.wait("the REST post", WAIT, |s| s.creates() == 1).await;
    assert!(format!("{:?}", sink.transport_modes()).contains("rest"));
    plugin_back(&stub, |s| s.plugin.up = true).await;
    let mut t2 = Turn::new(&key(2), 1, to_channel(None));
    sink.deliver(&[t2.open(), t2.close(BoxState::Done)], NOW);
    stub.wait("the plugin's record", WAIT, |s| {
        s.plugin.sessions.get(&key(2)).is_some_and(|r| r.3)
    })
    .await;
    stub.with(|s| assert_eq!(s.creates(), 1, "only the first box went over REST"));
    let modes = format!("{:?}", sink.transport_modes());
    assert!(modes.contains("plugin"), "{modes}");
}

#[tokio::test]
async fn a_plugin_post_the_bot_may_not_edit_is_posted_anew_rather_than_lost() {
    let stub = Stub::start().await;
    stub.with(|s| s.plugin.up = true);
    let mut sink = RestSink::start(
        plugin_opts(MattermostMode::Plugin, 20),
        accounts(&stub),
        PostStore::in_memory(),
    );
    let mut t = Turn::new(&key(1), 1, to_channel(None));
    sink.deliver(&[t.open(), t.line("read: a")], NOW);
    stub.wait("the plugin's post", WAIT, |s| {
        s.plugin.sessions.contains_key(&key(1))
    })
    .await;
    stub.with(|s| {
        s.plugin.failing = true;
        // Mattermost's answer to editing another author's post without edit_others_posts.
        s.faults.push_back(super::stub::Fault {
            method: "PUT",
            path_end: "/patch",
            status: 403,
            headers: Vec::new(),
            body: r#"{"id":"api.context.permissions.app_error","message":"You do not have the appropriate permissions."}"#.into(),
        });
    });
    sink.deliver(&[t.line("read: b"), t.close(BoxState::Done)], NOW);
    let last = t.text();
    stub.wait("the box in a REST post", WAIT, |s| has_text(s, &last))
        .await;
    stub.with(|s| assert_eq!(s.creates(), 1));
}

/// A restart mid-turn: the post the plugin made is continued there (a snapshot keeps it), not
/// edited over REST nor made again.
#[tokio::test]
async fn a_restart_mid_turn_continues_the_plugins_post_through_the_plugin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stub = Stub::start().await;
    stub.with(|s| s.plugin.up = true);
    let mut first = RestSink::start(
        plugin_opts(MattermostMode::Auto, 20),
        accounts(&stub),
        file_store(dir.path()),
    );
    let mut t = Turn::new(&key(1), 1, to_channel(None));
    first.deliver(&[t.open(), t.line("exec: ls")], NOW);
    stub.wait("the plugin's post", WAIT, |s| {
        s.plugin.sessions.contains_key(&key(1))
    })
    .await;
    let post = stub.with(|s| s.plugin.sessions[&key(1)].1.clone());
    let path = dir.path().join("posts.json");
    wait_until("the plugin's post id saved", WAIT, || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .contains(&post)
    })
    .await;
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default()).expect("store");
    assert_eq!(saved["posts"][0]["by_plugin"], true, "{saved:#}");
    drop(first);

    let mut second = RestSink::start(
        plugin_opts(MattermostMode::Auto, 20),
        accounts(&stub),
        file_store(dir.path()),
    );
    let mut again = Turn::new(&key(1), 1, to_channel(None));
    second.deliver(
        &[again.restored(&["exec: ls", "exec: cat"], Some(BoxState::Done))],
        NOW,
    );
    stub.wait("the restored box finished at the plugin", WAIT, |s| {
        s.plugin.sessions[&key(1)].3
    })
    .await;
    let report = second.drain(WAIT).await;
    assert_eq!(report.delivered, 1);
    stub.with(|s| {
        assert_eq!(s.plugin.sessions[&key(1)].1, post, "the same post");
        let last = s.plugin.batches.last().expect("a batch");
        assert_eq!(last[0]["snapshot"], true, "{last:#?}");
        assert_eq!(s.creates(), 0);
        assert_eq!(s.patches(), 0);
    });
}
