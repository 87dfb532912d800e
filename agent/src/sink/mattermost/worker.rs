//! The REST sink's worker task: holds the boxes (fed by `intake`), decides what each box needs
//! next (a DM channel, its post, an update, a delete), and runs those requests as jobs within
//! the limits: one job per box, `max_active_boxes` boxes at a time, the per-box throttle, and
//! each server's breaker / rate limit / backoff. It owns the post store and saves it (debounced).
//!
//! Requests always carry a box's LATEST text: while a request is in flight or a server is
//! unavailable, new states only replace the pending text, so a box that missed ten states
//! catches up in one update.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::gateway::accounts::{Account, AccountBook};
use crate::render::render_markdown;
use crate::service::state::{Outcome, PostStore};
use crate::session::{BoxDelta, BoxId, BoxModel, SessionId};

use super::breaker::Admit;
use super::hints::{Call, hint};
use super::job::{self, Job, JobOk, Lookup, Marker};
use super::persist::Persister;
use super::plugin_link::{Choice, Links, SharedModes};
use super::server::{Backoff, Ping, Server, SharedStates};
use super::tracked::{Phase, Settle, Tracked, account_id, outcome, posted};
use super::transport::plugin::Sent;
use super::transport::rest::{Api, Failure};
use super::{DrainReport, RestOptions};

/// At most one debounced store write per this period (the write before a create is not held).
const STORE_DEBOUNCE: Duration = Duration::from_millis(500);
/// A post made after a "creating since" marker is searched from this much earlier, for a server
/// clock behind ours.
pub(super) const LOOKUP_MARGIN_MS: i64 = 5 * 60 * 1000;

pub(super) enum Msg {
    Deltas(Vec<BoxDelta>, i64),
    Finish,
    Drain(oneshot::Sender<DrainReport>),
    /// The drain deadline passed: save what is known and stop.
    GiveUp(oneshot::Sender<DrainReport>),
    /// The watchdog's probe: answered as soon as the worker's loop reads it.
    Heartbeat(oneshot::Sender<()>),
}

enum Next {
    Run(Box<Job>),
    Wait(Option<Instant>),
    Settle(Settle),
}

#[derive(Default)]
pub(super) struct Stats {
    pub plugin_posts: usize,
    delivered: usize,
    abandoned: usize,
    created: usize,
    adopted: usize,
    updates: usize,
    deletes: usize,
}

type Owner = (BoxId, String, Call);

pub(super) struct Worker {
    pub(super) opts: RestOptions,
    pub(super) accounts: Arc<dyn AccountBook>,
    pub(super) api: Option<Arc<Api>>,
    pub(super) store: PostStore,
    persist: Arc<Persister>,
    store_gen: u64,
    store_dirty: bool,
    last_store_write: Option<Instant>,
    pub(super) boxes: HashMap<BoxId, Tracked>,
    pub(super) queue: VecDeque<BoxId>,
    active: usize,
    pub(super) opened: u64,
    servers: HashMap<String, Server>,
    shared: SharedStates,
    bots: HashMap<(String, u64), String>,
    pub(super) dms: HashMap<(String, u64, String), String>,
    jobs: JoinSet<Result<JobOk, Failure>>,
    owners: HashMap<tokio::task::Id, Owner>,
    /// Pings of servers whose breaker is open: (base URL, answered).
    pings: JoinSet<(String, bool)>,
    pub(super) finishing: bool,
    drain_reply: Option<oneshot::Sender<DrainReport>>,
    logged: HashSet<String>,
    pub(super) stats: Stats,
    pub(super) links: Links,
    /// Sessions rebuilt in the batch of deltas being taken in (see `restore.rs`).
    pub(super) restored_sessions: Vec<(SessionId, Account)>,
    /// Ids for boxes the worker makes itself, counting down from where no tracker reaches.
    pub(super) own_turns: u64,
}

pub(super) fn wall_ms() -> i64 {
    crate::pipeline::now_ms()
}

pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl Worker {
    pub fn new(
        opts: RestOptions,
        accounts: Arc<dyn AccountBook>,
        mut store: PostStore,
        shared: SharedStates,
        persist: Arc<Persister>,
        modes: SharedModes,
    ) -> Worker {
        let api = match Api::new(opts.request_timeout) {
            Ok(api) => Some(Arc::new(api)),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up the HTTP client: nothing will be posted to Mattermost");
                None
            }
        };
        store.prune(wall_ms());
        Worker {
            opts,
            accounts,
            api,
            store,
            persist,
            store_gen: 1,
            // Written once at start, so the next run knows when this one began (see
            // `PostStore::unposted_since_ms`) even if nothing is posted before a crash.
            store_dirty: true,
            last_store_write: None,
            boxes: HashMap::new(),
            queue: VecDeque::new(),
            active: 0,
            opened: 0,
            servers: HashMap::new(),
            shared,
            bots: HashMap::new(),
            dms: HashMap::new(),
            jobs: JoinSet::new(),
            owners: HashMap::new(),
            pings: JoinSet::new(),
            finishing: false,
            drain_reply: None,
            logged: HashSet::new(),
            stats: Stats::default(),
            links: Links::new(modes),
            restored_sessions: Vec::new(),
            own_turns: u64::MAX,
        }
    }

    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        // A first pass at once: the store is due to be written at start.
        let mut wake: Option<Instant> = Some(Instant::now());
        loop {
            let sleep = async {
                match wake {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { return };
                    let mut next = Some(msg);
                    // Take everything already queued, so a burst costs one pass.
                    while let Some(msg) = next.take() {
                        if let Some(reply) = self.on_msg(msg) {
                            let report = self.close(true).await;
                            let _ = reply.send(report);
                            return;
                        }
                        next = rx.try_recv().ok();
                    }
                }
                Some(done) = self.jobs.join_next_with_id(), if !self.jobs.is_empty() => {
                    self.on_done(done);
                }
                Some(done) = self.pings.join_next(), if !self.pings.is_empty() => {
                    if let Ok((server, ok)) = done {
                        self.server(&server).ping_answered(ok, Instant::now());
                    }
                }
                Some(done) = self.links.batches.join_next(), if !self.links.batches.is_empty() => {
                    if let Ok(done) = done {
                        self.on_batch(done);
                    }
                }
                Some(done) = self.links.checks.join_next(), if !self.links.checks.is_empty() => {
                    if let Ok(done) = done {
                        self.on_check(done);
                    }
                }
                () = sleep => {}
            }
            let now = Instant::now();
            // Pings first: an answered one half-opens its breaker for this very pump.
            let ping_wake = self.ping(now);
            // REST first: it is where a box that needs its post is given to the plugin, whose
            // batch then goes in this same pass.
            let rest_wake = self.pump(now);
            let plugin_wake = earliest(self.recheck(now), self.pump_plugin(now));
            wake = earliest(
                earliest(rest_wake, self.flush_store(now)),
                earliest(ping_wake, plugin_wake),
            );
            if self.drain_reply.is_some() && self.boxes.is_empty() {
                let report = self.close(false).await;
                if let Some(reply) = self.drain_reply.take() {
                    let _ = reply.send(report);
                }
                return;
            }
        }
    }

    /// Returns the reply channel when the worker must stop now.
    fn on_msg(&mut self, msg: Msg) -> Option<oneshot::Sender<DrainReport>> {
        match msg {
            Msg::Deltas(deltas, now_ms) => {
                for d in &deltas {
                    self.on_delta(d, now_ms);
                }
                self.retract_stale_lock_posts();
            }
            Msg::Finish => self.finishing = true,
            Msg::Drain(reply) => {
                self.finishing = true;
                self.drain_reply = Some(reply);
            }
            Msg::GiveUp(reply) => return Some(reply),
            Msg::Heartbeat(reply) => {
                let _ = reply.send(());
            }
        }
        None
    }

    pub(super) fn once(&mut self, key: String) -> bool {
        self.logged.insert(key)
    }

    pub(super) fn render(&self, model: &BoxModel, now_ms: i64) -> String {
        render_markdown(
            model,
            now_ms,
            &self.opts.render,
            self.opts.max_message_chars,
        )
    }

    pub(super) fn store_changed(&mut self) {
        self.store_gen += 1;
        self.store_dirty = true;
    }

    pub(super) fn save_box(&mut self, id: &BoxId) {
        let Some(b) = self.boxes.get(id) else { return };
        let key = b.key.clone();
        match b.entry(wall_ms()) {
            Some(entry) => self.store.put(key, entry),
            None => {
                self.store.remove(&key);
            }
        }
        self.store_changed();
    }

    /// Admits waiting boxes into free slots, then starts every job that may start now.
    /// Returns when something next becomes possible.
    ///
    /// A slot is for a box's updates: a box waiting for one still gets its post (and its DM
    /// channel, and its delete), at most `max_active_boxes` of those at a time, so a turn shows
    /// up as it starts however many others run (one create per turn is a rate the gateways set);
    /// only its edits wait, and catch up in one when it is admitted.
    fn pump(&mut self, now: Instant) -> Option<Instant> {
        let max = self.opts.max_active_boxes.max(1);
        while self.active < max {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            if let Some(b) = self.boxes.get_mut(&id) {
                b.admitted = true;
                self.active += 1;
            }
        }
        let mut early = self
            .boxes
            .values()
            .filter(|b| b.busy && !b.admitted)
            .count();
        let mut ids: Vec<(u64, BoxId)> = self
            .boxes
            .iter()
            .filter(|(_, b)| !b.busy && (b.admitted || b.may_run_unadmitted()))
            .map(|(id, b)| (b.order, id.clone()))
            .collect();
        // Oldest first: with a half-open breaker the probe goes to the box waiting longest.
        ids.sort_unstable_by_key(|(order, _)| *order);
        let mut wake = None;
        for (_, id) in ids {
            let admitted = self.boxes.get(&id).is_some_and(|b| b.admitted);
            if !admitted && early >= max {
                continue;
            }
            wake = earliest(wake, self.step(&id, now));
            if !admitted && self.boxes.get(&id).is_some_and(|b| b.busy) {
                early += 1;
            }
        }
        wake
    }

    /// Sends the pings that are due (servers whose breaker is open); returns when the next is.
    fn ping(&mut self, now: Instant) -> Option<Instant> {
        let api = self.api.clone()?;
        let mut wake = None;
        for (base_url, server) in &mut self.servers {
            match server.ping(now) {
                Ping::Now => {
                    let (api, base_url) = (api.clone(), base_url.clone());
                    self.pings.spawn(async move {
                        let ok = api.ping(&base_url).await;
                        (base_url, ok)
                    });
                }
                Ping::At(at) => wake = earliest(wake, Some(at)),
                Ping::Idle => {}
            }
        }
        wake
    }

    /// Decides the next job of one idle, admitted box.
    fn step(&mut self, id: &BoxId, now: Instant) -> Option<Instant> {
        let Some(api) = self.api.clone() else {
            self.settle(id, Settle::Abandoned);
            return None;
        };
        let b = self.boxes.get(id)?;
        if b.via_plugin.is_some() {
            return None;
        }
        // A new box, or a restored one whose post the plugin made (continued there with a
        // snapshot, which keeps the post, when the plugin answers; over REST otherwise).
        let fresh = b.lookup.is_none()
            && b.marker_ms.is_none()
            && matches!(b.phase, Phase::NeedPost { .. });
        let resumed = b.plugin_post && matches!(b.phase, Phase::Posted { .. });
        if !b.transport_chosen && !b.model.retracted && (fresh || resumed) {
            let server = b.server().to_owned();
            match self.choose(&server) {
                Choice::Wait => return None,
                Choice::Plugin => {
                    let b = self.boxes.get_mut(id)?;
                    b.transport_chosen = true;
                    b.via_plugin = Some(if resumed {
                        Sent::resumed()
                    } else {
                        Sent::default()
                    });
                    return None;
                }
                Choice::Rest => {
                    self.boxes.get_mut(id)?.transport_chosen = true;
                }
            }
        }
        let job = match self.next_job(id, now) {
            Next::Run(job) => *job,
            Next::Wait(wake) => return wake,
            Next::Settle(how) => {
                self.settle(id, how);
                return None;
            }
        };
        let server = self.boxes.get(id)?.server().to_owned();
        match self.server(&server).admit(now) {
            Admit::Go { .. } => {}
            Admit::Until(t) => return Some(t),
            Admit::AfterProbe => return None,
        }
        let mut job = job;
        if let Job::Create {
            create: true,
            marker,
            ..
        } = &mut job
        {
            *marker = Some(self.write_marker(id));
        }
        let b = self.boxes.get_mut(id)?;
        b.busy = true;
        if matches!(job, Job::Create { .. } | Job::Patch { .. }) {
            b.throttle.sent(now);
            b.sent_changes(wall_ms());
        }
        let call = job.call();
        let account = b.account.clone();
        let handle = self.jobs.spawn(job::run(api, account, job));
        self.owners.insert(handle.id(), (id.clone(), server, call));
        None
    }

    fn next_job(&self, id: &BoxId, now: Instant) -> Next {
        let Some(b) = self.boxes.get(id) else {
            return Next::Wait(None);
        };
        let retracted = b.model.retracted;
        let ready = if self.finishing || retracted {
            now
        } else {
            b.throttle.ready_at(now)
        };
        match &b.phase {
            Phase::NeedChannel { .. } if retracted => Next::Settle(Settle::Gone),
            Phase::NeedChannel { user_id } => Next::Run(Box::new(Job::Resolve {
                user_id: user_id.clone(),
                bot_id: self.bots.get(&account_id(&b.account)).cloned(),
            })),
            Phase::NeedPost { .. } if retracted && b.lookup.is_none() => Next::Settle(Settle::Gone),
            Phase::NeedPost { .. } if ready > now => Next::Wait(Some(ready)),
            Phase::NeedPost { channel_id } => Next::Run(Box::new(Job::Create {
                channel_id: channel_id.clone(),
                root_id: b.root_id.clone(),
                text: b.text.clone(),
                key: b.key.clone(),
                lookup: b.lookup.clone(),
                create: !retracted,
                // Taken once the server admits the request.
                marker: None,
            })),
            Phase::Posted { post_id, .. } if retracted => Next::Run(Box::new(Job::Delete {
                post_id: post_id.clone(),
            })),
            Phase::Posted { .. } if !b.latest_shown() && ready > now => Next::Wait(Some(ready)),
            Phase::Posted { post_id, .. } if !b.latest_shown() => Next::Run(Box::new(Job::Patch {
                post_id: post_id.clone(),
                text: b.text.clone(),
            })),
            // Latest state shown: a finished box is done; while stopping, so is an open one.
            Phase::Posted { .. } if b.model.is_finished() || self.finishing => {
                Next::Settle(Settle::Delivered)
            }
            Phase::Posted { .. } => Next::Wait(None),
        }
    }

    /// Records "creating since now" for the box and returns the snapshot the create job must
    /// put on disk before it posts.
    fn write_marker(&mut self, id: &BoxId) -> Marker {
        let now_ms = wall_ms();
        if let Some(b) = self.boxes.get_mut(id) {
            b.marker_ms = Some(now_ms);
        }
        self.save_box(id);
        self.store_dirty = false;
        self.last_store_write = Some(Instant::now());
        Marker {
            persist: self.persist.clone(),
            generation: self.store_gen,
            bytes: self.store.to_bytes(),
        }
    }

    fn server(&mut self, base_url: &str) -> &mut Server {
        let opts = &self.opts;
        let shared = &self.shared;
        self.servers.entry(base_url.to_owned()).or_insert_with(|| {
            Server::new(
                base_url,
                opts.breaker_failures,
                opts.breaker_cooldown,
                Backoff {
                    min: opts.retry_backoff_min,
                    max: opts.retry_backoff_max,
                },
                opts.ping_min,
                shared.clone(),
            )
        })
    }

    fn on_done(
        &mut self,
        done: Result<(tokio::task::Id, Result<JobOk, Failure>), tokio::task::JoinError>,
    ) {
        let (task, result) = match done {
            Ok((task, result)) => (task, result),
            Err(e) => (
                e.id(),
                Err(Failure::Transient(format!("request task failed: {e}"))),
            ),
        };
        let Some((id, server, call)) = self.owners.remove(&task) else {
            return;
        };
        let now = Instant::now();
        self.server(&server).record(&result, now);
        let Some(b) = self.boxes.get_mut(&id) else {
            return;
        };
        b.busy = false;
        match result {
            Ok(JobOk::Resolved { bot_id, channel_id }) => {
                let (base, tok) = account_id(&b.account);
                if let Phase::NeedChannel { user_id } = &b.phase {
                    self.dms
                        .insert((base.clone(), tok, user_id.clone()), channel_id.clone());
                }
                b.phase = Phase::NeedPost { channel_id };
                self.bots.insert((base, tok), bot_id);
            }
            Ok(JobOk::Created { post_id, text }) => {
                // The journal's fields (GATEWAY, AGENT_ID, SESSION_KEY, MM_ACCOUNT, POST_ID):
                // `journalctl SESSION_KEY=…` finds the post of a session.
                tracing::info!(gateway = %b.model.id.session.gateway.display(), agent_id = %b.model.agent_id,
                    session_key = %b.key.session_key, mm_account = b.model.route.as_ref().map_or("default", |r| r.account_id.as_str()),
                    post_id = %post_id, started_ms = b.key.started_ms, first_line_ms = ?b.model.first_line_ms, "box post created");
                b.phase = posted(&b.phase, post_id);
                b.shown = Some(text);
                b.lookup = None;
                self.stats.created += 1;
                self.save_box(&id);
            }
            Ok(JobOk::Found { post_id }) => {
                b.phase = posted(&b.phase, post_id);
                b.shown = None;
                b.lookup = None;
                self.stats.adopted += 1;
                self.save_box(&id);
            }
            Ok(JobOk::Missing) => self.settle(&id, Settle::Gone),
            Ok(JobOk::Patched { text }) => {
                b.shown = Some(text);
                self.stats.updates += 1;
                self.save_box(&id);
            }
            Ok(JobOk::Deleted) => {
                self.stats.deletes += 1;
                self.settle(&id, Settle::Gone);
            }
            Err(Failure::Transient(_) | Failure::RateLimited { .. }) => {
                if call == Call::Create
                    && let Some(since) = b.marker_ms
                {
                    // The POST may have gone through before the failure: look before reposting.
                    let mut keys = b.lookup.take().map(|l| l.keys).unwrap_or_default();
                    if !keys.contains(&b.key) {
                        keys.push(b.key.clone());
                    }
                    b.lookup = Some(Lookup {
                        since_ms: since - LOOKUP_MARGIN_MS,
                        keys,
                    });
                }
            }
            Err(Failure::Rejected(r))
                if call == Call::Patch && b.plugin_post && matches!(r.status, 403 | 404) =>
            {
                // The plugin's post, which this account may not edit (or see): post the box
                // anew rather than lose it.
                b.plugin_post = false;
                b.shown = None;
                if let Phase::Posted { channel_id, .. } = &b.phase {
                    b.phase = Phase::NeedPost {
                        channel_id: channel_id.clone(),
                    };
                }
                if self.once(format!("pluginpost\0{server}\0{}", r.status)) {
                    tracing::warn!(server = %server, status = r.status, message = %r.message,
                        "cannot continue the plugin's post over REST (give the bot the edit_others_posts permission to keep one post per box); posting the box again");
                }
            }
            Err(Failure::Rejected(r)) => {
                let channel = match &b.phase {
                    Phase::NeedPost { channel_id } | Phase::Posted { channel_id, .. } => {
                        channel_id.clone()
                    }
                    Phase::NeedChannel { user_id } => format!("dm:{user_id}"),
                };
                let k = format!("4xx\0{server}\0{}\0{}\0{channel}", r.status, r.id);
                if self.once(k) {
                    tracing::warn!(
                        server = %server, status = r.status, error_id = %r.id, message = %r.message,
                        channel_id = %channel, call = call.as_str(),
                        hint = hint(call, r.status, &r.id),
                        "Mattermost refused a status box request; this box is no longer sent"
                    );
                }
                self.settle(&id, Settle::Abandoned);
            }
            Err(Failure::Config(why)) => {
                if self.once(format!("config\0{server}")) {
                    tracing::warn!(server = %server, error = %why,
                        "unusable Mattermost account: its boxes are not posted");
                }
                self.settle(&id, Settle::Abandoned);
            }
        }
    }

    /// Removes a box, frees its slot, and records in the store what its post now is.
    pub(super) fn settle(&mut self, id: &BoxId, how: Settle) {
        let Some(b) = self.boxes.remove(id) else {
            return;
        };
        if b.admitted {
            self.active -= 1;
        }
        let posted = matches!(b.phase, Phase::Posted { .. });
        match how {
            Settle::Delivered => {
                self.owe_final(&b);
                self.stats.delivered += 1;
                if let Some(mut entry) = b.entry(wall_ms()) {
                    if b.model.is_finished() {
                        entry.finished = true;
                        entry.outcome = outcome(b.model.state);
                    }
                    self.store.put(b.key.clone(), entry);
                }
            }
            Settle::Gone => {
                self.store.remove(&b.key);
            }
            Settle::Abandoned => {
                self.stats.abandoned += 1;
                match b.entry(wall_ms()) {
                    Some(mut entry) if posted => {
                        entry.finished = true;
                        entry.outcome = Some(Outcome::Abandoned);
                        self.store.put(b.key.clone(), entry);
                    }
                    _ => {
                        self.store.remove(&b.key);
                    }
                }
            }
        }
        self.store_changed();
    }

    /// Starts a debounced store write when one is due; returns when the next one may start.
    fn flush_store(&mut self, now: Instant) -> Option<Instant> {
        if !self.store_dirty {
            return None;
        }
        if let Some(last) = self.last_store_write {
            let due = last + STORE_DEBOUNCE;
            if now < due {
                return Some(due);
            }
        }
        self.store.prune(wall_ms());
        self.store_dirty = false;
        self.last_store_write = Some(now);
        let persist = self.persist.clone();
        let (generation, bytes) = (self.store_gen, self.store.to_bytes());
        tokio::spawn(async move {
            persist.write(generation, bytes).await;
        });
        None
    }

    /// The final save and report (`timed_out`: the drain deadline passed first).
    async fn close(&mut self, timed_out: bool) -> DrainReport {
        // Jobs still in flight are dropped: their boxes stay unfinished in the store, so the
        // next run brings their posts up to date.
        self.jobs.abort_all();
        self.pings.abort_all();
        for id in self.boxes.keys().cloned().collect::<Vec<_>>() {
            if self.boxes.get(&id).is_some_and(|b| b.admitted) {
                self.save_box(&id);
            }
        }
        self.store.prune(wall_ms());
        self.store_gen += 1;
        let store_saved = self
            .persist
            .write(self.store_gen, self.store.to_bytes())
            .await;
        let report = DrainReport {
            delivered: self.stats.delivered,
            undelivered: self.boxes.len(),
            abandoned: self.stats.abandoned,
            posts_created: self.stats.created,
            plugin_posts: self.stats.plugin_posts,
            requests: self.api.as_ref().map_or(0, |a| a.requests_sent()),
            posts_adopted: self.stats.adopted,
            updates: self.stats.updates,
            deletes: self.stats.deletes,
            timed_out,
            store_saved,
        };
        if report.undelivered > 0 {
            tracing::warn!(
                boxes = report.undelivered,
                "stopping before every status box reached Mattermost; the next start updates their posts"
            );
        }
        report
    }
}
