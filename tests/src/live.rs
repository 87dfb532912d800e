//! "The live boxes equal the replayed boxes", as one check: a recording played live into a
//! state dir while a tier follows it must show, for the turns it added, exactly the boxes
//! `replay` prints for the finished files. Runs go side by side, each in its own thread: they
//! spend most of their time asleep in the recording's gaps, so two cores hold dozens.

use std::path::Path;
use std::time::{Duration, Instant};

use livestatus::cli::replay::replay_models;
use livestatus::playback::{Pace, Recording};
use livestatus::service::config::TierChoice;
use livestatus::session::tracker::SessionConfig;

use crate::{recording, run_live, scenario_dir, summary};

/// What one live run showed, beside what `replay` shows for the same turns.
#[derive(Debug)]
pub struct Seen {
    pub got: Vec<Vec<String>>,
    pub want: Vec<Vec<String>>,
    /// Deltas a sink could not apply (out of order, unknown box).
    pub errors: Vec<String>,
}

/// One run of the check: a name for the report, and the run itself.
pub struct Job {
    pub name: String,
    pub run: Box<dyn FnOnce() -> Seen + Send>,
}

/// Fast playback (gaps divided by 50, none over 40 ms: a burst) and the recorded pace (every
/// gap as long as it was: the tiers' timing, the lock windows and the timeouts as on a host).
pub const PACES: [(&str, Pace); 2] = [("fast", Pace::FAST), ("recorded", Pace::RECORDED)];

/// Runs every job at once and fails naming each run whose boxes differ from replay's (or that
/// panicked), with both sides printed.
pub fn check_all(jobs: Vec<Job>) {
    let started = Instant::now();
    let runs = jobs.len();
    let handles: Vec<(String, std::thread::JoinHandle<Seen>)> = jobs
        .into_iter()
        .map(|job| {
            let handle = std::thread::Builder::new()
                .name(job.name.clone())
                .spawn(job.run)
                .expect("spawn a live run");
            (job.name, handle)
        })
        .collect();
    let mut failed = Vec::new();
    for (name, handle) in handles {
        match handle.join() {
            Ok(seen) if seen.errors.is_empty() && !seen.got.is_empty() && seen.got == seen.want => {
            }
            Ok(seen) => {
                eprintln!(
                    "{name}: live boxes differ from replay's\n  sink errors: {:?}\n  live: {:#?}\n  replay: {:#?}",
                    seen.errors, seen.got, seen.want
                );
                failed.push(name);
            }
            Err(panic) => {
                let why = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                eprintln!("{name}: panicked: {why}");
                failed.push(name);
            }
        }
    }
    eprintln!("{runs} live runs in {:?}", started.elapsed());
    assert!(
        failed.is_empty(),
        "live boxes differ from replay's in: {failed:#?}"
    );
}

/// Boxes `replay` prints for a sessions or state dir (none when it holds no transcript).
pub fn replayed(path: &Path) -> Vec<Vec<String>> {
    if !path.exists() {
        return Vec::new();
    }
    replay_models(path, SessionConfig::default())
        .unwrap_or_else(|e| panic!("replay of {}: {e:#}", path.display()))
        .iter()
        .map(summary)
        .collect()
}

/// How many turns were on disk before the recording began (played into a scratch dir).
fn turns_before(rec: &Recording) -> usize {
    let tmp = tempfile::tempdir().expect("tmp");
    let player = rec.prepare(tmp.path(), "main").expect("prepare");
    replayed(player.sessions_dir()).len()
}

/// A JSONL-era scenario played live on `tier`: the boxes of the turns it added, against
/// replay of its final files less the turns that were there before.
pub fn jsonl(scenario: &str, tier: TierChoice, pace: Pace) -> Seen {
    let rec = recording(scenario);
    let before = turns_before(&rec);
    let live = run_live(vec![rec], tier, pace, Duration::from_secs(5));
    let all = replayed(&scenario_dir(scenario).join("sessions"));
    Seen {
        got: live.boxes().iter().map(summary).collect(),
        want: all[before.min(all.len())..].to_vec(),
        errors: live.errors(),
    }
}

/// Jobs for every JSONL scenario on every tier at every pace, the longest first (they start
/// arming first: the whole check lasts as long as the longest recording).
pub fn jsonl_jobs(scenarios: &[&'static str], tiers: &[TierChoice]) -> Vec<Job> {
    let mut runs: Vec<(Duration, Job)> = Vec::new();
    for &scenario in scenarios {
        let length = recording(scenario).duration();
        for &tier in tiers {
            for (pace_name, pace) in PACES {
                runs.push((
                    length.mul_f64(1.0 / pace.speed),
                    Job {
                        name: format!("{scenario} on {tier:?} at {pace_name} pace"),
                        run: Box::new(move || jsonl(scenario, tier, pace)),
                    },
                ));
            }
        }
    }
    runs.sort_by_key(|(length, _)| std::cmp::Reverse(*length));
    runs.into_iter().map(|(_, job)| job).collect()
}
