//! Everything that decides when one Mattermost server may be asked again: its circuit breaker,
//! the wait a 429 imposed, and the backoff after a failure. Shared by every box on that server,
//! because an outage or a rate limit is the server's, not a box's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::{Admit, Breaker, BreakerState, Transition};
use super::client::Failure;

/// The breaker states of every server, readable from outside the worker (`doctor`).
pub(super) type SharedStates = Arc<Mutex<BTreeMap<String, BreakerState>>>;

/// Exponential backoff with jitter, from `min` doubling up to `max`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after the `failures`-th failure in a row (1-based): half of it fixed, half
    /// random, so boxes and daemons that failed together do not retry together.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        let full = self
            .min
            .saturating_mul(1u32 << doublings)
            .min(self.max.max(self.min));
        let half = full / 2;
        let jitter_ms = fastrand::u64(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
        half + Duration::from_millis(jitter_ms)
    }
}

pub(super) struct Server {
    base_url: String,
    breaker: Breaker,
    hold_until: Option<Instant>,
    failures: u32,
    backoff: Backoff,
    shared: SharedStates,
}

impl Server {
    pub fn new(
        base_url: &str,
        threshold: u32,
        cooldown: Duration,
        backoff: Backoff,
        shared: SharedStates,
    ) -> Server {
        let server = Server {
            base_url: base_url.to_owned(),
            breaker: Breaker::new(threshold, cooldown),
            hold_until: None,
            failures: 0,
            backoff,
            shared,
        };
        server.publish();
        server
    }

    /// May a request go to this server now? `Go { probe }` reserves the half-open probe.
    pub fn admit(&mut self, now: Instant) -> Admit {
        if let Some(until) = self.hold_until {
            if now < until {
                return Admit::Until(until);
            }
            self.hold_until = None;
        }
        let (admit, transition) = self.breaker.admit(now);
        self.log(transition, None);
        admit
    }

    /// Takes note of how a request ended.
    pub fn record<T>(&mut self, result: &Result<T, Failure>, now: Instant) {
        match result {
            Ok(_) | Err(Failure::Rejected(_)) => {
                self.failures = 0;
                let t = self.breaker.success();
                self.log(t, None);
            }
            Err(Failure::Transient(why)) => {
                self.failures = self.failures.saturating_add(1);
                let wait = self.backoff.delay(self.failures);
                self.hold(now + wait);
                let t = self.breaker.failure(now);
                self.log(t, Some(why));
                tracing::debug!(server = %self.base_url, error = %why, retry_in_ms = wait.as_millis() as u64,
                    "Mattermost request failed; retrying later");
            }
            Err(Failure::RateLimited { wait }) => {
                self.breaker.neutral();
                self.hold(now + *wait);
                tracing::info!(server = %self.base_url, wait_ms = wait.as_millis() as u64,
                    "Mattermost rate limit (429): pausing requests to this server");
            }
            Err(Failure::Config(_)) => self.breaker.neutral(),
        }
    }

    #[cfg(test)]
    pub fn state(&self) -> BreakerState {
        self.breaker.state()
    }

    fn hold(&mut self, until: Instant) {
        self.hold_until = Some(self.hold_until.map_or(until, |u| u.max(until)));
    }

    fn log(&self, transition: Option<Transition>, why: Option<&str>) {
        let Some((from, to)) = transition else { return };
        let (server, from_s, to_s) = (&self.base_url, from.as_str(), to.as_str());
        match to {
            BreakerState::Open => tracing::warn!(
                server = %server, breaker = to_s, from = from_s, failures = self.failures,
                error = why.unwrap_or(""),
                "Mattermost server failing: circuit breaker open, requests paused"
            ),
            BreakerState::HalfOpen => tracing::info!(
                server = %server, breaker = to_s, from = from_s,
                "Mattermost server cooldown over: circuit breaker half-open, sending one probe"
            ),
            BreakerState::Closed => tracing::info!(
                server = %server, breaker = to_s, from = from_s,
                "Mattermost server answers again: circuit breaker closed"
            ),
        }
        self.publish();
    }

    fn publish(&self) {
        if let Ok(mut states) = self.shared.lock() {
            states.insert(self.base_url.clone(), self.breaker.state());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_bounded() {
        let b = Backoff {
            min: Duration::from_millis(250),
            max: Duration::from_secs(30),
        };
        for _ in 0..50 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(125) && d1 <= Duration::from_millis(250));
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(500) && d3 <= Duration::from_millis(1000));
            let d40 = b.delay(40);
            assert!(d40 >= Duration::from_secs(15) && d40 <= Duration::from_secs(30));
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| b.delay(5)).collect();
        assert!(spread.len() > 1, "jittered");
    }

    #[test]
    fn a_429_holds_the_server_without_counting_as_a_failure() {
        let shared = SharedStates::default();
        let backoff = Backoff {
            min: Duration::from_millis(10),
            max: Duration::from_millis(10),
        };
        let mut s = Server::new(
            "http://mm",
            1,
            Duration::from_secs(60),
            backoff,
            shared.clone(),
        );
        let now = Instant::now();
        let wait = Duration::from_secs(2);
        s.record::<()>(&Err(Failure::RateLimited { wait }), now);
        assert_eq!(s.admit(now), Admit::Until(now + wait));
        assert_eq!(s.state(), BreakerState::Closed);
        s.record::<()>(&Err(Failure::Transient("boom".into())), now + wait);
        assert_eq!(s.state(), BreakerState::Open);
        assert_eq!(
            shared.lock().expect("lock").get("http://mm"),
            Some(&BreakerState::Open)
        );
    }
}
