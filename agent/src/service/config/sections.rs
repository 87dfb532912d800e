//! The typed sections of [`Config`](super::Config) and their defaults. A key that feeds a
//! stage takes its default from the stage's options type, so the two cannot drift apart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{DEFAULT_ACCOUNT, MattermostMode, Secret, TierChoice};
use crate::render::RenderOptions;
use crate::session::tracker::SessionConfig;
use crate::sink::rest::RestOptions;
use crate::watch::WatchOptions;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchConfig {
    pub tier: TierChoice,
    /// OpenClaw state dirs, absolute and normalized. Empty: discover every home's `~/.openclaw*`.
    pub gateways: Vec<PathBuf>,
    pub poll_interval_ms: u64,
    pub safety_net_interval_ms: u64,
    /// `watch.max_host_cost` in hundredths (105 = ×1.05); see `max_host_cost()`.
    pub max_host_cost_centi: u64,
}

impl WatchConfig {
    /// How much slower `auto` lets a kernel tier make other processes' system calls.
    pub fn max_host_cost(&self) -> f64 {
        self.max_host_cost_centi as f64 / 100.0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfigValues {
    pub idle_timeout_s: u64,
    pub max_session_duration_s: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderConfig {
    pub max_status_lines: usize,
    pub max_message_chars: usize,
    /// JSON overrides of the tool labels; read by the render stage.
    pub tool_labels_file: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MattermostConfig {
    /// Base URL of the account `"default"`, without trailing slash. Empty when only named
    /// `accounts` are configured (then there is no configured `"default"`).
    pub url: String,
    /// A literal token (file or `MM_TOKEN`); wins over `token_file`.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    /// Channel id for sessions not bound to Mattermost; `None`: such sessions are not posted.
    pub default_channel: Option<String>,
    pub throttle_ms: u64,
    pub max_active_sessions: usize,
    /// `[mattermost.accounts.<id>]`: servers and bots for the gateways' other `accountId`s; they
    /// win over a gateway's own account of the same id.
    pub accounts: BTreeMap<String, MattermostAccountConfig>,
}

/// One `[mattermost.accounts.<id>]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MattermostAccountConfig {
    /// Base URL without trailing slash; `None`: the top-level `mattermost.url`.
    pub url: Option<String>,
    /// A literal token; wins over `token_file`.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    /// This account's server's plugin; `None` fields: the top-level `mattermost.mode` /
    /// `plugin_url`, and no secret (a secret is never inherited from another server).
    pub mode: Option<MattermostMode>,
    pub plugin_url: Option<String>,
    pub plugin_secret: Option<Secret>,
    pub plugin_secret_file: Option<PathBuf>,
}

impl MattermostAccountConfig {
    /// Whether the table says anything about the plugin.
    pub fn sets_plugin(&self) -> bool {
        self.mode.is_some()
            || self.plugin_url.is_some()
            || self.plugin_secret.is_some()
            || self.plugin_secret_file.is_some()
    }
}

/// The Mattermost plugin `com.openclaw.livestatus` (docs/plugin.md): the same for every server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PluginConfig {
    pub mode: MattermostMode,
    /// The plugin's base, e.g. `https://chat.example.com/plugins/com.openclaw.livestatus`;
    /// `None`: `<server URL>/plugins/com.openclaw.livestatus` for each server.
    pub url: Option<String>,
    /// A literal shared secret; wins over `secret_file`.
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub data_dir: PathBuf,
    /// A level name or a tracing `EnvFilter` directive.
    pub log_level: String,
}

impl Default for WatchConfig {
    fn default() -> Self {
        let watch = WatchOptions::default();
        WatchConfig {
            tier: TierChoice::Auto,
            gateways: Vec::new(),
            poll_interval_ms: millis(watch.poll_interval),
            safety_net_interval_ms: millis(watch.safety_net_interval),
            max_host_cost_centi: (watch.max_host_cost * 100.0).round() as u64,
        }
    }
}

impl Default for SessionConfigValues {
    fn default() -> Self {
        let session = SessionConfig::default();
        let seconds = |ms: i64| u64::try_from(ms / 1000).unwrap_or(0);
        SessionConfigValues {
            idle_timeout_s: seconds(session.idle_timeout_ms),
            max_session_duration_s: seconds(session.max_duration_ms),
        }
    }
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            max_status_lines: RenderOptions::default().max_lines,
            // Mattermost's default MaxPostSize, as the sink has it.
            max_message_chars: RestOptions::default().max_message_chars,
            tool_labels_file: None,
        }
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            data_dir: PathBuf::from("/var/lib/openclaw-livestatus"),
            log_level: "info".to_owned(),
        }
    }
}

impl WatchConfig {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn safety_net_interval(&self) -> Duration {
        Duration::from_millis(self.safety_net_interval_ms)
    }
}

impl SessionConfigValues {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s)
    }

    pub fn max_session_duration(&self) -> Duration {
        Duration::from_secs(self.max_session_duration_s)
    }
}

impl MattermostConfig {
    /// A server with every other setting at its default (for a `--mattermost-url` flag).
    pub fn new(url: impl Into<String>) -> Self {
        let rest = RestOptions::default();
        MattermostConfig {
            url: url.into(),
            token: None,
            token_file: None,
            default_channel: None,
            throttle_ms: millis(rest.throttle),
            max_active_sessions: rest.max_active_boxes,
            accounts: BTreeMap::new(),
        }
    }

    /// Every configured account id: `"default"` when the top level has a URL, then the named
    /// ones.
    pub fn account_ids(&self) -> Vec<String> {
        let top = (!self.url.is_empty()).then(|| DEFAULT_ACCOUNT.to_owned());
        top.into_iter()
            .chain(self.accounts.keys().cloned())
            .collect()
    }

    /// The base URL of a configured account: its own, else the top-level one it inherits.
    pub fn account_url(&self, id: &str) -> Option<&str> {
        let top = Some(self.url.as_str()).filter(|u| !u.is_empty());
        if id == DEFAULT_ACCOUNT && top.is_some() {
            return top;
        }
        let account = self.accounts.get(id)?;
        account.url.as_deref().or(top)
    }

    pub fn throttle(&self) -> Duration {
        Duration::from_millis(self.throttle_ms)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
