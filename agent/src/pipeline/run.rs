//! The event loop: arm the tier, take in what is on disk, then follow events until asked to
//! stop. READY is reported (through `on_ready`) only once the tier is armed and the initial
//! scan is done, so nothing that happens after READY can be missed.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::session::tracker::SessionConfig;
use crate::sink::Sink;
use crate::watch::{self, FsEvent, Scope, TierKind, WatchOptions};

use super::Core;

/// How often boxes are ticked (idle timeouts, redraws, retract grace).
const TICK: Duration = Duration::from_millis(100);
/// Watch events buffered between a tier and the core; a full queue makes the tier wait.
const EVENT_QUEUE: usize = 4096;

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
    pub gateways: usize,
    pub open_boxes: usize,
    pub searched: Vec<std::path::PathBuf>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The tiers to try, best first: the one asked for, or every tier for `auto`.
fn candidates(choice: TierChoice) -> Vec<TierKind> {
    match choice {
        TierChoice::Auto => TierKind::ALL.to_vec(),
        TierChoice::Ebpf => vec![TierKind::Ebpf],
        TierChoice::Fanotify => vec![TierKind::Fanotify],
        TierChoice::Inotify => vec![TierKind::Inotify],
        TierChoice::Poll => vec![TierKind::Poll],
    }
}

/// Arms the first tier that can run; with `auto`, says once why each better one could not.
async fn arm(
    choice: TierChoice,
    opts: &RunOptions,
    tx: &mpsc::Sender<FsEvent>,
) -> anyhow::Result<watch::WatchHandle> {
    let mut last = None;
    for tier in candidates(choice) {
        match watch::start(tier, opts.scope.clone(), opts.watch, tx.clone()).await {
            Ok(handle) => return Ok(handle),
            Err(e) => {
                if choice == TierChoice::Auto {
                    tracing::warn!(tier = tier.name(), reason = %e, "watch tier unavailable, trying the next");
                }
                last = Some(e);
            }
        }
    }
    Err(match last {
        Some(e) => anyhow::anyhow!("{e}"),
        None => anyhow::anyhow!("no watch tier to start"),
    })
}

pub async fn run<S: Sink + ?Sized>(
    opts: RunOptions,
    sink: &mut S,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(&ReadyInfo),
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<FsEvent>(EVENT_QUEUE);
    // Held until the loop ends: dropping a handle stops its tier.
    let primary = arm(opts.tier, &opts, &tx).await?;
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
    tracing::info!(tier = tier.name(), "watching");

    let mut core = Core::new(opts.scope.clone(), opts.session.clone());
    let deltas = core.startup(now_ms());
    sink.deliver(&deltas, now_ms());
    on_ready(&ReadyInfo {
        tier,
        gateways: core.registry().gateway_count(),
        open_boxes: core.open_boxes(),
        searched: core.registry().search_places(),
    });

    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
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
                let deltas = core.on_events(&batch, now);
                if !deltas.is_empty() {
                    sink.deliver(&deltas, now);
                }
            }
            _ = ticker.tick() => {
                let now = now_ms();
                let deltas = core.tick(now);
                if !deltas.is_empty() {
                    sink.deliver(&deltas, now);
                }
                sink.tick(now);
            }
        }
    }
    let now = now_ms();
    let deltas = core.shutdown(now);
    sink.deliver(&deltas, now);
    sink.finish(now);
    Ok(())
}
