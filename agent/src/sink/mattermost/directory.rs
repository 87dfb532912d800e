//! What the worker has learned about accounts on their servers: each bot's user id, and the
//! direct channel between a bot and a user. Both are asked of the server once (a `Resolve` job)
//! and kept for the whole run, so a DM box after the first one goes straight to its post.
//! Keyed by server and a hash of the account's token: two accounts on one server are two bots.

use std::collections::HashMap;

use crate::gateway::accounts::Account;

use super::tracked::account_id;

/// Bot user ids and DM channels, per account.
pub(super) struct Directory {
    /// (server, token hash) → the bot's user id.
    bots: HashMap<(String, u64), String>,
    /// (server, token hash, user id) → the direct channel between that bot and the user.
    dms: HashMap<(String, u64, String), String>,
}

impl Directory {
    pub fn new() -> Directory {
        Directory {
            bots: HashMap::new(),
            dms: HashMap::new(),
        }
    }

    /// The account's bot user id, when a resolve found it already.
    pub fn bot(&self, account: &Account) -> Option<String> {
        self.bots.get(&account_id(account)).cloned()
    }

    /// The direct channel between the account's bot and `user_id`, when known.
    pub fn dm(&self, account: &Account, user_id: &str) -> Option<&String> {
        let (base, tok) = account_id(account);
        self.dms.get(&(base, tok, user_id.to_owned()))
    }

    /// What a resolve learned: the bot's user id and, for a box that waited for it
    /// (`user_id`), the direct channel with that user.
    pub fn resolved(
        &mut self,
        account: &Account,
        user_id: Option<&str>,
        bot_id: String,
        channel_id: &str,
    ) {
        let (base, tok) = account_id(account);
        if let Some(user_id) = user_id {
            self.dms.insert(
                (base.clone(), tok, user_id.to_owned()),
                channel_id.to_owned(),
            );
        }
        self.bots.insert((base, tok), bot_id);
    }
}
