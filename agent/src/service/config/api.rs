//! `[api]` (the local HTTP listener) and `[uploader]` (the periodic status POST): their values,
//! defaults and rules, and where their secrets come from.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::rules::{self, IntRule, quote};
use super::{ConfigError, Origin, Secret};
use crate::guarded::{self, Rules};

/// The systemd credential (`LoadCredential=api-secret:…`) holding `api.secret`.
pub const API_SECRET_CREDENTIAL: &str = "api-secret";
/// The systemd credential holding the uploader's bearer token.
pub const UPLOADER_TOKEN_CREDENTIAL: &str = "uploader-token";
/// The status monitor's own variable for its token; honoured as the last source.
pub const MONITOR_TOKEN_ENV: &str = "MONITOR_PLATFORM_TOKEN";

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9090";
const MAX_SECRET_BYTES: u64 = 4096;

pub(super) const MAX_CONCURRENT: IntRule = IntRule {
    key: "api.max_concurrent",
    min: 1,
    max: 10_000,
    unit: "sessions",
};
pub(super) const INTERVAL_MINUTES: IntRule = IntRule {
    key: "uploader.interval_minutes",
    min: 1,
    max: 1_440,
    unit: "minutes",
};
pub(super) const HEALTH_PORT: IntRule = IntRule {
    key: "api.listen",
    min: 1,
    max: 65_535,
    unit: "a TCP port",
};

/// Where the API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    Off,
    Tcp(SocketAddr),
    /// A Unix socket path (`unix:/run/openclaw-livestatus/api.sock`).
    Unix(PathBuf),
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Off => f.write_str("off"),
            Listen::Tcp(addr) => write!(f, "{addr}"),
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Why a listen address does not parse; `expected` is the text every error shows.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseListenError;

impl ParseListenError {
    pub const EXPECTED: &'static str = "an IP address and port like 127.0.0.1:9090 or [::1]:9090, \
         unix:/run/openclaw-livestatus/api.sock (an absolute path), or off";
}

impl fmt::Display for ParseListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}", Self::EXPECTED)
    }
}

impl std::error::Error for ParseListenError {}

impl FromStr for Listen {
    type Err = ParseListenError;

    fn from_str(raw: &str) -> Result<Listen, ParseListenError> {
        let s = raw.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        if let Some(path) = s.strip_prefix("unix:") {
            let path = Path::new(path);
            if !path.is_absolute()
                || path
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(ParseListenError);
            }
            return Ok(Listen::Unix(rules::normalize(path)));
        }
        s.parse::<SocketAddr>()
            .map(Listen::Tcp)
            .map_err(|_| ParseListenError)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    pub listen: Listen,
    /// A literal bearer secret; wins over `secret_file`.
    pub secret: Option<Secret>,
    pub secret_file: Option<PathBuf>,
    /// `maxConcurrent` of `/v1/status` where a gateway's config sets none.
    pub max_concurrent: u32,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], 9090))),
            secret: None,
            secret_file: None,
            max_concurrent: 8,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploaderConfig {
    /// Where to POST; None: only gateways with their own monitor credentials file upload.
    pub url: Option<String>,
    pub interval_minutes: u64,
    /// A literal token; wins over `token_file`.
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
}

impl Default for UploaderConfig {
    fn default() -> Self {
        UploaderConfig {
            url: None,
            interval_minutes: 5,
            token: None,
            token_file: None,
        }
    }
}

impl UploaderConfig {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_minutes * 60)
    }

    /// The uploader's token for `url`: the literal, the file, the systemd credential
    /// `uploader-token`, then `$MONITOR_PLATFORM_TOKEN`; None when none is set.
    pub fn read_token(
        &self,
        credentials_dir: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Secret>, ConfigError> {
        if let Some(token) = &self.token {
            return secret("uploader.token", token.expose()).map(Some);
        }
        if let Some(path) = &self.token_file {
            return read_secret_file(path).map(Some);
        }
        if let Some(dir) = credentials_dir {
            match read_secret_file(&dir.join(UPLOADER_TOKEN_CREDENTIAL)) {
                Err(ConfigError::SecretRead { why, .. }) if why.is_not_found() => {}
                other => return other.map(Some),
            }
        }
        match env(MONITOR_TOKEN_ENV).filter(|v| !v.trim().is_empty()) {
            Some(raw) => secret(MONITOR_TOKEN_ENV, &raw).map(Some),
            None => Ok(None),
        }
    }
}

impl ApiConfig {
    /// The bearer secret: the literal, the file, then the systemd credential `api-secret`;
    /// None: the API answers without one.
    pub fn read_secret(
        &self,
        credentials_dir: Option<&Path>,
    ) -> Result<Option<Secret>, ConfigError> {
        if let Some(s) = &self.secret {
            return secret("api.secret", s.expose()).map(Some);
        }
        if let Some(path) = &self.secret_file {
            return read_secret_file(path).map(Some);
        }
        if let Some(dir) = credentials_dir {
            return match read_secret_file(&dir.join(API_SECRET_CREDENTIAL)) {
                Err(ConfigError::SecretRead { why, .. }) if why.is_not_found() => Ok(None),
                other => other.map(Some),
            };
        }
        Ok(None)
    }
}

pub(super) fn listen(origin: &Origin, raw: &str) -> Result<Listen, ConfigError> {
    raw.parse::<Listen>().map_err(|_| ConfigError::Value {
        origin: origin.clone(),
        key: "api.listen".to_owned(),
        value: quote(raw),
        expected: ParseListenError::EXPECTED.to_owned(),
    })
}

/// The old daemon's `HEALTH_PORT`: its /health on that port, on loopback.
pub(super) fn health_port(origin: &Origin, raw: &str) -> Result<Listen, ConfigError> {
    let port = HEALTH_PORT.parse(origin, raw)?;
    let port = HEALTH_PORT.check(origin, port)?;
    let port = u16::try_from(port).map_err(|_| ConfigError::Value {
        origin: origin.clone(),
        key: "api.listen".to_owned(),
        value: quote(raw),
        expected: "a TCP port in 1..=65535".to_owned(),
    })?;
    Ok(Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], port))))
}

/// Normalizes a secret however it arrived; `from` names the source, never the value.
pub(super) fn secret(from: &str, raw: &str) -> Result<Secret, ConfigError> {
    rules::token(from, raw).map_err(|e| match e {
        ConfigError::BadToken { from, problem } => ConfigError::BadSecret { from, problem },
        other => other,
    })
}

/// An admin's secret file, read through the guarded reader as the Mattermost token files are.
fn read_secret_file(path: &Path) -> Result<Secret, ConfigError> {
    let bytes = guarded::read(path, &Rules::admin(MAX_SECRET_BYTES)).map_err(|why| {
        ConfigError::SecretRead {
            path: path.to_path_buf(),
            why,
        }
    })?;
    let from = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::BadSecret {
        from: from.clone(),
        problem: "is not UTF-8 text".to_owned(),
    })?;
    secret(&from, &text)
}
