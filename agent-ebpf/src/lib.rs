//! Kernel/user-space meeting point: the `#[repr(C)]` records and map layouts both sides share.
//! The programs (in `programs/`, built for bpfel-unknown-none) write them; the agent's eBPF tier
//! reads them. Any change here changes both sides at once.
#![no_std]

/// What a kernel hook saw. `u32` so the tag has one fixed size on both sides.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A file of interest was opened for writing or created: `path` is its absolute path.
    Open = 1,
    /// A file an earlier matching open registered was written to (after the data landed).
    Write = 2,
    /// `name` was unlinked from the directory `dir_ino`.
    Unlink = 3,
    /// `name` in `dir_ino` became `new_name` in `new_dir_ino`.
    Rename = 4,
}

impl EventKind {
    pub fn from_u32(v: u32) -> Option<EventKind> {
        match v {
            1 => Some(EventKind::Open),
            2 => Some(EventKind::Write),
            3 => Some(EventKind::Unlink),
            4 => Some(EventKind::Rename),
            _ => None,
        }
    }
}

/// Longest path `bpf_d_path` may return; longer paths are not reported (the poll safety net
/// covers them). A power of two so the kernel side can mask indices for the verifier.
pub const PATH_LEN: usize = 256;
/// Longest file name (last path component) the kernel side copies; longer names never match.
pub const NAME_LEN: usize = 128;

/// `FileEvent::flags`: the open created the file.
pub const FLAG_CREATED: u32 = 1;
/// `FileEvent::flags`: from syscall tracepoints: `path`/`new_path` hold the paths as the
/// process passed them (maybe relative to `dfd`/`new_dfd` or its cwd), `name`s are unset.
pub const FLAG_USER_PATHS: u32 = 2;
/// A lock created outside every registered directory (host-wide discovery) whose path the
/// kernel could not give (no `bpf_d_path` on tracepoints): the names of its ancestors,
/// innermost first, are in slots of `ANCESTOR_SLOT` bytes of `path` then `new_path`, their
/// lengths in `new_name[i]`, their count in `new_name_len`; `new_path_len` is 1 when the walk
/// reached the filesystem's root (the path is complete below that mount).
pub const FLAG_ANCESTORS: u32 = 4;
pub const ANCESTOR_SLOT: usize = 64;
pub const ANCESTORS: usize = 2 * PATH_LEN / ANCESTOR_SLOT;
/// `FileEvent::dfd` when the path is relative to the process's working directory.
pub const AT_FDCWD: i32 = -100;

/// One record of the ring buffer.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FileEvent {
    pub kind: u32,
    pub tgid: u32,
    /// `s_dev` of the file's filesystem (kernel encoding, see `dev_to_user`).
    pub dev: u64,
    /// The file's inode (Open, Write).
    pub ino: u64,
    /// The directory holding `name` (Unlink, Rename) or the file (Open).
    pub dir_ino: u64,
    /// The directory receiving `new_name` (Rename).
    pub new_dir_ino: u64,
    pub flags: u32,
    /// Bytes of `path` used, without the NUL.
    pub path_len: u32,
    pub name_len: u32,
    pub new_name_len: u32,
    pub new_path_len: u32,
    /// Directory fds of `path` and `new_path` (FLAG_USER_PATHS).
    pub dfd: i32,
    pub new_dfd: i32,
    pub _pad: u32,
    pub path: [u8; PATH_LEN],
    pub new_path: [u8; PATH_LEN],
    pub name: [u8; NAME_LEN],
    pub new_name: [u8; NAME_LEN],
}

/// Key of the directory map (user space registers) and of the open-files map (the kernel
/// fills): an inode on a filesystem, `dev` in the kernel's `s_dev` encoding.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InodeKey {
    pub dev: u64,
    pub ino: u64,
}

/// How many directory levels above a file the kernel looks for a registered directory. A value
/// in the directory map is a bit mask of depths: bit `d` set means "a file `d` levels below me is
/// in scope" (1 = the file's own directory).
pub const MAX_DEPTH: u32 = 10;

/// Indices of the per-CPU counter array.
pub const COUNTER_EMITTED: u32 = 0;
pub const COUNTER_DROPPED: u32 = 1;
/// Emitted events of one kind: `COUNTER_BY_KIND + EventKind as u32`.
pub const COUNTER_BY_KIND: u32 = 2;
pub const COUNTERS: u32 = COUNTER_BY_KIND + 5;

/// Kernel `s_dev` (MAJOR << 20 | MINOR) to the `st_dev` user space sees from stat(2).
pub const fn dev_to_user(kdev: u64) -> u64 {
    let major = (kdev >> 20) & 0xfff;
    let minor = kdev & 0xfffff;
    // glibc's makedev.
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}

/// `st_dev` from stat(2) to the kernel's `s_dev` encoding.
pub const fn dev_to_kernel(udev: u64) -> u64 {
    let major = ((udev >> 32) & 0xfffff000) | ((udev >> 8) & 0xfff);
    let minor = ((udev >> 12) & 0xffffff00) | (udev & 0xff);
    (major << 20) | minor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_stable_for_both_sides() {
        // The ring buffer reader casts raw bytes; a silent size change would corrupt every event.
        assert_eq!(
            core::mem::size_of::<FileEvent>(),
            8 + 8 * 4 + 32 + 2 * PATH_LEN + 2 * NAME_LEN
        );
        assert_eq!(core::mem::align_of::<FileEvent>(), 8);
        assert_eq!(core::mem::size_of::<InodeKey>(), 16);
    }

    #[test]
    fn device_numbers_round_trip() {
        // 8:1 (sda1), 259:3 (nvme), 0:45 (tmpfs).
        for (major, minor) in [(8u64, 1u64), (259, 3), (0, 45), (4095, 1048575)] {
            let k = (major << 20) | minor;
            assert_eq!(dev_to_kernel(dev_to_user(k)), k);
        }
        assert_eq!(dev_to_user((8 << 20) | 1), 0x801);
    }
}
