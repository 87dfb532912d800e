//! Readers that turn a session's stored bytes into `TranscriptEvent`s.

pub mod event;

pub use event::{StopReason, ToolCall, TranscriptEvent, TranscriptRecord};
