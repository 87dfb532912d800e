//! Kernel/user-space meeting point. Until the kernel-tier issue lands this crate only holds the
//! `#[repr(C)]` event record both sides will share, so the layout is settled (and tested) before
//! any eBPF program depends on it.
#![no_std]

/// What a kernel hook saw. `u32` so the enum has one fixed size on both sides.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Open = 1,
    Write = 2,
    Unlink = 3,
    Rename = 4,
}

/// Longest file name (last path component) the kernel side copies; longer names are cut.
pub const NAME_LEN: usize = 128;

/// One event from the ring buffer: the directory inode identifies where, `name` what.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FileEvent {
    pub kind: u32,
    pub tgid: u32,
    pub dev: u64,
    pub dir_ino: u64,
    pub ino: u64,
    pub name_len: u32,
    pub _pad: u32,
    pub name: [u8; NAME_LEN],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_stable_for_both_sides() {
        // The ring buffer reader casts raw bytes; a silent size change would corrupt every event.
        assert_eq!(
            core::mem::size_of::<FileEvent>(),
            8 + 8 + 8 + 8 + 8 + NAME_LEN
        );
        assert_eq!(core::mem::align_of::<FileEvent>(), 8);
    }
}
