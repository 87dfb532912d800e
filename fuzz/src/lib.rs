//! What every transcript event must satisfy whatever bytes it came from: the parser keeps only
//! a bounded part of each field (see agent/src/transcript/lenient.rs), so one hostile line
//! costs a few KiB at most. Shared by the JSONL and SQLite targets.

use livestatus::transcript::parse::{ASSISTANT_TEXT_CHARS, ERROR_TEXT_CHARS, USER_TEXT_CHARS};
use livestatus::transcript::{StopReason, TranscriptEvent};

/// Bytes a bounded id (`Str<256>` in parse.rs) may hold.
const ID_BYTES: usize = 256;
/// Content blocks kept per message (parse.rs `MAX_BLOCKS`).
const MAX_BLOCKS: usize = 128;
/// Tool-call arguments are read under a 16 KiB budget; their JSON text may be longer (escapes,
/// keys, punctuation), but by a small factor.
const ARGS_JSON_BYTES: usize = 128 * 1024;

fn chars_at_most(what: &str, s: &str, max: usize) {
    let n = s.chars().count();
    assert!(n <= max, "{what}: {n} chars, over the {max} kept");
}

fn bytes_at_most(what: &str, s: &str, max: usize) {
    assert!(
        s.len() <= max,
        "{what}: {} bytes, over the {max} kept",
        s.len()
    );
}

/// Panics (a finding for libFuzzer) when `event` holds more than the parser promises to keep.
pub fn check_event(event: &TranscriptEvent) {
    match event {
        TranscriptEvent::Header {
            session_id,
            parent_session,
            ..
        } => {
            bytes_at_most("session id", session_id, ID_BYTES);
            if let Some(parent) = parent_session {
                assert!(!parent.is_empty(), "an empty parentSession reads as none");
                bytes_at_most("parent session", parent, 4096);
            }
        }
        TranscriptEvent::User {
            text, message_id, ..
        } => {
            chars_at_most("user text", text, USER_TEXT_CHARS);
            assert!(!text.contains('\n'), "user text is one line");
            if let Some(id) = message_id {
                bytes_at_most("message id", id, ID_BYTES);
            }
        }
        TranscriptEvent::Assistant {
            text,
            tool_calls,
            stop,
            error_message,
            ..
        } => {
            chars_at_most("assistant text", text, ASSISTANT_TEXT_CHARS);
            assert!(
                tool_calls.len() <= MAX_BLOCKS,
                "{} tool calls",
                tool_calls.len()
            );
            for call in tool_calls {
                bytes_at_most("tool call id", &call.id, ID_BYTES);
                bytes_at_most("tool name", &call.name, ID_BYTES);
                let args = call.arguments.to_string();
                bytes_at_most("tool arguments", &args, ARGS_JSON_BYTES);
            }
            if let StopReason::Other(other) = stop {
                bytes_at_most("stop reason", other, 64);
            }
            if let Some(e) = error_message {
                chars_at_most("error message", e, ERROR_TEXT_CHARS);
                assert!(!e.contains('\n'), "error message is one line");
            }
        }
        TranscriptEvent::ToolResult {
            tool_call_id,
            tool_name,
            is_error,
            error_text,
            ..
        } => {
            bytes_at_most("tool call id", tool_call_id, ID_BYTES);
            bytes_at_most("tool name", tool_name, ID_BYTES);
            if let Some(e) = error_text {
                assert!(*is_error, "an error text only for a failed tool");
                chars_at_most("tool error text", e, ERROR_TEXT_CHARS);
                assert!(!e.contains('\n'), "tool error text is one line");
            }
        }
        TranscriptEvent::Compaction { .. } => {}
    }
}
