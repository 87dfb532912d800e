//! `openclaw-livestatus run`: the daemon's life from start to exit.
//!
//! start: config → logging → data dir + instance lock → signals → arm the tier → initial scan
//! → drop privileges → READY=1. Then, until SIGTERM: heartbeats (WATCHDOG=1 + STATUS=) and
//! reloads. On SIGTERM: STOPPING=1, open boxes `[INTERRUPTED]`, delivered (10 s at most), the
//! post store saved, exit 0.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::api;
use crate::cli::FollowArgs;
use crate::cli::settings;
use crate::gateway::accounts::AccountDirectory;
use crate::pipeline::{self, Control, Hooks, Reconfig, run::ReadyInfo};
use crate::service::config::Config;
use crate::service::heartbeat::{self, Rhythm};
use crate::service::live_accounts::LiveAccounts;
use crate::service::logging::LevelHandle;
use crate::service::signals::{Order, Signals};
use crate::service::{data_dir, instance, notify, privileges, reload, runtime, status};
use crate::sink::daemon::DaemonSink;
use crate::sink::log::LogSink;
use crate::sink::mattermost::post_store::PostStore;
use crate::sink::rest::RestSink;

/// How long a stopping daemon waits for Mattermost to take the final states.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Test-only: while the file this names exists, the event loop wedges at its next heartbeat,
/// so a test can watch systemd's watchdog restart the daemon (docs/service.md).
pub const STALL_FILE_ENV: &str = "LIVESTATUS_TEST_STALL_FILE";

/// What `run` was started with; a reload reads the config again the same way.
pub struct Launch {
    pub follow: FollowArgs,
    pub data_dir: Option<PathBuf>,
}

pub fn run(launch: Launch) -> anyhow::Result<ExitCode> {
    let (mut config, warnings) = settings::load(&launch.follow)?;
    if let Some(dir) = &launch.data_dir {
        config.service.data_dir = dir.clone();
    }
    let level = settings::init_logging(&config.service.log_level);
    warnings.log();
    data_dir::prepare(&config.service.data_dir)?;
    // Before anything is posted: a second daemon on this data dir would post every box twice.
    let _instance = instance::acquire(&config.service.data_dir)?;
    let opts = settings::run_options(&config)?;
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let accounts = Arc::new(LiveAccounts::new(AccountDirectory::new(
        config.configured_accounts(credentials.as_deref())?,
    )));
    let store = PostStore::open(&config.service.data_dir)?;
    let mut rest_opts = settings::rest_options(&config);
    rest_opts.plugin = settings::plugin_options(&config, credentials.as_deref())?;
    let render = settings::render_options(&config, None);
    let (snapshot_tx, snapshot_rx) = pipeline::snapshot::channel();
    let hooks = Hooks {
        snapshot: Some(snapshot_tx),
        stall_file: std::env::var_os(STALL_FILE_ENV).map(PathBuf::from),
    };
    let api_launch = api_launch(&config, credentials.as_deref())?;
    let api_secret = config
        .api
        .read_secret(credentials.as_deref())?
        .map(Arc::new);
    let max_concurrent = config.api.max_concurrent;
    // TIER on every line of the daemon's (journald field), recorded once the tier is armed.
    let span = tracing::info_span!("daemon", tier = tracing::field::Empty);
    runtime::runtime()?.block_on(
        async move {
            let mut signals = Signals::install()?;
            let mut sink = DaemonSink {
                log: LogSink::new(render),
                rest: Some(RestSink::start(rest_opts, accounts.clone(), store)),
            };
            let (control, orders) = mpsc::channel(8);
            let (ready_tx, ready_rx) = oneshot::channel();
            let daemon_span = tracing::Span::current();
            let api_state = api::ApiState {
                snapshot: snapshot_rx,
                secret: api_secret,
                max_concurrent,
                breakers: sink.rest.as_ref().map(|rest| {
                    let read: api::BreakerReader = Arc::new(rest.server_reader());
                    read
                }),
                started: std::time::Instant::now(),
                uploads: Arc::default(),
                limits: Arc::default(),
            };
            let looped = pipeline::run_controlled(opts, &mut sink, orders, hooks, move |info| {
                daemon_span.record("tier", info.tier.name());
                on_ready(info);
                // After the capability drop in `on_ready`: the API's thread holds no more.
                api::start(api_launch, api_state);
                let _ = ready_tx.send(());
            });
            let mut life = Life {
                launch: &launch,
                config,
                credentials,
                accounts,
                level,
                control,
            };
            let result = {
                tokio::pin!(looped);
                tokio::select! {
                    result = &mut looped => result,
                    () = life.supervise(&mut signals, ready_rx) => looped.await,
                }
            };
            if let Some(rest) = sink.rest.take() {
                let report = rest.drain(DRAIN_DEADLINE).await;
                if report.timed_out || report.undelivered > 0 {
                    tracing::warn!(?report, "stopped before every box reached Mattermost");
                } else {
                    tracing::info!(?report, "every box delivered");
                }
            }
            result
        }
        .instrument(span),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The API's listen address and the uploader's target, from the config; a configured uploader
/// URL without a token is a config error.
fn api_launch(
    config: &Config,
    credentials: Option<&std::path::Path>,
) -> anyhow::Result<api::ApiLaunch> {
    let u = &config.uploader;
    let configured = match &u.url {
        Some(url) => match u.read_token(credentials, &crate::service::config::process_env)? {
            Some(token) => Some((url.clone(), token)),
            None => anyhow::bail!(
                "uploader.url is set but there is no token for it: set uploader.token_file, give \
                 the service a systemd credential named `{}` (LoadCredential=), or set {}",
                crate::service::config::UPLOADER_TOKEN_CREDENTIAL,
                crate::service::config::MONITOR_TOKEN_ENV
            ),
        },
        None => None,
    };
    Ok(api::ApiLaunch {
        listen: config.api.listen.clone(),
        uploader: Some(api::uploader::UploaderPlan::new(configured, u.interval())),
    })
}

fn on_ready(info: &ReadyInfo) {
    privileges::drop_after_arming(info.tier);
    tracing::info!(
        tier = info.tier.name(),
        gateways = info.gateways,
        open_boxes = info.open_boxes,
        ready_monotonic_usec = notify::monotonic_usec(),
        "ready"
    );
    if info.gateways == 0 {
        tracing::info!(looked_in = ?info.searched, "no OpenClaw gateway found yet; waiting for one");
    }
    notify::ready(&format!(
        "tier {}, {} gateway(s), {} open box(es)",
        info.tier.name(),
        info.gateways,
        info.open_boxes
    ));
}

/// What the daemon holds between start and stop.
struct Life<'a> {
    launch: &'a Launch,
    config: Config,
    credentials: Option<PathBuf>,
    accounts: Arc<LiveAccounts>,
    level: LevelHandle,
    control: mpsc::Sender<Control>,
}

impl Life<'_> {
    /// Answers signals and beats the heart until told to stop; returns once the loop has
    /// been asked to stop.
    async fn supervise(&mut self, signals: &mut Signals, ready: oneshot::Receiver<()>) {
        let rhythm = Rhythm::for_period(notify::watchdog_period());
        // Signals before READY wait in the queue; the heart starts once the loop runs.
        let mut ready = Some(ready);
        let mut ticker = tokio::time::interval(rhythm.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut missed_logged = false;
        loop {
            tokio::select! {
                (order, name) = signals.next() => match order {
                    Order::Stop => {
                        tracing::info!(signal = name, "stopping");
                        notify::stopping();
                        let _ = self.control.send(Control::Stop).await;
                        return;
                    }
                    Order::Reload => self.reload(name).await,
                },
                _ = ticker.tick(), if ready.is_none() => {
                    match heartbeat::beat(&self.control, rhythm.every).await {
                        Ok(pulse) => {
                            if rhythm.watchdog {
                                notify::watchdog();
                            }
                            notify::status(&status::line(&pulse));
                            missed_logged = false;
                        }
                        Err(missed) => {
                            if !missed_logged {
                                tracing::error!(%missed, watchdog = rhythm.watchdog, "heartbeat missed: the watchdog is not fed");
                                missed_logged = true;
                            }
                        }
                    }
                }
                started = async { ready.as_mut().expect("guarded").await }, if ready.is_some() => {
                    ready = None;
                    if started.is_err() {
                        // The loop ended before READY (its error is returned by `run`).
                        return;
                    }
                    ticker.reset();
                }
            }
        }
    }

    /// RELOADING=1, read and check the whole config, apply it or keep the old one, READY=1.
    async fn reload(&mut self, signal: &str) {
        notify::reloading();
        tracing::info!(signal, "reloading the config");
        match reload::check(
            &self.launch.follow,
            self.launch.data_dir.as_ref(),
            self.credentials.as_deref(),
        ) {
            Err(e) => {
                tracing::error!(
                    "reload refused, the running config stays: {}",
                    crate::cli::error_text::error_text(&e)
                );
            }
            Ok(checked) => {
                for warning in &checked.warnings {
                    tracing::warn!("{warning}");
                }
                for key in reload::restart_only_changes(&self.config, &checked.config) {
                    tracing::warn!(key, "changed on reload; takes effect at the next restart");
                }
                self.level.set(&checked.config.service.log_level);
                self.accounts.replace(checked.accounts);
                let (done, applied) = oneshot::channel();
                let order = Control::Reload(Reconfig {
                    session: checked.session,
                    render: checked.render,
                    done,
                });
                if self.control.send(order).await.is_ok() && applied.await.is_ok() {
                    self.config = checked.config;
                    tracing::info!("config reloaded; open boxes keep their posts");
                }
            }
        }
        match heartbeat::beat(&self.control, Duration::from_secs(5)).await {
            Ok(pulse) => notify::ready(&status::line(&pulse)),
            Err(_) => notify::ready("reloaded"),
        }
    }
}
