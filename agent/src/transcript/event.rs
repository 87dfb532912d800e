//! What the transcript stage hands to the session stage: one value per transcript entry that
//! can matter to a status box. Readers of every era (JSONL now, SQLite later) produce these, so
//! the stages below never learn where a session is stored.

/// Why an assistant message ended. Anything a newer OpenClaw invents maps to `Other`, never an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The turn is over.
    Stop,
    /// The model hit its output limit; the turn is over.
    Length,
    /// The model asked for tools; the turn goes on.
    ToolUse,
    /// The provider failed; the turn is over (`error_message` says why).
    Error,
    /// The user or the gateway aborted the run.
    Aborted,
    /// Unknown or missing reason.
    Other(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The call's arguments, as the gateway recorded them (already bounded by the line limit).
    pub arguments: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TranscriptEvent {
    /// First line of a transcript. `parent_session` is set when the file is a fork (thread reply):
    /// entries timestamped before `ts_ms` are then a copy of the parent's history.
    Header {
        session_id: String,
        ts_ms: Option<i64>,
        parent_session: Option<String>,
    },
    /// A user turn begins (a real message, or a sub-agent's task, or a completion announcement).
    User {
        ts_ms: Option<i64>,
        /// First line of the text, bounded.
        text: String,
        /// The Mattermost post id the message came from, when the gateway recorded it (2026.9+).
        message_id: Option<String>,
    },
    Assistant {
        ts_ms: Option<i64>,
        /// Visible text blocks joined, bounded; empty when the message only calls tools.
        text: String,
        tool_calls: Vec<ToolCall>,
        stop: StopReason,
        error_message: Option<String>,
        /// `usage.totalTokens` of this model call.
        total_tokens: Option<u64>,
    },
    ToolResult {
        ts_ms: Option<i64>,
        tool_call_id: String,
        tool_name: String,
        /// `isError`, or a `"status": "error"` payload (2026.4 reports failures that way).
        is_error: bool,
        /// A short error text when `is_error`.
        error_text: Option<String>,
    },
    /// The gateway compacted the context; boxes show nothing for it but it is not an error.
    Compaction { ts_ms: Option<i64> },
}

impl TranscriptEvent {
    pub fn ts_ms(&self) -> Option<i64> {
        match self {
            TranscriptEvent::Header { ts_ms, .. }
            | TranscriptEvent::User { ts_ms, .. }
            | TranscriptEvent::Assistant { ts_ms, .. }
            | TranscriptEvent::ToolResult { ts_ms, .. }
            | TranscriptEvent::Compaction { ts_ms } => *ts_ms,
        }
    }
}

/// An event and whether it is copied history (a forked transcript's prefix) rather than progress.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscriptRecord {
    pub event: TranscriptEvent,
    pub history: bool,
}
