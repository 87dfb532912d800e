//! The watchdog: `WATCHDOG=1` only for a heartbeat that went through the event loop (and so
//! the core) and the sink's worker. A wedged stage answers nothing, the pings stop, and systemd
//! restarts the daemon (`WatchdogSec=`, result `watchdog`). The same heartbeat keeps `STATUS=`
//! current.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::pipeline::{Control, Pulse};

/// How often the status line is refreshed when systemd asks for no watchdog.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// How often to beat, and whether each answered beat is a `WATCHDOG=1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rhythm {
    pub every: Duration,
    pub watchdog: bool,
}

impl Rhythm {
    /// Half of systemd's watchdog period (as sd_watchdog_enabled(3) advises), else the
    /// status refresh period.
    pub fn for_period(period: Option<Duration>) -> Rhythm {
        match period {
            Some(p) if !p.is_zero() => Rhythm {
                every: (p / 2).min(STATUS_EVERY),
                watchdog: true,
            },
            _ => Rhythm {
                every: STATUS_EVERY,
                watchdog: false,
            },
        }
    }
}

/// Why a heartbeat did not come back.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Missed {
    #[error("the event loop did not answer within {0:?}")]
    Loop(Duration),
    #[error("the Mattermost worker did not answer within {0:?}")]
    Sink(Duration),
    #[error("the event loop has stopped")]
    Gone,
}

/// One heartbeat: through the loop, then the sink's worker, each within `patience`.
pub async fn beat(control: &mpsc::Sender<Control>, patience: Duration) -> Result<Pulse, Missed> {
    let (reply, answer) = oneshot::channel();
    match tokio::time::timeout(patience, control.send(Control::Heartbeat(reply))).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(Missed::Gone),
        Err(_) => return Err(Missed::Loop(patience)),
    }
    let mut pulse = match tokio::time::timeout(patience, answer).await {
        Ok(Ok(pulse)) => pulse,
        Ok(Err(_)) => return Err(Missed::Gone),
        Err(_) => return Err(Missed::Loop(patience)),
    };
    if let Some(sink) = pulse.sink.take() {
        match tokio::time::timeout(patience, sink).await {
            Ok(Ok(())) => {}
            // A worker that has ended says so in the log once; the loop itself still runs.
            Ok(Err(_)) => {}
            Err(_) => return Err(Missed::Sink(patience)),
        }
    }
    Ok(pulse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::TierKind;

    /// Short: these tests wait it out when the beat is missed.
    const PATIENCE: Duration = Duration::from_millis(50);

    fn pulse(sink: Option<oneshot::Receiver<()>>) -> Pulse {
        Pulse {
            tier: TierKind::Poll,
            gateways: 0,
            open_boxes: 0,
            sink_status: None,
            sink,
        }
    }

    #[test]
    fn the_watchdog_beats_at_half_its_period_and_status_alone_every_five_seconds() {
        assert_eq!(
            Rhythm::for_period(Some(Duration::from_secs(6))),
            Rhythm {
                every: Duration::from_secs(3),
                watchdog: true
            }
        );
        assert_eq!(
            Rhythm::for_period(Some(Duration::from_secs(60))).every,
            STATUS_EVERY
        );
        assert!(!Rhythm::for_period(None).watchdog);
    }

    #[tokio::test]
    async fn a_loop_that_answers_gives_a_pulse() {
        let (tx, mut rx) = mpsc::channel(1);
        tokio::spawn(async move {
            while let Some(Control::Heartbeat(reply)) = rx.recv().await {
                let (ack, probe) = oneshot::channel();
                let _ = ack.send(());
                let _ = reply.send(pulse(Some(probe)));
            }
        });
        assert!(beat(&tx, PATIENCE).await.is_ok());
    }

    #[tokio::test]
    async fn a_wedged_loop_misses_the_beat() {
        let (tx, _rx) = mpsc::channel(1);
        // Nobody reads: the first heartbeat fills the queue and is never answered.
        assert_eq!(
            beat(&tx, PATIENCE).await.err(),
            Some(Missed::Loop(PATIENCE))
        );
    }

    #[tokio::test]
    async fn a_wedged_sink_worker_misses_the_beat() {
        let (tx, mut rx) = mpsc::channel(1);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(Control::Heartbeat(reply)) = rx.recv().await {
                let (ack, probe) = oneshot::channel();
                held.push(ack); // the worker never takes it
                let _ = reply.send(pulse(Some(probe)));
            }
        });
        assert_eq!(
            beat(&tx, PATIENCE).await.err(),
            Some(Missed::Sink(PATIENCE))
        );
    }
}
