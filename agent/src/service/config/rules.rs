//! The acceptable values of every key, shared by the file, the environment and
//! `Config::validate` (which re-checks after command-line flags), so the three can never disagree.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{ConfigError, DEFAULT_ACCOUNT, MattermostAccountConfig, Origin, Secret, TierChoice};
use crate::layout::SESSIONS_INDEX;

/// An integer key and its accepted range.
pub(super) struct IntRule {
    pub key: &'static str,
    pub min: u64,
    pub max: u64,
    pub unit: &'static str,
}

pub(super) const POLL_INTERVAL_MS: IntRule = IntRule {
    key: "watch.poll_interval_ms",
    min: 100,
    max: 60_000,
    unit: "milliseconds",
};
pub(super) const SAFETY_NET_INTERVAL_MS: IntRule = IntRule {
    key: "watch.safety_net_interval_ms",
    min: 1_000,
    max: 3_600_000,
    unit: "milliseconds",
};
pub(super) const IDLE_TIMEOUT_S: IntRule = IntRule {
    key: "session.idle_timeout_s",
    min: 1,
    max: 86_400,
    unit: "seconds",
};
pub(super) const MAX_SESSION_DURATION_S: IntRule = IntRule {
    key: "session.max_session_duration_s",
    min: 1,
    max: 604_800,
    unit: "seconds",
};
pub(super) const MAX_STATUS_LINES: IntRule = IntRule {
    key: "render.max_status_lines",
    min: 1,
    max: 500,
    unit: "lines",
};
pub(super) const MAX_MESSAGE_CHARS: IntRule = IntRule {
    key: "render.max_message_chars",
    min: 256,
    max: 65_535,
    unit: "characters",
};
pub(super) const THROTTLE_MS: IntRule = IntRule {
    key: "mattermost.throttle_ms",
    min: 0,
    max: 60_000,
    unit: "milliseconds",
};
pub(super) const MAX_ACTIVE_SESSIONS: IntRule = IntRule {
    key: "mattermost.max_active_sessions",
    min: 1,
    max: 1_000,
    unit: "sessions",
};

/// `watch.max_host_cost`: a factor like 1.05, kept in hundredths so the config stays `Eq`.
pub(super) const MAX_HOST_COST_KEY: &str = "watch.max_host_cost";

pub(super) fn max_host_cost(origin: &Origin, value: f64) -> Result<u64, ConfigError> {
    if value.is_finite() && (1.0..=100.0).contains(&value) {
        return Ok((value * 100.0).round() as u64);
    }
    Err(ConfigError::Value {
        origin: origin.clone(),
        key: MAX_HOST_COST_KEY.to_owned(),
        value: value.to_string(),
        expected: "a factor in 1.0..=100.0 (1.05: a kernel tier may make other processes' \
                   system calls at most 5 % slower)"
            .to_owned(),
    })
}

impl IntRule {
    fn expected(&self) -> String {
        format!("an integer in {}..={} ({})", self.min, self.max, self.unit)
    }

    fn error(&self, origin: &Origin, shown: String) -> ConfigError {
        ConfigError::Value {
            origin: origin.clone(),
            key: self.key.to_owned(),
            value: shown,
            expected: self.expected(),
        }
    }

    /// i128 holds every i64 (from TOML) and u64 (from a `Config`) without loss.
    pub fn check(&self, origin: &Origin, value: i128) -> Result<u64, ConfigError> {
        u64::try_from(value)
            .ok()
            .filter(|v| (self.min..=self.max).contains(v))
            .ok_or_else(|| self.error(origin, value.to_string()))
    }

    /// `check`, as the type the value is kept in (a count is a `usize`).
    pub fn check_as<T: TryFrom<u64>>(
        &self,
        origin: &Origin,
        value: i128,
    ) -> Result<T, ConfigError> {
        let v = self.check(origin, value)?;
        T::try_from(v).map_err(|_| self.error(origin, value.to_string()))
    }

    /// Parses an environment value; the error shows it quoted, since it is arbitrary text.
    pub fn parse(&self, origin: &Origin, raw: &str) -> Result<i128, ConfigError> {
        raw.trim()
            .parse::<i128>()
            .map_err(|_| self.error(origin, quote(raw)))
    }
}

pub(super) fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn bad(origin: &Origin, key: &str, value: String, expected: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        origin: origin.clone(),
        key: key.to_owned(),
        value,
        expected: expected.into(),
    }
}

pub(super) fn tier(origin: &Origin, raw: &str) -> Result<TierChoice, ConfigError> {
    raw.parse::<TierChoice>()
        .map_err(|e| bad(origin, "watch.tier", quote(raw), e.expected()))
}

/// A gateway is an OpenClaw state dir, named absolutely and without `..` because the watch
/// stages match event paths against it lexically.
pub(super) fn gateway(origin: &Origin, path: &Path) -> Result<PathBuf, ConfigError> {
    const KEY: &str = "watch.gateways";
    const SHAPE: &str = "an absolute path to an OpenClaw state dir, like /home/alice/.openclaw";
    if !path.is_absolute() {
        return Err(bad(origin, KEY, format!("{path:?}"), SHAPE));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(bad(
            origin,
            KEY,
            format!("{path:?}"),
            format!("{SHAPE}, without `..`"),
        ));
    }
    if let Some(state) = state_of_sessions_dir(path).or_else(|| state_of_sessions_json(path)) {
        return Err(bad(
            origin,
            KEY,
            format!("{path:?}"),
            format!(
                "the gateway's state dir ({}), not a path inside it; every agent of a gateway \
                 is followed",
                state.display()
            ),
        ));
    }
    Ok(normalize(path))
}

/// Drops `.` components and trailing or doubled slashes, so equal dirs compare equal.
pub(super) fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

pub(super) fn absolute_path(
    origin: &Origin,
    key: &str,
    path: &Path,
) -> Result<PathBuf, ConfigError> {
    // The service runs with cwd `/`; a relative path would silently mean something else there.
    if path.is_absolute() {
        Ok(normalize(path))
    } else {
        Err(bad(origin, key, format!("{path:?}"), "an absolute path"))
    }
}

/// `<state>/agents/<agent>/sessions` → `<state>`.
pub(super) fn state_of_sessions_dir(path: &Path) -> Option<PathBuf> {
    let parts: Vec<Component> = path.components().collect();
    match parts.as_slice() {
        [
            state @ ..,
            Component::Normal(agents),
            Component::Normal(_),
            Component::Normal(sessions),
        ] if *agents == "agents" && *sessions == "sessions" => state_prefix(path, state),
        _ => None,
    }
}

/// `<state>/agents/<agent>/sessions/sessions.json` → `<state>`.
pub(super) fn state_of_sessions_json(path: &Path) -> Option<PathBuf> {
    let parts: Vec<Component> = path.components().collect();
    match parts.as_slice() {
        [
            state @ ..,
            Component::Normal(agents),
            Component::Normal(_),
            Component::Normal(sessions),
            Component::Normal(index),
        ] if *agents == "agents" && *sessions == "sessions" && *index == SESSIONS_INDEX => {
            state_prefix(path, state)
        }
        _ => None,
    }
}

fn state_prefix(path: &Path, state: &[Component]) -> Option<PathBuf> {
    let named = state.iter().any(|c| matches!(c, Component::Normal(_)));
    let climbs = state.contains(&Component::ParentDir);
    (path.is_absolute() && named && !climbs).then(|| state.iter().collect())
}

/// Accepts the server's base URL (a sub-path is fine, Mattermost can live under one) and returns
/// it without trailing slashes, so the sinks can append `/api/v4/...`.
pub(super) fn url(origin: &Origin, key: &str, raw: &str) -> Result<String, ConfigError> {
    let fail = |expected: &str| bad(origin, key, quote(&redact_url(raw)), expected);
    let trimmed = raw.trim_end_matches('/');
    let Some(rest) = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
    else {
        return Err(fail(
            "an http:// or https:// URL, like https://chat.example.com",
        ));
    };
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail("a URL without spaces or control characters"));
    }
    if raw.contains(['?', '#']) {
        return Err(fail("the server's base URL, without ?query or #fragment"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        // Credentials in the URL would end up in logs; the token has its own keys.
        return Err(fail(
            "a URL without user:password@ (the token is configured separately)",
        ));
    }
    let (host, port) = split_host_port(authority);
    if host.is_empty() {
        return Err(fail(
            "a URL with a host name, like https://chat.example.com",
        ));
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(fail("a URL whose port is a number in 1..=65535"));
    }
    Ok(trimmed.to_owned())
}

/// A refused URL is echoed in the error, but a password or a `?token=` in it must not be.
fn redact_url(raw: &str) -> String {
    let (base, tail) = raw.split_at(raw.find(['?', '#']).unwrap_or(raw.len()));
    let tail = if tail.is_empty() { "" } else { "?[redacted]" };
    let (scheme, rest) = match base.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), base),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let rest = match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}@{}", super::REDACTED, &rest[at + 1..]),
        None => rest.to_owned(),
    };
    format!("{scheme}{rest}{tail}")
}

fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if let Some(v6) = authority.strip_prefix('[') {
        return match v6.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, tail)) => (host, Some(tail.strip_prefix(':').unwrap_or(tail))),
            None => ("", None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// Plain http is fine on the same host; anywhere else the bot token crosses the network in clear.
pub(super) fn plain_http_warning(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, _) = split_host_port(authority);
    let local = host == "localhost" || host == "::1" || host.starts_with("127.");
    (!local).then(|| {
        format!("mattermost.url {url} is plain http: the bot token travels unencrypted; use https")
    })
}

/// Mattermost ids are 26 lowercase alphanumerics; a channel *name* here is a common mistake that
/// would otherwise only show up as 404s at the first unbound session.
pub(super) fn channel_id(origin: &Origin, key: &str, raw: &str) -> Result<String, ConfigError> {
    let id = raw.trim();
    let ok = id.len() == 26
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(id.to_owned())
    } else {
        Err(bad(
            origin,
            key,
            quote(raw),
            "a Mattermost channel id (26 lowercase letters and digits, shown in the channel's \
             View Info), not a channel name",
        ))
    }
}

/// A `[mattermost.accounts.<id>]` name, in the shape OpenClaw normalizes account ids to, so
/// that it compares equal to the `accountId` the gateways record.
pub(super) fn account_id(origin: &Origin, raw: &str) -> Result<String, ConfigError> {
    let mut bytes = raw.bytes();
    let ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && raw.len() <= 64;
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(bad(
            origin,
            "mattermost.accounts",
            quote(raw),
            "an OpenClaw account id: 1 to 64 lowercase letters, digits, `_` or `-`, starting \
             with a letter or digit (the `accountId` of the gateway's channels.mattermost.accounts)",
        ))
    }
}

/// A named account needs a server, its own or the top-level one; and the top-level server
/// already is the account `default`.
pub(super) fn account_complete(
    origin: &Origin,
    id: &str,
    top_url: &str,
    account: &MattermostAccountConfig,
) -> Result<(), ConfigError> {
    if id == DEFAULT_ACCOUNT && !top_url.is_empty() {
        return Err(bad(
            origin,
            "mattermost.accounts",
            quote(id),
            "another account id: the top-level mattermost.url and token already are the \
             account `default`",
        ));
    }
    if account.url.is_none() && top_url.is_empty() {
        return Err(ConfigError::Missing {
            origin: origin.clone(),
            message: format!(
                "mattermost.accounts.{id} has no url, and there is no top-level mattermost.url \
                 to inherit"
            ),
        });
    }
    Ok(())
}

pub(super) fn accounts_complete(
    origin: &Origin,
    top_url: &str,
    accounts: &BTreeMap<String, MattermostAccountConfig>,
) -> Result<(), ConfigError> {
    for (id, account) in accounts {
        account_complete(origin, id, top_url, account)?;
    }
    Ok(())
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

pub(super) fn log_level(origin: &Origin, key: &str, raw: &str) -> Result<String, ConfigError> {
    const EXPECTED: &str = "error, warn, info, debug, trace, off, or a tracing directive like \
                            `info,livestatus::sink=debug`";
    let value = raw.trim();
    let lower = value.to_ascii_lowercase();
    if LEVELS.contains(&lower.as_str()) {
        return Ok(lower);
    }
    // EnvFilter reads a lone word as a target name ("inf" = everything from target `inf`), so a
    // misspelt level would be accepted and silence the logs; a directive must look like one.
    if value.is_empty() || !value.contains(['=', ',', ':', '[']) {
        return Err(bad(origin, key, quote(raw), EXPECTED));
    }
    match tracing_subscriber::EnvFilter::builder().parse(value) {
        Ok(_) => Ok(value.to_owned()),
        Err(e) => Err(bad(origin, key, quote(raw), format!("{EXPECTED} ({e})"))),
    }
}

/// Normalizes a token however it arrived; `from` names the source in errors, never the token.
pub(super) fn mode(
    origin: &Origin,
    key: &str,
    raw: &str,
) -> Result<super::MattermostMode, ConfigError> {
    super::MattermostMode::parse(raw).ok_or_else(|| {
        bad(
            origin,
            key,
            quote(raw),
            format!(
                "one of {} (auto: the plugin when its health route answers, else REST)",
                super::MattermostMode::NAMES.join(", ")
            ),
        )
    })
}

pub(super) fn token(from: &str, raw: &str) -> Result<Secret, ConfigError> {
    let token = raw.trim();
    let problem = if token.is_empty() {
        "is empty"
    } else if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "contains whitespace or control characters; it must hold the token and nothing else"
    } else {
        return Ok(Secret::new(token));
    };
    Err(ConfigError::BadToken {
        from: from.to_owned(),
        problem: problem.to_owned(),
    })
}
