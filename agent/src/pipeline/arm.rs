//! Which watch tier runs: the one asked for, or with `auto` the best this host allows whose
//! hooks cost the rest of the host no more than `watch.max_host_cost` (see `watch::cost`).
//!
//! Only the kernel tiers are measured: eBPF hooks every process's system calls and fanotify
//! marks whole filesystems, while inotify and poll look at the scope's own directories only.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::watch::cost::{self, HostCost, Probe};
use crate::watch::{self, FsEvent, TierKind, WatchHandle};

use super::RunOptions;
use super::run::TierChoice;

/// The tiers to try, best first: the one asked for, or every tier for `auto`.
fn candidates(choice: TierChoice) -> Vec<TierKind> {
    match choice {
        TierChoice::Auto => TierKind::ALL.to_vec(),
        TierChoice::Only(kind) => vec![kind],
    }
}

fn hooks_the_host(tier: TierKind) -> bool {
    matches!(tier, TierKind::Ebpf | TierKind::Fanotify)
}

/// Where the loops run: this binary's hidden command, a scratch file in the temp dir.
struct Meter {
    exe: PathBuf,
    dir: PathBuf,
}

impl Meter {
    fn new() -> Result<Meter, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program's own path ({e})"))?;
        Ok(Meter {
            exe,
            dir: std::env::temp_dir(),
        })
    }

    /// Twice, keeping the faster of each loop: a busy machine only ever adds time.
    async fn probe(&self) -> Result<Probe, String> {
        let (exe, dir) = (self.exe.clone(), self.dir.clone());
        tokio::task::spawn_blocking(move || {
            let a = cost::probe(&exe, &dir)?;
            let b = cost::probe(&exe, &dir)?;
            Ok(Probe {
                write_null_ns: a.write_null_ns.min(b.write_null_ns),
                write_file_ns: a.write_file_ns.min(b.write_file_ns),
                open_close_ns: a.open_close_ns.min(b.open_close_ns),
            })
        })
        .await
        .map_err(|e| format!("the measurement did not finish ({e})"))?
    }
}

/// What measuring a kernel tier found.
enum Verdict {
    Keep(String),
    TooDear(HostCost),
}

async fn judge(meter: &Meter, baseline: &Probe, limit: f64) -> Verdict {
    let cost = match meter.probe().await {
        Ok(hooked) => HostCost::between(baseline, &hooked),
        Err(e) => return Verdict::Keep(format!("its cost could not be measured ({e})")),
    };
    if cost.worst() <= limit {
        return Verdict::Keep(format!("it costs the host {cost}, within ×{limit:.2}"));
    }
    // Once more before turning a tier down: one busy moment must not decide.
    match meter.probe().await {
        Ok(hooked) => {
            let again = cost.min(&HostCost::between(baseline, &hooked));
            if again.worst() <= limit {
                Verdict::Keep(format!("it costs the host {again}, within ×{limit:.2}"))
            } else {
                Verdict::TooDear(again)
            }
        }
        Err(_) => Verdict::TooDear(cost),
    }
}

/// Arms the tier to run and says why it is that one; with `auto`, says once why each better
/// one was not kept.
pub(super) async fn arm(
    choice: TierChoice,
    opts: &RunOptions,
    tx: &mpsc::Sender<FsEvent>,
) -> anyhow::Result<(WatchHandle, String)> {
    let limit = opts.watch.max_host_cost;
    let mut passed: Vec<String> = Vec::new();
    let mut baseline: Option<Result<(Meter, Probe), String>> = None;
    let mut last = None;
    for tier in candidates(choice) {
        // Before the first kernel tier is armed: the host as it is without us.
        if choice == TierChoice::Auto && hooks_the_host(tier) && baseline.is_none() {
            baseline = Some(match Meter::new() {
                Ok(meter) => meter.probe().await.map(|p| (meter, p)),
                Err(e) => Err(e),
            });
        }
        let handle = match watch::start(tier, opts.scope.clone(), opts.watch, tx.clone()).await {
            Ok(handle) => handle,
            Err(e) => {
                if choice == TierChoice::Auto {
                    tracing::warn!(tier = tier.name(), reason = %e, "watch tier unavailable, trying the next");
                    passed.push(format!("{tier} is unavailable"));
                }
                last = Some(e);
                continue;
            }
        };
        if choice != TierChoice::Auto {
            return Ok((handle, format!("watch.tier = {tier}")));
        }
        let verdict = match (&baseline, hooks_the_host(tier)) {
            (Some(Ok((meter, base))), true) => judge(meter, base, limit).await,
            (Some(Err(e)), true) => Verdict::Keep(format!("its cost could not be measured ({e})")),
            _ => Verdict::Keep("it watches the gateways' own directories only".to_owned()),
        };
        match verdict {
            Verdict::Keep(reason) => {
                let mut why = format!("auto: {tier}, as {reason}");
                if !passed.is_empty() {
                    why.push_str(&format!("; {}", passed.join("; ")));
                }
                return Ok((handle, why));
            }
            Verdict::TooDear(cost) => {
                tracing::warn!(
                    tier = tier.name(),
                    cost = %cost,
                    limit = limit,
                    "watch tier costs the rest of the host more than watch.max_host_cost; trying the next (watch.tier = \"{tier}\" forces it)"
                );
                passed.push(format!(
                    "{tier} would cost the host {cost}, over ×{limit:.2}"
                ));
                handle.stop().await;
            }
        }
    }
    Err(match last {
        Some(e) => anyhow::anyhow!("{e}"),
        None => anyhow::anyhow!("no watch tier to start"),
    })
}

/// The tier `opts.tier` would run on now and why, found by arming it (and, for `auto`, measuring
/// the kernel tiers) and stopping it again: what `doctor` reports.
pub async fn choose(opts: &RunOptions) -> anyhow::Result<(TierKind, String)> {
    let (tx, _rx) = mpsc::channel(crate::pipeline::run::EVENT_QUEUE);
    let (handle, why) = arm(opts.tier, opts, &tx).await?;
    let tier = handle.tier;
    handle.stop().await;
    Ok((tier, why))
}

/// The child's side of the measurement (`openclaw-livestatus measure-host-cost DIR`): prints
/// the loops' figures as JSON.
pub fn measure_command(dir: &Path) -> anyhow::Result<()> {
    let probe = cost::run_loops(dir)
        .map_err(|e| anyhow::anyhow!("cannot time the loops in {}: {e}", dir.display()))?;
    println!("{}", serde_json::to_string(&probe)?);
    Ok(())
}
