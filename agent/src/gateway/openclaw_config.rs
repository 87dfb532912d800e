//! A gateway's own Mattermost accounts, from its `<state dir>/openclaw.json` (JSON5).
//!
//! What is read, as OpenClaw defines it (its Mattermost plugin's `accounts.ts` and config schema,
//! and the "Configuration — environment, secrets, and includes" / "Secrets management" docs):
//! - `channels.mattermost.{enabled, baseUrl, botToken}` is the account `default` when
//!   `channels.mattermost.accounts` names none; otherwise the accounts are exactly the keys of
//!   `accounts`, each one the top level overlaid with its own fields (`{...top, ...account}`), and
//!   an account is off when either level says `enabled: false`. `defaultAccount` picks the
//!   account used when a session names none.
//! - `baseUrl` is trimmed, loses trailing slashes and a trailing `/api/v4`.
//! - `botToken` is a SecretInput: a literal, `"${VAR}"`, or a SecretRef `{source, provider, id}`
//!   (`source` env, file or exec). Any string may hold `${VAR}` / `${VAR:-fallback}` (upper-case
//!   names, `$${` escapes). For the account `default` only, `MATTERMOST_BOT_TOKEN` and
//!   `MATTERMOST_URL` fill in what the config leaves out.
//! - `$include` (a path or a list of paths, relative to the including file, inside the config's
//!   directory, at most 10 deep) splices other JSON5 files in.
//!
//! The gateway's environment is not ours to see: variables resolve from what the gateway reads
//! from disk, `<state dir>/.env` and then the config's `env` block (`env.vars.X`, `env.X`). A
//! variable that only the gateway's process environment holds, an `exec` SecretRef (the daemon
//! never runs a user's commands), or a file it may not read leaves that account unusable, with a
//! reason that names the reference but never a value.
//!
//! The daemon reads this as root while the file belongs to a user, so every file it opens on a
//! gateway's behalf (config, includes, `.env`, secret files) goes through the guarded reader
//! (`crate::guarded`) as a regular file with one link owned by the owner of the state dir;
//! otherwise a user could have root send any file's contents as a bot token to a server of their
//! choosing.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::accounts::{Account, normalize_account_id};
use super::route::DEFAULT_ACCOUNT;
use crate::guarded::{self, GuardError, Rules};
use crate::layout::{self, GATEWAY_CONFIG};
use crate::service::config::Secret;

/// Largest `openclaw.json` read; a real one is a few KiB.
pub const MAX_GATEWAY_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// OpenClaw's own cap per `$include` file.
const MAX_INCLUDE_BYTES: u64 = 2 * 1024 * 1024;
/// OpenClaw's `maxBytes` default for file secret providers; also bounds `.env`.
const MAX_SECRET_FILE_BYTES: u64 = 1024 * 1024;
/// OpenClaw's include nesting limit.
const MAX_INCLUDE_DEPTH: usize = 10;
/// Bounds the work one config can cause, whatever its includes look like.
const MAX_INCLUDE_FILES: usize = 64;
/// Real configs nest about ten deep. The JSON5 parser recurses per level, so a file of nothing
/// but brackets would otherwise overflow the stack and abort the daemon.
const MAX_NESTING: usize = 64;
const MAX_TOKEN_BYTES: usize = 4096;

/// Where a gateway account's token came from, for diagnostics.
pub const SOURCE_LITERAL: &str = "openclaw.json";
pub const SOURCE_ENV: &str = "openclaw.json env reference";
pub const SOURCE_FILE: &str = "openclaw.json file reference";
pub const SOURCE_ENV_FALLBACK: &str = "MATTERMOST_BOT_TOKEN";

/// One usable account of a gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayAccount {
    pub account: Account,
    pub token_source: &'static str,
}

/// What a gateway's `openclaw.json` yields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GatewayAccounts {
    /// Usable accounts by (normalized) account id.
    pub accounts: BTreeMap<String, GatewayAccount>,
    /// The account a session that names none (`"default"`) uses when no account has that id.
    pub default_id: Option<String>,
    /// Accounts the gateway defines that cannot be used, with the reason (never a secret).
    pub skipped: Vec<(String, String)>,
}

impl GatewayAccounts {
    pub fn get(&self, account_id: &str) -> Option<&GatewayAccount> {
        self.accounts.get(account_id).or_else(|| {
            (account_id == DEFAULT_ACCOUNT)
                .then(|| self.accounts.get(self.default_id.as_deref()?))
                .flatten()
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    #[error("{} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error(transparent)]
    Refused(GuardError),
    #[error("{}:{line}:{column}: not valid JSON5: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}: {message}", path.display())]
    Shape { path: PathBuf, message: String },
    #[error("{}: $include {include:?}: {reason}", path.display())]
    Include {
        path: PathBuf,
        include: String,
        reason: String,
    },
}

/// Reads the Mattermost accounts of the gateway whose state dir is `state_dir`.
pub fn read_gateway_accounts(state_dir: &Path) -> Result<GatewayAccounts, GatewayConfigError> {
    let (path, owner, root) = read_root(state_dir)?;
    let mut secrets = Secrets {
        state_dir,
        owner,
        root: &root,
        dotenv: None,
    };
    accounts_of(&path, &root, &mut secrets)
}

/// OpenClaw's `agents.defaults.maxConcurrent` of the gateway, where its config sets one (a
/// positive integer); None when it sets none or the config cannot be read.
pub fn read_max_concurrent(state_dir: &Path) -> Option<u32> {
    let (_, _, root) = read_root(state_dir).ok()?;
    root.get("agents")?
        .get("defaults")?
        .get("maxConcurrent")?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// The config's top-level object with its `$include`s spliced in, its path and its owner.
fn read_root(state_dir: &Path) -> Result<(PathBuf, u32, Map<String, Value>), GatewayConfigError> {
    let path = state_dir.join(GATEWAY_CONFIG);
    let owner = std::fs::metadata(state_dir)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => GatewayConfigError::Missing { path: path.clone() },
            _ => GatewayConfigError::Unreadable {
                path: path.clone(),
                reason: format!("state dir: {e}"),
            },
        })?
        .uid();
    let bytes = match read_owned(&path, MAX_GATEWAY_CONFIG_BYTES, owner) {
        Ok(bytes) => bytes,
        Err(GuardError::NotFound { .. }) => return Err(GatewayConfigError::Missing { path }),
        Err(refused) => return Err(GatewayConfigError::Refused(refused)),
    };
    let root = parse_json5(&path, &bytes)?;
    let mut includes = Includes {
        root_dir: state_dir,
        owner,
        files: 0,
        stack: vec![path.clone()],
    };
    let root = includes.expand(root, state_dir, 0)?;
    let Value::Object(root) = root else {
        return Err(GatewayConfigError::Shape {
            path,
            message: "the top level is not an object".to_owned(),
        });
    };
    Ok((path, owner, root))
}

fn accounts_of(
    path: &Path,
    root: &Map<String, Value>,
    secrets: &mut Secrets<'_>,
) -> Result<GatewayAccounts, GatewayConfigError> {
    let mut out = GatewayAccounts::default();
    let section = root.get("channels").and_then(|c| c.get("mattermost"));
    let top = match section {
        None | Some(Value::Null) => {
            // No section: the plugin may still run on MATTERMOST_URL / MATTERMOST_BOT_TOKEN.
            if let Ok(account) = resolve_account(DEFAULT_ACCOUNT, &Map::new(), secrets) {
                out.accounts.insert(DEFAULT_ACCOUNT.to_owned(), account);
                out.default_id = Some(DEFAULT_ACCOUNT.to_owned());
            }
            return Ok(out);
        }
        Some(Value::Object(top)) => top,
        Some(_) => {
            return Err(GatewayConfigError::Shape {
                path: path.to_owned(),
                message: "channels.mattermost is not an object".to_owned(),
            });
        }
    };
    let mut base = top.clone();
    base.remove("accounts");
    base.remove("defaultAccount");

    let mut named: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    match top.get("accounts") {
        None | Some(Value::Null) => {}
        Some(Value::Object(accounts)) => {
            for (raw_id, fields) in accounts {
                let id = normalize_account_id(raw_id);
                let fields = match fields {
                    Value::Object(fields) => fields.clone(),
                    Value::Null => Map::new(),
                    _ => {
                        out.skipped
                            .push((id, "its entry is not an object".to_owned()));
                        continue;
                    }
                };
                if named.contains_key(&id) {
                    out.skipped.push((
                        id,
                        format!("{raw_id:?} repeats an account id already defined"),
                    ));
                    continue;
                }
                named.insert(id, fields);
            }
        }
        Some(_) => {
            return Err(GatewayConfigError::Shape {
                path: path.to_owned(),
                message: "channels.mattermost.accounts is not an object".to_owned(),
            });
        }
    }
    let ids: Vec<String> = if named.is_empty() {
        vec![DEFAULT_ACCOUNT.to_owned()]
    } else {
        named.keys().cloned().collect()
    };
    let preferred = top
        .get("defaultAccount")
        .and_then(Value::as_str)
        .map(normalize_account_id)
        .filter(|id| ids.contains(id));
    out.default_id = preferred.or_else(|| {
        ids.iter()
            .find(|id| *id == DEFAULT_ACCOUNT)
            .or(ids.first())
            .cloned()
    });

    let section_enabled = top.get("enabled") != Some(&Value::Bool(false));
    for id in ids {
        let mut merged = base.clone();
        if let Some(own) = named.remove(&id) {
            merged.extend(own);
        }
        if !section_enabled || merged.get("enabled") == Some(&Value::Bool(false)) {
            out.skipped
                .push((id, "disabled (enabled: false)".to_owned()));
            continue;
        }
        match resolve_account(&id, &merged, secrets) {
            Ok(account) => {
                out.accounts.insert(id, account);
            }
            Err(reason) => out.skipped.push((id, reason)),
        }
    }
    Ok(out)
}

fn resolve_account(
    id: &str,
    fields: &Map<String, Value>,
    secrets: &mut Secrets<'_>,
) -> Result<GatewayAccount, String> {
    let env_fallback = id == DEFAULT_ACCOUNT;
    let url = match fields.get("baseUrl") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => {
            let (url, _) = secrets
                .substitute(raw)
                .map_err(|var| format!("baseUrl uses ${{{var}}}, which is not set {WHERE_ENV}"))?;
            Some(url.trim().to_owned()).filter(|u| !u.is_empty())
        }
        Some(_) => return Err("baseUrl is not a string".to_owned()),
    };
    let url = match url {
        Some(url) => url,
        None if env_fallback => secrets
            .env("MATTERMOST_URL")
            .ok_or_else(|| format!("no baseUrl (nor MATTERMOST_URL {WHERE_ENV})"))?,
        None => return Err("no baseUrl".to_owned()),
    };
    let base_url = normalize_base_url(&url).ok_or_else(|| {
        "baseUrl is not an http:// or https:// URL without credentials, query or fragment"
            .to_owned()
    })?;
    let (token, token_source) = match secrets.secret_input(fields.get("botToken"))? {
        Some(found) => found,
        None if env_fallback => (
            secrets
                .env("MATTERMOST_BOT_TOKEN")
                .ok_or_else(|| format!("no botToken (nor MATTERMOST_BOT_TOKEN {WHERE_ENV})"))?,
            SOURCE_ENV_FALLBACK,
        ),
        None => return Err("no botToken".to_owned()),
    };
    let token = token.trim();
    if token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || token.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "the botToken (from {token_source}) is empty, too long, or contains whitespace"
        ));
    }
    Ok(GatewayAccount {
        account: Account {
            base_url,
            token: Secret::new(token),
        },
        token_source,
    })
}

const WHERE_ENV: &str = "in the gateway's .env or the env block of its config (the gateway's \
                         process environment is invisible to openclaw-livestatus)";

/// As OpenClaw's `normalizeMattermostBaseUrl`, plus the checks the daemon's own config applies.
pub fn normalize_base_url(raw: &str) -> Option<String> {
    let url = raw.trim().trim_end_matches('/');
    let url = match url.len().checked_sub("/api/v4".len()) {
        Some(cut) if url.is_char_boundary(cut) && url[cut..].eq_ignore_ascii_case("/api/v4") => {
            url[..cut].trim_end_matches('/')
        }
        _ => url,
    };
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let bad = url.chars().any(|c| c.is_whitespace() || c.is_control())
        || url.contains(['?', '#'])
        || authority.contains('@')
        || authority.is_empty()
        || authority.starts_with(':');
    (!bad).then(|| url.to_owned())
}

/// Resolves SecretInputs and `${VAR}` the way the gateway would, from what is on disk.
struct Secrets<'a> {
    state_dir: &'a Path,
    owner: u32,
    root: &'a Map<String, Value>,
    /// `<state dir>/.env`, read on first need.
    dotenv: Option<HashMap<String, String>>,
}

impl Secrets<'_> {
    /// OpenClaw never overrides a variable that is already set, and loads the state dir's `.env`
    /// before applying the config's `env` block; so the first of these wins. Empty counts as unset.
    fn env(&mut self, name: &str) -> Option<String> {
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

    /// Config-wide `${VAR}` substitution. Returns the text and whether a variable was used; the
    /// error is the name of a variable that is not set.
    fn substitute(&mut self, raw: &str) -> Result<(String, bool), String> {
        let mut out = String::with_capacity(raw.len());
        let mut used = false;
        let mut rest = raw;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
                continue;
            }
            let Some(body) = tail.strip_prefix("${") else {
                out.push('$');
                rest = &tail[1..];
                continue;
            };
            let Some(end) = body.find('}') else {
                out.push_str(tail);
                rest = "";
                break;
            };
            let inner = &body[..end];
            let (name, fallback) = match inner.split_once(":-") {
                Some((name, fallback)) if !fallback.contains(['$', '{']) => (name, Some(fallback)),
                Some(_) => ("", None),
                None => (inner, None),
            };
            if !is_env_name(name) {
                // Not a reference OpenClaw substitutes: the text stays as written.
                out.push_str("${");
                rest = body;
                continue;
            }
            match (self.env(name), fallback) {
                (Some(value), _) => {
                    out.push_str(&value);
                    used = true;
                }
                (None, Some(fallback)) => out.push_str(fallback),
                (None, None) => return Err(name.to_owned()),
            }
            rest = &body[end + 1..];
        }
        out.push_str(rest);
        Ok((out, used))
    }

    /// A SecretInput field: `None` when absent or empty.
    fn secret_input(
        &mut self,
        value: Option<&Value>,
    ) -> Result<Option<(String, &'static str)>, String> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(raw)) => {
                let trimmed = raw.trim();
                // `"$VAR"` is the documented shorthand of `"${VAR}"` for secret fields.
                if let Some(name) = trimmed.strip_prefix('$').filter(|n| is_env_name(n)) {
                    return self
                        .env(name)
                        .map(|v| Some((v, SOURCE_ENV)))
                        .ok_or_else(|| {
                            format!("botToken is ${name}, which is not set {WHERE_ENV}")
                        });
                }
                let (token, used) = self.substitute(trimmed).map_err(|var| {
                    format!("botToken uses ${{{var}}}, which is not set {WHERE_ENV}")
                })?;
                let source = if used { SOURCE_ENV } else { SOURCE_LITERAL };
                Ok(Some((token, source)).filter(|(t, _)| !t.trim().is_empty()))
            }
            Some(Value::Object(reference)) => self.secret_ref(reference).map(Some),
            Some(_) => Err("botToken is neither a string nor a SecretRef object".to_owned()),
        }
    }

    fn secret_ref(
        &mut self,
        reference: &Map<String, Value>,
    ) -> Result<(String, &'static str), String> {
        let text = |k: &str| reference.get(k).and_then(Value::as_str).map(str::trim);
        let (Some(source), Some(id)) = (text("source"), text("id")) else {
            return Err(
                "botToken is an object without the SecretRef fields source and id".to_owned(),
            );
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
        match source {
            "env" => {
                if let Some(config) = provider_config {
                    if config.get("source").and_then(Value::as_str) != Some("env") {
                        return Err(format!(
                            "botToken SecretRef {label}: provider {provider:?} is not an env provider"
                        ));
                    }
                    if let Some(allow) = config.get("allowlist").and_then(Value::as_array)
                        && !allow.iter().any(|a| a.as_str() == Some(id))
                    {
                        return Err(format!(
                            "botToken SecretRef {label}: {id} is not in the provider's allowlist"
                        ));
                    }
                } else if provider != "default" {
                    return Err(format!(
                        "botToken SecretRef {label}: no such provider in secrets.providers"
                    ));
                }
                if !is_env_name(id) {
                    return Err(format!(
                        "botToken SecretRef {label}: not an env variable name"
                    ));
                }
                self.env(id).map(|v| (v, SOURCE_ENV)).ok_or_else(|| {
                    format!("botToken SecretRef {label}: {id} is not set {WHERE_ENV}")
                })
            }
            "file" => {
                let Some(config) = provider_config
                    .filter(|c| c.get("source").and_then(Value::as_str) == Some("file"))
                else {
                    return Err(format!(
                        "botToken SecretRef {label}: no file provider {provider:?} in \
                         secrets.providers"
                    ));
                };
                self.read_file_secret(config, id)
                    .map(|v| (v, SOURCE_FILE))
                    .map_err(|why| format!("botToken SecretRef {label}: {why}"))
            }
            "exec" | "store" => Err(format!(
                "botToken is the {source} SecretRef {label}; openclaw-livestatus does not run \
                 secret commands or open secret stores — name this account in its own config \
                 ([mattermost.accounts.<id>])"
            )),
            other => Err(format!("botToken SecretRef has unknown source {other:?}")),
        }
    }

    fn read_file_secret(
        &mut self,
        provider: &Map<String, Value>,
        id: &str,
    ) -> Result<String, String> {
        let raw_path = provider
            .get("path")
            .and_then(Value::as_str)
            .ok_or("the provider has no path")?;
        let (raw_path, _) = self
            .substitute(raw_path)
            .map_err(|var| format!("its path uses ${{{var}}}, which is not set"))?;
        let path = match raw_path.strip_prefix("~/") {
            Some(rest) => home_of(self.state_dir)
                .ok_or("its path starts with ~ and the gateway's home is unknown")?
                .join(rest),
            None => PathBuf::from(&raw_path),
        };
        if !path.is_absolute() {
            return Err("its path is not absolute".to_owned());
        }
        let bytes =
            read_owned(&path, MAX_SECRET_FILE_BYTES, self.owner).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes).map_err(|_| "the file is not UTF-8 text".to_owned())?;
        match provider
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("json")
        {
            "singleValue" => {
                if id != "value" {
                    return Err("a singleValue provider takes only the id \"value\"".to_owned());
                }
                Ok(text.trim_end_matches(['\r', '\n']).to_owned())
            }
            "json" => {
                if !id.starts_with('/') {
                    return Err("the id is not a JSON pointer".to_owned());
                }
                let doc: Value = serde_json::from_str(&text)
                    .map_err(|_| "the file is not valid JSON".to_owned())?;
                doc.pointer(id)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| "the pointer names no string in the file".to_owned())
            }
            other => Err(format!("unknown provider mode {other:?}")),
        }
    }
}

/// An env var name OpenClaw substitutes (`[A-Z_][A-Z0-9_]*`, at most 128).
fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 128
}

/// `~` of the user whose state dir this is: its parent, when the dir has a state dir's name.
fn home_of(state_dir: &Path) -> Option<&Path> {
    layout::is_state_dir_name(state_dir.file_name()?)
        .then(|| state_dir.parent())
        .flatten()
}

/// dotenv's format: `KEY=value`, optional `export `, `#` comments, single or double quotes.
fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let key_ok = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            continue;
        }
        let value = value.trim();
        let value = if let Some(quoted) = value.strip_prefix('"') {
            let inner = quoted.rfind('"').map_or(quoted, |end| &quoted[..end]);
            inner.replace("\\n", "\n").replace("\\\"", "\"")
        } else if let Some(quoted) = value.strip_prefix('\'') {
            quoted
                .rfind('\'')
                .map_or(quoted, |end| &quoted[..end])
                .to_owned()
        } else {
            value
                .split_once(" #")
                .map_or(value, |(v, _)| v)
                .trim()
                .to_owned()
        };
        vars.insert(key.to_owned(), value);
    }
    vars
}

/// A file of the gateway's: owned by the state dir's owner (see the module doc).
fn read_owned(path: &Path, max: u64, owner: u32) -> Result<Vec<u8>, GuardError> {
    guarded::read(path, &Rules::owned_by(owner, "the state dir's owner", max))
}

fn parse_json5(path: &Path, bytes: &[u8]) -> Result<Value, GatewayConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = &bytes[..e.valid_up_to()];
        GatewayConfigError::Syntax {
            path: path.to_owned(),
            line: at.iter().filter(|b| **b == b'\n').count() + 1,
            column: at.iter().rev().take_while(|b| **b != b'\n').count() + 1,
            message: "not UTF-8 text".to_owned(),
        }
    })?;
    if nesting_exceeds(text, MAX_NESTING) {
        return Err(GatewayConfigError::Shape {
            path: path.to_owned(),
            message: format!("nested more than {MAX_NESTING} levels deep"),
        });
    }
    json5::from_str::<Value>(text).map_err(|e| {
        let json5::Error::Message { msg, location } = e;
        let (line, column) = location.map_or((0, 0), |l| (l.line, l.column));
        // The parser's message quotes the offending line, which may hold a token: keep only its
        // "expected …" part.
        let message = msg
            .lines()
            .find_map(|l| l.trim().strip_prefix("= "))
            .unwrap_or("syntax error")
            .to_owned();
        GatewayConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    })
}

/// Whether brackets nest deeper than `max`, outside strings and comments.
fn nesting_exceeds(text: &str, max: usize) -> bool {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != quote {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// `$include` expansion, as OpenClaw's config loader does it.
struct Includes<'a> {
    root_dir: &'a Path,
    owner: u32,
    files: usize,
    /// The chain of files being expanded, to refuse a cycle.
    stack: Vec<PathBuf>,
}

impl Includes<'_> {
    fn expand(
        &mut self,
        value: Value,
        dir: &Path,
        depth: usize,
    ) -> Result<Value, GatewayConfigError> {
        match value {
            Value::Object(mut map) => {
                let spec = map.remove("$include");
                let mut siblings = Map::with_capacity(map.len());
                for (k, v) in map {
                    siblings.insert(k, self.expand(v, dir, depth)?);
                }
                let Some(spec) = spec else {
                    return Ok(Value::Object(siblings));
                };
                let mut merged = match spec {
                    Value::String(one) => self.load(&one, dir, depth)?,
                    Value::Array(many) => {
                        let mut merged = Value::Object(Map::new());
                        for item in many {
                            let Value::String(one) = item else {
                                return Err(self.error("(list)", "entries must be paths"));
                            };
                            let value = self.load(&one, dir, depth)?;
                            deep_merge(&mut merged, value);
                        }
                        merged
                    }
                    _ => return Err(self.error("(value)", "must be a path or a list of paths")),
                };
                if siblings.is_empty() {
                    return Ok(merged);
                }
                if !merged.is_object() {
                    return Err(self.error(
                        "(value)",
                        "the included value is not an object, but keys sit beside $include",
                    ));
                }
                deep_merge(&mut merged, Value::Object(siblings));
                Ok(merged)
            }
            Value::Array(items) => items
                .into_iter()
                .map(|v| self.expand(v, dir, depth))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other),
        }
    }

    fn load(&mut self, raw: &str, dir: &Path, depth: usize) -> Result<Value, GatewayConfigError> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(self.error(raw, "includes nest more than 10 deep"));
        }
        if raw.is_empty() || raw.contains('\0') || raw.len() >= 4096 {
            return Err(self.error(raw, "not a usable path"));
        }
        let path = lexical_join(dir, Path::new(raw))
            .filter(|p| p.starts_with(self.root_dir))
            .ok_or_else(|| {
                self.error(
                    raw,
                    "resolves outside the config's directory (not followed)",
                )
            })?;
        if self.stack.contains(&path) {
            return Err(self.error(raw, "includes itself"));
        }
        self.files += 1;
        if self.files > MAX_INCLUDE_FILES {
            return Err(self.error(raw, "too many included files"));
        }
        let bytes = read_owned(&path, MAX_INCLUDE_BYTES, self.owner).map_err(|e| {
            let why = match e {
                GuardError::NotFound { .. } => "does not exist".to_owned(),
                refused => refused.to_string(),
            };
            self.error(raw, &why)
        })?;
        let value = parse_json5(&path, &bytes)?;
        let parent = path.parent().unwrap_or(self.root_dir).to_owned();
        self.stack.push(path);
        let expanded = self.expand(value, &parent, depth + 1);
        self.stack.pop();
        expanded
    }

    fn error(&self, include: &str, reason: &str) -> GatewayConfigError {
        GatewayConfigError::Include {
            path: self.stack.last().cloned().unwrap_or_default(),
            include: include.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// `dir/rel` with `.` and `..` resolved on the text; `None` if it climbs above `/`.
fn lexical_join(dir: &Path, rel: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in dir.join(rel).components() {
        match part {
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Objects merge key by key, recursively; anything else is replaced.
fn deep_merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                match into.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        into.insert(k, v);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

#[cfg(test)]
mod tests;
