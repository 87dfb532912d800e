//! `watch` (the terminal view) and `run` (the daemon): one pipeline, two sinks.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;

use crate::pipeline::{self, run::ReadyInfo};
use crate::sink::Sink;
use crate::sink::log::LogSink;
use crate::sink::terminal::TerminalView;

use super::settings;
use super::{RunArgs, WatchArgs};

/// Resolves on SIGINT or SIGTERM.
pub async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn say_where_we_look(info: &ReadyInfo) {
    if info.gateways == 0 {
        let places: Vec<String> = info
            .searched
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        eprintln!(
            "No OpenClaw gateway found yet (looked in: {}). Waiting for one to appear; Ctrl-C to stop.",
            places.join(", ")
        );
    } else {
        eprintln!(
            "Following {} gateway(s) with the {:?} tier; {} turn(s) in progress. Ctrl-C to stop.",
            info.gateways, info.tier, info.open_boxes
        );
    }
}

pub fn watch(args: WatchArgs) -> anyhow::Result<ExitCode> {
    let config = settings::load(&args.follow)?;
    settings::init_logging(&config.service.log_level);
    let opts = settings::run_options(&config)?;
    let render = settings::render_options(&config, args.max_lines);
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let mut view = TerminalView::new(stdout, tty, render);
    runtime()?.block_on(pipeline::run(
        opts,
        &mut view,
        stop_signal(),
        say_where_we_look,
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut config = settings::load(&args.follow)?;
    if let Some(dir) = args.data_dir {
        config.service.data_dir = dir;
    }
    settings::init_logging(&config.service.log_level);
    std::fs::create_dir_all(&config.service.data_dir).with_context(|| {
        format!(
            "creating the data dir {} (set service.data_dir or --data-dir to a writable place)",
            config.service.data_dir.display()
        )
    })?;
    if config.mattermost.is_some() {
        tracing::warn!(
            "a [mattermost] section is configured, but this build delivers boxes to the log only"
        );
    }
    let opts = settings::run_options(&config)?;
    let mut sink: Box<dyn Sink> = Box::new(LogSink::new(settings::render_options(&config, None)));
    // STOPPING goes out as soon as the signal arrives, before open boxes are marked interrupted.
    let stopping = async {
        stop_signal().await;
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    };
    runtime()?.block_on(pipeline::run(opts, sink.as_mut(), stopping, |info| {
        tracing::info!(
            tier = ?info.tier,
            gateways = info.gateways,
            open_boxes = info.open_boxes,
            "ready"
        );
        if info.gateways == 0 {
            tracing::info!(looked_in = ?info.searched, "no OpenClaw gateway found yet; waiting for one");
        }
        let _ = sd_notify::notify(
            false,
            &[
                sd_notify::NotifyState::Ready,
                sd_notify::NotifyState::Status(&format!(
                    "tier {:?}, {} gateway(s), {} active turn(s)",
                    info.tier, info.gateways, info.open_boxes
                )),
            ],
        );
    }))?;
    Ok(ExitCode::SUCCESS)
}
