//! Every key of the file, once: its dotted name, the Node.js daemon's variables that set it, and
//! its value as `check-config` prints it. The environment (`env.rs`), the printout
//! (`effective_toml.rs`), the file's table names and the documentation test read this table, in
//! its order.

use super::effective_toml::{quoted, quoted_path};
use super::env::{self, SetVar};
use super::rules;
use super::{Config, MattermostAccountConfig, MattermostConfig, Origin, REDACTED};

/// One key of the file.
pub struct Key {
    /// `table.name`, as written in the file and in docs/config.md.
    pub name: &'static str,
    /// The legacy variables that set it.
    pub env: &'static [EnvVar],
    /// Its value as TOML; `None` leaves the line out (an unset literal secret, a key of a
    /// Mattermost server that is not configured).
    pub(super) print: fn(&Config) -> Option<String>,
}

/// A variable of the Node.js daemon and how its text becomes the key's value.
pub struct EnvVar {
    pub name: &'static str,
    pub(super) set: SetVar,
}

impl Key {
    /// The table (`watch`) and the key inside it (`tier`).
    pub fn split(&self) -> (&'static str, &'static str) {
        self.name.split_once('.').unwrap_or((self.name, ""))
    }
}

/// A key of each `[mattermost.accounts.<id>]` table.
pub struct AccountKey {
    pub name: &'static str,
    pub(super) print: fn(&MattermostAccountConfig) -> Option<String>,
}

/// Every legacy variable and the key it sets.
pub fn legacy_env() -> impl Iterator<Item = (&'static str, &'static str)> {
    KEYS.iter()
        .flat_map(|key| key.env.iter().map(|var| (var.name, key.name)))
}

fn mattermost(c: &Config) -> Option<&MattermostConfig> {
    c.mattermost.as_ref()
}

fn redacted(set: bool) -> Option<String> {
    set.then(|| quoted(REDACTED))
}

/// In the order `check-config` prints them; a table's keys are together.
pub const KEYS: &[Key] = &[
    Key {
        name: "watch.tier",
        env: &[],
        print: |c| Some(quoted(c.watch.tier.as_str())),
    },
    Key {
        name: "watch.gateways",
        env: &[
            EnvVar {
                name: "TRANSCRIPT_DIR",
                set: env::transcript_dir,
            },
            EnvVar {
                name: "SESSIONS_JSON",
                set: env::sessions_json,
            },
        ],
        print: |c| {
            let paths: Vec<String> = c
                .watch
                .gateways
                .iter()
                .map(|p| quoted_path(Some(p)))
                .collect();
            Some(format!("[{}]", paths.join(", ")))
        },
    },
    Key {
        name: "watch.poll_interval_ms",
        env: &[],
        print: |c| Some(c.watch.poll_interval_ms.to_string()),
    },
    Key {
        name: "watch.safety_net_interval_ms",
        env: &[],
        print: |c| Some(c.watch.safety_net_interval_ms.to_string()),
    },
    Key {
        name: "watch.max_host_cost",
        env: &[],
        print: |c| Some(format!("{:.2}", c.watch.max_host_cost())),
    },
    Key {
        name: "session.idle_timeout_s",
        env: &[EnvVar {
            name: "IDLE_TIMEOUT_S",
            set: |e, d, var, _| {
                e.int(var, &rules::IDLE_TIMEOUT_S, |v| {
                    d.config.session.idle_timeout_s = v
                })
            },
        }],
        print: |c| Some(c.session.idle_timeout_s.to_string()),
    },
    Key {
        name: "session.max_session_duration_s",
        env: &[EnvVar {
            name: "MAX_SESSION_DURATION_S",
            set: |e, d, var, _| {
                e.int(var, &rules::MAX_SESSION_DURATION_S, |v| {
                    d.config.session.max_session_duration_s = v
                })
            },
        }],
        print: |c| Some(c.session.max_session_duration_s.to_string()),
    },
    Key {
        name: "render.max_status_lines",
        env: &[EnvVar {
            name: "MAX_STATUS_LINES",
            set: |e, d, var, _| {
                e.int(var, &rules::MAX_STATUS_LINES, |v| {
                    d.config.render.max_status_lines = v
                })
            },
        }],
        print: |c| Some(c.render.max_status_lines.to_string()),
    },
    Key {
        name: "render.max_message_chars",
        env: &[EnvVar {
            name: "MAX_MESSAGE_CHARS",
            set: |e, d, var, _| {
                e.int(var, &rules::MAX_MESSAGE_CHARS, |v| {
                    d.config.render.max_message_chars = v
                })
            },
        }],
        print: |c| Some(c.render.max_message_chars.to_string()),
    },
    Key {
        name: "render.tool_labels_file",
        env: &[EnvVar {
            name: "TOOL_LABELS_FILE",
            set: |e, d, var, key| {
                e.text(var, key, |raw, at| {
                    let path = rules::absolute_path(at, key, std::path::Path::new(raw.trim()))?;
                    d.config.render.tool_labels_file = Some(path);
                    Ok(())
                })
            },
        }],
        print: |c| Some(quoted_path(c.render.tool_labels_file.as_deref())),
    },
    Key {
        name: "mattermost.url",
        env: &[EnvVar {
            name: "MM_URL",
            set: |e, d, var, key| {
                e.text(var, key, |raw, at| {
                    d.mattermost.url = rules::url(at, key, raw.trim())?;
                    Ok(())
                })
            },
        }],
        print: |c| {
            mattermost(c)
                .filter(|m| !m.url.is_empty())
                .map(|m| quoted(&m.url))
        },
    },
    Key {
        name: "mattermost.token",
        env: &[EnvVar {
            name: "MM_TOKEN",
            // A token asks for Mattermost, so a URL must come from somewhere.
            set: |e, d, var, key| {
                if let Some(token) = e.literal(var, key, "token")? {
                    d.mattermost.token = Some(token);
                    d.mattermost_wanted.get_or_insert(Origin::Env { var });
                }
                Ok(())
            },
        }],
        print: |c| redacted(mattermost(c)?.token.is_some()),
    },
    Key {
        name: "mattermost.token_file",
        env: &[],
        print: |c| mattermost(c).map(|m| quoted_path(m.token_file.as_deref())),
    },
    Key {
        name: "mattermost.default_channel",
        env: &[EnvVar {
            name: "DEFAULT_CHANNEL",
            set: |e, d, var, key| {
                e.text(var, key, |raw, at| {
                    d.mattermost.default_channel = Some(rules::channel_id(at, key, &raw)?);
                    d.mattermost_env_only.push(var);
                    Ok(())
                })
            },
        }],
        print: |c| mattermost(c).map(|m| quoted(m.default_channel.as_deref().unwrap_or_default())),
    },
    Key {
        name: "mattermost.throttle_ms",
        env: &[EnvVar {
            name: "THROTTLE_MS",
            set: |e, d, var, _| {
                e.int(var, &rules::THROTTLE_MS, |v| {
                    d.mattermost.throttle_ms = v;
                    d.mattermost_env_only.push(var);
                })
            },
        }],
        print: |c| mattermost(c).map(|m| m.throttle_ms.to_string()),
    },
    Key {
        name: "mattermost.max_active_sessions",
        env: &[EnvVar {
            name: "MAX_ACTIVE_SESSIONS",
            set: |e, d, var, _| {
                e.int(var, &rules::MAX_ACTIVE_SESSIONS, |v| {
                    d.mattermost.max_active_sessions = v;
                    d.mattermost_env_only.push(var);
                })
            },
        }],
        print: |c| mattermost(c).map(|m| m.max_active_sessions.to_string()),
    },
    Key {
        name: "mattermost.mode",
        env: &[EnvVar {
            name: "PLUGIN_ENABLED",
            set: env::plugin_enabled,
        }],
        print: |c| Some(quoted(c.plugin.mode.as_str())),
    },
    Key {
        name: "mattermost.plugin_url",
        env: &[EnvVar {
            name: "PLUGIN_URL",
            set: |e, d, var, key| {
                e.text(var, key, |raw, at| {
                    d.config.plugin.url = Some(rules::url(at, key, raw.trim())?);
                    Ok(())
                })
            },
        }],
        print: |c| Some(quoted(c.plugin.url.as_deref().unwrap_or_default())),
    },
    Key {
        name: "mattermost.plugin_secret",
        env: &[EnvVar {
            name: "PLUGIN_SECRET",
            set: |e, d, var, key| {
                if let Some(secret) = e.literal(var, key, "secret")? {
                    d.config.plugin.secret = Some(secret);
                }
                Ok(())
            },
        }],
        print: |c| redacted(c.plugin.secret.is_some()),
    },
    Key {
        name: "mattermost.plugin_secret_file",
        env: &[],
        print: |c| Some(quoted_path(c.plugin.secret_file.as_deref())),
    },
    Key {
        name: "service.data_dir",
        env: &[],
        print: |c| Some(quoted_path(Some(&c.service.data_dir))),
    },
    Key {
        name: "service.log_level",
        env: &[EnvVar {
            name: "LOG_LEVEL",
            set: |e, d, var, key| {
                e.text(var, key, |raw, at| {
                    d.config.service.log_level = rules::log_level(at, key, &raw)?;
                    Ok(())
                })
            },
        }],
        print: |c| Some(quoted(&c.service.log_level)),
    },
    Key {
        name: "api.listen",
        env: &[EnvVar {
            name: "HEALTH_PORT",
            set: |e, d, var, key| {
                e.text(var, key, |raw, at| {
                    d.config.api.listen = super::api::health_port(at, &raw)?;
                    Ok(())
                })
            },
        }],
        print: |c| Some(quoted(&c.api.listen.to_string())),
    },
    Key {
        name: "api.secret",
        env: &[],
        print: |c| redacted(c.api.secret.is_some()),
    },
    Key {
        name: "api.secret_file",
        env: &[],
        print: |c| Some(quoted_path(c.api.secret_file.as_deref())),
    },
    Key {
        name: "api.max_concurrent",
        env: &[],
        print: |c| Some(c.api.max_concurrent.to_string()),
    },
    Key {
        name: "uploader.url",
        env: &[],
        print: |c| c.uploader.url.as_deref().map(quoted),
    },
    Key {
        name: "uploader.interval_minutes",
        env: &[],
        print: |c| Some(c.uploader.interval_minutes.to_string()),
    },
    Key {
        name: "uploader.token",
        env: &[],
        print: |c| redacted(c.uploader.token.is_some()),
    },
    Key {
        name: "uploader.token_file",
        env: &[],
        print: |c| Some(quoted_path(c.uploader.token_file.as_deref())),
    },
];

/// In the order `check-config` prints them.
pub const ACCOUNT_KEYS: &[AccountKey] = &[
    AccountKey {
        name: "url",
        print: |a| a.url.as_deref().map(quoted),
    },
    AccountKey {
        name: "token",
        print: |a| redacted(a.token.is_some()),
    },
    AccountKey {
        name: "token_file",
        print: |a| Some(quoted_path(a.token_file.as_deref())),
    },
    AccountKey {
        name: "mode",
        print: |a| a.mode.map(|m| quoted(m.as_str())),
    },
    AccountKey {
        name: "plugin_url",
        print: |a| a.plugin_url.as_deref().map(quoted),
    },
    AccountKey {
        name: "plugin_secret",
        print: |a| redacted(a.plugin_secret.is_some()),
    },
    AccountKey {
        name: "plugin_secret_file",
        print: |a| {
            a.plugin_secret_file
                .as_deref()
                .map(|f| quoted_path(Some(f)))
        },
    },
];

/// Whether `table` is a table of the file: one of [`KEYS`]'s, or a named account's.
pub(super) fn is_table(table: &str) -> bool {
    KEYS.iter().any(|key| key.split().0 == table)
        || table
            .strip_prefix("mattermost.accounts.")
            .is_some_and(|id| !id.is_empty())
}

/// Every key, account key (`mattermost.accounts.<id>.url`) and variable that `doc` does not
/// name in backquotes.
#[cfg(test)]
pub(super) fn undocumented(doc: &str) -> Vec<String> {
    let keys = KEYS.iter().map(|key| key.name.to_owned());
    let accounts = ACCOUNT_KEYS
        .iter()
        .map(|key| format!("mattermost.accounts.<id>.{}", key.name));
    let vars = legacy_env().map(|(var, _)| var.to_owned());
    keys.chain(accounts)
        .chain(vars)
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .collect()
}
