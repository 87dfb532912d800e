//! The same real recordings, played live into a state dir in the gateway's order of writes,
//! followed by each watch tier: every tier must show the same boxes as `replay` of the result,
//! for every recording of every era, at fast playback and at the pace they were recorded.

use std::time::Duration;

use livestatus::playback::Pace;
use livestatus::service::config::TierChoice;
use livestatus::watch::TierKind;
use livestatus_e2e::live::{self, replayed};
use livestatus_e2e::{SCENARIOS, recording, run_live, scenario_dir, sqlite_play, summary};
use livestatus_e2e::{tier_runs_here, tiers_here};

#[test]
fn every_recording_of_every_era_shows_the_replayed_boxes_on_every_tier_fast_and_as_recorded() {
    let tiers = tiers_here(
        "every_recording_of_every_era_shows_the_replayed_boxes_on_every_tier_fast_and_as_recorded",
    );
    let mut jobs = live::jsonl_jobs(&SCENARIOS, &tiers);
    jobs.extend(sqlite_play::jobs(&tiers));
    live::check_all(jobs);
}

#[test]
fn the_box_opens_on_the_lock_before_the_transcript_exists() {
    // 2026.7 creates the transcript only when the first model call completes; the lock comes
    // ~3 s earlier. The box must be there from the lock on.
    let live = run_live(
        vec![recording("2026.7.1/a_channel_tools")],
        TierChoice::Only(TierKind::Inotify),
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
    if !tier_runs_here(TierChoice::Only(TierKind::Ebpf), test) {
        return;
    }
    let scenario = "2026.7.1/a_channel_tools";
    let live = livestatus_e2e::run_live_at(
        livestatus_e2e::GatewayPlace::Unnamed,
        vec![recording(scenario)],
        TierChoice::Only(TierKind::Ebpf),
        Pace::FAST,
        // An upper bound: the run stops as soon as this gateway's boxes are all finished.
        // Found by host-wide discovery, on a machine busy with other tests, it can take a while.
        Duration::from_secs(20),
    );
    assert!(live.errors().is_empty(), "{:?}", live.errors());
    // Host-wide means host-wide: gateways other tests play at the same time are found too.
    let got: Vec<Vec<String>> = live
        .boxes()
        .iter()
        .filter(|m| m.id.session.gateway.ends_with("srv/bots/state"))
        .map(summary)
        .collect();
    assert_eq!(got, replayed(&scenario_dir(scenario).join("sessions")));
}
