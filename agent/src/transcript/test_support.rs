//! Where the recorded OpenClaw transcripts live, for tests.

use std::path::{Path, PathBuf};

pub(crate) fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/openclaw")
}

/// Every `*.jsonl` transcript (in a `sessions/` dir) under the fixtures, sorted. The
/// SQLite era's decoded dumps are JSONL too, but of store rows, not transcript lines.
pub(crate) fn fixture_transcripts() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if dir.file_name().is_some_and(|d| d == "sessions")
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.contains(".jsonl") && !n.ends_with(".lock"))
            {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixture_root(), &mut out);
    out.sort();
    out
}
