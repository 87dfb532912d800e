//! The tailer on real files: partial lines, truncation and rewrites, parking, rotation, bounds,
//! a fork's copied history, resume points, unsafe files.

use super::*;
use crate::transcript::event::{StopReason, TranscriptEvent};
use crate::transcript::test_support::fixture_root;
use std::io::Write;

const HEADER: &str =
    r#"{"type":"session","version":3,"id":"s1","timestamp":"2026-11-22T03:50:29.391Z","cwd":"/w"}"#;

fn user(text: &str, ts: &str) -> String {
    serde_json::json!({"type": "message", "timestamp": ts, "message": {"role": "user", "content": text}})
        .to_string()
}

fn user_texts(records: &[TranscriptRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            TranscriptEvent::User { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn append(path: &std::path::Path, data: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .expect("open for append");
    f.write_all(data.as_bytes()).expect("append");
}

fn setup(initial: &str) -> (tempfile::TempDir, SessionsDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("s1.jsonl");
    std::fs::write(&path, initial).expect("write");
    let dir = SessionsDir::open(tmp.path()).expect("dir");
    (tmp, dir, path)
}

#[test]
fn partial_line_waits_for_its_newline() {
    let (_tmp, dir, path) = setup(&format!("{HEADER}\n"));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    let first = t.read_new().expect("read");
    assert!(matches!(
        first[..],
        [TranscriptRecord {
            event: TranscriptEvent::Header { .. },
            history: false
        }]
    ));
    let header_end = HEADER.len() as u64 + 1;
    assert_eq!(t.offset(), header_end);

    let line = user("hello", "2026-11-22T03:50:30Z");
    let (a, b) = line.split_at(20);
    append(&path, a);
    assert!(t.read_new().expect("read").is_empty());
    assert_eq!(t.offset(), header_end, "offset stays at the line start");
    append(&path, b);
    assert!(t.read_new().expect("read").is_empty(), "still no newline");
    append(&path, "\n\n   \n");
    assert_eq!(user_texts(&t.read_new().expect("read")), ["hello"]);
    assert_eq!(t.offset(), std::fs::metadata(&path).expect("meta").len());
    assert!(t.read_new().expect("read").is_empty());
}

#[test]
fn truncation_restarts_from_zero() {
    let body = format!(
        "{HEADER}\n{}\n{}\n",
        user("one", "2026-11-22T03:50:30Z"),
        user("two", "2026-11-22T03:50:31Z")
    );
    let (_tmp, dir, path) = setup(&body);
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    assert_eq!(user_texts(&t.read_new().expect("read")), ["one", "two"]);
    assert!(!t.take_truncated());

    // Rewritten shorter in place (same inode).
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .expect("truncate");
    append(
        &path,
        &format!("{HEADER}\n{}\n", user("three", "2026-11-22T03:50:32Z")),
    );
    let identity = t.identity();
    let again = t.read_new().expect("read");
    assert!(matches!(again[0].event, TranscriptEvent::Header { .. }));
    assert_eq!(user_texts(&again), ["three"]);
    assert!(t.take_truncated());
    assert!(!t.take_truncated(), "reported once");
    assert_eq!(t.identity(), identity);
    assert_eq!(t.offset(), std::fs::metadata(&path).expect("meta").len());
}

/// Replaces the whole content of the file at `path` the way an editor or a rewriting writer
/// does: same inode, `O_TRUNC`, then one write.
fn rewrite_in_place(path: &std::path::Path, data: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .expect("open for rewrite");
    f.write_all(data.as_bytes()).expect("rewrite");
}

#[test]
fn a_transcript_rewritten_in_place_longer_than_what_was_read_is_read_again() {
    let (_tmp, dir, path) = setup(&format!(
        "{HEADER}\n{}\n{}\n",
        user("one", "2026-11-22T03:50:30Z"),
        user("two", "2026-11-22T03:50:31Z")
    ));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    assert_eq!(user_texts(&t.read_new().expect("read")), ["one", "two"]);
    let identity = t.identity();
    let old_offset = t.offset();

    // The writer rewrites the session (a rewind, an edit): every line is new and the file
    // ends up longer than where reading was, so neither the inode nor the size tells.
    let rewritten = format!(
        "{HEADER}\n{}\n{}\n{}\n{}\n",
        user("uno", "2026-11-22T03:50:30Z"),
        user("dos", "2026-11-22T03:50:31Z"),
        user("tres", "2026-11-22T03:50:32Z"),
        user("cuatro", "2026-11-22T03:50:33Z")
    );
    assert!(rewritten.len() as u64 > old_offset);
    rewrite_in_place(&path, &rewritten);
    assert!(!t.is_replaced(&dir).expect("stat"), "the same file");

    let again = t.read_new().expect("read");
    assert!(matches!(again[0].event, TranscriptEvent::Header { .. }));
    assert_eq!(user_texts(&again), ["uno", "dos", "tres", "cuatro"]);
    assert!(t.take_truncated(), "told like a truncation");
    assert_eq!(t.identity(), identity);
    assert_eq!(t.offset(), rewritten.len() as u64);

    // Plain appends after that are no rewrite.
    append(
        &path,
        &format!("{}\n", user("cinco", "2026-11-22T03:50:34Z")),
    );
    assert_eq!(user_texts(&t.read_new().expect("read")), ["cinco"]);
    assert!(!t.take_truncated());
}

#[test]
fn a_partial_line_rewritten_in_place_is_read_again() {
    let (_tmp, dir, path) = setup(&format!("{HEADER}\n"));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    t.read_new().expect("read");
    let line = user("first draft", "2026-11-22T03:50:30Z");
    append(&path, &line[..line.len() - 5]);
    assert!(t.read_new().expect("read").is_empty());

    rewrite_in_place(
        &path,
        &format!("{HEADER}\n{}\n", user("final", "2026-11-22T03:50:30Z")),
    );
    assert_eq!(user_texts(&t.read_new().expect("read")), ["final"]);
    assert!(t.take_truncated());
}

#[test]
fn a_restart_does_not_resume_into_a_transcript_rewritten_meanwhile() {
    let (_tmp, dir, path) = setup(&format!(
        "{HEADER}\n{}\n",
        user("one", "2026-11-22T03:50:30Z")
    ));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    t.read_new().expect("read");
    // A partial line is pending when the daemon stops: the point is before it.
    append(&path, "{\"type\":\"mess");
    t.read_new().expect("read");
    let saved = t.resume_point();
    assert_eq!(saved.offset, t.offset());
    drop(t);

    // Persisted and read back (the point goes through the state file as JSON).
    let json = serde_json::to_string(&saved).expect("serialize");
    let saved: ResumePoint = serde_json::from_str(&json).expect("deserialize");

    // Unchanged but for the rest of the line: resumed.
    append(
        &path,
        "age\",\"message\":{\"role\":\"user\",\"content\":\"two\"}}\n",
    );
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", Some(saved)).expect("resume");
    assert!(t.resumed());
    assert_eq!(user_texts(&t.read_new().expect("read")), ["two"]);
    drop(t);

    // Rewritten in place while the daemon was down, longer than the saved offset.
    rewrite_in_place(
        &path,
        &format!(
            "{HEADER}\n{}\n{}\n",
            user("uno", "2026-11-22T03:50:30Z"),
            user("dos", "2026-11-22T03:50:31Z")
        ),
    );
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", Some(saved)).expect("open");
    assert!(!t.resumed());
    assert_eq!(user_texts(&t.read_new().expect("read")), ["uno", "dos"]);
}

#[test]
fn lines_written_back_after_a_truncation_are_counted_as_read_again_up_to_the_old_end() {
    let old = format!(
        "{HEADER}\n{}\n{}\n",
        user("a", "2026-11-22T03:50:30Z"),
        user("b", "2026-11-22T03:50:31Z")
    );
    let (_tmp, dir, path) = setup(&old);
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    assert_eq!(t.read_new().expect("read").len(), 3);
    assert_eq!(t.take_reread(), 0, "a first read reads nothing again");
    std::fs::write(&path, "").expect("truncate");
    assert!(t.read_new().expect("read").is_empty());
    assert!(t.take_truncated());
    append(&path, &old);
    append(&path, &format!("{}\n", user("c", "2026-11-22T03:50:32Z")));
    let records = t.read_new().expect("read");
    assert_eq!(user_texts(&records), ["a", "b", "c"]);
    assert_eq!(t.take_reread(), 3, "header, a and b were read before");
    assert!(!t.take_truncated(), "the truncation was told once");
    append(&path, &format!("{}\n", user("d", "2026-11-22T03:50:33Z")));
    t.read_new().expect("read");
    assert_eq!(t.take_reread(), 0, "past the old end, lines are new");
}

#[test]
fn a_parked_tailer_holds_no_file_and_continues_where_it_stopped() {
    let (_tmp, dir, path) = setup(&format!(
        "{HEADER}\n{}\n",
        user("one", "2026-11-22T03:50:30Z")
    ));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    assert_eq!(user_texts(&t.read_new().expect("read")), ["one"]);
    t.park();
    assert!(t.is_parked());
    assert!(t.read_new().is_err(), "a parked tailer is not read");
    append(&path, &format!("{}\n", user("two", "2026-11-22T03:50:31Z")));
    t.unpark(&dir).expect("unpark");
    assert_eq!(user_texts(&t.read_new().expect("read")), ["two"]);
}

#[test]
fn a_deferred_tailer_starts_at_the_end_without_opening_the_file() {
    let (_tmp, dir, path) = setup(&format!(
        "{HEADER}\n{}\n",
        user("history", "2026-11-22T03:50:30Z")
    ));
    let mut t = JsonlTailer::deferred(&dir, "s1.jsonl").expect("deferred");
    assert!(t.is_parked());
    append(
        &path,
        &format!("{}\n", user("news", "2026-11-22T03:50:31Z")),
    );
    t.unpark(&dir).expect("unpark");
    assert!(
        t.resumed(),
        "the end it was deferred at is checked and kept"
    );
    assert_eq!(user_texts(&t.read_new().expect("read")), ["news"]);
    assert!(matches!(
        JsonlTailer::deferred(&dir, "absent.jsonl"),
        Err(TailError::NotFound { .. })
    ));
}

#[test]
fn a_deferred_tailer_of_a_file_without_a_final_newline_reads_it_from_the_start() {
    let (_tmp, dir, _path) = setup(&format!(
        "{HEADER}\n{}",
        user("unfinished", "2026-11-22T03:50:30Z")
    ));
    let mut t = JsonlTailer::deferred(&dir, "s1.jsonl").expect("deferred");
    t.unpark(&dir).expect("unpark");
    assert!(
        !t.resumed(),
        "the end is not a line boundary, as `open` would refuse it"
    );
    assert_eq!(t.offset(), 0);
}

#[test]
fn a_file_that_took_a_parked_tailers_name_is_followed_from_its_start() {
    let (tmp, dir, path) = setup(&format!(
        "{HEADER}\n{}\n",
        user("old", "2026-11-22T03:50:30Z")
    ));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    t.read_new().expect("read");
    t.park();
    std::fs::rename(&path, tmp.path().join("s1.jsonl.reset.x")).expect("rename");
    assert!(t.unpark(&dir).expect_err("gone").is_not_found());
    std::fs::write(
        &path,
        format!("{HEADER}\n{}\n", user("new", "2026-11-22T04:02:56Z")),
    )
    .expect("new file");
    t.unpark(&dir).expect("unpark");
    assert_eq!(user_texts(&t.read_new().expect("read")), ["new"]);
}

#[test]
fn rotation_drains_the_old_file_first() {
    let (tmp, dir, path) = setup(&format!(
        "{HEADER}\n{}\n",
        user("old-1", "2026-11-22T03:50:30Z")
    ));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    assert_eq!(user_texts(&t.read_new().expect("read")), ["old-1"]);
    let old_identity = t.identity();

    // Written after our last read, then the daily reset renames the file away and a new
    // session starts under the same name.
    append(
        &path,
        &format!(
            "{}\n{}",
            user("old-2", "2026-11-22T03:50:31Z"),
            user("old-3", "2026-11-22T03:50:32Z")
        ),
    );
    let reset = tmp.path().join("s1.jsonl.reset.2026-11-22T04-02-55.808Z");
    std::fs::rename(&path, &reset).expect("rename");
    assert!(
        !t.is_replaced(&dir).expect("stat"),
        "a missing name is no replacement"
    );
    std::fs::write(
        &path,
        format!("{HEADER}\n{}\n", user("new-1", "2026-11-22T04:02:56Z")),
    )
    .expect("new file");
    assert!(t.is_replaced(&dir).expect("stat"));

    let drained = t.reopen(&dir, "s1.jsonl").expect("reopen");
    // The old file's unterminated last line is complete JSON, so it is kept too.
    assert_eq!(user_texts(&drained), ["old-2", "old-3"]);
    assert_ne!(t.identity(), old_identity);
    assert_eq!(t.offset(), 0);
    assert!(!t.is_replaced(&dir).expect("stat"));
    let fresh = t.read_new().expect("read");
    assert!(matches!(fresh[0].event, TranscriptEvent::Header { .. }));
    assert_eq!(user_texts(&fresh), ["new-1"]);

    // Reopening the same file is a plain read.
    append(
        &path,
        &format!("{}\n", user("new-2", "2026-11-22T04:02:57Z")),
    );
    assert_eq!(
        user_texts(&t.reopen(&dir, "s1.jsonl").expect("same")),
        ["new-2"]
    );

    // No file at the name: an error the caller waits on, and the tailer is unchanged.
    std::fs::remove_file(&path).expect("rm");
    assert!(t.reopen(&dir, "s1.jsonl").expect_err("gone").is_not_found());
}

#[test]
fn oversized_line_is_skipped() {
    let (_tmp, dir, path) = setup(&format!("{HEADER}\n"));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    t.read_new().expect("read");

    // Arrives in pieces, so the tailer must stop buffering before the newline shows up.
    let huge = format!(
        "{{\"type\":\"message\",\"pad\":\"{}",
        "z".repeat(MAX_LINE_BYTES / 2)
    );
    append(&path, &huge);
    assert!(t.read_new().expect("read").is_empty());
    append(&path, &huge);
    assert!(t.read_new().expect("read").is_empty());
    assert!(
        t.lines.buffer_capacity() <= MAX_LINE_BYTES,
        "not buffering the whole line"
    );
    assert!(t.lines.is_skipping());
    append(
        &path,
        &format!("\"}}\n{}\n", user("after", "2026-11-22T03:50:40Z")),
    );
    assert_eq!(user_texts(&t.read_new().expect("read")), ["after"]);
    assert!(!t.lines.is_skipping());

    // Complete in one write (longer than the limit by one byte).
    let exact = format!("{{\"p\":\"{}\"}}", "z".repeat(MAX_LINE_BYTES - 7));
    assert_eq!(exact.len(), MAX_LINE_BYTES + 1);
    append(
        &path,
        &format!("{exact}\n{}\n", user("after-2", "2026-11-22T03:50:41Z")),
    );
    assert_eq!(user_texts(&t.read_new().expect("read")), ["after-2"]);
    assert_eq!(t.offset(), std::fs::metadata(&path).expect("meta").len());
}

#[test]
fn garbage_lines_are_skipped() {
    let body = format!(
        "{HEADER}\nnot json at all\n[1,2]\n{{\"type\":\"message\",\"message\":{{\"role\":\"user\",\"content\":\"\u{0}\n{}\n\u{feff}\n{}\n",
        user("ok-1", "2026-11-22T03:50:30Z"),
        user("ok-2", "2026-11-22T03:50:31Z")
    );
    let (_tmp, dir, _path) = setup(&body);
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    assert_eq!(user_texts(&t.read_new().expect("read")), ["ok-1", "ok-2"]);
}

#[test]
fn forked_transcript_marks_copied_history() {
    let src = fixture_root().join(
        "2026.7.1/b_thread_reply/sessions/2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl",
    );
    let name = "2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl";
    let tmp = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(&src).expect("fixture");
    std::fs::write(tmp.path().join(name), &bytes).expect("copy");
    let dir = SessionsDir::open(tmp.path()).expect("dir");
    let mut t = JsonlTailer::open(&dir, name, None).expect("open");
    let records = t.read_new().expect("read");

    // Lines 1-10 are the header and the copy; records exist only for the shown entries.
    let lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 15);
    let summary: Vec<(&str, bool)> = records
        .iter()
        .map(|r| {
            let kind = match &r.event {
                TranscriptEvent::Header { .. } => "header",
                TranscriptEvent::User { .. } => "user",
                TranscriptEvent::Assistant { .. } => "assistant",
                TranscriptEvent::ToolResult { .. } => "tool",
                TranscriptEvent::Compaction { .. } => "compaction",
            };
            (kind, r.history)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("header", false),
            ("user", true),
            ("assistant", true),
            ("tool", true),
            ("tool", true),
            ("assistant", true),
            ("user", false),
            ("assistant", false),
            ("tool", false),
            ("assistant", false),
        ]
    );
    assert_eq!(
        user_texts(&records[6..]),
        ["[scen:thread] follow-up in the thread: run an echo"]
    );
    assert!(matches!(
        &records[9].event,
        TranscriptEvent::Assistant { stop: StopReason::Stop, text, .. } if text.starts_with("Thread reply")
    ));

    // Resuming in the middle of the copy still knows it is history (header re-read).
    let eighth_line_start: usize = lines[..7].iter().map(|l| l.len() + 1).sum();
    let at = ResumePoint {
        identity: t.identity(),
        offset: eighth_line_start as u64,
        before: None,
    };
    let mut r = JsonlTailer::open(&dir, name, Some(at)).expect("resume");
    assert!(r.resumed());
    let rest = r.read_new().expect("read");
    let flags: Vec<bool> = rest.iter().map(|r| r.history).collect();
    assert_eq!(flags, [true, true, false, false, false, false]);

    // The channel transcript (no parentSession) has no history at all.
    let channel = fixture_root()
        .join("2026.7.1/b_thread_reply/sessions/378cc088-7929-479b-991c-8aad99f30827.jsonl");
    std::fs::write(
        tmp.path().join("c.jsonl"),
        std::fs::read(channel).expect("fixture"),
    )
    .expect("copy");
    let mut c = JsonlTailer::open(&dir, "c.jsonl", None).expect("open");
    let recs = c.read_new().expect("read");
    assert!(recs.len() > 5 && recs.iter().all(|r| !r.history));
}

#[test]
fn fork_prefix_without_timestamps_and_clock_steps() {
    let header = r#"{"type":"session","id":"f","timestamp":"2026-11-22T03:51:03.547Z","parentSession":"/p.jsonl"}"#;
    let no_ts = r#"{"type":"message","message":{"role":"user","content":"copied, no ts"}}"#;
    let body = format!(
        "{header}\n{}\n{no_ts}\n{}\n{}\n{no_ts}\n",
        user("copied", "2026-11-22T03:50:00Z"),
        user("new", "2026-11-22T03:51:04Z"),
        user("clock stepped back", "2026-11-22T03:40:00Z"),
    );
    let (_tmp, dir, _path) = setup(&body);
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    let flags: Vec<(String, bool)> = t
        .read_new()
        .expect("read")
        .into_iter()
        .filter_map(|r| match r.event {
            TranscriptEvent::User { text, .. } => Some((text, r.history)),
            _ => None,
        })
        .collect();
    assert_eq!(
        flags,
        [
            ("copied".to_owned(), true),
            ("copied, no ts".to_owned(), true),
            ("new".to_owned(), false),
            ("clock stepped back".to_owned(), false),
            ("copied, no ts".to_owned(), false),
        ]
    );
}

#[test]
fn resume_at_an_offset() {
    let body = format!("{HEADER}\n{}\n", user("one", "2026-11-22T03:50:30Z"));
    let (tmp, dir, path) = setup(&body);
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    t.read_new().expect("read");
    let saved = t.resume_point();
    assert_eq!(saved.offset, t.offset());
    drop(t);

    append(&path, &format!("{}\n", user("two", "2026-11-22T03:50:31Z")));
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", Some(saved)).expect("resume");
    assert!(t.resumed());
    assert_eq!(t.offset(), saved.offset);
    assert_eq!(user_texts(&t.read_new().expect("read")), ["two"]);

    // Not at a line boundary, past the end, another file, or other bytes before the
    // offset: start over at 0.
    let other_file = FileIdentity {
        dev: saved.identity.dev,
        ino: saved.identity.ino + 1,
    };
    let other_bytes = Fingerprint {
        hash: saved.before.expect("fingerprint").hash ^ 1,
        ..saved.before.expect("fingerprint")
    };
    for bad in [
        ResumePoint {
            offset: saved.offset - 3,
            before: None,
            ..saved
        },
        ResumePoint {
            offset: 1 << 40,
            ..saved
        },
        ResumePoint {
            identity: other_file,
            ..saved
        },
        ResumePoint {
            before: Some(other_bytes),
            ..saved
        },
    ] {
        let mut t = JsonlTailer::open(&dir, "s1.jsonl", Some(bad)).expect("open");
        assert!(!t.resumed(), "{bad:?}");
        assert_eq!(t.offset(), 0);
        assert_eq!(user_texts(&t.read_new().expect("read")), ["one", "two"]);
    }
    drop(tmp);
}

#[test]
fn limited_reads_report_more() {
    let mut body = format!("{HEADER}\n");
    for i in 0..2000 {
        body.push_str(&user(&format!("m{i}"), "2026-11-22T03:50:30Z"));
        body.push('\n');
    }
    assert!(body.len() > 2 * CHUNK_BYTES);
    let (_tmp, dir, _path) = setup(&body);
    let mut t = JsonlTailer::open(&dir, "s1.jsonl", None).expect("open");
    let (first, more) = t.read_limited(1).expect("read");
    assert!(more);
    assert!(!first.is_empty());
    let mut all = user_texts(&first);
    loop {
        let (recs, more) = t.read_limited(CHUNK_BYTES as u64).expect("read");
        all.extend(user_texts(&recs));
        if !more {
            break;
        }
    }
    assert_eq!(all.len(), 2000);
    assert_eq!(all[1999], "m1999");
}

#[test]
fn refuses_unsafe_files() {
    let (tmp, dir, _path) = setup(&format!("{HEADER}\n"));
    std::os::unix::fs::symlink("s1.jsonl", tmp.path().join("l.jsonl")).expect("symlink");
    assert!(matches!(
        JsonlTailer::open(&dir, "l.jsonl", None),
        Err(TailError::Refused(
            crate::guarded::GuardError::Symlink { .. }
        ))
    ));
    assert!(
        JsonlTailer::open(&dir, "absent.jsonl", None)
            .expect_err("missing")
            .is_not_found()
    );
    assert!(matches!(
        JsonlTailer::open(&dir, "../s1.jsonl", None),
        Err(TailError::BadName { .. })
    ));
}
