//! What can go wrong while loading the configuration, phrased so an operator can fix it without
//! reading the source: every error names where the value came from (file:line:column or the
//! environment variable), the key, the offending value and what would have been accepted.

use std::fmt;
use std::path::{Path, PathBuf};

/// A 1-based line and column (in characters) inside the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// Converts a byte offset (as in `toml::de::Error::span`) into a line and column.
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut end = offset.min(text.len());
        // toml's spans are on char boundaries, but an offset from elsewhere must not panic.
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The config file; `at` is the key's position when known.
    File { path: PathBuf, at: Option<Position> },
    /// A legacy environment variable of the Node.js daemon.
    Env { var: &'static str },
    /// The final value after command-line flags (see `Config::validate`).
    Effective,
}

impl Origin {
    pub(super) fn file(path: &Path, at: Option<Position>) -> Self {
        Origin::File {
            path: path.to_path_buf(),
            at,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, at: Some(at) } => write!(f, "{}:{at}", path.display()),
            Origin::File { path, at: None } => write!(f, "{}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Effective => f.write_str("effective configuration"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} does not exist", path.display())]
    NotFound { path: PathBuf },

    /// Refused or unreadable (the guarded reader's message names the file).
    #[error("cannot read the config file: {why}")]
    Read {
        path: PathBuf,
        why: crate::guarded::GuardError,
    },

    #[error("{}:{at}: TOML syntax error{}: {message}", path.display(), in_key(key.as_deref()))]
    Syntax {
        path: PathBuf,
        at: Position,
        /// Best guess at the key being written when the parser gave up.
        key: Option<String>,
        message: String,
    },

    /// A key this version does not know; `message` lists the valid keys of its table.
    #[error("{}:{at}: unknown key `{key}`: {message}", path.display())]
    UnknownKey {
        path: PathBuf,
        at: Position,
        key: String,
        message: String,
    },

    /// A value of the wrong TOML type (a string where an integer belongs, …).
    #[error("{}:{at}: `{key}`: {message}", path.display())]
    WrongType {
        path: PathBuf,
        at: Position,
        key: String,
        message: String,
    },

    /// A value of the right type that is not acceptable (out of range, relative path, …).
    #[error("{}", bad_value(origin, key, value, expected))]
    Value {
        origin: Origin,
        key: String,
        /// The value as written (quoted when a string); never a secret.
        value: String,
        expected: String,
    },

    #[error("{origin}: {message}")]
    Missing { origin: Origin, message: String },

    #[error(
        "no Mattermost token: set mattermost.token_file (or MM_TOKEN), or give the service a \
         systemd credential named `{}` (LoadCredential=) — {}",
        super::TOKEN_CREDENTIAL,
        credential_note(credentials_dir.as_deref())
    )]
    NoToken { credentials_dir: Option<PathBuf> },

    #[error(
        "no token for the Mattermost account `{account}`: set mattermost.accounts.{account}.token_file, \
         or give the service a systemd credential named `{}{account}` (LoadCredential=) — {}",
        super::ACCOUNT_CREDENTIAL_PREFIX,
        credential_note(credentials_dir.as_deref())
    )]
    NoAccountToken {
        account: String,
        credentials_dir: Option<PathBuf>,
    },

    /// Refused or unreadable (the guarded reader's message names the file).
    #[error("cannot read the Mattermost token: {why}")]
    TokenRead {
        path: PathBuf,
        why: crate::guarded::GuardError,
    },

    /// `from` names the source (a path or `mattermost.token`), never the token.
    #[error("the Mattermost token from {from} {problem}")]
    BadToken { from: String, problem: String },

    /// `api.secret` or the uploader's token could not be read.
    #[error("cannot read a secret: {why}")]
    SecretRead {
        path: PathBuf,
        why: crate::guarded::GuardError,
    },

    /// `from` names the source (a path or a key), never the secret.
    #[error("the secret from {from} {problem}")]
    BadSecret { from: String, problem: String },
}

fn in_key(key: Option<&str>) -> String {
    key.map(|k| format!(" in `{k}`")).unwrap_or_default()
}

fn credential_note(dir: Option<&Path>) -> String {
    match dir {
        Some(dir) => format!("{} has no such file", dir.display()),
        None => "$CREDENTIALS_DIRECTORY is not set".to_owned(),
    }
}

fn bad_value(origin: &Origin, key: &str, value: &str, expected: &str) -> String {
    match origin {
        // The variable is what the operator typed, so it leads; the key says what it feeds.
        Origin::Env { var } => {
            format!("environment variable {var}={value} (sets `{key}`): expected {expected}")
        }
        _ => format!("{origin}: `{key}` = {value}: expected {expected}"),
    }
}
