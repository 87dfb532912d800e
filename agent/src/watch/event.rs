//! The one event type every watch tier emits. Tiers differ in how fast and how cheaply they learn
//! of a change, never in what they report, so the stages below run unchanged on any tier.

use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FsEventKind {
    /// A file or directory appeared at `path` (created, or a tier first saw it).
    Created,
    /// A file at `path` was written to (appended, truncated or rewritten in place).
    Appended,
    /// `path` no longer exists (deleted, or moved away).
    Removed,
    /// Something was renamed to `path` (the old name is reported as `Removed`).
    Renamed,
    /// The tier lost events (queue overflow, watch limit); `path` is the root that must be
    /// rescanned from scratch.
    Rescan,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsEvent {
    pub path: PathBuf,
    pub kind: FsEventKind,
}
