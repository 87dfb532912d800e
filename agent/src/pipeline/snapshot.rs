//! The read-only picture of the loop that the local API serves: published by the loop through a
//! `watch` channel after a batch that changed something (at most every `EVERY`), so API requests
//! never lock, wait on or slow the core; they read the last `Arc<Snapshot>`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::session::BoxOp;
use crate::session::tracker::{OpenBoxView, SessionView};
use crate::watch::TierKind;

use super::Core;

/// Fastest rate of snapshots: a burst of events costs at most one rebuild per period.
pub const EVERY: Duration = Duration::from_millis(100);

/// What the loop looked like at `taken_ms`.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// False until the tier is armed and the initial scan done (READY).
    pub ready: bool,
    pub taken_ms: i64,
    pub tier: Option<TierKind>,
    /// Why this tier: asked for, or why each better one could not run.
    pub tier_why: String,
    pub gateways: Vec<PathBuf>,
    pub sessions: Vec<SessionView>,
    pub open_boxes: Vec<OpenBoxView>,
}

pub type SnapshotRx = watch::Receiver<Arc<Snapshot>>;

/// The loop's end: decides when a new snapshot is worth building.
pub struct Publisher {
    tx: watch::Sender<Arc<Snapshot>>,
    tier: TierKind,
    tier_why: String,
    dirty: bool,
    last: Option<Instant>,
}

/// A channel whose first value says "not ready"; the loop publishes once it is.
pub fn channel() -> (watch::Sender<Arc<Snapshot>>, SnapshotRx) {
    watch::channel(Arc::new(Snapshot::default()))
}

impl Publisher {
    pub fn new(tx: watch::Sender<Arc<Snapshot>>, tier: TierKind, tier_why: String) -> Publisher {
        Publisher {
            tx,
            tier,
            tier_why,
            dirty: true,
            last: None,
        }
    }

    /// Something may have changed (events read, deltas made).
    pub fn touch(&mut self) {
        self.dirty = true;
    }

    /// A change waits to be published (it came within `EVERY` of the last snapshot): the loop
    /// keeps ticking until it is, even when nothing else waits on the clock.
    pub fn pending(&self) -> bool {
        self.dirty && self.tx.receiver_count() > 0
    }

    /// Publishes if something changed and the last snapshot is at least `EVERY` old; called
    /// after each batch and at each tick, so a change is shown within a tick or so.
    pub fn maybe_publish(&mut self, core: &Core, now_ms: i64) {
        if !self.dirty || self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        if self.tx.receiver_count() == 0 {
            return;
        }
        self.dirty = false;
        self.last = Some(Instant::now());
        let snapshot = Snapshot {
            ready: true,
            taken_ms: now_ms,
            tier: Some(self.tier),
            tier_why: self.tier_why.clone(),
            gateways: core.registry().gateways().map(PathBuf::from).collect(),
            sessions: core.tracker.session_views(),
            open_boxes: core.tracker.open_box_views(),
        };
        let metrics = crate::metrics::get();
        metrics.open_boxes.clear();
        for gateway in &snapshot.gateways {
            let open = snapshot
                .open_boxes
                .iter()
                .filter(|b| &b.owner.gateway == gateway)
                .count();
            metrics
                .open_boxes
                .get_or_create(&crate::metrics::GatewayLabels {
                    gateway: gateway.display().to_string(),
                })
                .set(open as i64);
        }
        self.tx.send_replace(Arc::new(snapshot));
    }
}

/// Counts boxes opened and closed, by result.
pub fn count_boxes(deltas: &[crate::session::BoxDelta]) {
    let metrics = crate::metrics::get();
    for delta in deltas {
        for op in &delta.ops {
            match op {
                BoxOp::Open { .. } => {
                    metrics.boxes_opened.inc();
                }
                BoxOp::Close { state, .. } => {
                    metrics
                        .boxes_closed
                        .get_or_create(&crate::metrics::ResultLabels {
                            result: crate::metrics::result_name(*state),
                        })
                        .inc();
                }
                BoxOp::Retract => {
                    metrics
                        .boxes_closed
                        .get_or_create(&crate::metrics::ResultLabels {
                            result: "retracted",
                        })
                        .inc();
                }
                _ => {}
            }
        }
    }
}
