//! Where a session's boxes go in Mattermost, as the gateway itself recorded it.

use serde::{Deserialize, Serialize};

/// A Mattermost destination. `account_id` is OpenClaw's (`"default"` when the gateway names
/// none); with the session's gateway it selects the server and bot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    pub account_id: String,
    pub target: Target,
    /// The root post of the thread the box belongs in; None for a top-level post.
    pub root_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    /// A channel id (public, private or group).
    Channel(String),
    /// A user id: the direct channel between the bot and that user (resolved by the sink with
    /// `POST /api/v4/channels/direct`).
    User(String),
}

/// Where a JSONL-era session's boxes go, from its key and its `sessions.json` entry.
/// (Being written: returns None until then.)
pub fn route_for(_key: &str, _entry: &super::sessions_index::SessionEntry) -> Option<Route> {
    None
}
