//! The eBPF tier: BTF trampolines on the kernel's file open, write, unlink and rename paths,
//! filtered in the kernel to OpenClaw's files under the scope, host-wide. See docs/ebpf.md.
//!
//! - `object`: the embedded programs, loaded with offsets from `offsets`, attached
//! - `register`: what the kernel filter is told (directories, depths, open files)
//! - `reader`: the ring buffer on the tokio reactor, counters
//! - `translate`: kernel records → `FsEvent`s, scope checked again
//! - `prescan`: files opened for writing before the tier started

mod object;
mod offsets;
mod prescan;
mod reader;
mod register;
mod selftest;
#[cfg(test)]
mod tests;
mod translate;

use std::sync::atomic::{AtomicBool, Ordering};

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

pub use object::Hooks;
pub use reader::{CounterReader, Counters};

use super::{FsEvent, Scope, TierKind, WatchError, WatchHandle};

static WATCH_OWN_PROCESS: AtomicBool = AtomicBool::new(false);

/// The kernel side ignores the agent's own process so that nothing the agent does can feed
/// back into its event stream. Tests, whose writers share the process with the tier, turn
/// that off; it applies to tiers started afterwards.
pub fn watch_own_process(yes: bool) {
    WATCH_OWN_PROCESS.store(yes, Ordering::SeqCst);
}

pub(crate) fn not_built_msg() -> String {
    "built without the eBPF object: run scripts/build-ebpf.sh (or `make build`), then rebuild the \
     agent"
        .to_owned()
}

/// Linux capability numbers (linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Whether the tier can run here, cheaply (for `doctor` and `auto`): the object is built in,
/// the kernel has BTF, and we hold the capabilities to load programs.
pub fn available() -> Result<(), String> {
    if object::bytes().is_none() {
        return Err(not_built_msg());
    }
    if !offsets::has_btf() {
        return Err(format!(
            "the kernel exposes no BTF ({} is missing; it needs CONFIG_DEBUG_INFO_BTF=y): use \
             --tier fanotify or --tier inotify",
            offsets::VMLINUX_BTF
        ));
    }
    let caps = effective_caps().unwrap_or(0);
    let has = |c: u32| caps & (1 << c) != 0;
    if !(has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) {
        return Err(
            "loading eBPF programs needs CAP_BPF and CAP_PERFMON (or root): run the agent as \
             root or grant them (the systemd unit does), or use --tier inotify"
                .to_owned(),
        );
    }
    Ok(())
}

/// The trampoline variant for a scope: the cheap write hook when every filesystem in scope is
/// known to use the generic write path, the portable one otherwise.
pub fn fentry_hooks_for(scope: &Scope) -> Hooks {
    let dirs: Vec<std::path::PathBuf> = register::registrations(scope)
        .into_iter()
        .map(|(p, _)| p)
        .chain(register::session_dirs(scope))
        .collect();
    if dirs.iter().all(|d| object::uses_generic_write(d)) {
        Hooks::FentryPerformWrite
    } else {
        Hooks::FentryVfsWrite
    }
}

/// Starts the tier on BTF trampolines, or on syscall tracepoints where the kernel refuses
/// trampolines. Returns once armed.
pub async fn start(scope: Scope, tx: mpsc::Sender<FsEvent>) -> Result<WatchHandle, WatchError> {
    let preferred = fentry_hooks_for(&scope);
    match start_with(scope.clone(), tx.clone(), preferred).await {
        Ok(h) => Ok(h),
        Err(WatchError::Unavailable { reason, .. }) if available().is_ok() => {
            tracing::info!(tier = "ebpf", %reason, "BTF trampolines unavailable; using syscall tracepoints (slower for every syscall of the host)");
            start_with(scope, tx, Hooks::SyscallTracepoints)
                .await
                .map_err(|e| match e {
                    WatchError::Unavailable { reason: r2, .. } => {
                        unavailable(format!("{reason}; and with syscall tracepoints: {r2}"))
                    }
                    other => other,
                })
        }
        Err(e) => Err(e),
    }
}

fn unavailable(reason: String) -> WatchError {
    WatchError::Unavailable {
        tier: TierKind::Ebpf,
        reason,
    }
}

/// Starts the tier on exactly these hooks (benchmarks compare them). Returns once the programs
/// are attached and the scope is registered: armed.
pub async fn start_with(
    scope: Scope,
    tx: mpsc::Sender<FsEvent>,
    hooks: Hooks,
) -> Result<WatchHandle, WatchError> {
    available().map_err(unavailable)?;
    let self_tgid = if WATCH_OWN_PROCESS.load(Ordering::SeqCst) {
        0
    } else {
        std::process::id()
    };
    // Loading parses the kernel's BTF and runs the verifier: blocking work.
    let (bpf, translator, counters, ring, dirs) = tokio::task::spawn_blocking({
        let scope = scope.clone();
        move || arm(&scope, self_tgid, hooks)
    })
    .await
    .map_err(|e| WatchError::Task {
        tier: TierKind::Ebpf,
        reason: e.to_string(),
    })?
    .map_err(unavailable)?;
    // The BTF parses (tens of MB) are freed by now, but glibc would keep most of their pages.
    crate::heap::release_free_memory();
    // SAFETY: the ring buffer owns its map fd and keeps it open and unchanged until the
    // AsyncFd (which owns the ring buffer) is dropped.
    let ring = unsafe { AsyncFd::register(ring) }.map_err(|e| WatchError::Task {
        tier: TierKind::Ebpf,
        reason: format!("cannot poll the ring buffer: {e}"),
    })?;
    tracing::info!(tier = "ebpf", hooks = hooks.name(), "eBPF tier armed");
    let reader = reader::Reader {
        _bpf: bpf,
        ring,
        translator,
        scope,
        counters: counters.clone(),
        dirs,
        tx,
    };
    let task = tokio::spawn(reader.run());
    Ok(WatchHandle::new(TierKind::Ebpf, vec![task]).with_ebpf_counters(counters))
}

type Armed = (
    aya::Ebpf,
    translate::Translator,
    CounterReader,
    RingBuf<MapData>,
    BpfHashMap<MapData, [u64; 2], u32>,
);

fn arm(scope: &Scope, self_tgid: u32, hooks: Hooks) -> Result<Armed, String> {
    let host_wide = matches!(scope, Scope::Discover { .. });
    let mut bpf = object::load_and_attach(self_tgid, host_wide, hooks)?;
    let missing =
        |m: &str| format!("the eBPF object has no map {m}: rebuild it with scripts/build-ebpf.sh");
    let bad = |m: &str, e: aya::maps::MapError| format!("eBPF map {m}: {e}");
    let mut dirs: BpfHashMap<MapData, [u64; 2], u32> = bpf
        .take_map("DIRS")
        .ok_or_else(|| missing("DIRS"))?
        .try_into()
        .map_err(|e| bad("DIRS", e))?;
    for (dir, mask) in register::registrations(scope) {
        if let Some(k) = register::key_of(&dir) {
            let old = dirs.get(&[k.dev, k.ino], 0).unwrap_or(0);
            dirs.insert([k.dev, k.ino], old | mask, 0)
                .map_err(|e| bad("DIRS", e))?;
        }
    }
    let mut ring: RingBuf<MapData> = bpf
        .take_map("EVENTS")
        .ok_or_else(|| missing("EVENTS"))?
        .try_into()
        .map_err(|e| bad("EVENTS", e))?;
    let mut files: BpfHashMap<MapData, [u64; 2], u32> = bpf
        .take_map("FILES")
        .ok_or_else(|| missing("FILES"))?
        .try_into()
        .map_err(|e| bad("FILES", e))?;
    selftest::run(&mut dirs, &mut files, &mut ring)?;
    let mut translator = translate::Translator::new(scope);
    for dir in register::session_dirs(scope) {
        if let Some(k) = register::key_of(&dir) {
            translator.learn_dir(k, dir);
        }
    }
    let mut writers: BpfHashMap<MapData, u32, u8> = bpf
        .take_map("WRITERS")
        .ok_or_else(|| missing("WRITERS"))?
        .try_into()
        .map_err(|e| bad("WRITERS", e))?;
    for (k, path, pid) in prescan::open_for_writing(&translator) {
        files
            .insert([k.dev, k.ino], 0, 0)
            .map_err(|e| bad("FILES", e))?;
        writers.insert(pid, 0, 0).map_err(|e| bad("WRITERS", e))?;
        translator.learn_file(k, path);
    }
    let counts: PerCpuArray<MapData, u64> = bpf
        .take_map("COUNTS")
        .ok_or_else(|| missing("COUNTS"))?
        .try_into()
        .map_err(|e| bad("COUNTS", e))?;
    Ok((bpf, translator, CounterReader::new(counts), ring, dirs))
}
