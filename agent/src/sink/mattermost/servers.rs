//! Every Mattermost server the worker has sent to, by base URL. A server's breaker, rate-limit
//! hold and backoff are shared by all boxes and accounts on it (a down server is down for all),
//! so they live here, made on first use, and not with the boxes; each one also publishes its
//! breaker to `shared`, which `doctor` and the local API read outside the worker.

use std::collections::HashMap;

use tokio::time::Instant;

use super::RestOptions;
use super::server::{Backoff, Ping, Server, SharedStates};
use super::worker::earliest;

/// The servers in use, and where their breakers are published.
pub(super) struct Servers {
    map: HashMap<String, Server>,
    shared: SharedStates,
}

impl Servers {
    pub fn new(shared: SharedStates) -> Servers {
        Servers {
            map: HashMap::new(),
            shared,
        }
    }

    /// The server at `base_url`, made with `opts`' limits the first time.
    pub fn get(&mut self, base_url: &str, opts: &RestOptions) -> &mut Server {
        let shared = &self.shared;
        self.map.entry(base_url.to_owned()).or_insert_with(|| {
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

    /// Calls `send` with each server whose ping is due (its breaker is open); returns when
    /// the next one is.
    pub fn pings(&mut self, now: Instant, mut send: impl FnMut(&str)) -> Option<Instant> {
        let mut wake = None;
        for (base_url, server) in &mut self.map {
            match server.ping(now) {
                Ping::Now => send(base_url),
                Ping::At(at) => wake = earliest(wake, Some(at)),
                Ping::Idle => {}
            }
        }
        wake
    }
}
