//! Applies one file key at a time, with the key's position for errors and the warnings a
//! literal secret in the file deserves.

use std::path::{Path, PathBuf};

use super::super::rules::{self, IntRule};
use super::super::{ConfigError, Draft, Origin, REDACTED, Secret};
use super::locate::KeyIndex;
use super::schema::Int;

/// Applies one file key at a time, with the key's position for errors.
pub(super) struct Setter<'a, 'i> {
    pub(super) path: &'a Path,
    pub(super) index: &'a KeyIndex<'i>,
    pub(super) draft: &'a mut Draft,
}

impl Setter<'_, '_> {
    pub(super) fn origin(&self, key: &str) -> Origin {
        Origin::file(self.path, self.index.position(key))
    }

    pub(super) fn int<T: TryFrom<u64>>(
        &mut self,
        rule: &IntRule,
        value: Option<Int>,
        store: impl FnOnce(&mut Draft, T),
    ) -> Result<(), ConfigError> {
        if let Some(Int(v)) = value {
            let v = rule.check_as(&self.origin(rule.key), v.into())?;
            store(self.draft, v);
        }
        Ok(())
    }

    /// A literal token: `""` means "not set", and the placeholder `check-config` prints is ignored.
    pub(super) fn token(
        &self,
        key: &str,
        raw: &str,
        world_readable: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Secret>, ConfigError> {
        if raw.trim() == REDACTED {
            let sources = if key == "mattermost.token" {
                "token_file, MM_TOKEN or the systemd credential"
            } else {
                "token_file or the systemd credential"
            };
            warnings.push(format!(
                "{}: {key} is the {REDACTED:?} placeholder printed by check-config, not a \
                 token; ignored (the token comes from {sources})",
                self.origin(key)
            ));
            return Ok(None);
        }
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let token = rules::token(key, raw)?;
        warnings.push(literal_token_warning(self.path, key, world_readable));
        Ok(Some(token))
    }

    /// A literal `api.secret` / `uploader.token`: as `token`, with its own advice.
    pub(super) fn secret(
        &self,
        key: &str,
        raw: &str,
        world_readable: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Secret>, ConfigError> {
        if raw.trim() == REDACTED {
            warnings.push(format!(
                "{}: {key} is the {REDACTED:?} placeholder printed by check-config, not a \
                 secret; ignored",
                self.origin(key)
            ));
            return Ok(None);
        }
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let secret = super::super::api::secret(key, raw)?;
        let file_key = format!("{}_file", key);
        if world_readable {
            warnings.push(format!(
                "{} holds {key} and is readable by every user on this host; chmod 600 it, or \
                 better, move it to a file named by {file_key} (mode 600)",
                self.path.display()
            ));
        }
        Ok(Some(secret))
    }

    /// `""` means "not set", as in the shipped example config.
    pub(super) fn optional_path(
        &self,
        key: &str,
        raw: &str,
    ) -> Result<Option<PathBuf>, ConfigError> {
        if raw.is_empty() {
            return Ok(None);
        }
        rules::absolute_path(&self.origin(key), key, Path::new(raw)).map(Some)
    }
}

fn literal_token_warning(path: &Path, key: &str, world_readable: bool) -> String {
    let (file_key, credential) = match key.strip_suffix(".token") {
        None if key == "mattermost.plugin_secret" => (
            "mattermost.plugin_secret_file".to_owned(),
            super::super::PLUGIN_SECRET_CREDENTIAL.to_owned(),
        ),
        None if key.ends_with(".plugin_secret") => {
            let table = key.trim_end_matches(".plugin_secret");
            (
                format!("{table}.plugin_secret_file"),
                format!(
                    "{}{}",
                    super::super::ACCOUNT_PLUGIN_SECRET_PREFIX,
                    table.rsplit('.').next().unwrap_or_default()
                ),
            )
        }
        Some(table) if table != "mattermost" => (
            format!("{table}.token_file"),
            format!(
                "{}{}",
                super::super::ACCOUNT_CREDENTIAL_PREFIX,
                table.rsplit('.').next().unwrap_or_default()
            ),
        ),
        _ => (
            "mattermost.token_file".to_owned(),
            super::super::TOKEN_CREDENTIAL.to_owned(),
        ),
    };
    let advice = format!(
        "move it to a file named by {file_key} (mode 600) or to the `{credential}` systemd \
         credential"
    );
    if world_readable {
        format!(
            "{} holds {key} and is readable by every user on this host; \
             chmod 600 it, or better, {advice}",
            path.display()
        )
    } else {
        format!("{} holds {key} as a literal; {advice}", path.display())
    }
}
