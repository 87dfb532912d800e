//! From config file + environment + flags to the options of each stage, and logging setup.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::pipeline::RunOptions;
use crate::render::RenderOptions;
use crate::service::config::{self, Config, ConfigSource};
use crate::session::labels::ToolLabels;
use crate::session::tracker::SessionConfig;
use crate::sink::rest::RestOptions;
use crate::watch::{Scope, WatchOptions};

use super::{CheckConfigArgs, FollowArgs};

/// What loading the config found worth the operator's attention. Logging is set up from the
/// config, so these exist before it does: `log` them once it is (a `tracing` event without a
/// subscriber is dropped without a trace).
#[must_use = "log the config's warnings once logging is set up"]
#[derive(Debug, Default)]
pub struct ConfigWarnings(Vec<String>);

impl ConfigWarnings {
    pub fn log(self) {
        for warning in self.0 {
            tracing::warn!("{warning}");
        }
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

/// Loads the config the way every command does: file, then environment, then flags.
pub fn load(follow: &FollowArgs) -> anyhow::Result<(Config, ConfigWarnings)> {
    let source = match &follow.config {
        Some(path) => ConfigSource::Explicit(path),
        None => ConfigSource::Default,
    };
    let loaded = config::load(source, &config::process_env)?;
    let warnings = ConfigWarnings(loaded.warnings);
    let mut config = loaded.config;
    if !follow.gateways.is_empty() {
        config.watch.gateways = follow
            .gateways
            .iter()
            .map(|g| std::path::absolute(g).unwrap_or_else(|_| g.clone()))
            .collect();
    }
    if let Some(tier) = follow.tier {
        config.watch.tier = tier;
    }
    config.validate()?;
    Ok((config, warnings))
}

pub fn scope(config: &Config) -> Scope {
    if config.watch.gateways.is_empty() {
        Scope::Discover {
            fs_root: "/".into(),
        }
    } else {
        Scope::Gateways(config.watch.gateways.clone())
    }
}

pub fn labels(file: Option<&Path>) -> anyhow::Result<Arc<ToolLabels>> {
    Ok(Arc::new(match file {
        Some(path) => ToolLabels::from_file(path)?,
        None => ToolLabels::builtin(),
    }))
}

pub fn session_config(config: &Config) -> anyhow::Result<SessionConfig> {
    Ok(SessionConfig {
        idle_timeout_ms: config.session.idle_timeout_s as i64 * 1000,
        max_duration_ms: config.session.max_session_duration_s as i64 * 1000,
        labels: labels(config.render.tool_labels_file.as_deref())?,
        ..SessionConfig::default()
    })
}

pub fn render_options(config: &Config, max_lines: Option<usize>) -> RenderOptions {
    RenderOptions {
        max_lines: max_lines.unwrap_or(config.render.max_status_lines),
        ..RenderOptions::default()
    }
}

pub fn rest_options(config: &Config) -> RestOptions {
    let mut opts = RestOptions {
        max_message_chars: config.render.max_message_chars,
        render: render_options(config, None),
        ..RestOptions::default()
    };
    if let Some(mm) = &config.mattermost {
        opts.throttle = Duration::from_millis(mm.throttle_ms);
        opts.max_active_boxes = mm.max_active_sessions;
        opts.default_channel = mm.default_channel.clone();
    }
    opts
}

/// How boxes reach the plugin; an error when `mattermost.mode = "plugin"` has no secret.
pub fn plugin_options(
    config: &Config,
    credentials_dir: Option<&std::path::Path>,
) -> anyhow::Result<crate::sink::mattermost::PluginOptions> {
    use crate::service::config::{ACCOUNT_PLUGIN_SECRET_PREFIX, read_plugin_secret};
    use crate::sink::mattermost::{PluginOptions, ServerPlugin};
    let p = &config.plugin;
    let mut opts = PluginOptions {
        mode: p.mode,
        url: p.url.clone(),
        secret: p.read_secret(credentials_dir)?,
        ..Default::default()
    };
    let Some(m) = &config.mattermost else {
        return Ok(opts);
    };
    if !m.url.is_empty() && p.url.is_none() {
        // The top-level secret is the top-level server's plugin's: it is never sent to another
        // server (a named account's server has its own, or none).
        opts.servers.insert(
            m.url.clone(),
            ServerPlugin {
                mode: p.mode,
                url: None,
                secret: opts.secret.take(),
            },
        );
    }
    for (id, a) in &m.accounts {
        let Some(url) = m.account_url(id).filter(|_| a.sets_plugin()) else {
            continue;
        };
        let mode = a.mode.unwrap_or(p.mode);
        let secret = read_plugin_secret(
            mode,
            &format!("mattermost.accounts.{id}"),
            a.plugin_secret.as_ref(),
            a.plugin_secret_file.as_deref(),
            &format!("{ACCOUNT_PLUGIN_SECRET_PREFIX}{id}"),
            credentials_dir,
        )?;
        opts.servers.insert(
            url.to_owned(),
            ServerPlugin {
                mode,
                url: a.plugin_url.clone(),
                secret,
            },
        );
    }
    Ok(opts)
}

pub fn run_options(config: &Config) -> anyhow::Result<RunOptions> {
    Ok(RunOptions {
        scope: scope(config),
        tier: config.watch.tier,
        watch: WatchOptions {
            poll_interval: Duration::from_millis(config.watch.poll_interval_ms),
            safety_net_interval: Duration::from_millis(config.watch.safety_net_interval_ms),
            max_host_cost: config.watch.max_host_cost(),
        },
        session: session_config(config)?,
    })
}

/// Logs go to journald when systemd started us, else to stderr (see `service::logging`).
pub fn init_logging(level: &str) -> crate::service::logging::LevelHandle {
    crate::service::logging::init(level)
}

pub fn check_config(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let source = match &args.file {
        Some(path) => ConfigSource::Explicit(path),
        None => ConfigSource::Default,
    };
    let loaded = config::load(source, &config::process_env)?;
    match &loaded.file {
        Some(file) => eprintln!("config: {} is valid", file.display()),
        None => eprintln!(
            "config: no file at {} — built-in defaults and environment apply",
            config::DEFAULT_CONFIG_PATH
        ),
    }
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(path) = &loaded.config.render.tool_labels_file {
        ToolLabels::from_file(path).with_context(|| "render.tool_labels_file")?;
    }
    // Tokens are read as `run` reads them, so a missing or unreadable token file is found here
    // and not at the daemon's start.
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    loaded.config.configured_accounts(credentials.as_deref())?;
    print!("{}", loaded.config.to_toml_redacted());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod plugin_options_tests {
    use super::*;
    use crate::service::config::{
        MattermostAccountConfig, MattermostConfig, MattermostMode, PluginConfig, Secret,
    };

    #[test]
    fn a_secret_goes_only_to_the_server_it_was_configured_for() {
        let mut m = MattermostConfig::new("https://chat.example.com");
        m.accounts.insert(
            "alerts".into(),
            MattermostAccountConfig {
                url: Some("https://alerts.example.com".into()),
                mode: Some(MattermostMode::Plugin),
                plugin_secret: Some(Secret::new("alerts-plugin-secret")),
                ..Default::default()
            },
        );
        m.accounts.insert(
            "ops".into(),
            MattermostAccountConfig {
                url: Some("https://ops.example.com".into()),
                ..Default::default()
            },
        );
        let config = Config {
            mattermost: Some(m),
            plugin: PluginConfig {
                mode: MattermostMode::Auto,
                secret: Some(Secret::new("top-plugin-secret")),
                ..Default::default()
            },
            ..Config::default()
        };
        let opts = plugin_options(&config, None).expect("options");
        let top = opts.for_server("https://chat.example.com");
        assert_eq!(top.mode, MattermostMode::Auto);
        assert_eq!(
            top.secret.as_ref().map(Secret::expose),
            Some("top-plugin-secret")
        );
        let alerts = opts.for_server("https://alerts.example.com");
        assert_eq!(alerts.mode, MattermostMode::Plugin);
        assert_eq!(
            alerts.secret.as_ref().map(Secret::expose),
            Some("alerts-plugin-secret")
        );
        // Another server never gets the top-level server's secret.
        let ops = opts.for_server("https://ops.example.com");
        assert_eq!(ops.mode, MattermostMode::Auto);
        assert!(ops.secret.is_none());
    }

    #[test]
    fn an_account_in_plugin_mode_without_a_secret_names_its_own_keys() {
        let mut m = MattermostConfig::new("https://chat.example.com");
        m.accounts.insert(
            "alerts".into(),
            MattermostAccountConfig {
                url: Some("https://alerts.example.com".into()),
                mode: Some(MattermostMode::Plugin),
                ..Default::default()
            },
        );
        let config = Config {
            mattermost: Some(m),
            ..Config::default()
        };
        let e = plugin_options(&config, None).expect_err("no secret for alerts");
        let shown = format!("{e:#}");
        assert!(
            shown.contains("mattermost.accounts.alerts.plugin_secret_file")
                && shown.contains("plugin-secret-alerts"),
            "{shown}"
        );
    }
}
