//! The ring buffer, read on the tokio reactor: woken by the kernel, drained in batches, each
//! batch translated, coalesced and sent.

use std::sync::{Arc, Mutex};

use aya::Ebpf;
use aya::maps::{MapData, PerCpuArray, RingBuf};
use openclaw_livestatus_ebpf::{
    COUNTER_BY_KIND, COUNTER_DROPPED, COUNTER_EMITTED, EventKind, FileEvent,
};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

use super::register;
use super::translate::{Translator, UnknownDir};
use crate::watch::inotify::coalesce;
use crate::watch::{FsEvent, FsEventKind, Scope};

/// Bounds the work (and the delay of the first event) per batch in an endless burst.
const MAX_BATCH: usize = 4096;

/// What the kernel side counted, summed over CPUs: events put in the ring buffer, and events
/// lost because it was full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub emitted: u64,
    pub dropped: u64,
    /// Emitted opens and writes (filtered in the kernel by directory on every hook set).
    pub opens_and_writes: u64,
    /// Emitted unlinks and renames (on syscall tracepoints filtered by name only).
    pub unlinks_and_renames: u64,
}

/// Reads the kernel's counters of one tier instance; shared by the handle and the reader.
#[derive(Clone)]
pub struct CounterReader(Arc<Mutex<PerCpuArray<MapData, u64>>>);

impl std::fmt::Debug for CounterReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CounterReader")
    }
}

impl CounterReader {
    pub(crate) fn new(map: PerCpuArray<MapData, u64>) -> Self {
        CounterReader(Arc::new(Mutex::new(map)))
    }

    pub fn read(&self) -> Counters {
        let Ok(map) = self.0.lock() else {
            return Counters::default();
        };
        let sum = |i: u32| {
            map.get(&i, 0)
                .map(|v| v.iter().sum::<u64>())
                .unwrap_or_default()
        };
        let kind = |k: EventKind| sum(COUNTER_BY_KIND + k as u32);
        Counters {
            emitted: sum(COUNTER_EMITTED),
            dropped: sum(COUNTER_DROPPED),
            opens_and_writes: kind(EventKind::Open) + kind(EventKind::Write),
            unlinks_and_renames: kind(EventKind::Unlink) + kind(EventKind::Rename),
        }
    }
}

pub(crate) struct Reader {
    /// Owns the programs' links: dropping it detaches them.
    pub(crate) _bpf: Ebpf,
    pub(crate) ring: AsyncFd<RingBuf<MapData>>,
    pub(crate) translator: Translator,
    pub(crate) scope: Scope,
    pub(crate) counters: CounterReader,
    /// The kernel's registered directories: state dirs adopted by host-wide discovery join it.
    pub(crate) dirs: aya::maps::HashMap<MapData, [u64; 2], u32>,
    pub(crate) tx: mpsc::Sender<FsEvent>,
}

impl Reader {
    pub(crate) async fn run(mut self) {
        let mut dropped = self.counters.read().dropped;
        let mut total = 0u64;
        loop {
            let raw = match self.next_batch().await {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(tier = "ebpf", error = %e, "cannot wait on the eBPF ring buffer; eBPF tier stopped, the poll safety net remains");
                    return;
                }
            };
            let mut out = Vec::new();
            for ev in &raw {
                self.translate(ev, &mut out);
            }
            for state_dir in self.translator.take_adopted() {
                self.register_state_dir(&state_dir);
            }
            let c = self.counters.read();
            if c.dropped > dropped {
                crate::metrics::count_kernel_drop("ebpf");
                tracing::warn!(
                    tier = "ebpf",
                    lost = c.dropped - dropped,
                    emitted = c.emitted,
                    "the eBPF ring buffer overflowed; asking for a rescan"
                );
                dropped = c.dropped;
                for root in self.translator.roots() {
                    out.push(FsEvent {
                        path: root.clone(),
                        kind: FsEventKind::Rescan,
                    });
                }
            }
            total += raw.len() as u64;
            if total % 1000 < raw.len() as u64 {
                tracing::debug!(
                    tier = "ebpf",
                    emitted = c.emitted,
                    dropped = c.dropped,
                    "eBPF counters"
                );
            }
            coalesce(&mut out);
            for ev in out {
                if self.tx.send(ev).await.is_err() {
                    return;
                }
            }
        }
    }

    /// A state dir found by host-wide discovery: its session files pass the kernel filter from
    /// now on (the lock that found it was already reported).
    fn register_state_dir(&mut self, state_dir: &std::path::Path) {
        let Some(k) = register::key_of(state_dir) else {
            return;
        };
        let mask = 1 << register::STATE_DIR_DEPTH;
        let old = self.dirs.get(&[k.dev, k.ino], 0).unwrap_or(0);
        if let Err(e) = self.dirs.insert([k.dev, k.ino], old | mask, 0) {
            tracing::warn!(tier = "ebpf", path = %state_dir.display(), error = %e, "cannot register a discovered state dir; its transcripts are left to the poll safety net");
        }
    }

    fn translate(&mut self, ev: &FileEvent, out: &mut Vec<FsEvent>) {
        if self.translator.handle(ev, out) == Err(UnknownDir) {
            // A directory no open taught us: look the scope's directories up, then try again.
            for dir in register::session_dirs(&self.scope) {
                if let Some(key) = register::key_of(&dir)
                    && !self.translator.knows_dir(&key)
                {
                    self.translator.learn_dir(key, dir);
                }
            }
            // Still unknown: not a directory of the OpenClaw shape in scope (the kernel filter
            // is by depth only), or one already gone, whose files the removal covers.
            if self.translator.handle(ev, out) == Err(UnknownDir) {
                tracing::trace!(
                    tier = "ebpf",
                    "event in a directory outside the scope dropped"
                );
            }
        }
    }

    async fn next_batch(&mut self) -> std::io::Result<Vec<FileEvent>> {
        loop {
            let mut guard = self.ring.readable_mut().await?;
            let ring = guard.get_inner_mut();
            let mut batch = Vec::new();
            while batch.len() < MAX_BATCH {
                let Some(item) = ring.next() else { break };
                batch.extend(record(&item));
            }
            if batch.len() < MAX_BATCH {
                guard.clear_ready();
            }
            if !batch.is_empty() {
                return Ok(batch);
            }
        }
    }
}

/// One ring buffer item as the record the programs wrote (`None` for a short item).
pub(crate) fn record(item: &[u8]) -> Option<FileEvent> {
    (item.len() >= std::mem::size_of::<FileEvent>())
        // SAFETY: the item holds at least one FileEvent (checked just above), read unaligned,
        // and any bit pattern is a valid FileEvent (integers and byte arrays only).
        .then(|| unsafe { std::ptr::read_unaligned(item.as_ptr().cast::<FileEvent>()) })
}
