//! `check-config`'s printout: the effective configuration as TOML, secrets redacted.

use std::fmt;
use std::path::Path;

use super::{Config, PluginConfig, REDACTED};

impl Config {
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
