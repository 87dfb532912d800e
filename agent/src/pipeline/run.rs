//! The event loop: arm the tier, take in what is on disk, then follow events until asked to
//! stop. READY is reported (through `on_ready`) only once the tier is armed and the initial
//! scan is done, so nothing that happens after READY can be missed.

use crate::clock::now_ms;
use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::session::tracker::SessionConfig;
use crate::sink::Sink;
use crate::watch::{self, FsEvent, Scope, TierKind, WatchOptions};

use super::Core;

/// How often boxes are ticked (idle timeouts, redraws, retract grace) while something waits on
/// the clock; an idle daemon does not tick at all.
const TICK: Duration = Duration::from_millis(100);
/// Watch events buffered between a tier and the core; a full queue makes the tier wait.
pub(super) const EVENT_QUEUE: usize = 4096;

pub use crate::service::config::TierChoice;

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub scope: Scope,
    pub tier: TierChoice,
    pub watch: WatchOptions,
    pub session: SessionConfig,
}

/// What the loop reports when it is ready.
#[derive(Clone, Debug)]
pub struct ReadyInfo {
    pub tier: TierKind,
    /// Why this tier: asked for, the best this host allows, or the measured cost of better ones.
    pub why: String,
    pub gateways: usize,
    pub open_boxes: usize,
    pub searched: Vec<std::path::PathBuf>,
}

/// What the daemon asks of a running loop.
pub enum Control {
    /// Mark open boxes `[INTERRUPTED]`, hand them to the sink, return.
    Stop,
    /// Apply a reloaded config between two batches.
    Reload(Reconfig),
    /// Prove the loop and the sink make progress: answered from inside the loop, with the
    /// sink's own liveness probe for the caller to await.
    Heartbeat(tokio::sync::oneshot::Sender<Pulse>),
}

/// The parts of a reloaded config that apply to a running loop.
pub struct Reconfig {
    pub session: SessionConfig,
    pub render: crate::render::RenderOptions,
    pub done: tokio::sync::oneshot::Sender<()>,
}

/// A heartbeat's answer: it went through the loop, and a snapshot of what the loop follows.
pub struct Pulse {
    pub tier: TierKind,
    pub gateways: usize,
    pub open_boxes: usize,
    /// The sink's own account of itself (Mattermost servers), for `STATUS=`.
    pub sink_status: Option<String>,
    /// Resolves once the sink's worker took the heartbeat; None: the sink has no worker.
    pub sink: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// What the daemon hangs on the loop besides control: the API's snapshot channel, and
/// test-only hooks (documented in docs/service.md; nothing sets those in production).
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    /// Where the loop publishes its read-only snapshot for the local API (`api/`).
    pub snapshot: Option<tokio::sync::watch::Sender<std::sync::Arc<super::snapshot::Snapshot>>>,
    /// While this file exists, the next heartbeat wedges the loop for good, so the watchdog
    /// test can watch systemd restart the daemon (`LIVESTATUS_TEST_STALL_FILE`).
    pub stall_file: Option<std::path::PathBuf>,
}

/// Runs until `shutdown` resolves (the terminal view, demo, tests).
pub async fn run<S: Sink + ?Sized>(
    opts: RunOptions,
    sink: &mut S,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(&ReadyInfo),
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel(1);
    let stop = async move {
        shutdown.await;
        let _ = tx.send(Control::Stop).await;
        // Keeps the channel open: a closed channel would read as "stop" too, but only after
        // every control sender is gone, which is not the point here.
        std::future::pending::<()>().await;
    };
    let looped = run_controlled(opts, sink, rx, Hooks::default(), on_ready);
    tokio::pin!(looped);
    tokio::select! {
        result = &mut looped => result,
        () = stop => unreachable!("pending never resolves"),
    }
}

/// Runs until told to stop through `control` (the daemon: see `service::daemon`). A closed
/// control channel stops the loop too.
pub async fn run_controlled<S: Sink + ?Sized>(
    opts: RunOptions,
    sink: &mut S,
    mut control: mpsc::Receiver<Control>,
    hooks: Hooks,
    on_ready: impl FnOnce(&ReadyInfo),
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<FsEvent>(EVENT_QUEUE);
    // Held until the loop ends: dropping a handle stops its tier.
    let (primary, why) = super::arm::arm(opts.tier, &opts, &tx).await?;
    let tier = primary.tier;
    let _safety_net = if tier == TierKind::Poll {
        None
    } else {
        Some(
            watch::start_safety_net(opts.scope.clone(), opts.watch, tx.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        )
    };
    drop(tx);
    tracing::info!(tier = tier.name(), why = %why, "watching");

    let mut core = Core::new(opts.scope.clone(), opts.session.clone());
    let deltas = core.startup(now_ms());
    super::snapshot::count_boxes(&deltas);
    sink.deliver(&deltas, now_ms());
    // The startup read every sessions index and stat()ed every transcript: what that freed
    // would otherwise stay in the RSS for the daemon's whole life.
    crate::heap::release_free_memory();
    let mut snapshot = hooks
        .snapshot
        .clone()
        .map(|tx| super::snapshot::Publisher::new(tx, tier, why.clone()));
    if let Some(p) = snapshot.as_mut() {
        p.maybe_publish(&core, now_ms());
    }
    let metrics = crate::metrics::get();
    on_ready(&ReadyInfo {
        tier,
        why,
        gateways: core.registry().gateway_count(),
        open_boxes: core.open_boxes(),
        searched: core.registry().search_places(),
    });

    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticking = true;
    loop {
        // Checked before each wait: an event or order may have opened a box or a timer.
        let wanted = core.needs_ticks()
            || sink.wants_ticks()
            || snapshot.as_ref().is_some_and(|p| p.pending());
        if wanted && !ticking {
            ticker.reset();
        }
        ticking = wanted;
        let recheck = core
            .next_due()
            .map(|due| Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0)));
        tokio::select! {
            biased;
            order = control.recv() => match order {
                None | Some(Control::Stop) => break,
                Some(Control::Reload(reconfig)) => {
                    // Applied between two batches: every open box keeps its post, route,
                    // offset and sequence, only what comes next follows the new settings.
                    core.reconfigure(reconfig.session);
                    sink.reconfigure(&reconfig.render);
                    let _ = reconfig.done.send(());
                }
                Some(Control::Heartbeat(reply)) => {
                    if let Some(file) = &hooks.stall_file
                        && file.exists()
                    {
                        tracing::error!(path = %file.display(), "test hook: the event loop stalls on purpose (LIVESTATUS_TEST_STALL_FILE)");
                        std::future::pending::<()>().await;
                    }
                    let _ = reply.send(Pulse {
                        tier,
                        gateways: core.registry().gateway_count(),
                        open_boxes: core.open_boxes(),
                        sink_status: sink.status(),
                        sink: sink.heartbeat(),
                    });
                }
            },
            event = rx.recv() => {
                let Some(event) = event else {
                    anyhow::bail!("every watch tier stopped");
                };
                let now = now_ms();
                // What is already queued is one batch: one delivery for a burst, and lines
                // ordered across sessions (see `Core::on_events`).
                let mut batch = vec![event];
                while batch.len() < EVENT_QUEUE {
                    match rx.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                for event in &batch {
                    count_event(metrics, tier, event.kind);
                }
                let deltas = core.on_events(&batch, now);
                if !deltas.is_empty() {
                    super::snapshot::count_boxes(&deltas);
                    sink.deliver(&deltas, now);
                }
                if let Some(p) = snapshot.as_mut() {
                    p.touch();
                    p.maybe_publish(&core, now);
                }
            }
            _ = tokio::time::sleep(recheck.unwrap_or_default()), if recheck.is_some() => {
                let now = now_ms();
                let deltas = core.on_due(now);
                if !deltas.is_empty() {
                    super::snapshot::count_boxes(&deltas);
                    sink.deliver(&deltas, now);
                    if let Some(p) = snapshot.as_mut() {
                        p.touch();
                        p.maybe_publish(&core, now);
                    }
                }
            }
            _ = ticker.tick(), if ticking => {
                let now = now_ms();
                let deltas = core.tick(now);
                if !deltas.is_empty() {
                    super::snapshot::count_boxes(&deltas);
                    sink.deliver(&deltas, now);
                    if let Some(p) = snapshot.as_mut() {
                        p.touch();
                    }
                }
                sink.tick(now);
                if let Some(p) = snapshot.as_mut() {
                    p.maybe_publish(&core, now);
                }
            }
        }
    }
    let now = now_ms();
    let deltas = core.shutdown(now);
    super::snapshot::count_boxes(&deltas);
    sink.deliver(&deltas, now);
    sink.finish(now);
    Ok(())
}

/// One event taken from the tier, in the metrics.
fn count_event(metrics: &crate::metrics::Metrics, tier: TierKind, kind: watch::FsEventKind) {
    let kind_name = match kind {
        watch::FsEventKind::Created => "created",
        watch::FsEventKind::Appended => "appended",
        watch::FsEventKind::Removed => "removed",
        watch::FsEventKind::Renamed => "renamed",
        watch::FsEventKind::Rescan => "rescan",
    };
    if kind == watch::FsEventKind::Rescan {
        metrics.rescans.inc();
    }
    metrics
        .events
        .get_or_create(&crate::metrics::TierKindLabels {
            tier: tier.name(),
            kind: kind_name,
        })
        .inc();
}
