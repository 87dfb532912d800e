//! Label templates: `exec: {command}` style strings whose `{…}` placeholders name tool-call
//! arguments. Operators write them in the overrides file, so parsing reports where a template is
//! wrong instead of guessing.
//!
//! Syntax: `{name}` inserts argument `name`; `{a|b}` the first of `a`, `b` that is present and
//! not empty; `{args.command}` looks inside objects; `{{` and `}}` are literal braces. A
//! placeholder whose arguments are all missing inserts nothing, and separators left dangling at
//! the end (`exec: `) are trimmed, so `read: {path}` on a call without a path reads `read`.

use serde_json::Value;

use super::text;

/// How long one inserted value may be, in chars.
pub const MAX_VALUE_CHARS: usize = 80;
/// How long a whole label may be, in chars (a template can hold several values).
pub const MAX_LABEL_CHARS: usize = 120;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{` at char {0} is never closed (write `{{{{` for a literal brace)")]
    Unclosed(usize),
    #[error("`}}` at char {0} closes nothing (write `}}}}` for a literal brace)")]
    StrayClose(usize),
    #[error("empty placeholder at char {0}")]
    Empty(usize),
    #[error("bad argument name {name:?} at char {at} (letters, digits, `_`, `-`, `.` only)")]
    BadName { name: String, at: usize },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// Alternatives, each a path into the arguments object.
    Arg(Vec<Vec<String>>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = src.chars().enumerate().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                    chars.next();
                    lit.push('}');
                }
                '}' => return Err(TemplateError::StrayClose(at)),
                '{' => {
                    let mut inner = String::new();
                    let mut closed = false;
                    for (_, n) in chars.by_ref() {
                        if n == '}' {
                            closed = true;
                            break;
                        }
                        if n == '{' {
                            return Err(TemplateError::Unclosed(at));
                        }
                        inner.push(n);
                    }
                    if !closed {
                        return Err(TemplateError::Unclosed(at));
                    }
                    if !lit.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Arg(parse_alternatives(&inner, at)?));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        Ok(Template { parts })
    }

    /// The label for a call with these arguments: one line, bounded.
    pub fn render(&self, args: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Arg(alternatives) => {
                    if let Some(v) = alternatives.iter().find_map(|path| lookup(args, path)) {
                        out.push_str(&v);
                    }
                }
            }
        }
        let line = text::one_line(&out);
        let trimmed = line.trim_end_matches([' ', ':', ',', '-', '|']);
        text::cut_end(trimmed, MAX_LABEL_CHARS)
    }
}

fn parse_alternatives(inner: &str, at: usize) -> Result<Vec<Vec<String>>, TemplateError> {
    if inner.trim().is_empty() {
        return Err(TemplateError::Empty(at));
    }
    inner
        .split('|')
        .map(|alt| {
            let alt = alt.trim();
            let valid = !alt.is_empty()
                && alt.split('.').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                });
            if valid {
                Ok(alt.split('.').map(str::to_string).collect())
            } else {
                Err(TemplateError::BadName {
                    name: alt.to_string(),
                    at,
                })
            }
        })
        .collect()
}

/// The argument at `path`, as shown in a label; `None` when missing or empty.
fn lookup(args: &Value, path: &[String]) -> Option<String> {
    let mut v = args;
    for seg in path {
        v = v.as_object()?.get(seg)?;
    }
    let last = path.last().map(String::as_str).unwrap_or("");
    display_value(v, last)
}

/// A scalar (or a list of scalars) as one short line. Path-like arguments keep their end, where
/// the file name is; everything else keeps its start.
pub fn display_value(v: &Value, name: &str) -> Option<String> {
    let raw = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null | Value::Object(_) => return None,
    };
    let line = text::one_line(&raw);
    if line.is_empty() {
        return None;
    }
    let name = name.to_ascii_lowercase();
    let tail_matters = name.contains("path") || name.contains("file") || name == "dir";
    Some(if tail_matters {
        text::cut_start(&line, MAX_VALUE_CHARS)
    } else {
        text::cut_end(&line, MAX_VALUE_CHARS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, args: Value) -> String {
        Template::parse(t).expect("valid template").render(&args)
    }

    #[test]
    fn placeholders_take_the_first_present_alternative() {
        assert_eq!(
            render("read: {path|file_path}", json!({"file_path": "/a/b.txt"})),
            "read: /a/b.txt"
        );
        assert_eq!(
            render(
                "read: {path|file_path}",
                json!({"path": "/x", "file_path": "/y"})
            ),
            "read: /x"
        );
        assert_eq!(
            render(
                "{args.command} on {host}",
                json!({"args": {"command": "ls"}, "host": 3})
            ),
            "ls on 3"
        );
    }

    #[test]
    fn missing_arguments_leave_no_dangling_separator() {
        assert_eq!(render("exec: {command}", json!({})), "exec");
        assert_eq!(
            render("exec: {command}", json!({"command": "  \n "})),
            "exec"
        );
        assert_eq!(render("exec: {command}", json!("not an object")), "exec");
    }

    #[test]
    fn literal_braces_and_errors() {
        assert_eq!(render("{{x}} {a}", json!({"a": "1"})), "{x} 1");
        assert_eq!(
            Template::parse("exec: {command"),
            Err(TemplateError::Unclosed(6))
        );
        assert_eq!(Template::parse("a } b"), Err(TemplateError::StrayClose(2)));
        assert_eq!(Template::parse("a {} b"), Err(TemplateError::Empty(2)));
        assert!(matches!(
            Template::parse("{a b}"),
            Err(TemplateError::BadName { at: 0, .. })
        ));
        assert!(matches!(
            Template::parse("{a|}"),
            Err(TemplateError::BadName { .. })
        ));
        assert_eq!(Template::parse("{a{b}"), Err(TemplateError::Unclosed(0)));
    }

    #[test]
    fn values_are_one_bounded_line_and_paths_keep_their_end() {
        let long_cmd = format!("echo {}\nrm -rf x", "y".repeat(200));
        let got = render("exec: {command}", json!({ "command": long_cmd }));
        assert!(!got.contains('\n'));
        assert!(got.starts_with("exec: echo yyy"));
        assert!(got.ends_with('…'));
        assert_eq!(got.chars().count(), "exec: ".len() + MAX_VALUE_CHARS);

        let long_path = format!("/home/alice/{}/hello.txt", "d".repeat(200));
        let got = render("read: {path}", json!({ "path": long_path }));
        assert!(got.starts_with("read: …"));
        assert!(got.ends_with("/hello.txt"));
    }

    #[test]
    fn whole_label_is_bounded_even_with_many_values() {
        let v = "v".repeat(80);
        let got = render("{a} {b} {c}", json!({"a": v, "b": v, "c": v}));
        assert_eq!(got.chars().count(), MAX_LABEL_CHARS);
    }
}
