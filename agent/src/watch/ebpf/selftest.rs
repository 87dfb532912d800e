//! Proof that the attached programs see what they must, on this very kernel, before the tier
//! calls itself armed: another process creates a lock and appends to a transcript in a private
//! directory registered for the test, and both must come out of the ring buffer. A hook set
//! that loads but misses them (a kernel whose write path bypasses the hooked function, an
//! offset read wrong) is refused, and `start` falls back to the next set or another tier.
//!
//! It runs before the core's initial scan, so records of real gateways it consumes meanwhile
//! are covered by that scan; files they opened are registered again by the /proc scan after it.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aya::maps::{HashMap as BpfHashMap, MapData, RingBuf};
use openclaw_livestatus_ebpf::{EventKind, FLAG_CREATED, dev_to_kernel};

/// A kernel that delivers at all delivers within microseconds; this only bounds a failure.
const PATIENCE: Duration = Duration::from_secs(2);
/// Files directly inside the probe dir: depth 1.
const PROBE_DEPTH_MASK: u32 = 1 << 1;

pub(crate) fn run(
    dirs: &mut BpfHashMap<MapData, [u64; 2], u32>,
    files: &mut BpfHashMap<MapData, [u64; 2], u32>,
    ring: &mut RingBuf<MapData>,
) -> Result<(), String> {
    let probe = tempfile::Builder::new()
        .prefix("openclaw-livestatus-probe-")
        .tempdir()
        .map_err(|e| format!("self-test: cannot create a probe dir: {e}"))?;
    let meta = std::fs::metadata(probe.path())
        .map_err(|e| format!("self-test: cannot stat the probe dir: {e}"))?;
    let key = [dev_to_kernel(meta.dev()), meta.ino()];
    dirs.insert(key, PROBE_DEPTH_MASK, 0)
        .map_err(|e| format!("self-test: cannot register the probe dir: {e}"))?;
    let result = probe_once(probe.path(), ring);
    let _ = dirs.remove(&key);
    // The probe files' inodes are freed with the dir and soon reused by unrelated files:
    // they must not stay watched.
    for name in ["probe.jsonl.lock", "probe.jsonl"] {
        if let Ok(m) = std::fs::metadata(probe.path().join(name)) {
            let _ = files.remove(&[dev_to_kernel(m.dev()), m.ino()]);
        }
    }
    result
}

pub(super) fn probe_once(dir: &Path, ring: &mut RingBuf<MapData>) -> Result<(), String> {
    let lock = dir.join("probe.jsonl.lock");
    let transcript = dir.join("probe.jsonl");
    // Our own process is excluded in the kernel: the writes must come from another one.
    let status = Command::new("/bin/sh")
        .args([
            "-c",
            "printf '{}' > \"$1\" && printf '{}\\n' >> \"$2\"",
            "sh",
        ])
        .arg(&lock)
        .arg(&transcript)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("self-test: cannot run /bin/sh: {e}"))?;
    if !status.success() {
        return Err(format!("self-test: the probe writer failed ({status})"));
    }
    let written = std::fs::metadata(&transcript)
        .map_err(|e| format!("self-test: the probe transcript is missing: {e}"))?
        .ino();
    let (mut created, mut appended) = (false, false);
    let deadline = Instant::now() + PATIENCE;
    while !(created && appended) && Instant::now() < deadline {
        match ring.next().map(|item| super::reader::record(&item)) {
            Some(Some(ev)) => {
                let name = &ev.name[..(ev.name_len as usize).min(ev.name.len())];
                match EventKind::from_u32(ev.kind) {
                    Some(EventKind::Open)
                        if name == b"probe.jsonl.lock" && ev.flags & FLAG_CREATED != 0 =>
                    {
                        created = true;
                    }
                    Some(EventKind::Write) if ev.ino == written => appended = true,
                    _ => {}
                }
            }
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    match (created, appended) {
        (true, true) => Ok(()),
        (false, _) => Err("self-test: a lock created by another process was not seen".to_owned()),
        (true, false) => {
            Err("self-test: an append by another process was not seen (write hook)".to_owned())
        }
    }
}
