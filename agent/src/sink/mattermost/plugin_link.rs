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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::service::config::{MattermostMode, Secret};
use crate::session::BoxId;

use super::server::Backoff;
use super::tracked::{Phase, Settle};
use super::transport::plugin::{self, Sent, WireDelta, WireResult};
use super::transport::rest::Failure;
use super::worker::{Worker, earliest};

/// How boxes reach Mattermost: per server, else the same for every server.
#[derive(Clone, Debug)]
pub struct PluginOptions {
    pub mode: MattermostMode,
    /// The plugin's base URL for every server; None: `<server>/plugins/com.openclaw.livestatus`.
    pub url: Option<String>,
    /// None: the plugin cannot be written to, so `auto` means REST.
    pub secret: Option<Secret>,
    /// While a server's plugin is not used, its health is checked again this often.
    pub recheck: Duration,
    /// Per server (base URL): its own settings, which replace the three above for it.
    pub servers: std::collections::BTreeMap<String, ServerPlugin>,
}

/// One server's plugin settings.
#[derive(Clone, Debug)]
pub struct ServerPlugin {
    pub mode: MattermostMode,
    pub url: Option<String>,
    pub secret: Option<Secret>,
}

impl PluginOptions {
    pub fn for_server(&self, server: &str) -> ServerPlugin {
        self.servers.get(server).cloned().unwrap_or(ServerPlugin {
            mode: self.mode,
            url: self.url.clone(),
            secret: self.secret.clone(),
        })
    }
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            mode: MattermostMode::Rest,
            url: None,
            secret: None,
            recheck: Duration::from_secs(60),
            servers: Default::default(),
        }
    }
}

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

/// A batch in flight: per box, what the plugin had and what it will have once applied.
pub(super) struct InFlight {
    pub server: String,
    pub boxes: Vec<(BoxId, Sent, Sent)>,
    pub owed: Vec<Owed>,
}

/// The final box of a turn that moved from the plugin to REST and ended there. The plugin still
/// holds that session as active; left so, its cleanup job would mark it `[INTERRUPTED]` and
/// write that into the post REST finished. Once the plugin answers again it is sent the final
/// box (a snapshot, which keeps the post), before any newer turn of the session.
pub(super) struct Owed {
    pub server: String,
    pub model: crate::session::BoxModel,
    pub channel_id: String,
    pub root_id: Option<String>,
    pub sent: Sent,
}

/// At most this many final boxes wait for a plugin to return; older ones are dropped (their
/// posts may then end `[INTERRUPTED]` by the plugin's cleanup).
const MAX_OWED: usize = 1000;

pub(super) type BatchDone = (InFlight, Result<Vec<WireResult>, Failure>);
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

    /// Starts one batch per server whose window is open and whose boxes have news; returns
    /// when a window next opens for boxes that wait.
    pub(super) fn pump_plugin(&mut self, now: Instant) -> Option<Instant> {
        let api = self.api.clone()?;
        let mut per_server: HashMap<String, Vec<BoxId>> = HashMap::new();
        let mut done = Vec::new();
        let mut ids: Vec<(u64, BoxId)> = self
            .boxes
            .iter()
            .filter(|(_, b)| b.admitted && !b.busy && b.via_plugin.is_some())
            .map(|(id, b)| (b.order, id.clone()))
            .collect();
        ids.sort_unstable_by_key(|(o, _)| *o);
        for (_, id) in ids {
            let Some(b) = self.boxes.get(&id) else {
                continue;
            };
            let Some(sent) = &b.via_plugin else { continue };
            if sent.caught_up(&b.model) {
                if b.model.retracted {
                    done.push((id, Settle::Gone));
                } else if b.model.is_finished() || self.finishing {
                    done.push((id, Settle::Delivered));
                }
                continue;
            }
            per_server
                .entry(b.server().to_owned())
                .or_default()
                .push(id);
        }
        for (id, how) in done {
            self.settle(&id, how);
        }
        for o in &self.links.owed {
            per_server.entry(o.server.clone()).or_default();
        }
        let throttle = self.opts.throttle;
        let finishing = self.finishing;
        let mut wake = None;
        for (server, ids) in per_server {
            let link = self.link(&server);
            if link.in_flight || link.state != LinkState::Up {
                continue;
            }
            let Some(secret) = link.secret.clone() else {
                continue;
            };
            if let Some(until) = link.hold_until {
                if now < until {
                    wake = earliest(wake, Some(until));
                    continue;
                }
                link.hold_until = None;
            }
            if let Some(last) = link.last_batch
                && !finishing
                && now < last + throttle
            {
                wake = earliest(wake, Some(last + throttle));
                continue;
            }
            link.in_flight = true;
            link.last_batch = Some(now);
            let base = link.base.clone();
            let mut deltas: Vec<WireDelta> = Vec::new();
            let mut boxes = Vec::new();
            // Final boxes owed to this plugin go first: before any newer turn of their session.
            let (mine, rest): (Vec<Owed>, Vec<Owed>) = std::mem::take(&mut self.links.owed)
                .into_iter()
                .partition(|o| o.server == server);
            self.links.owed = rest;
            let mut owed = Vec::new();
            for o in mine {
                if deltas.len() >= plugin::MAX_DELTAS_PER_BATCH {
                    self.links.owed.push(o);
                    continue;
                }
                if let Some((delta, _)) = o.sent.next(&o.model, &o.channel_id, o.root_id.as_deref())
                {
                    deltas.push(delta);
                    owed.push(o);
                }
            }
            let room = plugin::MAX_DELTAS_PER_BATCH.saturating_sub(deltas.len());
            for id in ids.into_iter().take(room) {
                let Some(b) = self.boxes.get_mut(&id) else {
                    continue;
                };
                let Some(sent) = &b.via_plugin else { continue };
                let channel = match &b.phase {
                    Phase::NeedPost { channel_id } | Phase::Posted { channel_id, .. } => {
                        channel_id.clone()
                    }
                    Phase::NeedChannel { .. } => continue,
                };
                if let Some((delta, next)) = sent.next(&b.model, &channel, b.root_id.as_deref()) {
                    b.busy = true;
                    if let Some(since) = b.pending_since_ms.take() {
                        crate::metrics::observe_delivery(since, crate::clock::now_ms());
                    }
                    deltas.push(delta);
                    boxes.push((id, sent.clone(), next));
                }
            }
            if deltas.is_empty() {
                if let Some(l) = self.links.map.get_mut(&server) {
                    l.in_flight = false;
                }
                continue;
            }
            let api = api.clone();
            let flight = InFlight {
                server,
                boxes,
                owed,
            };
            self.links.batches.spawn(async move {
                let r = plugin::batch(api.http(), &base, &secret, &deltas).await;
                (flight, r)
            });
        }
        wake
    }

    pub(super) fn on_batch(&mut self, (flight, result): BatchDone) {
        let now = Instant::now();
        let backoff = Backoff {
            min: self.opts.retry_backoff_min,
            max: self.opts.retry_backoff_max,
        };
        let threshold = self.opts.breaker_failures.max(1);
        let server = flight.server.clone();
        let link = self.link(&server);
        link.in_flight = false;
        let results = match result {
            Ok(results) => {
                link.failures = 0;
                results
            }
            Err(failure) => {
                let why = match &failure {
                    Failure::RateLimited { wait } => {
                        link.hold_until =
                            Some(now + (*wait).min(super::server::MAX_RATE_LIMIT_PAUSE));
                        None
                    }
                    Failure::Transient(why) => {
                        link.failures += 1;
                        link.hold_until = Some(now + backoff.delay(link.failures));
                        (link.failures >= threshold).then(|| {
                            format!("{} failures in a row, the last: {why}", link.failures)
                        })
                    }
                    Failure::Rejected(r) => Some(format!(
                        "the plugin refused the batch: HTTP {} {}{}",
                        r.status,
                        r.message,
                        if r.status == 401 {
                            " (set the same shared secret on both sides: System Console > Plugins > OpenClaw Live Status > SharedSecret, and mattermost.plugin_secret_file / PLUGIN_SECRET)"
                        } else {
                            ""
                        }
                    )),
                    Failure::Config(why) => Some(why.clone()),
                };
                self.links.owed.extend(flight.owed);
                for (id, prev, _) in flight.boxes {
                    if let Some(b) = self.boxes.get_mut(&id) {
                        b.busy = false;
                        let mut prev = prev;
                        // It may have been applied before the failure: replace, do not add.
                        prev.snapshot = prev.seq > 0;
                        b.via_plugin = Some(prev);
                    }
                }
                if let Some(why) = why {
                    self.plugin_down(&server, why);
                }
                return;
            }
        };
        // The owed final boxes came first; whatever the plugin answered, they are done with
        // (applied, or the plugin has moved on from that box).
        let results = results
            .get(flight.owed.len()..)
            .unwrap_or_default()
            .to_vec();
        for (i, (id, _prev, mut next)) in flight.boxes.into_iter().enumerate() {
            let r = results.get(i).filter(|r| {
                self.boxes
                    .get(&id)
                    .is_some_and(|b| b.model.session_key == r.session_key)
            });
            let Some(b) = self.boxes.get_mut(&id) else {
                continue;
            };
            b.busy = false;
            let Some(r) = r else {
                next.snapshot = true;
                b.via_plugin = Some(next);
                continue;
            };
            match r.status.as_str() {
                "applied" => {
                    if !r.post_id.is_empty()
                        && let Phase::NeedPost { channel_id } = &b.phase
                    {
                        tracing::info!(session_key = %b.key.session_key, post_id = %r.post_id,
                            "box post created by the plugin");
                        b.phase = Phase::Posted {
                            channel_id: channel_id.clone(),
                            post_id: r.post_id.clone(),
                        };
                        b.plugin_post = true;
                        b.via_plugin = Some(next);
                        self.stats.plugin_posts += 1;
                        self.save_box(&id);
                        continue;
                    }
                    b.via_plugin = Some(next);
                }
                "refused" => {
                    tracing::warn!(session_key = %b.key.session_key, reason = %r.error,
                        "the plugin refused this box; it goes over REST");
                    self.move_to_rest(&id);
                }
                _ => {
                    // gap or duplicate: the plugin's record differs from what we think it has.
                    next.snapshot = true;
                    next.plugin_seq = r.seq;
                    b.via_plugin = Some(next);
                }
            }
        }
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

/// What the worker would pick for `server` now, and why: for `doctor`. With a secret and a
/// plugin that answers, the secret itself is tried with an empty batch, which the plugin refuses
/// as empty (400) only after accepting the secret (401 otherwise), so nothing is written.
pub async fn detect(
    server: &str,
    opts: &PluginOptions,
    timeout: Duration,
) -> (&'static str, String) {
    let own = opts.for_server(server);
    if own.mode == MattermostMode::Rest {
        return ("rest", "mode = \"rest\"".to_owned());
    }
    let Some(secret) = &own.secret else {
        return (
            "rest",
            "no plugin secret for this server (mattermost.plugin_secret_file, PLUGIN_SECRET, the plugin-secret credential, or the account's plugin_secret_file), so mode auto means REST".to_owned(),
        );
    };
    let base = own.url.clone().unwrap_or_else(|| plugin::base_of(server));
    let http = match reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .build()
    {
        Ok(h) => h,
        Err(e) => return ("rest", format!("cannot set up an HTTP client: {e}")),
    };
    let health = match plugin::health(&http, &base, timeout).await {
        Ok(h) => h,
        Err(why) => {
            return (
                "rest",
                format!(
                    "{base}: {why}; REST until it answers (checked every {}s)",
                    opts.recheck.as_secs()
                ),
            );
        }
    };
    let Ok(url) = plugin::endpoint(&base, "batch") else {
        return ("rest", format!("{base} does not make a batch URL"));
    };
    let answer = http
        .post(url)
        .bearer_auth(secret.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body("{\"deltas\":[]}")
        .send()
        .await;
    match answer.map(|r| r.status().as_u16()) {
        Ok(400) => (
            "plugin",
            format!(
                "{base} answers (version {}) and accepts the shared secret",
                health.version
            ),
        ),
        Ok(401) => (
            "rest",
            format!(
                "{base} answers but refuses the shared secret (401): set the same SharedSecret in System Console > Plugins > OpenClaw Live Status and in mattermost.plugin_secret_file / PLUGIN_SECRET"
            ),
        ),
        Ok(code) => (
            "plugin",
            format!(
                "{base} answers (version {}); a test batch got HTTP {code}",
                health.version
            ),
        ),
        Err(e) => ("rest", format!("{base}: the test batch failed: {e}")),
    }
}

impl Worker {
    /// A box that left the plugin and now ended over REST: owe the plugin its final box.
    pub(super) fn owe_final(&mut self, b: &super::tracked::Tracked) {
        let Some(sent) = &b.left_plugin else { return };
        if !b.model.is_finished() || b.model.retracted {
            return;
        }
        let channel_id = match &b.phase {
            Phase::NeedPost { channel_id } | Phase::Posted { channel_id, .. } => channel_id.clone(),
            Phase::NeedChannel { .. } => return,
        };
        if self.links.owed.len() >= MAX_OWED {
            self.links.owed.remove(0);
        }
        let mut sent = sent.clone();
        sent.snapshot = true;
        self.links.owed.push(Owed {
            server: b.server().to_owned(),
            model: b.model.clone(),
            channel_id,
            root_id: b.root_id.clone(),
            sent,
        });
    }
}
