//! `$include` expansion: other JSON5 files spliced in, inside the config's directory.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::parse::parse_json5;
use super::{
    GatewayConfigError, MAX_INCLUDE_BYTES, MAX_INCLUDE_DEPTH, MAX_INCLUDE_FILES, read_owned,
};
use crate::guarded::GuardError;

/// `$include` expansion, as OpenClaw's config loader does it.
pub(super) struct Includes<'a> {
    pub(super) root_dir: &'a Path,
    pub(super) owner: u32,
    pub(super) files: usize,
    /// The chain of files being expanded, to refuse a cycle.
    pub(super) stack: Vec<PathBuf>,
}

impl Includes<'_> {
    pub(super) fn expand(
        &mut self,
        value: Value,
        dir: &Path,
        depth: usize,
    ) -> Result<Value, GatewayConfigError> {
        match value {
            Value::Object(mut map) => {
                let spec = map.remove("$include");
                let mut siblings = Map::with_capacity(map.len());
                for (k, v) in map {
                    siblings.insert(k, self.expand(v, dir, depth)?);
                }
                let Some(spec) = spec else {
                    return Ok(Value::Object(siblings));
                };
                let mut merged = match spec {
                    Value::String(one) => self.load(&one, dir, depth)?,
                    Value::Array(many) => {
                        let mut merged = Value::Object(Map::new());
                        for item in many {
                            let Value::String(one) = item else {
                                return Err(self.error("(list)", "entries must be paths"));
                            };
                            let value = self.load(&one, dir, depth)?;
                            deep_merge(&mut merged, value);
                        }
                        merged
                    }
                    _ => return Err(self.error("(value)", "must be a path or a list of paths")),
                };
                if siblings.is_empty() {
                    return Ok(merged);
                }
                if !merged.is_object() {
                    return Err(self.error(
                        "(value)",
                        "the included value is not an object, but keys sit beside $include",
                    ));
                }
                deep_merge(&mut merged, Value::Object(siblings));
                Ok(merged)
            }
            Value::Array(items) => items
                .into_iter()
                .map(|v| self.expand(v, dir, depth))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            other => Ok(other),
        }
    }

    pub(super) fn load(
        &mut self,
        raw: &str,
        dir: &Path,
        depth: usize,
    ) -> Result<Value, GatewayConfigError> {
        if depth >= MAX_INCLUDE_DEPTH {
            return Err(self.error(raw, "includes nest more than 10 deep"));
        }
        if raw.is_empty() || raw.contains('\0') || raw.len() >= 4096 {
            return Err(self.error(raw, "not a usable path"));
        }
        let path = lexical_join(dir, Path::new(raw))
            .filter(|p| p.starts_with(self.root_dir))
            .ok_or_else(|| {
                self.error(
                    raw,
                    "resolves outside the config's directory (not followed)",
                )
            })?;
        if self.stack.contains(&path) {
            return Err(self.error(raw, "includes itself"));
        }
        self.files += 1;
        if self.files > MAX_INCLUDE_FILES {
            return Err(self.error(raw, "too many included files"));
        }
        let bytes = read_owned(&path, MAX_INCLUDE_BYTES, self.owner).map_err(|e| {
            let why = match e {
                GuardError::NotFound { .. } => "does not exist".to_owned(),
                refused => refused.to_string(),
            };
            self.error(raw, &why)
        })?;
        let value = parse_json5(&path, &bytes)?;
        let parent = path.parent().unwrap_or(self.root_dir).to_owned();
        self.stack.push(path);
        let expanded = self.expand(value, &parent, depth + 1);
        self.stack.pop();
        expanded
    }

    pub(super) fn error(&self, include: &str, reason: &str) -> GatewayConfigError {
        GatewayConfigError::Include {
            path: self.stack.last().cloned().unwrap_or_default(),
            include: include.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// `dir/rel` with `.` and `..` resolved on the text; `None` if it climbs above `/`.
pub(super) fn lexical_join(dir: &Path, rel: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in dir.join(rel).components() {
        match part {
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

/// Objects merge key by key, recursively; anything else is replaced.
pub(super) fn deep_merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (k, v) in from {
                match into.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        into.insert(k, v);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}
