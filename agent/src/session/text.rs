//! Shortening of untrusted text into one bounded line. Box lines come from model output and tool
//! arguments, which can be megabytes long or full of newlines; every line a box shows goes
//! through here so a box never grows a second line or an unbounded one.

/// The marker left where text was cut.
pub const CUT: char = '…';

/// Collapses every run of whitespace (newlines included) into one space and trims the ends.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(256));
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The first line that has something on it, trimmed.
pub fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// At most `max` chars: the start of `s`, ending in `…` when something was cut.
pub fn cut_end(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push(CUT);
    out
}

/// At most `max` chars: the end of `s`, starting with `…` when something was cut. Paths and URLs
/// say the most in their last part (the file name).
pub fn cut_start(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    out.push(CUT);
    out.extend(s.chars().skip(n - (max - 1)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_collapses_newlines_and_runs_of_space() {
        assert_eq!(one_line("  ls -la\n\t /tmp  \r\n"), "ls -la /tmp");
        assert_eq!(one_line("\n\n"), "");
    }

    #[test]
    fn first_line_skips_blank_lines() {
        assert_eq!(first_line("\n  \n  Plan ready. \nmore"), "Plan ready.");
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn cuts_count_chars_not_bytes_and_mark_the_cut() {
        assert_eq!(cut_end("héllo wörld", 5), "héll…");
        assert_eq!(cut_end("short", 5), "short");
        assert_eq!(cut_start("/home/alice/notes/hello.txt", 12), "…s/hello.txt");
        assert_eq!(
            cut_start("/home/alice/notes/hello.txt", 12).chars().count(),
            12
        );
        assert_eq!(cut_end("abc", 0), "");
        assert_eq!(cut_start("ääää", 1), "…");
    }
}
