//! The embedded eBPF object: loading it with this kernel's offsets, attaching its programs.

use std::sync::OnceLock;

use aya::programs::{FEntry, FExit};
use aya::{Btf, Ebpf, EbpfLoader};

use super::offsets;

#[cfg(livestatus_ebpf_object)]
static OBJECT: Option<&[u8]> = Some(aya::include_bytes_aligned!(env!(
    "LIVESTATUS_EBPF_OBJECT"
)));
#[cfg(not(livestatus_ebpf_object))]
static OBJECT: Option<&[u8]> = None;

pub(crate) fn bytes() -> Option<&'static [u8]> {
    OBJECT
}

/// Which kernel function reports writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteHook {
    /// fexit `generic_perform_write`: only buffered writes to regular files of filesystems
    /// that use the generic write path (ext4, tmpfs, ...) enter it; no cost on other writes.
    PerformWrite,
    /// fexit `vfs_write` + `vfs_writev`: every filesystem, at a cost on every write(2) of the
    /// host (one inode lookup).
    VfsWrite,
}

impl WriteHook {
    pub fn name(self) -> &'static str {
        match self {
            WriteHook::PerformWrite => "generic_perform_write",
            WriteHook::VfsWrite => "vfs_write+vfs_writev",
        }
    }
}

fn kernel_btf() -> Result<&'static Btf, String> {
    static BTF: OnceLock<Result<Btf, String>> = OnceLock::new();
    BTF.get_or_init(|| {
        Btf::from_sys_fs().map_err(|e| format!("cannot read the kernel's BTF: {e}"))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Loads the object and attaches every program; on return the hooks are live.
pub(crate) fn load_and_attach(self_tgid: u32, hook: WriteHook) -> Result<Ebpf, String> {
    let bytes = bytes().ok_or_else(super::not_built_msg)?;
    let globals = offsets::globals()?;
    let btf = kernel_btf()?;
    let mut loader = EbpfLoader::new();
    loader.btf(Some(btf));
    for (name, value) in globals {
        loader.override_global(*name, value, true);
    }
    loader.override_global("SELF_TGID", &self_tgid, true);
    let mut bpf = loader.load(bytes).map_err(|e| {
        format!("cannot load the eBPF object: {e}; run as root (CAP_BPF, CAP_PERFMON)")
    })?;
    let mut attach = |prog: &str, func: &str, exit: bool| -> Result<(), String> {
        let fail = |e: &dyn std::fmt::Display| {
            format!("cannot attach {prog} to {func}: {e}; the kernel may lack BTF trampolines (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS); use --tier fanotify")
        };
        let p = bpf
            .program_mut(prog)
            .ok_or_else(|| format!("the eBPF object has no program {prog}: rebuild it with scripts/build-ebpf.sh"))?;
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
    };
    attach("unlink_exit", "vfs_unlink", true)?;
    attach("file_open", "security_file_open", false)?;
    attach("rename_entry", "vfs_rename", false)?;
    attach("rename_exit", "vfs_rename", true)?;
    match hook {
        WriteHook::PerformWrite => attach("perform_write_exit", "generic_perform_write", true)?,
        WriteHook::VfsWrite => {
            attach("vfs_write_exit", "vfs_write", true)?;
            attach("vfs_writev_exit", "vfs_writev", true)?;
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
