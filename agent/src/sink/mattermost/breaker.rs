//! A circuit breaker per Mattermost server: after `threshold` consecutive failures the server is
//! left alone for `cooldown`, then one request probes it; the probe's success closes the breaker,
//! its failure opens it again. This keeps a dead server from being hammered by every box at once
//! and keeps our own queue from growing a request backlog while it is down.

use std::time::Duration;

use tokio::time::Instant;

/// What `doctor` shows per server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow.
    Closed,
    /// Too many failures in a row: no requests until the cooldown has passed.
    Open,
    /// Cooldown over: one probe request is allowed; its outcome decides.
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

/// May a request be sent now?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Yes; `probe` when it is the half-open breaker's single probe.
    Go { probe: bool },
    /// Not before this instant.
    Until(Instant),
    /// Not until the probe in flight has answered.
    AfterProbe,
}

pub(super) type Transition = (BreakerState, BreakerState);

pub(super) struct Breaker {
    state: BreakerState,
    failures: u32,
    threshold: u32,
    cooldown: Duration,
    opened_at: Option<Instant>,
    probing: bool,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            state: BreakerState::Closed,
            failures: 0,
            threshold: threshold.max(1),
            cooldown,
            opened_at: None,
            probing: false,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Asks to send one request; the caller reports its outcome with `success`, `failure` or
    /// `neutral`. Passing from open to half-open happens here and is returned for logging.
    pub fn admit(&mut self, now: Instant) -> (Admit, Option<Transition>) {
        match self.state {
            BreakerState::Closed => (Admit::Go { probe: false }, None),
            BreakerState::Open => {
                let reopen = self.opened_at.unwrap_or(now) + self.cooldown;
                if now < reopen {
                    return (Admit::Until(reopen), None);
                }
                self.state = BreakerState::HalfOpen;
                self.probing = true;
                (
                    Admit::Go { probe: true },
                    Some((BreakerState::Open, BreakerState::HalfOpen)),
                )
            }
            BreakerState::HalfOpen if self.probing => (Admit::AfterProbe, None),
            BreakerState::HalfOpen => {
                self.probing = true;
                (Admit::Go { probe: true }, None)
            }
        }
    }

    /// The server answered (any status but 5xx/429): it is up.
    pub fn success(&mut self) -> Option<Transition> {
        self.failures = 0;
        self.probing = false;
        self.opened_at = None;
        let from = self.state;
        self.state = BreakerState::Closed;
        (from != BreakerState::Closed).then_some((from, BreakerState::Closed))
    }

    /// 5xx, timeout or connection error.
    pub fn failure(&mut self, now: Instant) -> Option<Transition> {
        self.failures = self.failures.saturating_add(1);
        self.probing = false;
        match self.state {
            BreakerState::Closed if self.failures >= self.threshold => {
                self.state = BreakerState::Open;
                self.opened_at = Some(now);
                Some((BreakerState::Closed, BreakerState::Open))
            }
            BreakerState::HalfOpen => {
                self.state = BreakerState::Open;
                self.opened_at = Some(now);
                Some((BreakerState::HalfOpen, BreakerState::Open))
            }
            _ => None,
        }
    }

    /// The server answered a cheap ping while open: let the probe go now instead of after the
    /// rest of the cooldown.
    pub fn half_open(&mut self) -> Option<Transition> {
        if self.state != BreakerState::Open {
            return None;
        }
        self.state = BreakerState::HalfOpen;
        self.probing = false;
        Some((BreakerState::Open, BreakerState::HalfOpen))
    }

    /// An answer that says nothing about the server's health (429): a probe may be sent again.
    pub fn neutral(&mut self) {
        self.probing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(30);

    #[test]
    fn opens_after_consecutive_failures_only() {
        let now = Instant::now();
        let mut b = Breaker::new(3, COOLDOWN);
        assert_eq!(b.failure(now), None);
        assert_eq!(b.failure(now), None);
        assert_eq!(b.success(), None, "a success resets the count");
        assert_eq!(b.failure(now), None);
        assert_eq!(b.failure(now), None);
        assert_eq!(
            b.failure(now),
            Some((BreakerState::Closed, BreakerState::Open))
        );
        assert_eq!(b.admit(now).0, Admit::Until(now + COOLDOWN));
        assert_eq!(b.failure(now), None, "already open: no second transition");
    }

    #[test]
    fn one_probe_after_the_cooldown_decides() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOLDOWN);
        b.failure(t0);
        let later = t0 + COOLDOWN;
        assert_eq!(
            b.admit(later),
            (
                Admit::Go { probe: true },
                Some((BreakerState::Open, BreakerState::HalfOpen))
            )
        );
        assert_eq!(b.admit(later).0, Admit::AfterProbe, "a single probe");
        assert_eq!(
            b.failure(later),
            Some((BreakerState::HalfOpen, BreakerState::Open))
        );
        assert_eq!(b.admit(later).0, Admit::Until(later + COOLDOWN));
        let again = later + COOLDOWN;
        assert_eq!(b.admit(again).0, Admit::Go { probe: true });
        b.neutral();
        assert_eq!(
            b.admit(again).0,
            Admit::Go { probe: true },
            "429 frees the probe"
        );
        assert_eq!(
            b.success(),
            Some((BreakerState::HalfOpen, BreakerState::Closed))
        );
        assert_eq!(b.admit(again).0, Admit::Go { probe: false });
    }

    #[test]
    fn an_answered_ping_lets_the_probe_go_before_the_cooldown_ends() {
        let t0 = Instant::now();
        let mut b = Breaker::new(1, COOLDOWN);
        assert_eq!(b.half_open(), None, "closed: nothing to do");
        b.failure(t0);
        let soon = t0 + Duration::from_secs(1);
        assert_eq!(
            b.half_open(),
            Some((BreakerState::Open, BreakerState::HalfOpen))
        );
        assert_eq!(b.admit(soon).0, Admit::Go { probe: true });
        assert_eq!(b.admit(soon).0, Admit::AfterProbe, "still a single probe");
        assert_eq!(b.half_open(), None, "already half-open");
    }
}
