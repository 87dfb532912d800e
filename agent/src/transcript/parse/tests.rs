//! One entry at a time, on hand-made lines and on every line of the recordings.

use super::*;
use crate::transcript::test_support::{fixture_root, fixture_transcripts};
use serde_json::json;

fn parse(line: &str) -> Option<TranscriptEvent> {
    parse_line(line.as_bytes()).expect("parses")
}

fn lines_of(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixture_root().join(rel)).expect("fixture readable");
    text.lines().map(str::to_owned).collect()
}

#[test]
fn every_fixture_line_parses() {
    let files = fixture_transcripts();
    assert!(files.len() >= 10, "fixtures found: {files:?}");
    let (mut lines, mut shown) = (0, 0);
    let mut seen = std::collections::BTreeSet::new();
    for file in &files {
        let text = std::fs::read(file).expect("fixture readable");
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            let raw: serde_json::Value = serde_json::from_slice(line).expect("fixture is JSON");
            let kind = raw["type"].as_str().expect("type").to_owned();
            let role = raw["message"]["role"].as_str().unwrap_or("").to_owned();
            let event = parse_line(line).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            // Exactly the entries a box needs map to events; the rest are skipped.
            let expect_event = matches!(
                (kind.as_str(), role.as_str()),
                ("session", _)
                    | ("compaction", _)
                    | ("message", "user" | "assistant" | "toolResult")
            );
            assert_eq!(
                event.is_some(),
                expect_event,
                "{kind}/{role} in {}",
                file.display()
            );
            if let Some(ev) = &event {
                shown += 1;
                assert!(ev.ts_ms().is_some(), "every fixture entry has a timestamp");
            }
            seen.insert(format!("{kind}/{role}"));
        }
    }
    assert!(lines > 100 && shown > 60, "{lines} lines, {shown} events");
    for kind in [
        "session/",
        "message/user",
        "message/assistant",
        "message/toolResult",
        "model_change/",
        "thinking_level_change/",
        "custom/",
        "custom_message/",
    ] {
        assert!(
            seen.contains(kind),
            "fixtures should contain {kind}: {seen:?}"
        );
    }
}

#[test]
fn channel_tools_assistant_2026_7() {
    let lines =
        lines_of("2026.7.1/a_channel_tools/sessions/378cc088-7929-479b-991c-8aad99f30827.jsonl");
    let events: Vec<_> = lines.iter().filter_map(|l| parse(l)).collect();
    let Some(TranscriptEvent::Assistant {
        ts_ms,
        text,
        tool_calls,
        stop,
        error_message,
        total_tokens,
    }) = events
        .iter()
        .find(|e| matches!(e, TranscriptEvent::Assistant { .. }))
        .cloned()
    else {
        panic!("no assistant in {events:?}");
    };
    assert_eq!(
        ts_ms,
        crate::clock::parse_rfc3339_ms("2026-11-22T03:50:32.617Z")
    );
    assert_eq!(text, "Let me check the notes folder.");
    let names: Vec<_> = tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["read", "exec"]);
    assert_eq!(tool_calls[0].id, "call_4f82e314bf");
    assert_eq!(
        tool_calls[0].arguments,
        json!({"path": "/home/alice/notes/hello.txt"})
    );
    assert_eq!(
        tool_calls[1].arguments,
        json!({"command": "ls -la /home/alice/notes"})
    );
    assert_eq!(stop, StopReason::ToolUse);
    assert_eq!(error_message, None);
    assert_eq!(total_tokens, Some(120));

    let user = events
        .iter()
        .find(|e| matches!(e, TranscriptEvent::User { .. }));
    assert_eq!(
        user,
        Some(&TranscriptEvent::User {
            ts_ms: crate::clock::parse_rfc3339_ms("2026-11-22T03:50:29.528Z"),
            text: "[scen:tools] please read hello.txt and list my notes folder".into(),
            message_id: None,
        })
    );
    let results: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            TranscriptEvent::ToolResult {
                tool_call_id,
                tool_name,
                is_error,
                error_text,
                ..
            } => Some((
                tool_call_id.as_str(),
                tool_name.as_str(),
                *is_error,
                error_text.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        results,
        [
            ("call_4f82e314bf", "read", false, None),
            ("call_cff2a5cc54", "exec", false, None)
        ]
    );
    assert!(matches!(
        events.last(),
        Some(TranscriptEvent::Assistant { stop: StopReason::Stop, tool_calls, .. }) if tool_calls.is_empty()
    ));
}

#[test]
fn user_content_blocks_2026_4() {
    let lines =
        lines_of("2026.4.27/a_channel_tools/sessions/08212adb-054b-4734-b0c0-99d056e3300d.jsonl");
    let users: Vec<_> = lines
        .iter()
        .filter_map(|l| match parse(l) {
            Some(TranscriptEvent::User { text, .. }) => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(
        users.first().map(String::as_str),
        Some("[scen:tools] please read hello.txt and list my notes folder")
    );
}

#[test]
fn status_error_payload_is_a_failure_2026_4() {
    let text = "{\n \"status\": \"error\", \"tool\": \"read\", \"error\": \"ENOENT: no such file or directory, access '/home/alice/notes/missing.txt'\"}";
    let line = json!({
        "type": "message", "id": "x1", "parentId": "x0", "timestamp": "2026-11-22T04:03:01.000Z",
        "message": {"role": "toolResult", "toolCallId": "call_1", "toolName": "read", "isError": false,
                    "content": [{"type": "text", "text": text}], "timestamp": 1}
    })
    .to_string();
    assert_eq!(
        parse(&line),
        Some(TranscriptEvent::ToolResult {
            ts_ms: Some(1_795_320_181_000),
            tool_call_id: "call_1".into(),
            tool_name: "read".into(),
            is_error: true,
            error_text: Some(
                "ENOENT: no such file or directory, access '/home/alice/notes/missing.txt'".into()
            ),
        })
    );
    // A status that is not "error" (sessions_spawn answers "accepted") is no failure.
    let ok = line.replace(
        "\\\"status\\\": \\\"error\\\"",
        "\\\"status\\\": \\\"accepted\\\"",
    );
    assert_ne!(ok, line);
    assert!(matches!(
        parse(&ok),
        Some(TranscriptEvent::ToolResult {
            is_error: false,
            error_text: None,
            ..
        })
    ));
}

#[test]
fn tool_error_2026_7() {
    let lines =
        lines_of("2026.7.1/d_tool_error/sessions/378cc088-7929-479b-991c-8aad99f30827.jsonl");
    let errors: Vec<_> = lines
        .iter()
        .filter_map(|l| match parse(l) {
            Some(TranscriptEvent::ToolResult {
                tool_name,
                is_error: true,
                error_text,
                ..
            }) => Some((tool_name, error_text)),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        [(
            "read".to_owned(),
            Some(
                "ENOENT: no such file or directory, access '/home/alice/notes/missing.txt'"
                    .to_owned()
            )
        )]
    );
}

#[test]
fn fork_header_2026_7() {
    let lines = lines_of(
        "2026.7.1/b_thread_reply/sessions/2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl",
    );
    assert_eq!(
        parse(&lines[0]),
        Some(TranscriptEvent::Header {
            session_id: "41ed4d3a-d339-433d-9c46-b59c2abd2491".into(),
            ts_ms: Some(1_795_319_463_547),
            parent_session: Some("/home/alice/.openclaw/agents/main/sessions/378cc088-7929-479b-991c-8aad99f30827.jsonl".into()),
        })
    );
    let plain =
        lines_of("2026.7.1/a_channel_tools/sessions/378cc088-7929-479b-991c-8aad99f30827.jsonl");
    assert!(matches!(
        parse(&plain[0]),
        Some(TranscriptEvent::Header {
            parent_session: None,
            ..
        })
    ));
}

#[test]
fn user_message_id_2026_9() {
    let line = r#"{"type":"message","id":"efd030b5","parentId":null,"timestamp":"2026-11-22T03:45:59.894Z","message":{"role":"user","content":"[scen:tools] please read hello.txt and list my notes folder","timestamp":1795319155438,"idempotencyKey":"channel-user:v1:9f6f","__openclaw":{"senderIsOwner":false,"senderId":"us3a7lice0000000000000000a","senderName":"@alice","senderIdentity":{"type":"observation","pluginId":"mattermost","accountId":"default"},"transport":{"channel":"mattermost","conversationRef":"conv_1e2b","messageId":"iyyqrdjs6b6wgnkd35sgtsx0kf"}}}}"#;
    assert_eq!(
        parse(line),
        Some(TranscriptEvent::User {
            ts_ms: Some(1_795_319_159_894),
            text: "[scen:tools] please read hello.txt and list my notes folder".into(),
            message_id: Some("iyyqrdjs6b6wgnkd35sgtsx0kf".into()),
        })
    );
}

#[test]
fn assistant_error_and_abort() {
    let line = json!({"type": "message", "timestamp": "2026-11-22T03:00:00Z", "message": {
        "role": "assistant", "content": [{"type": "thinking", "thinking": "hmm"}],
        "stopReason": "error", "errorMessage": "429 rate limited\nretry later"}});
    assert!(matches!(
        parse(&line.to_string()),
        Some(TranscriptEvent::Assistant { stop: StopReason::Error, error_message: Some(m), text, total_tokens: None, .. })
            if m == "429 rate limited" && text.is_empty()
    ));
    for (raw, want) in [
        ("aborted", StopReason::Aborted),
        ("length", StopReason::Length),
        ("stop", StopReason::Stop),
        ("pause_turn", StopReason::Other("pause_turn".into())),
    ] {
        let line = json!({"type": "message", "message": {"role": "assistant", "content": [], "stopReason": raw}});
        assert!(
            matches!(parse(&line.to_string()), Some(TranscriptEvent::Assistant { stop, ts_ms: None, .. }) if stop == want)
        );
    }
    let line = json!({"type": "message", "message": {"role": "assistant"}});
    assert!(
        matches!(parse(&line.to_string()), Some(TranscriptEvent::Assistant { stop: StopReason::Other(s), .. }) if s.is_empty())
    );
}

#[test]
fn skipped_and_unknown_entries() {
    for line in [
        r#"{"type":"model_change","id":"a","parentId":null,"timestamp":"2026-11-22T03:50:29.407Z","provider":"mock","modelId":"mock-1"}"#,
        r#"{"type":"thinking_level_change","thinkingLevel":"off"}"#,
        r#"{"type":"custom","customType":"model-snapshot","data":{"x":1}}"#,
        r#"{"type":"custom_message","customType":"openclaw.runtime-context","content":"x","display":false}"#,
        r#"{"type":"branch_summary","summary":"x"}"#,
        r#"{"type":"label","label":"x"}"#,
        r#"{"type":"something_from_2027","message":{"role":"user","content":"hi"}}"#,
        r#"{"type":"message","message":{"role":"bashExecution","command":"ls"}}"#,
        r#"{"type":"message","message":"not an object"}"#,
        r#"{"type":42}"#,
        r#"{}"#,
    ] {
        assert_eq!(parse_line(line.as_bytes()), Ok(None), "{line}");
    }
    assert_eq!(
        parse(r#"{"type":"compaction","timestamp":"2026-11-22T03:50:29.407Z","summary":"..."}"#),
        Some(TranscriptEvent::Compaction {
            ts_ms: Some(1_795_319_429_407)
        })
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let cases: [&[u8]; 9] = [
        b"not json",
        b"[1,2,3]",
        b"\"a string\"",
        b"42",
        b"null",
        b"{\"type\":\"message\",\"message\":{\"role\":\"user\",\"content\":\"cut he",
        b"{\"type\":\"message\",\"message\":{\"role\":\"user\",\"content\":\"\xff\xfe\"}}",
        b"{\"type\":\"session\"} trailing",
        b"",
    ];
    for raw in cases {
        assert!(
            parse_line(raw).is_err(),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(parse_line(b"[]"), Err(ParseError::NotObject));
    // The error says where, never what: no transcript content in logs.
    let err = parse_line(b"{\"secret\": \"hunter2").expect_err("truncated");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn wrong_field_types_degrade() {
    let line = json!({"type": "message", "timestamp": 12, "message": {
        "role": "toolResult", "toolCallId": 7, "toolName": ["x"], "isError": "yes",
        "content": ["stray", 3, {"type": "text", "text": {"nested": true}}]}});
    assert_eq!(
        parse(&line.to_string()),
        Some(TranscriptEvent::ToolResult {
            ts_ms: Some(12),
            tool_call_id: String::new(),
            tool_name: String::new(),
            is_error: false,
            error_text: None,
        })
    );
    let bad_ts = json!({"type": "message", "timestamp": "yesterday", "message": {"role": "user", "content": "hi"}});
    assert!(matches!(
        parse(&bad_ts.to_string()),
        Some(TranscriptEvent::User { ts_ms: None, .. })
    ));
}

#[test]
fn lone_surrogates_are_replaced() {
    let line = r#"{"type":"message","timestamp":"2026-11-22T03:00:00Z","message":{"role":"assistant","content":[{"type":"text","text":"cut \ud83d here, pair \ud83d\ude00 kept, low \ude00, escaped \\ud83d"}],"stopReason":"stop"}}"#;
    let Some(TranscriptEvent::Assistant { text, .. }) = parse(line) else {
        panic!("assistant expected");
    };
    assert_eq!(
        text,
        "cut \u{fffd} here, pair \u{1f600} kept, low \u{fffd}, escaped \\ud83d"
    );
}

#[test]
fn huge_lines_keep_little() {
    let big = "y".repeat(3 << 20);
    let line = json!({"type": "message", "timestamp": "2026-11-22T03:00:00Z", "message": {
        "role": "assistant", "stopReason": "toolUse",
        "content": [{"type": "text", "text": big}, {"type": "toolCall", "id": "c", "name": "write",
                     "arguments": {"path": "/tmp/x", "content": big}}]}});
    let Some(TranscriptEvent::Assistant {
        text, tool_calls, ..
    }) = parse(&line.to_string())
    else {
        panic!("assistant expected");
    };
    assert_eq!(text.chars().count(), ASSISTANT_TEXT_CHARS);
    assert!(text.ends_with('…'));
    assert_eq!(tool_calls[0].arguments["path"], "/tmp/x");
    assert_eq!(
        tool_calls[0].arguments["content"].as_str().map(str::len),
        Some(500)
    );

    let user = json!({"type": "message", "message": {"role": "user", "content": format!("\n\n  first line  \n{big}")}});
    assert!(
        matches!(parse(&user.to_string()), Some(TranscriptEvent::User { text, .. }) if text == "first line")
    );
    let user = json!({"type": "message", "message": {"role": "user", "content": big}});
    assert!(
        matches!(parse(&user.to_string()), Some(TranscriptEvent::User { text, .. }) if text.chars().count() == USER_TEXT_CHARS)
    );

    let result = json!({"type": "message", "message": {"role": "toolResult", "toolCallId": "c", "toolName": "exec",
        "isError": true, "content": [{"type": "text", "text": format!("{{\"status\":\"error\",{big}")}]}});
    assert!(matches!(
        parse(&result.to_string()),
        Some(TranscriptEvent::ToolResult { is_error: true, error_text: Some(t), .. }) if t.chars().count() == ERROR_TEXT_CHARS
    ));
}
