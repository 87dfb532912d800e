//! The system calls of the fanotify tier: the group and its marks, and the file handles that
//! name directories in its events. libc has them all; nix's fanotify module cannot report
//! directory handles, which is what makes a filesystem-wide mark affordable.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::record::Fid;

/// Notification only (no permission events), directory handle + name in each event.
pub(crate) const INIT_FLAGS: libc::c_uint =
    libc::FAN_CLASS_NOTIF | libc::FAN_REPORT_DFID_NAME | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK;
/// On each directory of the OpenClaw shape: entries appearing in it and vanishing from it
/// (`ONDIR`: subdirectories too, new homes, state dirs and agents).
pub(crate) const DIR_MASK: u64 = libc::FAN_CREATE
    | libc::FAN_DELETE
    | libc::FAN_MOVED_FROM
    | libc::FAN_MOVED_TO
    | libc::FAN_ONDIR
    | libc::FAN_EVENT_ON_CHILD;
/// Added on the directories that hold files of interest: writes to those files.
pub(crate) const WRITE_MASK: u64 = libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE;

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

pub(crate) fn init() -> io::Result<OwnedFd> {
    let flags = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
    // SAFETY: plain syscall with constant arguments.
    let fd = unsafe { libc::fanotify_init(INIT_FLAGS, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fanotify_init returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Marks the directory `dir` (an inode mark): its entries (`DIR_MASK`), and with `writes` the
/// writes to its files (`WRITE_MASK`). Nothing else on the filesystem reaches the group, so the
/// rest of the host pays nothing for us. An inode mark needs read access to the directory only
/// (no CAP_SYS_ADMIN), so directories found after the capabilities were dropped are still
/// marked; it goes away with the directory.
pub(crate) fn mark_dir(group: BorrowedFd<'_>, dir: &Path, writes: bool) -> io::Result<()> {
    let mask = if writes {
        DIR_MASK | WRITE_MASK
    } else {
        DIR_MASK
    };
    mark(group, dir, libc::FAN_MARK_ONLYDIR, mask)
}

/// Marks the whole filesystem holding `path`, as the tier once did: for the capability
/// measurements in the tests (it needs CAP_SYS_ADMIN).
#[cfg(test)]
pub(crate) fn mark_filesystem(group: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    mark(
        group,
        path,
        libc::FAN_MARK_FILESYSTEM,
        DIR_MASK & !libc::FAN_EVENT_ON_CHILD,
    )
}

fn mark(group: BorrowedFd<'_>, path: &Path, kind: libc::c_uint, mask: u64) -> io::Result<()> {
    let c = cstr(path)?;
    let flags = libc::FAN_MARK_ADD | kind;
    // SAFETY: `c` outlives the call; the group fd is borrowed, hence open.
    let r =
        unsafe { libc::fanotify_mark(group.as_raw_fd(), flags, mask, libc::AT_FDCWD, c.as_ptr()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn read(group: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for its length.
    let n = unsafe { libc::read(group.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// `struct file_handle` with room for the largest handle, aligned for its int fields.
#[repr(C)]
struct HandleBuf {
    handle_bytes: libc::c_uint,
    handle_type: libc::c_int,
    f_handle: [u8; libc::MAX_HANDLE_SZ as usize],
}

/// The filesystem id `statfs` reports, in the bytes fanotify puts in its records.
pub(crate) fn fsid(path: &Path) -> io::Result<[u8; 8]> {
    let c = cstr(path)?;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `st` is large enough for the kernel to fill.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statfs succeeded, so `st` is initialised.
    let st = unsafe { st.assume_init() };
    // libc keeps `fsid_t`'s two ints private; they are the same 8 bytes as `__kernel_fsid_t`.
    // SAFETY: both types are 8 bytes of plain integers.
    Ok(unsafe { std::mem::transmute::<libc::fsid_t, [u8; 8]>(st.f_fsid) })
}

/// The handle fanotify will report for the directory at `path`, and the id of the mount it is
/// reached through (a bind mount shows the same filesystem at another place).
pub(crate) fn dir_id(path: &Path) -> io::Result<(Fid, i32)> {
    let c = cstr(path)?;
    let mut buf = HandleBuf {
        handle_bytes: libc::MAX_HANDLE_SZ as libc::c_uint,
        handle_type: 0,
        f_handle: [0; libc::MAX_HANDLE_SZ as usize],
    };
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `buf` starts like `struct file_handle` and has room for MAX_HANDLE_SZ bytes.
    let r = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            c.as_ptr(),
            (&raw mut buf).cast::<libc::file_handle>(),
            &mut mount_id,
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = (buf.handle_bytes as usize).min(buf.f_handle.len());
    let fid = Fid {
        fsid: fsid(path)?,
        handle_type: buf.handle_type,
        handle: buf.f_handle[..len].into(),
    };
    Ok((fid, mount_id))
}

/// A descriptor of `dir` to decode handles through (`open_by_handle_at`'s mount fd). Not
/// O_PATH: open_by_handle_at refuses those with EBADF.
pub(crate) fn open_mount_fd(dir: &Path) -> io::Result<OwnedFd> {
    let c = cstr(dir)?;
    // SAFETY: `c` outlives the call.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Where the directory `fid` is now, as seen through the mount of `mount_fd`. Needs
/// CAP_DAC_READ_SEARCH (EPERM without it). ESTALE: it no longer exists.
pub(crate) fn path_of(mount_fd: BorrowedFd<'_>, fid: &Fid) -> io::Result<PathBuf> {
    let len = fid.handle.len();
    if len > libc::MAX_HANDLE_SZ as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut buf = HandleBuf {
        handle_bytes: len as libc::c_uint,
        handle_type: fid.handle_type,
        f_handle: [0; libc::MAX_HANDLE_SZ as usize],
    };
    buf.f_handle[..len].copy_from_slice(&fid.handle);
    // SAFETY: `buf` starts like `struct file_handle` and holds `handle_bytes` bytes.
    let fd = unsafe {
        libc::open_by_handle_at(
            mount_fd.as_raw_fd(),
            (&raw mut buf).cast::<libc::file_handle>(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open_by_handle_at returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    let bytes = link.into_os_string().into_vec();
    // An unlinked directory still decodes while its inode is cached; it has no path.
    if bytes.ends_with(b" (deleted)") || bytes.first() != Some(&b'/') {
        return Err(io::Error::from_raw_os_error(libc::ESTALE));
    }
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}
