//! `demo`: five real chats recorded from an OpenClaw 2026.7 gateway, played into a temporary
//! state dir while the real pipeline watches it, so a newcomer sees boxes grow in seconds.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::pipeline::RunOptions;
use crate::playback::{Pace, Recording};
use crate::service::config::TierChoice;
use crate::session::{BoxDelta, BoxId, BoxOp};
use crate::sink::Sink;
use crate::sink::terminal::TerminalView;
use crate::watch::Scope;

use super::DemoArgs;
use super::settings;

/// The demo's recording ships with the binary, so it lives with the crate (`agent/demo/`): a
/// copy of what a real 2026.7.1 gateway wrote (`tests/fixtures/openclaw/2026.7.1/`), kept
/// identical by `the_shipped_recording_is_the_recorded_one`.
macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/demo/2026.7.1/",
            $path
        ))
    };
}

/// The final transcripts (the last scenario's dir holds every session of the run).
const TRANSCRIPTS: [(&str, &[u8]); 4] = [
    (
        "378cc088-7929-479b-991c-8aad99f30827.jsonl",
        fixture!("e_subagent/sessions/378cc088-7929-479b-991c-8aad99f30827.jsonl"),
    ),
    (
        "2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl",
        fixture!(
            "e_subagent/sessions/2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl"
        ),
    ),
    (
        "f7a0e9de-21f9-46d6-95d4-97f8b5f11adb.jsonl",
        fixture!("e_subagent/sessions/f7a0e9de-21f9-46d6-95d4-97f8b5f11adb.jsonl"),
    ),
    (
        "a3f93169-53b5-4709-9894-bc712c4512a6.jsonl",
        fixture!("e_subagent/sessions/a3f93169-53b5-4709-9894-bc712c4512a6.jsonl"),
    ),
];

/// Each chat: what it shows, its index as the gateway left it, and its writes in order.
const SCENARIOS: [(&str, &[u8], &[u8]); 5] = [
    (
        "a channel message: the agent reads a file and lists a folder",
        fixture!("a_channel_tools/sessions/sessions.json"),
        fixture!("a_channel_tools/fs-events.log"),
    ),
    (
        "a reply in a thread: a forked session (its copied history is not shown again)",
        fixture!("b_thread_reply/sessions/sessions.json"),
        fixture!("b_thread_reply/fs-events.log"),
    ),
    (
        "a direct message",
        fixture!("c_dm/sessions/sessions.json"),
        fixture!("c_dm/fs-events.log"),
    ),
    (
        "a tool that fails",
        fixture!("d_tool_error/sessions/sessions.json"),
        fixture!("d_tool_error/fs-events.log"),
    ),
    (
        "a sub-agent, nested under the turn that spawned it",
        fixture!("e_subagent/sessions/sessions.json"),
        fixture!("e_subagent/fs-events.log"),
    ),
];

pub fn recordings() -> anyhow::Result<Vec<(&'static str, Recording)>> {
    SCENARIOS
        .iter()
        .map(|(what, index, log)| {
            let transcripts = TRANSCRIPTS
                .iter()
                .map(|(name, bytes)| ((*name).to_owned(), bytes.to_vec()))
                .collect();
            let log = std::str::from_utf8(log).context("bundled events log")?;
            Ok((
                *what,
                Recording::from_parts(transcripts, index.to_vec(), log)?,
            ))
        })
        .collect()
}

pub fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    settings::init_logging("warn");
    if !(args.speed.is_finite() && args.speed > 0.0) {
        anyhow::bail!("--speed must be a positive number, got {}", args.speed);
    }
    let tmp = tempfile::Builder::new()
        .prefix("openclaw-livestatus-demo-")
        .tempdir()
        .context("creating a temporary directory for the demo gateway")?;
    let state_dir = tmp.path().join(".openclaw");
    let mut opts = settings::run_options(&Default::default())?;
    opts.scope = Scope::Gateways(vec![state_dir.clone()]);
    opts.tier = args.tier.unwrap_or(TierChoice::Auto);
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut view = TerminalView::new(
        stdout,
        tty,
        settings::render_options(&Default::default(), None),
    );
    let pace = Pace {
        speed: args.speed,
        ..Pace::DEMO
    };
    eprintln!(
        "Demo: playing five chats recorded from a real OpenClaw 2026.7.1 gateway into {}",
        state_dir.display()
    );
    play(
        opts,
        &state_dir,
        pace,
        &mut view,
        crate::service::signals::stop_signal(),
        |what| eprintln!("\n▶ {what}"),
    )?;
    eprintln!("\nDemo finished. Run `openclaw-livestatus watch` to follow this host's gateways.");
    Ok(ExitCode::SUCCESS)
}

/// After the last write, how long no box may change before the demo ends: a poll round of the
/// slowest tier (1 s by default) and then some.
const SETTLED_AFTER: Duration = Duration::from_millis(1500);
/// The most the demo waits after the last write for its boxes to close.
const SETTLE_LIMIT: Duration = Duration::from_secs(20);

/// Plays the five chats into `state_dir` while the real pipeline (`opts`) follows it and hands
/// its boxes to `sink`; returns once the playback is over and every box has closed and stayed
/// unchanged for a moment, or when `stop` resolves. `on_chat` is told each chat as it starts.
pub fn play<S: Sink + ?Sized>(
    opts: RunOptions,
    state_dir: &Path,
    pace: Pace,
    sink: &mut S,
    stop: impl Future<Output = ()>,
    on_chat: impl Fn(&str) + Send + 'static,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating the demo state dir {}", state_dir.display()))?;
    // The player stands in for the gateway but is a thread of this process, which the eBPF
    // tier leaves out in the kernel (so the daemon's own writes never feed back): without
    // this the tier would see none of the demo's writes and only the 10 s safety net would.
    // The agent writes nothing into the demo's state dir, so nothing can feed back here.
    crate::watch::ebpf::watch_own_process(true);
    let recordings = recordings()?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let player_state = state_dir.to_path_buf();
    let start_player = move || {
        std::thread::spawn(move || {
            let result = (|| {
                for (what, recording) in recordings {
                    on_chat(what);
                    let mut player = recording.prepare(&player_state, "main")?;
                    player.play(pace, |_| {})?;
                    std::thread::sleep(Duration::from_millis(1200));
                }
                Ok(())
            })();
            let _ = done_tx.send(result);
        });
    };
    let watched = Watched::default();
    let settled = watched.clone();
    let finished = async move {
        match done_rx.await {
            Ok(Err(err)) => return Err(err.context("demo playback failed")),
            Err(_) => anyhow::bail!("the demo player stopped without a word"),
            Ok(Ok(())) => {}
        }
        let limit = tokio::time::Instant::now() + SETTLE_LIMIT;
        while tokio::time::Instant::now() < limit && !settled.settled(SETTLED_AFTER) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut start_player = Some(start_player);
    let mut outcome = Ok(());
    let mut sink = WatchedSink {
        inner: sink,
        watched,
    };
    runtime.block_on(crate::pipeline::run(
        opts,
        &mut sink,
        async {
            tokio::select! {
                result = finished => outcome = result,
                () = stop => {}
            }
        },
        |_| {
            if let Some(start) = start_player.take() {
                start();
            }
        },
    ))?;
    outcome
}

/// Which boxes are open and when one last changed, as the demo's sink sees them.
#[derive(Clone, Default)]
struct Watched(Arc<Mutex<(BTreeSet<BoxId>, Option<Instant>)>>);

impl Watched {
    fn settled(&self, quiet: Duration) -> bool {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (open, last) = &*guard;
        open.is_empty() && last.is_some_and(|at| at.elapsed() >= quiet)
    }
}

struct WatchedSink<'a, S: Sink + ?Sized> {
    inner: &'a mut S,
    watched: Watched,
}

impl<S: Sink + ?Sized> Sink for WatchedSink<'_, S> {
    fn deliver(&mut self, deltas: &[BoxDelta], now_ms: i64) {
        {
            let mut guard = self.watched.0.lock().unwrap_or_else(|p| p.into_inner());
            let (open, last) = &mut *guard;
            for d in deltas.iter().filter(|d| !d.is_restored_history()) {
                *last = Some(Instant::now());
                let ends = d
                    .ops
                    .iter()
                    .any(|op| matches!(op, BoxOp::Close { .. } | BoxOp::Retract));
                if ends {
                    open.remove(&d.id);
                } else {
                    open.insert(d.id.clone());
                }
            }
        }
        self.inner.deliver(deltas, now_ms);
    }
    fn tick(&mut self, now_ms: i64) {
        self.inner.tick(now_ms);
    }
    fn finish(&mut self, now_ms: i64) {
        self.inner.finish(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// Every file the demo ships is byte for byte what the real gateway wrote.
    #[test]
    fn the_shipped_recording_is_the_recorded_one() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let shipped = root.join("demo/2026.7.1");
        let recorded = root.join("../tests/fixtures/openclaw/2026.7.1");
        let mut dirs = vec![shipped.clone()];
        let mut compared = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("read the demo dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let rel = path.strip_prefix(&shipped).expect("under the demo dir");
                let original = std::fs::read(recorded.join(rel))
                    .unwrap_or_else(|e| panic!("{} has no recorded original: {e}", rel.display()));
                assert!(
                    std::fs::read(&path).expect("read") == original,
                    "{} differs from the recording; copy it again from tests/fixtures",
                    rel.display()
                );
                compared += 1;
            }
        }
        assert_eq!(
            compared, 14,
            "the four transcripts, five indexes and five event logs"
        );
    }
}
