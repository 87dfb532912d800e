//! One JSONL transcript line → at most one `TranscriptEvent`.
//!
//! The reader is deliberately forgiving about meaning and strict about syntax: an entry type or
//! field it does not know is skipped (gateways add new ones every release), but bytes that are
//! not one JSON object are an error the caller logs. What it keeps is bounded while it is read
//! (see `lenient`), so an 8 MiB tool output costs a few KiB once parsed.

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, SeqAccess};

use super::event::{StopReason, ToolCall, TranscriptEvent};
use super::lenient::{Args, Count, Flag, Lax, List, MaybeObj, Obj, Str, Text, Ts, cut_chars};

/// User text: the first non-empty line, this many chars (a box shows it as the turn's title).
pub const USER_TEXT_CHARS: usize = 200;
/// Assistant text: visible text blocks joined, this many chars.
pub const ASSISTANT_TEXT_CHARS: usize = 2000;
/// Error texts (tool failures, provider errors): this many chars of the first line.
pub const ERROR_TEXT_CHARS: usize = 300;
/// Content blocks kept per message; more is pathological and would only cost memory.
const MAX_BLOCKS: usize = 128;

/// Why a line could not be read. The messages never quote the line: transcripts hold users'
/// conversations and tool output, which must not end up in the daemon's log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not valid JSON ({kind} error at column {column})")]
    Malformed { kind: &'static str, column: usize },
    #[error("valid JSON, but not an object")]
    NotObject,
}

/// Parses one line (without its newline). `Ok(None)` for entries a status box does not show.
pub fn parse_line(line: &[u8]) -> Result<Option<TranscriptEvent>, ParseError> {
    parse_entry(line).map(|p| p.event)
}

/// What the tailer needs of a line: the event, and the entry's timestamp even when the entry
/// itself is not shown (a skipped `custom` entry still tells where a fork's copied prefix ends).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub event: Option<TranscriptEvent>,
    pub ts_ms: Option<i64>,
}

pub(crate) fn parse_entry(line: &[u8]) -> Result<Parsed, ParseError> {
    let entry = read_entry(line)?;
    let ts_ms = entry.timestamp.0;
    Ok(Parsed {
        event: to_event(entry),
        ts_ms,
    })
}

fn read_entry(line: &[u8]) -> Result<Entry, ParseError> {
    match serde_json::from_slice::<MaybeObj<Entry>>(line) {
        Ok(MaybeObj(Some(entry))) => Ok(entry),
        Ok(MaybeObj(None)) => Err(ParseError::NotObject),
        Err(err) => {
            // Node's JSON.stringify writes a lone UTF-16 surrogate (a model's output cut inside
            // an emoji) as `\udXXX`, which serde_json rejects. Such a line is still the gateway's
            // own valid record, so it is retried with U+FFFD in place of the lone halves.
            if let Some(fixed) = replace_lone_surrogates(line) {
                match serde_json::from_slice::<MaybeObj<Entry>>(&fixed) {
                    Ok(MaybeObj(Some(entry))) => return Ok(entry),
                    Ok(MaybeObj(None)) => return Err(ParseError::NotObject),
                    Err(_) => {}
                }
            }
            Err(malformed(&err))
        }
    }
}

fn malformed(err: &serde_json::Error) -> ParseError {
    use serde_json::error::Category;
    let kind = match err.classify() {
        Category::Io => "read",
        Category::Syntax => "syntax",
        Category::Data => "data",
        Category::Eof => "unexpected end",
    };
    ParseError::Malformed {
        kind,
        column: err.column(),
    }
}

/// A copy of `line` with every `\uXXXX` escape of an unpaired surrogate replaced by `\ufffd`,
/// or `None` when there is none (the common case costs one scan and no allocation).
fn replace_lone_surrogates(line: &[u8]) -> Option<Vec<u8>> {
    fn hex4(b: &[u8]) -> Option<u16> {
        let s = std::str::from_utf8(b.get(..4)?).ok()?;
        u16::from_str_radix(s, 16).ok()
    }
    fn escape_at(line: &[u8], i: usize) -> Option<u16> {
        if line.get(i) == Some(&b'\\') && line.get(i + 1) == Some(&b'u') {
            hex4(line.get(i + 2..)?)
        } else {
            None
        }
    }
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < line.len() {
        if line[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(unit) = escape_at(line, i) else {
            // Any other escape is two bytes; skipping both keeps `\\u` from being misread.
            i += 2;
            continue;
        };
        let lone = match unit {
            0xD800..=0xDBFF => !matches!(escape_at(line, i + 6), Some(0xDC00..=0xDFFF)),
            0xDC00..=0xDFFF => true,
            _ => false,
        };
        if lone {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(line.len()));
            buf.extend_from_slice(&line[copied..i]);
            buf.extend_from_slice(b"\\ufffd");
            copied = i + 6;
            i += 6;
        } else if (0xD800..=0xDBFF).contains(&unit) {
            i += 12;
        } else {
            i += 6;
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(&line[copied.min(line.len())..]);
    Some(buf)
}

// ---- the shapes read from a line; every field is lax (wrong type = absent) and bounded ----

#[derive(Deserialize, Default)]
#[serde(default)]
struct Entry {
    #[serde(rename = "type")]
    kind: Str<64>,
    id: Str<256>,
    timestamp: Ts,
    #[serde(rename = "parentSession")]
    parent_session: Str<4096>,
    message: Obj<Message>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Message {
    role: Str<32>,
    content: List<Block, MAX_BLOCKS>,
    usage: Obj<Usage>,
    stop_reason: Str<64>,
    error_message: Str<4096>,
    tool_call_id: Str<256>,
    tool_name: Str<256>,
    is_error: Flag,
    #[serde(rename = "__openclaw")]
    openclaw: Obj<OpenclawMeta>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Usage {
    total_tokens: Count,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OpenclawMeta {
    transport: Obj<Transport>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Transport {
    message_id: Str<256>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct BlockFields {
    #[serde(rename = "type")]
    kind: Str<32>,
    text: Text,
    id: Str<256>,
    name: Str<256>,
    arguments: Args,
}

/// A content block; a bare string (user content in 2026.7+) is a text block.
#[derive(Default)]
struct Block(BlockFields);

impl Lax for Block {
    fn of_str(s: &str) -> Self {
        Block(BlockFields {
            kind: Str(Some("text".to_owned())),
            text: Text::of_str(s),
            ..BlockFields::default()
        })
    }
    fn of_map<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        BlockFields::deserialize(MapAccessDeserializer::new(map)).map(Block)
    }
    fn of_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(Block::default())
    }
}

impl Block {
    fn text(&self) -> Option<&Text> {
        (self.0.kind.eq_str("text") && self.0.text.text.is_some()).then_some(&self.0.text)
    }
}

/// The JSON a 2026.4 tool writes as its result text when it fails with `isError: false`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorPayload {
    status: Str<32>,
    error: Str<4096>,
    message: Str<4096>,
}

// ---- entries → events ----

fn to_event(entry: Entry) -> Option<TranscriptEvent> {
    let ts_ms = entry.timestamp.0;
    match entry.kind.as_deref()? {
        "session" => Some(TranscriptEvent::Header {
            session_id: entry.id.0.unwrap_or_default(),
            ts_ms,
            parent_session: entry.parent_session.0.filter(|p| !p.is_empty()),
        }),
        "compaction" => Some(TranscriptEvent::Compaction { ts_ms }),
        "message" => message_event(ts_ms, entry.message.0),
        _ => None,
    }
}

fn message_event(ts_ms: Option<i64>, m: Message) -> Option<TranscriptEvent> {
    let blocks = &m.content.0;
    match m.role.as_deref()? {
        "user" => Some(TranscriptEvent::User {
            ts_ms,
            text: first_line(blocks, USER_TEXT_CHARS).unwrap_or_default(),
            message_id: m.openclaw.0.transport.0.message_id.0,
        }),
        "assistant" => Some(TranscriptEvent::Assistant {
            ts_ms,
            text: joined_text(blocks, ASSISTANT_TEXT_CHARS),
            tool_calls: tool_calls(m.content.0),
            stop: stop_reason(m.stop_reason.as_deref()),
            error_message: m
                .error_message
                .0
                .as_deref()
                .and_then(|e| first_non_empty_line(e, ERROR_TEXT_CHARS)),
            total_tokens: m.usage.0.total_tokens.0,
        }),
        "toolResult" => {
            let payload_error = error_payload(blocks);
            let is_error = m.is_error.0 == Some(true) || payload_error.is_some();
            let error_text = if is_error {
                payload_error
                    .flatten()
                    .as_deref()
                    .and_then(|e| first_non_empty_line(e, ERROR_TEXT_CHARS))
                    .or_else(|| first_line(blocks, ERROR_TEXT_CHARS))
            } else {
                None
            };
            Some(TranscriptEvent::ToolResult {
                ts_ms,
                tool_call_id: m.tool_call_id.0.unwrap_or_default(),
                tool_name: m.tool_name.0.unwrap_or_default(),
                is_error,
                error_text,
            })
        }
        _ => None,
    }
}

fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        Some("stop") => StopReason::Stop,
        Some("length") => StopReason::Length,
        Some("toolUse") => StopReason::ToolUse,
        Some("error") => StopReason::Error,
        Some("aborted") => StopReason::Aborted,
        Some(other) => StopReason::Other(other.to_owned()),
        None => StopReason::Other(String::new()),
    }
}

fn tool_calls(blocks: Vec<Block>) -> Vec<ToolCall> {
    blocks
        .into_iter()
        .filter(|b| b.0.kind.eq_str("toolCall"))
        .map(|Block(b)| ToolCall {
            id: b.id.0.unwrap_or_default(),
            name: b.name.0.unwrap_or_default(),
            arguments: b.arguments.0,
        })
        .collect()
}

/// `max` chars of `s`, with `…` as the last char when something was cut.
fn bounded(s: &str, max: usize) -> String {
    match cut_chars(s, max) {
        (whole, false) => whole.to_owned(),
        (_, true) => {
            let (head, _) = cut_chars(s, max.saturating_sub(1));
            format!("{head}…")
        }
    }
}

fn first_non_empty_line(s: &str, max: usize) -> Option<String> {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| bounded(l, max))
}

fn first_line(blocks: &[Block], max: usize) -> Option<String> {
    blocks
        .iter()
        .filter_map(Block::text)
        .filter_map(|t| t.text.as_deref())
        .find_map(|t| first_non_empty_line(t, max))
}

fn joined_text(blocks: &[Block], max: usize) -> String {
    let mut out = String::new();
    for text in blocks.iter().filter_map(Block::text) {
        let Some(t) = text.text.as_deref().map(str::trim) else {
            continue;
        };
        if t.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(t);
        // A char is at most 4 bytes, so past this many bytes the result is surely over `max`.
        if out.len() > 4 * (max + 1) {
            break;
        }
    }
    bounded(&out, max)
}

/// `Some(error text)` when a text block is a JSON object with `"status": "error"` (2026.4
/// reports tool failures that way, with `isError: false`).
fn error_payload(blocks: &[Block]) -> Option<Option<String>> {
    blocks.iter().filter_map(Block::text).find_map(|t| {
        let s = t.text.as_deref()?;
        // A cut text is not the small error object; skip the parse attempt.
        if t.cut || !s.trim_start().starts_with('{') {
            return None;
        }
        match serde_json::from_str::<MaybeObj<ErrorPayload>>(s) {
            Ok(MaybeObj(Some(p))) if p.status.eq_str("error") => Some(p.error.0.or(p.message.0)),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests;
