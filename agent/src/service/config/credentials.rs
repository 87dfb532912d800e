//! Where tokens and secrets come from: a literal, a file, or a systemd credential, read through
//! the guarded reader. No message ever contains one.

use std::path::Path;

use super::rules;
use super::{
    Config, ConfigError, DEFAULT_ACCOUNT, MattermostConfig, MattermostMode, Origin, PluginConfig,
    Secret,
};
use crate::gateway::account::{Account, ConfiguredAccount};
use crate::guarded::{self, Rules};

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

/// Mattermost tokens are 26 characters; the margin is for whitespace and future formats.
const MAX_TOKEN_BYTES: u64 = 4096;

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

impl MattermostConfig {
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
}
