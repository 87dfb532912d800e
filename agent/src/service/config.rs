//! The daemon's configuration: one validated [`Config`] from, in rising precedence, built-in
//! defaults, the TOML file, and the environment variables of the Node.js "Live Status v4" daemon.
//! Command-line flags come last: the CLI writes them into the returned `Config` and calls
//! [`Config::validate`]. Every key and variable is documented in `docs/config.md`.
//!
//! Errors point at the exact place to fix (`file:line:column`, key path, variable name) and never
//! contain a token; tokens themselves are read only by [`MattermostConfig::read_token`] and
//! [`MattermostConfig::account_token`].

mod api;
#[cfg(test)]
mod api_tests;
mod env;
mod error;
mod file;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::gateway::account::{Account, ConfiguredAccount};
use crate::guarded::{self, Owner, Rules};
use crate::watch::TierKind;

pub use api::{
    API_SECRET_CREDENTIAL, ApiConfig, DEFAULT_LISTEN, Listen, MONITOR_TOKEN_ENV,
    UPLOADER_TOKEN_CREDENTIAL, UploaderConfig,
};
pub use env::LEGACY_ENV;
pub use error::{ConfigError, Origin, Position};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/openclaw-livestatus/config.toml";

/// The systemd credential (`LoadCredential=mattermost-token:…`) holding the bot token.
pub const TOKEN_CREDENTIAL: &str = "mattermost-token";

/// The systemd credential of the named account `<id>` is `mattermost-token-<id>`.
pub const ACCOUNT_CREDENTIAL_PREFIX: &str = "mattermost-token-";

/// The systemd credential (`LoadCredential=plugin-secret:…`) holding the plugin's shared secret.
pub const PLUGIN_SECRET_CREDENTIAL: &str = "plugin-secret";

/// The plugin secret of the named account `<id>`'s server is the credential `plugin-secret-<id>`.
pub const ACCOUNT_PLUGIN_SECRET_PREFIX: &str = "plugin-secret-";

/// Where a configured account's token came from, for diagnostics.
pub const TOKEN_SOURCE_LITERAL: &str = "config token";
pub const TOKEN_SOURCE_FILE: &str = "config token_file";
pub const TOKEN_SOURCE_CREDENTIAL: &str = "systemd credential";

/// The top-level `[mattermost]` server is this account.
pub use crate::gateway::account::DEFAULT_ACCOUNT;

pub use crate::secret::{REDACTED, Secret};

/// A config file is a few KiB; anything near this is the wrong file (or `/dev/zero`).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// Mattermost tokens are 26 characters; the margin is for whitespace and future formats.
const MAX_TOKEN_BYTES: u64 = 4096;

/// Which watch tier to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TierChoice {
    /// The fastest tier this host allows: ebpf, fanotify, inotify, poll, in that order.
    #[default]
    Auto,
    /// This tier and no other.
    Only(TierKind),
}

impl TierChoice {
    pub const ALL: [TierChoice; 5] = [
        TierChoice::Auto,
        TierChoice::Only(TierKind::Ebpf),
        TierChoice::Only(TierKind::Fanotify),
        TierChoice::Only(TierKind::Inotify),
        TierChoice::Only(TierKind::Poll),
    ];
    /// The accepted spellings, e.g. for clap's `PossibleValuesParser`.
    pub const NAMES: [&'static str; 5] = ["auto", "ebpf", "fanotify", "inotify", "poll"];

    pub fn as_str(self) -> &'static str {
        match self {
            TierChoice::Auto => "auto",
            TierChoice::Only(kind) => kind.name(),
        }
    }
}

impl fmt::Display for TierChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TierChoice {
    type Err = ParseTierError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        TierChoice::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseTierError {
                value: s.to_owned(),
            })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown watch tier {value:?}: expected {}", self.expected())]
pub struct ParseTierError {
    value: String,
}

impl ParseTierError {
    pub fn expected(&self) -> String {
        format!("one of {}", TierChoice::NAMES.join(", "))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub watch: WatchConfig,
    pub session: SessionConfigValues,
    pub render: RenderConfig,
    /// `None`: boxes go to the terminal only.
    pub mattermost: Option<MattermostConfig>,
    /// `mattermost.mode` and `mattermost.plugin_*`: kept apart from `mattermost`, which is
    /// `None` when every account comes from the gateways' own `openclaw.json`.
    pub plugin: PluginConfig,
    pub service: ServiceConfig,
    pub api: ApiConfig,
    pub uploader: UploaderConfig,
}

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

/// `mattermost.mode`: how boxes reach a Mattermost server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MattermostMode {
    /// The plugin when its health route answers (checked at start, then every few minutes), else REST.
    #[default]
    Auto,
    /// Always the plugin; REST only while it is unreachable or failing.
    Plugin,
    /// Never the plugin.
    Rest,
}

impl MattermostMode {
    pub const NAMES: [&'static str; 3] = ["auto", "plugin", "rest"];

    pub fn as_str(self) -> &'static str {
        match self {
            MattermostMode::Auto => "auto",
            MattermostMode::Plugin => "plugin",
            MattermostMode::Rest => "rest",
        }
    }

    pub fn parse(raw: &str) -> Option<MattermostMode> {
        let wanted = raw.trim();
        [
            MattermostMode::Auto,
            MattermostMode::Plugin,
            MattermostMode::Rest,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(wanted))
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

impl PluginConfig {
    /// The shared secret: the literal, else `secret_file`, else the systemd credential
    /// `plugin-secret`; `Ok(None)` when none is set. With `mode = "plugin"` a missing secret is
    /// an error, since the plugin refuses every write without it.
    pub fn read_secret(
        &self,
        credentials_dir: Option<&Path>,
    ) -> Result<Option<Secret>, ConfigError> {
        read_plugin_secret(
            self.mode,
            "mattermost",
            self.secret.as_ref(),
            self.secret_file.as_deref(),
            PLUGIN_SECRET_CREDENTIAL,
            credentials_dir,
        )
    }
}

/// `<table>.plugin_secret`, else `<table>.plugin_secret_file`, else the systemd credential
/// `credential`; `Ok(None)` when none is set, an error when `mode` is `plugin` then.
pub fn read_plugin_secret(
    mode: MattermostMode,
    table: &str,
    literal: Option<&Secret>,
    file: Option<&Path>,
    credential: &str,
    credentials_dir: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    let secret = if let Some(secret) = literal {
        Some(rules::token(
            &format!("{table}.plugin_secret"),
            secret.expose(),
        )?)
    } else if let Some(path) = file {
        Some(read_token_file(path)?)
    } else if let Some(dir) = credentials_dir {
        match read_token_file(&dir.join(credential)) {
            Err(ConfigError::TokenRead { why, .. }) if why.is_not_found() => None,
            other => Some(other?),
        }
    } else {
        None
    };
    if secret.is_none() && mode == MattermostMode::Plugin {
        return Err(ConfigError::Missing {
            origin: Origin::Effective,
            message: format!(
                "{table}.mode = \"plugin\" but no plugin secret is set: copy the SharedSecret \
                 from System Console > Plugins > OpenClaw Live Status into \
                 {table}.plugin_secret_file (mode 600){}, or the `{credential}` systemd \
                 credential{}; or set {table}.mode = \"rest\"",
                if table == "mattermost" {
                    ", PLUGIN_SECRET"
                } else {
                    ""
                },
                credentials_dir
                    .map(|d| format!(" (looked in {})", d.display()))
                    .unwrap_or_default()
            ),
        });
    }
    Ok(secret)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub data_dir: PathBuf,
    /// A level name or a tracing `EnvFilter` directive.
    pub log_level: String,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            tier: TierChoice::Auto,
            gateways: Vec::new(),
            poll_interval_ms: 1000,
            safety_net_interval_ms: 10_000,
            max_host_cost_centi: (crate::watch::DEFAULT_MAX_HOST_COST * 100.0).round() as u64,
        }
    }
}

impl Default for SessionConfigValues {
    fn default() -> Self {
        SessionConfigValues {
            idle_timeout_s: 900,
            max_session_duration_s: 7200,
        }
    }
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig {
            max_status_lines: 20,
            // Mattermost's default MaxPostSize.
            max_message_chars: 16_383,
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
        MattermostConfig {
            url: url.into(),
            token: None,
            token_file: None,
            default_channel: None,
            throttle_ms: 500,
            max_active_sessions: 20,
            accounts: BTreeMap::new(),
        }
    }

    /// Every account this section names, its token read now; `credentials_dir` is
    /// `$CREDENTIALS_DIRECTORY`. A configured account without a readable token is an error: a
    /// misconfigured daemon should not start.
    pub fn configured_accounts(
        &self,
        credentials_dir: Option<&Path>,
    ) -> Result<Vec<ConfiguredAccount>, ConfigError> {
        let mut out = Vec::new();
        for id in self.account_ids() {
            let Some(base_url) = self.account_url(&id) else {
                continue;
            };
            let (token, source) = self.account_token(&id, credentials_dir)?;
            let account = Account {
                base_url: base_url.to_owned(),
                token,
            };
            out.push(ConfiguredAccount {
                id,
                account,
                source,
            });
        }
        Ok(out)
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

    /// The token of a configured account and where it came from. The top-level account reads as
    /// [`MattermostConfig::read_token`]; a named one takes its `token`, else its `token_file`, else
    /// the systemd credential `mattermost-token-<id>`. A token is never inherited: sending one
    /// server's bot token to another server would leak it.
    pub fn account_token(
        &self,
        id: &str,
        credentials_dir: Option<&Path>,
    ) -> Result<(Secret, &'static str), ConfigError> {
        if id == DEFAULT_ACCOUNT && !self.url.is_empty() {
            let source = if self.token.is_some() {
                TOKEN_SOURCE_LITERAL
            } else if self.token_file.is_some() {
                TOKEN_SOURCE_FILE
            } else {
                TOKEN_SOURCE_CREDENTIAL
            };
            return self.read_token(credentials_dir).map(|t| (t, source));
        }
        let no_token = || ConfigError::NoAccountToken {
            account: id.to_owned(),
            credentials_dir: credentials_dir.map(Path::to_path_buf),
        };
        let account = self.accounts.get(id).ok_or_else(no_token)?;
        if let Some(token) = &account.token {
            let key = format!("mattermost.accounts.{id}.token");
            return rules::token(&key, token.expose()).map(|t| (t, TOKEN_SOURCE_LITERAL));
        }
        if let Some(path) = &account.token_file {
            return read_token_file(path).map(|t| (t, TOKEN_SOURCE_FILE));
        }
        let Some(dir) = credentials_dir else {
            return Err(no_token());
        };
        let path = dir.join(format!("{ACCOUNT_CREDENTIAL_PREFIX}{id}"));
        match read_token_file(&path) {
            Err(ConfigError::TokenRead { why, .. }) if why.is_not_found() => Err(no_token()),
            other => other.map(|t| (t, TOKEN_SOURCE_CREDENTIAL)),
        }
    }

    pub fn throttle(&self) -> Duration {
        Duration::from_millis(self.throttle_ms)
    }

    /// The bot token: the literal `token`, else the contents of `token_file`, else the systemd
    /// credential `$CREDENTIALS_DIRECTORY/mattermost-token`. Surrounding whitespace (the trailing
    /// newline of `echo tok > file`) is trimmed; an empty token is an error. No message ever
    /// contains the token.
    pub fn read_token(&self, credentials_dir: Option<&Path>) -> Result<Secret, ConfigError> {
        if let Some(token) = &self.token {
            return rules::token("mattermost.token", token.expose());
        }
        if let Some(path) = &self.token_file {
            // Named explicitly, so a missing file is an error rather than a fall-through.
            return read_token_file(path);
        }
        if let Some(dir) = credentials_dir {
            let path = dir.join(TOKEN_CREDENTIAL);
            return match read_token_file(&path) {
                Err(ConfigError::TokenRead { why, .. }) if why.is_not_found() => {
                    Err(ConfigError::NoToken {
                        credentials_dir: Some(dir.to_path_buf()),
                    })
                }
                other => other,
            };
        }
        Err(ConfigError::NoToken {
            credentials_dir: None,
        })
    }
}

/// A token file or systemd credential: an admin's file, read through the guarded reader (no
/// symlink, FIFO or device; one link; owned by the daemon's user or root; at most 4 KiB).
fn read_token_file(path: &Path) -> Result<Secret, ConfigError> {
    let bytes = guarded::read(path, &Rules::admin(MAX_TOKEN_BYTES)).map_err(|why| {
        ConfigError::TokenRead {
            path: path.to_path_buf(),
            why,
        }
    })?;
    let from = path.display().to_string();
    // The bytes are the secret: the error must not echo them, unlike String's own error.
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::BadToken {
        from: from.clone(),
        problem: "is not UTF-8 text".to_owned(),
    })?;
    rules::token(&from, &text)
}

impl Config {
    /// The accounts `[mattermost]` names, their tokens read now (none without the section).
    pub fn configured_accounts(
        &self,
        credentials_dir: Option<&Path>,
    ) -> Result<Vec<ConfiguredAccount>, ConfigError> {
        match &self.mattermost {
            Some(m) => m.configured_accounts(credentials_dir),
            None => Ok(Vec::new()),
        }
    }

    /// Re-checks every value after the CLI changed fields, with the same rules as the file and
    /// the environment, and normalizes paths and the URL the same way.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let at = &Origin::Effective;
        let w = &mut self.watch;
        for gateway in &mut w.gateways {
            *gateway = rules::gateway(at, gateway)?;
        }
        rules::POLL_INTERVAL_MS.check(at, w.poll_interval_ms.into())?;
        rules::SAFETY_NET_INTERVAL_MS.check(at, w.safety_net_interval_ms.into())?;
        rules::max_host_cost(at, w.max_host_cost())?;
        rules::IDLE_TIMEOUT_S.check(at, self.session.idle_timeout_s.into())?;
        rules::MAX_SESSION_DURATION_S.check(at, self.session.max_session_duration_s.into())?;
        let r = &mut self.render;
        rules::MAX_STATUS_LINES.check(at, r.max_status_lines as i128)?;
        rules::MAX_MESSAGE_CHARS.check(at, r.max_message_chars as i128)?;
        if let Some(p) = &mut r.tool_labels_file {
            *p = rules::absolute_path(at, "render.tool_labels_file", p)?;
        }
        if let Some(m) = &mut self.mattermost {
            // Only named accounts: no top-level server, nothing to check there.
            if !m.url.is_empty() || m.accounts.is_empty() {
                m.url = rules::url(at, "mattermost.url", &m.url)?;
            }
            for (id, account) in &mut m.accounts {
                let table = format!("mattermost.accounts.{id}");
                rules::account_id(at, id)?;
                if let Some(url) = &mut account.url {
                    *url = rules::url(at, &format!("{table}.url"), url)?;
                }
                if let Some(token) = &account.token {
                    rules::token(&format!("{table}.token"), token.expose())?;
                }
                if let Some(p) = &mut account.token_file {
                    *p = rules::absolute_path(at, &format!("{table}.token_file"), p)?;
                }
                if let Some(url) = &mut account.plugin_url {
                    *url = rules::url(at, &format!("{table}.plugin_url"), url)?;
                }
                if let Some(secret) = &account.plugin_secret {
                    rules::token(&format!("{table}.plugin_secret"), secret.expose())?;
                }
                if let Some(p) = &mut account.plugin_secret_file {
                    *p = rules::absolute_path(at, &format!("{table}.plugin_secret_file"), p)?;
                }
            }
            rules::accounts_complete(at, &m.url, &m.accounts)?;
            if let Some(token) = &m.token {
                rules::token("mattermost.token", token.expose())?;
            }
            if let Some(p) = &mut m.token_file {
                *p = rules::absolute_path(at, "mattermost.token_file", p)?;
            }
            if let Some(id) = &mut m.default_channel {
                *id = rules::channel_id(at, "mattermost.default_channel", id)?;
            }
            rules::THROTTLE_MS.check(at, m.throttle_ms.into())?;
            rules::MAX_ACTIVE_SESSIONS.check(at, m.max_active_sessions as i128)?;
        }
        let p = &mut self.plugin;
        if let Some(url) = &mut p.url {
            *url = rules::url(at, "mattermost.plugin_url", url)?;
        }
        if let Some(secret) = &p.secret {
            rules::token("mattermost.plugin_secret", secret.expose())?;
        }
        if let Some(f) = &mut p.secret_file {
            *f = rules::absolute_path(at, "mattermost.plugin_secret_file", f)?;
        }
        let s = &mut self.service;
        s.data_dir = rules::absolute_path(at, "service.data_dir", &s.data_dir)?;
        s.log_level = rules::log_level(at, "service.log_level", &s.log_level)?;
        let a = &mut self.api;
        if let Listen::Unix(path) = &a.listen {
            a.listen = api::listen(at, &format!("unix:{}", path.display()))?;
        }
        if let Some(secret) = &a.secret {
            api::secret("api.secret", secret.expose())?;
        }
        if let Some(p) = &mut a.secret_file {
            *p = rules::absolute_path(at, "api.secret_file", p)?;
        }
        api::MAX_CONCURRENT.check(at, a.max_concurrent.into())?;
        let u = &mut self.uploader;
        if let Some(url) = &mut u.url {
            *url = rules::url(at, "uploader.url", url)?;
        }
        api::INTERVAL_MINUTES.check(at, u.interval_minutes.into())?;
        if let Some(token) = &u.token {
            api::secret("uploader.token", token.expose())?;
        }
        if let Some(p) = &mut u.token_file {
            *p = rules::absolute_path(at, "uploader.token_file", p)?;
        }
        Ok(())
    }

    /// The effective configuration as a TOML file that loads back to the same values, for
    /// `check-config`. Every key is written (an unset optional one as `""`); a literal token
    /// appears as `"[redacted]"`, which loading ignores.
    pub fn to_toml_redacted(&self) -> String {
        let mut out = String::from("# openclaw-livestatus: effective configuration\n");
        let w = &self.watch;
        out.push_str("\n[watch]\n");
        line(&mut out, "tier", quoted(w.tier.as_str()));
        let gateways: Vec<String> = w.gateways.iter().map(|p| quoted_path(Some(p))).collect();
        line(&mut out, "gateways", format!("[{}]", gateways.join(", ")));
        line(&mut out, "poll_interval_ms", w.poll_interval_ms);
        line(&mut out, "safety_net_interval_ms", w.safety_net_interval_ms);
        line(
            &mut out,
            "max_host_cost",
            format!("{:.2}", w.max_host_cost()),
        );

        out.push_str("\n[session]\n");
        line(&mut out, "idle_timeout_s", self.session.idle_timeout_s);
        line(
            &mut out,
            "max_session_duration_s",
            self.session.max_session_duration_s,
        );

        let r = &self.render;
        out.push_str("\n[render]\n");
        line(&mut out, "max_status_lines", r.max_status_lines);
        line(&mut out, "max_message_chars", r.max_message_chars);
        line(
            &mut out,
            "tool_labels_file",
            quoted_path(r.tool_labels_file.as_deref()),
        );

        match &self.mattermost {
            Some(m) => {
                out.push_str("\n[mattermost]\n");
                if !m.url.is_empty() {
                    line(&mut out, "url", quoted(&m.url));
                }
                if m.token.is_some() {
                    line(&mut out, "token", quoted(REDACTED));
                }
                line(&mut out, "token_file", quoted_path(m.token_file.as_deref()));
                let channel = m.default_channel.as_deref().unwrap_or_default();
                line(&mut out, "default_channel", quoted(channel));
                line(&mut out, "throttle_ms", m.throttle_ms);
                line(&mut out, "max_active_sessions", m.max_active_sessions);
                plugin_lines(&mut out, &self.plugin);
                for (id, account) in &m.accounts {
                    // Account ids are bare TOML keys (rules::account_id).
                    out.push_str(&format!("\n[mattermost.accounts.{id}]\n"));
                    if let Some(url) = &account.url {
                        line(&mut out, "url", quoted(url));
                    }
                    if account.token.is_some() {
                        line(&mut out, "token", quoted(REDACTED));
                    }
                    let file = account.token_file.as_deref();
                    line(&mut out, "token_file", quoted_path(file));
                    if let Some(mode) = account.mode {
                        line(&mut out, "mode", quoted(mode.as_str()));
                    }
                    if let Some(url) = &account.plugin_url {
                        line(&mut out, "plugin_url", quoted(url));
                    }
                    if account.plugin_secret.is_some() {
                        line(&mut out, "plugin_secret", quoted(REDACTED));
                    }
                    if let Some(f) = &account.plugin_secret_file {
                        line(&mut out, "plugin_secret_file", quoted_path(Some(f)));
                    }
                }
            }
            None => {
                out.push_str("\n# [mattermost] has no server: boxes go to the gateways' own accounts, or the terminal\n[mattermost]\n");
                plugin_lines(&mut out, &self.plugin);
            }
        }

        out.push_str("\n[service]\n");
        line(
            &mut out,
            "data_dir",
            quoted_path(Some(&self.service.data_dir)),
        );
        line(&mut out, "log_level", quoted(&self.service.log_level));

        let a = &self.api;
        out.push_str("\n[api]\n");
        line(&mut out, "listen", quoted(&a.listen.to_string()));
        if a.secret.is_some() {
            line(&mut out, "secret", quoted(REDACTED));
        }
        line(
            &mut out,
            "secret_file",
            quoted_path(a.secret_file.as_deref()),
        );
        line(&mut out, "max_concurrent", a.max_concurrent);

        let u = &self.uploader;
        out.push_str("\n[uploader]\n");
        if let Some(url) = &u.url {
            line(&mut out, "url", quoted(url));
        }
        line(&mut out, "interval_minutes", u.interval_minutes);
        if u.token.is_some() {
            line(&mut out, "token", quoted(REDACTED));
        }
        line(&mut out, "token_file", quoted_path(u.token_file.as_deref()));
        out
    }
}

fn plugin_lines(out: &mut String, p: &PluginConfig) {
    line(out, "mode", quoted(p.mode.as_str()));
    line(
        out,
        "plugin_url",
        quoted(p.url.as_deref().unwrap_or_default()),
    );
    if p.secret.is_some() {
        line(out, "plugin_secret", quoted(REDACTED));
    }
    line(
        out,
        "plugin_secret_file",
        quoted_path(p.secret_file.as_deref()),
    );
}

fn line(out: &mut String, key: &str, value: impl fmt::Display) {
    out.push_str(&format!("{key} = {value}\n"));
}

/// A TOML basic string, escaped by toml itself.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// TOML has no non-UTF-8 strings; such a path (possible only from a CLI flag) is shown lossily.
fn quoted_path(p: Option<&Path>) -> String {
    quoted(&p.map(|p| p.to_string_lossy()).unwrap_or_default())
}

/// Where to read the file from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource<'a> {
    /// [`DEFAULT_CONFIG_PATH`]; if it does not exist, the defaults (and environment) apply.
    Default,
    /// A file the user named (`--config`): it must exist.
    Explicit(&'a Path),
}

impl ConfigSource<'_> {
    pub fn path(&self) -> &Path {
        match self {
            ConfigSource::Default => Path::new(DEFAULT_CONFIG_PATH),
            ConfigSource::Explicit(path) => path,
        }
    }
}

#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// The file that was read; `None` when the default path does not exist.
    pub file: Option<PathBuf>,
    /// Things that work but deserve the operator's attention; log each once at startup.
    pub warnings: Vec<String>,
}

/// The process environment, as `load` wants it; a non-UTF-8 value counts as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Builds the configuration: defaults, then the file (see [`ConfigSource`]), then the legacy
/// environment variables, looked up through `env` (pass [`process_env`] in the daemon).
pub fn load(
    source: ConfigSource<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let required = matches!(source, ConfigSource::Explicit(_));
    load_at(source.path(), required, env)
}

/// `load` with the file's path open, so tests need not touch the real default path.
fn load_at(
    path: &Path,
    required: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut draft = Draft::default();
    let file = match read_config_file(path)? {
        Some((text, world_readable)) => {
            file::apply(path, &text, world_readable, &mut draft, &mut warnings)?;
            Some(path.to_path_buf())
        }
        None if required => {
            return Err(ConfigError::NotFound {
                path: path.to_path_buf(),
            });
        }
        None => None,
    };
    env::apply(env, &mut draft, &mut warnings)?;
    let config = draft.finish(&mut warnings)?;
    Ok(Loaded {
        config,
        file,
        warnings,
    })
}

/// `load` of a file's text already read, as if it were at `path` (which errors name): the
/// file's values, then `env`, then the final checks. For the fuzz targets (fuzz/), which feed
/// it arbitrary text; the daemon goes through `load`, which also reads and checks the file.
pub fn load_text(
    path: &Path,
    text: &str,
    world_readable: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut draft = Draft::default();
    file::apply(path, text, world_readable, &mut draft, &mut warnings)?;
    env::apply(env, &mut draft, &mut warnings)?;
    let config = draft.finish(&mut warnings)?;
    Ok(Loaded {
        config,
        file: Some(path.to_path_buf()),
        warnings,
    })
}

/// The text, and whether other users can read it (it may hold a token); `None` if absent. An
/// admin's file, read through the guarded reader (see `read_token_file`).
fn read_config_file(path: &Path) -> Result<Option<(String, bool)>, ConfigError> {
    let read_error = |why| ConfigError::Read {
        path: path.to_path_buf(),
        why,
    };
    let opened = match guarded::open(path, &Owner::Admin) {
        Ok(opened) => opened,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    // fstat the opened file, so the mode belongs to the text we read.
    let mode = opened
        .file
        .metadata()
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    let bytes = opened.read_all(MAX_CONFIG_BYTES).map_err(read_error)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        read_error(guarded::GuardError::Io {
            path: path.to_path_buf(),
            op: "read it as text",
            error: io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()),
        })
    })?;
    Ok(Some((text, mode & 0o004 != 0)))
}

/// The configuration while sources are applied: Mattermost stays apart until the end, since
/// its URL may come from a later source than its other keys.
struct Draft {
    config: Config,
    mattermost: MattermostConfig,
    /// Where Mattermost was asked for (a `[mattermost]` table, `MM_TOKEN`): a URL is required.
    mattermost_wanted: Option<Origin>,
    /// Mattermost-only variables, harmless without a server.
    mattermost_env_only: Vec<&'static str>,
    /// Keys the file set, so an environment override can be pointed out.
    from_file: Vec<String>,
    /// Where each `[mattermost.accounts.<id>]` was written, for errors found at the end.
    account_origins: BTreeMap<String, Origin>,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            config: Config::default(),
            mattermost: MattermostConfig::new(""),
            mattermost_wanted: None,
            mattermost_env_only: Vec::new(),
            from_file: Vec::new(),
            account_origins: BTreeMap::new(),
        }
    }
}

impl Draft {
    fn finish(self, warnings: &mut Vec<String>) -> Result<Config, ConfigError> {
        let mut config = self.config;
        if config.plugin.mode == MattermostMode::Rest
            && (config.plugin.secret.is_some() || config.plugin.secret_file.is_some())
        {
            warnings.push(
                "a plugin secret is set but mattermost.mode = \"rest\": the plugin is not used"
                    .to_owned(),
            );
        }
        if let Some(f) = &config.plugin.secret_file {
            warnings.extend(token_file_warning("mattermost.plugin_secret_file", Some(f)));
        }
        let mut m = self.mattermost;
        for (id, account) in &m.accounts {
            let origin = self
                .account_origins
                .get(id)
                .cloned()
                .unwrap_or(Origin::Effective);
            rules::account_complete(&origin, id, &m.url, account)?;
            if let Some(url) = &account.url {
                warnings.extend(rules::plain_http_warning(url));
            }
            warnings.extend(token_file_warning(
                &format!("mattermost.accounts.{id}.token_file"),
                account.token_file.as_deref(),
            ));
        }
        if m.url.is_empty() && !m.accounts.is_empty() {
            if m.token.is_some() || m.token_file.is_some() {
                warnings.push(
                    "a top-level mattermost token is set but mattermost.url is not: there is no \
                     configured account `default`, and named accounts never inherit a token; \
                     ignored"
                        .to_owned(),
                );
                m.token = None;
                m.token_file = None;
            }
            config.mattermost = Some(m);
        } else if !m.url.is_empty() {
            warnings.extend(rules::plain_http_warning(&m.url));
            if m.token.is_some() && m.token_file.is_some() {
                warnings.push(
                    "both a literal mattermost.token and mattermost.token_file are set; the \
                     literal is used"
                        .to_owned(),
                );
            }
            warnings.extend(token_file_warning(
                "mattermost.token_file",
                m.token_file.as_deref(),
            ));
            config.mattermost = Some(m);
        } else if let Some(origin) = self.mattermost_wanted {
            return Err(ConfigError::Missing {
                origin,
                message: "Mattermost is configured but has no URL: set mattermost.url (or \
                          MM_URL), name accounts in [mattermost.accounts.<id>] tables, or \
                          remove the [mattermost] table to show boxes in the terminal only"
                    .to_owned(),
            });
        } else if !self.mattermost_env_only.is_empty() {
            warnings.push(format!(
                "{} set, but Mattermost is not configured (no mattermost.url or MM_URL); ignored",
                self.mattermost_env_only.join(", ")
            ));
        }
        let s = &config.session;
        if s.idle_timeout_s > s.max_session_duration_s {
            warnings.push(format!(
                "session.idle_timeout_s ({}) exceeds session.max_session_duration_s ({}): \
                 sessions end at the maximum duration before they can go idle",
                s.idle_timeout_s, s.max_session_duration_s
            ));
        }
        Ok(config)
    }
}

fn token_file_warning(key: &str, path: Option<&Path>) -> Option<String> {
    let path = path?;
    let readable = std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o004 != 0);
    readable.then(|| {
        format!(
            "{key} {} is readable by every user on this host; chmod 600 it",
            path.display()
        )
    })
}

/// Keeps the first of equal gateways; a repeat is harmless but likely a copy-paste slip.
fn dedup_gateways(gateways: Vec<PathBuf>, warnings: &mut Vec<String>) -> Vec<PathBuf> {
    let mut unique: Vec<PathBuf> = Vec::with_capacity(gateways.len());
    for gateway in gateways {
        if unique.contains(&gateway) {
            warnings.push(format!(
                "gateway {} is listed more than once",
                gateway.display()
            ));
        } else {
            unique.push(gateway);
        }
    }
    unique
}
