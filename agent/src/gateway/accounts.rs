//! Mattermost accounts: which server and bot token serve a gateway's `accountId`.
//! (Being written.)
