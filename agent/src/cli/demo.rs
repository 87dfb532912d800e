//! `demo`: five real chats recorded from an OpenClaw 2026.7 gateway, played into a temporary
//! state dir while the real pipeline watches it, so a newcomer sees boxes grow in seconds.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;

use crate::playback::{Pace, Recording};
use crate::service::config::TierChoice;
use crate::sink::terminal::TerminalView;
use crate::watch::Scope;

use super::DemoArgs;
use super::settings;

macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/openclaw/2026.7.1/",
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
    std::fs::create_dir_all(&state_dir)?;
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
    let recordings = recordings()?;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let player_state = state_dir.clone();
    let start_player = move || {
        std::thread::spawn(move || {
            let result = (|| {
                for (what, recording) in recordings {
                    eprintln!("\n▶ {what}");
                    let mut player = recording.prepare(&player_state, "main")?;
                    player.play(pace, |_| {})?;
                    std::thread::sleep(std::time::Duration::from_millis(1200));
                }
                Ok(())
            })();
            let _ = done_tx.send(result);
        });
    };
    let finished = async move {
        if let Ok(Err(err)) = done_rx.await {
            eprintln!(
                "demo playback failed: {}",
                super::error_text::error_text(&err)
            )
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut start_player = Some(start_player);
    runtime.block_on(crate::pipeline::run(
        opts,
        &mut view,
        async {
            tokio::select! {
                () = finished => {}
                () = crate::service::signals::stop_signal() => {}
            }
        },
        |_| {
            if let Some(start) = start_player.take() {
                start();
            }
        },
    ))?;
    eprintln!("\nDemo finished. Run `openclaw-livestatus watch` to follow this host's gateways.");
    Ok(ExitCode::SUCCESS)
}
