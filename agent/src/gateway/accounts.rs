//! Mattermost accounts: which server and bot token serve a gateway's `accountId`.

use std::path::Path;

use crate::service::config::Secret;

/// A resolved Mattermost account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// `https://chat.example.com`, no trailing slash.
    pub base_url: String,
    pub token: Secret,
}

/// Looks up the account that serves `account_id` for the gateway whose state dir is `gateway`.
/// Implemented from the config file and each gateway's own `openclaw.json`; sinks only ask.
pub trait AccountBook: Send + Sync + 'static {
    fn account(&self, gateway: &Path, account_id: &str) -> Option<Account>;
}

/// Every gateway uses the same account, whatever its `accountId` (tests, and the config-only
/// setup of a single Mattermost server).
#[derive(Clone, Debug)]
pub struct SingleAccount(pub Account);

impl AccountBook for SingleAccount {
    fn account(&self, _gateway: &Path, _account_id: &str) -> Option<Account> {
        Some(self.0.clone())
    }
}
