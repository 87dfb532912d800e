//! `watch` (the terminal view) and `run` (the daemon, see `service::daemon`): one pipeline,
//! two sinks.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::pipeline::{self, run::ReadyInfo};
use crate::service::signals::stop_signal;
use crate::service::{daemon, privileges, runtime};
use crate::sink::terminal::TerminalView;

use super::settings;
use super::{RunArgs, WatchArgs};

fn say_where_we_look(info: &ReadyInfo) {
    privileges::drop_after_arming(info.tier);
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
    runtime::runtime()?.block_on(pipeline::run(
        opts,
        &mut view,
        stop_signal(),
        say_where_we_look,
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    daemon::run(daemon::Launch {
        follow: args.follow,
        data_dir: args.data_dir,
    })
}
