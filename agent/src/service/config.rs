//! The daemon's configuration: one validated [`Config`] from, in rising precedence, built-in
//! defaults, the TOML file, and the environment variables of the Node.js "Live Status v4" daemon.
//! Command-line flags come last: the CLI writes them into the returned `Config` and calls
//! [`Config::validate`]. Every key and variable is documented in `docs/config.md`, and listed
//! once in [`KEYS`].
//!
//! Errors point at the exact place to fix (`file:line:column`, key path, variable name) and never
//! contain a token; tokens themselves are read only by [`MattermostConfig::read_token`] and
//! [`MattermostConfig::account_token`].

mod api;
#[cfg(test)]
mod api_tests;
mod choices;
mod credentials;
mod effective_toml;
mod env;
mod error;
mod file;
mod keys;
#[cfg(test)]
mod keys_tests;
mod load;
mod rules;
mod sections;
#[cfg(test)]
mod tests;
mod validate;

pub use api::{
    API_SECRET_CREDENTIAL, ApiConfig, DEFAULT_LISTEN, Listen, MONITOR_TOKEN_ENV,
    UPLOADER_TOKEN_CREDENTIAL, UploaderConfig,
};
pub use choices::{MattermostMode, ParseTierError, TierChoice};
pub use credentials::{
    ACCOUNT_CREDENTIAL_PREFIX, ACCOUNT_PLUGIN_SECRET_PREFIX, PLUGIN_SECRET_CREDENTIAL,
    TOKEN_CREDENTIAL, TOKEN_SOURCE_CREDENTIAL, TOKEN_SOURCE_FILE, TOKEN_SOURCE_LITERAL,
    read_plugin_secret,
};
pub use error::{ConfigError, Origin, Position};
pub use keys::{AccountKey, EnvVar, KEYS, Key, legacy_env};
pub use load::{ConfigSource, DEFAULT_CONFIG_PATH, Loaded, load, load_text, process_env};
pub use sections::{
    MattermostAccountConfig, MattermostConfig, PluginConfig, RenderConfig, ServiceConfig,
    SessionConfigValues, WatchConfig,
};

/// The top-level `[mattermost]` server is this account.
pub use crate::gateway::account::DEFAULT_ACCOUNT;

pub use crate::secret::{REDACTED, Secret};

use load::Draft;
#[cfg(test)]
use load::load_at;

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
