//! One box as the worker tracks it: its model and latest text, what the post shows, and how
//! far it got on the server (channel known, post made).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::post_store::{Outcome, PostEntry, PostKey};
use crate::gateway::accounts::Account;
use crate::session::{BoxModel, BoxState};

use super::job::Lookup;
use super::throttle::Throttle;
use super::transport::plugin::Sent;

/// Where a box's post goes before its channel is known.
#[derive(Clone, Debug)]
pub(super) enum Dest {
    Channel(String),
    Dm(String),
}

#[derive(Clone, Debug)]
pub(super) enum Phase {
    NeedChannel { user_id: String },
    NeedPost { channel_id: String },
    Posted { channel_id: String, post_id: String },
}

pub(super) struct Tracked {
    pub model: BoxModel,
    pub key: PostKey,
    pub account: Account,
    pub root_id: Option<String>,
    /// The text as last rendered.
    pub text: String,
    /// Some(the delta's time): the box changed since `text` was rendered. Rendering waits for
    /// the box's next request: a busy box changes many times per throttle period, and
    /// rendering it each time was a tenth of the daemon's CPU with 300 busy sessions.
    pub text_stale_at: Option<i64>,
    /// What the post shows, when known.
    pub shown: Option<String>,
    pub phase: Phase,
    /// Arrival order: boxes are served oldest first.
    pub order: u64,
    pub admitted: bool,
    pub busy: bool,
    pub throttle: Throttle,
    /// Wall-clock ms of the create marker, once a create was attempted.
    pub marker_ms: Option<i64>,
    /// Search before (re)creating: an earlier create may have succeeded unseen.
    pub lookup: Option<Lookup>,
    /// Some: the box goes through the plugin, which has this much of it (`plugin_link.rs`).
    pub via_plugin: Option<Sent>,
    /// The box's transport is decided for the rest of its turn.
    pub transport_chosen: bool,
    /// The plugin made the post (REST may lack the right to edit it).
    pub plugin_post: bool,
    /// What the plugin had of the box when it moved to REST.
    pub left_plugin: Option<Sent>,
    /// Wall-clock ms at which the oldest change not yet sent was taken in (for the latency
    /// histogram: `take_pending`).
    pub pending_since_ms: Option<i64>,
}

impl Tracked {
    /// What a box may do before it has a slot (`Worker::pump`): get its post, or have it
    /// deleted once retracted; never an edit. A box the plugin carries waits for its slot.
    pub fn may_run_unadmitted(&self) -> bool {
        self.via_plugin.is_none()
            && (!matches!(self.phase, Phase::Posted { .. }) || self.model.retracted)
    }

    /// A request carrying every change so far leaves now: into the latency histogram.
    pub fn sent_changes(&mut self, now_ms: i64) {
        if let Some(since) = self.pending_since_ms.take() {
            crate::metrics::observe_delivery(since, now_ms);
        }
    }

    /// A box that waits for a slot, nothing of it known to be on the server yet beyond `phase`.
    pub fn new(
        model: BoxModel,
        key: PostKey,
        account: Account,
        phase: Phase,
        order: u64,
        throttle: Throttle,
    ) -> Tracked {
        Tracked {
            model,
            key,
            account,
            root_id: None,
            text: String::new(),
            text_stale_at: None,
            shown: None,
            phase,
            order,
            admitted: false,
            busy: false,
            throttle,
            marker_ms: None,
            lookup: None,
            via_plugin: None,
            transport_chosen: false,
            plugin_post: false,
            left_plugin: None,
            pending_since_ms: None,
        }
    }

    pub fn server(&self) -> &str {
        &self.account.base_url
    }

    pub fn latest_shown(&self) -> bool {
        self.text_stale_at.is_none() && self.shown.as_deref() == Some(self.text.as_str())
    }

    /// The store entry for this box; None while nothing may exist on the server.
    pub fn entry(&self, now_ms: i64) -> Option<PostEntry> {
        let (channel_id, post_id) = match &self.phase {
            Phase::Posted {
                channel_id,
                post_id,
            } => (channel_id.clone(), Some(post_id.clone())),
            Phase::NeedPost { channel_id } if self.marker_ms.is_some() => {
                (channel_id.clone(), None)
            }
            _ => return None,
        };
        Some(PostEntry {
            server: self.account.base_url.clone(),
            channel_id,
            root_id: self.root_id.clone(),
            creating_since_ms: if post_id.is_none() {
                self.marker_ms
            } else {
                None
            },
            post_id,
            last_text: self.shown.clone(),
            finished: false,
            outcome: None,
            first_line_ms: self.model.first_line_ms,
            follows_ms: self.model.follows_ms,
            by_plugin: self.plugin_post,
            updated_ms: now_ms,
        })
    }
}

/// How a box left the worker.
pub(super) enum Settle {
    /// Its latest state is on the server.
    Delivered,
    /// Nothing of it remains on the server (retracted).
    Gone,
    /// Given up after a refusal.
    Abandoned,
}

pub(super) fn outcome(state: BoxState) -> Option<Outcome> {
    match state {
        BoxState::Active => None,
        BoxState::Done => Some(Outcome::Done),
        BoxState::Error => Some(Outcome::Error),
        BoxState::Interrupted => Some(Outcome::Interrupted),
    }
}

pub(super) fn posted(phase: &Phase, post_id: String) -> Phase {
    let channel_id = match phase {
        Phase::NeedPost { channel_id } | Phase::Posted { channel_id, .. } => channel_id.clone(),
        Phase::NeedChannel { .. } => String::new(),
    };
    Phase::Posted {
        channel_id,
        post_id,
    }
}
/// Identifies an account in caches without keeping another copy of its token.
pub(super) fn account_id(a: &Account) -> (String, u64) {
    let mut h = DefaultHasher::new();
    a.token.expose().hash(&mut h);
    (a.base_url.clone(), h.finish())
}
