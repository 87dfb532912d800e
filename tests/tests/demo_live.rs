//! `openclaw-livestatus demo`, the first thing the README has a newcomer run, must show on
//! every tier the boxes `replay` prints for the chats it plays, at any `--speed`.
//!
//! In a test binary of its own: the other live checks tell the eBPF tier to watch this
//! process (their writers are threads of it); here the demo must decide that itself.

use livestatus::cli::{demo, settings};
use livestatus::playback::Pace;
use livestatus::watch::Scope;
use livestatus_e2e::live::{self, Job, PACES, Seen, replayed};
use livestatus_e2e::{Collector, TIERS, scenario_dir, summary, tier_loads_here};

#[test]
fn the_demo_shows_the_replayed_boxes_on_every_tier_at_every_speed() {
    let test = "the_demo_shows_the_replayed_boxes_on_every_tier_at_every_speed";
    // The last chat's sessions dir holds every session of the recorded run.
    let want = replayed(&scenario_dir("2026.7.1/e_subagent").join("sessions"));
    let speed_20 = Pace {
        speed: 20.0,
        ..Pace::DEMO
    };
    let paces = [
        ("--speed 20", speed_20),
        ("the demo's", Pace::DEMO),
        PACES[1],
    ];
    let mut jobs = Vec::new();
    for tier in TIERS.into_iter().filter(|t| tier_loads_here(*t, test)) {
        for (pace_name, pace) in paces {
            let want = want.clone();
            jobs.push(Job {
                name: format!("demo on {tier:?} at {pace_name} pace"),
                run: Box::new(move || {
                    let tmp = tempfile::tempdir().expect("tmp");
                    let state = tmp.path().join(".openclaw");
                    let collector = Collector::default();
                    let mut sink = collector.clone();
                    // What `demo --tier <tier>` runs with: the default settings.
                    let mut opts =
                        settings::run_options(&Default::default()).expect("default settings");
                    opts.scope = Scope::Gateways(vec![state.clone()]);
                    opts.tier = tier;
                    demo::play(
                        opts,
                        &state,
                        pace,
                        &mut sink,
                        std::future::pending(),
                        |_| {},
                    )
                    .expect("the demo runs");
                    Seen {
                        got: collector.boxes().iter().map(summary).collect(),
                        want,
                        errors: collector.errors(),
                    }
                }),
            });
        }
    }
    live::check_all(jobs);
}
