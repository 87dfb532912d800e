//! `Config::validate`: the checks of the file and the environment, again, on the values the
//! command-line flags may have changed.

use super::api;
use super::rules;
use super::{Config, ConfigError, Listen, Origin};

impl Config {
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
}
