//! The command line: what each command does is in its `--help`.

pub mod assets;
pub mod check_config;
pub mod demo;
pub mod doctor;
pub mod error_text;
pub mod replay;
pub mod settings;
pub mod status;
pub mod upload;
pub mod watch;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::service::config::TierChoice;

#[derive(Parser, Debug)]
#[command(
    name = "openclaw-livestatus",
    version,
    about = "Live status boxes for OpenClaw agent sessions",
    long_about = "Follows every OpenClaw gateway on this host (each user's ~/.openclaw, \
~/.openclaw-<profile>, legacy ~/.clawdbot and ~/.moltbot) and shows each agent turn as a live \
status box: the tools it calls, their [OK]/[ERR] results, sub-agents, elapsed time and tokens.\n\n\
Start with `openclaw-livestatus demo` to see a box grow without an OpenClaw install, or \
`openclaw-livestatus watch` to follow this host's gateways in the terminal."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// These doc comments are the `--help` text, where `[INTERRUPTED]` and `[mattermost]` are
// meant literally, not as links.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show every active session's box live in this terminal.
    ///
    /// Redraws in place on a terminal; on a pipe or file, prints one line per change. Finished
    /// turns scroll up and stay. This is what runs when no Mattermost is configured. Stop with
    /// Ctrl-C (open boxes are marked [INTERRUPTED]).
    Watch(WatchArgs),
    /// Run the daemon (as systemd's service does): follow every gateway and log each turn.
    ///
    /// Without a [mattermost] section in the config, finished boxes go to the log (journald
    /// under systemd, stderr otherwise). Reports READY to systemd once every watch is armed and
    /// the initial scan is done, and feeds its watchdog while the pipeline makes progress.
    /// SIGHUP or SIGUSR1 reloads the config (refused, keeping the running one, if it has an
    /// error); SIGTERM marks open boxes [INTERRUPTED], delivers them and exits.
    Run(RunArgs),
    /// Print the boxes a transcript produces, turn by turn, deterministically.
    ///
    /// PATH is a transcript (`<id>.jsonl`), a sessions dir (`…/agents/<id>/sessions`) or a whole
    /// state dir (`~/.openclaw`). Elapsed times come from the transcript's own timestamps, so
    /// the output is the same on every run. Copied thread history is not shown as progress;
    /// sub-agents nest under the turn that spawned them when their parent is replayed too.
    Replay(ReplayArgs),
    /// Validate a config file and print the effective configuration (secrets redacted).
    ///
    /// Reads FILE (default /etc/openclaw-livestatus/config.toml) and the Live Status v4
    /// environment variables; exits 1 with the file, line and key of the first problem.
    CheckConfig(CheckConfigArgs),
    /// Check this host: watch tiers, gateways, each Mattermost account (probed now), data dir.
    ///
    /// Exits 1 when something would keep boxes from reaching Mattermost; each line says what
    /// was found and, for a problem, what to do.
    Doctor(DoctorArgs),
    /// Ask the running daemon (through its local API) what it is doing and whether it is healthy.
    ///
    /// One line per gateway (sessions running and idle, the concurrency limit) and per open box
    /// (session, agent, elapsed, last line), then the tier and the Mattermost servers. Exits 1
    /// when the daemon does not answer or reports itself unhealthy. Reads `api.listen` and
    /// `api.secret` from the same config as the daemon.
    Status(StatusArgs),
    /// Send one status upload now and say what the monitoring server answered.
    Upload(UploadArgs),
    /// Replay a bundled real OpenClaw session into a temporary gateway while `watch` shows it.
    ///
    /// Plays what a real OpenClaw 2026.7 gateway wrote during five chats (tools in a channel,
    /// a thread reply, a DM, a failing tool, a sub-agent), in the gateway's own order of
    /// writes, through the real watch tier. Needs no OpenClaw install and touches nothing
    /// outside a temporary directory.
    Demo(DemoArgs),
    /// Write the man pages and shell completions into DIR (used when building the packages).
    #[command(hide = true)]
    GenerateAssets(GenerateAssetsArgs),
    /// Time the system-call loops `auto` weighs a kernel tier's cost with (the daemon runs it
    /// as a child, before and after arming the tier).
    #[command(hide = true)]
    MeasureHostCost(MeasureHostCostArgs),
}

/// Options shared by the commands that follow gateways.
#[derive(Args, Debug, Clone, Default)]
pub struct FollowArgs {
    /// Config file (TOML). Default: /etc/openclaw-livestatus/config.toml if it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// An OpenClaw state dir to follow (repeatable). Turns discovery of every home off.
    #[arg(long = "gateway", value_name = "DIR")]
    pub gateways: Vec<PathBuf>,
    /// How to learn of changes: auto arms the best this host allows (ebpf, fanotify, inotify,
    /// then poll; `doctor` says which can run and why not).
    #[arg(long, value_name = "TIER")]
    pub tier: Option<TierChoice>,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub follow: FollowArgs,
    /// Most lines shown per box (older ones are summarised as "… N earlier").
    #[arg(long, value_name = "N")]
    pub max_lines: Option<usize>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub follow: FollowArgs,
    /// Where the daemon keeps its own state.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// A transcript file, a sessions dir or a state dir.
    pub path: PathBuf,
    /// Most lines shown per box (default: all of them).
    #[arg(long, value_name = "N")]
    pub max_lines: Option<usize>,
    /// JSON file of tool label overrides (as TOOL_LABELS_FILE).
    #[arg(long, value_name = "FILE")]
    pub tool_labels: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub follow: FollowArgs,
}

#[derive(Args, Debug)]
pub struct CheckConfigArgs {
    /// The config file to check.
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Playback speed (1 = as recorded, gaps over 1.5 s shortened).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    pub speed: f64,
    /// How to learn of changes (the demo runs the real tier).
    #[arg(long, value_name = "TIER")]
    pub tier: Option<TierChoice>,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Config file (TOML). Default: /etc/openclaw-livestatus/config.toml if it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the daemon's API listens (as api.listen: 127.0.0.1:9090, unix:/path).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<crate::service::config::Listen>,
    /// Print the /v1/status document (the session-status plugin's shape) instead.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct UploadArgs {
    #[command(flatten)]
    pub follow: FollowArgs,
    /// Do one upload now (with `"test": true` in the document) and report the answer.
    #[arg(long, required = true)]
    pub test: bool,
}

#[derive(Args, Debug)]
pub struct MeasureHostCostArgs {
    /// Where the scratch file is written.
    pub dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct GenerateAssetsArgs {
    /// Where to write `openclaw-livestatus*.1` and `completions/`.
    pub dir: PathBuf,
}

/// Runs the CLI; the return value is the process exit code.
pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Watch(args) => watch::watch(args),
        Command::Run(args) => watch::run(args),
        Command::Replay(args) => replay::replay(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Demo(args) => demo::demo(args),
        Command::Doctor(args) => doctor::doctor(args),
        Command::Status(args) => status::status(args),
        Command::Upload(args) => upload::upload(args),
        Command::GenerateAssets(args) => assets::generate(&args.dir),
        Command::MeasureHostCost(args) => {
            crate::pipeline::measure_command(&args.dir).map(|()| std::process::ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("openclaw-livestatus: {}", error_text::error_text(&err));
            std::process::ExitCode::FAILURE
        }
    }
}
