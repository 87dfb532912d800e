//! A Mattermost account and OpenClaw's account ids: the leaf both the daemon's config and a
//! gateway's `openclaw.json` resolve into.

use crate::secret::Secret;

/// OpenClaw's name of the account a gateway uses when none is named.
pub const DEFAULT_ACCOUNT: &str = "default";

/// A resolved Mattermost account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// `https://chat.example.com`, no trailing slash.
    pub base_url: String,
    pub token: Secret,
}

/// An account the daemon's own config names (its token read), with where the token came from.
#[derive(Clone, Debug)]
pub struct ConfiguredAccount {
    pub id: String,
    pub account: Account,
    /// `literal`, `file` or `credential` (shown by `doctor`).
    pub source: &'static str,
}

/// OpenClaw's `normalizeAccountId`: trimmed and case-folded; other characters than
/// `[a-z0-9_-]` become `-`, leading and trailing dashes go, at most 64 characters; nothing left
/// means `"default"`.
pub fn normalize_account_id(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let mut out = String::with_capacity(lower.len());
    for c in lower.chars() {
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-';
        if keep {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed: String = out.trim_matches('-').chars().take(64).collect();
    if trimmed.is_empty() {
        DEFAULT_ACCOUNT.to_owned()
    } else {
        trimmed
    }
}
