//! Tracker rules one at a time, on hand-made input (the fixture replays are in `stories`).

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::session::delta::{BoxModel, BoxOp, BoxState, LineKind};
use crate::session::fixture::session_ref;
use crate::transcript::{StopReason, ToolCall};

const PARENT: &str = "agent:main:mattermost:channel:c1";

fn parent() -> SessionRef {
    session_ref(PARENT, None, None)
}

fn child(uuid: &str, label: Option<&str>) -> SessionRef {
    session_ref(&format!("agent:main:subagent:{uuid}"), Some(PARENT), label)
}

fn grandchild(uuid: &str, of: &SessionRef) -> SessionRef {
    session_ref(
        &format!("agent:main:subagent:{uuid}"),
        Some(&of.id.key),
        Some(uuid),
    )
}

fn rec(event: TranscriptEvent) -> SessionInput {
    SessionInput::Record(TranscriptRecord {
        event,
        history: false,
    })
}

fn user(ts: i64) -> SessionInput {
    rec(TranscriptEvent::User {
        ts_ms: Some(ts),
        text: "hi".into(),
        message_id: None,
    })
}

fn call(id: &str, name: &str, args: serde_json::Value) -> ToolCall {
    ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args,
    }
}

fn assistant(
    ts: i64,
    text: &str,
    calls: Vec<ToolCall>,
    stop: StopReason,
    tokens: u64,
) -> SessionInput {
    rec(TranscriptEvent::Assistant {
        ts_ms: Some(ts),
        text: text.into(),
        tool_calls: calls,
        stop,
        error_message: None,
        total_tokens: Some(tokens),
    })
}

fn result(ts: i64, id: &str, is_error: bool) -> SessionInput {
    rec(TranscriptEvent::ToolResult {
        ts_ms: Some(ts),
        tool_call_id: id.into(),
        tool_name: "exec".into(),
        is_error,
        error_text: None,
    })
}

fn lock(held: bool) -> SessionInput {
    SessionInput::Lock { held }
}

/// A tracker plus what a sink would hold, with the seq contract checked on every delta.
struct Sink {
    t: Tracker,
    boxes: BTreeMap<BoxId, BoxModel>,
    all: Vec<BoxDelta>,
}

impl Sink {
    fn new() -> Sink {
        Sink::with(SessionConfig::default())
    }

    fn with(cfg: SessionConfig) -> Sink {
        Sink {
            t: Tracker::new(cfg),
            boxes: BTreeMap::new(),
            all: Vec::new(),
        }
    }

    fn fold(&mut self, deltas: Vec<BoxDelta>) -> Vec<BoxDelta> {
        let mut seen = Vec::new();
        for d in &deltas {
            assert!(
                !seen.contains(&&d.id),
                "one delta per box per input: {deltas:?}"
            );
            seen.push(&d.id);
            match self.boxes.get_mut(&d.id) {
                Some(m) => m.apply(d).expect("no seq gap"),
                None => {
                    assert_eq!(d.seq, 1);
                    self.boxes
                        .insert(d.id.clone(), BoxModel::open(d).expect("first delta opens"));
                }
            }
        }
        self.all.extend(deltas.clone());
        deltas
    }

    fn on(&mut self, s: &SessionRef, input: SessionInput, at: i64) -> Vec<BoxDelta> {
        let d = self.t.handle(s, input, at);
        self.fold(d)
    }

    fn tick(&mut self, at: i64) -> Vec<BoxDelta> {
        let d = self.t.tick(at);
        self.fold(d)
    }

    fn only(&self) -> &BoxModel {
        let live: Vec<&BoxModel> = self.boxes.values().filter(|m| !m.retracted).collect();
        assert_eq!(live.len(), 1, "{:?}", self.boxes);
        live[0]
    }

    fn texts(&self) -> Vec<String> {
        self.only()
            .lines
            .iter()
            .map(|l| {
                format!(
                    "{}{}{}",
                    "  ".repeat(l.depth.into()),
                    l.text,
                    match l.status {
                        LineStatus::None => "",
                        LineStatus::Ok => " ok",
                        LineStatus::Err => " err",
                    }
                )
            })
            .collect()
    }
}

#[test]
fn one_delta_per_input_with_seq_from_one_without_gaps() {
    let mut s = Sink::new();
    let p = parent();
    let d = s.on(&p, user(1_000), 1_000);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].seq, 1);
    assert!(matches!(
        d[0].ops[0],
        BoxOp::Open {
            started_ms: 1_000,
            ..
        }
    ));
    assert_eq!(d[0].id.turn, 1);

    let d = s.on(
        &p,
        assistant(
            2_000,
            "Looking.",
            vec![call("c1", "exec", json!({"command": "ls"}))],
            StopReason::ToolUse,
            100,
        ),
        2_000,
    );
    assert_eq!(d[0].seq, 2);
    assert_eq!(
        d[0].ops.len(),
        3,
        "text, tool, tokens batched: {:?}",
        d[0].ops
    );
    s.on(&p, result(2_500, "c1", false), 2_500);
    let d = s.on(
        &p,
        assistant(3_000, "Done.", vec![], StopReason::Stop, 150),
        3_000,
    );
    assert_eq!(d[0].seq, 4);
    assert!(matches!(
        d[0].ops.last(),
        Some(BoxOp::Close {
            state: BoxState::Done,
            ended_ms: 3_000,
            error: None
        })
    ));
    assert_eq!(s.texts(), vec!["Looking.", "exec: ls ok", "Done."]);
    assert_eq!(s.only().tokens, 250);
    assert_eq!(s.t.open_boxes(), 0);

    // The next turn is a new box.
    let d = s.on(&p, user(10_000), 10_000);
    assert_eq!((d[0].id.turn, d[0].seq), (2, 1));
}

#[test]
fn stop_reasons_decide_the_outcome() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        rec(TranscriptEvent::Assistant {
            ts_ms: Some(5_000),
            text: String::new(),
            tool_calls: vec![],
            stop: StopReason::Error,
            error_message: Some("429 rate limit\nretry later".into()),
            total_tokens: None,
        }),
        5_000,
    );
    let m = s.only();
    assert_eq!(m.state, BoxState::Error);
    assert_eq!(m.error.as_deref(), Some("429 rate limit retry later"));
    assert!(m.lines.is_empty(), "empty text makes no line");

    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(1_000, "", vec![], StopReason::Aborted, 0),
        1_000,
    );
    assert_eq!(s.only().state, BoxState::Interrupted);

    for stop in [StopReason::ToolUse, StopReason::Other("weird".into())] {
        let mut s = Sink::new();
        s.on(&p, user(0), 0);
        s.on(&p, assistant(1_000, "x", vec![], stop, 0), 1_000);
        assert_eq!(s.only().state, BoxState::Active);
    }

    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(1_000, "partial", vec![], StopReason::Length, 0),
        1_000,
    );
    assert_eq!(s.only().state, BoxState::Done);
}

#[test]
fn text_lines_are_first_line_bounded_and_silent_replies_skipped() {
    let p = parent();
    let mut s = Sink::with(SessionConfig {
        max_text_chars: 10,
        ..SessionConfig::default()
    });
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1,
            "\n  first line that is long  \nsecond",
            vec![],
            StopReason::ToolUse,
            0,
        ),
        1,
    );
    s.on(
        &p,
        assistant(2, "  NO_REPLY \n", vec![], StopReason::ToolUse, 0),
        2,
    );
    s.on(&p, assistant(3, "   ", vec![], StopReason::ToolUse, 0), 3);
    assert_eq!(s.texts(), vec!["first lin…"]);
}

#[test]
fn odd_order_never_panics_and_still_makes_sense() {
    let p = parent();
    let mut s = Sink::new();
    // A result before its call: the call shows its status as soon as it arrives.
    s.on(&p, result(1_000, "c1", true), 1_000);
    s.on(
        &p,
        assistant(
            900,
            "",
            vec![call("c1", "read", json!({"path": "/x"}))],
            StopReason::ToolUse,
            0,
        ),
        1_001,
    );
    assert_eq!(s.texts(), vec!["read: /x err"]);
    // A repeated record (same event, same timestamp) is dropped; so is a repeated call id.
    s.on(
        &p,
        assistant(
            900,
            "",
            vec![call("c1", "read", json!({"path": "/x"}))],
            StopReason::ToolUse,
            0,
        ),
        1_002,
    );
    s.on(
        &p,
        assistant(
            950,
            "",
            vec![call("c1", "read", json!({"path": "/x"}))],
            StopReason::ToolUse,
            0,
        ),
        1_003,
    );
    assert_eq!(s.texts(), vec!["read: /x err"]);
    // A result for a call nobody made, a release without a lock, a reset of nothing.
    s.on(&p, result(1_100, "nope", false), 1_100);
    s.on(&p, lock(false), 1_200);
    s.on(&p, SessionInput::Reset, 1_300);
    assert_eq!(s.only().state, BoxState::Interrupted);
    s.on(&p, SessionInput::Reset, 1_400);
    s.on(&p, SessionInput::Gone, 1_500);
    s.on(&p, SessionInput::Gone, 1_600);
    assert_eq!(s.t.open_boxes(), 0);
}

#[test]
fn a_stop_without_a_start_is_one_whole_box_in_one_delta() {
    let p = parent();
    let mut s = Sink::new();
    let d = s.on(
        &p,
        assistant(
            7_000,
            "The sub-agent finished.",
            vec![],
            StopReason::Stop,
            120,
        ),
        7_000,
    );
    assert_eq!(d.len(), 1);
    let kinds: Vec<&str> = d[0]
        .ops
        .iter()
        .map(|op| match op {
            BoxOp::Open { .. } => "open",
            BoxOp::FirstLine(_) => "first line",
            BoxOp::AddLine(_) => "line",
            BoxOp::Tokens(_) => "tokens",
            BoxOp::Close { .. } => "close",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["open", "first line", "line", "tokens", "close"]);
}

#[test]
fn history_records_change_nothing() {
    let p = parent();
    let mut s = Sink::new();
    let hist = |event| {
        SessionInput::Record(TranscriptRecord {
            event,
            history: true,
        })
    };
    let d = s.on(
        &p,
        hist(TranscriptEvent::User {
            ts_ms: Some(1),
            text: "old".into(),
            message_id: None,
        }),
        1_000,
    );
    assert!(d.is_empty());
    s.on(&p, user(2_000), 2_000);
    let d = s.on(
        &p,
        hist(TranscriptEvent::Assistant {
            ts_ms: Some(2),
            text: "old answer".into(),
            tool_calls: vec![call("h1", "exec", json!({"command": "old"}))],
            stop: StopReason::Stop,
            error_message: None,
            total_tokens: Some(999),
        }),
        2_001,
    );
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(s.only().state, BoxState::Active);
    assert_eq!(s.t.open_boxes(), 1);
}

#[test]
fn lock_only_box_is_retracted_after_the_grace() {
    let p = parent();
    let mut s = Sink::new();
    let d = s.on(&p, lock(true), 0);
    assert!(matches!(d[0].ops[..], [BoxOp::Open { started_ms: 0, .. }]));
    s.on(&p, lock(false), 100);
    // Re-taken within the grace (the gap between 2026.7 model steps): the box stays.
    s.on(&p, lock(true), 150);
    s.on(&p, lock(false), 200);
    assert!(s.tick(2_100).is_empty());
    let d = s.tick(2_200);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].ops, vec![BoxOp::Retract]);
    assert_eq!(d[0].seq, 2);
    assert_eq!(s.t.open_boxes(), 0);
    // The next turn gets a fresh id: sinks have seen the retracted one.
    let d = s.on(&p, user(5_000), 5_000);
    assert_eq!(d[0].id.turn, 2);
}

#[test]
fn lock_held_without_content_waits_then_content_keeps_the_box() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, lock(true), 0);
    // 2026.4's first turn after a start stalls ~2 minutes under the lock.
    assert!(s.tick(120_000).is_empty());
    s.on(&p, user(121_000), 121_000);
    s.on(&p, lock(false), 121_100);
    assert!(s.tick(200_000).is_empty());
    assert_eq!(s.t.open_boxes(), 1);
}

#[test]
fn tail_lock_opens_nothing_unless_it_is_still_held_after_the_window() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(1_000, "ok", vec![], StopReason::Stop, 0),
        1_000,
    );
    for (at, held) in [(1_010, true), (1_020, false), (1_030, true), (1_040, false)] {
        assert!(s.on(&p, lock(held), at).is_empty());
    }
    assert!(s.tick(10_000).is_empty());
    assert_eq!(s.t.open_boxes(), 0);
    // Taken inside the window and held on: a real turn, dated from the lock.
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(1_000, "ok", vec![], StopReason::Stop, 0),
        1_000,
    );
    assert!(s.on(&p, lock(true), 2_000).is_empty());
    assert!(s.tick(3_900).is_empty());
    let d = s.tick(4_000);
    assert_eq!(d.len(), 1);
    assert!(matches!(
        d[0].ops[..],
        [BoxOp::Open {
            started_ms: 2_000,
            ..
        }]
    ));
    assert_eq!(d[0].id.turn, 2);
}

#[test]
fn a_lock_after_the_window_opens_a_box_at_once() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(1_000, "ok", vec![], StopReason::Stop, 0),
        1_000,
    );
    let d = s.on(&p, lock(true), 4_500);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].id.turn, 2);
}

#[test]
fn idle_timeout_closes_interrupted_at_the_last_activity() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(5_000, "working", vec![], StopReason::ToolUse, 0),
        5_000,
    );
    let idle = SessionConfig::default().idle_timeout_ms;
    assert!(s.tick(5_000 + idle - 1).is_empty());
    let d = s.tick(5_000 + idle);
    assert!(matches!(
        d[0].ops[..],
        [BoxOp::Close {
            state: BoxState::Interrupted,
            ended_ms: 5_000,
            ..
        }]
    ));
    // The turn goes on after all: a new box.
    let d = s.on(
        &p,
        assistant(idle + 9_000, "still here", vec![], StopReason::Stop, 0),
        idle + 9_000,
    );
    assert_eq!(d[0].id.turn, 2);
}

#[test]
fn idle_lock_only_box_is_retracted_not_closed() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, lock(true), 0);
    let d = s.tick(SessionConfig::default().idle_timeout_ms);
    assert_eq!(d[0].ops, vec![BoxOp::Retract]);
}

#[test]
fn max_duration_closes_even_a_busy_box() {
    let p = parent();
    let mut s = Sink::with(SessionConfig {
        max_duration_ms: 10_000,
        ..SessionConfig::default()
    });
    s.on(&p, user(0), 0);
    for at in (1_000..10_000).step_by(1_000) {
        s.on(
            &p,
            assistant(
                at,
                "",
                vec![call(&format!("c{at}"), "exec", json!({}))],
                StopReason::ToolUse,
                1,
            ),
            at,
        );
    }
    let d = s.on(
        &p,
        assistant(10_500, "late", vec![], StopReason::ToolUse, 1),
        10_500,
    );
    assert_eq!(
        d.len(),
        2,
        "old box closed, new box opened, same input: {d:?}"
    );
    assert!(matches!(
        d[0].ops[..],
        [BoxOp::Close {
            state: BoxState::Interrupted,
            ended_ms: 10_500,
            ..
        }]
    ));
    assert_eq!(d[1].id.turn, 2);
}

#[test]
fn reset_interrupts_the_turn_and_the_next_one_proceeds() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(1_000, "a", vec![], StopReason::ToolUse, 0),
        1_000,
    );
    let d = s.on(&p, SessionInput::Reset, 2_000);
    assert!(matches!(
        d[0].ops[..],
        [BoxOp::Close {
            state: BoxState::Interrupted,
            ended_ms: 2_000,
            ..
        }]
    ));
    // The new transcript's first lock is not mistaken for a tail lock.
    let d = s.on(&p, lock(true), 2_100);
    assert_eq!(d[0].id.turn, 2);
}

#[test]
fn shutdown_interrupts_every_open_box() {
    let mut s = Sink::new();
    let a = parent();
    let b = session_ref("agent:main:main", None, None);
    s.on(&a, user(0), 0);
    s.on(&b, lock(true), 0);
    assert_eq!(s.t.open_boxes(), 2);
    let d = s.t.shutdown(9_000);
    let d = s.fold(d);
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| matches!(
        d.ops[..],
        [BoxOp::Close {
            state: BoxState::Interrupted,
            ended_ms: 9_000,
            ..
        }]
    )));
    assert_eq!(s.t.open_boxes(), 0);
    assert!(s.t.tick(100_000).is_empty());
}

fn spawn_call(id: &str, label: &str) -> ToolCall {
    call(
        id,
        "sessions_spawn",
        json!({"task": "do it", "label": label, "mode": "run"}),
    )
}

#[test]
fn child_lines_nest_under_the_spawn_and_its_tokens_count() {
    let p = parent();
    let c = child("u1", Some("count-notes"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "count-notes")],
            StopReason::ToolUse,
            100,
        ),
        1_000,
    );
    s.on(&p, result(1_100, "s1", false), 1_100);
    assert!(
        s.on(&c, lock(true), 1_200).is_empty(),
        "a child never opens a box"
    );
    s.on(&c, user(1_300), 1_300);
    s.on(
        &c,
        assistant(
            2_000,
            "",
            vec![call("k1", "exec", json!({"command": "wc -l"}))],
            StopReason::ToolUse,
            50,
        ),
        2_000,
    );
    s.on(&c, result(2_100, "k1", false), 2_100);
    s.on(
        &c,
        assistant(30_000, "SUBRESULT 2", vec![], StopReason::Stop, 50),
        30_000,
    );
    assert!(s.on(&c, lock(true), 30_010).is_empty(), "child tail lock");
    s.on(
        &p,
        assistant(31_000, "Started it.", vec![], StopReason::Stop, 100),
        31_000,
    );
    assert_eq!(
        s.texts(),
        vec![
            "Sub-agent: count-notes ok",
            "  exec: wc -l ok",
            "  SUBRESULT 2",
            "  [DONE] 28s ok",
            "Started it.",
        ]
    );
    assert_eq!(s.only().tokens, 300);
    assert_eq!(s.only().state, BoxState::Done);
    assert!(s.boxes.keys().all(|id| id.session == p.id));
}

#[test]
fn parent_close_waits_for_its_running_child() {
    let p = parent();
    let c = child("u1", Some("slow"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "slow")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    s.on(&c, user(1_500), 1_500);
    let d = s.on(
        &p,
        assistant(2_000, "Started.", vec![], StopReason::Stop, 0),
        2_000,
    );
    assert!(
        !d[0].ops.iter().any(|op| matches!(op, BoxOp::Close { .. })),
        "deferred"
    );
    assert_eq!(s.t.open_boxes(), 1);
    assert!(s.tick(20_000).is_empty());
    let d = s.on(
        &c,
        assistant(60_000, "done", vec![], StopReason::Stop, 0),
        60_000,
    );
    assert_eq!(d.len(), 1, "end line and close in one delta");
    assert!(matches!(
        d[0].ops.last(),
        Some(BoxOp::Close {
            state: BoxState::Done,
            ended_ms: 60_000,
            ..
        })
    ));
    assert_eq!(
        s.texts().last().map(String::as_str),
        Some("  [DONE] 58s ok")
    );
}

#[test]
fn a_stuck_child_is_cut_off_by_the_idle_timeout() {
    let p = parent();
    let c = child("u1", Some("stuck"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "stuck")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    s.on(&c, user(1_500), 1_500);
    s.on(
        &p,
        assistant(2_000, "Started.", vec![], StopReason::Stop, 0),
        2_000,
    );
    let idle = SessionConfig::default().idle_timeout_ms;
    s.tick(2_000 + idle);
    let m = s.only();
    assert_eq!(m.state, BoxState::Done, "the parent's own outcome");
    assert_eq!(m.ended_ms, Some(2_000));
    assert!(
        s.texts().iter().any(|l| l.starts_with("  [INTERRUPTED]")),
        "{:?}",
        s.texts()
    );
}

#[test]
fn a_spawn_whose_child_never_shows_up_holds_the_close_for_the_grace_only() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "ghost")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    s.on(
        &p,
        assistant(2_000, "Started.", vec![], StopReason::Stop, 0),
        2_000,
    );
    // Counted from the parent's end (2 000), not from the spawn line (1 000).
    let grace = SessionConfig::default().child_start_grace_ms;
    assert!(s.tick(2_000 + grace - 1).is_empty());
    let d = s.tick(2_000 + grace);
    assert!(matches!(
        d[0].ops[..],
        [BoxOp::Close {
            state: BoxState::Done,
            ended_ms: 2_000,
            ..
        }]
    ));

    // A failed spawn holds nothing.
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "ghost")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    s.on(&p, result(1_100, "s1", true), 1_100);
    s.on(
        &p,
        assistant(2_000, "Could not.", vec![], StopReason::Stop, 0),
        2_000,
    );
    assert_eq!(s.only().state, BoxState::Done);
    assert_eq!(s.texts()[0], "Sub-agent: ghost err");
}

#[test]
fn a_child_that_starts_long_after_its_spawn_but_soon_after_the_parents_end_is_nested() {
    // 2026.4.27 (make compat): spawn at 03:48:08, the parent's answer at 03:48:43, the child's
    // first line at 03:48:51. Its lines belong in the box, as they were when it started sooner.
    let p = parent();
    let c = child("u1", Some("count-notes"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "count-notes")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    s.on(
        &p,
        assistant(36_000, "Started.", vec![], StopReason::Stop, 0),
        36_000,
    );
    assert!(s.tick(44_000).is_empty(), "still waiting for the child");
    s.on(&c, user(44_000), 44_000);
    s.on(
        &c,
        assistant(46_000, "SUBRESULT-OK", vec![], StopReason::Stop, 0),
        46_000,
    );
    let m = s.only();
    assert_eq!(m.state, BoxState::Done);
    assert!(
        s.texts().iter().any(|l| l.contains("SUBRESULT-OK")),
        "{:?}",
        s.texts()
    );
}

#[test]
fn tool_call_wrapper_spawns_like_sessions_spawn() {
    // 2026.9 reaches sessions_spawn through the tool-search surface.
    let p = parent();
    let c = child("u1", Some("count-notes"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    let wrapped = call(
        "w1",
        "tool_call",
        json!({"id": "sessions_spawn", "args": {"task": "t", "label": "count-notes"}}),
    );
    s.on(
        &p,
        assistant(1_000, "", vec![wrapped], StopReason::ToolUse, 0),
        1_000,
    );
    s.on(&c, user(1_500), 1_500);
    s.on(
        &c,
        assistant(2_000, "ok", vec![], StopReason::Stop, 0),
        2_000,
    );
    assert_eq!(s.only().lines[0].kind, LineKind::SubAgent);
    assert_eq!(
        s.texts(),
        vec!["Sub-agent: count-notes", "  ok", "  [DONE] 0s ok"]
    );
}

#[test]
fn children_match_spawns_by_label_and_get_a_heading_when_there_is_none() {
    let p = parent();
    let a = child("ua", Some("alpha"));
    let b = child("ub", Some("beta"));
    let x = child("ux", Some("extra"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "alpha"), spawn_call("s2", "beta")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    // beta starts first but still lands under its own spawn line.
    s.on(
        &b,
        assistant(2_000, "from beta", vec![], StopReason::ToolUse, 0),
        2_000,
    );
    s.on(
        &a,
        assistant(2_100, "from alpha", vec![], StopReason::ToolUse, 0),
        2_100,
    );
    s.on(
        &x,
        assistant(2_200, "from extra", vec![], StopReason::ToolUse, 0),
        2_200,
    );
    let m = s.only();
    let depth_of = |text: &str| m.lines.iter().find(|l| l.text == text).map(|l| l.depth);
    assert_eq!(depth_of("from beta"), Some(1));
    assert_eq!(depth_of("from alpha"), Some(1));
    assert_eq!(
        s.texts(),
        vec![
            "Sub-agent: alpha",
            "Sub-agent: beta",
            "  from beta",
            "  from alpha",
            "Sub-agent: extra",
            "  from extra",
        ]
    );
}

#[test]
fn grandchildren_nest_one_level_deeper() {
    let p = parent();
    let c = child("u1", Some("planner"));
    let g = grandchild("g1", &c);
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "planner")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    s.on(&c, user(1_100), 1_100);
    s.on(
        &c,
        assistant(
            1_200,
            "",
            vec![spawn_call("s2", "g1")],
            StopReason::ToolUse,
            0,
        ),
        1_200,
    );
    s.on(&g, user(1_300), 1_300);
    s.on(
        &g,
        assistant(
            1_400,
            "",
            vec![call("k", "read", json!({"path": "/p"}))],
            StopReason::ToolUse,
            0,
        ),
        1_400,
    );
    s.on(&g, result(1_500, "k", false), 1_500);
    s.on(
        &g,
        assistant(5_400, "deep", vec![], StopReason::Stop, 0),
        5_400,
    );
    s.on(
        &c,
        assistant(6_000, "mid", vec![], StopReason::Stop, 0),
        6_000,
    );
    s.on(
        &p,
        assistant(7_000, "top", vec![], StopReason::Stop, 0),
        7_000,
    );
    assert_eq!(
        s.texts(),
        vec![
            "Sub-agent: planner",
            "  Sub-agent: g1",
            "    read: /p ok",
            "    deep",
            "    [DONE] 4s ok",
            "  mid",
            "  [DONE] 4s ok",
            "top",
        ]
    );
    assert_eq!(s.only().state, BoxState::Done);
}

#[test]
fn a_child_of_an_unknown_parent_shows_nowhere() {
    let orphan = session_ref(
        "agent:main:subagent:o",
        Some("agent:main:nobody"),
        Some("o"),
    );
    let mut s = Sink::new();
    assert!(s.on(&orphan, user(0), 0).is_empty());
    assert!(
        s.on(&orphan, assistant(1, "x", vec![], StopReason::Stop, 5), 1)
            .is_empty()
    );
    assert_eq!(s.t.open_boxes(), 0);
}

#[test]
fn gone_parent_closes_its_waiting_box_with_its_own_outcome() {
    let p = parent();
    let c = child("u1", Some("slow"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "slow")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    s.on(&c, user(1_500), 1_500);
    s.on(
        &p,
        assistant(2_000, "Started.", vec![], StopReason::Stop, 0),
        2_000,
    );
    s.on(&p, SessionInput::Gone, 3_000);
    assert_eq!(s.only().state, BoxState::Done);
    assert_eq!(s.t.open_boxes(), 0);
}

#[test]
fn catch_up_of_finished_or_stale_history_shows_nothing_live() {
    // What a live view shows: everything but the restored snapshot of a turn already over.
    let live = |d: Vec<BoxDelta>| -> Vec<BoxDelta> {
        d.into_iter()
            .filter(|d| {
                !(d.ops.contains(&BoxOp::Restored)
                    && d.ops.iter().any(|o| matches!(o, BoxOp::Close { .. })))
            })
            .collect()
    };
    let p = parent();
    let records = |stop| {
        vec![
            TranscriptRecord {
                event: TranscriptEvent::User {
                    ts_ms: Some(0),
                    text: "hi".into(),
                    message_id: None,
                },
                history: false,
            },
            TranscriptRecord {
                event: TranscriptEvent::Assistant {
                    ts_ms: Some(1_000),
                    text: "a".into(),
                    tool_calls: vec![],
                    stop,
                    error_message: None,
                    total_tokens: Some(5),
                },
                history: false,
            },
        ]
    };
    let mut t = Tracker::new(SessionConfig::default());
    let d = t.catch_up(&p, records(StopReason::Stop), false, 60_000);
    // The last turn comes back once, restored and closed, for sinks that finish old posts.
    assert_eq!(d.len(), 1);
    assert!(matches!(
        d[0].ops[..2],
        [BoxOp::Open { .. }, BoxOp::Restored]
    ));
    assert!(matches!(
        d[0].ops.last(),
        Some(BoxOp::Close {
            state: BoxState::Done,
            ..
        })
    ));
    assert!(live(d).is_empty());
    assert_eq!(t.open_boxes(), 0);

    let idle = SessionConfig::default().idle_timeout_ms;
    let mut t = Tracker::new(SessionConfig::default());
    assert!(live(t.catch_up(&p, records(StopReason::ToolUse), false, 1_000 + idle)).is_empty());
    assert_eq!(t.open_boxes(), 0);

    // Lock held: the stale-looking turn is alive after all.
    let mut t = Tracker::new(SessionConfig::default());
    let d = live(t.catch_up(&p, records(StopReason::ToolUse), true, 1_000 + idle));
    assert_eq!(d.len(), 1);
    assert!(d[0].ops.contains(&BoxOp::Restored));
    assert_eq!(t.open_boxes(), 1);

    // Finished turn, lock held well after it: a new turn has begun, shown as an empty box.
    let mut t = Tracker::new(SessionConfig::default());
    let d = live(t.catch_up(&p, records(StopReason::Stop), true, 60_000));
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].id.turn, 2);
    assert!(matches!(
        d[0].ops[..],
        [
            BoxOp::Open {
                started_ms: 60_000,
                ..
            },
            BoxOp::Restored
        ]
    ));

    // Finished turn, lock held right after it: bookkeeping.
    let mut t = Tracker::new(SessionConfig::default());
    assert!(live(t.catch_up(&p, records(StopReason::Stop), true, 1_500)).is_empty());
}

#[test]
fn catch_up_mid_turn_sends_one_open_delta_then_live_deltas_continue() {
    let p = parent();
    let mut s = Sink::new();
    let records = vec![
        TranscriptRecord {
            event: TranscriptEvent::User {
                ts_ms: Some(0),
                text: "hi".into(),
                message_id: None,
            },
            history: false,
        },
        TranscriptRecord {
            event: TranscriptEvent::Assistant {
                ts_ms: Some(1_000),
                text: "Checking.".into(),
                tool_calls: vec![call("c1", "exec", json!({"command": "ls"}))],
                stop: StopReason::ToolUse,
                error_message: None,
                total_tokens: Some(70),
            },
            history: false,
        },
    ];
    let d = s.t.catch_up(&p, records, false, 5_000);
    let d = s.fold(d);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].seq, 1);
    assert!(matches!(d[0].ops[0], BoxOp::Open { started_ms: 0, .. }));
    assert_eq!(s.texts(), vec!["Checking.", "exec: ls"]);
    assert_eq!(s.only().tokens, 70);
    let d = s.on(&p, result(5_100, "c1", false), 5_100);
    assert_eq!(d[0].seq, 2);
    assert_eq!(s.texts(), vec!["Checking.", "exec: ls ok"]);
}

#[test]
fn catch_up_snapshot_keeps_line_indexes_right_past_the_model_cap() {
    let p = parent();
    let mut s = Sink::new();
    let n = crate::session::delta::MODEL_LINE_CAP + 5;
    let mut records = vec![TranscriptRecord {
        event: TranscriptEvent::User {
            ts_ms: Some(0),
            text: "hi".into(),
            message_id: None,
        },
        history: false,
    }];
    for i in 0..n {
        records.push(TranscriptRecord {
            event: TranscriptEvent::Assistant {
                ts_ms: Some(i as i64 + 1),
                text: String::new(),
                tool_calls: vec![call(
                    &format!("c{i}"),
                    "exec",
                    json!({"command": format!("step {i}")}),
                )],
                stop: StopReason::ToolUse,
                error_message: None,
                total_tokens: None,
            },
            history: false,
        });
    }
    let d = s.t.catch_up(&p, records, false, 10_000);
    s.fold(d);
    let last = format!("c{}", n - 1);
    s.on(&p, result(10_001, &last, true), 10_001);
    let m = s.only();
    assert_eq!(
        m.lines.back().map(|l| (l.text.as_str(), l.status)),
        Some((&*format!("exec: step {}", n - 1), LineStatus::Err))
    );
    s.on(
        &p,
        assistant(
            10_002,
            "",
            vec![call("new", "exec", json!({"command": "new"}))],
            StopReason::ToolUse,
            0,
        ),
        10_002,
    );
    s.on(&p, result(10_003, "new", false), 10_003);
    let m = s.only();
    assert_eq!(
        m.lines.back().map(|l| (l.text.as_str(), l.status)),
        Some(("exec: new", LineStatus::Ok))
    );
}

#[test]
fn a_session_that_comes_back_after_gone_never_reuses_a_box_id() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(&p, SessionInput::Gone, 1_000);
    let d = s.on(&p, user(2_000), 2_000);
    assert_eq!(d[0].id.turn, 2);
}

#[test]
fn a_late_child_finds_the_box_holding_its_spawn_line() {
    let p = parent();
    let c = child("u1", Some("late"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "late")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    s.on(
        &p,
        assistant(2_000, "Started.", vec![], StopReason::Stop, 0),
        2_000,
    );
    // The parent's next turn begins before the child shows up.
    s.on(&p, user(10_000), 10_000);
    s.on(
        &c,
        assistant(12_000, "late work", vec![], StopReason::Stop, 0),
        12_000,
    );
    let first = BoxId {
        session: p.id.clone(),
        turn: 1,
    };
    let m = &s.boxes[&first];
    assert_eq!(m.state, BoxState::Done);
    assert_eq!(m.ended_ms, Some(12_000));
    let texts: Vec<&str> = m.lines.iter().map(|l| l.text.as_str()).collect();
    // Lines are append-only: the child's come after the parent's reply; depth shows nesting.
    assert_eq!(
        texts,
        vec!["Sub-agent: late", "Started.", "late work", "[DONE] 0s"]
    );
    assert_eq!(m.lines[2].depth, 1);
    let second = BoxId {
        session: p.id.clone(),
        turn: 2,
    };
    assert!(s.boxes[&second].lines.is_empty());
}

#[test]
fn a_session_learned_late_to_be_a_child_moves_into_its_parents_box() {
    let p = parent();
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "late-ref")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    // The store has not named the parent yet when the child's lock appears.
    let unknown = session_ref("agent:main:subagent:u9", None, None);
    let d = s.on(&unknown, lock(true), 1_100);
    assert_eq!(d.len(), 1, "looks like a top-level turn for now");
    let known = child("u9", Some("late-ref"));
    let d = s.on(&known, user(1_200), 1_200);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].ops, vec![BoxOp::Retract]);
    s.on(
        &known,
        assistant(1_300, "child says", vec![], StopReason::Stop, 0),
        1_300,
    );
    assert_eq!(
        s.texts(),
        vec!["Sub-agent: late-ref", "  child says", "  [DONE] 0s ok"]
    );
}

#[test]
fn a_childs_catch_up_adds_to_the_parents_box_with_ordinary_deltas() {
    let p = parent();
    let c = child("u1", Some("count-notes"));
    let mut s = Sink::new();
    s.on(&p, user(0), 0);
    s.on(
        &p,
        assistant(
            1_000,
            "",
            vec![spawn_call("s1", "count-notes")],
            StopReason::ToolUse,
            0,
        ),
        1_000,
    );
    let plain = |event| TranscriptRecord {
        event,
        history: false,
    };
    let records = vec![
        // A turn from before the parent's box: it belongs to no box shown now.
        plain(TranscriptEvent::User {
            ts_ms: Some(-50_000),
            text: "old task".into(),
            message_id: None,
        }),
        plain(TranscriptEvent::Assistant {
            ts_ms: Some(-49_000),
            text: "old answer".into(),
            tool_calls: vec![],
            stop: StopReason::Stop,
            error_message: None,
            total_tokens: Some(1),
        }),
        plain(TranscriptEvent::User {
            ts_ms: Some(1_500),
            text: "task".into(),
            message_id: None,
        }),
        plain(TranscriptEvent::Assistant {
            ts_ms: Some(2_000),
            text: "counting".into(),
            tool_calls: vec![],
            stop: StopReason::ToolUse,
            error_message: None,
            total_tokens: Some(10),
        }),
    ];
    let d = s.t.catch_up(&c, records, false, 3_000);
    let d = s.fold(d);
    assert!(!d.is_empty());
    assert!(d.iter().all(|d| d.id.session == p.id && d.seq > 2));
    assert_eq!(s.texts(), vec!["Sub-agent: count-notes", "  counting"]);
    assert_eq!(s.only().tokens, 10);
}

/// After a restart the agent's sessions are caught up together: the sub-agent of
/// `2026.7.1/e_subagent` wrote its lines before its parent's final answer, and the rebuilt box
/// shows them there, nested, as the live run did (caught up one session after the other, the
/// parent's box closed before the child's lines came and they were lost).
#[test]
fn a_restart_rebuilds_a_sub_agents_lines_inside_the_box_that_spawned_it() {
    let dir = crate::session::fixture::scenario_dir("2026.7.1", "e_subagent").join("sessions");
    let store: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("sessions.json")).expect("sessions.json"),
    )
    .expect("json");
    let mut all = Vec::new();
    let mut end = 0;
    for (key, entry) in store.as_object().expect("object") {
        let file = entry["sessionFile"].as_str().expect("sessionFile");
        let name = file.rsplit('/').next().expect("name");
        let records: Vec<TranscriptRecord> =
            crate::session::fixture::load_transcript(&dir.join(name))
                .into_iter()
                .map(|(at, rec)| {
                    end = end.max(at);
                    rec
                })
                .collect();
        all.push(CatchUp {
            session: session_ref(
                key,
                entry.get("spawnedBy").and_then(|v| v.as_str()),
                entry.get("label").and_then(|v| v.as_str()),
            ),
            records,
            lock_held: false,
        });
    }
    let mut t = Tracker::new(SessionConfig::default());
    let deltas = t.catch_up_all(all, end + 1_000);
    let spawner = deltas
        .iter()
        .filter_map(|d| BoxModel::open(d).ok())
        .find(|m| m.lines.iter().any(|l| l.kind == LineKind::SubAgent))
        .expect("the spawning turn is handed on");
    let texts: Vec<(u8, &str)> = spawner
        .lines
        .iter()
        .map(|l| (l.depth, l.text.as_str()))
        .collect();
    let child = texts
        .iter()
        .position(|(d, t)| *d == 1 && t.contains("wc -l"))
        .unwrap_or_else(|| panic!("the child's tool call is in the box: {texts:#?}"));
    let answer = texts
        .iter()
        .position(|(d, t)| *d == 0 && t.starts_with("I started a sub-agent"))
        .unwrap_or_else(|| panic!("the parent's answer is in the box: {texts:#?}"));
    assert!(child < answer, "{texts:#?}");
    assert!(spawner.first_line_ms.is_some());
}

#[test]
fn durations_count_from_the_first_transcript_line_as_replay_does() {
    // make compat, 2026.7.1: the lock 2 s before the only line of an announcement turn showed
    // `[DONE] 2s` live and `[DONE] 0s` in replay; a sub-agent attached on its lock, 1 s early.
    let p = parent();
    let c = child("u1", Some("count-notes"));
    let mut s = Sink::new();
    s.on(&p, lock(true), 0);
    s.on(&p, user(2_000), 2_100);
    s.on(
        &p,
        assistant(
            3_000,
            "",
            vec![spawn_call("s1", "count-notes")],
            StopReason::ToolUse,
            0,
        ),
        3_000,
    );
    s.on(&c, lock(true), 3_500);
    s.on(&c, user(4_500), 4_600);
    s.on(
        &c,
        assistant(5_500, "SUBRESULT-OK", vec![], StopReason::Stop, 0),
        5_500,
    );
    s.on(
        &p,
        assistant(7_000, "Done.", vec![], StopReason::Stop, 0),
        7_000,
    );
    let m = s.only();
    assert_eq!(m.state, BoxState::Done);
    assert_eq!(m.started_ms, 0, "the box opened on the lock");
    assert_eq!(
        m.counted_from(),
        2_000,
        "its duration counts from the first line"
    );
    assert!(
        s.texts()
            .iter()
            .any(|l| l.trim_start().starts_with("[DONE] 1s ")),
        "the child's own line counts from its first line (4.5 s → 5.5 s): {:?}",
        s.texts()
    );
}

#[test]
fn a_turn_seen_late_ends_at_its_stop_line_as_in_replay() {
    // The `poll` tier sees each line up to a period after it was written; the box must read
    // as `replay` reads the same lines (which has only their times).
    let p = parent();
    let late = 900;
    let mut live = Sink::new();
    let mut replay = Sink::new();
    let lines = [
        (1_000, user(1_000)),
        (
            2_000,
            assistant(
                2_000,
                "",
                vec![call("t1", "exec", json!({"command": "ls"}))],
                StopReason::ToolUse,
                0,
            ),
        ),
        (2_500, result(2_500, "t1", false)),
        (
            4_200,
            assistant(4_200, "Done.", vec![], StopReason::Stop, 10),
        ),
    ];
    for (ts, input) in lines {
        live.on(&p, input.clone(), ts + late);
        replay.on(&p, input, ts);
    }
    let (l, r) = (live.only(), replay.only());
    assert_eq!(l.ended_ms, Some(4_200), "ended at the stop line's time");
    assert_eq!(l.ended_ms, r.ended_ms);
    assert_eq!(l.counted_from(), r.counted_from());
    assert_eq!(live.texts(), replay.texts());
}

#[test]
fn a_heartbeat_turn_gets_no_box_and_the_next_turn_does() {
    let p = parent();
    let mut s = Sink::new();
    let d = s.on(&p, lock(true), 0);
    assert!(matches!(d[0].ops[..], [BoxOp::Open { .. }]), "{d:?}");
    let heartbeat = rec(TranscriptEvent::User {
        ts_ms: Some(10),
        text: HEARTBEAT_POLL.into(),
        message_id: None,
    });
    let d = s.on(&p, heartbeat, 10);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].ops.last(), Some(&BoxOp::Retract), "{d:?}");
    let d = s.on(
        &p,
        assistant(20, "HEARTBEAT_OK", vec![], StopReason::Stop, 5),
        20,
    );
    assert!(d.is_empty(), "nothing of the heartbeat is shown: {d:?}");
    s.on(&p, lock(false), 30);
    assert!(s.tick(10_000).is_empty());
    assert!(s.boxes.values().all(|m| m.retracted));

    s.on(&p, lock(true), 20_000);
    s.on(&p, user(20_010), 20_010);
    s.on(
        &p,
        assistant(20_020, "hello", vec![], StopReason::Stop, 5),
        20_020,
    );
    let shown = s.only();
    assert_eq!(shown.id.turn, 2);
    assert_eq!(shown.state, BoxState::Done);
    assert_eq!(s.texts(), vec!["hello".to_string()]);
}
