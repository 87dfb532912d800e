//! What the config says of the plugin: the mode, URL and secret for every server, or per server.

use std::time::Duration;

use crate::service::config::{MattermostMode, Secret};

/// How boxes reach Mattermost: per server, else the same for every server.
#[derive(Clone, Debug)]
pub struct PluginOptions {
    pub mode: MattermostMode,
    /// The plugin's base URL for every server; None: `<server>/plugins/com.openclaw.livestatus`.
    pub url: Option<String>,
    /// None: the plugin cannot be written to, so `auto` means REST.
    pub secret: Option<Secret>,
    /// While a server's plugin is not used, its health is checked again this often.
    pub recheck: Duration,
    /// Per server (base URL): its own settings, which replace the three above for it.
    pub servers: std::collections::BTreeMap<String, ServerPlugin>,
}

/// One server's plugin settings.
#[derive(Clone, Debug)]
pub struct ServerPlugin {
    pub mode: MattermostMode,
    pub url: Option<String>,
    pub secret: Option<Secret>,
}

impl PluginOptions {
    pub fn for_server(&self, server: &str) -> ServerPlugin {
        self.servers.get(server).cloned().unwrap_or(ServerPlugin {
            mode: self.mode,
            url: self.url.clone(),
            secret: self.secret.clone(),
        })
    }
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            mode: MattermostMode::Rest,
            url: None,
            secret: None,
            recheck: Duration::from_secs(60),
            servers: Default::default(),
        }
    }
}
