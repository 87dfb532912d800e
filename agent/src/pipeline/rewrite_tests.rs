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

use super::recorded_gateway::{TRANSCRIPT, recorded_gateway, recorded_transcript};

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
    let bytes = recorded_transcript();
    let lines: Vec<&str> = bytes.lines().collect();
    assert_eq!(
        lines.len(),
        10,
        "header, 3 settings, the ask, tool calls, 2 results, answer, custom"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let (state, sessions) = recorded_gateway(tmp.path());
    let transcript = sessions.join(TRANSCRIPT);
    let lock = sessions.join(format!("{TRANSCRIPT}.lock"));

    // The daemon starts while the turn runs: the model has asked for two tools.
    std::fs::write(&transcript, format!("{}\n", lines[..6].join("\n"))).expect("transcript");
    std::fs::write(&lock, "{}").expect("lock");
    let now = crate::clock::parse_rfc3339_ms("2026-11-22T03:50:32.800Z").expect("time");
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

const TURNS: usize = 6;

/// The fixture's turn (the ask to the answer) `n` times, each ten minutes after the one before.
fn turns(lines: &[&str], n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|i| {
            lines[4..9]
                .iter()
                .map(move |l| l.replace("2026-11-22T03:5", &format!("2026-11-22T{:02}:5", 4 + i)))
        })
        .collect()
}

/// Appends `lines` one at a time, each seen by its own event a second after the one before.
fn append_live(
    core: &mut Core,
    transcript: &Path,
    lines: &[String],
    at: &mut i64,
) -> Vec<BoxDelta> {
    let mut out = Vec::new();
    for line in lines {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(transcript)
            .expect("append");
        f.write_all(format!("{line}\n").as_bytes()).expect("line");
        *at += 1_000;
        out.extend(core.on_event(&write_event(transcript), *at));
    }
    out
}

fn write_event(path: &Path) -> FsEvent {
    FsEvent {
        path: path.to_owned(),
        kind: FsEventKind::Appended,
    }
}

/// 2026.7.1 truncates a transcript and writes it back. What is read back up to where reading had
/// got before the truncation is history, whichever read it comes in: the turns it holds were
/// shown already and must not open boxes again (they did: `make compat` saw six old turns
/// posted again).
#[test]
fn a_transcript_truncated_and_written_back_in_pieces_opens_no_box_again() {
    let bytes = recorded_transcript();
    let lines: Vec<&str> = bytes.lines().collect();
    let tmp = tempfile::tempdir().expect("tmp");
    let (state, sessions) = recorded_gateway(tmp.path());
    let transcript = sessions.join(TRANSCRIPT);
    let head = format!("{}\n", lines[..4].join("\n"));
    std::fs::write(&transcript, &head).expect("transcript");
    let now = crate::clock::parse_rfc3339_ms("2026-11-22T03:50:00.000Z").expect("time");
    let mut core = Core::new(Scope::Gateways(vec![state]), SessionConfig::default());
    core.startup(now);

    // Six turns, live: six boxes (more lines than the tracker remembers to drop repeats).
    let written = turns(&lines, TURNS);
    let mut at = now;
    let live = append_live(&mut core, &transcript, &written, &mut at);
    let opened = |deltas: &[BoxDelta]| -> Vec<BoxId> {
        models(deltas)
            .into_iter()
            .filter(|(id, _)| {
                deltas
                    .iter()
                    .any(|d| &d.id == id && d.seq == 1 && !d.is_restored_history())
            })
            .map(|(id, _)| id)
            .collect()
    };
    assert_eq!(opened(&live).len(), TURNS, "one box per live turn");

    // Truncated (one event), then written back (Node's writeFile: O_TRUNC, then the content),
    // seen by a later event; then the same again with the content in two writes that end at a
    // line boundary, each seen by its own event.
    let whole = format!("{head}{}\n", written.join("\n"));
    let half = head.len()
        + written[..TURNS / 2 * 5]
            .iter()
            .map(|l| l.len() + 1)
            .sum::<usize>();
    let mut after = Vec::new();
    for cut in [vec![0, whole.len()], vec![0, half, whole.len()]] {
        std::fs::write(&transcript, "").expect("truncate");
        at += 1_000;
        after.extend(core.on_event(&write_event(&transcript), at));
        for w in cut.windows(2) {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&transcript)
                .expect("append");
            f.write_all(&whole.as_bytes()[w[0]..w[1]]).expect("piece");
            at += 100;
            after.extend(core.on_event(&write_event(&transcript), at));
        }
    }
    assert_eq!(
        opened(&after),
        Vec::<BoxId>::new(),
        "turns read back after the truncation were shown as new: {after:?}"
    );

    // What comes after the old end is progress again.
    let fourth = turns(&lines, TURNS + 1).split_off(written.len());
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&transcript)
        .expect("append");
    f.write_all(format!("{}\n", fourth.join("\n")).as_bytes())
        .expect("fourth turn");
    let next = core.on_event(&write_event(&transcript), at + 1_000);
    assert_eq!(
        opened(&next).len(),
        1,
        "the turn after the rewrite is live: {next:?}"
    );
}

/// `line` with its times moved `by_ms` later.
fn shifted(line: &str, by_ms: i64) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).expect("json line");
    if let Some(at) = v["timestamp"]
        .as_str()
        .and_then(crate::clock::parse_rfc3339_ms)
    {
        v["timestamp"] = crate::clock::format_rfc3339_ms(at + by_ms).into();
    }
    if let Some(at) = v["message"]["timestamp"].as_i64() {
        v["message"]["timestamp"] = (at + by_ms).into();
    }
    v.to_string()
}

fn ms(at: &str) -> i64 {
    crate::clock::parse_rfc3339_ms(at).expect("time")
}

/// A gateway as 2026.7.1 left it after the five scenarios (the channel's history holds a
/// sub-agent spawn and its announcement), and a core started on it 0.3 s after its last line.
fn after_the_subagent_scenario() -> (tempfile::TempDir, PathBuf, Core, i64) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openclaw/2026.7.1/e_subagent/sessions");
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("sessions dir");
    for entry in std::fs::read_dir(&fixture).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), sessions.join(entry.file_name())).expect("copy");
    }
    let history = std::fs::read_to_string(sessions.join(TRANSCRIPT)).expect("channel");
    assert!(
        history.contains("sessions_spawn"),
        "the history holds the spawn"
    );
    let now = ms("2026-11-22T03:52:51.000Z");
    let mut core = Core::new(Scope::Gateways(vec![state]), SessionConfig::default());
    let startup = core.startup(now);
    assert!(
        startup.iter().all(BoxDelta::is_restored_history),
        "{startup:?}"
    );
    (tmp, sessions, core, now)
}

fn take_lock(core: &mut Core, sessions: &Path, at: i64) -> Vec<BoxDelta> {
    let lock = sessions.join(format!("{TRANSCRIPT}.lock"));
    std::fs::write(&lock, "{}").expect("lock");
    core.on_event(
        &FsEvent {
            path: lock,
            kind: FsEventKind::Created,
        },
        at,
    )
}

/// Truncates `transcript` and writes `content` back, each seen by an event.
fn truncate_and_write_back(
    core: &mut Core,
    transcript: &Path,
    content: &str,
    at: i64,
) -> Vec<BoxDelta> {
    std::fs::write(transcript, "").expect("truncate");
    let mut out = core.on_event(&write_event(transcript), at);
    std::fs::write(transcript, content).expect("write back");
    out.extend(core.on_event(&write_event(transcript), at + 4));
    out
}

/// The boxes `deltas` open as new (not restored history), as a person sees them.
fn opened_anew(deltas: &[BoxDelta]) -> Vec<Vec<String>> {
    models(deltas)
        .iter()
        .filter(|(id, _)| {
            deltas
                .iter()
                .any(|d| &d.id == *id && d.seq == 1 && !d.is_restored_history())
        })
        .map(|(_, m)| summary(m))
        .collect()
}

/// What `make compat` met with 2026.7.1: after a turn in a channel whose history holds a
/// sub-agent spawn, the gateway truncates the transcript (its lock still held) and writes it back
/// with one more entry. Read back, the old spawning turn waited for a child that had long
/// finished (its lines are in another transcript, not read again), so it came out of the
/// catch-up as a turn still running and got a new post.
#[test]
fn a_spawning_turn_read_back_after_a_truncation_is_not_shown_as_running() {
    let (_tmp, sessions, mut core, now) = after_the_subagent_scenario();
    let transcript = sessions.join(TRANSCRIPT);
    let history = std::fs::read_to_string(&transcript).expect("channel transcript");
    let lines: Vec<&str> = history.lines().collect();
    // The next turn (the first turn's lines again) begins 7 s after the spawning turn ended,
    // within the wait for a child.
    let by = ms("2026-11-22T03:52:52.000Z") - ms("2026-11-22T03:50:29.528Z");
    let turn: Vec<String> = lines[4..10].iter().map(|l| shifted(l, by)).collect();
    let mut live = take_lock(&mut core, &sessions, now);
    let mut at = now;
    live.extend(append_live(&mut core, &transcript, &turn, &mut at));
    let boxes = models(&live);
    assert_eq!(boxes.len(), 1, "{live:?}");
    assert!(boxes.values().all(BoxModel::is_finished));

    // Lock still held: truncated, then written back with one more entry.
    let before = std::fs::read_to_string(&transcript).expect("read");
    let last = shifted(lines[9], by + 10);
    let mut after =
        truncate_and_write_back(&mut core, &transcript, &format!("{before}{last}\n"), at + 3);
    after.extend(core.tick(at + 100));
    assert_eq!(
        opened_anew(&after),
        Vec::<Vec<String>>::new(),
        "a turn read back was shown again"
    );
}

/// The same gateway, read again while a sub-agent turn runs (`make compat`, 2026.7.1 inotify):
/// the channel's whole history, fed again from the start, went into the running turn's box.
#[test]
fn a_transcript_read_again_while_a_turn_runs_adds_nothing_old_to_it() {
    let (_tmp, sessions, mut core, now) = after_the_subagent_scenario();
    let transcript = sessions.join(TRANSCRIPT);
    let history = std::fs::read_to_string(&transcript).expect("channel transcript");
    let lines: Vec<&str> = history.lines().collect();
    // The spawning turn again (ask, spawn call, its result; then the answer), 18 s later.
    let by = ms("2026-11-22T03:52:56.000Z") - ms("2026-11-22T03:52:37.876Z");
    let turn: Vec<String> = lines[15..20].iter().map(|l| shifted(l, by)).collect();
    let mut deltas = take_lock(&mut core, &sessions, now);
    let mut at = now;
    deltas.extend(append_live(&mut core, &transcript, &turn[..3], &mut at));

    let so_far = std::fs::read_to_string(&transcript).expect("read");
    deltas.extend(truncate_and_write_back(
        &mut core,
        &transcript,
        &so_far,
        at + 3,
    ));
    at += 10;
    deltas.extend(append_live(&mut core, &transcript, &turn[3..], &mut at));

    let boxes = opened_anew(&deltas);
    assert_eq!(boxes.len(), 1, "one box, the running turn's: {boxes:?}");
    assert_eq!(
        boxes[0][1..],
        [
            "Sub-agent: count-notes [OK]".to_owned(),
            "I started a sub-agent for that task; it will report back here when it is done."
                .to_owned()
        ],
        "nothing of the history in it"
    );
}
