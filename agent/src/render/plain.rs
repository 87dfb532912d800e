//! The plain-text box:
//!
//! ```text
//! [ACTIVE] main | 38s
//!   Reading live-status source code...
//!   exec: ls /agents/sessions [OK]
//!   Sub-agent: proj035-planner
//!     Reading protocol...
//!     [DONE] 28s
//! ```
//!
//! and once finished:
//!
//! ```text
//! main
//!   …
//! [DONE] 53s | 12.4k tokens
//! ```
//!
//! The header carries `[ACTIVE]` and the running time only while the turn runs; once it is over
//! the header is just the agent id and the footer states the outcome, its duration, the error
//! (for `[ERROR]`) and the tokens used, so a finished box never shows `[ACTIVE]` and never
//! states its outcome twice.

use crate::session::delta::{BoxModel, BoxState, Line, LineKind, LineStatus};
use crate::session::text::{cut_end, one_line};

use super::{format_elapsed, format_tokens};

/// Bound of the error message in an `[ERROR]` footer, in chars.
const MAX_ERROR_CHARS: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderOptions {
    /// Body lines shown, the `… N earlier` marker included (always at least the marker).
    pub max_lines: usize,
    /// Every output line is cut to this many chars (with `…`) when set.
    pub width: Option<usize>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            max_lines: 20,
            width: None,
        }
    }
}

/// The box as plain text (no trailing newline). A retracted box renders as an empty string.
pub fn render_text(model: &BoxModel, now_ms: i64, opts: &RenderOptions) -> String {
    render_lines(model, now_ms, opts).join("\n")
}

pub(super) fn render_lines(model: &BoxModel, now_ms: i64, opts: &RenderOptions) -> Vec<String> {
    if model.retracted {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(opts.max_lines.min(model.lines.len()).saturating_add(3));
    let finished = model.state != BoxState::Active;
    let end = if finished {
        model.ended_ms.unwrap_or(now_ms)
    } else {
        now_ms
    };
    let elapsed = format_elapsed((end - model.counted_from()).max(0));
    if finished {
        out.push(model.agent_id.clone());
    } else {
        out.push(format!(
            "{} {} | {elapsed}",
            BoxState::Active.tag(),
            model.agent_id
        ));
    }

    let total = model.dropped + model.lines.len() as u64;
    let fits = model.dropped == 0 && model.lines.len() <= opts.max_lines;
    let keep = if fits {
        model.lines.len()
    } else {
        opts.max_lines.saturating_sub(1).min(model.lines.len())
    };
    if !fits {
        out.push(format!("  … {} earlier", total - keep as u64));
    }
    out.extend(
        model
            .lines
            .iter()
            .skip(model.lines.len() - keep)
            .map(line_text),
    );

    if finished {
        let mut footer = format!("{} {elapsed}", model.state.tag());
        if let Some(e) = model
            .error
            .as_deref()
            .map(one_line)
            .filter(|e| !e.is_empty())
        {
            footer.push_str(" | ");
            footer.push_str(&cut_end(&e, MAX_ERROR_CHARS));
        }
        if model.tokens > 0 {
            footer.push_str(&format!(" | {} tokens", format_tokens(model.tokens)));
        }
        out.push(footer);
    }
    if let Some(w) = opts.width {
        for l in &mut out {
            *l = cut_end(l, w);
        }
    }
    out
}

fn line_text(line: &Line) -> String {
    let indent = "  ".repeat(usize::from(line.depth) + 1);
    let mark = match (line.kind, line.status) {
        (LineKind::Tool, LineStatus::Ok) => " [OK]",
        (LineKind::Tool | LineKind::SubAgent, LineStatus::Err) => " [ERR]",
        _ => "",
    };
    format!("{indent}{}{mark}", one_line(&line.text))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::session::delta::{BoxDelta, BoxId, BoxOp, SessionId};

    pub fn model(ops: Vec<BoxOp>) -> BoxModel {
        let mut all = vec![BoxOp::Open {
            agent_id: "main".into(),
            session_key: "agent:main:main".into(),
            started_ms: 1_000,
            route: None,
            follows_ms: None,
        }];
        all.extend(ops);
        BoxModel::open(&BoxDelta {
            id: BoxId {
                session: SessionId::new(
                    "/home/alice/.openclaw".into(),
                    "main".into(),
                    "agent:main:main".into(),
                ),
                turn: 1,
            },
            seq: 1,
            ops: all,
        })
        .expect("opens")
    }

    pub fn line(depth: u8, kind: LineKind, text: &str, status: LineStatus) -> BoxOp {
        BoxOp::AddLine(Line {
            depth,
            kind,
            text: text.into(),
            status,
        })
    }

    fn design_example() -> Vec<BoxOp> {
        use LineKind::*;
        use LineStatus::*;
        vec![
            line(0, Text, "Reading live-status source code...", None),
            line(0, Tool, "exec: ls /agents/sessions", Ok),
            line(0, Tool, "exec: grep -r live-status", Err),
            line(0, SubAgent, "Sub-agent: proj035-planner", Ok),
            line(1, Text, "Reading protocol...", None),
            line(1, SubAgentEnd, "[DONE] 28s", Ok),
            line(0, Text, "Plan ready. Awaiting approval.", None),
        ]
    }

    #[test]
    fn active_box_matches_the_design_example() {
        let m = model(design_example());
        let got = render_text(&m, 39_500, &RenderOptions::default());
        assert_eq!(
            got,
            "[ACTIVE] main | 38s\n\
             \x20 Reading live-status source code...\n\
             \x20 exec: ls /agents/sessions [OK]\n\
             \x20 exec: grep -r live-status [ERR]\n\
             \x20 Sub-agent: proj035-planner\n\
             \x20   Reading protocol...\n\
             \x20   [DONE] 28s\n\
             \x20 Plan ready. Awaiting approval."
        );
    }

    #[test]
    fn finished_box_moves_the_outcome_to_the_footer() {
        let mut ops = design_example();
        ops.push(BoxOp::Tokens(12_400));
        ops.push(BoxOp::Close {
            state: BoxState::Done,
            ended_ms: 54_000,
            error: None,
        });
        let got = render_text(&model(ops), 999_999, &RenderOptions::default());
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.first(), Some(&"main"));
        assert_eq!(lines.last(), Some(&"[DONE] 53s | 12.4k tokens"));
        assert!(!got.contains("[ACTIVE]"));
        assert_eq!(lines.len(), 9);
    }

    #[test]
    fn error_and_interrupted_footers() {
        let m = model(vec![BoxOp::Close {
            state: BoxState::Error,
            ended_ms: 13_000,
            error: Some("rate limited\nby provider".into()),
        }]);
        assert_eq!(
            render_text(&m, 0, &RenderOptions::default()),
            "main\n[ERROR] 12s | rate limited by provider"
        );
        let m = model(vec![
            BoxOp::Tokens(980),
            BoxOp::Close {
                state: BoxState::Interrupted,
                ended_ms: 4_000,
                error: None,
            },
        ]);
        assert_eq!(
            render_text(&m, 0, &RenderOptions::default()),
            "main\n[INTERRUPTED] 3s | 980 tokens"
        );
    }

    #[test]
    fn long_boxes_show_the_newest_lines_and_count_the_rest() {
        let ops = (0..30)
            .map(|i| {
                line(
                    0,
                    LineKind::Tool,
                    &format!("exec: step {i}"),
                    LineStatus::Ok,
                )
            })
            .collect();
        let m = model(ops);
        let opts = RenderOptions {
            max_lines: 5,
            width: None,
        };
        let got = render_text(&m, 2_000, &opts);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines.len(), 1 + 5);
        assert_eq!(lines[1], "  … 26 earlier");
        assert_eq!(lines[2], "  exec: step 26 [OK]");
        assert_eq!(lines[5], "  exec: step 29 [OK]");
    }

    #[test]
    fn lines_the_model_dropped_count_as_earlier() {
        let mut m = model(vec![line(0, LineKind::Text, "kept", LineStatus::None)]);
        m.dropped = 7;
        let got = render_text(&m, 2_000, &RenderOptions::default());
        assert_eq!(got, "[ACTIVE] main | 1s\n  … 7 earlier\n  kept");
        let opts = RenderOptions {
            max_lines: 1,
            width: None,
        };
        assert_eq!(
            render_text(&m, 2_000, &opts),
            "[ACTIVE] main | 1s\n  … 8 earlier"
        );
    }

    #[test]
    fn width_cuts_every_line() {
        let m = model(vec![line(
            0,
            LineKind::Text,
            &"x".repeat(50),
            LineStatus::None,
        )]);
        let opts = RenderOptions {
            max_lines: 20,
            width: Some(10),
        };
        let got = render_text(&m, 2_000, &opts);
        assert!(got.lines().all(|l| l.chars().count() <= 10), "{got}");
        assert!(got.lines().nth(1).is_some_and(|l| l.ends_with('…')));
    }

    #[test]
    fn retracted_boxes_render_nothing() {
        let m = model(vec![BoxOp::Retract]);
        assert_eq!(render_text(&m, 2_000, &RenderOptions::default()), "");
    }
}
