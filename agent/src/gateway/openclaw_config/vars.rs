//! `${VAR}` substitution, as OpenClaw's config loader does it.

use super::secrets::Secrets;

/// A `${VAR}` without a fallback names a variable that is not set (its name).
#[derive(Debug)]
pub(super) struct UnsetVar(pub String);

impl Secrets<'_> {
    /// Config-wide `${VAR}` substitution. Returns the text and whether a variable was used.
    pub(super) fn substitute(&mut self, raw: &str) -> Result<(String, bool), UnsetVar> {
        let mut out = String::with_capacity(raw.len());
        let mut used = false;
        let mut rest = raw;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$${") {
                out.push_str("${");
                rest = after;
                continue;
            }
            let Some(body) = tail.strip_prefix("${") else {
                out.push('$');
                rest = &tail[1..];
                continue;
            };
            let Some(end) = body.find('}') else {
                out.push_str(tail);
                rest = "";
                break;
            };
            let inner = &body[..end];
            let (name, fallback) = match inner.split_once(":-") {
                Some((name, fallback)) if !fallback.contains(['$', '{']) => (name, Some(fallback)),
                Some(_) => ("", None),
                None => (inner, None),
            };
            if !is_env_name(name) {
                // Not a reference OpenClaw substitutes: the text stays as written.
                out.push_str("${");
                rest = body;
                continue;
            }
            match (self.env(name), fallback) {
                (Some(value), _) => {
                    out.push_str(&value);
                    used = true;
                }
                (None, Some(fallback)) => out.push_str(fallback),
                (None, None) => return Err(UnsetVar(name.to_owned())),
            }
            rest = &body[end + 1..];
        }
        out.push_str(rest);
        Ok((out, used))
    }
}

/// An env var name OpenClaw substitutes (`[A-Z_][A-Z0-9_]*`, at most 128).
pub(super) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 128
}
