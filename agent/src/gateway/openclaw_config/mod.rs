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

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::account::Account;
use super::route::DEFAULT_ACCOUNT;
use crate::guarded::{self, GuardError, Rules};
use crate::layout::GATEWAY_CONFIG;

mod dotenv;
mod error;
mod include;
mod merge;
mod parse;
mod secrets;
mod vars;

pub use error::{AccountError, FileSecretError, RefProblem};
pub use merge::normalize_base_url;

use include::Includes;
use merge::accounts_of;
use parse::parse_json5;
use secrets::Secrets;

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

/// A file of the gateway's: owned by the state dir's owner (see the module doc).
pub(super) fn read_owned(path: &Path, max: u64, owner: u32) -> Result<Vec<u8>, GuardError> {
    guarded::read(path, &Rules::owned_by(owner, "the state dir's owner", max))
}

#[cfg(test)]
mod tests;
