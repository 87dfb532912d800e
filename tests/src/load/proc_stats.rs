//! What the kernel says a process has cost so far: CPU time, memory, context switches, open
//! fds, read from `/proc/<pid>` (Linux only, like the daemon).

use std::process::Command;
use std::time::{Duration, Instant};

/// One reading of a process's counters.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    /// utime + stime.
    pub cpu: Duration,
    pub rss_kib: u64,
    /// Peak RSS (`VmHWM`).
    pub hwm_kib: u64,
    pub voluntary_switches: u64,
}

impl Sample {
    /// `None` once the process is gone (or `/proc` says something unexpected).
    pub fn read(pid: u32, ticks_per_s: u64) -> Option<Sample> {
        let at = Instant::now();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name may hold spaces and parentheses: fields count from the last ')'.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After the name: state is field 3 of stat(5), so utime (14) and stime (15) are at 11, 12.
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        let cpu = Duration::from_secs_f64((utime + stime) as f64 / ticks_per_s as f64);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        Some(Sample {
            at,
            cpu,
            rss_kib: status_field(&status, "VmRSS:")?,
            hwm_kib: status_field(&status, "VmHWM:")?,
            voluntary_switches: status_field(&status, "voluntary_ctxt_switches:")?,
        })
    }

    /// CPU used between `earlier` and this sample, as a percentage of one core.
    pub fn cpu_percent_since(&self, earlier: &Sample) -> f64 {
        let wall = self.at.saturating_duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        100.0 * self.cpu.saturating_sub(earlier.cpu).as_secs_f64() / wall
    }
}

fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on every Linux we run).
pub fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// How many fds the process holds open now.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}
