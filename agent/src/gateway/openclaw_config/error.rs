//! Why a gateway account cannot be used. The text goes into `GatewayAccounts::skipped`, and so
//! into logs and `check-config`: it names the key or reference at fault, never a value.

use crate::guarded::GuardError;

/// Where a variable the daemon cannot see would have to be, said once for every message.
const WHERE_ENV: &str = "in the gateway's .env or the env block of its config (the gateway's \
                         process environment is invisible to openclaw-livestatus)";

/// One account of a gateway's config that is left out.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("disabled (enabled: false)")]
    Disabled,
    #[error("its entry is not an object")]
    NotAnObject,
    #[error("{raw_id:?} repeats an account id already defined")]
    Repeated { raw_id: String },
    #[error("baseUrl uses ${{{0}}}, which is not set {env}", env = WHERE_ENV)]
    BaseUrlVarUnset(String),
    #[error("baseUrl is not a string")]
    BaseUrlNotString,
    #[error("no baseUrl (nor MATTERMOST_URL {env})", env = WHERE_ENV)]
    NoBaseUrlNorEnv,
    #[error("no baseUrl")]
    NoBaseUrl,
    #[error("baseUrl is not an http:// or https:// URL without credentials, query or fragment")]
    BadBaseUrl,
    #[error("no botToken (nor MATTERMOST_BOT_TOKEN {env})", env = WHERE_ENV)]
    NoTokenNorEnv,
    #[error("no botToken")]
    NoToken,
    #[error("the botToken (from {0}) is empty, too long, or contains whitespace")]
    BadToken(&'static str),
    #[error("botToken is ${0}, which is not set {env}", env = WHERE_ENV)]
    TokenShorthandUnset(String),
    #[error("botToken uses ${{{0}}}, which is not set {env}", env = WHERE_ENV)]
    TokenVarUnset(String),
    #[error("botToken is neither a string nor a SecretRef object")]
    TokenNotSecretInput,
    #[error("botToken is an object without the SecretRef fields source and id")]
    RefIncomplete,
    #[error("botToken SecretRef {label}: {problem}")]
    Ref { label: String, problem: RefProblem },
    #[error(
        "botToken is the {kind} SecretRef {label}; openclaw-livestatus does not run \
         secret commands or open secret stores — name this account in its own config \
         ([mattermost.accounts.<id>])"
    )]
    RefNotRun { kind: String, label: String },
    #[error("botToken SecretRef has unknown source {0:?}")]
    RefUnknownSource(String),
}

/// What is wrong with a SecretRef `{source, provider, id}`.
#[derive(Debug, thiserror::Error)]
pub enum RefProblem {
    #[error("provider {0:?} is not an env provider")]
    NotEnvProvider(String),
    #[error("{0} is not in the provider's allowlist")]
    NotAllowed(String),
    #[error("no such provider in secrets.providers")]
    NoProvider,
    #[error("not an env variable name")]
    NotEnvName,
    #[error("{0} is not set {env}", env = WHERE_ENV)]
    Unset(String),
    #[error("no file provider {0:?} in secrets.providers")]
    NoFileProvider(String),
    #[error(transparent)]
    File(#[from] FileSecretError),
}

/// Why a `file` SecretRef gives no token.
#[derive(Debug, thiserror::Error)]
pub enum FileSecretError {
    #[error("the provider has no path")]
    NoPath,
    #[error("its path uses ${{{0}}}, which is not set")]
    PathVarUnset(String),
    #[error("its path starts with ~ and the gateway's home is unknown")]
    NoHome,
    #[error("its path is not absolute")]
    NotAbsolute,
    #[error(transparent)]
    Refused(#[from] GuardError),
    #[error("the file is not UTF-8 text")]
    NotUtf8,
    #[error("a singleValue provider takes only the id \"value\"")]
    SingleValueId,
    #[error("the id is not a JSON pointer")]
    NotPointer,
    #[error("the file is not valid JSON")]
    NotJson,
    #[error("the pointer names no string in the file")]
    NoString,
    #[error("unknown provider mode {0:?}")]
    UnknownMode(String),
}
