//! The REST sink's worker task: holds the boxes (fed by `intake`), decides what each box needs
//! next (a DM channel, its post, an update, a delete), and runs those requests as jobs within
//! the limits: one job per box, `max_active_boxes` boxes at a time, the per-box throttle, and
//! each server's breaker / rate limit / backoff. Its parts live beside it: the slots
//! (`admission.rs`), the post store and its writes (`store_writer.rs`), the servers
//! (`servers.rs`), bot and DM channel ids (`directory.rs`), the requests in flight (`jobs.rs`)
//! and what their replies do to a box (`replies.rs`).
//!
//! Requests always carry a box's LATEST text: while a request is in flight or a server is
//! unavailable, new states only replace the pending text, so a box that missed ten states
//! catches up in one update.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::post_store::{Outcome, PostStore};
use crate::clock;
use crate::gateway::accounts::{Account, AccountBook};
use crate::render::render_markdown;
use crate::reported::Reported;
use crate::session::{BoxDelta, BoxId, BoxModel, SessionId};

use super::admission::Admission;
use super::breaker::Admit;
use super::directory::Directory;
use super::job::{Job, Marker};
use super::jobs::Jobs;
use super::persist::Persister;
use super::plugin_link::{Choice, Links, SharedModes};
use super::server::SharedStates;
use super::servers::Servers;
use super::store_writer::StoreWriter;
use super::tracked::{Phase, Settle, Tracked, outcome};
use super::transport::plugin::Sent;
use super::transport::rest::Api;
use super::{DrainReport, RestOptions};

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
    pub delivered: usize,
    pub abandoned: usize,
    pub created: usize,
    pub adopted: usize,
    pub updates: usize,
    pub deletes: usize,
}

/// The worker's state: the boxes, the options and counters that are its own, and its parts.
pub(super) struct Worker {
    pub(super) opts: RestOptions,
    pub(super) accounts: Arc<dyn AccountBook>,
    pub(super) api: Option<Arc<Api>>,
    pub(super) store: StoreWriter,
    pub(super) boxes: HashMap<BoxId, Tracked>,
    pub(super) admission: Admission,
    /// Boxes opened so far: the next one's arrival order.
    pub(super) opened: u64,
    pub(super) servers: Servers,
    pub(super) directory: Directory,
    pub(super) jobs: Jobs,
    pub(super) finishing: bool,
    drain_reply: Option<oneshot::Sender<DrainReport>>,
    /// Problems of a box or an account already logged (see `once`).
    logged: Reported<String>,
    pub(super) stats: Stats,
    pub(super) links: Links,
    /// Sessions rebuilt in the batch of deltas being taken in (see `restore.rs`).
    pub(super) restored_sessions: Vec<(SessionId, Account)>,
    /// Ids for boxes the worker makes itself, counting down from where no tracker reaches.
    pub(super) own_turns: u64,
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
        store: PostStore,
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
        Worker {
            opts,
            accounts,
            api,
            store: StoreWriter::new(store, persist),
            boxes: HashMap::new(),
            admission: Admission::new(),
            opened: 0,
            servers: Servers::new(shared),
            directory: Directory::new(),
            jobs: Jobs::new(),
            finishing: false,
            drain_reply: None,
            logged: Reported::default(),
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
                Some(done) = self.jobs.requests.join_next_with_id(), if !self.jobs.requests.is_empty() => {
                    self.on_done(done);
                }
                Some(done) = self.jobs.pings.join_next(), if !self.jobs.pings.is_empty() => {
                    if let Ok((server, ok)) = done {
                        self.servers.get(&server, &self.opts).ping_answered(ok, Instant::now());
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
                earliest(rest_wake, self.store.flush(now)),
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

    /// Whether a problem named `key` is logged for the first time (then: log it).
    pub(super) fn once(&mut self, key: String) -> bool {
        self.logged.is_news(key, "")
    }

    /// Renders a changed box once it may send (with the time of its latest change, as if
    /// rendered then); until then it only counts as not shown.
    fn render_if_due(&mut self, id: &BoxId, now: Instant) {
        let Some(b) = self.boxes.get(id) else {
            return;
        };
        let Some(at_ms) = b.text_stale_at else {
            return;
        };
        if self.ready_at(b, now) > now {
            return;
        }
        let text = self.render(&b.model, at_ms);
        if let Some(b) = self.boxes.get_mut(id) {
            b.text = text;
            b.text_stale_at = None;
        }
    }

    /// When the box may send its next request: at once while stopping or for a retracted box,
    /// else when its throttle allows.
    fn ready_at(&self, b: &Tracked, now: Instant) -> Instant {
        if self.finishing || b.model.retracted {
            now
        } else {
            b.throttle.ready_at(now)
        }
    }

    pub(super) fn render(&self, model: &BoxModel, now_ms: i64) -> String {
        render_markdown(
            model,
            now_ms,
            &self.opts.render,
            self.opts.max_message_chars,
        )
    }

    pub(super) fn save_box(&mut self, id: &BoxId) {
        if let Some(b) = self.boxes.get(id) {
            self.store.save(b);
        }
    }

    /// Admits waiting boxes into free slots (`admission.rs`), then starts every job that may
    /// start now. Returns when something next becomes possible.
    fn pump(&mut self, now: Instant) -> Option<Instant> {
        let mut round = self
            .admission
            .round(&mut self.boxes, self.opts.max_active_boxes);
        let mut wake = None;
        while let Some((id, admitted)) = round.next(&self.boxes) {
            wake = earliest(wake, self.step(&id, now));
            round.stepped(admitted, self.boxes.get(&id).is_some_and(|b| b.busy));
        }
        wake
    }

    /// Sends the pings that are due (servers whose breaker is open); returns when the next is.
    fn ping(&mut self, now: Instant) -> Option<Instant> {
        let api = self.api.clone()?;
        let jobs = &mut self.jobs;
        self.servers
            .pings(now, |base_url| jobs.ping(&api, base_url))
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
        self.render_if_due(id, now);
        let job = match self.next_job(id, now) {
            Next::Run(job) => *job,
            Next::Wait(wake) => return wake,
            Next::Settle(how) => {
                self.settle(id, how);
                return None;
            }
        };
        let server = self.boxes.get(id)?.server().to_owned();
        match self.servers.get(&server, &self.opts).admit(now) {
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
            *marker = self.write_marker(id);
        }
        let b = self.boxes.get_mut(id)?;
        b.busy = true;
        if matches!(job, Job::Create { .. } | Job::Patch { .. }) {
            b.throttle.sent(now);
            b.sent_changes(clock::now_ms());
        }
        let account = b.account.clone();
        self.jobs.start(api, account, job, id.clone(), server);
        None
    }

    fn next_job(&self, id: &BoxId, now: Instant) -> Next {
        let Some(b) = self.boxes.get(id) else {
            return Next::Wait(None);
        };
        let retracted = b.model.retracted;
        let ready = self.ready_at(b, now);
        match &b.phase {
            Phase::NeedChannel { .. } if retracted => Next::Settle(Settle::Gone),
            Phase::NeedChannel { user_id } => Next::Run(Box::new(Job::Resolve {
                user_id: user_id.clone(),
                bot_id: self.directory.bot(&b.account),
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

    /// Records "creating since now" for the box and returns the line the create job must put
    /// on disk before it posts.
    fn write_marker(&mut self, id: &BoxId) -> Option<Marker> {
        self.store.marker(self.boxes.get_mut(id)?)
    }

    /// Removes a box, frees its slot, and records in the store what its post now is.
    pub(super) fn settle(&mut self, id: &BoxId, how: Settle) {
        let Some(b) = self.boxes.remove(id) else {
            return;
        };
        self.admission.release(&b);
        let posted = matches!(b.phase, Phase::Posted { .. });
        match how {
            Settle::Delivered => {
                self.owe_final(&b);
                self.stats.delivered += 1;
                if let Some(mut entry) = b.entry(clock::now_ms()) {
                    if b.model.is_finished() {
                        entry.finished = true;
                        entry.outcome = outcome(b.model.state);
                    }
                    self.store.posts.put(b.key.clone(), entry);
                }
            }
            Settle::Gone => {
                self.store.posts.remove(&b.key);
            }
            Settle::Abandoned => {
                self.stats.abandoned += 1;
                match b.entry(clock::now_ms()) {
                    Some(mut entry) if posted => {
                        entry.finished = true;
                        entry.outcome = Some(Outcome::Abandoned);
                        self.store.posts.put(b.key.clone(), entry);
                    }
                    _ => {
                        self.store.posts.remove(&b.key);
                    }
                }
            }
        }
        self.store.changed();
    }

    /// The final save and report (`timed_out`: the drain deadline passed first).
    async fn close(&mut self, timed_out: bool) -> DrainReport {
        // Jobs still in flight are dropped: their boxes stay unfinished in the store, so the
        // next run brings their posts up to date.
        self.jobs.abort_all();
        for id in self.boxes.keys().cloned().collect::<Vec<_>>() {
            if self.boxes.get(&id).is_some_and(|b| b.admitted) {
                self.save_box(&id);
            }
        }
        let store_saved = self.store.close().await;
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
