//! Files opened for writing before the tier started never pass the open hook, so writes
//! through those fds would go unseen until the poll safety net's next round. One scan of
//! /proc/*/fd at start registers them.

use std::path::PathBuf;

use openclaw_livestatus_ebpf::InodeKey;

use super::register::key_of;
use super::translate::Translator;

/// Files of interest in scope that some process (tgid) holds open for writing.
pub(crate) fn open_for_writing(t: &Translator) -> Vec<(InodeKey, PathBuf, u32)> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if !target.is_absolute() || !t.in_scope(&target) || !writable(&p.path(), &fd) {
                continue;
            }
            if let Some(key) = key_of(&target) {
                out.push((key, target, pid));
            }
        }
    }
    out
}

/// From /proc/<pid>/fdinfo/<fd>: `flags:` is octal, the access mode its low two bits.
fn writable(proc_dir: &std::path::Path, fd: &std::fs::DirEntry) -> bool {
    let info = std::fs::read_to_string(proc_dir.join("fdinfo").join(fd.file_name()));
    let Ok(info) = info else { return false };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & 0o3 != 0)
}
