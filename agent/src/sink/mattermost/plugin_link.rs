//! The worker's side of the plugin transport: per server, whether its plugin is used (`auto`
//! checks `GET health` before the first box and again every `plugin_recheck` while it is not),
//! and the ONE batch per throttle window that carries every plugin box of that server.
//!
//! A box is given to the plugin or to REST when it first needs its post, and keeps that
//! transport to its end, with one exception: when the plugin refuses the box, answers with an
//! error that will not pass (a wrong secret), or fails `breaker_failures` times in a row, every
//! box on it moves to REST — the same `Tracked`, the same post store entry. A box whose post the
//! plugin made continues THAT post over REST (`PUT /posts/{id}/patch`, the post id is the one
//! the plugin returned and the store kept), so a box that moves is never posted twice; only
//! when the REST account may not edit it (403: the bot lacks `edit_others_posts`) or cannot see
//! it (404) does REST post it anew, so nothing is lost. A box never moves back: boxes that open
//! once the plugin answers again go to the plugin, which then has no record of the moved box to
//! disagree with.
//!
//! This file holds each server's link: whether its plugin is used, its health checks, the
//! fall back to REST. `batch.rs` carries the boxes of a link that is up, `options.rs` is what
//! the config says, `detect.rs` is `doctor`'s probe.

mod batch;
mod detect;
mod options;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::service::config::{MattermostMode, Secret};
use crate::session::BoxId;

use super::transport::plugin;
use super::worker::{Worker, earliest};
use batch::{BatchDone, Owed};

pub use detect::detect;
pub use options::{PluginOptions, ServerPlugin};

/// Per server (base URL): "plugin" or "rest", and why; readable outside the worker.
pub(super) type SharedModes = Arc<Mutex<std::collections::BTreeMap<String, (String, String)>>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinkState {
    /// Not checked yet.
    Unknown,
    Checking,
    Up,
    Down,
}

pub(super) struct Link {
    pub base: String,
    pub mode: MattermostMode,
    pub secret: Option<Secret>,
    pub state: LinkState,
    pub failures: u32,
    pub hold_until: Option<Instant>,
    pub last_batch: Option<Instant>,
    pub in_flight: bool,
    pub next_check: Option<Instant>,
}

pub(super) type CheckDone = (String, Result<plugin::Health, String>);

pub(super) struct Links {
    pub map: HashMap<String, Link>,
    pub shared: SharedModes,
    pub batches: tokio::task::JoinSet<BatchDone>,
    pub checks: tokio::task::JoinSet<CheckDone>,
    pub owed: Vec<Owed>,
}

impl Links {
    pub fn new(shared: SharedModes) -> Links {
        Links {
            map: HashMap::new(),
            shared,
            batches: tokio::task::JoinSet::new(),
            checks: tokio::task::JoinSet::new(),
            owed: Vec::new(),
        }
    }
}

/// What a box that needs its post should do about the plugin.
pub(super) enum Choice {
    Plugin,
    Rest,
    /// The plugin's health is being checked; the worker is woken when it is known.
    Wait,
}

impl Worker {
    fn publish_mode(&self, server: &str, mode: &str, why: String) {
        if let Ok(mut m) = self.links.shared.lock() {
            m.insert(server.to_owned(), (mode.to_owned(), why));
        }
    }

    fn link(&mut self, server: &str) -> &mut Link {
        let p = &self.opts.plugin;
        self.links.map.entry(server.to_owned()).or_insert_with(|| {
            let own = p.for_server(server);
            Link {
                base: own.url.unwrap_or_else(|| plugin::base_of(server)),
                mode: own.mode,
                secret: own.secret,
                state: LinkState::Unknown,
                failures: 0,
                hold_until: None,
                last_batch: None,
                in_flight: false,
                next_check: None,
            }
        })
    }

    /// Which transport a box of `server` that is about to get its post takes.
    pub(super) fn choose(&mut self, server: &str) -> Choice {
        let known = self.links.map.contains_key(server);
        let link = self.link(server);
        let (mode, has_secret) = (link.mode, link.secret.is_some());
        if mode == MattermostMode::Rest {
            if !known {
                self.publish_mode(server, "rest", "mode = \"rest\"".to_owned());
            }
            return Choice::Rest;
        }
        if !has_secret {
            if !known {
                self.link(server).state = LinkState::Down;
                self.publish_mode(server, "rest", "no plugin secret is configured for this server (mattermost.plugin_secret_file, PLUGIN_SECRET, the plugin-secret credential, or the account's plugin_secret_file)".to_owned());
            }
            return Choice::Rest;
        }
        let Some(api) = self.api.clone() else {
            return Choice::Rest;
        };
        let timeout = self.opts.request_timeout;
        let link = self.link(server);
        match link.state {
            LinkState::Up => Choice::Plugin,
            LinkState::Checking => Choice::Wait,
            LinkState::Down => Choice::Rest,
            LinkState::Unknown => {
                link.state = LinkState::Checking;
                let (server, base) = (server.to_owned(), link.base.clone());
                self.links.checks.spawn(async move {
                    let r = plugin::health(api.http(), &base, timeout).await;
                    (server, r)
                });
                Choice::Wait
            }
        }
    }

    pub(super) fn on_check(&mut self, (server, result): CheckDone) {
        let recheck = self.opts.plugin.recheck;
        let now = Instant::now();
        let link = self.link(&server);
        let base = link.base.clone();
        match result {
            Ok(h) => {
                link.state = LinkState::Up;
                link.failures = 0;
                link.next_check = None;
                tracing::info!(server = %server, plugin = %base, version = %h.version,
                    "the Mattermost plugin answers: boxes of this server go to it");
                self.publish_mode(
                    &server,
                    "plugin",
                    format!("{base} answers GET health (version {})", h.version),
                );
            }
            Err(why) => {
                link.state = LinkState::Down;
                link.next_check = Some(now + recheck);
                tracing::info!(server = %server, plugin = %base, reason = %why,
                    "the Mattermost plugin is not used for this server; boxes go over REST");
                self.publish_mode(
                    &server,
                    "rest",
                    format!(
                        "plugin not available: {why}; checked again every {}s",
                        recheck.as_secs()
                    ),
                );
            }
        }
    }

    /// Re-checks plugins that are down when due; returns when the next check is.
    pub(super) fn recheck(&mut self, now: Instant) -> Option<Instant> {
        let mut wake = None;
        let due: Vec<String> = self
            .links
            .map
            .iter()
            .filter(|(_, l)| l.state == LinkState::Down)
            .filter(|(_, l)| l.mode != MattermostMode::Rest && l.secret.is_some())
            .filter_map(|(s, l)| match l.next_check {
                Some(t) if t <= now => Some(s.clone()),
                Some(t) => {
                    wake = earliest(wake, Some(t));
                    None
                }
                None => None,
            })
            .collect();
        for server in due {
            let link = self.link(&server);
            link.state = LinkState::Unknown;
            link.next_check = None;
            let _ = self.choose(&server);
        }
        wake
    }

    /// The plugin of `server` is not used any more: every box on it continues over REST.
    fn plugin_down(&mut self, server: &str, why: String) {
        let recheck = self.opts.plugin.recheck;
        let link = self.link(server);
        link.state = LinkState::Down;
        link.next_check = Some(Instant::now() + recheck);
        let base = link.base.clone();
        tracing::warn!(server = %server, plugin = %base, reason = %why,
            "falling back to REST for this server's boxes; the plugin is checked again later");
        self.publish_mode(server, "rest", format!("fell back from the plugin: {why}"));
        let ids: Vec<BoxId> = self
            .boxes
            .iter()
            .filter(|(_, b)| b.via_plugin.is_some() && b.server() == server)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.move_to_rest(&id);
        }
    }

    fn move_to_rest(&mut self, id: &BoxId) {
        if let Some(b) = self.boxes.get_mut(id) {
            b.left_plugin = b.via_plugin.take().filter(|s| s.seq > 0);
            b.transport_chosen = true;
            // What the plugin's post shows is not what REST would write.
            b.shown = None;
        }
    }
}
