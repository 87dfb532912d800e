//! Transcript entries become lines of the turn's box: assistant text, tool calls and their
//! results.

use super::{
    EARLY_RESULTS_CAP, HEARTBEAT_POLL, MAX_ERROR_CHARS, SILENT_REPLIES, SessionState, Target,
    Tracker,
};
use crate::session::boxes::{Outbox, Spawn};
use crate::session::delta::{BoxState, Line, LineKind, LineStatus, SessionId};
use crate::session::{labels, text};
use crate::transcript::{StopReason, ToolCall, TranscriptEvent, TranscriptRecord};

impl Tracker {
    pub(super) fn on_record(
        &mut self,
        sid: &SessionId,
        rec: TranscriptRecord,
        at_ms: i64,
        out: &mut Outbox,
    ) {
        if rec.history {
            return;
        }
        let Some(s) = self.sessions.get_mut(sid) else {
            return;
        };
        if s.seen_before(&rec.event) {
            return;
        }
        let line_ms = rec.event.ts_ms();
        self.bump(sid, at_ms);
        // What the box shows happens at the line's own time, never later than seen.
        let shown_ms = line_ms.map(|l| l.min(at_ms));
        let ended = (at_ms, shown_ms.unwrap_or(at_ms));
        match rec.event {
            TranscriptEvent::Header { .. } => {}
            TranscriptEvent::Compaction { .. } => {
                if let Some(turn) = self.sessions.get_mut(sid).and_then(|s| s.turn.as_mut()) {
                    turn.content = true;
                }
            }
            TranscriptEvent::User { text, .. } => {
                self.ensure_turn(sid, at_ms, line_ms, out);
                self.date_line(sid, at_ms, shown_ms);
                if text.trim() == HEARTBEAT_POLL {
                    self.unshow_turn(sid, out);
                }
            }
            TranscriptEvent::Assistant {
                text,
                tool_calls,
                stop,
                error_message,
                total_tokens,
                ..
            } => {
                self.ensure_turn(sid, at_ms, line_ms, out);
                self.date_line(sid, at_ms, shown_ms);
                self.on_assistant(sid, &text, &tool_calls, total_tokens, at_ms, out);
                match stop {
                    StopReason::Stop | StopReason::Length => {
                        self.end_turn(sid, BoxState::Done, None, ended, out);
                    }
                    StopReason::Error => {
                        let error = error_message
                            .map(|e| text::cut_end(&text::one_line(&e), MAX_ERROR_CHARS))
                            .filter(|e| !e.is_empty());
                        self.end_turn(sid, BoxState::Error, error, ended, out);
                    }
                    StopReason::Aborted => {
                        self.end_turn(sid, BoxState::Interrupted, None, ended, out);
                    }
                    StopReason::ToolUse | StopReason::Other(_) => {}
                }
            }
            TranscriptEvent::ToolResult {
                tool_call_id,
                is_error,
                ..
            } => {
                self.ensure_turn(sid, at_ms, line_ms, out);
                self.date_line(sid, at_ms, shown_ms);
                let status = if is_error {
                    LineStatus::Err
                } else {
                    LineStatus::Ok
                };
                self.on_tool_result(sid, &tool_call_id, status, at_ms, out);
            }
        }
    }

    /// Finds the box the session feeds (a child attaches here) and dates it with the line's
    /// `shown_ms`: its end shows that time, as in `replay`, however late a tier saw the line.
    fn date_line(&mut self, sid: &SessionId, at_ms: i64, shown_ms: Option<i64>) {
        if let Some(target) = self.resolve_target(sid, at_ms)
            && let Some(shown_ms) = shown_ms
        {
            self.boxes.dated(&target.box_id, shown_ms);
        }
    }

    /// Adds one of the session's own lines (a child's go under its heading).
    pub(super) fn add_line(
        &mut self,
        sid: &SessionId,
        target: &Target,
        line: Line,
        out: &mut Outbox,
    ) -> Option<u64> {
        if self.sessions.get(sid).is_some_and(SessionState::is_child) {
            self.boxes.ensure_heading(out, &target.box_id, sid);
        }
        self.boxes.add_line(out, &target.box_id, line)
    }

    pub(super) fn on_assistant(
        &mut self,
        sid: &SessionId,
        reply: &str,
        tool_calls: &[ToolCall],
        total_tokens: Option<u64>,
        at_ms: i64,
        out: &mut Outbox,
    ) {
        let Some(target) = self.resolve_target(sid, at_ms) else {
            return;
        };
        let shown = text::first_line(reply);
        if !shown.is_empty() && !SILENT_REPLIES.contains(&reply.trim()) {
            let line = Line {
                depth: target.depth,
                kind: LineKind::Text,
                text: text::cut_end(&text::one_line(shown), self.cfg.max_text_chars),
                status: LineStatus::None,
            };
            self.add_line(sid, &target, line, out);
        }
        for call in tool_calls {
            let known = self
                .sessions
                .get(sid)
                .and_then(|s| s.turn.as_ref())
                .is_some_and(|t| !call.id.is_empty() && t.calls.contains_key(&call.id));
            if known {
                continue;
            }
            let spawn = labels::spawn_request(call);
            let status = self
                .sessions
                .get_mut(sid)
                .and_then(|s| s.turn.as_mut())
                .and_then(|t| t.early_results.remove(&call.id))
                .unwrap_or(LineStatus::None);
            let line = Line {
                depth: target.depth,
                kind: if spawn.is_some() {
                    LineKind::SubAgent
                } else {
                    LineKind::Tool
                },
                text: self.cfg.labels.label(call),
                status,
            };
            let Some(index) = self.add_line(sid, &target, line, out) else {
                continue;
            };
            if !call.id.is_empty()
                && let Some(turn) = self.sessions.get_mut(sid).and_then(|s| s.turn.as_mut())
            {
                turn.calls
                    .insert(call.id.clone(), (target.box_id.clone(), index));
            }
            if let Some(req) = spawn {
                let spawn = Spawn {
                    spawner: sid.clone(),
                    label: req.label,
                    line: index,
                    depth: target.depth,
                    at_ms,
                    claimed: false,
                    failed: status == LineStatus::Err,
                };
                self.boxes.add_spawn(&target.box_id, spawn);
            }
        }
        if let Some(n) = total_tokens {
            self.boxes.add_tokens(out, &target.box_id, n);
        }
    }

    pub(super) fn on_tool_result(
        &mut self,
        sid: &SessionId,
        call_id: &str,
        status: LineStatus,
        at_ms: i64,
        out: &mut Outbox,
    ) {
        self.resolve_target(sid, at_ms);
        let Some(turn) = self.sessions.get_mut(sid).and_then(|s| s.turn.as_mut()) else {
            return;
        };
        let Some((box_id, index)) = turn.calls.get(call_id).cloned() else {
            if turn.early_results.len() < EARLY_RESULTS_CAP {
                turn.early_results.insert(call_id.to_string(), status);
            }
            return;
        };
        self.boxes.set_status(out, &box_id, index, status);
        self.boxes
            .spawn_result(&box_id, sid, index, status == LineStatus::Err);
    }
}
