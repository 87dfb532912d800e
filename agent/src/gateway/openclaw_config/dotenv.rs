//! The gateway's `<state dir>/.env`.

use std::collections::HashMap;

/// dotenv's format: `KEY=value`, optional `export `, `#` comments, single or double quotes.
pub(super) fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let key_ok = key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            continue;
        }
        let value = value.trim();
        let value = if let Some(quoted) = value.strip_prefix('"') {
            let inner = quoted.rfind('"').map_or(quoted, |end| &quoted[..end]);
            inner.replace("\\n", "\n").replace("\\\"", "\"")
        } else if let Some(quoted) = value.strip_prefix('\'') {
            quoted
                .rfind('\'')
                .map_or(quoted, |end| &quoted[..end])
                .to_owned()
        } else {
            value
                .split_once(" #")
                .map_or(value, |(v, _)| v)
                .trim()
                .to_owned()
        };
        vars.insert(key.to_owned(), value);
    }
    vars
}
