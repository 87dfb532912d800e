//! Giving up privileges once the watch tier is armed.
//!
//! Loading eBPF programs, placing fanotify marks and reading every user's home need a root
//! daemon. Once the tier is armed none of that is needed again: its fds (programs, maps, ring
//! buffer, fanotify group) keep working without the capabilities that created them. What is
//! left is reading other users' session files and stores, and resolving fanotify's directory
//! handles (`open_by_handle_at`): both are `CAP_DAC_READ_SEARCH`, which is all the daemon keeps,
//! but for one case: with the eBPF tier it also keeps `CAP_BPF`, because where
//! `kernel.unprivileged_bpf_disabled` is set (Debian's default) the kernel refuses every `bpf()`
//! call to a process without it, fd or not, and the tier still makes some (reading its loss
//! counters, registering a state dir found host-wide). `CAP_BPF` alone attaches nothing.
//! Writes go only to its own data dir, which root owns, so no capability is needed for them.

use caps::{CapSet, Capability, CapsHashSet};

/// What is kept after arming: reading every user's files.
pub const KEPT: Capability = Capability::CAP_DAC_READ_SEARCH;
/// Kept besides while the eBPF tier runs.
pub const KEPT_FOR_EBPF: Capability = Capability::CAP_BPF;

/// What the process holds after [`drop_all_but`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kept {
    pub effective: Vec<String>,
}

/// Drops every capability but `keep` from the effective, permitted, inheritable, ambient and
/// bounding sets, and sets `no_new_privs`, so nothing this process runs later can regain them.
/// What the process never had stays absent.
pub fn drop_all_but(keep: &[Capability]) -> Result<Kept, String> {
    let permitted =
        caps::read(None, CapSet::Permitted).map_err(|e| format!("reading capabilities: {e}"))?;
    let kept: CapsHashSet = permitted
        .iter()
        .copied()
        .filter(|c| keep.contains(c))
        .collect();
    // The bounding set can only shrink while CAP_SETPCAP is still effective: first.
    if permitted.contains(&Capability::CAP_SETPCAP) {
        let bounding = caps::read(None, CapSet::Bounding)
            .map_err(|e| format!("reading the bounding set: {e}"))?;
        for cap in bounding.iter().filter(|c| !keep.contains(c)) {
            caps::drop(None, CapSet::Bounding, *cap)
                .map_err(|e| format!("dropping {cap} from the bounding set: {e}"))?;
        }
    }
    caps::clear(None, CapSet::Ambient)
        .map_err(|e| format!("clearing ambient capabilities: {e}"))?;
    caps::clear(None, CapSet::Inheritable)
        .map_err(|e| format!("clearing inheritable capabilities: {e}"))?;
    caps::set(None, CapSet::Effective, &kept)
        .map_err(|e| format!("setting effective capabilities: {e}"))?;
    caps::set(None, CapSet::Permitted, &kept)
        .map_err(|e| format!("setting permitted capabilities: {e}"))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("setting no_new_privs: {e}"))?;
    let effective =
        caps::read(None, CapSet::Effective).map_err(|e| format!("reading capabilities: {e}"))?;
    let mut names: Vec<String> = effective.iter().map(|c| c.to_string()).collect();
    names.sort();
    Ok(Kept { effective: names })
}

/// Capabilities are per thread, and `capset` changes only the caller's: a thread the runtime
/// started before the drop (a blocking-pool worker) would keep everything. This counts the
/// threads whose effective set is larger than the caller's, for the caller to wait until the
/// idle ones have exited.
pub fn threads_holding_more() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/thread-self/..") else {
        return 0;
    };
    let mine = cap_eff("/proc/thread-self/status");
    tasks
        .flatten()
        .filter(|t| {
            let status = t.path().join("status");
            match (cap_eff(&status), mine) {
                (Some(theirs), Some(mine)) => theirs & !mine != 0,
                _ => false,
            }
        })
        .count()
}

/// `CapEff:` of a `/proc/.../status` file.
fn cap_eff(status: impl AsRef<std::path::Path>) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let hex = text.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Drops, then waits (up to `patience`) for threads started before the drop to exit. Returns
/// what is kept and how many threads still hold more.
pub fn drop_and_settle(
    keep: &[Capability],
    patience: std::time::Duration,
) -> Result<(Kept, usize), String> {
    let kept = drop_all_but(keep)?;
    let deadline = std::time::Instant::now() + patience;
    loop {
        let left = threads_holding_more();
        if left == 0 || std::time::Instant::now() >= deadline {
            return Ok((kept, left));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Once the tier is armed: keeps only what reading session files needs (and `CAP_BPF` on the
/// eBPF tier), and logs what is kept. Failing to drop is logged, not fatal: systemd's
/// `CapabilityBoundingSet=` still bounds the daemon.
pub fn drop_after_arming(tier: crate::watch::TierKind) {
    let keep: &[Capability] = if tier == crate::watch::TierKind::Ebpf {
        &[KEPT, KEPT_FOR_EBPF]
    } else {
        &[KEPT]
    };
    match drop_and_settle(keep, std::time::Duration::from_secs(2)) {
        Ok((kept, 0)) => tracing::info!(kept = ?kept.effective, "capabilities dropped"),
        Ok((kept, left)) => tracing::warn!(
            kept = ?kept.effective,
            threads = left,
            "capabilities dropped, but threads started before the drop still hold more"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not drop capabilities; running with what systemd gave")
        }
    }
}
