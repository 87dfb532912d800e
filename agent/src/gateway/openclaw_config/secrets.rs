//! SecretInput and SecretRef resolution (`env` and `file` sources), from what the gateway has on
//! disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::dotenv::parse_dotenv;
use super::error::{AccountError, FileSecretError, RefProblem};
use super::vars::{UnsetVar, is_env_name};
use super::{MAX_SECRET_FILE_BYTES, SOURCE_ENV, SOURCE_FILE, SOURCE_LITERAL, read_owned};
use crate::layout;

/// Resolves SecretInputs and `${VAR}` the way the gateway would, from what is on disk.
pub(super) struct Secrets<'a> {
    pub(super) state_dir: &'a Path,
    pub(super) owner: u32,
    pub(super) root: &'a Map<String, Value>,
    /// `<state dir>/.env`, read on first need.
    pub(super) dotenv: Option<HashMap<String, String>>,
}

impl Secrets<'_> {
    /// OpenClaw never overrides a variable that is already set, and loads the state dir's `.env`
    /// before applying the config's `env` block; so the first of these wins. Empty counts as unset.
    pub(super) fn env(&mut self, name: &str) -> Option<String> {
        if self.dotenv.is_none() {
            let path = self.state_dir.join(".env");
            let parsed = match read_owned(&path, MAX_SECRET_FILE_BYTES, self.owner) {
                Ok(bytes) => parse_dotenv(&String::from_utf8_lossy(&bytes)),
                // An unreadable .env only means its variables stay unresolved; the reason each
                // account is skipped names the variable.
                Err(_) => HashMap::new(),
            };
            self.dotenv = Some(parsed);
        }
        let from_dotenv = self.dotenv.as_ref().and_then(|m| m.get(name)).cloned();
        let block = self.root.get("env");
        let from_block = || {
            let vars = block?.get("vars").and_then(|v| v.get(name));
            let direct = (name != "vars" && name != "shellEnv")
                .then(|| block?.get(name))
                .flatten();
            vars.or(direct)?.as_str().map(str::to_owned)
        };
        from_dotenv
            .or_else(from_block)
            .filter(|v| !v.trim().is_empty())
    }

    /// A SecretInput field: `None` when absent or empty.
    pub(super) fn secret_input(
        &mut self,
        value: Option<&Value>,
    ) -> Result<Option<(String, &'static str)>, AccountError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(raw)) => {
                let trimmed = raw.trim();
                // `"$VAR"` is the documented shorthand of `"${VAR}"` for secret fields.
                if let Some(name) = trimmed.strip_prefix('$').filter(|n| is_env_name(n)) {
                    return self
                        .env(name)
                        .map(|v| Some((v, SOURCE_ENV)))
                        .ok_or_else(|| AccountError::TokenShorthandUnset(name.to_owned()));
                }
                let (token, used) = self
                    .substitute(trimmed)
                    .map_err(|UnsetVar(var)| AccountError::TokenVarUnset(var))?;
                let source = if used { SOURCE_ENV } else { SOURCE_LITERAL };
                Ok(Some((token, source)).filter(|(t, _)| !t.trim().is_empty()))
            }
            Some(Value::Object(reference)) => self.secret_ref(reference).map(Some),
            Some(_) => Err(AccountError::TokenNotSecretInput),
        }
    }

    pub(super) fn secret_ref(
        &mut self,
        reference: &Map<String, Value>,
    ) -> Result<(String, &'static str), AccountError> {
        let text = |k: &str| reference.get(k).and_then(Value::as_str).map(str::trim);
        let (Some(source), Some(id)) = (text("source"), text("id")) else {
            return Err(AccountError::RefIncomplete);
        };
        // A ref without a provider uses `secrets.defaults.<source>`, else "default".
        let provider = text("provider")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                let defaults = self.root.get("secrets")?.get("defaults")?;
                defaults.get(source)?.as_str().map(str::to_owned)
            })
            .unwrap_or_else(|| "default".to_owned());
        let provider_config = self
            .root
            .get("secrets")
            .and_then(|s| s.get("providers"))
            .and_then(|p| p.get(&provider))
            .and_then(Value::as_object);
        let label = format!("{source}:{provider}:{id}");
        let fail = |problem: RefProblem| AccountError::Ref {
            label: label.clone(),
            problem,
        };
        match source {
            "env" => {
                if let Some(config) = provider_config {
                    if config.get("source").and_then(Value::as_str) != Some("env") {
                        return Err(fail(RefProblem::NotEnvProvider(provider)));
                    }
                    if let Some(allow) = config.get("allowlist").and_then(Value::as_array)
                        && !allow.iter().any(|a| a.as_str() == Some(id))
                    {
                        return Err(fail(RefProblem::NotAllowed(id.to_owned())));
                    }
                } else if provider != "default" {
                    return Err(fail(RefProblem::NoProvider));
                }
                if !is_env_name(id) {
                    return Err(fail(RefProblem::NotEnvName));
                }
                self.env(id)
                    .map(|v| (v, SOURCE_ENV))
                    .ok_or_else(|| fail(RefProblem::Unset(id.to_owned())))
            }
            "file" => {
                let Some(config) = provider_config
                    .filter(|c| c.get("source").and_then(Value::as_str) == Some("file"))
                else {
                    return Err(fail(RefProblem::NoFileProvider(provider)));
                };
                self.read_file_secret(config, id)
                    .map(|v| (v, SOURCE_FILE))
                    .map_err(|why| fail(RefProblem::File(why)))
            }
            "exec" | "store" => Err(AccountError::RefNotRun {
                kind: source.to_owned(),
                label,
            }),
            other => Err(AccountError::RefUnknownSource(other.to_owned())),
        }
    }

    pub(super) fn read_file_secret(
        &mut self,
        provider: &Map<String, Value>,
        id: &str,
    ) -> Result<String, FileSecretError> {
        let raw_path = provider
            .get("path")
            .and_then(Value::as_str)
            .ok_or(FileSecretError::NoPath)?;
        let (raw_path, _) = self
            .substitute(raw_path)
            .map_err(|UnsetVar(var)| FileSecretError::PathVarUnset(var))?;
        let path = match raw_path.strip_prefix("~/") {
            Some(rest) => home_of(self.state_dir)
                .ok_or(FileSecretError::NoHome)?
                .join(rest),
            None => PathBuf::from(&raw_path),
        };
        if !path.is_absolute() {
            return Err(FileSecretError::NotAbsolute);
        }
        let bytes = read_owned(&path, MAX_SECRET_FILE_BYTES, self.owner)?;
        let text = String::from_utf8(bytes).map_err(|_| FileSecretError::NotUtf8)?;
        match provider
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("json")
        {
            "singleValue" => {
                if id != "value" {
                    return Err(FileSecretError::SingleValueId);
                }
                Ok(text.trim_end_matches(['\r', '\n']).to_owned())
            }
            "json" => {
                if !id.starts_with('/') {
                    return Err(FileSecretError::NotPointer);
                }
                let doc: Value =
                    serde_json::from_str(&text).map_err(|_| FileSecretError::NotJson)?;
                doc.pointer(id)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or(FileSecretError::NoString)
            }
            other => Err(FileSecretError::UnknownMode(other.to_owned())),
        }
    }
}

/// `~` of the user whose state dir this is: its parent, when the dir has a state dir's name.
pub(super) fn home_of(state_dir: &Path) -> Option<&Path> {
    layout::is_state_dir_name(state_dir.file_name()?)
        .then(|| state_dir.parent())
        .flatten()
}
