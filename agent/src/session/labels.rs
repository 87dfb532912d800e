//! One readable line per tool call, in one style throughout: `<tool>: <what it works on>`
//! (`exec: ls /agents/sessions`, `read: /home/alice/notes/hello.txt`), except sub-agent spawns,
//! which read `Sub-agent: <label>` because the box nests the child under that line.
//!
//! Operators can override labels per tool with a JSON file of templates (see `label_template`),
//! merged over the built-in table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::label_template::{self, MAX_LABEL_CHARS, Template, TemplateError};
use super::text;
use crate::transcript::ToolCall;

/// The tool that starts a sub-agent, and the 2026.9 tool-search wrapper that can call any tool.
pub const SPAWN_TOOL: &str = "sessions_spawn";
pub const TOOL_CALL_WRAPPER: &str = "tool_call";

/// Longest string argument an unknown tool's label picks up; longer ones are content (file
/// bodies, patches), not a name for the call.
const SHORT_ARG_CHARS: usize = 200;

/// Built-in templates. Alternatives cover argument names that differ between OpenClaw tools and
/// versions (`path` / `file_path`).
const BUILTIN: &[(&str, &str)] = &[
    ("exec", "exec: {command|cmd}"),
    ("bash", "bash: {command|cmd}"),
    ("read", "read: {path|file_path|file}"),
    ("write", "write: {path|file_path|file}"),
    ("edit", "edit: {path|file_path|file}"),
    ("ls", "ls: {path|dir}"),
    ("find", "find: {pattern|path}"),
    ("grep", "grep: {pattern}"),
    ("process", "process: {action}"),
    ("web_search", "web_search: {query}"),
    ("web_fetch", "web_fetch: {url}"),
    ("message", "message: {action}"),
    ("browser", "browser: {action}"),
    ("canvas", "canvas: {action}"),
    ("nodes", "nodes: {action}"),
    ("cron", "cron: {action}"),
    ("gateway", "gateway: {action}"),
    ("image", "image: {path|image|url}"),
    ("memory_search", "memory_search: {query}"),
    ("memory_get", "memory_get: {path}"),
    ("tool_search", "tool_search: {query}"),
    ("tool_describe", "tool_describe: {id|name}"),
    ("sessions_spawn", "Sub-agent: {label|task}"),
    ("sessions_send", "sessions_send: {label|sessionKey}"),
    ("sessions_list", "sessions_list"),
    ("sessions_history", "sessions_history: {sessionKey}"),
    ("sessions_yield", "sessions_yield"),
    ("subagents", "subagents: {action}"),
    ("agents_list", "agents_list"),
];

#[derive(Clone, Debug)]
enum Rule {
    Template(Template),
    /// `apply_patch` carries the patch text; the label names the first file it touches.
    ApplyPatch,
    /// `tool_call {id, args}` is labelled as the tool it calls.
    Wrapper,
}

/// Why an overrides file was refused. Each names the file; syntax errors say where.
#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    /// Refused or unreadable (the guarded reader's message names the file).
    #[error("tool labels: {why}")]
    Read {
        path: PathBuf,
        why: crate::guarded::GuardError,
    },
    #[error("tool labels {}:{line}:{column}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("tool labels {}: expected an object of \"tool name\": \"template\"", path.display())]
    NotAnObject { path: PathBuf },
    #[error("tool labels {}: {key:?}: the template must be a string", path.display())]
    NotAString { path: PathBuf, key: String },
    #[error("tool labels {}: {key:?}: {source}", path.display())]
    Template {
        path: PathBuf,
        key: String,
        source: TemplateError,
    },
}

/// A real labels file is a few KiB.
const MAX_LABELS_BYTES: u64 = 1024 * 1024;

#[derive(Clone, Debug)]
pub struct ToolLabels {
    rules: HashMap<String, Rule>,
}

impl Default for ToolLabels {
    fn default() -> Self {
        ToolLabels::builtin()
    }
}

impl ToolLabels {
    pub fn builtin() -> ToolLabels {
        let mut rules: HashMap<String, Rule> = BUILTIN
            .iter()
            .filter_map(|(name, t)| {
                Some((name.to_string(), Rule::Template(Template::parse(t).ok()?)))
            })
            .collect();
        rules.insert("apply_patch".into(), Rule::ApplyPatch);
        rules.insert(TOOL_CALL_WRAPPER.into(), Rule::Wrapper);
        ToolLabels { rules }
    }

    /// The built-in table with the file's templates over it. An admin's file, read through the
    /// guarded reader (so `/dev/zero` or a FIFO is refused, not read until memory runs out).
    pub fn from_file(path: &Path) -> Result<ToolLabels, LabelsError> {
        let read_error = |why| LabelsError::Read {
            path: path.to_path_buf(),
            why,
        };
        let bytes = crate::guarded::read(path, &crate::guarded::Rules::admin(MAX_LABELS_BYTES))
            .map_err(read_error)?;
        // A file that is not UTF-8 fails like a syntax error, at the first bad byte.
        let src = String::from_utf8(bytes).map_err(|e| {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            LabelsError::Syntax {
                path: path.to_path_buf(),
                line: valid.iter().filter(|b| **b == b'\n').count() + 1,
                column: valid.iter().rev().take_while(|b| **b != b'\n').count() + 1,
                message: "not UTF-8 text".to_owned(),
            }
        })?;
        ToolLabels::from_json(&src, path)
    }

    /// Like `from_file`, from text already read; `path` only names the source in errors.
    pub fn from_json(src: &str, path: &Path) -> Result<ToolLabels, LabelsError> {
        let value: Value = serde_json::from_str(src).map_err(|e| LabelsError::Syntax {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(LabelsError::NotAnObject {
                path: path.to_path_buf(),
            });
        };
        let mut labels = ToolLabels::builtin();
        for (key, v) in map {
            let Value::String(src) = v else {
                return Err(LabelsError::NotAString {
                    path: path.to_path_buf(),
                    key,
                });
            };
            match Template::parse(&src) {
                Ok(t) => {
                    labels.rules.insert(key, Rule::Template(t));
                }
                Err(source) => {
                    return Err(LabelsError::Template {
                        path: path.to_path_buf(),
                        key,
                        source,
                    });
                }
            }
        }
        Ok(labels)
    }

    pub fn label(&self, call: &ToolCall) -> String {
        self.label_of(&call.name, &call.arguments, true)
    }

    fn label_of(&self, name: &str, args: &Value, unwrap: bool) -> String {
        match self.rules.get(name) {
            Some(Rule::Template(t)) => t.render(args),
            Some(Rule::ApplyPatch) => apply_patch_label(args),
            Some(Rule::Wrapper) if unwrap => match wrapped(args) {
                // A wrapper inside a wrapper is not unwrapped again: one level is all OpenClaw
                // does, and it bounds the work on odd input.
                Some((inner, inner_args)) => self.label_of(inner, inner_args, false),
                None => name_and_short_arg(name, args),
            },
            Some(Rule::Wrapper) | None => name_and_short_arg(name, args),
        }
    }
}

/// `tool_call {id, args}` → the inner tool's name and arguments.
fn wrapped(args: &Value) -> Option<(&str, &Value)> {
    let obj = args.as_object()?;
    let inner = obj
        .get("id")
        .or_else(|| obj.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())?;
    let inner_args = obj
        .get("args")
        .or_else(|| obj.get("arguments"))
        .unwrap_or(&Value::Null);
    Some((inner.trim(), inner_args))
}

/// The call with the tool-search wrapper taken off, if it was wrapped.
pub fn unwrapped(call: &ToolCall) -> (&str, &Value) {
    if call.name == TOOL_CALL_WRAPPER
        && let Some(inner) = wrapped(&call.arguments)
    {
        return inner;
    }
    (&call.name, &call.arguments)
}

/// A `sessions_spawn` call, direct or through `tool_call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnRequest {
    /// `label` argument; the child session's entry carries the same label.
    pub label: Option<String>,
}

pub fn spawn_request(call: &ToolCall) -> Option<SpawnRequest> {
    let (name, args) = unwrapped(call);
    if name != SPAWN_TOOL {
        return None;
    }
    let label = args
        .get("label")
        .and_then(Value::as_str)
        .map(text::one_line)
        .filter(|s| !s.is_empty());
    Some(SpawnRequest { label })
}

fn name_and_short_arg(name: &str, args: &Value) -> String {
    let name = text::cut_end(&text::one_line(name), label_template::MAX_VALUE_CHARS);
    let short = args.as_object().and_then(|obj| {
        obj.iter().find_map(|(key, v)| match v {
            Value::String(s) if s.chars().count() <= SHORT_ARG_CHARS => {
                label_template::display_value(v, key)
            }
            _ => None,
        })
    });
    match short {
        Some(v) => text::cut_end(&format!("{name}: {v}"), MAX_LABEL_CHARS),
        None => name,
    }
}

fn apply_patch_label(args: &Value) -> String {
    let patch = ["input", "patch"]
        .iter()
        .find_map(|k| args.get(k).and_then(Value::as_str))
        .unwrap_or("");
    let mut files = patch.lines().filter_map(|l| {
        ["*** Update File:", "*** Add File:", "*** Delete File:"]
            .iter()
            .find_map(|p| l.strip_prefix(p))
            .map(str::trim)
            .filter(|f| !f.is_empty())
    });
    let Some(first) = files.next() else {
        return "apply_patch".into();
    };
    let first = text::cut_start(&text::one_line(first), label_template::MAX_VALUE_CHARS);
    match files.count() {
        0 => format!("apply_patch: {first}"),
        more => format!("apply_patch: {first} (+{more})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: Value) -> ToolCall {
        ToolCall {
            id: "call_1".into(),
            name: name.into(),
            arguments,
        }
    }

    #[test]
    fn every_builtin_template_parses() {
        for (name, t) in BUILTIN {
            assert!(Template::parse(t).is_ok(), "builtin template for {name}");
        }
        assert_eq!(ToolLabels::builtin().rules.len(), BUILTIN.len() + 2);
    }

    #[test]
    fn builtin_labels_follow_one_style() {
        let l = ToolLabels::builtin();
        let cases = [
            (
                call("exec", json!({"command": "ls /agents/sessions"})),
                "exec: ls /agents/sessions",
            ),
            (
                call("read", json!({"path": "/home/alice/notes/hello.txt"})),
                "read: /home/alice/notes/hello.txt",
            ),
            (
                call("write", json!({"file_path": "/tmp/a", "content": "x"})),
                "write: /tmp/a",
            ),
            (
                call("edit", json!({"path": "b.rs", "oldText": "x"})),
                "edit: b.rs",
            ),
            (call("ls", json!({})), "ls"),
            (
                call("process", json!({"action": "poll", "sessionId": "s"})),
                "process: poll",
            ),
            (
                call("web_search", json!({"query": "rust fanotify"})),
                "web_search: rust fanotify",
            ),
            (
                call("web_fetch", json!({"url": "https://x.y/z"})),
                "web_fetch: https://x.y/z",
            ),
            (
                call("message", json!({"action": "send", "message": "hi"})),
                "message: send",
            ),
            (
                call("tool_search", json!({"query": "spawn"})),
                "tool_search: spawn",
            ),
            (
                call(
                    "sessions_spawn",
                    json!({"task": "Count files", "label": "count-notes"}),
                ),
                "Sub-agent: count-notes",
            ),
            (
                call("sessions_spawn", json!({"task": "Count\nfiles"})),
                "Sub-agent: Count files",
            ),
        ];
        for (c, want) in cases {
            assert_eq!(l.label(&c), want, "{c:?}");
        }
    }

    #[test]
    fn tool_call_wrapper_is_labelled_as_the_inner_tool() {
        let l = ToolLabels::builtin();
        let c = call(
            "tool_call",
            json!({"id": "sessions_spawn", "args": {"task": "t", "label": "count-notes"}}),
        );
        assert_eq!(l.label(&c), "Sub-agent: count-notes");
        assert_eq!(
            spawn_request(&c),
            Some(SpawnRequest {
                label: Some("count-notes".into())
            })
        );
        let c = call(
            "tool_call",
            json!({"id": "exec", "args": {"command": "echo hi"}}),
        );
        assert_eq!(l.label(&c), "exec: echo hi");
        assert_eq!(spawn_request(&c), None);
        // Without an inner id there is nothing to unwrap.
        assert_eq!(
            l.label(&call("tool_call", json!({"args": {}}))),
            "tool_call"
        );
        // Nested wrappers are unwrapped once.
        let nested = call(
            "tool_call",
            json!({"id": "tool_call", "args": {"id": "exec"}}),
        );
        assert_eq!(l.label(&nested), "tool_call: exec");
    }

    #[test]
    fn unknown_tools_show_the_first_short_string_argument() {
        let l = ToolLabels::builtin();
        assert_eq!(
            l.label(&call(
                "frobnicate",
                json!({"big": "x".repeat(500), "target": "db1"})
            )),
            "frobnicate: db1"
        );
        assert_eq!(l.label(&call("frobnicate", json!({"n": 3}))), "frobnicate");
        assert_eq!(l.label(&call("frob\nnicate", Value::Null)), "frob nicate");
    }

    #[test]
    fn apply_patch_names_the_files_it_touches() {
        let l = ToolLabels::builtin();
        let patch = "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-x\n+y\n*** Add File: src/b.rs\n+z\n*** End Patch";
        assert_eq!(
            l.label(&call("apply_patch", json!({ "input": patch }))),
            "apply_patch: src/a.rs (+1)"
        );
        assert_eq!(l.label(&call("apply_patch", json!({}))), "apply_patch");
    }

    #[test]
    fn spawn_request_is_only_for_spawns() {
        assert_eq!(
            spawn_request(&call("sessions_spawn", json!({"task": "t"}))),
            Some(SpawnRequest { label: None })
        );
        assert_eq!(spawn_request(&call("exec", json!({"label": "x"}))), None);
    }

    #[test]
    fn overrides_merge_over_the_builtin_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.json");
        std::fs::write(
            &path,
            r#"{"exec": "Running {command}", "deploy": "Deploying {env}"}"#,
        )
        .expect("write");
        let l = ToolLabels::from_file(&path).expect("valid overrides");
        assert_eq!(
            l.label(&call("exec", json!({"command": "ls"}))),
            "Running ls"
        );
        assert_eq!(
            l.label(&call("deploy", json!({"env": "prod"}))),
            "Deploying prod"
        );
        assert_eq!(l.label(&call("read", json!({"path": "/a"}))), "read: /a");
    }

    #[test]
    fn override_errors_name_the_file_and_the_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("labels.json");

        std::fs::write(&path, "{\n  \"exec\": \"x\",\n  oops\n}").expect("write");
        let err = ToolLabels::from_file(&path).expect_err("syntax error");
        assert!(
            matches!(err, LabelsError::Syntax { line: 3, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("labels.json:3:"), "{msg}");

        std::fs::write(&path, r#"{"exec": "exec: {command"}"#).expect("write");
        let err = ToolLabels::from_file(&path).expect_err("bad template");
        assert!(
            matches!(&err, LabelsError::Template { key, source: TemplateError::Unclosed(6), .. } if key == "exec"),
            "{err:?}"
        );
        assert!(err.to_string().contains("\"exec\""));

        std::fs::write(&path, r#"{"exec": 3}"#).expect("write");
        let err = ToolLabels::from_file(&path).expect_err("not a string");
        assert!(matches!(&err, LabelsError::NotAString { key, .. } if key == "exec"));

        std::fs::write(&path, "[]").expect("write");
        assert!(matches!(
            ToolLabels::from_file(&path),
            Err(LabelsError::NotAnObject { .. })
        ));

        let missing = dir.path().join("nope.json");
        let err = ToolLabels::from_file(&missing).expect_err("missing file");
        assert!(matches!(err, LabelsError::Read { .. }));
        assert!(err.to_string().contains("nope.json"));
    }
}
