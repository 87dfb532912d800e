//! Account merge: `channels.mattermost` and its `accounts`, each the top level overlaid with its
//! own fields, resolved into usable accounts or skipped with a reason.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::AccountError;
use super::secrets::Secrets;
use super::vars::UnsetVar;
use super::{
    GatewayAccount, GatewayAccounts, GatewayConfigError, MAX_TOKEN_BYTES, SOURCE_ENV_FALLBACK,
};
use crate::gateway::account::{Account, normalize_account_id};
use crate::gateway::route::DEFAULT_ACCOUNT;
use crate::secret::Secret;
use std::path::Path;

pub(super) fn accounts_of(
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
                            .push((id, AccountError::NotAnObject.to_string()));
                        continue;
                    }
                };
                if named.contains_key(&id) {
                    let why = AccountError::Repeated {
                        raw_id: raw_id.clone(),
                    };
                    out.skipped.push((id, why.to_string()));
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
            out.skipped.push((id, AccountError::Disabled.to_string()));
            continue;
        }
        match resolve_account(&id, &merged, secrets) {
            Ok(account) => {
                out.accounts.insert(id, account);
            }
            Err(reason) => out.skipped.push((id, reason.to_string())),
        }
    }
    Ok(out)
}

pub(super) fn resolve_account(
    id: &str,
    fields: &Map<String, Value>,
    secrets: &mut Secrets<'_>,
) -> Result<GatewayAccount, AccountError> {
    let env_fallback = id == DEFAULT_ACCOUNT;
    let url = match fields.get("baseUrl") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => {
            let (url, _) = secrets
                .substitute(raw)
                .map_err(|UnsetVar(var)| AccountError::BaseUrlVarUnset(var))?;
            Some(url.trim().to_owned()).filter(|u| !u.is_empty())
        }
        Some(_) => return Err(AccountError::BaseUrlNotString),
    };
    let url = match url {
        Some(url) => url,
        None if env_fallback => secrets
            .env("MATTERMOST_URL")
            .ok_or(AccountError::NoBaseUrlNorEnv)?,
        None => return Err(AccountError::NoBaseUrl),
    };
    let base_url = normalize_base_url(&url).ok_or(AccountError::BadBaseUrl)?;
    let (token, token_source) = match secrets.secret_input(fields.get("botToken"))? {
        Some(found) => found,
        None if env_fallback => (
            secrets
                .env("MATTERMOST_BOT_TOKEN")
                .ok_or(AccountError::NoTokenNorEnv)?,
            SOURCE_ENV_FALLBACK,
        ),
        None => return Err(AccountError::NoToken),
    };
    let token = token.trim();
    if token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || token.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AccountError::BadToken(token_source));
    }
    Ok(GatewayAccount {
        account: Account {
            base_url,
            token: Secret::new(token),
        },
        token_source,
    })
}

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
