//! What a watch tier costs the rest of the host, measured when `auto` arms it: the same short
//! loops of unrelated system calls (1-byte writes to /dev/null, writes to a scratch file, open +
//! close of it) timed before and after the tier's hooks are in place. A tier whose hooks slow
//! them by more than `watch.max_host_cost` is not what `auto` keeps.
//!
//! The loops run in a child process (`openclaw-livestatus measure-host-cost`, hidden): the eBPF
//! programs skip the agent's own process early, so timing the agent's own calls would miss most
//! of what every other process pays.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Calls per loop and round: a round of each loop takes a few hundred microseconds.
const CALLS: u32 = 1_000;
/// Rounds per loop; the fastest counts (what the machine does when nothing interrupts, which
/// on a busy machine takes many tries to see).
const ROUNDS: usize = 15;
/// The hidden command the child runs.
pub const MEASURE_COMMAND: &str = "measure-host-cost";

/// Nanoseconds per call of each loop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub write_null_ns: f64,
    pub write_file_ns: f64,
    pub open_close_ns: f64,
}

/// The loops' slowdown under a tier (hooked / baseline, per loop).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostCost {
    pub write_null: f64,
    pub write_file: f64,
    pub open_close: f64,
}

impl HostCost {
    pub fn between(baseline: &Probe, hooked: &Probe) -> HostCost {
        let ratio = |hooked: f64, base: f64| if base > 0.0 { hooked / base } else { 1.0 };
        HostCost {
            write_null: ratio(hooked.write_null_ns, baseline.write_null_ns),
            write_file: ratio(hooked.write_file_ns, baseline.write_file_ns),
            open_close: ratio(hooked.open_close_ns, baseline.open_close_ns),
        }
    }

    /// The worst of the loops: what decides.
    pub fn worst(&self) -> f64 {
        self.write_null.max(self.write_file).max(self.open_close)
    }

    /// The lower of two measurements, loop by loop: noise only ever adds time.
    pub fn min(&self, other: &HostCost) -> HostCost {
        HostCost {
            write_null: self.write_null.min(other.write_null),
            write_file: self.write_file.min(other.write_file),
            open_close: self.open_close.min(other.open_close),
        }
    }
}

impl std::fmt::Display for HostCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "write(/dev/null) ×{:.2}, file write ×{:.2}, open+close ×{:.2}",
            self.write_null, self.write_file, self.open_close
        )
    }
}

fn fastest(mut round: impl FnMut() -> std::io::Result<()>) -> std::io::Result<f64> {
    // Untimed first: a new file's first blocks, cold caches.
    for _ in 0..CALLS {
        round()?;
    }
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..CALLS {
            round()?;
        }
        best = best.min(t.elapsed());
    }
    Ok(best.as_nanos() as f64 / f64::from(CALLS))
}

/// Runs the loops in this process, with a scratch file in `dir` (the child's part).
pub fn run_loops(dir: &Path) -> std::io::Result<Probe> {
    let mut null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let scratch = tempfile::Builder::new()
        .prefix(".livestatus-cost")
        .tempfile_in(dir)?;
    let mut file = scratch.reopen()?;
    let write_null_ns = fastest(|| null.write_all(b"x"))?;
    let write_file_ns = fastest(|| file.write_all(b"x"))?;
    let open_close_ns = fastest(|| std::fs::File::open(scratch.path()).map(drop))?;
    Ok(Probe {
        write_null_ns,
        write_file_ns,
        open_close_ns,
    })
}

/// Runs the loops in a child process of `exe` (this binary), scratch file in `dir`.
pub fn probe(exe: &Path, dir: &Path) -> Result<Probe, String> {
    let out = std::process::Command::new(exe)
        .arg(MEASURE_COMMAND)
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} {MEASURE_COMMAND} failed ({}): {}",
            exe.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{} {MEASURE_COMMAND} printed no measurement ({e})",
            exe.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_loop_decides_and_noise_is_taken_off_loop_by_loop() {
        let base = Probe {
            write_null_ns: 100.0,
            write_file_ns: 200.0,
            open_close_ns: 1000.0,
        };
        let hooked = Probe {
            write_null_ns: 150.0,
            write_file_ns: 210.0,
            open_close_ns: 1000.0,
        };
        let cost = HostCost::between(&base, &hooked);
        assert!((cost.worst() - 1.5).abs() < 1e-9);
        let again = HostCost {
            write_null: 1.02,
            write_file: 1.2,
            open_close: 0.9,
        };
        let low = cost.min(&again);
        assert!((low.worst() - 1.05).abs() < 1e-9, "{low}");
        assert_eq!(
            low.to_string(),
            "write(/dev/null) ×1.02, file write ×1.05, open+close ×0.90"
        );
    }

    #[test]
    fn the_loops_measure_something() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = run_loops(tmp.path()).expect("loops");
        for ns in [p.write_null_ns, p.write_file_ns, p.open_close_ns] {
            assert!(ns > 0.0 && ns < 1e7, "{p:?}");
        }
        assert_eq!(
            std::fs::read_dir(tmp.path()).expect("dir").count(),
            0,
            "the scratch file is removed"
        );
    }
}
