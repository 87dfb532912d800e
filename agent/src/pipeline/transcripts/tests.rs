//! The reports of files the JSONL follower does not follow, through the core.

use std::path::{Path, PathBuf};

use crate::guarded::test_log::logged;
use crate::pipeline::Core;
use crate::session::tracker::SessionConfig;
use crate::watch::{FsEvent, FsEventKind, Scope};

const TRANSCRIPT: &str = "s1.jsonl";

fn gateway(root: &Path) -> (PathBuf, PathBuf) {
    let state = root.join("gw");
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("mkdir");
    std::fs::write(
        sessions.join("sessions.json"),
        br#"{"agent:main:main":{"sessionId":"s1"}}"#,
    )
    .expect("index");
    std::fs::write(
        sessions.join(TRANSCRIPT),
        b"{\"type\":\"session\",\"version\":3,\"id\":\"s1\"}\n",
    )
    .expect("transcript");
    (state, sessions)
}

/// One turn's worth of events: the lock taken, the transcript written, the lock released.
fn lock_cycle(core: &mut Core, sessions: &Path, now_ms: i64) {
    let lock = sessions.join(format!("{TRANSCRIPT}.lock"));
    for (path, kind) in [
        (&lock, FsEventKind::Created),
        (&sessions.join(TRANSCRIPT), FsEventKind::Appended),
        (&lock, FsEventKind::Removed),
    ] {
        core.on_event(
            &FsEvent {
                path: path.clone(),
                kind,
            },
            now_ms,
        );
    }
}

#[test]
fn a_refused_transcript_is_reported_once_per_change_of_state_not_per_turn() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (state, sessions) = gateway(tmp.path());
    let transcript = sessions.join(TRANSCRIPT);
    let second_name = tmp.path().join("second-link.jsonl");
    std::fs::hard_link(&transcript, &second_name).expect("link");
    let mut core = Core::new(Scope::Gateways(vec![state]), SessionConfig::default());
    let warnings = |log: &str| log.matches("has 2 hard links").count();

    let (_, log) = logged(|| {
        core.startup(0);
        for i in 0..500 {
            lock_cycle(&mut core, &sessions, i);
        }
    });
    assert_eq!(
        warnings(&log),
        1,
        "500 turns on a refused transcript:\n{log}"
    );

    // Fixed, then refused again: one more report, and one line saying it is followed again.
    std::fs::remove_file(&second_name).expect("unlink");
    let (_, log) = logged(|| lock_cycle(&mut core, &sessions, 600));
    assert_eq!(warnings(&log), 0, "{log}");
    assert!(log.contains("transcript followed again"), "{log}");
    std::fs::hard_link(&transcript, &second_name).expect("link again");
    let (_, log) = logged(|| {
        for i in 0..10 {
            lock_cycle(&mut core, &sessions, 700 + i);
        }
    });
    assert_eq!(warnings(&log), 1, "{log}");
}

#[test]
fn a_sessions_dir_others_may_write_is_not_followed_with_one_warning_in_all() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let (state, sessions) = gateway(tmp.path());
    std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let mut core = Core::new(Scope::Gateways(vec![state]), SessionConfig::default());
    let (_, log) = logged(|| {
        core.startup(0);
        for i in 0..50 {
            lock_cycle(&mut core, &sessions, i);
        }
    });
    assert_eq!(
        log.matches(&format!("chmod o-w {}", sessions.display()))
            .count(),
        1,
        "{log}"
    );
    assert!(
        !log.contains("WARN") || log.matches("WARN").count() == 1,
        "{log}"
    );
}
