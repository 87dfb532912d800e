//! `sessions.json`: the gateway's map of session key → entry. OpenClaw rewrites it with
//! tmp + rename, so a reader sees whole files — but a hand-edited, truncated or foreign file must
//! not lose the sessions already known: the last good map is kept and the problem logged once.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};
use serde_json::error::Category;
use serde_json::value::RawValue;

use super::route::{Route, route_for};

/// What the agent uses of one entry. Unknown fields are ignored: every release adds some.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionEntry {
    pub session_id: Option<String>,
    /// Path of the transcript as the gateway saw it; only its file name is used, resolved inside
    /// the sessions dir (the agent may see the state dir under another path).
    pub session_file: Option<String>,
    pub spawned_by: Option<String>,
    pub label: Option<String>,
    pub display_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub chat_type: Option<String>,
    pub delivery_context: Option<serde_json::Value>,
    pub origin: Option<serde_json::Value>,
    /// 2026.5+: `{channel, accountId, target: {to}, thread: {id}}`, the same destination as
    /// `deliveryContext` in another shape.
    pub route: Option<serde_json::Value>,
    #[serde(deserialize_with = "lenient_string")]
    pub last_channel: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub last_to: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub last_thread_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub last_account_id: Option<String>,
}

/// OpenClaw types the `last*` fields `string | number` (other channels have numeric thread ids),
/// and a hand-edited file may hold anything: a value that is not a string or a number reads as
/// absent, so one odd routing field does not cost the whole entry (and with it the session).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

impl SessionEntry {
    /// File name of the entry's transcript inside its sessions dir.
    pub fn transcript_name(&self) -> Option<String> {
        if let Some(file) = &self.session_file {
            let name = file.rsplit('/').next().unwrap_or(file);
            if is_transcript_name(name) {
                return Some(name.to_owned());
            }
        }
        // The id is the file's word too: a name made of it must still be one file's name.
        let name = format!("{}.jsonl", self.session_id.as_ref()?);
        is_transcript_name(&name).then_some(name)
    }
}

/// One file name in the sessions dir that is a transcript (no `/`, no NUL, `.jsonl`).
fn is_transcript_name(name: &str) -> bool {
    !name.contains('\0') && crate::layout::transcript_session_id(name).is_some()
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the top level is not an object of session key → entry")]
    NotAMap,
}

/// Parses a whole `sessions.json`. Entries that are not objects are skipped (counted), so one bad
/// entry does not hide the others.
pub fn parse_index(bytes: &[u8]) -> Result<(HashMap<String, SessionEntry>, usize), IndexError> {
    let mut entries = HashMap::new();
    let skipped = parse_each(bytes, |key, entry| {
        entries.insert(key, entry);
    })?;
    Ok((entries, skipped))
}

/// Hands each good entry of a `sessions.json` to `each`, one at a time; returns how many were
/// skipped. Each entry is parsed from its own bytes, never the whole file into one JSON tree:
/// with tens of thousands of sessions that tree was ~5 KB a session, and the allocator kept
/// most of it after it was freed.
fn parse_each(
    bytes: &[u8],
    mut each: impl FnMut(String, SessionEntry),
) -> Result<usize, IndexError> {
    let raw: HashMap<String, &RawValue> = serde_json::from_slice(bytes).map_err(|e| {
        match e.classify() {
            // Valid JSON, but not an object of entries (`[1,2]`, `"x"`).
            Category::Data => IndexError::NotAMap,
            _ => IndexError::Syntax {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            },
        }
    })?;
    let mut skipped = 0;
    for (key, entry) in raw {
        match serde_json::from_str::<SessionEntry>(entry.get()) {
            Ok(entry) => each(key, entry),
            Err(_) => skipped += 1,
        }
    }
    Ok(skipped)
}

/// What the index keeps of an entry: the name of its transcript and what the tracker is told of
/// its session, the route already worked out. Its raw destinations (three JSON objects) are not
/// kept: a host keeps an entry per session it ever had, finished ones included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedEntry {
    pub transcript: Option<Box<str>>,
    pub spawned_by: Option<String>,
    /// The entry's `label` (sub-agents) or its display name.
    pub label: Option<String>,
    pub route: Option<Route>,
}

impl IndexedEntry {
    pub fn of(key: &str, entry: SessionEntry) -> IndexedEntry {
        IndexedEntry {
            transcript: entry.transcript_name().map(String::into_boxed_str),
            route: route_for(key, &entry),
            label: entry.label.or(entry.display_name),
            spawned_by: entry.spawned_by,
        }
    }

    pub fn transcript_name(&self) -> Option<&str> {
        self.transcript.as_deref()
    }
}

/// The last good index of one sessions dir, with transcript name → key lookups.
#[derive(Debug, Default)]
pub struct SessionsIndex {
    entries: HashMap<Box<str>, IndexedEntry>,
    by_transcript: HashMap<Box<str>, Box<str>>,
    /// Set while the file on disk is unusable, so the problem is logged once, not per rewrite.
    broken: bool,
}

/// What changed when a new index was loaded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IndexChange {
    /// Keys whose transcript file changed (daily reset, `/new`): `(key, old name, new name)`.
    pub rotated: Vec<(String, String, String)>,
    /// Keys no longer present.
    pub removed: Vec<(String, String)>,
}

impl SessionsIndex {
    pub fn entry(&self, key: &str) -> Option<&IndexedEntry> {
        self.entries.get(key)
    }

    pub fn key_for_transcript(&self, name: &str) -> Option<&str> {
        self.by_transcript.get(name).map(|key| &**key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(|key| &**key)
    }

    /// Replaces the map with what `bytes` holds. On a parse failure the old map stays and the
    /// error is logged once until a good file arrives again.
    pub fn load(&mut self, bytes: &[u8], origin: &std::path::Path) -> IndexChange {
        let mut entries = HashMap::new();
        let parsed = parse_each(bytes, |key, entry| {
            let indexed = IndexedEntry::of(&key, entry);
            entries.insert(key.into_boxed_str(), indexed);
        });
        match parsed {
            Ok(skipped) => {
                if self.broken {
                    tracing::info!(path = %origin.display(), "sessions index readable again");
                }
                self.broken = false;
                if skipped > 0 {
                    tracing::debug!(path = %origin.display(), skipped, "entries of an unknown shape skipped");
                }
                self.replace(entries)
            }
            Err(err) => {
                if !self.broken {
                    tracing::warn!(
                        path = %origin.display(),
                        error = %err,
                        kept = self.entries.len(),
                        "sessions index unreadable; keeping the last good one until it is rewritten"
                    );
                }
                self.broken = true;
                IndexChange::default()
            }
        }
    }

    fn replace(&mut self, entries: HashMap<Box<str>, IndexedEntry>) -> IndexChange {
        let mut change = IndexChange::default();
        for (key, old) in &self.entries {
            let old_name = old.transcript_name();
            match entries.get(key) {
                None => {
                    if let Some(name) = old_name {
                        change.removed.push((key.to_string(), name.to_owned()));
                    }
                }
                Some(new) => {
                    if let (Some(o), Some(n)) = (old_name, new.transcript_name())
                        && o != n
                    {
                        change
                            .rotated
                            .push((key.to_string(), o.to_owned(), n.to_owned()));
                    }
                }
            }
        }
        change.rotated.sort();
        change.removed.sort();
        self.by_transcript = entries
            .iter()
            .filter_map(|(k, e)| Some((e.transcript.clone()?, k.clone())))
            .collect();
        self.entries = entries;
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/openclaw/2026.7.1/e_subagent/sessions/sessions.json"
    );

    #[test]
    fn the_real_index_maps_forked_and_subagent_transcripts_to_their_keys() {
        let bytes = std::fs::read(FIXTURE).expect("fixture");
        let mut index = SessionsIndex::default();
        index.load(&bytes, Path::new(FIXTURE));
        assert_eq!(index.len(), 4);
        assert_eq!(
            index.key_for_transcript(
                "2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl"
            ),
            Some(
                "agent:main:mattermost:channel:ch4town5quare00000000000ab:thread:jag0wjcd1t1cuuhaucllp7h6u4"
            )
        );
        let child = index
            .entry("agent:main:subagent:57fd3731-bf9d-4874-9cf2-eb6c7b97878e")
            .expect("child entry");
        assert_eq!(
            child.spawned_by.as_deref(),
            Some("agent:main:mattermost:channel:ch4town5quare00000000000ab")
        );
        assert_eq!(child.label.as_deref(), Some("count-notes"));
    }

    #[test]
    fn a_corrupt_rewrite_keeps_the_last_good_map() {
        let mut index = SessionsIndex::default();
        index.load(
            br#"{"agent:main:main":{"sessionId":"a","sessionFile":"/x/a.jsonl"}}"#,
            Path::new("s.json"),
        );
        index.load(br#"{"agent:main:main":{"sessionId":"#, Path::new("s.json"));
        assert_eq!(index.key_for_transcript("a.jsonl"), Some("agent:main:main"));
        index.load(b"[1,2]", Path::new("s.json"));
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_reset_is_reported_as_a_rotation_of_the_key() {
        let mut index = SessionsIndex::default();
        index.load(
            br#"{"k":{"sessionId":"a","sessionFile":"/x/a.jsonl"},"gone":{"sessionId":"g"}}"#,
            Path::new("s"),
        );
        let change = index.load(
            br#"{"k":{"sessionId":"b","sessionFile":"/x/b.jsonl"},"bad":42}"#,
            Path::new("s"),
        );
        assert_eq!(
            change.rotated,
            vec![("k".into(), "a.jsonl".into(), "b.jsonl".into())]
        );
        assert_eq!(change.removed, vec![("gone".into(), "g.jsonl".into())]);
        assert_eq!(index.key_for_transcript("a.jsonl"), None);
    }

    #[test]
    fn odd_routing_fields_do_not_cost_the_entry() {
        let (entries, skipped) = parse_index(
            br#"{"k":{"sessionId":"a","lastThreadId":1712345678.5,"lastTo":{"x":1},
                 "lastChannel":null,"lastAccountId":["default"],"chatType":true}}"#,
        )
        .expect("parses");
        assert_eq!(skipped, 0);
        let entry = &entries["k"];
        assert_eq!(entry.session_id.as_deref(), Some("a"));
        assert_eq!(entry.last_thread_id.as_deref(), Some("1712345678.5"));
        assert_eq!(
            (&entry.last_to, &entry.last_channel, &entry.last_account_id),
            (&None, &None, &None)
        );
        assert_eq!(entry.chat_type, None);
    }

    /// What the `sessions_json` fuzz target checks of every name: a `sessionId` naming a path
    /// (`../`, `/`) or holding a NUL made a "transcript name" outside the sessions dir (the
    /// opener refused it, but the index kept it and the scan retried it every time).
    #[test]
    fn a_session_id_that_is_not_a_file_name_names_no_transcript() {
        let (entries, _) = parse_index(
            br#"{"up":{"sessionId":"../../root/x"},"abs":{"sessionId":"/etc/passwd"},
                 "nul":{"sessionId":"a\u0000b"},"file":{"sessionFile":"/x/a\u0000.jsonl"},
                 "ok":{"sessionId":"../x","sessionFile":"/s/../x/good.jsonl"}}"#,
        )
        .expect("parses");
        for key in ["up", "abs", "nul", "file"] {
            assert_eq!(entries[key].transcript_name(), None, "{key}");
        }
        assert_eq!(
            entries["ok"].transcript_name().as_deref(),
            Some("good.jsonl")
        );
    }

    #[test]
    fn the_index_keeps_each_entry_routed_and_skips_entries_that_are_not_objects() {
        let mut index = SessionsIndex::default();
        let key = "agent:main:mattermost:channel:ch4town5quare00000000000ab";
        index.load(
            format!(
                r#"{{"{key}":{{"sessionId":"a","displayName":"town",
                   "deliveryContext":{{"channel":"mattermost","to":"channel:ch4town5quare00000000000ab"}}}},
                   "odd":42,"list":"x"}}"#
            )
            .as_bytes(),
            Path::new("s.json"),
        );
        assert_eq!(index.len(), 1);
        let entry = index.entry(key).expect("kept");
        assert_eq!(entry.transcript_name(), Some("a.jsonl"));
        assert_eq!(entry.label.as_deref(), Some("town"));
        let route = entry.route.as_ref().expect("routed at load");
        assert_eq!(
            route.target,
            crate::gateway::Target::Channel("ch4town5quare00000000000ab".into())
        );
        assert!(matches!(parse_index(b"[1,2]"), Err(IndexError::NotAMap)));
    }

    #[test]
    fn parse_errors_say_where() {
        let err = parse_index(b"{\n  \"k\": {,\n}").expect_err("bad json");
        assert!(matches!(err, IndexError::Syntax { line: 2, .. }), "{err}");
    }
}
