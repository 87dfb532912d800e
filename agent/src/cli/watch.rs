//! `watch` (the terminal view) and `run` (the daemon): one pipeline, two sinks.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;

use crate::pipeline::{self, run::ReadyInfo};
use std::sync::Arc;

use crate::gateway::accounts::AccountDirectory;
use crate::service::privileges;
use crate::service::state::PostStore;
use crate::sink::daemon::DaemonSink;
use crate::sink::log::LogSink;
use crate::sink::rest::RestSink;
use crate::sink::terminal::TerminalView;

use super::settings;
use super::{RunArgs, WatchArgs};

/// How long a stopping daemon waits for Mattermost to take the final states.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

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
        // Idle blocking-pool threads go soon, so none started before the capability drop
        // outlives it for long (see `privileges::threads_holding_more`).
        .thread_keep_alive(std::time::Duration::from_millis(200))
        .build()
        .context("starting the async runtime")
}

/// Once the tier is armed: keep only what reading session files needs.
fn drop_privileges(tier: crate::watch::TierKind) {
    let keep: &[caps::Capability] = if tier == crate::watch::TierKind::Ebpf {
        &[privileges::KEPT, privileges::KEPT_FOR_EBPF]
    } else {
        &[privileges::KEPT]
    };
    match privileges::drop_and_settle(keep, std::time::Duration::from_secs(2)) {
        Ok((kept, 0)) => tracing::info!(kept = ?kept.effective, "capabilities dropped"),
        Ok((kept, left)) => tracing::warn!(
            kept = ?kept.effective,
            threads = left,
            "capabilities dropped, but threads started before the drop still hold more"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not drop capabilities; running with what systemd gave")
        }
    }
}

fn say_where_we_look(info: &ReadyInfo) {
    drop_privileges(info.tier);
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
    let (config, warnings) = settings::load(&args.follow)?;
    settings::init_logging(&config.service.log_level);
    warnings.log();
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
    let (mut config, warnings) = settings::load(&args.follow)?;
    if let Some(dir) = args.data_dir {
        config.service.data_dir = dir;
    }
    settings::init_logging(&config.service.log_level);
    warnings.log();
    crate::service::data_dir::prepare(&config.service.data_dir)?;
    // Before anything is posted: a second daemon on this data dir would post every box twice.
    let _instance = crate::service::instance::acquire(&config.service.data_dir)?;
    let opts = settings::run_options(&config)?;
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let accounts = AccountDirectory::new(config.mattermost.as_ref(), credentials.as_deref())?;
    let store = PostStore::open(&config.service.data_dir)?;
    let rest_opts = settings::rest_options(&config);
    let render = settings::render_options(&config, None);
    runtime()?.block_on(async move {
        let mut sink = DaemonSink {
            log: LogSink::new(render),
            rest: Some(RestSink::start(rest_opts, Arc::new(accounts), store)),
        };
        // STOPPING goes out as soon as the signal arrives, before open boxes are marked
        // interrupted and their final states delivered.
        let stopping = async {
            stop_signal().await;
            let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
        };
        let result = pipeline::run(opts, &mut sink, stopping, |info| {
            drop_privileges(info.tier);
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
        })
        .await;
        if let Some(rest) = sink.rest.take() {
            let report = rest.drain(DRAIN_DEADLINE).await;
            if report.timed_out || report.undelivered > 0 {
                tracing::warn!(?report, "stopped before every box reached Mattermost");
            } else {
                tracing::info!(?report, "every box delivered");
            }
        }
        result
    })?;
    Ok(ExitCode::SUCCESS)
}
