//! End-to-end harnesses: real OpenClaw recordings played into temp state dirs, in the gateway's
//! own order of writes, while the real pipeline follows them on a real watch tier.

pub mod daemon;
pub mod fake_mattermost;
pub mod live;
pub mod load;
pub mod plugin_host;
pub mod posts;
pub mod sqlite_play;
pub mod wait;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use livestatus::pipeline::{self, RunOptions};
use livestatus::playback::{Pace, Recording};
use livestatus::service::config::TierChoice;
use livestatus::session::tracker::SessionConfig;
use livestatus::session::{BoxDelta, BoxId, BoxModel, BoxOp, LineKind, LineStatus};
use livestatus::sink::Sink;
use livestatus::watch::{Scope, TierKind, WatchOptions};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/openclaw")
}

pub fn scenario_dir(scenario: &str) -> PathBuf {
    fixtures().join(scenario)
}

pub fn recording(scenario: &str) -> Recording {
    let dir = scenario_dir(scenario);
    Recording::from_dir(&dir.join("sessions"), &dir.join("fs-events.log"))
        .unwrap_or_else(|e| panic!("recording {scenario}: {e:#}"))
}

/// A recording whose timestamps are moved to now, as a gateway running now writes them (for
/// tests where the daemon's clock and the transcript's meet, e.g. restarts).
pub fn recording_now(scenario: &str) -> Recording {
    recording(scenario).shifted_to(livestatus::clock::now_ms())
}

/// Every scenario recorded from real gateways and kept in the repo.
pub const SCENARIOS: [&str; 7] = [
    "2026.4.27/a_channel_tools",
    "2026.4.27/c_dm",
    "2026.7.1/a_channel_tools",
    "2026.7.1/b_thread_reply",
    "2026.7.1/c_dm",
    "2026.7.1/d_tool_error",
    "2026.7.1/e_subagent",
];

/// A sink that keeps every box and when each delta arrived.
#[derive(Clone, Default)]
pub struct Collector {
    pub inner: Arc<Mutex<Collected>>,
}

#[derive(Default)]
pub struct Collected {
    pub boxes: BTreeMap<BoxId, BoxModel>,
    pub order: Vec<BoxId>,
    pub arrivals: Vec<(Instant, BoxDelta)>,
    pub errors: Vec<String>,
}

impl Sink for Collector {
    fn deliver(&mut self, deltas: &[BoxDelta], _now_ms: i64) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for delta in deltas {
            c.arrivals.push((now, delta.clone()));
            if delta.is_restored_history() {
                continue;
            }
            match c.boxes.get_mut(&delta.id) {
                Some(model) => {
                    if let Err(e) = model.apply(delta) {
                        c.errors.push(e.to_string());
                    }
                }
                None => match BoxModel::open(delta) {
                    Ok(model) => {
                        c.order.push(delta.id.clone());
                        c.boxes.insert(delta.id.clone(), model);
                    }
                    Err(e) => c.errors.push(e.to_string()),
                },
            }
        }
    }
    fn tick(&mut self, _now_ms: i64) {}
    fn finish(&mut self, _now_ms: i64) {}
}

impl Collector {
    /// Boxes in the order they opened, as a live view shows them: retracted ones and turns that
    /// ended before the daemon started (`is_restored_history`) left out.
    pub fn boxes(&self) -> Vec<BoxModel> {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.order
            .iter()
            .filter_map(|id| c.boxes.get(id))
            .filter(|m| !m.retracted)
            .cloned()
            .collect()
    }

    pub fn errors(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .errors
            .clone()
    }

    /// How long since the last delta arrived (forever if none has).
    pub fn quiet_for(&self) -> Duration {
        let c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.arrivals
            .last()
            .map_or(Duration::MAX, |(at, _)| at.elapsed())
    }

    pub fn open_boxes(&self) -> usize {
        self.boxes().iter().filter(|m| !m.is_finished()).count()
    }
}

/// A box reduced to what a person sees: lines with their marks, final state, tokens.
pub fn summary(model: &BoxModel) -> Vec<String> {
    let mut out = vec![format!("{} {}", model.session_key, model.state.tag())];
    for line in &model.lines {
        let mark = match line.status {
            LineStatus::Ok => " [OK]",
            LineStatus::Err => " [ERR]",
            LineStatus::None => "",
        };
        // A sub-agent's end line carries wall-clock time, which playback compresses.
        let text = match line.kind {
            LineKind::SubAgentEnd => line.text.split(' ').next().unwrap_or("").to_owned(),
            _ => line.text.clone(),
        };
        out.push(format!(
            "{}{}{}",
            "  ".repeat(line.depth as usize),
            text,
            mark
        ));
    }
    out.push(format!("tokens {}", model.tokens));
    out
}

pub fn tier_options(scope: Scope, tier: TierChoice) -> RunOptions {
    RunOptions {
        scope,
        tier,
        watch: WatchOptions {
            poll_interval: Duration::from_millis(100),
            safety_net_interval: Duration::from_secs(10),
            ..WatchOptions::default()
        },
        session: SessionConfig::default(),
    }
}

/// Ten rounds of the test poll interval without a delta: the tier has seen everything.
const QUIET: Duration = Duration::from_millis(1000);

/// Where a live run's gateway lives and how the pipeline is told of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayPlace {
    /// `<tmp>/home/alice/.openclaw`, named with `--gateway`.
    Named,
    /// `<tmp>/srv/bots/state`, outside every home of the discovery scope (`<tmp>/fs-root`):
    /// only host-wide discovery finds it.
    Unnamed,
}

/// Plays `recordings` (in order) into a fresh state dir while the pipeline follows it on
/// `tier`; returns the collected boxes once the playback is over and every box has closed
/// (or `settle` has passed).
pub fn run_live(
    recordings: Vec<Recording>,
    tier: TierChoice,
    pace: Pace,
    settle: Duration,
) -> Collector {
    run_live_at(GatewayPlace::Named, recordings, tier, pace, settle)
}

pub fn run_live_at(
    place: GatewayPlace,
    recordings: Vec<Recording>,
    tier: TierChoice,
    pace: Pace,
    settle: Duration,
) -> Collector {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (state_dir, scope) = match place {
        GatewayPlace::Named => {
            let state_dir = tmp.path().join("home/alice/.openclaw");
            (state_dir.clone(), Scope::Gateways(vec![state_dir]))
        }
        GatewayPlace::Unnamed => {
            let fs_root = tmp.path().join("fs-root");
            std::fs::create_dir_all(fs_root.join("home")).expect("homes");
            let state_dir = tmp.path().join("srv/bots/state");
            (state_dir, Scope::Discover { fs_root })
        }
    };
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let opts = tier_options(scope, tier);
    let collector = Collector::default();
    let mut sink = collector.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let player_state = state_dir.clone();
    // What existed before the recording began is on disk before the daemon starts, as on a
    // real host; later recordings of a chain find their earlier turns already played.
    let mut first = recordings.first().map(|rec| {
        rec.prepare(&player_state, "main")
            .expect("prepare the state dir")
    });
    let mut start = Some(move || {
        std::thread::spawn(move || {
            let result = (|| -> anyhow::Result<()> {
                for (i, rec) in recordings.iter().enumerate() {
                    let mut player = match (i, first.take()) {
                        (0, Some(player)) => player,
                        _ => rec.prepare(&player_state, "main")?,
                    };
                    player.play(pace, |_| {})?;
                }
                Ok(())
            })();
            let _ = done_tx.send(result.map_err(|e| format!("{e:#}")));
        });
    });
    let watcher = collector.clone();
    // A host-wide tier also shows the gateways other tests play meanwhile: only this run's
    // boxes say whether it is done.
    let canonical = std::fs::canonicalize(&state_dir).unwrap_or_else(|_| state_dir.clone());
    let ours = move |m: &BoxModel| m.id.session.gateway == canonical;
    let stopper = std::thread::spawn(move || {
        // Recorded pace plays the longest recording (2026.4.27) for over two minutes, after
        // the tier has waited its turn to arm.
        let played = done_rx.recv_timeout(Duration::from_secs(600));
        // Done when every box has closed and nothing has arrived for a while: a box closing
        // does not mean the last writes were seen (a later turn may still be on its way, and
        // a busy machine can delay a poll round well past its interval).
        // Past `settle` the run stops anyway: the caller compares what was seen.
        wait::until(settle, || {
            let boxes = watcher.boxes();
            boxes.iter().any(&ours)
                && boxes.iter().filter(|m| ours(m)).all(BoxModel::is_finished)
                && watcher.quiet_for() >= QUIET
        });
        let _ = stop_tx.send(());
        played
    });
    run_pipeline(opts, &mut sink, stop_rx, move || {
        if let Some(start) = start.take() {
            start();
        }
    });
    let played = stopper.join().expect("stopper thread");
    match played {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("playback failed: {e}"),
        Err(e) => panic!("playback did not finish: {e}"),
    }
    drop(tmp);
    collector
}

/// Runs the pipeline on a fresh runtime until `stop` fires; `on_ready` runs once every watch is
/// armed and the initial scan is done.
pub fn run_pipeline(
    opts: RunOptions,
    sink: &mut Collector,
    stop: tokio::sync::oneshot::Receiver<()>,
    mut on_ready: impl FnMut(),
) {
    let mut permit = Some(ArmingPermit::take());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(pipeline::run(
            opts,
            sink,
            async {
                let _ = stop.await;
            },
            |_| {
                drop(permit.take());
                on_ready()
            },
        ))
        .expect("pipeline runs");
}

/// Pipelines arming at once. Arming the eBPF tier loads and verifies its programs and runs a
/// self-test with a 2 s deadline; dozens of live runs started together on two cores would
/// make it miss that deadline, so they arm a few at a time (a run holds its permit until its
/// tier is armed and its initial scan done).
const ARMING_AT_ONCE: usize = 2;

static ARMING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

struct ArmingPermit;

impl ArmingPermit {
    fn take() -> ArmingPermit {
        let (count, freed) = &ARMING;
        let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= ARMING_AT_ONCE {
            n = freed.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
        ArmingPermit
    }
}

impl Drop for ArmingPermit {
    fn drop(&mut self) {
        let (count, freed) = &ARMING;
        let mut n = count.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        freed.notify_one();
    }
}

/// True when the delta adds a line with this text.
pub fn adds_line(delta: &BoxDelta, needle: &str) -> bool {
    delta
        .ops
        .iter()
        .any(|op| matches!(op, BoxOp::AddLine(l) if l.text.contains(needle)))
}

/// Whether `tier` can run here. The kernel tiers must: when one cannot, the calling test fails,
/// unless `LIVESTATUS_ALLOW_NO_EBPF=1` (resp. `LIVESTATUS_ALLOW_NO_FANOTIFY=1`) says this host
/// is known to lack it; then it prints why it skipped and returns false. The eBPF tier is then
/// told to watch this process too: the writers of these tests share it with the tier.
pub fn tier_runs_here(tier: TierChoice, test: &str) -> bool {
    let runs = tier_loads_here(tier, test);
    if runs && tier == TierChoice::Only(TierKind::Ebpf) {
        livestatus::watch::ebpf::watch_own_process(true);
    }
    runs
}

/// [`tier_runs_here`] for a test that runs code which decides itself whether the eBPF tier
/// watches this process (the demo).
pub fn tier_loads_here(tier: TierChoice, test: &str) -> bool {
    use livestatus::watch;
    let (kind, allow) = match tier {
        TierChoice::Only(TierKind::Ebpf) => (TierKind::Ebpf, "LIVESTATUS_ALLOW_NO_EBPF"),
        TierChoice::Only(TierKind::Fanotify) => {
            (TierKind::Fanotify, "LIVESTATUS_ALLOW_NO_FANOTIFY")
        }
        _ => return true,
    };
    match watch::available(kind) {
        Ok(()) => true,
        Err(why) if std::env::var_os(allow).is_some_and(|v| v == "1") => {
            eprintln!("SKIPPED {test} on the {kind} tier: {why}");
            false
        }
        Err(why) => panic!("{test}: the {kind} tier cannot run here: {why} ({allow}=1 skips it)"),
    }
}

/// Every tier, best first.
pub const TIERS: [TierChoice; 4] = [
    TierChoice::Only(TierKind::Ebpf),
    TierChoice::Only(TierKind::Fanotify),
    TierChoice::Only(TierKind::Inotify),
    TierChoice::Only(TierKind::Poll),
];

/// Every tier, best first, less the kernel tiers this host is known to lack (see
/// [`tier_runs_here`]).
pub fn tiers_here(test: &str) -> Vec<TierChoice> {
    TIERS
        .into_iter()
        .filter(|t| tier_runs_here(*t, test))
        .collect()
}
