//! A transcript holds an fd only while its lock is held: history and quiet sessions cost none,
//! so a host with thousands of transcripts stays far below any fd limit.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Core;
use crate::session::tracker::SessionConfig;
use crate::watch::{FsEvent, FsEventKind, Scope};

use super::recorded_gateway::{
    TRANSCRIPT, fixture_sessions, recorded_gateway, recorded_transcript,
};

const HISTORY: usize = 40;

fn history_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

fn event(path: &Path, kind: FsEventKind) -> FsEvent {
    FsEvent {
        path: path.to_owned(),
        kind,
    }
}

fn age(path: &Path, by: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open to age");
    file.set_modified(SystemTime::now() - by).expect("mtime");
}

#[test]
fn history_and_finished_turns_hold_no_open_transcript() {
    let bytes = recorded_transcript();
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("sessions dir");
    // The fixture's session, and as many finished ones in the same index.
    let mut index: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(
        &std::fs::read(fixture_sessions().join("sessions.json")).expect("index"),
    )
    .expect("index json");
    for i in 0..HISTORY {
        let id = history_id(i);
        index.insert(
            format!("agent:main:dm:{i}"),
            serde_json::json!({"sessionId": id, "sessionFile": format!("{id}.jsonl"), "updatedAt": 1}),
        );
    }
    std::fs::write(
        sessions.join("sessions.json"),
        serde_json::to_vec(&index).expect("index bytes"),
    )
    .expect("index");
    let transcript = sessions.join(TRANSCRIPT);
    std::fs::write(&transcript, &bytes).expect("transcript");
    age(&transcript, Duration::from_secs(86_400));
    for i in 0..HISTORY {
        let other = sessions.join(format!("{}.jsonl", history_id(i)));
        std::fs::write(&other, &bytes).expect("history");
        age(&other, Duration::from_secs(3_600 + i as u64));
    }

    let now = crate::clock::now_ms();
    let mut core = Core::new(Scope::Gateways(vec![state]), SessionConfig::default());
    core.startup(now);
    assert_eq!(core.followed_files(), HISTORY + 1);
    assert_eq!(
        core.open_transcripts(),
        0,
        "history is followed without an fd"
    );

    // A new turn: the lock, then its lines; the fd is held while the lock is.
    let lock = sessions.join(format!("{TRANSCRIPT}.lock"));
    std::fs::write(&lock, "{}").expect("lock");
    let mut deltas = core.on_event(&event(&lock, FsEventKind::Created), now + 1_000);
    let turn: Vec<String> = bytes
        .lines()
        .skip(4)
        .map(|l| l.replace("2026-11-22T03:50:", "2026-11-22T04:10:"))
        .collect();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&transcript)
        .expect("append");
    std::io::Write::write_all(&mut file, format!("{}\n", turn.join("\n")).as_bytes())
        .expect("write turn");
    deltas.extend(core.on_event(&event(&transcript, FsEventKind::Appended), now + 2_000));
    assert_eq!(
        core.open_transcripts(),
        1,
        "the locked transcript stays open"
    );
    std::fs::remove_file(&lock).expect("unlock");
    deltas.extend(core.on_event(&event(&lock, FsEventKind::Removed), now + 3_000));
    assert_eq!(
        core.open_transcripts(),
        0,
        "closed again once its turn ended"
    );
    assert!(
        deltas
            .iter()
            .flat_map(|d| &d.ops)
            .any(|op| format!("{op:?}").contains("hello.txt")),
        "the new turn's lines were read through the parked tailer: {deltas:?}"
    );

    // A quiet session written without its lock: read, and parked again at once.
    let quiet = sessions.join(format!("{}.jsonl", history_id(0)));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&quiet)
        .expect("append");
    std::io::Write::write_all(&mut file, format!("{}\n", turn[0]).as_bytes()).expect("write");
    core.on_event(&event(&quiet, FsEventKind::Appended), now + 4_000);
    assert_eq!(core.open_transcripts(), 0);
}

/// Every op of the deltas, as text.
fn ops_text(deltas: &[crate::session::BoxDelta]) -> String {
    deltas
        .iter()
        .flat_map(|d| &d.ops)
        .map(|op| format!("{op:?}"))
        .collect()
}

/// One turn of the fixture under its lock, its tool reading `file` instead of `hello.txt`.
fn turn_reading(core: &mut Core, transcript: &Path, file: &str, at: i64) -> String {
    let bytes = recorded_transcript();
    let turn: Vec<String> = bytes
        .lines()
        .skip(4)
        .map(|l| {
            l.replace("2026-11-22T03:50:", "2026-11-22T04:10:")
                .replace("hello.txt", file)
        })
        .collect();
    let lock = PathBuf::from(format!("{}.lock", transcript.display()));
    std::fs::write(&lock, "{}").expect("lock");
    let mut deltas = core.on_event(&event(&lock, FsEventKind::Created), at);
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .open(transcript)
        .expect("append");
    std::io::Write::write_all(&mut out, format!("{}\n", turn.join("\n")).as_bytes())
        .expect("write turn");
    deltas.extend(core.on_event(&event(transcript, FsEventKind::Appended), at + 1_000));
    std::fs::remove_file(&lock).expect("unlock");
    deltas.extend(core.on_event(&event(&lock, FsEventKind::Removed), at + 2_000));
    ops_text(&deltas)
}

#[test]
fn a_finished_transcript_written_again_is_followed_from_where_it_ended_and_a_new_file_at_its_name_from_its_start()
 {
    let bytes = recorded_transcript();
    let tmp = tempfile::tempdir().expect("tmp");
    let (state, sessions) = recorded_gateway(tmp.path());
    let transcript = sessions.join(TRANSCRIPT);
    std::fs::write(&transcript, &bytes).expect("transcript");
    age(&transcript, Duration::from_secs(86_400));

    let now = crate::clock::now_ms();
    let mut core = Core::new(Scope::Gateways(vec![state]), SessionConfig::default());
    core.startup(now);
    assert_eq!(core.followed_files(), 1);
    // A tier that lost events rescans: the finished file, unchanged, is left as it is.
    core.on_event(&event(&sessions, FsEventKind::Rescan), now + 500);

    let told = turn_reading(&mut core, &transcript, "fresh.txt", now + 1_000);
    assert!(told.contains("fresh.txt"), "the new turn is told: {told}");
    assert!(
        !told.contains("hello.txt"),
        "the turns it held when it was found are not told again: {told}"
    );

    // Replaced while quiet (tmp + rename): the new file is read from its start.
    let replacement = sessions.join("replacement.tmp");
    std::fs::write(&replacement, bytes.replace("hello.txt", "again.txt")).expect("new file");
    std::fs::rename(&replacement, &transcript).expect("rename");
    age(&transcript, Duration::from_secs(86_400));
    let mut core_later = Core::new(
        Scope::Gateways(vec![tmp.path().join("home/alice/.openclaw")]),
        SessionConfig::default(),
    );
    core_later.startup(now + 5_000);
    std::fs::write(&replacement, bytes.replace("hello.txt", "other.txt")).expect("newer file");
    std::fs::rename(&replacement, &transcript).expect("rename");
    let told = turn_reading(&mut core_later, &transcript, "fresh.txt", now + 6_000);
    assert!(
        told.contains("other.txt") && told.contains("fresh.txt"),
        "another file at the name is read from its start: {told}"
    );
}
