//! The eBPF tier's kernel side: BTF trampolines (fentry/fexit) on the VFS functions that open,
//! write, unlink and rename files, filtered here so user space hears only OpenClaw's files.
//!
//! No struct layout is compiled in: every field offset and argument position is a read-only
//! global that the loader fills from the running kernel's BTF before loading, so the verifier
//! sees them as constants and one object runs on any kernel with BTF.
//!
//! # Safety
//!
//! The `unsafe` here is of three kinds, each sound for the reason given once: kernel memory is
//! read only through BPF helpers (`bpf_probe_read_kernel*`, `bpf_d_path`, a tracepoint
//! context's `read_at`), and arithmetic on kernel pointers only makes addresses for them (a bad
//! address gives an error, never a crash, and the verifier rejects any other access); map lookups hand back references the kernel keeps valid
//! for the program's run, and each CPU runs one program at a time, so the per-CPU and per-thread
//! entries written through them are not shared; the `#[unsafe(no_mangle)]` globals are read-only
//! slots the loader fills before the program runs, and the `license` section is plain data.
#![no_std]
#![no_main]

mod filter;
mod kernel;
mod tracepoints;

use aya_ebpf::{
    macros::{fentry, fexit, map},
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
    programs::{FEntryContext, FExitContext},
};
use openclaw_livestatus_ebpf::{
    ANCESTOR_SLOT, COUNTER_BY_KIND, COUNTER_DROPPED, COUNTER_EMITTED, COUNTERS, EventKind,
    FLAG_ANCESTORS, FLAG_CREATED, FileEvent, InodeKey,
};

use kernel::{cfg, current_tgid};

/// Directories user space registered, with the depths below them that are in scope.
#[map]
pub(crate) static DIRS: HashMap<InodeKey, u32> = HashMap::with_max_entries(4096, 0);

/// Files of interest some process opened for writing: writes to anything else are dropped
/// after one lookup. LRU so it can never fill up; an evicted file is picked up again at its
/// next open, and the poll safety net covers the rest.
#[map]
pub(crate) static FILES: LruHashMap<InodeKey, u32> = LruHashMap::with_max_entries(16384, 0);

/// Processes (tgid) that opened a watched file for writing: on syscall tracepoints only their
/// writes are looked at any further (one lookup instead of walking the fd table), so the rest
/// of the host pays the least a traced syscall can cost.
#[map]
pub(crate) static WRITERS: LruHashMap<u32, u8> = LruHashMap::with_max_entries(4096, 0);

/// Renames seen on entry, completed (or dropped) on exit, by thread id.
#[map]
pub(crate) static PENDING_RENAMES: HashMap<u32, FileEvent> = HashMap::with_max_entries(1024, 0);

/// Room to build an event larger than the 512-byte stack.
#[map]
static SCRATCH: PerCpuArray<FileEvent> = PerCpuArray::with_max_entries(1, 0);

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 20, 0);

#[map]
static COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTERS, 0);

/// Reserved for a user-space switch; one entry keeps the map non-empty.
#[map]
static UNUSED: Array<u32> = Array::with_max_entries(1, 0);

fn count(index: u32) {
    if let Some(p) = COUNTS.get_ptr_mut(index) {
        // Per-CPU: no other writer.
        unsafe { *p += 1 };
    }
}

pub(crate) fn emit(ev: &FileEvent) {
    match EVENTS.output::<FileEvent>(ev, 0) {
        Ok(()) => {
            count(COUNTER_EMITTED);
            if ev.kind <= 4 {
                count(COUNTER_BY_KIND + ev.kind);
            }
        }
        Err(_) => count(COUNTER_DROPPED),
    }
}

/// The per-CPU scratch record, as a `kind` record of this process with every other header
/// field zeroed: each hook then sets only what it knows.
pub(crate) fn scratch(kind: EventKind) -> Option<&'static mut FileEvent> {
    let p = SCRATCH.get_ptr_mut(0)?;
    let ev = unsafe { &mut *p };
    ev.kind = kind as u32;
    ev.tgid = current_tgid();
    ev.dev = 0;
    ev.ino = 0;
    ev.dir_ino = 0;
    ev.new_dir_ino = 0;
    ev.flags = 0;
    ev.path_len = 0;
    ev.name_len = 0;
    ev.new_name_len = 0;
    ev.new_path_len = 0;
    ev.dfd = 0;
    ev.new_dfd = 0;
    Some(ev)
}

/// Opens: security_file_open runs after the file was created (if it was) and before any data
/// moves; bpf_d_path is allowed here and gives the absolute path, dirfd or not.
#[fentry(function = "security_file_open")]
pub fn file_open(ctx: FEntryContext) -> u32 {
    let file: *const u8 = ctx.arg(0);
    let _ = try_file_open(file, true);
    0
}

/// `with_path`: bpf_d_path is allowed (fentry on security_file_open); without it user space
/// places the file by its directory's inode and name.
pub(crate) fn try_file_open(file: *const u8, with_path: bool) -> Option<()> {
    if current_tgid() == cfg(&kernel::SELF_TGID) {
        return None;
    }
    let mode = kernel::read::<u32>(file, cfg(&kernel::OFF_FILE_F_MODE))?;
    let created = mode & cfg(&kernel::FMODE_CREATED) != 0;
    if !created && mode & cfg(&kernel::FMODE_WRITE) == 0 {
        // Read-only opens (our own readers among them) never matter.
        return None;
    }
    let dentry = kernel::file_dentry(file)?;
    let ev = scratch(EventKind::Open)?;
    ev.name_len = kernel::dentry_name(dentry, &mut ev.name)?;
    if !filter::name_matches(&ev.name, ev.name_len) {
        return None;
    }
    let parent = kernel::read::<*const u8>(dentry, cfg(&kernel::OFF_DENTRY_D_PARENT))?;
    let dev = kernel::dentry_dev(dentry)?;
    let host_wide = if filter::in_registered_dir(&DIRS, parent, dev) {
        false
    } else if created
        && cfg(&kernel::HOST_WIDE_LOCKS) != 0
        && filter::is_lock(&ev.name, ev.name_len)
    {
        true
    } else {
        return None;
    };
    let inode = kernel::read::<*const u8>(file, cfg(&kernel::OFF_FILE_F_INODE))?;
    let ino = kernel::read::<u64>(inode, cfg(&kernel::OFF_INODE_I_INO))?;
    let key = InodeKey { dev, ino };
    let _ = FILES.insert(&key, &0, 0);
    let _ = WRITERS.insert(&current_tgid(), &0, 0);
    ev.dev = dev;
    ev.ino = ino;
    ev.dir_ino = kernel::dentry_ino(parent)?;
    ev.flags = if created { FLAG_CREATED } else { 0 };
    ev.path_len = if with_path {
        kernel::file_path(file, &mut ev.path)?
    } else {
        0
    };
    if host_wide && !with_path {
        ancestors(ev, parent)?;
    }
    emit(ev);
    Some(())
}

/// The names above a host-wide lock, innermost first (see `FLAG_ANCESTORS`). Unrolled over
/// fixed slots so the verifier sees every buffer bound.
#[inline(always)]
fn ancestors(ev: &mut FileEvent, parent: *const u8) -> Option<()> {
    ev.flags |= FLAG_ANCESTORS;
    let mut d = parent;
    macro_rules! slot {
        ($i:expr, $buf:expr) => {{
            let (len, up) = kernel::ancestor(d, $buf)?;
            match up {
                None => {
                    ev.new_path_len = 1;
                    return Some(());
                }
                Some(up) => {
                    ev.new_name[$i] = len;
                    ev.new_name_len = $i + 1;
                    d = up;
                }
            }
        }};
    }
    slot!(0, &mut ev.path[0..ANCESTOR_SLOT]);
    slot!(1, &mut ev.path[ANCESTOR_SLOT..2 * ANCESTOR_SLOT]);
    slot!(2, &mut ev.path[2 * ANCESTOR_SLOT..3 * ANCESTOR_SLOT]);
    slot!(3, &mut ev.path[3 * ANCESTOR_SLOT..4 * ANCESTOR_SLOT]);
    slot!(4, &mut ev.new_path[0..ANCESTOR_SLOT]);
    slot!(5, &mut ev.new_path[ANCESTOR_SLOT..2 * ANCESTOR_SLOT]);
    slot!(6, &mut ev.new_path[2 * ANCESTOR_SLOT..3 * ANCESTOR_SLOT]);
    slot!(7, &mut ev.new_path[3 * ANCESTOR_SLOT..4 * ANCESTOR_SLOT]);
    // Eight names and still not at the root: too deep to place; user space drops it.
    let up = kernel::read::<*const u8>(d, cfg(&kernel::OFF_DENTRY_D_PARENT))?;
    if up == d {
        ev.new_path_len = 1;
    }
    Some(())
}

/// Writes, reported from the exit of the write so that the data is in the file when a reader
/// wakes. `generic_perform_write` is reached only by buffered writes to regular files of the
/// filesystems that use it (ext4, tmpfs, ...): a write to a pipe, socket or /dev/null never
/// enters a program at all.
#[fexit(function = "generic_perform_write")]
pub fn perform_write_exit(ctx: FExitContext) -> u32 {
    let iocb: *const u8 = ctx.arg(0);
    let ret: i64 = ctx.arg(cfg(&kernel::ARG_PERFORM_WRITE_RET) as usize);
    if ret > 0
        && let Some(file) = kernel::read::<*const u8>(iocb, cfg(&kernel::OFF_KIOCB_KI_FILP))
    {
        let _ = try_write(file);
    }
    0
}

/// The portable variant: every write(2)/pwrite64(2) of any file on the host enters it.
#[fexit(function = "vfs_write")]
pub fn vfs_write_exit(ctx: FExitContext) -> u32 {
    let file: *const u8 = ctx.arg(0);
    let ret: i64 = ctx.arg(cfg(&kernel::ARG_VFS_WRITE_RET) as usize);
    if ret > 0 {
        let _ = try_write(file);
    }
    0
}

/// writev(2)/pwritev(2) in the portable variant.
#[fexit(function = "vfs_writev")]
pub fn vfs_writev_exit(ctx: FExitContext) -> u32 {
    let file: *const u8 = ctx.arg(0);
    let ret: i64 = ctx.arg(cfg(&kernel::ARG_VFS_WRITEV_RET) as usize);
    if ret > 0 {
        let _ = try_write(file);
    }
    0
}

/// The key of an open file, if it is one an earlier matching open registered.
pub(crate) fn watched_file(file: *const u8) -> Option<InodeKey> {
    let inode = kernel::read::<*const u8>(file, cfg(&kernel::OFF_FILE_F_INODE))?;
    let ino = kernel::read::<u64>(inode, cfg(&kernel::OFF_INODE_I_INO))?;
    let sb = kernel::read::<*const u8>(inode, cfg(&kernel::OFF_INODE_I_SB))?;
    let dev = kernel::read::<u32>(sb, cfg(&kernel::OFF_SB_S_DEV))? as u64;
    let key = InodeKey { dev, ino };
    unsafe { FILES.get(&key) }?;
    Some(key)
}

fn try_write(file: *const u8) -> Option<()> {
    let key = watched_file(file)?;
    if current_tgid() == cfg(&kernel::SELF_TGID) {
        return None;
    }
    emit_write(key)
}

pub(crate) fn emit_write(key: InodeKey) -> Option<()> {
    let ev = scratch(EventKind::Write)?;
    ev.dev = key.dev;
    ev.ino = key.ino;
    emit(ev);
    Some(())
}

/// Unlinks, from the exit so that only a done unlink is reported. The dentry is negative by
/// then but keeps its name and parent.
#[fexit(function = "vfs_unlink")]
pub fn unlink_exit(ctx: FExitContext) -> u32 {
    let dentry: *const u8 = ctx.arg(cfg(&kernel::ARG_UNLINK_DENTRY) as usize);
    let ret: i64 = ctx.arg(cfg(&kernel::ARG_UNLINK_RET) as usize);
    if ret == 0 {
        let _ = try_unlink(dentry);
    }
    0
}

fn try_unlink(dentry: *const u8) -> Option<()> {
    if current_tgid() == cfg(&kernel::SELF_TGID) {
        return None;
    }
    let ev = scratch(EventKind::Unlink)?;
    ev.name_len = kernel::dentry_name(dentry, &mut ev.name)?;
    if !filter::name_matches(&ev.name, ev.name_len) {
        return None;
    }
    let parent = kernel::read::<*const u8>(dentry, cfg(&kernel::OFF_DENTRY_D_PARENT))?;
    let dev = kernel::dentry_dev(dentry)?;
    if !filter::in_registered_dir(&DIRS, parent, dev) {
        return None;
    }
    ev.dev = dev;
    ev.dir_ino = kernel::dentry_ino(parent)?;
    emit(ev);
    Some(())
}

/// Renames: names are taken on entry (on exit the dentries already carry the new names) and
/// reported on exit, only if the rename happened.
#[fentry(function = "vfs_rename")]
pub fn rename_entry(ctx: FEntryContext) -> u32 {
    let rd: *const u8 = ctx.arg(0);
    let _ = try_rename_entry(rd);
    0
}

fn try_rename_entry(rd: *const u8) -> Option<()> {
    let tgid = current_tgid();
    if tgid == cfg(&kernel::SELF_TGID) {
        return None;
    }
    let old = kernel::read::<*const u8>(rd, cfg(&kernel::OFF_RENAMEDATA_OLD_DENTRY))?;
    let new = kernel::read::<*const u8>(rd, cfg(&kernel::OFF_RENAMEDATA_NEW_DENTRY))?;
    let ev = scratch(EventKind::Rename)?;
    ev.name_len = kernel::dentry_name(old, &mut ev.name)?;
    ev.new_name_len = kernel::dentry_name(new, &mut ev.new_name)?;
    let old_match = filter::name_matches(&ev.name, ev.name_len);
    let new_match = filter::name_matches(&ev.new_name, ev.new_name_len);
    if !old_match && !new_match {
        return None;
    }
    let dev = kernel::dentry_dev(old)?;
    let old_parent = kernel::read::<*const u8>(old, cfg(&kernel::OFF_DENTRY_D_PARENT))?;
    let new_parent = kernel::read::<*const u8>(new, cfg(&kernel::OFF_DENTRY_D_PARENT))?;
    let in_scope = (old_match && filter::in_registered_dir(&DIRS, old_parent, dev))
        || (new_match && filter::in_registered_dir(&DIRS, new_parent, dev));
    if !in_scope {
        return None;
    }
    ev.dev = dev;
    ev.dir_ino = kernel::dentry_ino(old_parent)?;
    ev.new_dir_ino = kernel::dentry_ino(new_parent)?;
    PENDING_RENAMES.insert(&kernel::current_tid(), ev, 0).ok()
}

#[fexit(function = "vfs_rename")]
pub fn rename_exit(ctx: FExitContext) -> u32 {
    let tid = kernel::current_tid();
    let ret: i64 = ctx.arg(cfg(&kernel::ARG_RENAME_RET) as usize);
    if let Some(ev) = unsafe { PENDING_RENAMES.get(&tid) } {
        if ret == 0 {
            emit(ev);
        }
        let _ = PENDING_RENAMES.remove(&tid);
    }
    0
}

/// The kernel lets only GPL-compatible programs use the helpers and trampolines these need
/// (bpf_probe_read_kernel, bpf_d_path, fentry/fexit); "Dual MIT/GPL" is one it accepts.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
