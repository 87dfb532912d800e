//! One daemon per data dir: two daemons on the same posts file would post every box twice.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::bail;

/// Held for the daemon's whole life; the kernel releases the lock when the process ends,
/// however it ends, so a `kill -9` never leaves a stale lock behind.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl InstanceLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes `<data_dir>/lock` with `flock(LOCK_EX|LOCK_NB)` and writes our pid into it.
/// Fails at once (never waits) if another process holds it, naming that pid if it wrote one.
pub fn acquire(data_dir: &Path) -> anyhow::Result<InstanceLock> {
    let path = data_dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("opening the instance lock {}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor we own; it does not touch memory.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let mut text = String::new();
            let holder = match file.read_to_string(&mut text) {
                Ok(_) => text.trim().parse::<u32>().ok(),
                Err(_) => None,
            };
            let who = holder.map_or_else(
                || "another process".to_string(),
                |pid| format!("process {pid}"),
            );
            bail!(
                "another openclaw-livestatus daemon ({who}) already runs on the data dir {}; \
                 stop it first, or give this one its own --data-dir",
                data_dir.display()
            );
        }
        bail!("locking {}: {err}", path.display());
    }
    // The pid is only a hint for the message above; the lock itself is what counts.
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(InstanceLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_data_dir_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path()).unwrap();
        // flock locks belong to the open file description, so a second open in the same
        // process conflicts just as another process would.
        let err = acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        drop(first);
        assert!(acquire(dir.path()).is_ok(), "the lock is released on drop");
    }

    #[test]
    fn different_data_dirs_do_not_conflict() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let _la = acquire(a.path()).unwrap();
        assert!(acquire(b.path()).is_ok());
    }
}
