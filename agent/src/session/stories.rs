//! Tracker stories replayed from the real OpenClaw recordings: locks in `fs-events.log` order,
//! transcript entries at their timestamps, and the daemon's tick every 250 ms in between. Every
//! delta is folded through `BoxModel`, so a `seq` gap fails the story too.

use std::collections::BTreeMap;

use super::delta::{BoxDelta, BoxId, BoxModel, BoxOp, BoxState, LineKind, LineStatus};
use super::fixture::{Replay, replay, run_ms};
use super::tracker::{SessionConfig, Tracker};
use crate::render::{RenderOptions, render_text};

const TICK_MS: i64 = 250;

struct Run {
    tracker: Tracker,
    deltas: Vec<BoxDelta>,
    boxes: BTreeMap<BoxId, BoxModel>,
    /// Deltas the catch-up at the start produced.
    catch_up: Vec<BoxDelta>,
}

impl Run {
    fn fold(&mut self, deltas: Vec<BoxDelta>) {
        for d in deltas {
            if is_restored_closed(&d) {
                continue;
            }
            match self.boxes.get_mut(&d.id) {
                Some(m) => m.apply(&d).expect("deltas arrive in seq order"),
                None => {
                    self.boxes
                        .insert(d.id.clone(), BoxModel::open(&d).expect("first delta opens"));
                }
            }
            self.deltas.push(d);
        }
    }

    fn models(&self) -> Vec<&BoxModel> {
        self.boxes.values().filter(|m| !m.retracted).collect()
    }

    fn texts(m: &BoxModel) -> Vec<(u8, LineKind, String, LineStatus)> {
        m.lines
            .iter()
            .map(|l| (l.depth, l.kind, l.text.clone(), l.status))
            .collect()
    }
}

/// A turn over before the run began comes back restored and closed; a live view (which these
/// stories are) skips it.
fn is_restored_closed(d: &BoxDelta) -> bool {
    d.is_restored_history()
}

/// Replays until `stop_ms` (inclusive), or the whole scenario plus a minute of ticks.
fn play(r: Replay, stop_ms: Option<i64>) -> Run {
    let mut run = Run {
        tracker: Tracker::new(SessionConfig::default()),
        deltas: Vec::new(),
        boxes: BTreeMap::new(),
        catch_up: Vec::new(),
    };
    for (sref, records) in r.before {
        let d: Vec<BoxDelta> = run
            .tracker
            .catch_up(&sref, records, false, r.start_ms)
            .into_iter()
            .filter(|d| !is_restored_closed(d))
            .collect();
        run.catch_up.extend(d.clone());
        run.fold(d);
    }
    let mut clock = r.start_ms;
    for (at, sref, input) in r.live {
        if stop_ms.is_some_and(|s| at > s) {
            return run;
        }
        while clock + TICK_MS < at {
            clock += TICK_MS;
            let d = run.tracker.tick(clock);
            run.fold(d);
        }
        clock = clock.max(at);
        let d = run.tracker.handle(&sref, input, at);
        run.fold(d);
    }
    if stop_ms.is_none() {
        let end = r.end_ms + 60_000;
        while clock < end {
            clock += TICK_MS;
            let d = run.tracker.tick(clock);
            run.fold(d);
        }
    }
    run
}

#[test]
fn channel_turn_with_read_and_exec_shows_both_tools_ok_and_240_tokens() {
    let run = play(replay("2026.7.1", "a_channel_tools"), None);
    let models = run.models();
    assert_eq!(models.len(), 1, "one turn, one box");
    let m = models[0];
    assert_eq!(
        m.session_key,
        "agent:main:mattermost:channel:ch4town5quare00000000000ab"
    );
    assert_eq!(
        Run::texts(m),
        vec![
            (0, LineKind::Text, "Let me check the notes folder.".into(), LineStatus::None),
            (0, LineKind::Tool, "read: /home/alice/notes/hello.txt".into(), LineStatus::Ok),
            (0, LineKind::Tool, "exec: ls -la /home/alice/notes".into(), LineStatus::Ok),
            (
                0,
                LineKind::Text,
                "I read hello.txt and listed the notes folder. The file says hello and the folder has two files.".into(),
                LineStatus::None
            ),
        ]
    );
    assert_eq!(m.tokens, 240);
    assert_eq!(m.state, BoxState::Done);
    // The box appears with the first lock (session init), not with the first transcript write.
    assert_eq!(m.started_ms, run_ms("03:50:29.381887"));
    assert_eq!(m.ended_ms, Some(run_ms("03:50:38.631")));
    let text = render_text(m, 0, &RenderOptions::default());
    assert_eq!(text.matches(" [OK]").count(), 2, "{text}");
    assert!(text.ends_with("[DONE] 9s | 240 tokens"), "{text}");
    assert_eq!(run.tracker.open_boxes(), 0);
}

#[test]
fn lock_released_between_model_steps_does_not_close_the_box() {
    // 03:50:33.058 is the release after the first model step; the next step re-takes the lock
    // 60 ms later.
    let mut run = play(
        replay("2026.7.1", "a_channel_tools"),
        Some(run_ms("03:50:33.058815")),
    );
    assert_eq!(run.tracker.open_boxes(), 1);
    assert!(
        !run.deltas
            .iter()
            .flat_map(|d| &d.ops)
            .any(|op| matches!(op, BoxOp::Close { .. } | BoxOp::Retract))
    );
    // Even if the next lock never came, a box with transcript content is not retracted; only
    // the idle timeout could end it.
    let later = run.tracker.tick(run_ms("03:50:43"));
    assert!(later.is_empty(), "{later:?}");
    run.fold(later);
    assert_eq!(run.tracker.open_boxes(), 1);
}

#[test]
fn locks_right_after_the_turn_ended_open_no_box() {
    // 2026.7 takes the lock three more times within 50 ms of the final message.
    let run = play(replay("2026.7.1", "a_channel_tools"), None);
    let ids: std::collections::BTreeSet<&BoxId> = run.deltas.iter().map(|d| &d.id).collect();
    assert_eq!(
        ids.len(),
        1,
        "no box for the bookkeeping locks, not even a retracted one"
    );
}

#[test]
fn tool_error_in_2026_7_shows_err() {
    let run = play(replay("2026.7.1", "d_tool_error"), None);
    assert!(
        run.catch_up.is_empty(),
        "finished turns from earlier runs show nothing"
    );
    let models = run.models();
    assert_eq!(models.len(), 1);
    let m = models[0];
    assert_eq!(m.id.turn, 2, "the channel session's second turn");
    assert_eq!(
        Run::texts(m)[0],
        (
            0,
            LineKind::Tool,
            "read: /home/alice/notes/missing.txt".into(),
            LineStatus::Err
        )
    );
    assert_eq!(m.state, BoxState::Done, "the turn itself ended normally");
    let text = render_text(m, 0, &RenderOptions::default());
    assert!(
        text.contains("  read: /home/alice/notes/missing.txt [ERR]\n"),
        "{text}"
    );
}

#[test]
fn sub_agent_exec_nests_under_its_spawn_line() {
    let run = play(replay("2026.7.1", "e_subagent"), None);
    let models = run.models();
    assert_eq!(
        models.len(),
        2,
        "the spawning turn and the announcement turn"
    );
    let spawn_box = models[0];
    assert_eq!(spawn_box.id.turn, 3);
    assert_eq!(
        Run::texts(spawn_box),
        vec![
            (
                0,
                LineKind::SubAgent,
                "Sub-agent: count-notes".into(),
                LineStatus::Ok
            ),
            (
                1,
                LineKind::Tool,
                "exec: ls /home/alice/notes | wc -l".into(),
                LineStatus::Ok
            ),
            (
                1,
                LineKind::Text,
                "SUBRESULT-OK the notes folder contains 2 files.".into(),
                LineStatus::None
            ),
            (1, LineKind::SubAgentEnd, "[DONE] 4s".into(), LineStatus::Ok),
            (
                0,
                LineKind::Text,
                "I started a sub-agent for that task; it will report back here when it is done."
                    .into(),
                LineStatus::None
            ),
        ]
    );
    assert_eq!(
        spawn_box.tokens, 480,
        "two parent and two child model calls"
    );
    assert_eq!(spawn_box.state, BoxState::Done);
    let text = render_text(spawn_box, 0, &RenderOptions::default());
    assert!(
        text.contains("  Sub-agent: count-notes\n    exec: ls /home/alice/notes | wc -l [OK]\n"),
        "{text}"
    );

    // The parent answers the completion announcement without a user line; the lock it took
    // 0.9 s after its previous turn is held on, so that turn's box dates from the lock.
    let announce = models[1];
    assert_eq!(announce.id.turn, 4);
    assert_eq!(announce.started_ms, run_ms("03:52:45.673460"));
    assert_eq!(
        Run::texts(announce),
        vec![(
            0,
            LineKind::Text,
            "The sub-agent finished: it counted the files in the notes folder. Nothing else to do."
                .into(),
            LineStatus::None
        )]
    );
    assert!(
        run.boxes
            .keys()
            .all(|id| !id.session.key.contains(":subagent:")),
        "a sub-agent never owns a box"
    );
}

#[test]
fn copied_history_in_a_forked_thread_transcript_shows_nothing() {
    let run = play(replay("2026.7.1", "b_thread_reply"), None);
    let models = run.models();
    assert_eq!(models.len(), 1);
    let m = models[0];
    assert!(
        m.session_key
            .ends_with(":thread:jag0wjcd1t1cuuhaucllp7h6u4")
    );
    assert_eq!(
        Run::texts(m),
        vec![
            (
                0,
                LineKind::Tool,
                "exec: echo thread-reply-ok".into(),
                LineStatus::Ok
            ),
            (
                0,
                LineKind::Text,
                "Thread reply: the echo command printed thread-reply-ok as expected.".into(),
                LineStatus::None
            ),
        ]
    );
    assert_eq!(m.tokens, 240, "copied assistant messages do not count");
    // The fork's file (with the copy) was written 0.8 s before the turn's lock: no box then.
    assert_eq!(m.started_ms, run_ms("03:51:04.318846"));
}

#[test]
fn whole_turn_lock_of_2026_4_gives_one_box_from_lock_to_stop() {
    let run = play(replay("2026.4.27", "c_dm"), None);
    let models = run.models();
    assert_eq!(models.len(), 1);
    let m = models[0];
    assert_eq!(m.session_key, "agent:main:main");
    assert_eq!(m.started_ms, run_ms("04:02:13.284602"));
    assert_eq!(m.ended_ms, Some(run_ms("04:02:19.006")));
    assert_eq!(
        Run::texts(m),
        vec![
            (
                0,
                LineKind::Tool,
                "read: /home/alice/notes/hello.txt".into(),
                LineStatus::Ok
            ),
            (
                0,
                LineKind::Text,
                "Here is what hello.txt says, read for you in this direct message.".into(),
                LineStatus::None
            ),
        ]
    );
}

#[test]
fn catching_up_in_the_middle_of_a_turn_shows_it_as_it_stands() {
    // Start the daemon while the e_subagent parent is between its spawn and its final reply.
    let r = replay("2026.7.1", "e_subagent");
    let now = run_ms("03:52:40.000");
    let mut tracker = Tracker::new(SessionConfig::default());
    let mut shown = Vec::new();
    for (sref, mut records) in r.before {
        records.extend(r.live.iter().filter_map(|(at, s, input)| match input {
            super::tracker::SessionInput::Record(rec) if *s == sref && *at <= now => {
                Some(rec.clone())
            }
            _ => None,
        }));
        shown.extend(
            tracker
                .catch_up(&sref, records, false, now)
                .into_iter()
                .filter(|d| !is_restored_closed(d)),
        );
    }
    assert_eq!(shown.len(), 1, "{shown:?}");
    let d = &shown[0];
    assert_eq!(d.seq, 1);
    assert_eq!(d.id.turn, 3);
    let m = BoxModel::open(d).expect("an Open delta");
    assert_eq!(m.lines.len(), 1);
    assert_eq!(m.lines[0].text, "Sub-agent: count-notes");
    assert_eq!(m.lines[0].status, LineStatus::Ok);
    assert_eq!(m.tokens, 120);
    assert_eq!(tracker.open_boxes(), 1);
}

#[test]
fn channel_turn_of_2026_4_is_one_box_from_its_whole_turn_lock() {
    // 4.27 takes the lock after its ~2 minute start-up stall and holds it for the whole turn;
    // its release 16 ms after the final message neither closes nor opens anything.
    let run = play(replay("2026.4.27", "a_channel_tools"), None);
    let ids: std::collections::BTreeSet<&BoxId> = run.deltas.iter().map(|d| &d.id).collect();
    assert_eq!(ids.len(), 1);
    let m = run.models()[0];
    assert_eq!(m.started_ms, run_ms("03:56:13.954"));
    assert_eq!(m.state, BoxState::Done);
    assert_eq!(m.tokens, 240);
    let text = render_text(m, 0, &RenderOptions::default());
    assert!(
        text.contains(
            "  read: /home/alice/notes/hello.txt [OK]\n  exec: ls -la /home/alice/notes [OK]\n"
        ),
        "{text}"
    );
}
