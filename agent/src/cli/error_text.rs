//! How an error reaches the person at the terminal: one line, the outermost message first, then
//! each cause that adds something to it.
//!
//! Our error types put their source's text in their own message, because logs print them with
//! `%err`, which shows no chain; they also hand that source out as `source()`. anyhow's `{:#}`
//! prints every link of the chain, so the OS error came twice ("cannot read the Mattermost token
//! from …: No such file or directory (os error 2): No such file or directory (os error 2)").
//! Here a cause whose text the message already holds is left out; a context added with
//! `.context()` and its plain cause both show, once each.

/// The error and its causes as one line, each text once.
pub fn error_text(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !cause.is_empty() && !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use std::path::PathBuf;

    fn not_found() -> std::io::Error {
        std::io::Error::from_raw_os_error(libc::ENOENT)
    }

    fn times(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn an_error_that_prints_its_source_names_the_os_error_once() {
        let err = crate::sink::mattermost::post_store::StateError::Write {
            path: PathBuf::from("/var/lib/openclaw-livestatus/posts.json"),
            source: not_found(),
        };
        let text = error_text(&anyhow::Error::from(err));
        assert_eq!(
            text,
            "cannot write /var/lib/openclaw-livestatus/posts.json: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_context_and_its_plain_cause_both_show_once() {
        let result: Result<(), std::io::Error> = Err(not_found());
        let err = result
            .context("creating the data dir /var/lib/x")
            .context("starting")
            .expect_err("an error");
        assert_eq!(
            error_text(&err),
            "starting: creating the data dir /var/lib/x: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn a_context_over_an_error_that_prints_its_source_shows_the_os_error_once() {
        let err = crate::session::labels::ToolLabels::from_file(std::path::Path::new(
            "/nonexistent/labels.json",
        ))
        .context("render.tool_labels_file")
        .expect_err("no such file");
        let text = error_text(&err);
        assert_eq!(times(&text, "does not exist"), 1, "{text}");
        assert!(times(&text, "os error") <= 1, "{text}");
        assert!(text.starts_with("render.tool_labels_file: "), "{text}");
        assert!(text.contains("/nonexistent/labels.json"), "{text}");
    }
}
