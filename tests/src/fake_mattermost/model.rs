//! Posts as the server stores them, ids, time, and the JSON shapes of `model.Post`,
//! `model.User` and `model.Channel`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use super::world::{Channel, User};

/// One row of the Posts table.
#[derive(Clone, Debug, PartialEq)]
pub struct Post {
    pub id: String,
    pub channel_id: String,
    /// `""` for a root post, as Mattermost stores it.
    pub root_id: String,
    pub user_id: String,
    pub message: String,
    /// Always a JSON object.
    pub props: Value,
    pub create_at: i64,
    pub update_at: i64,
    /// 0 until the message (or its attachments) changes.
    pub edit_at: i64,
    /// Non-zero once deleted; deleted posts stay in the table.
    pub delete_at: i64,
    pub type_: String,
    pub is_pinned: bool,
    pub has_reactions: bool,
    pub file_ids: Vec<String>,
    pub hashtags: String,
    /// Set only on edit-history rows: the id of the post this was a version of.
    pub original_id: String,
}

impl Post {
    /// The post as a client receives it (`PreparePostForClient`): a deleted post comes back
    /// without its text.
    pub(crate) fn to_client_json(
        &self,
        reply_count: i64,
        pending_post_id: &str,
        metadata: bool,
    ) -> Value {
        let mut v = json!({
            "id": self.id,
            "create_at": self.create_at,
            "update_at": self.update_at,
            "edit_at": self.edit_at,
            "delete_at": self.delete_at,
            "is_pinned": self.is_pinned,
            "user_id": self.user_id,
            "channel_id": self.channel_id,
            "root_id": self.root_id,
            "original_id": self.original_id,
            "message": if self.delete_at > 0 { "" } else { self.message.as_str() },
            "type": self.type_,
            "props": self.props,
            "hashtags": self.hashtags,
            "file_ids": self.file_ids,
            "pending_post_id": pending_post_id,
            "reply_count": reply_count,
            "last_reply_at": 0,
            "participants": null,
        });
        let obj = v.as_object_mut().expect("object");
        if self.has_reactions {
            obj.insert("has_reactions".into(), Value::Bool(true));
        }
        if metadata {
            obj.insert("metadata".into(), json!({}));
        }
        v
    }
}

pub(crate) fn user_json(user: &User) -> Value {
    let mut v = json!({
        "id": user.id,
        "create_at": user.create_at,
        "update_at": user.update_at,
        "delete_at": 0,
        "username": user.username,
        "auth_data": "",
        "auth_service": "",
        "email": user.email,
        "email_verified": true,
        "nickname": user.nickname,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "position": "",
        "roles": user.roles,
        "locale": "en",
        "timezone": {"automaticTimezone": "", "manualTimezone": "", "useAutomaticTimezone": "true"},
        "disable_welcome_email": false,
    });
    if user.is_bot {
        let obj = v.as_object_mut().expect("object");
        obj.insert("is_bot".into(), Value::Bool(true));
        obj.insert("bot_description".into(), Value::String(String::new()));
    }
    v
}

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChannelStats {
    pub update_at: i64,
    pub last_post_at: i64,
    pub last_root_post_at: i64,
    pub total_msg_count: i64,
    pub total_msg_count_root: i64,
}

pub(crate) fn channel_json(ch: &Channel, stats: &ChannelStats) -> Value {
    json!({
        "id": ch.id,
        "create_at": ch.create_at,
        "update_at": stats.update_at.max(ch.create_at),
        "delete_at": 0,
        "team_id": ch.team_id,
        "type": ch.type_,
        "display_name": ch.display_name,
        "name": ch.name,
        "header": ch.header,
        "purpose": ch.purpose,
        "last_post_at": stats.last_post_at,
        "total_msg_count": stats.total_msg_count,
        "extra_update_at": 0,
        "creator_id": ch.creator_id,
        "scheme_id": null,
        "props": null,
        "group_constrained": null,
        "shared": null,
        "total_msg_count_root": stats.total_msg_count_root,
        "policy_id": null,
        "last_root_post_at": stats.last_root_post_at,
    })
}

/// `model.NewId`: 26 characters of base32 over 16 random bytes, in Mattermost's own alphabet
/// (lowercase letters and digits only).
pub(crate) fn new_id() -> String {
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        // RandomState is seeded per process from the OS; hashing a counter through it gives ids
        // that never repeat within a run without pulling in a random-number crate.
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_usize(i);
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    let mut out = String::with_capacity(26);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out.truncate(26);
    out
}

/// `model.IsValidId`.
pub(crate) fn is_valid_id(s: &str) -> bool {
    s.chars().count() == 26 && s.chars().all(char::is_alphanumeric)
}

pub(crate) fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Millisecond timestamps that never repeat: two posts made in the same millisecond would make
/// `since=` queries and create-time ordering depend on luck, which is not what a test is about.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    last: i64,
}

impl Clock {
    pub fn now(&mut self) -> i64 {
        self.last = wall_ms().max(self.last + 1);
        self.last
    }
}

/// `model.ParseHashtags`, near enough: words that start with `#` and a letter.
pub(crate) fn hashtags(message: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for word in message.split_whitespace() {
        let word =
            word.trim_matches(|c: char| !c.is_alphanumeric() && c != '#' && c != '_' && c != '-');
        let Some(rest) = word.strip_prefix('#') else {
            continue;
        };
        let mut chars = rest.chars();
        let first_ok = chars.next().is_some_and(char::is_alphabetic);
        let last_ok = rest.chars().last().is_some_and(char::is_alphanumeric);
        let body_ok = rest
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.".contains(c));
        if first_ok && last_ok && body_ok {
            out.push(word);
        }
    }
    let mut joined = out.join(" ");
    if joined.chars().count() > 1000 {
        joined = joined.chars().take(999).collect();
        if let Some(cut) = joined.rfind(' ') {
            joined.truncate(cut);
        }
    }
    joined
}

/// Props as Mattermost measures them for the 800 000-rune limit.
pub(crate) fn props_runes(props: &Value) -> usize {
    serde_json::to_string(props).map_or(0, |s| s.chars().count())
}

pub(crate) fn empty_props() -> Value {
    Value::Object(Map::new())
}
