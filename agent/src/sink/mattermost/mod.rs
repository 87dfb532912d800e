//! The Mattermost sink: each box is one post. Over REST (`transport/rest.rs`) it is created with
//! its first state and then edited in place (`PUT /posts/{id}/patch`, message only) as the turn
//! goes on; through the plugin `com.openclaw.livestatus` (`transport/plugin.rs`,
//! `plugin_link.rs`) every box of a server travels in one batch per throttle window and the
//! plugin makes the post. Both transports share this one worker, post store, admission,
//! throttle and breakers; a box keeps its one post when it moves between them.
//!
//! `Sink` calls come from the pipeline's task and must never wait, so they only queue deltas
//! for a worker task that owns all HTTP and the post store. The worker paces each box (leading
//! edge + trailing flush), runs at most `max_active_boxes` boxes at a time (the rest wait, in
//! order), and guards each server with a circuit breaker, 429 waits and retry backoff.
//!
//! Decisions worth knowing:
//! - A 4xx other than 429 stops that box (logged once with the server's error and a hint);
//!   in particular a 404 on an update means someone deleted the post, and deleting a status box
//!   is taken as meaning it: the box is not posted again.
//! - A session without a route goes to `default_channel` through the gateway's `"default"`
//!   account, as a top-level post.
//! - Restarts: every create is preceded by a synced "creating since" marker (a line in the
//!   store's journal, `marker_journal.rs`); a restored box continues the post of its session's
//!   unfinished entry (searching the channel by the post's props when only the marker is
//!   there), so a restart never posts a box twice.

mod admission;
mod breaker;
mod directory;
mod hints;
mod intake;
mod job;
mod jobs;
mod marker_journal;
mod persist;
mod plugin_link;
pub mod post_store;
mod replies;
mod restore;
mod server;
mod servers;
mod store_writer;
mod throttle;
mod tracked;
mod transport;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::gateway::accounts::AccountBook;
use crate::render::RenderOptions;
use crate::session::BoxDelta;
use post_store::PostStore;

use super::Sink;

pub use breaker::BreakerState;

/// A Mattermost server as the sink sees it now: its breaker, and whether boxes go to the
/// plugin or over REST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerView {
    pub server: String,
    pub breaker: BreakerState,
    pub mode: String,
}
pub use job::PROPS_KEY;
pub use plugin_link::{PluginOptions, ServerPlugin, detect as detect_transport};

#[derive(Clone, Debug)]
pub struct RestOptions {
    /// Per box: at most one request per period (leading edge + trailing flush).
    pub throttle: Duration,
    /// Boxes posted or updated at the same time; later boxes wait their turn, in order.
    pub max_active_boxes: usize,
    /// Bound of a post's text, in bytes (Mattermost counts runes, so this is safe).
    pub max_message_chars: usize,
    pub request_timeout: Duration,
    /// Consecutive failures (5xx, timeouts, connection errors) that open a server's breaker.
    pub breaker_failures: u32,
    /// How long an open breaker keeps requests away before one probe.
    pub breaker_cooldown: Duration,
    /// While a breaker is open, the server is pinged after this long, then at doubling
    /// intervals up to `breaker_cooldown`; an answer lets the probe go at once.
    pub ping_min: Duration,
    /// Channel for sessions not bound to Mattermost; None: such boxes are not posted.
    pub default_channel: Option<String>,
    pub render: RenderOptions,
    /// First wait after a failed request; doubles per failure in a row, jittered.
    pub retry_backoff_min: Duration,
    pub retry_backoff_max: Duration,
    /// Whether and how the plugin `com.openclaw.livestatus` carries boxes.
    pub plugin: PluginOptions,
}

impl Default for RestOptions {
    fn default() -> Self {
        RestOptions {
            throttle: Duration::from_millis(500),
            max_active_boxes: 20,
            max_message_chars: 16_383,
            request_timeout: Duration::from_secs(10),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
            ping_min: Duration::from_secs(1),
            default_channel: None,
            render: RenderOptions::default(),
            retry_backoff_min: Duration::from_millis(250),
            retry_backoff_max: Duration::from_secs(30),
            plugin: PluginOptions::default(),
        }
    }
}

/// How the drain went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Boxes whose latest state reached the server (over the whole run).
    pub delivered: usize,
    /// Boxes still pending when the drain ended; their posts are in the store, and the next
    /// start brings them up to date.
    pub undelivered: usize,
    /// Boxes given up on after a refusal (over the whole run).
    pub abandoned: usize,
    pub posts_created: usize,
    /// Posts the plugin made for boxes sent to it.
    pub plugin_posts: usize,
    /// HTTP requests sent to Mattermost and the plugin (over the whole run).
    pub requests: u64,
    /// Posts of an earlier run (or attempt) found in their channel and continued.
    pub posts_adopted: usize,
    pub updates: usize,
    pub deletes: usize,
    /// The deadline passed before everything was delivered.
    pub timed_out: bool,
    /// The post store was written (always true for an in-memory store).
    pub store_saved: bool,
}

/// How long `drain` waits for the final save once its deadline has passed.
const SAVE_GRACE: Duration = Duration::from_secs(5);

pub struct RestSink {
    tx: mpsc::UnboundedSender<worker::Msg>,
    worker: Option<tokio::task::JoinHandle<()>>,
    breakers: server::SharedStates,
    modes: plugin_link::SharedModes,
    #[cfg(test)]
    persist: Arc<persist::Persister>,
    closed_logged: bool,
}

impl RestSink {
    /// Spawns the worker on the current tokio runtime. `store` holds what a previous run posted.
    pub fn start(opts: RestOptions, accounts: Arc<dyn AccountBook>, store: PostStore) -> RestSink {
        let (tx, rx) = mpsc::unbounded_channel();
        let breakers = server::SharedStates::default();
        let persist = persist::Persister::new(store.path().map(|p| p.to_owned()));
        let modes = plugin_link::SharedModes::default();
        let w = worker::Worker::new(
            opts,
            accounts,
            store,
            breakers.clone(),
            persist.clone(),
            modes.clone(),
        );
        RestSink {
            tx,
            // In the daemon's span, so its lines carry TIER too.
            worker: Some(tokio::spawn(tracing::Instrument::in_current_span(
                w.run(rx),
            ))),
            breakers,
            modes,
            #[cfg(test)]
            persist,
            closed_logged: false,
        }
    }

    /// After `finish`: waits until every box's latest state is delivered (or abandoned) or
    /// `deadline` passes; saves the store.
    pub async fn drain(mut self, deadline: Duration) -> DrainReport {
        let Some(worker) = self.worker.take() else {
            return DrainReport::default();
        };
        let _ = self.tx.send(worker::Msg::Finish);
        let (reply, answer) = oneshot::channel();
        let _ = self.tx.send(worker::Msg::Drain(reply));
        let report = match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(report)) => Some(report),
            Ok(Err(_)) => None,
            Err(_) => {
                let (reply, answer) = oneshot::channel();
                let _ = self.tx.send(worker::Msg::GiveUp(reply));
                tokio::time::timeout(SAVE_GRACE, answer)
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
        };
        match report {
            Some(report) => {
                let _ = worker.await;
                report
            }
            None => {
                worker.abort();
                tracing::warn!(
                    "the Mattermost worker did not stop in time; the post store may be stale"
                );
                DrainReport {
                    timed_out: true,
                    ..DrainReport::default()
                }
            }
        }
    }

    /// Each Mattermost server's circuit breaker, by base URL (for `doctor`).
    pub fn breaker_states(&self) -> Vec<(String, BreakerState)> {
        self.breakers
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default()
    }

    /// Each server's breaker and transport, read by a function that outlives a borrow of the
    /// sink (the local API).
    pub fn server_reader(&self) -> impl Fn() -> Vec<ServerView> + Send + Sync + use<> {
        let breakers = self.breakers.clone();
        let modes = self.modes.clone();
        move || {
            let modes = modes.lock().map(|m| m.clone()).unwrap_or_default();
            breakers
                .lock()
                .map(|m| {
                    m.iter()
                        .map(|(server, breaker)| ServerView {
                            server: server.clone(),
                            breaker: *breaker,
                            mode: modes
                                .get(server)
                                .map_or_else(|| "rest".to_owned(), |(mode, _)| mode.clone()),
                        })
                        .collect()
                })
                .unwrap_or_default()
        }
    }

    /// Per server (base URL) that had a box: "plugin" or "rest", and why.
    pub fn transport_modes(&self) -> Vec<(String, String, String)> {
        self.modes
            .lock()
            .map(|m| {
                m.iter()
                    .map(|(k, (mode, why))| (k.clone(), mode.clone(), why.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn send(&mut self, msg: worker::Msg) {
        if self.tx.send(msg).is_err() && !self.closed_logged {
            self.closed_logged = true;
            tracing::error!("the Mattermost worker has stopped; boxes are no longer posted");
        }
    }

    #[cfg(test)]
    fn store_writes(&self) -> u64 {
        self.persist
            .writes
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for RestSink {
    /// Without `drain` the worker stops at once, as if the process were killed: what is in
    /// flight is lost, and the store on disk is what a restart gets.
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
    }
}

impl Sink for RestSink {
    fn deliver(&mut self, deltas: &[BoxDelta], now_ms: i64) {
        if !deltas.is_empty() {
            self.send(worker::Msg::Deltas(deltas.to_vec(), now_ms));
        }
    }

    /// The worker keeps its own timers (throttle windows, retries), so ticks carry nothing.
    fn tick(&mut self, _now_ms: i64) {}

    /// The worker keeps its own time.
    fn wants_ticks(&self) -> bool {
        false
    }

    fn finish(&mut self, _now_ms: i64) {
        self.send(worker::Msg::Finish);
    }

    fn heartbeat(&mut self) -> Option<oneshot::Receiver<()>> {
        let (reply, answer) = oneshot::channel();
        self.send(worker::Msg::Heartbeat(reply));
        Some(answer)
    }

    fn status(&self) -> Option<String> {
        let mut line = status_line(&self.breaker_states());
        let via_plugin = self
            .transport_modes()
            .iter()
            .filter(|(_, mode, _)| mode == "plugin")
            .count();
        if via_plugin > 0 {
            line.push_str(&format!(", plugin on {via_plugin} server(s)"));
        }
        Some(line)
    }
}

/// "Mattermost ok" or which servers are paused, for `systemctl status`.
fn status_line(servers: &[(String, BreakerState)]) -> String {
    let failing: Vec<&str> = servers
        .iter()
        .filter(|(_, state)| *state != BreakerState::Closed)
        .map(|(url, _)| url.as_str())
        .collect();
    if failing.is_empty() {
        format!("Mattermost ok ({} server(s) used)", servers.len())
    } else {
        format!("Mattermost unreachable: {}", failing.join(", "))
    }
}
