//! The embedded eBPF object: loading it with this kernel's offsets, attaching its programs.

use std::path::Path;

use aya::programs::{FEntry, FExit, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};

use super::offsets;

#[cfg(livestatus_ebpf_object)]
static OBJECT: Option<&[u8]> = Some(aya::include_bytes_aligned!(env!("LIVESTATUS_EBPF_OBJECT")));
#[cfg(not(livestatus_ebpf_object))]
static OBJECT: Option<&[u8]> = None;

pub(crate) fn bytes() -> Option<&'static [u8]> {
    OBJECT
}

/// Which kernel hooks the programs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hooks {
    /// BTF trampolines, writes from fexit `generic_perform_write`: only buffered writes to
    /// regular files of filesystems that use the generic write path (ext4, tmpfs, ...) enter a
    /// program; no cost on other writes or other syscalls.
    FentryPerformWrite,
    /// BTF trampolines, writes from fexit `vfs_write` + `vfs_writev`: every filesystem, at the
    /// cost of one inode lookup on every write(2) of the host.
    FentryVfsWrite,
    /// Syscall tracepoints (enter/exit of open, write, unlink, rename): for kernels that refuse
    /// trampolines; every syscall of the host takes the slower traced path.
    SyscallTracepoints,
}

impl Hooks {
    pub fn name(self) -> &'static str {
        match self {
            Hooks::FentryPerformWrite => "fentry/fexit (writes: generic_perform_write)",
            Hooks::FentryVfsWrite => "fentry/fexit (writes: vfs_write+vfs_writev)",
            Hooks::SyscallTracepoints => "syscall tracepoints",
        }
    }
}

/// Parsed again at each arming and dropped once the programs are attached, not kept for the
/// process's life: aya's parse of the kernel's BTF holds ~25 MB, four times the rest of an idle
/// daemon, and only attaching needs it.
fn kernel_btf() -> Result<Btf, String> {
    Btf::from_sys_fs().map_err(|e| format!("cannot read the kernel's BTF: {e}"))
}

fn load(self_tgid: u32, host_wide_locks: u32) -> Result<(Ebpf, Btf), String> {
    let bytes = bytes().ok_or_else(super::not_built_msg)?;
    let globals = offsets::globals()?;
    let btf = kernel_btf()?;
    let mut loader = EbpfLoader::new();
    loader.btf(Some(&btf));
    for (name, value) in globals {
        loader.override_global(name, value, true);
    }
    loader.override_global("SELF_TGID", &self_tgid, true);
    loader.override_global("HOST_WIDE_LOCKS", &host_wide_locks, true);
    let bpf = loader.load(bytes).map_err(|e| {
        format!("cannot load the eBPF object: {e}; run as root (CAP_BPF, CAP_PERFMON)")
    })?;
    Ok((bpf, btf))
}

fn attach_fn(bpf: &mut Ebpf, btf: &Btf, prog: &str, func: &str, exit: bool) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot attach {prog} to {func}: {e}");
    let p = bpf.program_mut(prog).ok_or_else(|| missing(prog))?;
    if exit {
        let p: &mut FExit = p.try_into().map_err(|e| fail(&e))?;
        p.load(func, btf).map_err(|e| fail(&e))?;
        p.attach().map_err(|e| fail(&e))?;
    } else {
        let p: &mut FEntry = p.try_into().map_err(|e| fail(&e))?;
        p.load(func, btf).map_err(|e| fail(&e))?;
        p.attach().map_err(|e| fail(&e))?;
    }
    Ok(())
}

fn missing(prog: &str) -> String {
    format!("the eBPF object has no program {prog}: rebuild it with scripts/build-ebpf.sh")
}

/// Attaches `prog` to every syscall tracepoint in `calls` that this kernel has (`open` and
/// friends do not exist on every architecture).
fn attach_tp(bpf: &mut Ebpf, prog: &str, calls: &[&str]) -> Result<(), String> {
    let p = bpf.program_mut(prog).ok_or_else(|| missing(prog))?;
    let p: &mut TracePoint = p.try_into().map_err(|e| format!("{prog}: {e}"))?;
    p.load().map_err(|e| format!("cannot load {prog}: {e}"))?;
    let mut attached = 0;
    for call in calls {
        let dir = Path::new(TRACEFS).join("events/syscalls").join(call);
        if !dir.exists() {
            continue;
        }
        p.attach("syscalls", call)
            .map_err(|e| format!("cannot attach {prog} to syscalls/{call}: {e}"))?;
        attached += 1;
    }
    if attached == 0 {
        return Err(format!(
            "none of the syscall tracepoints {calls:?} exists under {TRACEFS}/events/syscalls              (CONFIG_FTRACE_SYSCALLS=n?)"
        ));
    }
    Ok(())
}

const TRACEFS: &str = "/sys/kernel/tracing";

/// Tracepoints are attached by name through tracefs; mounted here when it is not yet.
fn ensure_tracefs() -> Result<(), String> {
    if Path::new(TRACEFS).join("events").is_dir() {
        return Ok(());
    }
    nix::mount::mount(
        Some("tracefs"),
        TRACEFS,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| {
        format!(
            "tracefs is not mounted and mounting it failed ({e}): run `mount -t tracefs tracefs              {TRACEFS}` as root"
        )
    })
}

/// Loads the object and attaches the programs of `hooks`; on return the hooks are live.
/// `host_wide_locks`: report a turn's lock created anywhere, not only under registered
/// directories (discovery scope).
pub(crate) fn load_and_attach(
    self_tgid: u32,
    host_wide_locks: bool,
    hooks: Hooks,
) -> Result<Ebpf, String> {
    let (mut bpf, btf) = load(self_tgid, u32::from(host_wide_locks))?;
    let (b, btf) = (&mut bpf, &btf);
    match hooks {
        Hooks::FentryPerformWrite | Hooks::FentryVfsWrite => {
            attach_fn(b, btf, "file_open", "security_file_open", false)?;
            attach_fn(b, btf, "unlink_exit", "vfs_unlink", true)?;
            attach_fn(b, btf, "rename_entry", "vfs_rename", false)?;
            attach_fn(b, btf, "rename_exit", "vfs_rename", true)?;
            if hooks == Hooks::FentryPerformWrite {
                attach_fn(b, btf, "perform_write_exit", "generic_perform_write", true)?;
            } else {
                attach_fn(b, btf, "vfs_write_exit", "vfs_write", true)?;
                attach_fn(b, btf, "vfs_writev_exit", "vfs_writev", true)?;
            }
        }
        Hooks::SyscallTracepoints => {
            ensure_tracefs()?;
            // Exits and the write entries first: a stash (unlink/rename entry) never waits
            // for an exit that is not attached yet.
            attach_tp(
                b,
                "tp_path_exit",
                &[
                    "sys_exit_unlinkat",
                    "sys_exit_unlink",
                    "sys_exit_renameat2",
                    "sys_exit_renameat",
                    "sys_exit_rename",
                ],
            )?;
            attach_tp(
                b,
                "tp_write_exit",
                &[
                    "sys_exit_write",
                    "sys_exit_pwrite64",
                    "sys_exit_writev",
                    "sys_exit_pwritev",
                    "sys_exit_pwritev2",
                ],
            )?;
            attach_tp(
                b,
                "tp_write_enter",
                &[
                    "sys_enter_write",
                    "sys_enter_pwrite64",
                    "sys_enter_writev",
                    "sys_enter_pwritev",
                    "sys_enter_pwritev2",
                ],
            )?;
            attach_tp(
                b,
                "tp_open_exit",
                &[
                    "sys_exit_openat",
                    "sys_exit_openat2",
                    "sys_exit_open",
                    "sys_exit_creat",
                ],
            )?;
            attach_tp(b, "tp_unlinkat_enter", &["sys_enter_unlinkat"])?;
            let _ = attach_tp(b, "tp_unlink_enter", &["sys_enter_unlink"]);
            attach_tp(
                b,
                "tp_renameat_enter",
                &["sys_enter_renameat2", "sys_enter_renameat"],
            )?;
            let _ = attach_tp(b, "tp_rename_enter", &["sys_enter_rename"]);
        }
    }
    Ok(bpf)
}

/// Filesystems known to write through `generic_perform_write`.
pub(crate) fn uses_generic_write(path: &std::path::Path) -> bool {
    use nix::sys::statfs::{EXT4_SUPER_MAGIC, TMPFS_MAGIC, statfs};
    match statfs(path) {
        Ok(s) => {
            let t = s.filesystem_type();
            t == EXT4_SUPER_MAGIC || t == TMPFS_MAGIC
        }
        // Nothing there yet: the parent's filesystem decides, checked by the caller.
        Err(_) => true,
    }
}
