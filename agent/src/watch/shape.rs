//! The part of the filesystem the tiers cover, as roles of directories. Both tiers descend the
//! same roles from the same anchors, so they cover exactly the same directories and files; the
//! names themselves come from `layout`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::layout::{self, Place, SessionFile};
use crate::watch::Scope;

/// What a directory is to us, which decides what inside it matters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `<fs_root>` in Discover mode: only `home` and `root` matter.
    FsRoot,
    /// `<fs_root>/home`: every directory is a home.
    Homes,
    /// A home: its state dirs matter.
    Home,
    /// A state dir: `agents/` and `openclaw.json`.
    StateDir,
    /// `<state>/agents`: every directory is an agent.
    Agents,
    /// `<state>/agents/<id>`: `sessions/` and `agent/`.
    Agent,
    /// `<state>/agents/<id>/sessions`.
    Sessions,
    /// `<state>/agents/<id>/agent` (the SQLite store).
    AgentStore,
    /// An existing ancestor of anchors that do not exist yet (inotify only): the directories on
    /// the way to them matter, nothing else.
    Pending(Vec<(PathBuf, Role)>),
}

impl Role {
    /// The role of the subdirectory `name` of `dir` (a directory of this role), if it matters.
    pub(crate) fn child_dir(&self, dir: &Path, name: &OsStr) -> Option<Role> {
        let child = dir.join(name);
        match self {
            // `layout::home_roots_under` is where these two names come from.
            Role::FsRoot if name == "home" => Some(Role::Homes),
            Role::FsRoot if name == "root" => Some(Role::Home),
            Role::FsRoot => None,
            Role::Homes => Some(Role::Home),
            Role::Home => layout::is_state_dir_name(name).then_some(Role::StateDir),
            Role::StateDir => (child == layout::agents_dir(dir)).then_some(Role::Agents),
            // Agent ids are UTF-8 everywhere in `layout`; a directory that is not has no id.
            Role::Agents => name.to_str().map(|_| Role::Agent),
            Role::Agent => {
                let state_dir = dir.parent()?.parent()?;
                let agent_id = dir.file_name()?.to_str()?;
                if child == layout::sessions_dir(state_dir, agent_id) {
                    Some(Role::Sessions)
                } else if Some(child.as_path())
                    == layout::agent_db_path(state_dir, agent_id).parent()
                {
                    Some(Role::AgentStore)
                } else {
                    None
                }
            }
            Role::Sessions | Role::AgentStore => None,
            Role::Pending(targets) => {
                if let Some((_, role)) = targets.iter().find(|(t, _)| *t == child) {
                    return Some(role.clone());
                }
                let on_the_way: Vec<(PathBuf, Role)> = targets
                    .iter()
                    .filter(|(t, _)| t.starts_with(&child))
                    .cloned()
                    .collect();
                (!on_the_way.is_empty()).then_some(Role::Pending(on_the_way))
            }
        }
    }

    /// Whether files directly inside a directory of this role can be of interest.
    pub(crate) fn holds_files(&self) -> bool {
        matches!(self, Role::StateDir | Role::Sessions | Role::AgentStore)
    }

    /// Whether the directory itself is reported (Created / Removed). Homes and the fs root are
    /// not OpenClaw's, so the stages below have nothing to do with them.
    pub(crate) fn is_reported(&self) -> bool {
        matches!(
            self,
            Role::StateDir | Role::Agents | Role::Agent | Role::Sessions | Role::AgentStore
        )
    }
}

/// Where the walk of a scope starts: the fs root (Discover) or each named state dir.
/// Relative paths are made absolute (without resolving symlinks): a missing anchor is watched
/// through its ancestors, which a relative path does not have.
pub(crate) fn anchors(scope: &Scope) -> Vec<(PathBuf, Role)> {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match scope {
        Scope::Discover { fs_root } => vec![(abs(fs_root), Role::FsRoot)],
        Scope::Gateways(dirs) => {
            let mut out: Vec<(PathBuf, Role)> = Vec::with_capacity(dirs.len());
            for d in dirs {
                let d = abs(d);
                if !out.iter().any(|(p, _)| *p == d) {
                    out.push((d, Role::StateDir));
                }
            }
            out
        }
    }
}

/// The paths a `Rescan` names: what the stages below must rescan from scratch.
pub(crate) fn rescan_roots(scope: &Scope) -> Vec<PathBuf> {
    anchors(scope).into_iter().map(|(p, _)| p).collect()
}

/// Whether a file (not a directory) at `path` is one the stages below act on: transcripts,
/// their locks and rotated names, `sessions.json`, the agent SQLite store and its WAL, and
/// `openclaw.json`.
///
/// Session files that `layout` classifies as `Other` are left out: trajectory files and the
/// index's temp files change constantly and mean nothing to a status box (the rename of a temp
/// file onto `sessions.json` still arrives as `Renamed` for `sessions.json`). Of the agent
/// store only the database and its WAL matter: every commit writes the WAL, checkpoints write
/// the database; `-shm` is written through mmap, which no tier can see anyway.
pub fn is_file_of_interest(path: &Path) -> bool {
    match layout::place_of(path) {
        Some(Place::SessionFile { file, .. }) => !matches!(file, SessionFile::Other),
        Some(Place::AgentStoreFile { name, .. }) => is_store_file(&name),
        // A state dir's own path also places as StateDir; only `openclaw.json` is a file.
        Some(Place::StateDir { state_dir }) => state_dir != path,
        _ => false,
    }
}

fn is_store_file(name: &str) -> bool {
    let db = layout::agent_db_path(Path::new(""), "_");
    let Some(db) = db.file_name().and_then(OsStr::to_str) else {
        return false;
    };
    name == db || name.strip_prefix(db) == Some("-wal")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_interest_follow_layout() {
        let s = "/home/alice/.openclaw/agents/main";
        for yes in [
            format!("{s}/sessions/abc.jsonl"),
            format!("{s}/sessions/abc.jsonl.lock"),
            format!("{s}/sessions/abc.jsonl.reset.2026-11-22T04-02-55.808Z"),
            format!("{s}/sessions/sessions.json"),
            format!("{s}/agent/openclaw-agent.sqlite"),
            format!("{s}/agent/openclaw-agent.sqlite-wal"),
            "/home/alice/.openclaw/openclaw.json".to_owned(),
        ] {
            assert!(is_file_of_interest(Path::new(&yes)), "{yes}");
        }
        for no in [
            format!("{s}/sessions/sessions.json.2936.c4780c8d.tmp"),
            format!("{s}/sessions/abc.trajectory.jsonl"),
            format!("{s}/agent/openclaw-agent.sqlite-shm"),
            format!("{s}/agent/auth-profiles.json"),
            "/home/alice/.openclaw/workspace/AGENTS.md".to_owned(),
            "/home/alice/.openclaw".to_owned(),
            "/home/alice/.openclaw/agents/README".to_owned(),
            "/home/alice/notes.txt".to_owned(),
        ] {
            assert!(!is_file_of_interest(Path::new(&no)), "{no}");
        }
    }

    #[test]
    fn roles_descend_the_openclaw_shape_only() {
        let st = Path::new("/home/alice/.openclaw");
        assert_eq!(
            Role::FsRoot.child_dir(Path::new("/"), OsStr::new("home")),
            Some(Role::Homes)
        );
        assert_eq!(
            Role::FsRoot.child_dir(Path::new("/"), OsStr::new("usr")),
            None
        );
        assert_eq!(
            Role::Home.child_dir(Path::new("/home/alice"), OsStr::new(".openclaw-work")),
            Some(Role::StateDir)
        );
        assert_eq!(
            Role::Home.child_dir(Path::new("/home/alice"), OsStr::new("notes")),
            None
        );
        assert_eq!(Role::StateDir.child_dir(st, OsStr::new("workspace")), None);
        let agent = st.join("agents/main");
        assert_eq!(
            Role::Agent.child_dir(&agent, OsStr::new("sessions")),
            Some(Role::Sessions)
        );
        assert_eq!(
            Role::Agent.child_dir(&agent, OsStr::new("agent")),
            Some(Role::AgentStore)
        );
        assert_eq!(Role::Agent.child_dir(&agent, OsStr::new("qmd")), None);

        let pending = Role::Pending(vec![("/srv/a/gw".into(), Role::StateDir)]);
        assert_eq!(
            pending.child_dir(Path::new("/srv"), OsStr::new("a")),
            Some(Role::Pending(vec![("/srv/a/gw".into(), Role::StateDir)]))
        );
        assert_eq!(
            pending.child_dir(Path::new("/srv/a"), OsStr::new("gw")),
            Some(Role::StateDir)
        );
        assert_eq!(pending.child_dir(Path::new("/srv"), OsStr::new("b")), None);
    }
}
