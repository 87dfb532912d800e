//! JSON5 parsing with a bound on nesting, and errors that never quote the file's text.

use std::path::Path;

use serde_json::Value;

use super::{GatewayConfigError, MAX_NESTING};

pub(super) fn parse_json5(path: &Path, bytes: &[u8]) -> Result<Value, GatewayConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = &bytes[..e.valid_up_to()];
        GatewayConfigError::Syntax {
            path: path.to_owned(),
            line: at.iter().filter(|b| **b == b'\n').count() + 1,
            column: at.iter().rev().take_while(|b| **b != b'\n').count() + 1,
            message: "not UTF-8 text".to_owned(),
        }
    })?;
    if nesting_exceeds(text, MAX_NESTING) {
        return Err(GatewayConfigError::Shape {
            path: path.to_owned(),
            message: format!("nested more than {MAX_NESTING} levels deep"),
        });
    }
    json5::from_str::<Value>(text).map_err(|e| {
        let json5::Error::Message { msg, location } = e;
        let (line, column) = location.map_or((0, 0), |l| (l.line, l.column));
        // The parser's message quotes the offending line, which may hold a token: keep only its
        // "expected …" part.
        let message = msg
            .lines()
            .find_map(|l| l.trim().strip_prefix("= "))
            .unwrap_or("syntax error")
            .to_owned();
        GatewayConfigError::Syntax {
            path: path.to_owned(),
            line,
            column,
            message,
        }
    })
}

/// Whether brackets nest deeper than `max`, outside strings and comments.
pub(super) fn nesting_exceeds(text: &str, max: usize) -> bool {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            quote @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != quote {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}
