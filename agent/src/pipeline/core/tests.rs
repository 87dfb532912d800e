//! The core must end at the boxes `replay` shows whatever order a tier reports the writes in:
//! a poll walk, or a tier that cannot see some writer and leaves it to the safety net, hands
//! over a transcript's lines and the index rename that named it in one batch, in any order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Core;
use crate::playback::{Pace, Recording};
use crate::session::tracker::SessionConfig;
use crate::session::{BoxDelta, BoxId, BoxModel, LineKind, LineStatus};
use crate::watch::{FsEvent, FsEventKind, Scope};

const DM: &str = "f7a0e9de-21f9-46d6-95d4-97f8b5f11adb.jsonl";
const SUBAGENT: &str = "a3f93169-53b5-4709-9894-bc712c4512a6.jsonl";

fn fixture(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openclaw")
        .join(scenario)
}

fn recording(scenario: &str) -> Recording {
    let dir = fixture(scenario);
    Recording::from_dir(&dir.join("sessions"), &dir.join("fs-events.log")).expect("recording")
}

/// A box as a person sees it: key, state, lines with depth and mark, tokens.
fn summary(m: &BoxModel) -> Vec<String> {
    let mut out = vec![format!("{} {}", m.session_key, m.state.tag())];
    for l in &m.lines {
        // A sub-agent's end line carries its wall-clock duration.
        let text = match l.kind {
            LineKind::SubAgentEnd => l.text.split(' ').next().unwrap_or(""),
            _ => &l.text,
        };
        let mark = match l.status {
            LineStatus::Ok => " [OK]",
            LineStatus::Err => " [ERR]",
            LineStatus::None => "",
        };
        out.push(format!("{}{text}{mark}", "  ".repeat(l.depth as usize)));
    }
    out.push(format!("tokens {}", m.tokens));
    out
}

#[derive(Default)]
struct Boxes {
    models: BTreeMap<BoxId, BoxModel>,
    order: Vec<BoxId>,
}

impl Boxes {
    fn fold(&mut self, deltas: Vec<BoxDelta>) {
        for d in deltas {
            if d.is_restored_history() {
                continue;
            }
            match self.models.get_mut(&d.id) {
                Some(m) => m.apply(&d).expect("delta in order"),
                None => {
                    self.order.push(d.id.clone());
                    self.models
                        .insert(d.id.clone(), BoxModel::open(&d).expect("open"));
                }
            }
        }
    }

    fn shown(&self) -> Vec<Vec<String>> {
        self.order
            .iter()
            .filter_map(|id| self.models.get(id))
            .filter(|m| !m.retracted)
            .map(summary)
            .collect()
    }
}

fn replayed(scenario: &str, last: usize) -> Vec<Vec<String>> {
    let all: Vec<Vec<String>> = crate::cli::replay::replay_models(
        &fixture(scenario).join("sessions"),
        SessionConfig::default(),
    )
    .expect("replay")
    .iter()
    .map(summary)
    .collect();
    all[all.len() - last..].to_vec()
}

fn write_index(sessions: &Path, bytes: &[u8]) {
    let tmp = sessions.join("sessions.json.1.tmp");
    std::fs::write(&tmp, bytes).expect("index tmp");
    std::fs::rename(&tmp, sessions.join("sessions.json")).expect("index rename");
}

fn event(sessions: &Path, name: &str, kind: FsEventKind) -> FsEvent {
    FsEvent {
        path: sessions.join(name),
        kind,
    }
}

/// A gateway whose sessions dir already holds `transcript`, empty and in no index, as the
/// core's first sight of it (the stand-in key `agent:main:transcript:<id>` it then gets).
fn core_with_unnamed_empty(state: &Path, index: &[u8], transcript: &str) -> (Core, PathBuf, i64) {
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("sessions dir");
    write_index(&sessions, index);
    std::fs::write(sessions.join(transcript), b"").expect("empty transcript");
    let mut core = Core::new(
        Scope::Gateways(vec![state.to_path_buf()]),
        SessionConfig::default(),
    );
    let now = crate::clock::now_ms();
    // Turns that ended before the daemon started are history, never a live box.
    let history = core.startup(now);
    assert!(
        history.iter().all(BoxDelta::is_restored_history),
        "{history:?}"
    );
    let seen = core.on_events(&[event(&sessions, transcript, FsEventKind::Created)], now);
    assert!(seen.is_empty(), "{seen:?}");
    (core, sessions, now)
}

#[test]
fn a_dm_whose_lines_come_before_the_index_rename_in_one_batch_still_shows_under_its_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut core, sessions, now) = core_with_unnamed_empty(tmp.path(), b"{}", DM);
    let dm = fixture("2026.7.1/c_dm/sessions");
    std::fs::write(sessions.join(DM), std::fs::read(dm.join(DM)).expect("dm")).expect("write");
    write_index(
        &sessions,
        &std::fs::read(dm.join("sessions.json")).expect("index"),
    );

    let mut boxes = Boxes::default();
    boxes.fold(core.on_events(
        &[
            event(&sessions, DM, FsEventKind::Appended),
            event(&sessions, "sessions.json", FsEventKind::Renamed),
        ],
        now,
    ));
    boxes.fold(core.tick(now + 60_000));

    assert_eq!(boxes.shown(), replayed("2026.7.1/c_dm", 1));
}

#[test]
fn a_sub_agent_seen_before_its_index_entry_is_nested_under_the_turn_that_spawned_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path();
    // What the gateway had written before the sub-agent scenario began, its index as the
    // previous scenario left it (no sub-agent in it).
    let rec = recording("2026.7.1/e_subagent");
    let mut player = rec.prepare(state, "main").expect("prepare");
    let before = std::fs::read(fixture("2026.7.1/d_tool_error/sessions/sessions.json"))
        .expect("index before");
    let (mut core, sessions, now) = core_with_unnamed_empty(state, &before, SUBAGENT);
    player
        .play(
            Pace {
                speed: 1e9,
                max_gap: Duration::ZERO,
            },
            |_| {},
        )
        .expect("play");

    // Everything the scenario wrote, reported in one batch with the index rename last.
    let mut batch: Vec<FsEvent> = std::fs::read_dir(&sessions)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jsonl"))
        .map(|n| event(&sessions, &n, FsEventKind::Appended))
        .collect();
    batch.sort_by(|a, b| a.path.cmp(&b.path));
    batch.push(event(&sessions, "sessions.json", FsEventKind::Renamed));
    let mut boxes = Boxes::default();
    boxes.fold(core.on_events(&batch, now));
    boxes.fold(core.tick(now + 60_000));

    assert_eq!(boxes.shown(), replayed("2026.7.1/e_subagent", 2));
}

#[test]
fn a_daily_reset_found_by_the_index_reread_for_an_unnamed_transcript_still_ends_the_old_turn() {
    let tmp = tempfile::tempdir().expect("tmp");
    let old_id = "11111111-1111-4111-8111-111111111111";
    let new_id = "22222222-2222-4222-8222-222222222222";
    let other_id = "33333333-3333-4333-8333-333333333333";
    let index = |main: &str, other: Option<&str>| {
        let mut v = serde_json::json!({"agent:main:main": {"sessionId": main}});
        if let Some(o) = other {
            v["agent:main:other"] = serde_json::json!({"sessionId": o});
        }
        serde_json::to_vec(&v).expect("json")
    };
    let unnamed = format!("{other_id}.jsonl");
    let (mut core, sessions, now) =
        core_with_unnamed_empty(tmp.path(), &index(old_id, None), &unnamed);
    // agent:main:main is mid-turn: the DM's lines up to its tool call.
    let dm = std::fs::read(fixture("2026.7.1/c_dm/sessions").join(DM)).expect("dm");
    let lines: Vec<&[u8]> = dm.split_inclusive(|b| *b == b'\n').collect();
    let old = format!("{old_id}.jsonl");
    std::fs::write(sessions.join(&old), lines[..6].concat()).expect("old transcript");
    let mut boxes = Boxes::default();
    boxes.fold(core.on_events(&[event(&sessions, &old, FsEventKind::Created)], now));
    assert_eq!(boxes.models.len(), 1);
    assert!(boxes.models.values().all(|m| !m.is_finished()));

    // The daily reset moves agent:main:main to a new transcript; the index rename is not
    // reported yet when lines of the transcript it also names for the first time come in.
    write_index(&sessions, &index(new_id, Some(other_id)));
    std::fs::write(sessions.join(&unnamed), lines[..5].concat()).expect("other transcript");
    boxes.fold(core.on_events(&[event(&sessions, &unnamed, FsEventKind::Appended)], now));

    let main: Vec<&BoxModel> = boxes
        .models
        .values()
        .filter(|m| m.session_key == "agent:main:main")
        .collect();
    assert_eq!(main.len(), 1, "{:#?}", boxes.shown());
    assert_eq!(
        main[0].state.tag(),
        "[INTERRUPTED]",
        "the reset turn stays open: {:#?}",
        boxes.shown()
    );
    assert!(
        boxes
            .models
            .values()
            .any(|m| m.session_key == "agent:main:other"),
        "{:#?}",
        boxes.shown()
    );
}
