//! Reading kernel structures through offsets the loader found in the running kernel's BTF.

use aya_ebpf::helpers::{
    bpf_get_current_pid_tgid, bpf_get_current_task, bpf_probe_read_kernel,
    bpf_probe_read_kernel_str_bytes, generated::bpf_d_path,
};
use openclaw_livestatus_ebpf::{NAME_LEN, PATH_LEN};

// Filled by the loader (`EbpfLoader::set_global`); read-only data, so the verifier treats them
// as constants. Zero here only so the object links.
#[unsafe(no_mangle)]
pub static SELF_TGID: u32 = 0;
/// 1 in discovery scope: a `.jsonl.lock` created anywhere is reported (host-wide discovery).
#[unsafe(no_mangle)]
pub static HOST_WIDE_LOCKS: u32 = 0;
#[unsafe(no_mangle)]
pub static FMODE_CREATED: u32 = 0;
#[unsafe(no_mangle)]
pub static FMODE_WRITE: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_FILE_F_PATH: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_FILE_F_INODE: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_FILE_F_MODE: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_PATH_DENTRY: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_DENTRY_D_PARENT: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_DENTRY_D_NAME: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_QSTR_NAME: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_DENTRY_D_INODE: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_DENTRY_D_SB: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_INODE_I_INO: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_INODE_I_SB: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_SB_S_DEV: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_KIOCB_KI_FILP: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_RENAMEDATA_OLD_DENTRY: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_RENAMEDATA_NEW_DENTRY: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_TASK_FILES: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_FILES_FDT: u32 = 0;
#[unsafe(no_mangle)]
pub static OFF_FDTABLE_FD: u32 = 0;
#[unsafe(no_mangle)]
pub static ARG_PERFORM_WRITE_RET: u32 = 0;
#[unsafe(no_mangle)]
pub static ARG_VFS_WRITE_RET: u32 = 0;
#[unsafe(no_mangle)]
pub static ARG_VFS_WRITEV_RET: u32 = 0;
#[unsafe(no_mangle)]
pub static ARG_UNLINK_DENTRY: u32 = 0;
#[unsafe(no_mangle)]
pub static ARG_UNLINK_RET: u32 = 0;
#[unsafe(no_mangle)]
pub static ARG_RENAME_RET: u32 = 0;

/// A loader-set global; volatile so the compiler cannot fold the placeholder zero.
#[inline(always)]
pub fn cfg(v: &'static u32) -> u32 {
    unsafe { core::ptr::read_volatile(v) }
}

#[inline(always)]
pub fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

#[inline(always)]
pub fn current_tid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

#[inline(always)]
pub fn read<T>(base: *const u8, off: u32) -> Option<T> {
    if base.is_null() {
        return None;
    }
    unsafe { bpf_probe_read_kernel(base.add(off as usize) as *const T) }.ok()
}

#[inline(always)]
pub fn file_dentry(file: *const u8) -> Option<*const u8> {
    let p = read::<*const u8>(file, cfg(&OFF_FILE_F_PATH) + cfg(&OFF_PATH_DENTRY))?;
    (!p.is_null()).then_some(p)
}

/// The last component of a dentry's name; its length without the NUL.
#[inline(always)]
pub fn dentry_name(dentry: *const u8, buf: &mut [u8; NAME_LEN]) -> Option<u32> {
    let name = read::<*const u8>(dentry, cfg(&OFF_DENTRY_D_NAME) + cfg(&OFF_QSTR_NAME))?;
    if name.is_null() {
        return None;
    }
    let s = unsafe { bpf_probe_read_kernel_str_bytes(name, buf) }.ok()?;
    Some(s.len() as u32)
}

/// A dentry's name into `buf` (a slot of an event), and its parent; `None` for the parent when
/// the dentry is its filesystem's root.
#[inline(always)]
pub fn ancestor(dentry: *const u8, buf: &mut [u8]) -> Option<(u8, Option<*const u8>)> {
    let up = read::<*const u8>(dentry, cfg(&OFF_DENTRY_D_PARENT))?;
    if up.is_null() || up == dentry {
        return Some((0, None));
    }
    let name = read::<*const u8>(dentry, cfg(&OFF_DENTRY_D_NAME) + cfg(&OFF_QSTR_NAME))?;
    if name.is_null() {
        return None;
    }
    let s = unsafe { bpf_probe_read_kernel_str_bytes(name, buf) }.ok()?;
    Some((s.len() as u8, Some(up)))
}

#[inline(always)]
pub fn dentry_dev(dentry: *const u8) -> Option<u64> {
    let sb = read::<*const u8>(dentry, cfg(&OFF_DENTRY_D_SB))?;
    read::<u32>(sb, cfg(&OFF_SB_S_DEV)).map(u64::from)
}

#[inline(always)]
pub fn dentry_ino(dentry: *const u8) -> Option<u64> {
    let inode = read::<*const u8>(dentry, cfg(&OFF_DENTRY_D_INODE))?;
    read::<u64>(inode, cfg(&OFF_INODE_I_INO))
}

/// The absolute path of an open file (as the opener's mount namespace sees it).
#[inline(always)]
pub fn file_path(file: *const u8, buf: &mut [u8; PATH_LEN]) -> Option<u32> {
    // The verifier knows the offset (read-only global), so it accepts `file + off` as the
    // `struct path *` bpf_d_path demands.
    let path = unsafe { file.add(cfg(&OFF_FILE_F_PATH) as usize) } as *mut _;
    let n = unsafe { bpf_d_path(path, buf.as_mut_ptr() as *mut _, PATH_LEN as u32) };
    if n <= 0 {
        return None;
    }
    Some((n - 1) as u32)
}

/// The `struct file` behind fd `fd` of the current task (task->files->fdt->fd[fd]).
#[inline(always)]
pub fn current_fd_file(fd: u64) -> Option<*const u8> {
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let files = read::<*const u8>(task, cfg(&OFF_TASK_FILES))?;
    let fdt = read::<*const u8>(files, cfg(&OFF_FILES_FDT))?;
    let fds = read::<*const u8>(fdt, cfg(&OFF_FDTABLE_FD))?;
    if fd > 1 << 20 {
        return None;
    }
    let f = read::<*const u8>(fds, (fd * 8) as u32)?;
    (!f.is_null()).then_some(f)
}
