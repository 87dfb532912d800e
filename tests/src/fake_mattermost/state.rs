//! Everything the fake server remembers, and the permission rules of a stock server.
//!
//! Roles as shipped (`model/role.go`): channel members hold `channel_user` (`create_post`,
//! `edit_post`, `delete_post`, `upload_file`, `read_channel`); team members hold `team_user`
//! (`read_public_channel`, no posting); `system_user` holds `create_direct_channel`. Nobody here
//! holds `edit_others_posts`, `delete_others_posts`, `create_post_public` or `manage_system`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::errors::AppErr;
use super::model::{ChannelStats, Clock, Post, hashtags, new_id, props_runes};
use super::world::{Channel, User, World};
use super::{Fault, Recorded};

/// `PostPropsMaxRunes`.
const PROPS_MAX_RUNES: usize = 800_000;
/// `PostFileidsMaxRunes`: the JSON of `file_ids`, which is what caps uploads at 10 files.
const FILE_IDS_MAX_RUNES: usize = 300;
/// `pendingPostIDsCacheTTL`.
const PENDING_POST_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub down: bool,
    pub hang: usize,
    pub rate_limited: usize,
    pub retry_after_s: u64,
    pub failing: usize,
    pub fail_status: u16,
}

impl Faults {
    /// The next request's fate, consuming one count. Hangs come first, then rate limits, then
    /// failures, so a test that arms several gets them in that order.
    pub fn take(&mut self) -> Option<Fault> {
        if self.down {
            return Some(Fault::Down);
        }
        if self.hang > 0 {
            self.hang -= 1;
            return Some(Fault::Hang);
        }
        if self.rate_limited > 0 {
            self.rate_limited -= 1;
            return Some(Fault::RateLimited {
                retry_after_s: self.retry_after_s,
            });
        }
        if self.failing > 0 {
            self.failing -= 1;
            return Some(Fault::Failed {
                status: self.fail_status,
            });
        }
        None
    }
}

pub(crate) struct State {
    pub world: World,
    pub posts: Vec<Post>,
    index: HashMap<String, usize>,
    /// Earlier versions of edited posts: `SqlPostStore.Update` re-inserts the old row as deleted,
    /// with `original_id` pointing at the live one, and `since=` queries return them.
    pub history: Vec<Post>,
    pub stats: HashMap<String, ChannelStats>,
    /// `seenPendingPostIdsCache`: pending_post_id → created post id.
    pending: HashMap<String, (String, Instant)>,
    pub clock: Clock,
    pub faults: Faults,
    pub log: Vec<Recorded>,
}

impl State {
    pub fn new(world: World) -> State {
        State {
            world,
            posts: Vec::new(),
            index: HashMap::new(),
            history: Vec::new(),
            stats: HashMap::new(),
            pending: HashMap::new(),
            clock: Clock::default(),
            faults: Faults::default(),
            log: Vec::new(),
        }
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.world.user(id)
    }

    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.world.channels.iter().find(|c| c.id == id)
    }

    pub fn channel_mut(&mut self, id: &str) -> Option<&mut Channel> {
        self.world.channels.iter_mut().find(|c| c.id == id)
    }

    pub fn stats(&self, channel_id: &str) -> ChannelStats {
        self.stats.get(channel_id).copied().unwrap_or_default()
    }

    /// Any row of the table, deleted or not.
    pub fn post(&self, id: &str) -> Option<&Post> {
        self.index.get(id).map(|&i| &self.posts[i])
    }

    /// `GetSinglePost(id, false)`: deleted posts are as good as missing.
    pub fn live_post(&self, id: &str) -> Option<&Post> {
        self.post(id).filter(|p| p.delete_at == 0)
    }

    fn is_member(&self, channel: &Channel, user_id: &str) -> bool {
        channel.members.iter().any(|m| m == user_id)
    }

    /// `create_post`, `edit_post`, `delete_post`: only through channel membership.
    pub fn can_write(&self, user_id: &str, channel: &Channel) -> bool {
        self.is_member(channel, user_id)
    }

    /// `SessionHasPermissionToReadChannel`: members, and for public channels the team.
    pub fn can_read(&self, user_id: &str, channel: &Channel) -> bool {
        if self.is_member(channel, user_id) {
            return true;
        }
        channel.type_ == "O"
            && self
                .world
                .team(&channel.team_id)
                .is_some_and(|t| t.members.iter().any(|m| m == user_id))
    }

    /// What the thread of `post` counts as replies, for `reply_count`.
    pub fn reply_count(&self, post: &Post) -> i64 {
        let root = if post.root_id.is_empty() {
            &post.id
        } else {
            &post.root_id
        };
        let n = self
            .posts
            .iter()
            .filter(|p| p.delete_at == 0 && &p.root_id == root)
            .count();
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// `deduplicateCreatePost`: a retried create with the same pending_post_id within 30 s gets
    /// the post the first attempt made, unless the caller may no longer read it.
    pub fn deduplicated(&mut self, pending_post_id: &str, user_id: &str) -> Option<Post> {
        let now = Instant::now();
        self.pending
            .retain(|_, (_, at)| now.duration_since(*at) < PENDING_POST_TTL);
        let (post_id, _) = self.pending.get(pending_post_id)?;
        let post = self.live_post(post_id)?;
        let channel = self.channel(&post.channel_id)?;
        self.can_read(user_id, channel).then(|| post.clone())
    }

    pub fn remember_pending(&mut self, pending_post_id: &str, post_id: &str) {
        if !pending_post_id.is_empty() {
            self.pending.insert(
                pending_post_id.to_owned(),
                (post_id.to_owned(), Instant::now()),
            );
        }
    }

    /// `Post.IsValid` as the store runs it on every save and update.
    pub fn validate(&self, post: &Post) -> Result<(), AppErr> {
        if post.message.chars().count() > self.world.max_post_runes {
            return Err(AppErr::new(
                400,
                "model.post.is_valid.message_length.app_error",
            ));
        }
        let custom = post.type_.starts_with("custom_");
        let known = [
            "",
            "slack_attachment",
            "add_bot_teams_channels",
            "reminder",
            "me",
        ];
        if !custom && !known.contains(&post.type_.as_str()) && !post.type_.starts_with("system_") {
            return Err(AppErr::new(400, "model.post.is_valid.type.app_error"));
        }
        let file_ids = serde_json::to_string(&post.file_ids).unwrap_or_default();
        if file_ids.chars().count() > FILE_IDS_MAX_RUNES {
            return Err(AppErr::new(400, "model.post.is_valid.file_ids.app_error"));
        }
        if props_runes(&post.props) > PROPS_MAX_RUNES {
            return Err(AppErr::new(400, "model.post.is_valid.props.app_error"));
        }
        Ok(())
    }

    /// Saves a new post with the side effects of `SqlPostStore.SaveMultiple`.
    pub fn insert(&mut self, mut post: Post) -> Post {
        post.hashtags = hashtags(&post.message);
        if post.root_id.is_empty() {
            let stats = self.stats.entry(post.channel_id.clone()).or_default();
            stats.last_root_post_at = post.create_at;
            stats.total_msg_count_root += 1;
        } else if let Some(&i) = self.index.get(&post.root_id) {
            // A reply moves its root's update_at, which is what `since=` pollers notice.
            let root = &mut self.posts[i];
            root.update_at = root.update_at.max(post.create_at);
        }
        let stats = self.stats.entry(post.channel_id.clone()).or_default();
        stats.last_post_at = post.create_at;
        stats.total_msg_count += 1;
        self.index.insert(post.id.clone(), self.posts.len());
        self.posts.push(post.clone());
        post
    }

    /// `SqlPostStore.Update`: validates, replaces the row, keeps the old version as a deleted
    /// history row, bumps the channel and (for a reply) the root.
    pub fn update(&mut self, old: &Post, mut new: Post, edited: bool) -> Result<Post, AppErr> {
        let now = self.clock.now();
        new.update_at = now;
        if edited {
            new.edit_at = now;
            new.hashtags = hashtags(&new.message);
        }
        self.validate(&new)?;
        let mut version = old.clone();
        version.original_id = old.id.clone();
        version.id = new_id();
        version.delete_at = now;
        version.update_at = now;
        self.history.push(version);
        let i = self.index[&new.id];
        self.posts[i] = new.clone();
        let stats = self.stats.entry(new.channel_id.clone()).or_default();
        stats.last_post_at = stats.last_post_at.max(now);
        if let Some(&r) = self.index.get(&new.root_id) {
            let root = &mut self.posts[r];
            root.update_at = root.update_at.max(now);
        }
        Ok(new)
    }

    /// `SqlPostStore.Delete`: the post and, for a root, its whole thread.
    pub fn delete(&mut self, id: &str, by: &str) {
        let now = self.clock.now();
        for post in &mut self.posts {
            if (post.id == id || post.root_id == id) && post.delete_at == 0 {
                post.delete_at = now;
                post.update_at = now;
                if let Value::Object(props) = &mut post.props {
                    props.insert("deleteBy".into(), Value::String(by.to_owned()));
                }
            }
        }
    }
}
