//! OpenClaw's on-disk shape, as pure functions over paths: which directory names are state dirs,
//! where agents and sessions live, what a file name means. Every stage that looks at a path uses
//! this one vocabulary, so no stage re-parses another's strings.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Directory names (under a home) that hold an OpenClaw state dir: `.openclaw`,
/// `.openclaw-<profile>` (`--profile NAME`), and the legacy `.clawdbot` / `.moltbot`.
pub fn is_state_dir_name(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    match name {
        ".openclaw" | ".clawdbot" | ".moltbot" => true,
        _ => name
            .strip_prefix(".openclaw-")
            .is_some_and(|profile| !profile.is_empty() && !profile.contains('.')),
    }
}

/// `--profile` name of a state dir, if it has one (`.openclaw-work` → `work`).
pub fn profile_of(state_dir: &Path) -> Option<&str> {
    state_dir.file_name()?.to_str()?.strip_prefix(".openclaw-")
}

/// The homes searched when no gateway is named: `/root` and every directory in `/home`.
pub fn default_home_roots() -> Vec<PathBuf> {
    home_roots_under(Path::new("/"))
}

/// Homes under a given filesystem root (tests point this at a temp dir).
pub fn home_roots_under(root: &Path) -> Vec<PathBuf> {
    let mut homes = vec![root.join("root")];
    if let Ok(entries) = std::fs::read_dir(root.join("home")) {
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        found.sort();
        homes.extend(found);
    }
    homes
}

/// Whether discovery under `fs_root` finds `state_dir`: a state dir name directly in
/// `<fs_root>/root` or in a home `<fs_root>/home/<user>`.
pub fn is_discovered_state_dir(fs_root: &Path, state_dir: &Path) -> bool {
    let Some(home) = state_dir.parent() else {
        return false;
    };
    state_dir.file_name().is_some_and(is_state_dir_name)
        && (home == fs_root.join("root") || home.parent() == Some(&fs_root.join("home")))
}

/// Whether host-wide discovery may follow a state dir found outside the homes: an absolute
/// path to a real directory that not everyone may write to (otherwise any local user could
/// make the daemon follow files they planted).
pub fn is_adoptable_state_dir(state_dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    state_dir.is_absolute()
        && std::fs::symlink_metadata(state_dir)
            .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o002 == 0)
}

/// State dirs directly inside one home, sorted.
pub fn state_dirs_in_home(home: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(home) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| is_state_dir_name(&e.file_name()))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

pub fn agents_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("agents")
}

pub fn sessions_dir(state_dir: &Path, agent_id: &str) -> PathBuf {
    state_dir.join("agents").join(agent_id).join("sessions")
}

/// Where 2026.8+ keeps an agent's sessions (WAL-mode SQLite).
pub fn agent_db_path(state_dir: &Path, agent_id: &str) -> PathBuf {
    state_dir
        .join("agents")
        .join(agent_id)
        .join("agent")
        .join("openclaw-agent.sqlite")
}

/// Agent ids present in a state dir, sorted.
pub fn agent_ids(state_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(agents_dir(state_dir)) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

pub const SESSIONS_INDEX: &str = "sessions.json";
pub const GATEWAY_CONFIG: &str = "openclaw.json";

/// What a file inside a sessions dir is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionFile {
    /// `sessions.json`: the key → entry map (rewritten by tmp + rename).
    Index,
    /// A live transcript: `<sessionId>.jsonl` or `<timestamp>_<sessionId>.jsonl`.
    Transcript { session_id: String },
    /// `<transcript>.lock`: the gateway is working on that transcript.
    Lock { transcript: String },
    /// `<transcript>.reset.<ts>` / `.deleted.<ts>`: a transcript rotated away by a reset.
    Rotated { transcript: String },
    /// Anything else (trajectory files, temp files of the index rewrite, …).
    Other,
}

pub fn classify_session_file(name: &str) -> SessionFile {
    if name == SESSIONS_INDEX {
        return SessionFile::Index;
    }
    if let Some(transcript) = name.strip_suffix(".lock") {
        if is_transcript_name(transcript) {
            return SessionFile::Lock {
                transcript: transcript.to_owned(),
            };
        }
        return SessionFile::Other;
    }
    if let Some(session_id) = transcript_session_id(name) {
        return SessionFile::Transcript {
            session_id: session_id.to_owned(),
        };
    }
    for marker in [".jsonl.reset.", ".jsonl.deleted."] {
        if let Some(pos) = name.find(marker) {
            let transcript = &name[..pos + ".jsonl".len()];
            if is_transcript_name(transcript) {
                return SessionFile::Rotated {
                    transcript: transcript.to_owned(),
                };
            }
        }
    }
    SessionFile::Other
}

fn is_transcript_name(name: &str) -> bool {
    transcript_session_id(name).is_some()
}

/// Session id in a transcript file name, or None when the name is not a transcript.
pub fn transcript_session_id(name: &str) -> Option<&str> {
    let stem = name.strip_suffix(".jsonl")?;
    if stem.is_empty() || stem.ends_with(".trajectory") || stem.contains('/') {
        return None;
    }
    // A forked transcript carries a timestamp prefix: `2026-11-22T03-51-03-547Z_<id>`.
    Some(match stem.split_once('_') {
        Some((prefix, id)) if prefix.contains('T') && !id.is_empty() => id,
        _ => stem,
    })
}

/// Where a path sits in a state dir's tree, as far as this agent cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// `<state>/agents/<agent>/sessions/<file>`.
    SessionFile {
        state_dir: PathBuf,
        agent_id: String,
        file: SessionFile,
    },
    /// `<state>/agents/<agent>/sessions` itself.
    SessionsDir {
        state_dir: PathBuf,
        agent_id: String,
    },
    /// `<state>/agents/<agent>` or `<state>/agents`: new agents may appear here.
    AgentsTree { state_dir: PathBuf },
    /// `<state>/agents/<agent>/agent/<file>`: the SQLite store of 2026.8+.
    AgentStoreFile {
        state_dir: PathBuf,
        agent_id: String,
        name: String,
    },
    /// A state dir itself (`<home>/.openclaw…`), or its `openclaw.json`.
    StateDir { state_dir: PathBuf },
}

/// Places a path by its shape alone (it need not exist). The state dir is recognised by the
/// `agents/<id>/…` structure below it, so explicit `--gateway` dirs with any name work too.
pub fn place_of(path: &Path) -> Option<Place> {
    let comps: Vec<&OsStr> = path.iter().collect();
    let n = comps.len();
    let name = |i: usize| comps[i].to_str();
    let prefix = |k: usize| -> PathBuf { comps[..k].iter().collect() };
    // …/<state>/agents/<id>/sessions/<file>
    if n >= 5 && comps[n - 4] == "agents" && comps[n - 2] == "sessions" {
        return Some(Place::SessionFile {
            state_dir: prefix(n - 4),
            agent_id: name(n - 3)?.to_owned(),
            file: classify_session_file(name(n - 1)?),
        });
    }
    if n >= 5 && comps[n - 4] == "agents" && comps[n - 2] == "agent" {
        return Some(Place::AgentStoreFile {
            state_dir: prefix(n - 4),
            agent_id: name(n - 3)?.to_owned(),
            name: name(n - 1)?.to_owned(),
        });
    }
    if n >= 4 && comps[n - 3] == "agents" && comps[n - 1] == "sessions" {
        return Some(Place::SessionsDir {
            state_dir: prefix(n - 3),
            agent_id: name(n - 2)?.to_owned(),
        });
    }
    if n >= 3 && comps[n - 2] == "agents" {
        return Some(Place::AgentsTree {
            state_dir: prefix(n - 2),
        });
    }
    if n >= 2 && comps[n - 1] == "agents" {
        return Some(Place::AgentsTree {
            state_dir: prefix(n - 1),
        });
    }
    if n >= 2 && (is_state_dir_name(comps[n - 1])) {
        return Some(Place::StateDir {
            state_dir: path.to_path_buf(),
        });
    }
    if n >= 2 && comps[n - 1] == GATEWAY_CONFIG {
        return Some(Place::StateDir {
            state_dir: prefix(n - 1),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dir_names_cover_profiles_and_legacy_names() {
        for ok in [".openclaw", ".openclaw-work", ".clawdbot", ".moltbot"] {
            assert!(is_state_dir_name(OsStr::new(ok)), "{ok}");
        }
        for no in [
            "openclaw",
            ".openclaw-",
            ".openclaw.bak",
            ".openclawx",
            ".config",
        ] {
            assert!(!is_state_dir_name(OsStr::new(no)), "{no}");
        }
        assert_eq!(
            profile_of(Path::new("/home/bob/.openclaw-work")),
            Some("work")
        );
    }

    #[test]
    fn session_file_names_as_the_fixtures_write_them() {
        assert_eq!(
            classify_session_file("378cc088-7929-479b-991c-8aad99f30827.jsonl"),
            SessionFile::Transcript {
                session_id: "378cc088-7929-479b-991c-8aad99f30827".into()
            }
        );
        assert_eq!(
            classify_session_file(
                "2026-11-22T03-51-03-547Z_41ed4d3a-d339-433d-9c46-b59c2abd2491.jsonl"
            ),
            SessionFile::Transcript {
                session_id: "41ed4d3a-d339-433d-9c46-b59c2abd2491".into()
            }
        );
        assert_eq!(
            classify_session_file("378cc088.jsonl.lock"),
            SessionFile::Lock {
                transcript: "378cc088.jsonl".into()
            }
        );
        assert_eq!(
            classify_session_file("08212adb.jsonl.reset.2026-11-22T04-02-55.808Z"),
            SessionFile::Rotated {
                transcript: "08212adb.jsonl".into()
            }
        );
        assert_eq!(classify_session_file("sessions.json"), SessionFile::Index);
        for other in [
            "378cc088.trajectory.jsonl",
            "sessions.json.2936.c4780c8d.tmp",
            "sessions.json.lock",
            "378cc088.trajectory-path.json",
        ] {
            assert_eq!(classify_session_file(other), SessionFile::Other, "{other}");
        }
    }

    #[test]
    fn places_follow_the_tree_shape() {
        let p = place_of(Path::new(
            "/home/alice/.openclaw/agents/main/sessions/abc.jsonl.lock",
        ));
        assert_eq!(
            p,
            Some(Place::SessionFile {
                state_dir: "/home/alice/.openclaw".into(),
                agent_id: "main".into(),
                file: SessionFile::Lock {
                    transcript: "abc.jsonl".into()
                }
            })
        );
        assert_eq!(
            place_of(Path::new("/srv/gw/agents/ops/sessions")),
            Some(Place::SessionsDir {
                state_dir: "/srv/gw".into(),
                agent_id: "ops".into()
            })
        );
        assert_eq!(
            place_of(Path::new("/home/bob/.openclaw-work")),
            Some(Place::StateDir {
                state_dir: "/home/bob/.openclaw-work".into()
            })
        );
        assert_eq!(place_of(Path::new("/home/bob/notes.txt")), None);
    }
}
