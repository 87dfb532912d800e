//! Per-box pacing: leading edge + trailing flush. The first change after a quiet period goes out
//! at once; changes within `period` of the last send only replace the pending state, which goes
//! out when the period ends. So a box costs at most one request per period, however busy the
//! turn, and what is shown is never older than one period.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Debug)]
pub(super) struct Throttle {
    period: Duration,
    last_send: Option<Instant>,
}

impl Throttle {
    pub fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            last_send: None,
        }
    }

    /// When the pending state may go out: now (leading edge) or at the end of the period.
    pub fn ready_at(&self, now: Instant) -> Instant {
        match self.last_send {
            Some(last) if now < last + self.period => last + self.period,
            _ => now,
        }
    }

    pub fn sent(&mut self, at: Instant) {
        self.last_send = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_edge_then_one_trailing_send_per_period() {
        let period = Duration::from_millis(500);
        let t0 = Instant::now();
        let mut t = Throttle::new(period);
        assert_eq!(t.ready_at(t0), t0, "first change goes at once");
        t.sent(t0);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(
            t.ready_at(t1),
            t0 + period,
            "coalesced until the window ends"
        );
        let t2 = t0 + Duration::from_millis(700);
        assert_eq!(
            t.ready_at(t2),
            t2,
            "a quiet period reopens the leading edge"
        );
    }
}
