//! Test-only: the recorded OpenClaw runs under `tests/fixtures/openclaw` as tracker input. The
//! real transcript parser lives in `transcript/`; this converter is deliberately tiny and only
//! knows what the fixtures hold, so tracker tests do not depend on that parser.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::delta::{SessionId, SessionInfo, SessionRef};
use super::tracker::SessionInput;
use crate::transcript::{StopReason, ToolCall, TranscriptEvent, TranscriptRecord};

pub const GATEWAY: &str = "/home/alice/.openclaw";
/// Every recorded run happened on this UTC day; `fs-events.log` holds times of day only.
const RUN_DAY: (i64, i64, i64) = (2026, 11, 22);

pub fn scenario_dir(version: &str, scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openclaw")
        .join(version)
        .join(scenario)
}

/// `HH:MM:SS.frac` on `day` → ms since the epoch.
fn time_of_day_ms(day: (i64, i64, i64), hms: &str) -> Option<i64> {
    let mut it = hms.split(':');
    let h: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let s: f64 = it.next()?.parse().ok()?;
    let days = crate::clock::days_from_civil(day.0, day.1, day.2);
    Some(days * 86_400_000 + h * 3_600_000 + m * 60_000 + (s * 1000.0).floor() as i64)
}

/// `2026-11-22T03:50:29.391Z` → ms since the epoch.
pub fn iso_ms(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let day = (d.next()??, d.next()??, d.next()??);
    time_of_day_ms(day, time)
}

pub fn run_ms(hms: &str) -> i64 {
    time_of_day_ms(RUN_DAY, hms).expect("time of day")
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn stop_reason(s: Option<&str>) -> StopReason {
    match s {
        Some("stop") => StopReason::Stop,
        Some("length") => StopReason::Length,
        Some("toolUse") => StopReason::ToolUse,
        Some("error") => StopReason::Error,
        Some("aborted") => StopReason::Aborted,
        other => StopReason::Other(other.unwrap_or("").to_string()),
    }
}

/// One JSONL line → an event (None for entry types boxes do not care about).
pub fn event(v: &Value) -> Option<TranscriptEvent> {
    let ts_ms = v.get("timestamp").and_then(Value::as_str).and_then(iso_ms);
    match v.get("type")?.as_str()? {
        "session" => Some(TranscriptEvent::Header {
            session_id: v.get("id")?.as_str()?.to_string(),
            ts_ms,
            parent_session: v
                .get("parentSession")
                .and_then(Value::as_str)
                .map(str::to_string),
        }),
        "compaction" => Some(TranscriptEvent::Compaction { ts_ms }),
        "message" => {
            let m = v.get("message")?;
            match m.get("role")?.as_str()? {
                "user" => Some(TranscriptEvent::User {
                    ts_ms,
                    text: text_of(m.get("content")?),
                    message_id: m
                        .pointer("/__openclaw/transport/messageId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                }),
                "assistant" => {
                    let blocks = m.get("content").and_then(Value::as_array);
                    let tool_calls = blocks
                        .into_iter()
                        .flatten()
                        .filter(|b| b.get("type").and_then(Value::as_str) == Some("toolCall"))
                        .map(|b| ToolCall {
                            id: b.get("id").and_then(Value::as_str).unwrap_or("").into(),
                            name: b.get("name").and_then(Value::as_str).unwrap_or("").into(),
                            arguments: b.get("arguments").cloned().unwrap_or(Value::Null),
                        })
                        .collect();
                    Some(TranscriptEvent::Assistant {
                        ts_ms,
                        text: m.get("content").map(text_of).unwrap_or_default(),
                        tool_calls,
                        stop: stop_reason(m.get("stopReason").and_then(Value::as_str)),
                        error_message: m
                            .get("errorMessage")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        total_tokens: m.pointer("/usage/totalTokens").and_then(Value::as_u64),
                    })
                }
                "toolResult" => {
                    let text = m.get("content").map(text_of).unwrap_or_default();
                    // 2026.4 reports failures only inside the content.
                    let status_error = serde_json::from_str::<Value>(&text)
                        .ok()
                        .and_then(|c| {
                            c.get("status")
                                .and_then(Value::as_str)
                                .map(|s| s == "error")
                        })
                        .unwrap_or(false);
                    let is_error =
                        m.get("isError").and_then(Value::as_bool).unwrap_or(false) || status_error;
                    Some(TranscriptEvent::ToolResult {
                        ts_ms,
                        tool_call_id: m.get("toolCallId")?.as_str()?.to_string(),
                        tool_name: m
                            .get("toolName")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        is_error,
                        error_text: is_error.then(|| text.lines().next().unwrap_or("").to_string()),
                    })
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A transcript file as records, each with the time it reached the disk as far as the fixture
/// tells: its own timestamp, or for a fork's copied history the fork's creation.
pub fn load_transcript(path: &Path) -> Vec<(i64, TranscriptRecord)> {
    let src = std::fs::read_to_string(path).expect("fixture transcript");
    let mut fork_ts = None;
    let mut out = Vec::new();
    for line in src.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("fixture line is JSON");
        let Some(ev) = event(&v) else { continue };
        if let TranscriptEvent::Header {
            ts_ms,
            parent_session: Some(_),
            ..
        } = &ev
        {
            fork_ts = *ts_ms;
        }
        let ts = ev.ts_ms().expect("fixture entries carry timestamps");
        let history =
            fork_ts.is_some_and(|f| ts < f) && !matches!(ev, TranscriptEvent::Header { .. });
        let at = if history { fork_ts.unwrap_or(ts) } else { ts };
        out.push((at, TranscriptRecord { event: ev, history }));
    }
    out
}

pub fn session_ref(key: &str, spawned_by: Option<&str>, label: Option<&str>) -> SessionRef {
    SessionRef::from(SessionInfo {
        id: SessionId::new(GATEWAY.into(), "main".into(), key.into()),
        spawned_by: spawned_by.map(str::to_string),
        label: label.map(str::to_string),
        route: None,
    })
}

/// What one recorded scenario gives the tracker: transcripts as they were before the run
/// (caught up at the start), then lock changes and new entries in time order.
pub struct Replay {
    pub start_ms: i64,
    pub end_ms: i64,
    pub before: Vec<(SessionRef, Vec<TranscriptRecord>)>,
    pub live: Vec<(i64, SessionRef, SessionInput)>,
}

pub fn replay(version: &str, scenario: &str) -> Replay {
    let dir = scenario_dir(version, scenario);
    let store: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("sessions/sessions.json")).expect("sessions.json"),
    )
    .expect("sessions.json is JSON");
    // Transcript file name → the session it belongs to.
    let mut by_file: HashMap<String, SessionRef> = HashMap::new();
    for (key, entry) in store.as_object().expect("store object") {
        let Some(file) = entry.get("sessionFile").and_then(Value::as_str) else {
            continue;
        };
        let name = file.rsplit('/').next().unwrap_or(file).to_string();
        let sref = session_ref(
            key,
            entry.get("spawnedBy").and_then(Value::as_str),
            entry.get("label").and_then(Value::as_str),
        );
        by_file.insert(name, sref);
    }

    let log = std::fs::read_to_string(dir.join("fs-events.log")).expect("fs-events.log");
    let mut locks = Vec::new();
    let mut start_ms = i64::MAX;
    let mut end_ms = i64::MIN;
    for line in log.lines() {
        let mut cols = line.split_whitespace();
        let (Some(time), Some(kinds), Some(path)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let at = run_ms(time);
        start_ms = start_ms.min(at);
        end_ms = end_ms.max(at);
        let name = path.rsplit('/').next().unwrap_or(path);
        let Some(transcript) = name.strip_suffix(".lock") else {
            continue;
        };
        let Some(sref) = by_file.get(transcript) else {
            continue;
        };
        let held = match kinds {
            "CREATE" => true,
            "DELETE" => false,
            _ => continue,
        };
        locks.push((at, sref.clone(), SessionInput::Lock { held }));
    }

    let mut before = Vec::new();
    let mut live = locks;
    let mut files: Vec<_> = by_file.iter().collect();
    // Parents first, so a child's catch-up finds its parent known.
    files.sort_by_key(|(name, sref)| (sref.spawned_by.is_some(), (*name).clone()));
    for (name, sref) in files {
        let path = dir.join("sessions").join(name);
        if !path.exists() {
            continue;
        }
        let mut old = Vec::new();
        for (at, rec) in load_transcript(&path) {
            if at < start_ms {
                old.push(rec);
            } else {
                live.push((at, sref.clone(), SessionInput::Record(rec)));
            }
        }
        before.push((sref.clone(), old));
    }
    live.sort_by_key(|(at, _, _)| *at);
    Replay {
        start_ms,
        end_ms,
        before,
        live,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_agree_between_the_two_clocks() {
        assert_eq!(iso_ms("1970-01-01T00:00:01.5Z"), Some(1_500));
        let a = iso_ms("2026-11-22T03:50:32.617Z").expect("iso");
        assert_eq!(a, run_ms("03:50:32.617000"));
        // The mock's user message timestamp field is ms since the epoch; same clock.
        assert_eq!(iso_ms("2026-11-22T03:50:29.435Z"), Some(1_795_319_429_435));
    }

    #[test]
    fn forked_thread_transcript_marks_its_copy_as_history() {
        let dir = scenario_dir("2026.7.1", "b_thread_reply");
        let recs =
            load_transcript(&dir.join(
                "sessions/2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl",
            ));
        let history = recs.iter().filter(|(_, r)| r.history).count();
        assert_eq!(
            history, 5,
            "user, assistant, 2 results, assistant copied from the channel"
        );
        assert!(matches!(
            recs.iter().find(|(_, r)| !r.history && matches!(r.event, TranscriptEvent::User { .. })),
            Some((_, TranscriptRecord { event: TranscriptEvent::User { text, .. }, .. })) if text.contains("[scen:thread]")
        ));
    }
}
