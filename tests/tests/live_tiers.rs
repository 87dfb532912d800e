//! The same real recordings, played live into a state dir in the gateway's order of writes,
//! followed by each watch tier: every tier must show the same boxes as `replay` of the result.

use std::time::Duration;

use livestatus::cli::replay::replay_models;
use livestatus::playback::Pace;
use livestatus::service::config::TierChoice;
use livestatus::session::tracker::SessionConfig;
use livestatus_e2e::{SCENARIOS, recording, run_live, scenario_dir, summary, tier_runs_here};

/// Boxes `replay` gives for the turns a scenario added (earlier turns were on disk before).
fn expected(scenario: &str, turns: usize) -> Vec<Vec<String>> {
    let all: Vec<Vec<String>> = replay_models(
        &scenario_dir(scenario).join("sessions"),
        SessionConfig::default(),
    )
    .expect("replay")
    .iter()
    .map(summary)
    .collect();
    all[all.len() - turns..].to_vec()
}

fn check_tier(tier: TierChoice) {
    for scenario in SCENARIOS {
        let live = run_live(
            vec![recording(scenario)],
            tier,
            Pace::FAST,
            Duration::from_secs(5),
        );
        assert!(live.errors().is_empty(), "{scenario}: {:?}", live.errors());
        let got: Vec<Vec<String>> = live.boxes().iter().map(summary).collect();
        assert!(!got.is_empty(), "{scenario} on {tier:?}: no box at all");
        let want = expected(scenario, got.len());
        assert_eq!(got, want, "{scenario} on {tier:?}");
    }
}

#[test]
fn every_recording_gives_the_replayed_boxes_on_the_ebpf_tier() {
    let test = "every_recording_gives_the_replayed_boxes_on_the_ebpf_tier";
    if tier_runs_here(TierChoice::Ebpf, test) {
        check_tier(TierChoice::Ebpf);
    }
}

#[test]
fn every_recording_gives_the_replayed_boxes_on_the_inotify_tier() {
    check_tier(TierChoice::Inotify);
}

#[test]
fn every_recording_gives_the_replayed_boxes_on_the_fanotify_tier() {
    let test = "every_recording_gives_the_replayed_boxes_on_the_fanotify_tier";
    if tier_runs_here(TierChoice::Fanotify, test) {
        check_tier(TierChoice::Fanotify);
    }
}

#[test]
fn every_recording_gives_the_replayed_boxes_on_the_poll_tier() {
    check_tier(TierChoice::Poll);
}

#[test]
fn the_box_opens_on_the_lock_before_the_transcript_exists() {
    // 2026.7 creates the transcript only when the first model call completes; the lock comes
    // ~3 s earlier. The box must be there from the lock on.
    let live = run_live(
        vec![recording("2026.7.1/a_channel_tools")],
        TierChoice::Inotify,
        Pace {
            speed: 20.0,
            max_gap: Duration::from_millis(400),
        },
        Duration::from_secs(5),
    );
    let c = live.inner.lock().expect("collector");
    let (opened, _) = c.arrivals.first().expect("a delta");
    let (first_line, _) = c
        .arrivals
        .iter()
        .find(|(_, d)| livestatus_e2e::adds_line(d, "hello.txt"))
        .expect("the read line");
    assert!(
        first_line.duration_since(*opened) >= Duration::from_millis(50),
        "the box opened only with the transcript ({:?} before its first line)",
        first_line.duration_since(*opened)
    );
}

#[test]
fn a_gateway_no_home_holds_and_nobody_named_shows_its_box_on_the_ebpf_tier() {
    let test = "a_gateway_no_home_holds_and_nobody_named_shows_its_box_on_the_ebpf_tier";
    if !tier_runs_here(TierChoice::Ebpf, test) {
        return;
    }
    let scenario = "2026.7.1/a_channel_tools";
    let live = livestatus_e2e::run_live_at(
        livestatus_e2e::GatewayPlace::Unnamed,
        vec![recording(scenario)],
        TierChoice::Ebpf,
        Pace::FAST,
        Duration::from_secs(5),
    );
    assert!(live.errors().is_empty(), "{:?}", live.errors());
    // Host-wide means host-wide: gateways other tests play at the same time are found too.
    let got: Vec<Vec<String>> = live
        .boxes()
        .iter()
        .filter(|m| m.id.session.gateway.ends_with("srv/bots/state"))
        .map(summary)
        .collect();
    assert!(!got.is_empty(), "host-wide discovery found no turn");
    assert!(got.len() <= 1, "one turn was played: {got:#?}");
    assert_eq!(got, expected(scenario, got.len()));
}
