//! Readers that turn a session's stored bytes into `TranscriptEvent`s.
//!
//! - `parse`: one JSONL entry → one event (bounded, forgiving of unknown shapes).
//! - `jsonl`: a tailer for one transcript file (offsets, partial lines, truncation, rotation,
//!   a fork's copied history); its `lines` and `entries` cut the bytes into lines and records.
//! - `sqlite`: the SQLite store of 2026.8+ (sessions with routes, transcript rows after a cursor).
//! - `rewrite`: noticing a transcript rewritten in place, and where a restart may resume one.
//! - `safe_open`: how a privileged reader opens users' files (beneath the sessions dir's fd,
//!   no symlinks, one link, right owner).

pub mod error;
pub mod event;
mod fork;
pub mod jsonl;
mod lenient;
pub mod parse;
pub mod rewrite;
pub mod safe_open;
pub mod sqlite;

#[cfg(test)]
mod test_support;

pub use error::TailError;
pub use event::{StopReason, ToolCall, TranscriptEvent, TranscriptRecord};
pub use jsonl::{JsonlTailer, MAX_LINE_BYTES};
pub use parse::{ParseError, parse_line};
pub use rewrite::{Fingerprint, ResumePoint};
pub use safe_open::{FileIdentity, SessionsDir};
