//! The three measurements of the load bench, each returning figures (or why it could not run):
//! a load run, an idle run, a startup over history; and `inotifywait` and a stand-in of the old
//! Node daemon on the same load as references.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::fake_mattermost::{BOT_TOKEN, FakeMattermost};

use super::agent::{Agent, Launch};
use super::deliveries::{Received, match_turns, quantile};
use super::gateway;
use super::proc_stats::{Sample, open_fds, ticks_per_second};
use super::writer::{self, TURN, WriterReport};

/// How long a daemon may take to READY before the run counts as failed.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What one (sessions, tier) load run measured.
#[derive(Debug)]
pub struct LoadFigures {
    pub lines_per_s: f64,
    pub cpu_percent: f64,
    pub hwm_kib: u64,
    pub turns_total: usize,
    pub turns_delivered: usize,
    pub lag_p50: Duration,
    pub lag_p99: Duration,
    pub appear_p50: Duration,
    pub appeared: usize,
    /// Box posts on the server, deleted ones left out: more than `appeared` means several
    /// posts for one turn.
    pub box_posts: usize,
    /// Box posts the daemon deleted (a box retracted: its lock came with no turn).
    pub deleted_posts: usize,
    pub requests_per_s: f64,
    pub overflows: usize,
    pub rescans: usize,
    /// The writers' own lateness: p99 and max.
    pub writer_late_p99: Duration,
    pub writer_late_max: Duration,
    pub writer_errors: usize,
}

pub struct LoadSpec<'a> {
    pub binary: &'a Path,
    pub sessions: usize,
    pub tier: &'a str,
    pub seconds: u64,
    /// How long after the last write a final state still counts as delivered.
    pub drain: Duration,
    pub writers: usize,
}

fn turns_each(seconds: u64) -> usize {
    ((seconds as f64 / TURN.as_secs_f64()).round() as usize).max(1)
}

/// A run's directory (gateway, daemon log, data dir): removed at the end unless `LOAD_KEEP=1`,
/// then its path is printed so the daemon's log can be read.
struct KeptDir(Option<tempfile::TempDir>);

impl KeptDir {
    fn path(&self) -> &Path {
        self.0
            .as_ref()
            .map_or(Path::new("/nonexistent"), |t| t.path())
    }
}

impl Drop for KeptDir {
    fn drop(&mut self) {
        if std::env::var("LOAD_KEEP").as_deref() == Ok("1")
            && let Some(t) = self.0.take()
        {
            eprintln!("load bench: kept {}", t.keep().display());
        }
    }
}

/// Starts the daemon on a fresh gateway of `spec.sessions` sessions, runs the load, and measures.
pub fn load_run(spec: &LoadSpec) -> Result<LoadFigures, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let tmp = KeptDir(Some(tmp));
    let mm = FakeMattermost::start_with(gateway::world(spec.sessions));
    let state = tmp.path().join("home/alice/.openclaw");
    let sessions = gateway::write(&state, &mm.base_url(), BOT_TOKEN, spec.sessions);
    let mut agent = Agent::start(&Launch {
        binary: spec.binary,
        state_dir: &state,
        work_dir: &tmp.path().join("agent"),
        tier: spec.tier,
        nofile: None,
    })?;
    agent
        .wait_ready(READY_TIMEOUT)
        .map_err(|e| format!("cannot arm: {e}"))?;
    let pid = agent.pid();
    let ticks = ticks_per_second();
    let mut received = Received::default();
    // Startup traffic (users/me, …) is not the load's.
    received.drain(&mm);
    let startup_requests = received.requests.len();
    let before = Sample::read(pid, ticks).ok_or("the daemon exited after READY")?;
    let start = Instant::now() + Duration::from_millis(200);
    let turns_each = turns_each(spec.seconds);
    let report: WriterReport = std::thread::scope(|scope| {
        let load = scope.spawn(|| writer::run_threads(&sessions, spec.writers, turns_each, start));
        while !load.is_finished() {
            std::thread::sleep(Duration::from_millis(250));
            received.drain(&mm);
        }
        load.join().unwrap_or_default()
    });
    let writes_done = Instant::now();
    let during = Sample::read(pid, ticks).ok_or("the daemon exited during the load")?;
    let total = report.turns.len();
    let keys: Vec<String> = sessions.iter().map(|s| s.key.clone()).collect();
    // Drain: wait for the last final states, up to `spec.drain`.
    let drain_end = writes_done + spec.drain;
    loop {
        received.drain(&mm);
        let delivered = match_turns(&received, &mm, &keys, &report.turns)
            .iter()
            .filter(|t| t.finished.is_some())
            .count();
        if delivered >= total || Instant::now() >= drain_end {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let after = Sample::read(pid, ticks).unwrap_or(during);
    let seen = match_turns(&received, &mm, &keys, &report.turns);
    let mut lags: Vec<Duration> = Vec::new();
    let mut appear: Vec<Duration> = Vec::new();
    for (t, s) in report.turns.iter().zip(&seen) {
        if let Some(f) = s.finished {
            lags.push(f.saturating_duration_since(t.last_line));
        }
        if let Some(c) = s.created {
            appear.push(c.saturating_duration_since(t.lock_created));
        }
    }
    lags.sort();
    appear.sort();
    let window = writes_done.saturating_duration_since(start).as_secs_f64();
    let load_requests = received.requests[startup_requests..]
        .iter()
        .filter(|&&at| at >= start && at <= writes_done)
        .count();
    let figures = LoadFigures {
        lines_per_s: report.lines as f64 / window.max(1e-9),
        cpu_percent: during.cpu_percent_since(&before),
        hwm_kib: after.hwm_kib,
        turns_total: total,
        turns_delivered: lags.len(),
        lag_p50: quantile(&lags, 0.50),
        lag_p99: quantile(&lags, 0.99),
        appear_p50: quantile(&appear, 0.50),
        appeared: appear.len(),
        box_posts: crate::posts::box_posts(&mm)
            .iter()
            .filter(|p| p.delete_at == 0)
            .count(),
        deleted_posts: crate::posts::box_posts(&mm)
            .iter()
            .filter(|p| p.delete_at != 0)
            .count(),
        requests_per_s: load_requests as f64 / window.max(1e-9),
        overflows: agent.log_count("overflow"),
        rescans: agent.log_count("rescan"),
        writer_late_p99: quantile(&report.lateness, 0.99),
        writer_late_max: report.lateness.last().copied().unwrap_or_default(),
        writer_errors: report.errors.len(),
    };
    agent.stop(Duration::from_secs(5));
    Ok(figures)
}

/// What a reference watcher costs on the same load: CPU % of a core and peak RSS.
#[derive(Debug)]
pub struct ReferenceFigures {
    pub cpu_percent: f64,
    pub hwm_kib: u64,
    pub lines_per_s: f64,
}

/// `inotifywait -m -r` over the same generated gateway and load (its output thrown away);
/// `Err` when it is not installed.
pub fn inotifywait_run(
    sessions: usize,
    seconds: u64,
    writers: usize,
) -> Result<ReferenceFigures, String> {
    reference_run(sessions, seconds, writers, |_, state| {
        let mut cmd = Command::new("inotifywait");
        cmd.args(["-m", "-r", "-q"]).arg(state);
        Ok((cmd, "`scripts/setup.sh --bench` installs inotify-tools"))
    })
}

/// The old Node daemon's design, `fs.watch` on each sessions directory + a 500 ms poll, reading
/// and parsing every appended line; a stand-in written from that design (`node_reference.js`),
/// not its code. `Err` when `node` is not installed.
pub fn node_reference_run(
    sessions: usize,
    seconds: u64,
    writers: usize,
) -> Result<ReferenceFigures, String> {
    reference_run(sessions, seconds, writers, |dir, state| {
        // Written out rather than run from the source tree, so the bench binary works wherever
        // it was built.
        let script = dir.join("node_reference.js");
        std::fs::write(&script, include_str!("node_reference.js"))
            .map_err(|e| format!("writing {}: {e}", script.display()))?;
        let mut cmd = Command::new("node");
        cmd.arg(&script).arg(state);
        Ok((cmd, "`scripts/setup.sh --bench` installs nodejs"))
    })
}

/// Spawns the watcher `command` builds (given a scratch dir and the gateway's state dir) over a
/// fresh gateway of `sessions` sessions, runs the load, and measures the watcher over the
/// writing window. `command` also returns how to install the program, for when it cannot run.
fn reference_run(
    sessions: usize,
    seconds: u64,
    writers: usize,
    command: impl FnOnce(&Path, &Path) -> Result<(Command, &'static str), String>,
) -> Result<ReferenceFigures, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let state = tmp.path().join("home/alice/.openclaw");
    let list = gateway::write(&state, "http://127.0.0.1:9", BOT_TOKEN, sessions);
    let (mut command, install) = command(tmp.path(), &state)?;
    let name = command.get_program().to_string_lossy().into_owned();
    let stderr_path = tmp.path().join("reference.stderr");
    let stderr = std::fs::File::create(&stderr_path)
        .map_err(|e| format!("{}: {e}", stderr_path.display()))?;
    let mut child = command
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("{name} not runnable ({e}); {install}"))?;
    // inotifywait would say "Watches established" without -q, the Node stand-in says nothing:
    // one short wait for both keeps their rows measured alike.
    std::thread::sleep(Duration::from_millis(500));
    if let Ok(Some(status)) = child.try_wait() {
        // Its own words say why (a syntax error in an old node, a missing directory); node puts
        // the error after the source line it points at.
        let said = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        let said = said
            .lines()
            .find(|l| l.contains("Error"))
            .or_else(|| said.lines().find(|l| !l.trim().is_empty()))
            .unwrap_or("")
            .trim();
        return Err(format!("{name} exited at once ({status}): {said}"));
    }
    let pid = child.id();
    let ticks = ticks_per_second();
    let before = Sample::read(pid, ticks).ok_or_else(|| format!("{name} exited at once"))?;
    let start = Instant::now();
    let report = writer::run_threads(&list, writers, turns_each(seconds), start);
    let after = Sample::read(pid, ticks).ok_or_else(|| format!("{name} exited during the load"))?;
    let _ = child.kill();
    let _ = child.wait();
    Ok(ReferenceFigures {
        cpu_percent: after.cpu_percent_since(&before),
        hwm_kib: after.hwm_kib,
        lines_per_s: report.lines as f64 / start.elapsed().as_secs_f64().max(1e-9),
    })
}

/// Wake-ups and memory of a daemon with nothing to do.
#[derive(Debug)]
pub struct IdleFigures {
    pub switches_per_min: f64,
    pub rss_kib: u64,
    pub cpu_percent: f64,
}

/// The daemon on a gateway of `sessions` quiet sessions, measured for `seconds` after READY.
pub fn idle_run(
    binary: &Path,
    tier: &str,
    sessions: usize,
    seconds: u64,
) -> Result<IdleFigures, String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let mm = FakeMattermost::start_with(gateway::world(sessions));
    let state = tmp.path().join("home/alice/.openclaw");
    gateway::write(&state, &mm.base_url(), BOT_TOKEN, sessions);
    let mut agent = Agent::start(&Launch {
        binary,
        state_dir: &state,
        work_dir: &tmp.path().join("agent"),
        tier,
        nofile: None,
    })?;
    agent
        .wait_ready(READY_TIMEOUT)
        .map_err(|e| format!("cannot arm: {e}"))?;
    // Let startup settle (first requests, initial scans) before counting.
    std::thread::sleep(Duration::from_secs(2));
    let ticks = ticks_per_second();
    let pid = agent.pid();
    let before = Sample::read(pid, ticks).ok_or("the daemon exited after READY")?;
    std::thread::sleep(Duration::from_secs(seconds));
    let after = Sample::read(pid, ticks).ok_or("the daemon exited while idle")?;
    agent.stop(Duration::from_secs(5));
    let minutes = after.at.saturating_duration_since(before.at).as_secs_f64() / 60.0;
    Ok(IdleFigures {
        switches_per_min: (after.voluntary_switches - before.voluntary_switches) as f64
            / minutes.max(1e-9),
        rss_kib: after.rss_kib,
        cpu_percent: after.cpu_percent_since(&before),
    })
}

/// Startup over many finished transcripts.
#[derive(Debug)]
pub struct HistoryFigures {
    /// Spawn → READY=1; `Err` says why it never came.
    pub ready: Result<Duration, String>,
    pub rss_kib: u64,
    pub fds: usize,
    pub emfile: bool,
}

/// The daemon started on `transcripts` finished sessions spread over the past day, under a soft
/// fd limit of `nofile` (None: the bench's own); measured 1 s after READY (or after the timeout).
pub fn history_run(
    binary: &Path,
    tier: &str,
    transcripts: usize,
    nofile: Option<u64>,
    scratch: &Path,
) -> Result<HistoryFigures, String> {
    let mm = FakeMattermost::start();
    let state = scratch.join(format!("h{transcripts}/.openclaw"));
    if !state.join("agents/main/sessions/sessions.json").exists() {
        gateway::write_history(&state, &mm.base_url(), BOT_TOKEN, transcripts);
    } else {
        // Reused between runs: only the server's address changes.
        crate::daemon::write_gateway_config(&state, &mm.base_url(), BOT_TOKEN);
    }
    let work = scratch.join(format!(
        "agent-{transcripts}-{tier}-{}",
        nofile.map_or("max".to_owned(), |n| n.to_string())
    ));
    let _ = std::fs::remove_dir_all(&work);
    let mut agent = Agent::start(&Launch {
        binary,
        state_dir: &state,
        work_dir: &work,
        tier,
        nofile,
    })?;
    let ready = agent.wait_ready(Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(1));
    let pid = agent.pid();
    let sample = Sample::read(pid, ticks_per_second());
    let fds = open_fds(pid).unwrap_or(0);
    let emfile = agent.log_count("too many open files") + agent.log_count("emfile") > 0;
    agent.stop(Duration::from_secs(5));
    Ok(HistoryFigures {
        ready,
        rss_kib: sample.map_or(0, |s| s.rss_kib),
        fds,
        emfile,
    })
}
