//! The ONE batch per throttle window that carries every plugin box of a server whose plugin is
//! up: what goes into it, what its answer does to each box, and the final boxes owed to a
//! plugin by boxes that moved to REST.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::session::BoxId;
use crate::sink::mattermost::server::{Backoff, MAX_RATE_LIMIT_PAUSE};
use crate::sink::mattermost::tracked::{Phase, Settle, Tracked};
use crate::sink::mattermost::transport::plugin::{self, Sent, WireDelta, WireResult};
use crate::sink::mattermost::transport::rest::Failure;
use crate::sink::mattermost::worker::{Worker, earliest};

use super::LinkState;

/// A batch in flight: per box, what the plugin had and what it will have once applied.
pub(in crate::sink::mattermost) struct InFlight {
    pub server: String,
    pub boxes: Vec<(BoxId, Sent, Sent)>,
    pub owed: Vec<Owed>,
}

/// The final box of a turn that moved from the plugin to REST and ended there. The plugin still
/// holds that session as active; left so, its cleanup job would mark it `[INTERRUPTED]` and
/// write that into the post REST finished. Once the plugin answers again it is sent the final
/// box (a snapshot, which keeps the post), before any newer turn of the session.
pub(in crate::sink::mattermost) struct Owed {
    pub server: String,
    pub model: crate::session::BoxModel,
    pub channel_id: String,
    pub root_id: Option<String>,
    pub sent: Sent,
}

/// At most this many final boxes wait for a plugin to return; older ones are dropped (their
/// posts may then end `[INTERRUPTED]` by the plugin's cleanup).
const MAX_OWED: usize = 1000;

pub(in crate::sink::mattermost) type BatchDone = (InFlight, Result<Vec<WireResult>, Failure>);

impl Worker {
    /// Starts one batch per server whose window is open and whose boxes have news; returns
    /// when a window next opens for boxes that wait.
    pub(in crate::sink::mattermost) fn pump_plugin(&mut self, now: Instant) -> Option<Instant> {
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

    pub(in crate::sink::mattermost) fn on_batch(&mut self, (flight, result): BatchDone) {
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
                        link.hold_until = Some(now + (*wait).min(MAX_RATE_LIMIT_PAUSE));
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

    /// A box that left the plugin and now ended over REST: owe the plugin its final box.
    pub(in crate::sink::mattermost) fn owe_final(&mut self, b: &Tracked) {
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
