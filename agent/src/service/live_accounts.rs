//! The Mattermost accounts of a running daemon, swapped whole on reload: the Mattermost worker
//! asks for a session's account each time it needs it, so the next request after a reload uses
//! the new URL or token, and boxes keep their posts.

use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::gateway::accounts::{Account, AccountBook, AccountDirectory};

pub struct LiveAccounts(RwLock<Arc<AccountDirectory>>);

impl LiveAccounts {
    pub fn new(accounts: AccountDirectory) -> LiveAccounts {
        LiveAccounts(RwLock::new(Arc::new(accounts)))
    }

    pub fn replace(&self, accounts: AccountDirectory) {
        // A poisoned lock only means a reader panicked mid-read; the value is still whole.
        let mut current = self.0.write().unwrap_or_else(|p| p.into_inner());
        *current = Arc::new(accounts);
    }
}

impl AccountBook for LiveAccounts {
    fn account(&self, gateway: &Path, account_id: &str) -> Option<Account> {
        let current = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        current.account(gateway, account_id)
    }
}
