//! A transcript rewritten in place while its turn runs, through the whole core: the box ends
//! like the replay of the rewritten file, with no tool line lost.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Core;
use crate::cli::replay::replay_models;
use crate::session::tracker::SessionConfig;
use crate::session::{BoxDelta, BoxId, BoxModel, LineStatus};
use crate::watch::{FsEvent, FsEventKind, Scope};

const TRANSCRIPT: &str = "378cc088-7929-479b-991c-8aad99f30827.jsonl";

fn fixture_sessions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openclaw/2026.7.1/a_channel_tools/sessions")
}

/// Every box the deltas built, by id.
fn models(deltas: &[BoxDelta]) -> BTreeMap<BoxId, BoxModel> {
    let mut out: BTreeMap<BoxId, BoxModel> = BTreeMap::new();
    for d in deltas {
        match out.get_mut(&d.id) {
            Some(model) => model.apply(d).expect("deltas in sequence"),
            None => {
                out.insert(d.id.clone(), BoxModel::open(d).expect("opens"));
            }
        }
    }
    out
}

fn summary(model: &BoxModel) -> Vec<String> {
    let mut out = vec![format!("{} {:?}", model.session_key, model.state)];
    out.extend(model.lines.iter().map(|l| {
        let mark = match l.status {
            LineStatus::Ok => " [OK]",
            LineStatus::Err => " [ERR]",
            LineStatus::None => "",
        };
        format!("{}{mark}", l.text)
    }));
    out
}

#[test]
fn a_transcript_rewritten_in_place_mid_turn_loses_no_tool_line() {
    let bytes = std::fs::read_to_string(fixture_sessions().join(TRANSCRIPT)).expect("fixture");
    let lines: Vec<&str> = bytes.lines().collect();
    assert_eq!(
        lines.len(),
        10,
        "header, 3 settings, the ask, tool calls, 2 results, answer, custom"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("sessions dir");
    std::fs::copy(
        fixture_sessions().join("sessions.json"),
        sessions.join("sessions.json"),
    )
    .expect("index");
    let transcript = sessions.join(TRANSCRIPT);
    let lock = sessions.join(format!("{TRANSCRIPT}.lock"));

    // The daemon starts while the turn runs: the model has asked for two tools.
    std::fs::write(&transcript, format!("{}\n", lines[..6].join("\n"))).expect("transcript");
    std::fs::write(&lock, "{}").expect("lock");
    let now =
        crate::transcript::timestamp::parse_rfc3339_ms("2026-11-22T03:50:32.800Z").expect("time");
    let mut core = Core::new(
        Scope::Gateways(vec![state.clone()]),
        SessionConfig::default(),
    );
    let mut deltas = core.startup(now);

    // The gateway rewrites the session in place (one entry dropped, the results and the answer
    // added) in one write: same inode, longer than what was read, other bytes at the offset.
    let mut rewritten: Vec<&str> = lines.clone();
    rewritten.remove(3);
    let rewritten = format!("{}\n", rewritten.join("\n"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&transcript)
        .expect("open for rewrite");
    f.write_all(rewritten.as_bytes()).expect("rewrite");
    drop(f);
    let appended = FsEvent {
        path: transcript.clone(),
        kind: FsEventKind::Appended,
    };
    deltas.extend(core.on_event(&appended, now + 6_000));
    std::fs::remove_file(&lock).expect("unlock");
    let unlocked = FsEvent {
        path: lock,
        kind: FsEventKind::Removed,
    };
    deltas.extend(core.on_event(&unlocked, now + 6_100));

    let live: Vec<Vec<String>> = models(&deltas).values().map(summary).collect();
    let replayed: Vec<Vec<String>> = replay_models(&sessions, SessionConfig::default())
        .expect("replay")
        .iter()
        .map(summary)
        .collect();
    assert_eq!(live, replayed);
    assert!(
        live[0].iter().filter(|l| l.ends_with("[OK]")).count() >= 2,
        "both tools done: {live:?}"
    );
}
