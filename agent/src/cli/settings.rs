//! From config file + environment + flags to the options of each stage, and logging setup.

use std::path::Path;
use std::sync::Arc;

use crate::pipeline::RunOptions;
use crate::render::RenderOptions;
use crate::service::config::{self, Config, ConfigSource};
use crate::session::labels::ToolLabels;
use crate::session::tracker::SessionConfig;
use crate::sink::rest::RestOptions;
use crate::watch::{Scope, WatchOptions};

use super::FollowArgs;

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

/// What the config decides of each stage's options; every other field keeps the stage's own
/// default, which is also the key's default (see `service::config::sections`). Pure: the files
/// the config names (tool labels, secrets) are read by the functions below.
pub struct StageOptions {
    pub watch: WatchOptions,
    pub session: SessionConfig,
    pub render: RenderOptions,
    pub rest: RestOptions,
}

pub fn stage_options(config: &Config) -> StageOptions {
    let render = RenderOptions {
        max_lines: config.render.max_status_lines,
        ..RenderOptions::default()
    };
    let mut rest = RestOptions {
        max_message_chars: config.render.max_message_chars,
        render: render.clone(),
        ..RestOptions::default()
    };
    if let Some(mm) = &config.mattermost {
        rest.throttle = mm.throttle();
        rest.max_active_boxes = mm.max_active_sessions;
        rest.default_channel = mm.default_channel.clone();
    }
    StageOptions {
        watch: WatchOptions {
            poll_interval: config.watch.poll_interval(),
            safety_net_interval: config.watch.safety_net_interval(),
            max_host_cost: config.watch.max_host_cost(),
        },
        session: SessionConfig {
            idle_timeout_ms: config.session.idle_timeout_s as i64 * 1000,
            max_duration_ms: config.session.max_session_duration_s as i64 * 1000,
            ..SessionConfig::default()
        },
        render,
        rest,
    }
}

pub fn session_config(config: &Config) -> anyhow::Result<SessionConfig> {
    Ok(SessionConfig {
        labels: labels(config.render.tool_labels_file.as_deref())?,
        ..stage_options(config).session
    })
}

pub fn render_options(config: &Config, max_lines: Option<usize>) -> RenderOptions {
    let mut render = stage_options(config).render;
    render.max_lines = max_lines.unwrap_or(render.max_lines);
    render
}

pub fn rest_options(config: &Config) -> RestOptions {
    stage_options(config).rest
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
        watch: stage_options(config).watch,
        session: session_config(config)?,
    })
}

/// Logs go to journald when systemd started us, else to stderr (see `service::logging`).
pub fn init_logging(level: &str) -> crate::service::logging::LevelHandle {
    crate::service::logging::init(level)
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

#[cfg(test)]
mod stage_options_tests {
    use super::*;
    use crate::service::config::MattermostConfig;

    /// A key's default lives in the stage's options: the default config changes nothing.
    #[test]
    fn the_default_config_gives_every_stage_its_own_defaults() {
        let config = Config {
            mattermost: Some(MattermostConfig::new("https://chat.example.com")),
            ..Config::default()
        };
        let opts = stage_options(&config);
        assert_eq!(opts.watch, WatchOptions::default());
        let session = SessionConfig::default();
        assert_eq!(opts.session.idle_timeout_ms, session.idle_timeout_ms);
        assert_eq!(opts.session.max_duration_ms, session.max_duration_ms);
        assert_eq!(opts.render, RenderOptions::default());
        let rest = RestOptions::default();
        assert_eq!(opts.rest.throttle, rest.throttle);
        assert_eq!(opts.rest.max_active_boxes, rest.max_active_boxes);
        assert_eq!(opts.rest.max_message_chars, rest.max_message_chars);
        assert_eq!(opts.rest.render, rest.render);
    }
}
