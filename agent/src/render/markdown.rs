//! The box as a Markdown code block for the REST sink's post text. Mattermost refuses posts over
//! its size limit, so the block is made to fit: older lines go first (the `… N earlier` marker
//! says so), and only if header and footer alone are too long is the text itself cut, with `…`.

use crate::session::delta::BoxModel;

use super::plain::{RenderOptions, render_lines};

/// The box in a fenced code block of at most `max_chars` bytes. Bytes, because a byte count is
/// never below Mattermost's rune count, so the post always fits; cuts fall on char boundaries.
/// The fence is longer than any backtick run in the text, so box text cannot close it early.
pub fn render_markdown(
    model: &BoxModel,
    now_ms: i64,
    opts: &RenderOptions,
    max_chars: usize,
) -> String {
    let mut max_lines = opts.max_lines;
    loop {
        let shown = RenderOptions {
            max_lines,
            width: opts.width,
        };
        let block = fenced(&render_lines(model, now_ms, &shown).join("\n"));
        if block.len() <= max_chars {
            return block;
        }
        if max_lines == 0 {
            return cut_block(&render_lines(model, now_ms, &shown).join("\n"), max_chars);
        }
        max_lines -= 1;
    }
}

fn fence_for(body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

fn fenced(body: &str) -> String {
    let fence = fence_for(body);
    format!("{fence}\n{body}\n{fence}")
}

/// Cuts the body itself, keeping the fences, when nothing smaller fits.
fn cut_block(body: &str, max_chars: usize) -> String {
    const MARK: &str = "…";
    let fence = fence_for(body);
    let overhead = 2 * fence.len() + 2 + MARK.len();
    if max_chars < overhead {
        return floor_boundary(&fenced(body), max_chars).to_string();
    }
    let kept = floor_boundary(body, max_chars - overhead);
    format!("{fence}\n{kept}{MARK}\n{fence}")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
fn floor_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::plain::tests::{line, model};
    use crate::session::delta::{BoxOp, BoxState, LineKind, LineStatus};

    fn many_lines(n: usize) -> BoxModel {
        model(
            (0..n)
                .map(|i| {
                    line(
                        0,
                        LineKind::Tool,
                        &format!("exec: step {i}"),
                        LineStatus::Ok,
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn small_boxes_are_the_plain_text_in_a_fence() {
        let m = many_lines(2);
        let got = render_markdown(&m, 2_000, &RenderOptions::default(), 16_383);
        assert_eq!(
            got,
            "```\n[ACTIVE] main | 1s\n  exec: step 0 [OK]\n  exec: step 1 [OK]\n```"
        );
    }

    #[test]
    fn too_long_boxes_drop_old_lines_first_and_say_so() {
        let m = many_lines(20);
        let full = render_markdown(&m, 2_000, &RenderOptions::default(), 100_000);
        let limit = full.len() - 30;
        let got = render_markdown(&m, 2_000, &RenderOptions::default(), limit);
        assert!(got.len() <= limit, "{} > {limit}", got.len());
        assert!(got.starts_with("```\n[ACTIVE] main | 1s\n  … "), "{got}");
        assert!(got.contains("exec: step 19 [OK]\n```"), "{got}");
        assert!(got.ends_with("\n```"));
    }

    #[test]
    fn tiny_limits_cut_the_text_on_a_char_boundary() {
        let m = model(vec![
            line(0, LineKind::Text, "ünïcödé everywhere", LineStatus::None),
            BoxOp::Close {
                state: BoxState::Error,
                ended_ms: 5_000,
                error: Some("é".repeat(100)),
            },
        ]);
        for limit in 0..60 {
            let got = render_markdown(&m, 2_000, &RenderOptions::default(), limit);
            assert!(got.len() <= limit, "limit {limit}: {got:?}");
            if limit >= 12 {
                assert!(
                    got.starts_with("```\n") && got.ends_with("…\n```"),
                    "{got:?}"
                );
            }
        }
    }

    #[test]
    fn backticks_in_lines_cannot_close_the_fence() {
        let m = model(vec![line(
            0,
            LineKind::Tool,
            "exec: echo ```hi````",
            LineStatus::None,
        )]);
        let got = render_markdown(&m, 2_000, &RenderOptions::default(), 1_000);
        assert!(got.starts_with("`````\n"), "{got}");
        assert!(got.ends_with("\n`````"));
    }
}
