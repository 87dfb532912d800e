//! OpenClaw 2026.8+ keeps sessions in a WAL-mode SQLite store: `replay` of a real 2026.9.6
//! store prints every turn with its tools. (Its turns committed live, on every tier, are in
//! the live-equals-replay check of `live_tiers.rs`.)

use livestatus::cli::replay::replay_models;
use livestatus::session::tracker::SessionConfig;
use livestatus_e2e::sqlite_play::{SQLITE_SCENARIOS, state_with_store};
use livestatus_e2e::summary;

#[test]
fn replay_of_a_sqlite_era_state_dir_prints_every_turn_with_its_tools() {
    for scenario in SQLITE_SCENARIOS {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = state_with_store(tmp.path(), scenario);
        let boxes: Vec<Vec<String>> = replay_models(&state, SessionConfig::default())
            .expect("replay")
            .iter()
            .map(summary)
            .collect();
        assert!(!boxes.is_empty(), "{scenario}");
        let channel = boxes
            .iter()
            .find(|b| {
                b[0].starts_with("agent:main:mattermost:channel:ch4town5quare00000000000ab [DONE]")
            })
            .unwrap_or_else(|| panic!("{scenario}: {boxes:#?}"));
        assert!(
            channel
                .iter()
                .any(|l| l.contains("hello.txt") && l.ends_with("[OK]")),
            "{channel:#?}"
        );
        assert!(
            channel
                .iter()
                .any(|l| l.starts_with("exec:") && l.ends_with("[OK]")),
            "{channel:#?}"
        );
        if scenario.ends_with("b_thread_reply") {
            let thread = boxes
                .iter()
                .find(|b| b[0].contains(":thread:"))
                .unwrap_or_else(|| panic!("no thread box: {boxes:#?}"));
            assert!(
                thread.iter().any(|l| l.contains("thread-reply-ok")),
                "{thread:#?}"
            );
            assert!(
                !thread.iter().any(|l| l.contains("hello.txt")),
                "copied history shown: {thread:#?}"
            );
        }
    }
}
