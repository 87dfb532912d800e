//! `check-config`'s printout: the effective configuration as TOML, secrets redacted, key by key
//! in the order of [`KEYS`].

use std::path::Path;

use super::Config;
use super::keys::{ACCOUNT_KEYS, KEYS};

impl Config {
    /// The effective configuration as a TOML file that loads back to the same values, for
    /// `check-config`. Every key is written (an unset optional one as `""`); a literal token
    /// appears as `"[redacted]"`, which loading ignores.
    pub fn to_toml_redacted(&self) -> String {
        let mut out = String::from("# openclaw-livestatus: effective configuration\n");
        let mut open = "";
        for key in KEYS {
            let (table, name) = key.split();
            if table != open {
                self.close_table(&mut out, open);
                open = table;
                if table == "mattermost" && self.mattermost.is_none() {
                    out.push_str("\n# [mattermost] has no server: boxes go to the gateways' own accounts, or the terminal\n");
                } else {
                    out.push('\n');
                }
                out.push_str(&format!("[{table}]\n"));
            }
            if let Some(value) = (key.print)(self) {
                out.push_str(&format!("{name} = {value}\n"));
            }
        }
        self.close_table(&mut out, open);
        out
    }

    /// After `[mattermost]`'s own keys, a table per named account.
    fn close_table(&self, out: &mut String, table: &str) {
        let Some(m) = self.mattermost.as_ref().filter(|_| table == "mattermost") else {
            return;
        };
        for (id, account) in &m.accounts {
            // Account ids are bare TOML keys (rules::account_id).
            out.push_str(&format!("\n[mattermost.accounts.{id}]\n"));
            for key in ACCOUNT_KEYS {
                if let Some(value) = (key.print)(account) {
                    out.push_str(&format!("{} = {value}\n", key.name));
                }
            }
        }
    }
}

/// A TOML basic string, escaped by toml itself.
pub(super) fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// TOML has no non-UTF-8 strings; such a path (possible only from a CLI flag) is shown lossily.
pub(super) fn quoted_path(p: Option<&Path>) -> String {
    quoted(&p.map(|p| p.to_string_lossy()).unwrap_or_default())
}
