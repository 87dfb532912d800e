//! `replay` on every real recording: each turn with every tool call, its result, the final
//! state and the tokens — and nothing shown twice.

use livestatus::cli::replay::replay_models;
use livestatus::session::BoxState;
use livestatus::session::tracker::SessionConfig;
use livestatus_e2e::{SCENARIOS, scenario_dir, summary};

fn boxes(scenario: &str) -> Vec<Vec<String>> {
    replay_models(
        &scenario_dir(scenario).join("sessions"),
        SessionConfig::default(),
    )
    .unwrap_or_else(|e| panic!("{scenario}: {e:#}"))
    .iter()
    .map(summary)
    .collect()
}

fn find<'a>(boxes: &'a [Vec<String>], needle: &str) -> &'a Vec<String> {
    boxes
        .iter()
        .find(|b| b.iter().any(|l| l.contains(needle)))
        .unwrap_or_else(|| panic!("no box with {needle:?} in {boxes:#?}"))
}

#[test]
fn a_channel_turn_shows_both_tools_ok_and_the_tokens_in_every_era() {
    for scenario in ["2026.4.27/a_channel_tools", "2026.7.1/a_channel_tools"] {
        let boxes = boxes(scenario);
        assert_eq!(boxes.len(), 1, "{scenario}: {boxes:#?}");
        let b = &boxes[0];
        assert!(b[0].ends_with("[DONE]"), "{scenario}: {b:#?}");
        assert!(
            b.iter()
                .any(|l| l.contains("hello.txt") && l.ends_with("[OK]")),
            "{b:#?}"
        );
        assert!(
            b.iter()
                .any(|l| l.contains("ls -la /home/alice/notes") && l.ends_with("[OK]")),
            "{b:#?}"
        );
        assert!(
            b.iter()
                .any(|l| l.contains("Let me check the notes folder")),
            "{b:#?}"
        );
        assert_eq!(b.last().map(String::as_str), Some("tokens 240"), "{b:#?}");
    }
}

#[test]
fn a_thread_reply_forks_the_channel_session_and_the_copied_history_is_not_shown() {
    let boxes = boxes("2026.7.1/b_thread_reply");
    let thread: Vec<_> = boxes.iter().filter(|b| b[0].contains(":thread:")).collect();
    assert_eq!(thread.len(), 1, "{boxes:#?}");
    let t = thread[0];
    assert!(
        t.iter()
            .any(|l| l.contains("echo thread-reply-ok") && l.ends_with("[OK]")),
        "{t:#?}"
    );
    assert!(
        !t.iter().any(|l| l.contains("hello.txt")),
        "history leaked into the thread box: {t:#?}"
    );
    // The channel session's own turn is shown once, in its own box.
    assert_eq!(
        boxes
            .iter()
            .filter(|b| b.iter().any(|l| l.contains("hello.txt")))
            .count(),
        1
    );
}

#[test]
fn a_failing_tool_is_marked_err_even_when_the_gateway_says_is_error_false() {
    let boxes = boxes("2026.7.1/d_tool_error");
    let b = find(&boxes, "missing.txt");
    assert!(
        b.iter()
            .any(|l| l.contains("missing.txt") && l.ends_with("[ERR]")),
        "{b:#?}"
    );
    assert!(b[0].ends_with("[DONE]"), "{b:#?}");
}

#[test]
fn a_dm_lands_in_the_main_session() {
    for scenario in ["2026.4.27/c_dm", "2026.7.1/c_dm"] {
        let boxes = boxes(scenario);
        let b = find(&boxes, "hello.txt");
        let dm = boxes
            .iter()
            .find(|b| b[0].starts_with("agent:main:main "))
            .unwrap_or_else(|| panic!("{scenario}: {boxes:#?}"));
        assert!(
            dm.iter()
                .any(|l| l.contains("hello.txt") && l.ends_with("[OK]")),
            "{scenario}: {dm:#?}"
        );
        assert!(b[0].ends_with("[DONE]"));
    }
}

#[test]
fn a_sub_agent_nests_under_the_turn_that_spawned_it() {
    let boxes = boxes("2026.7.1/e_subagent");
    let b = find(&boxes, "count-notes");
    let heading = b
        .iter()
        .position(|l| l.contains("count-notes"))
        .expect("sub-agent line");
    let child_tool = b
        .iter()
        .position(|l| l.contains("ls /home/alice/notes | wc -l"))
        .unwrap_or_else(|| panic!("child exec not nested: {b:#?}"));
    assert!(child_tool > heading, "{b:#?}");
    assert!(
        b[child_tool].starts_with("  "),
        "child line not indented: {b:#?}"
    );
    assert!(b[child_tool].ends_with("[OK]"), "{b:#?}");
    // No box of its own for the child.
    assert!(
        !boxes.iter().any(|b| b[0].contains(":subagent:")),
        "{boxes:#?}"
    );
}

#[test]
fn every_recorded_turn_ends_and_nothing_is_left_open() {
    for scenario in SCENARIOS {
        let models = replay_models(
            &scenario_dir(scenario).join("sessions"),
            SessionConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{scenario}: {e:#}"));
        assert!(!models.is_empty(), "{scenario}");
        for m in &models {
            assert_ne!(m.state, BoxState::Active, "{scenario}: {:#?}", summary(m));
        }
    }
}
