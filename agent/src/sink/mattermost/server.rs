//! Everything that decides when one Mattermost server may be asked again: its circuit breaker,
//! the wait a 429 imposed, the backoff after a failure, and the pings that end an outage early.
//! Shared by every box on that server, because an outage or a rate limit is the server's, not a
//! box's.
//!
//! While the breaker is open, `GET /api/v4/system/ping` (no token, no side effect) is tried
//! after `ping_min`, then at doubling intervals up to the breaker's cooldown; the first answer
//! half-opens the breaker at once, so boxes catch up seconds after the server is back instead
//! of at the end of the cooldown. The intervals keep doubling until the breaker closes, so a
//! server that answers pings but fails posts gets no more probes than the cooldown allowed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::{Admit, Breaker, BreakerState, Transition};
use super::transport::rest::Failure;

/// The longest pause one 429 imposes, whatever its `Retry-After` says: a proxy's or a
/// misconfigured limiter's hour would stall every box on the server without a word. A server
/// that really means longer answers 429 again, which costs one request a minute.
pub(super) const MAX_RATE_LIMIT_PAUSE: Duration = Duration::from_secs(60);

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

/// What the ping schedule wants now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ping {
    /// Send one now (it is marked in flight; report it with `ping_answered`).
    Now,
    /// Not before this instant.
    At(Instant),
    /// Nothing to ping for (breaker not open, or a ping in flight).
    Idle,
}

pub(super) struct Server {
    base_url: String,
    breaker: Breaker,
    hold_until: Option<Instant>,
    failures: u32,
    backoff: Backoff,
    shared: SharedStates,
    /// First ping interval after the breaker opened; doubles up to `ping_max`.
    ping_min: Duration,
    ping_max: Duration,
    /// Pings sent (or due) since the breaker last closed: sets the next interval.
    pings: u32,
    ping_at: Option<Instant>,
    ping_in_flight: bool,
}

impl Server {
    pub fn new(
        base_url: &str,
        threshold: u32,
        cooldown: Duration,
        backoff: Backoff,
        ping_min: Duration,
        shared: SharedStates,
    ) -> Server {
        let server = Server {
            base_url: base_url.to_owned(),
            breaker: Breaker::new(threshold, cooldown),
            hold_until: None,
            failures: 0,
            backoff,
            shared,
            ping_min: ping_min.min(cooldown),
            ping_max: cooldown,
            pings: 0,
            ping_at: None,
            ping_in_flight: false,
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
                if self.breaker.state() == BreakerState::Closed {
                    self.pings = 0;
                    self.ping_at = None;
                }
                self.log(t, None);
            }
            Err(Failure::Transient(why)) => {
                self.failures = self.failures.saturating_add(1);
                let wait = self.backoff.delay(self.failures);
                self.hold(now + wait);
                let t = self.breaker.failure(now);
                if matches!(t, Some((_, BreakerState::Open))) {
                    self.schedule_ping(now);
                }
                self.log(t, Some(why));
                tracing::debug!(server = %self.base_url, error = %why, retry_in_ms = wait.as_millis() as u64,
                    "Mattermost request failed; retrying later");
            }
            Err(Failure::RateLimited { wait }) => {
                self.breaker.neutral();
                let pause = (*wait).min(MAX_RATE_LIMIT_PAUSE);
                let already = self.hold_until.is_some_and(|u| u > now);
                self.hold(now + pause);
                self.log_rate_limit(*wait, pause, already);
            }
            Err(Failure::Config(_)) => self.breaker.neutral(),
        }
    }

    /// Whether a ping is due (`Now` reserves it), or when the next one will be.
    pub fn ping(&mut self, now: Instant) -> Ping {
        if self.breaker.state() != BreakerState::Open || self.ping_in_flight {
            return Ping::Idle;
        }
        match self.ping_at {
            Some(at) if now < at => Ping::At(at),
            Some(_) => {
                self.ping_in_flight = true;
                self.ping_at = None;
                Ping::Now
            }
            None => Ping::Idle,
        }
    }

    /// The ping sent after `ping` said `Now` came back: answered (`ok`) or not.
    pub fn ping_answered(&mut self, ok: bool, now: Instant) {
        self.ping_in_flight = false;
        if ok {
            let t = self.breaker.half_open();
            if t.is_some() {
                tracing::info!(server = %self.base_url,
                    "Mattermost server answers its ping again: sending one probe now");
            }
            self.log(t, None);
        } else if self.breaker.state() == BreakerState::Open {
            self.schedule_ping(now);
        }
    }

    fn schedule_ping(&mut self, now: Instant) {
        let doublings = self.pings.min(30);
        let wait = self
            .ping_min
            .saturating_mul(1u32 << doublings)
            .min(self.ping_max);
        self.pings = self.pings.saturating_add(1);
        self.ping_at = Some(now + wait);
    }

    /// A pause is news (WARN, with the moment requests resume) when the server was not paused
    /// already; the 429s of the other requests in flight only extend it.
    fn log_rate_limit(&self, asked: Duration, pause: Duration, already: bool) {
        let resume_at = crate::clock::format_rfc3339_ms(
            crate::clock::now_ms().saturating_add(i64::try_from(pause.as_millis()).unwrap_or(0)),
        );
        let asked_s = asked.as_secs_f64();
        let pause_ms = pause.as_millis() as u64;
        if already {
            tracing::debug!(server = %self.base_url, asked_s, pause_ms, resume_at = %resume_at,
                "Mattermost rate limit (429) again while paused");
        } else if asked > pause {
            tracing::warn!(server = %self.base_url, asked_s, pause_ms, resume_at = %resume_at,
                "Mattermost rate limit (429): pausing requests to this server until {resume_at} \
                 (it asked for {asked_s} s; a pause is capped at {} s)", MAX_RATE_LIMIT_PAUSE.as_secs());
        } else {
            tracing::warn!(server = %self.base_url, asked_s, pause_ms, resume_at = %resume_at,
                "Mattermost rate limit (429): pausing requests to this server until {resume_at}");
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
            Duration::from_secs(1),
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

    fn server(cooldown: Duration) -> Server {
        let backoff = Backoff {
            min: Duration::from_millis(10),
            max: Duration::from_millis(10),
        };
        Server::new(
            "http://mm",
            1,
            cooldown,
            backoff,
            Duration::from_secs(1),
            SharedStates::default(),
        )
    }

    #[test]
    fn a_429_asking_for_an_hour_pauses_the_server_for_a_minute_at_most() {
        let mut s = server(Duration::from_secs(30));
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        s.record::<()>(&Err(Failure::RateLimited { wait: hour }), now);
        assert_eq!(s.admit(now), Admit::Until(now + MAX_RATE_LIMIT_PAUSE));
        assert_eq!(MAX_RATE_LIMIT_PAUSE, Duration::from_secs(60));
        let later = now + MAX_RATE_LIMIT_PAUSE;
        assert_eq!(s.admit(later), Admit::Go { probe: false });
    }

    /// What `f` logs, as the daemon's stderr would show it.
    fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().expect("log buffer").extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn a_long_429_pause_is_a_warning_that_says_when_requests_resume() {
        let mut s = server(Duration::from_secs(30));
        let now = Instant::now();
        let before_ms = crate::clock::now_ms();
        let log = logged(|| {
            s.record::<()>(
                &Err(Failure::RateLimited {
                    wait: Duration::from_secs(3600),
                }),
                now,
            );
        });
        let line = log
            .lines()
            .find(|l| l.contains("Mattermost rate limit (429): pausing requests"))
            .unwrap_or_else(|| panic!("no pause logged:\n{log}"));
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("capped at 60 s"), "{line}");
        // The resume time is in UTC, ISO 8601, a minute from now.
        let at = line
            .split("until ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no resume time: {line}"));
        let at_ms =
            crate::clock::parse_rfc3339_ms(at).unwrap_or_else(|| panic!("not RFC 3339: {at}"));
        assert!(at.ends_with('Z'), "{at}");
        assert!(
            (before_ms + 59_000..=before_ms + 61_000 + 5_000).contains(&at_ms),
            "{at}"
        );

        // A 429 of another request while paused extends the pause quietly.
        let again = logged(|| {
            s.record::<()>(
                &Err(Failure::RateLimited {
                    wait: Duration::from_secs(2),
                }),
                now,
            );
        });
        assert!(!again.contains("WARN"), "{again}");
    }

    #[test]
    fn pings_back_off_from_a_second_to_the_cooldown_and_an_answer_half_opens_at_once() {
        let cooldown = Duration::from_secs(30);
        let mut s = server(cooldown);
        let t0 = Instant::now();
        assert_eq!(s.ping(t0), Ping::Idle, "closed: no pings");
        s.record::<()>(&Err(Failure::Transient("connection refused".into())), t0);
        assert_eq!(s.state(), BreakerState::Open);

        // Unanswered pings: 1, 2, 4, 8, 16, then every 30 s (the cooldown).
        let mut now = t0;
        let mut gaps = Vec::new();
        for _ in 0..7 {
            let Ping::At(at) = s.ping(now) else {
                panic!("a ping is scheduled")
            };
            assert_eq!(s.ping(at - Duration::from_millis(1)), Ping::At(at));
            gaps.push((at - now).as_secs());
            assert_eq!(s.ping(at), Ping::Now);
            assert_eq!(s.ping(at), Ping::Idle, "one ping in flight");
            now = at;
            s.ping_answered(false, now);
        }
        assert_eq!(gaps, [1, 2, 4, 8, 16, 30, 30]);

        // The server answers: the probe goes now, long before the cooldown would end.
        let Ping::At(at) = s.ping(now) else {
            panic!("a ping is scheduled")
        };
        assert_eq!(s.ping(at), Ping::Now);
        s.ping_answered(true, at);
        assert_eq!(s.state(), BreakerState::HalfOpen);
        assert_eq!(s.admit(at), Admit::Go { probe: true });

        // The probe fails: open again, and the pings do not start over at 1 s.
        s.record::<()>(&Err(Failure::Transient("HTTP 502".into())), at);
        assert_eq!(s.state(), BreakerState::Open);
        assert_eq!(s.ping(at), Ping::At(at + cooldown));

        // The next probe succeeds: closed, and the next outage starts at 1 s again.
        s.ping(at + cooldown);
        s.ping_answered(true, at + cooldown);
        s.record::<()>(&Ok(()), at + cooldown);
        assert_eq!(s.state(), BreakerState::Closed);
        assert_eq!(s.ping(at + cooldown), Ping::Idle);
        let t1 = at + cooldown + Duration::from_secs(5);
        s.record::<()>(&Err(Failure::Transient("HTTP 503".into())), t1);
        assert_eq!(s.ping(t1), Ping::At(t1 + Duration::from_secs(1)));
    }
}
