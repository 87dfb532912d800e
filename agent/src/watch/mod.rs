//! Event sources. Every tier turns what it learns into `FsEvent`s on one channel.
//!
//! A tier is armed when its start function returns: from then on no change in its scope goes
//! unreported, so the daemon may signal READY and do its initial scan. Changes between arming
//! and the scan may be reported twice; duplicates are harmless downstream, gaps are not.

pub mod cost;
pub mod ebpf;
pub mod event;
pub mod fanotify;
pub mod inotify;
pub mod poll;
pub mod scope;
mod shape;
#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use event::{FsEvent, FsEventKind};
pub use scope::Scope;
pub use shape::is_file_of_interest;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WatchOptions {
    /// Interval of the poll tier when it is the primary tier.
    pub poll_interval: Duration,
    /// Interval of the poll safety net that runs beside a faster tier.
    pub safety_net_interval: Duration,
    /// How much slower `auto` lets a kernel tier make unrelated system calls (1.05: 5 %).
    pub max_host_cost: f64,
}

/// `watch.max_host_cost` when the config does not set it.
pub const DEFAULT_MAX_HOST_COST: f64 = 1.05;

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            poll_interval: Duration::from_secs(1),
            safety_net_interval: Duration::from_secs(10),
            max_host_cost: DEFAULT_MAX_HOST_COST,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TierKind {
    Ebpf,
    Fanotify,
    Inotify,
    Poll,
}

impl TierKind {
    /// Best first: the order `auto` tries them in.
    pub const ALL: [TierKind; 4] = [
        TierKind::Ebpf,
        TierKind::Fanotify,
        TierKind::Inotify,
        TierKind::Poll,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TierKind::Ebpf => "ebpf",
            TierKind::Fanotify => "fanotify",
            TierKind::Inotify => "inotify",
            TierKind::Poll => "poll",
        }
    }
}

impl std::fmt::Display for TierKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A running tier. Dropping it, or `stop()`, ends its tasks (and closes its inotify fd).
#[derive(Debug)]
pub struct WatchHandle {
    pub tier: TierKind,
    tasks: Vec<JoinHandle<()>>,
    ebpf_counters: Option<ebpf::CounterReader>,
}

impl WatchHandle {
    pub(crate) fn new(tier: TierKind, tasks: Vec<JoinHandle<()>>) -> Self {
        WatchHandle {
            tier,
            tasks,
            ebpf_counters: None,
        }
    }

    pub(crate) fn with_ebpf_counters(mut self, c: ebpf::CounterReader) -> Self {
        self.ebpf_counters = Some(c);
        self
    }

    /// The eBPF tier's kernel counters (events emitted, events dropped); `None` on other tiers.
    /// For logs, `doctor` and tests.
    pub fn ebpf_counters(&self) -> Option<ebpf::Counters> {
        self.ebpf_counters.as_ref().map(ebpf::CounterReader::read)
    }

    /// False once a task has ended on its own: the receiver was dropped, or the tier hit an
    /// error it cannot recover from (logged). Only tests ask today.
    pub fn is_running(&self) -> bool {
        self.tasks.iter().all(|t| !t.is_finished())
    }

    /// Ends the tier and waits until its tasks are gone, so its fds are closed on return.
    pub async fn stop(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            // A cancelled task reports `JoinError::Cancelled`, which is the expected outcome.
            let _ = t.await;
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot create an inotify instance: {source}; {hint}")]
    InotifyInit { source: io::Error, hint: String },
    #[error(
        "inotify watch limit reached while watching {} (fs.inotify.max_user_watches={limit}): \
         raise it with `sysctl fs.inotify.max_user_watches=<n>`, or use --tier poll",
        path.display()
    )]
    WatchLimit { path: PathBuf, limit: String },
    #[error("cannot watch {}: {source}; {hint}", path.display())]
    Watch {
        path: PathBuf,
        source: io::Error,
        hint: &'static str,
    },
    #[error("cannot read {}: {source}; {hint}", path.display())]
    Read {
        path: PathBuf,
        source: io::Error,
        hint: &'static str,
    },
    #[error("{what} must be greater than zero (got {interval:?})")]
    BadInterval {
        what: &'static str,
        interval: Duration,
    },
    #[error("the {tier} tier failed while arming: {reason}")]
    Task { tier: TierKind, reason: String },
    /// The tier cannot run on this host; `reason` says why and what would make it run.
    #[error("the {tier} tier cannot run here: {reason}")]
    Unavailable { tier: TierKind, reason: String },
}

/// What to do about an error on a path the operator (or discovery) pointed us at.
pub(crate) fn access_hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "the daemon may not read it: run it as root (it keeps CAP_DAC_READ_SEARCH) or as the \
             gateway's user"
        }
        Some(libc::ENOMEM) => "the kernel is out of memory for inotify; use --tier poll",
        _ => "check the path, or use --tier poll",
    }
}

fn read_sysctl(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub(crate) fn max_user_watches() -> String {
    read_sysctl("max_user_watches").map_or_else(|| "unknown".to_owned(), |n| n.to_string())
}

pub(crate) fn inotify_init_error(source: io::Error) -> WatchError {
    let hint = match source.raw_os_error() {
        Some(libc::EMFILE) => format!(
            "the per-user instance limit is reached (fs.inotify.max_user_instances={}): raise it \
             with sysctl, or use --tier poll",
            read_sysctl("max_user_instances")
                .map_or_else(|| "unknown".to_owned(), |n| n.to_string())
        ),
        Some(libc::ENOSYS) => "this kernel has no inotify: use --tier poll".to_owned(),
        _ => "use --tier poll".to_owned(),
    };
    WatchError::InotifyInit { source, hint }
}

/// Below this many watches per user the inotify tier cannot cover even a few gateways (every
/// state dir needs about six), so auto-selection should not pick it.
const MIN_USEFUL_WATCHES: u64 = 64;

/// Whether the inotify tier can run here: an instance can be created and the watch limit is
/// not absurdly low. The error says why not and what to do, for tier auto-selection and
/// `doctor`.
pub fn inotify_available() -> Result<(), String> {
    if let Err(e) = ::inotify::Inotify::init() {
        return Err(inotify_init_error(e).to_string());
    }
    match read_sysctl("max_user_watches") {
        Some(n) if n < MIN_USEFUL_WATCHES => Err(format!(
            "fs.inotify.max_user_watches={n} is too low to watch OpenClaw state dirs: raise it \
             with sysctl, or use --tier poll"
        )),
        _ => Ok(()),
    }
}

/// Whether `tier` can run here, and if not why (for `doctor`). Only arming proves it: `auto`
/// starts tiers in order and takes the first that arms.
pub fn available(tier: TierKind) -> Result<(), String> {
    match tier {
        TierKind::Ebpf => ebpf::available(),
        TierKind::Fanotify => fanotify::available(),
        TierKind::Inotify => inotify_available(),
        TierKind::Poll => Ok(()),
    }
}

/// Starts one tier and returns once it is armed.
pub async fn start(
    tier: TierKind,
    scope: Scope,
    opts: WatchOptions,
    tx: mpsc::Sender<FsEvent>,
) -> Result<WatchHandle, WatchError> {
    match tier {
        TierKind::Ebpf => ebpf::start(scope, tx).await,
        TierKind::Fanotify => fanotify::start(scope, tx).await,
        TierKind::Inotify => inotify::start(scope, tx).await,
        TierKind::Poll => poll::start(scope, opts.poll_interval, "poll interval", tx).await,
    }
}

/// Starts the poll safety net that runs beside a faster tier (catches what it misses: network
/// filesystems, watch limits, races). Its handle reports `TierKind::Poll`.
pub async fn start_safety_net(
    scope: Scope,
    opts: WatchOptions,
    tx: mpsc::Sender<FsEvent>,
) -> Result<WatchHandle, WatchError> {
    poll::start(scope, opts.safety_net_interval, "safety-net interval", tx).await
}
