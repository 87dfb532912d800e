//! The same hooks on syscall tracepoints, for kernels that refuse BTF trampolines (fentry,
//! fexit and LSM programs fail to load with EPERM on some hosts). Every syscall of every task
//! then takes the kernel's slower traced entry path: see docs/ebpf.md for the cost.
//!
//! Syscall tracepoint records hold the arguments at 16 + 8 * n (after the common header and
//! the syscall number), the return value of an exit at 16.

use aya_ebpf::{
    helpers::bpf_probe_read_user_str_bytes,
    macros::{map, tracepoint},
    maps::HashMap,
    programs::TracePointContext,
};
use openclaw_livestatus_ebpf::{AT_FDCWD, EventKind, FLAG_USER_PATHS, InodeKey};

use crate::kernel::{self, cfg, current_tgid, current_tid};
use crate::{
    PENDING_RENAMES, WRITERS, emit, emit_write, filter, scratch, try_file_open, watched_file,
};

/// Writes to a watched file in flight, by thread id: reported when the syscall returns.
#[map]
static PENDING_WRITES: HashMap<u32, InodeKey> = HashMap::with_max_entries(4096, 0);

fn arg(ctx: &TracePointContext, n: usize) -> Option<u64> {
    unsafe { ctx.read_at::<u64>(16 + 8 * n) }.ok()
}

fn ret(ctx: &TracePointContext) -> Option<i64> {
    unsafe { ctx.read_at::<i64>(16) }.ok()
}

/// sys_exit_{openat,openat2,open,creat}: the new fd's file is looked at like in the fentry
/// variant, without bpf_d_path (not allowed here).
#[tracepoint]
pub fn tp_open_exit(ctx: TracePointContext) -> u32 {
    if let Some(fd) = ret(&ctx).filter(|r| *r >= 0)
        && let Some(file) = kernel::current_fd_file(fd as u64)
    {
        let _ = try_file_open(file, false);
    }
    0
}

/// sys_enter_{write,pwrite64,writev,pwritev,pwritev2}: fd is argument 0.
#[tracepoint]
pub fn tp_write_enter(ctx: TracePointContext) -> u32 {
    if unsafe { WRITERS.get(&current_tgid()) }.is_none() {
        return 0;
    }
    if let Some(fd) = arg(&ctx, 0)
        && let Some(file) = kernel::current_fd_file(fd)
        && let Some(key) = watched_file(file)
        && current_tgid() != cfg(&kernel::SELF_TGID)
    {
        let _ = PENDING_WRITES.insert(&current_tid(), &key, 0);
    }
    0
}

#[tracepoint]
pub fn tp_write_exit(ctx: TracePointContext) -> u32 {
    let tid = current_tid();
    if let Some(key) = unsafe { PENDING_WRITES.get(&tid) }.copied() {
        let _ = PENDING_WRITES.remove(&tid);
        if ret(&ctx).is_some_and(|r| r > 0) {
            let _ = emit_write(key);
        }
    }
    0
}

/// Remembers an unlink or rename whose path (either path) ends like a file of interest.
fn stash(kind: EventKind, dfd: i64, path: u64, new_dfd: i64, new_path: u64) -> Option<()> {
    let tgid = current_tgid();
    if tgid == cfg(&kernel::SELF_TGID) {
        return None;
    }
    let ev = scratch(kind)?;
    ev.path_len = unsafe { bpf_probe_read_user_str_bytes(path as *const u8, &mut ev.path) }
        .ok()?
        .len() as u32;
    ev.new_path_len = if new_path != 0 {
        unsafe { bpf_probe_read_user_str_bytes(new_path as *const u8, &mut ev.new_path) }
            .ok()?
            .len() as u32
    } else {
        0
    };
    if !filter::name_matches(&ev.path, ev.path_len)
        && !(new_path != 0 && filter::name_matches(&ev.new_path, ev.new_path_len))
    {
        return None;
    }
    ev.flags = FLAG_USER_PATHS;
    ev.dfd = dfd as i32;
    ev.new_dfd = new_dfd as i32;
    PENDING_RENAMES.insert(&current_tid(), ev, 0).ok()
}

/// sys_enter_unlinkat(dfd, pathname, flag)
#[tracepoint]
pub fn tp_unlinkat_enter(ctx: TracePointContext) -> u32 {
    if let (Some(dfd), Some(p)) = (arg(&ctx, 0), arg(&ctx, 1)) {
        let _ = stash(EventKind::Unlink, dfd as i64, p, 0, 0);
    }
    0
}

/// sys_enter_unlink(pathname)
#[tracepoint]
pub fn tp_unlink_enter(ctx: TracePointContext) -> u32 {
    if let Some(p) = arg(&ctx, 0) {
        let _ = stash(EventKind::Unlink, AT_FDCWD as i64, p, 0, 0);
    }
    0
}

/// sys_enter_renameat2 / renameat(olddfd, oldname, newdfd, newname[, flags])
#[tracepoint]
pub fn tp_renameat_enter(ctx: TracePointContext) -> u32 {
    if let (Some(od), Some(op), Some(nd), Some(np)) =
        (arg(&ctx, 0), arg(&ctx, 1), arg(&ctx, 2), arg(&ctx, 3))
    {
        let _ = stash(EventKind::Rename, od as i64, op, nd as i64, np);
    }
    0
}

/// sys_enter_rename(oldname, newname)
#[tracepoint]
pub fn tp_rename_enter(ctx: TracePointContext) -> u32 {
    if let (Some(op), Some(np)) = (arg(&ctx, 0), arg(&ctx, 1)) {
        let _ = stash(EventKind::Rename, AT_FDCWD as i64, op, AT_FDCWD as i64, np);
    }
    0
}

/// sys_exit of unlink*/rename*: reported only if the call succeeded.
#[tracepoint]
pub fn tp_path_exit(ctx: TracePointContext) -> u32 {
    let tid = current_tid();
    if let Some(ev) = unsafe { PENDING_RENAMES.get(&tid) } {
        if ret(&ctx) == Some(0) {
            emit(ev);
        }
        let _ = PENDING_RENAMES.remove(&tid);
    }
    0
}
