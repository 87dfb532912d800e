//! The terminal view of `watch`: on a TTY the open boxes are redrawn in place below what has
//! scrolled by (finished boxes are printed once, in full, and scroll away); on a pipe or a file
//! every change is one appended line, so logs and tests read like a story.

use std::collections::BTreeMap;
use std::io::Write;

use crate::render::{RenderOptions, format_elapsed, format_tokens, render_text};
use crate::session::{BoxDelta, BoxId, BoxModel, BoxOp, BoxState, LineStatus};

use super::{Sink, box_title};

/// Redraws at most this often on a TTY; a second passes between redraws when only the clock moves.
const REDRAW_MIN_MS: i64 = 80;
const REDRAW_IDLE_MS: i64 = 1000;

pub struct TerminalView<W: Write> {
    out: W,
    tty: bool,
    render: RenderOptions,
    boxes: BTreeMap<BoxId, BoxModel>,
    /// Lines of the live region currently on screen (TTY mode).
    drawn: usize,
    dirty: bool,
    last_draw_ms: i64,
    /// Final texts waiting to be printed above the live region (TTY mode).
    finished: Vec<String>,
}

impl<W: Write> TerminalView<W> {
    pub fn new(out: W, tty: bool, render: RenderOptions) -> TerminalView<W> {
        TerminalView {
            out,
            tty,
            render,
            boxes: BTreeMap::new(),
            drawn: 0,
            dirty: false,
            last_draw_ms: 0,
            finished: Vec::new(),
        }
    }

    pub fn open_boxes(&self) -> usize {
        self.boxes.len()
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// Plain mode: one line per change, prefixed with the box's title.
    fn print_ops(&mut self, delta: &BoxDelta, model: &BoxModel) {
        let title = box_title(&delta.id);
        for op in &delta.ops {
            let line = match op {
                BoxOp::Open { .. } => format!("{title} [ACTIVE] {}", model.agent_id),
                BoxOp::AddLine(line) => {
                    format!(
                        "{title}   {}{}",
                        "  ".repeat(line.depth as usize),
                        line.text
                    )
                }
                BoxOp::SetStatus { index, status } => {
                    let text = index
                        .checked_sub(model.dropped)
                        .and_then(|i| model.lines.get(i as usize))
                        .map(|l| format!("{}{}", "  ".repeat(l.depth as usize), l.text))
                        .unwrap_or_default();
                    let tag = match status {
                        LineStatus::Ok => "[OK]",
                        LineStatus::Err => "[ERR]",
                        LineStatus::None => continue,
                    };
                    format!("{title}   {text} {tag}")
                }
                BoxOp::Tokens(_) | BoxOp::Restored | BoxOp::FirstLine(_) => continue,
                BoxOp::Close {
                    state,
                    ended_ms,
                    error,
                } => {
                    let elapsed = format_elapsed((ended_ms - model.counted_from()).max(0));
                    match (state, error) {
                        (BoxState::Error, Some(e)) => format!("{title} [ERROR] {elapsed} | {e}"),
                        _ => format!(
                            "{title} {} {elapsed} | {} tokens",
                            state.tag(),
                            format_tokens(model.tokens)
                        ),
                    }
                }
                BoxOp::Retract => format!("{title} (withdrawn: the lock was not a turn)"),
            };
            let _ = writeln!(self.out, "{line}");
        }
    }

    fn redraw(&mut self, now_ms: i64) {
        let width = terminal_width();
        let mut screen = String::new();
        if self.drawn > 0 {
            // Up to the first line of the live region, and clear everything below.
            screen.push_str(&format!("\x1b[{}F\x1b[J", self.drawn));
        }
        for text in self.finished.drain(..) {
            screen.push_str(&text);
            screen.push('\n');
        }
        let mut drawn = 0;
        for (id, model) in &self.boxes {
            let text = render_text(model, now_ms, &self.render);
            for line in std::iter::once(format!("── {}", box_title(id)))
                .chain(text.lines().map(str::to_owned))
            {
                screen.push_str(&clip(&line, width));
                screen.push('\n');
                drawn += 1;
            }
        }
        self.drawn = drawn;
        let _ = self.out.write_all(screen.as_bytes());
        let _ = self.out.flush();
        self.dirty = false;
        self.last_draw_ms = now_ms;
    }
}

impl<W: Write> Sink for TerminalView<W> {
    fn deliver(&mut self, deltas: &[BoxDelta], now_ms: i64) {
        for delta in deltas {
            if delta.is_restored_history() {
                continue;
            }
            let model = match self.boxes.remove(&delta.id) {
                Some(mut model) => match model.apply(delta) {
                    Ok(()) => model,
                    Err(err) => {
                        tracing::debug!(error = %err, "terminal view out of step");
                        self.boxes.insert(delta.id.clone(), model);
                        continue;
                    }
                },
                None => match BoxModel::open(delta) {
                    Ok(model) => model,
                    Err(_) => continue,
                },
            };
            if !self.tty {
                self.print_ops(delta, &model);
            }
            if model.is_finished() {
                if self.tty && !model.retracted {
                    let text = render_text(&model, now_ms, &self.render);
                    self.finished
                        .push(format!("── {}\n{text}", box_title(&delta.id)));
                }
            } else {
                self.boxes.insert(delta.id.clone(), model);
            }
            self.dirty = true;
        }
        if !self.tty {
            let _ = self.out.flush();
        }
        self.tick(now_ms);
    }

    fn tick(&mut self, now_ms: i64) {
        if !self.tty {
            return;
        }
        let since = now_ms - self.last_draw_ms;
        let clock_moved = !self.boxes.is_empty() && since >= REDRAW_IDLE_MS;
        if (self.dirty && since >= REDRAW_MIN_MS) || clock_moved {
            self.redraw(now_ms);
        }
    }

    fn wants_ticks(&self) -> bool {
        self.tty && (self.dirty || !self.boxes.is_empty())
    }

    fn finish(&mut self, now_ms: i64) {
        if self.tty {
            self.redraw(now_ms);
        }
        let _ = self.out.flush();
    }
}

fn clip(line: &str, width: usize) -> String {
    if line.chars().count() <= width {
        return line.to_owned();
    }
    let mut s: String = line.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

fn terminal_width() -> usize {
    // SAFETY: winsize is plain integers, for which all zeroes is a valid value.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ only writes a winsize struct we own; a failure leaves it zeroed.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 10 {
        ws.ws_col as usize
    } else {
        120
    }
}
