//! Reload (SIGHUP, SIGUSR1, `systemctl reload`): the whole config is read and checked again,
//! and only a config that passes every check is applied; otherwise the running one stays.
//!
//! Applied at once: `session.*`, `render.tool_labels_file`, `render.max_status_lines` (the
//! log), the Mattermost accounts (`url`, tokens, `accounts.*`, credentials, the gateways'
//! `openclaw.json`) and `service.log_level`. Every open box keeps its post, route, read offset
//! and sequence. The keys below shape what was set up at start (the armed watch tier, the data
//! dir, the Mattermost worker's pacing): a change is logged and takes effect at the next restart.

use std::path::PathBuf;

use crate::cli::FollowArgs;
use crate::cli::settings;
use crate::gateway::accounts::AccountDirectory;
use crate::render::RenderOptions;
use crate::service::config::Config;
use crate::session::tracker::SessionConfig;

/// A new config, checked whole, and what applying it takes.
pub struct Checked {
    pub config: Config,
    pub session: SessionConfig,
    pub render: RenderOptions,
    pub accounts: AccountDirectory,
    pub warnings: Vec<String>,
}

/// Reads and checks the config as `run` did at start (same `--config`, `--gateway`, `--tier`
/// and `--data-dir`). Any error names the file, line and key; nothing is applied then.
pub fn check(
    follow: &FollowArgs,
    data_dir: Option<&PathBuf>,
    credentials: Option<&std::path::Path>,
) -> anyhow::Result<Checked> {
    let (mut config, warnings) = settings::load(follow)?;
    if let Some(dir) = data_dir {
        config.service.data_dir = dir.clone();
    }
    let session = settings::session_config(&config)?;
    let render = settings::render_options(&config, None);
    let accounts = AccountDirectory::new(config.configured_accounts(credentials)?);
    Ok(Checked {
        config,
        session,
        render,
        accounts,
        warnings: warnings.into_vec(),
    })
}

/// The keys whose new value waits for a restart, among those that changed.
pub fn restart_only_changes(running: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |key: &'static str, differs: bool| {
        if differs {
            changed.push(key);
        }
    };
    check("watch.tier", running.watch.tier != new.watch.tier);
    check(
        "watch.gateways",
        running.watch.gateways != new.watch.gateways,
    );
    check(
        "watch.poll_interval_ms",
        running.watch.poll_interval_ms != new.watch.poll_interval_ms,
    );
    check(
        "watch.safety_net_interval_ms",
        running.watch.safety_net_interval_ms != new.watch.safety_net_interval_ms,
    );
    check(
        "service.data_dir",
        running.service.data_dir != new.service.data_dir,
    );
    check(
        "render.max_message_chars",
        running.render.max_message_chars != new.render.max_message_chars,
    );
    let mm = |c: &Config| {
        c.mattermost
            .clone()
            .unwrap_or_else(|| crate::service::config::MattermostConfig::new(""))
    };
    let (old, fresh) = (mm(running), mm(new));
    check(
        "mattermost.throttle_ms",
        old.throttle_ms != fresh.throttle_ms,
    );
    check(
        "mattermost.max_active_sessions",
        old.max_active_sessions != fresh.max_active_sessions,
    );
    check(
        "mattermost.default_channel",
        old.default_channel != fresh.default_channel,
    );
    // The sink's transports are set up at start (the secret is read then, too).
    let plugin_keys = |m: &crate::service::config::MattermostConfig| {
        m.accounts
            .iter()
            .map(|(id, a)| {
                (
                    id.clone(),
                    a.mode,
                    a.plugin_url.clone(),
                    a.plugin_secret.clone(),
                    a.plugin_secret_file.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    check(
        "mattermost.mode / plugin_url / plugin_secret / plugin_secret_file",
        running.plugin != new.plugin || plugin_keys(&old) != plugin_keys(&fresh),
    );
    check(
        "render.max_status_lines (in Mattermost posts; the log follows at once)",
        running.render.max_status_lines != new.render.max_status_lines,
    );
    check(
        "api (listen, secret, max_concurrent)",
        running.api != new.api,
    );
    check("uploader", running.uploader != new.uploader);
    changed
}
