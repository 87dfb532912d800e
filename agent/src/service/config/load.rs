//! Loading: the defaults, then the file, then the legacy environment, then the checks that
//! need every source (a Mattermost URL from wherever it came, warnings about the result).

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, MattermostConfig, MattermostMode, Origin, env, file, rules};
use crate::guarded::{self, Owner};

pub const DEFAULT_CONFIG_PATH: &str = "/etc/openclaw-livestatus/config.toml";

/// A config file is a few KiB; anything near this is the wrong file (or `/dev/zero`).
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Where to read the file from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource<'a> {
    /// [`DEFAULT_CONFIG_PATH`]; if it does not exist, the defaults (and environment) apply.
    Default,
    /// A file the user named (`--config`): it must exist.
    Explicit(&'a Path),
}

impl ConfigSource<'_> {
    pub fn path(&self) -> &Path {
        match self {
            ConfigSource::Default => Path::new(DEFAULT_CONFIG_PATH),
            ConfigSource::Explicit(path) => path,
        }
    }
}

#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// The file that was read; `None` when the default path does not exist.
    pub file: Option<PathBuf>,
    /// Things that work but deserve the operator's attention; log each once at startup.
    pub warnings: Vec<String>,
}

/// The process environment, as `load` wants it; a non-UTF-8 value counts as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Builds the configuration: defaults, then the file (see [`ConfigSource`]), then the legacy
/// environment variables, looked up through `env` (pass [`process_env`] in the daemon).
pub fn load(
    source: ConfigSource<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let required = matches!(source, ConfigSource::Explicit(_));
    load_at(source.path(), required, env)
}

/// `load` with the file's path open, so tests need not touch the real default path.
pub(super) fn load_at(
    path: &Path,
    required: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut draft = Draft::default();
    let file = match read_config_file(path)? {
        Some((text, world_readable)) => {
            file::apply(path, &text, world_readable, &mut draft, &mut warnings)?;
            Some(path.to_path_buf())
        }
        None if required => {
            return Err(ConfigError::NotFound {
                path: path.to_path_buf(),
            });
        }
        None => None,
    };
    env::apply(env, &mut draft, &mut warnings)?;
    let config = draft.finish(&mut warnings)?;
    Ok(Loaded {
        config,
        file,
        warnings,
    })
}

/// `load` of a file's text already read, as if it were at `path` (which errors name): the
/// file's values, then `env`, then the final checks. For the fuzz targets (fuzz/), which feed
/// it arbitrary text; the daemon goes through `load`, which also reads and checks the file.
pub fn load_text(
    path: &Path,
    text: &str,
    world_readable: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    let mut warnings = Vec::new();
    let mut draft = Draft::default();
    file::apply(path, text, world_readable, &mut draft, &mut warnings)?;
    env::apply(env, &mut draft, &mut warnings)?;
    let config = draft.finish(&mut warnings)?;
    Ok(Loaded {
        config,
        file: Some(path.to_path_buf()),
        warnings,
    })
}

/// The text, and whether other users can read it (it may hold a token); `None` if absent. An
/// admin's file, read through the guarded reader (see `read_token_file`).
fn read_config_file(path: &Path) -> Result<Option<(String, bool)>, ConfigError> {
    let read_error = |why| ConfigError::Read {
        path: path.to_path_buf(),
        why,
    };
    let opened = match guarded::open(path, &Owner::Admin) {
        Ok(opened) => opened,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    // fstat the opened file, so the mode belongs to the text we read.
    let mode = opened
        .file
        .metadata()
        .map(|m| m.permissions().mode())
        .unwrap_or(0);
    let bytes = opened.read_all(MAX_CONFIG_BYTES).map_err(read_error)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        read_error(guarded::GuardError::Io {
            path: path.to_path_buf(),
            op: "read it as text",
            error: io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()),
        })
    })?;
    Ok(Some((text, mode & 0o004 != 0)))
}

/// The configuration while sources are applied: Mattermost stays apart until the end, since
/// its URL may come from a later source than its other keys.
pub(super) struct Draft {
    pub(super) config: Config,
    pub(super) mattermost: MattermostConfig,
    /// Where Mattermost was asked for (a `[mattermost]` table, `MM_TOKEN`): a URL is required.
    pub(super) mattermost_wanted: Option<Origin>,
    /// Mattermost-only variables, harmless without a server.
    pub(super) mattermost_env_only: Vec<&'static str>,
    /// Keys the file set, so an environment override can be pointed out.
    pub(super) from_file: Vec<String>,
    /// Where each `[mattermost.accounts.<id>]` was written, for errors found at the end.
    pub(super) account_origins: BTreeMap<String, Origin>,
}

impl Default for Draft {
    fn default() -> Self {
        Draft {
            config: Config::default(),
            mattermost: MattermostConfig::new(""),
            mattermost_wanted: None,
            mattermost_env_only: Vec::new(),
            from_file: Vec::new(),
            account_origins: BTreeMap::new(),
        }
    }
}

impl Draft {
    pub(super) fn finish(self, warnings: &mut Vec<String>) -> Result<Config, ConfigError> {
        let mut config = self.config;
        if config.plugin.mode == MattermostMode::Rest
            && (config.plugin.secret.is_some() || config.plugin.secret_file.is_some())
        {
            warnings.push(
                "a plugin secret is set but mattermost.mode = \"rest\": the plugin is not used"
                    .to_owned(),
            );
        }
        if let Some(f) = &config.plugin.secret_file {
            warnings.extend(token_file_warning("mattermost.plugin_secret_file", Some(f)));
        }
        let mut m = self.mattermost;
        for (id, account) in &m.accounts {
            let origin = self
                .account_origins
                .get(id)
                .cloned()
                .unwrap_or(Origin::Effective);
            rules::account_complete(&origin, id, &m.url, account)?;
            if let Some(url) = &account.url {
                warnings.extend(rules::plain_http_warning(url));
            }
            warnings.extend(token_file_warning(
                &format!("mattermost.accounts.{id}.token_file"),
                account.token_file.as_deref(),
            ));
        }
        if m.url.is_empty() && !m.accounts.is_empty() {
            if m.token.is_some() || m.token_file.is_some() {
                warnings.push(
                    "a top-level mattermost token is set but mattermost.url is not: there is no \
                     configured account `default`, and named accounts never inherit a token; \
                     ignored"
                        .to_owned(),
                );
                m.token = None;
                m.token_file = None;
            }
            config.mattermost = Some(m);
        } else if !m.url.is_empty() {
            warnings.extend(rules::plain_http_warning(&m.url));
            if m.token.is_some() && m.token_file.is_some() {
                warnings.push(
                    "both a literal mattermost.token and mattermost.token_file are set; the \
                     literal is used"
                        .to_owned(),
                );
            }
            warnings.extend(token_file_warning(
                "mattermost.token_file",
                m.token_file.as_deref(),
            ));
            config.mattermost = Some(m);
        } else if let Some(origin) = self.mattermost_wanted {
            return Err(ConfigError::Missing {
                origin,
                message: "Mattermost is configured but has no URL: set mattermost.url (or \
                          MM_URL), name accounts in [mattermost.accounts.<id>] tables, or \
                          remove the [mattermost] table to show boxes in the terminal only"
                    .to_owned(),
            });
        } else if !self.mattermost_env_only.is_empty() {
            warnings.push(format!(
                "{} set, but Mattermost is not configured (no mattermost.url or MM_URL); ignored",
                self.mattermost_env_only.join(", ")
            ));
        }
        let s = &config.session;
        if s.idle_timeout_s > s.max_session_duration_s {
            warnings.push(format!(
                "session.idle_timeout_s ({}) exceeds session.max_session_duration_s ({}): \
                 sessions end at the maximum duration before they can go idle",
                s.idle_timeout_s, s.max_session_duration_s
            ));
        }
        Ok(config)
    }
}

fn token_file_warning(key: &str, path: Option<&Path>) -> Option<String> {
    let path = path?;
    let readable = std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o004 != 0);
    readable.then(|| {
        format!(
            "{key} {} is readable by every user on this host; chmod 600 it",
            path.display()
        )
    })
}

/// Keeps the first of equal gateways; a repeat is harmless but likely a copy-paste slip.
pub(super) fn dedup_gateways(gateways: Vec<PathBuf>, warnings: &mut Vec<String>) -> Vec<PathBuf> {
    let mut unique: Vec<PathBuf> = Vec::with_capacity(gateways.len());
    for gateway in gateways {
        if unique.contains(&gateway) {
            warnings.push(format!(
                "gateway {} is listed more than once",
                gateway.display()
            ));
        } else {
            unique.push(gateway);
        }
    }
    unique
}
