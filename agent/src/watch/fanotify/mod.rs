//! The fanotify tier: one `FAN_MARK_FILESYSTEM` mark per filesystem that holds the scope,
//! events carrying the directory's file handle and the entry's name (`FAN_REPORT_DFID_NAME`).
//! No per-directory watches, so no watch limit and no window while a new directory is being
//! watched; the price is that every event on the filesystem reaches us, and the scope is
//! applied in user space (see `translate`). See docs/fanotify.md for the capabilities.

mod record;
mod resolve;
mod sys;
#[cfg(test)]
pub(crate) mod tests;
mod translate;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::inotify::coalesce;
use super::{FsEvent, Scope, TierKind, WatchError, WatchHandle};
use translate::{Tree, mark_hint};

/// Holds a few hundred events per read(); a longer burst just takes more reads.
const READ_BUF_SIZE: usize = 64 * 1024;
/// Bounds the work (and the delay of the first report) per batch in an endless burst.
const MAX_BATCH: usize = 4096;
/// How often the shape is walked for filesystems mounted over a known directory, which no
/// event announces (a mount under a directory that appears later is seen when it appears).
#[cfg(not(test))]
const MOUNT_RECHECK: Duration = Duration::from_secs(30);
/// Short enough for a test to wait for on the channel.
#[cfg(test)]
const MOUNT_RECHECK: Duration = Duration::from_millis(300);

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Why a fanotify group cannot be created, and what to do.
fn init_error(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => format!(
            "fanotify_init: {e}; a filesystem-wide fanotify group needs CAP_SYS_ADMIN: run the \
             daemon as root (the systemd unit grants it), or use --tier inotify"
        ),
        Some(libc::EINVAL) => format!(
            "fanotify_init: {e}; kernel {} does not support FAN_REPORT_DFID_NAME (Linux 5.9 or \
             later is needed): use --tier inotify",
            kernel_release()
        ),
        Some(libc::ENOSYS) => format!(
            "fanotify_init: {e}; this kernel is built without fanotify (CONFIG_FANOTIFY): use \
             --tier inotify"
        ),
        Some(libc::EMFILE) => format!(
            "fanotify_init: {e}; too many fanotify groups for this user \
             (fs.fanotify.max_user_groups): raise it with sysctl, or use --tier inotify"
        ),
        _ => format!("fanotify_init: {e}; use --tier inotify"),
    }
}

/// Whether the tier can run here: a group with our flags can be created and can mark a
/// directory. Both are what arming does, so the answer is honest, and it costs two syscalls
/// (the group and its mark go away when the fd is closed).
pub fn available() -> Result<(), String> {
    let group = sys::init().map_err(|e| init_error(&e))?;
    let root = std::path::Path::new("/");
    sys::mark_dir(group.as_fd(), root, false)
        .map_err(|e| format!("fanotify_mark on /: {e}; {}", mark_hint(&e)))
}

pub(crate) async fn start(
    scope: Scope,
    tx: mpsc::Sender<FsEvent>,
) -> Result<WatchHandle, WatchError> {
    let unavailable = |reason| WatchError::Unavailable {
        tier: TierKind::Fanotify,
        reason,
    };
    let group = Arc::new(sys::init().map_err(|e| unavailable(init_error(&e)))?);
    let mut tree = Tree::new(group.clone(), &scope);
    let mut out = Vec::new();
    tree.arm_anchors(false, &mut out)
        .map_err(|e| WatchError::Watch {
            hint: mark_hint(&e.source),
            path: e.path,
            source: e.source,
        })?;
    // SAFETY: the AsyncFd holds a strong reference to the fd, so it stays open while
    // registered; nothing else closes it.
    let fd = unsafe { AsyncFd::register_with_interest(group, Interest::READABLE) };
    let fd = fd.map_err(|e| WatchError::Task {
        tier: TierKind::Fanotify,
        reason: format!("cannot register the fanotify fd with the runtime: {e}"),
    })?;
    tracing::debug!(
        tier = "fanotify",
        filesystems = tree.filesystems(),
        "fanotify tier armed"
    );
    let task = tokio::spawn(run(fd, tree, tx));
    Ok(WatchHandle::new(TierKind::Fanotify, vec![task]))
}

async fn run(fd: AsyncFd<Arc<OwnedFd>>, mut tree: Tree, tx: mpsc::Sender<FsEvent>) {
    let mut buf = vec![0u8; READ_BUF_SIZE];
    let mut recheck = tokio::time::interval(MOUNT_RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate; arming just walked the shape.
    recheck.tick().await;
    loop {
        let mut out = Vec::new();
        tokio::select! {
            ready = fd.readable() => {
                let mut guard = match ready {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::error!(tier = "fanotify", error = %e, "cannot poll the fanotify fd; fanotify tier stopped, the poll safety net remains");
                        return;
                    }
                };
                let mut records = Vec::new();
                while records.len() < MAX_BATCH {
                    match guard.try_io(|g| sys::read(g.get_ref().as_fd(), &mut buf)) {
                        // Drained: try_io cleared the readiness.
                        Err(_would_block) => break,
                        Ok(Ok(n)) => {
                            if let Err(e) = record::parse(&buf[..n], &mut records) {
                                tracing::warn!(tier = "fanotify", error = %e, "cannot parse fanotify events; asking for a rescan");
                                records.push(record::Record::Overflow);
                            }
                        }
                        Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                        Ok(Err(e)) => {
                            tracing::error!(tier = "fanotify", error = %e, "cannot read fanotify events; fanotify tier stopped, the poll safety net remains");
                            return;
                        }
                    }
                }
                for r in records {
                    tree.handle(r, &mut out);
                }
            }
            _ = recheck.tick() => tree.recheck_mounts(&mut out),
        }
        coalesce(&mut out);
        for ev in out {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    }
}
