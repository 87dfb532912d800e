//! The gateways this host has, their agents and sessions indexes, and what a filesystem event
//! means in their terms. Paths come in; typed changes go out to the transcript side.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::guarded::{self, Dir, GuardError, Owner};
use crate::layout::{self, Place, SessionFile};
use crate::reported::Reported;
use crate::session::{SessionId, SessionInfo, SessionRef};
use crate::watch::{FsEvent, FsEventKind, Scope};

use super::sessions_index::{IndexChange, IndexedEntry, SessionsIndex};

/// `sessions.json` larger than this is not read (a real one is a few hundred KiB).
pub const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;

/// One agent of one gateway.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentRef {
    pub gateway: PathBuf,
    pub agent_id: String,
}

impl AgentRef {
    pub fn sessions_dir(&self) -> PathBuf {
        layout::sessions_dir(&self.gateway, &self.agent_id)
    }
}

/// What an event meant, for the stages below.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// A sessions dir to (re)scan: new gateway or agent, or a tier that lost events.
    Scan(AgentRef),
    /// The sessions index was reloaded.
    Index(AgentRef, IndexChange),
    /// A transcript file changed.
    Transcript {
        agent: AgentRef,
        name: String,
        kind: FsEventKind,
    },
    /// The agent's SQLite store (2026.8+) was written to (its `-wal` on every commit, the main
    /// file at checkpoints), or appeared.
    Store(AgentRef),
    /// A transcript's lock appeared or went away.
    Lock {
        agent: AgentRef,
        transcript: String,
        held: bool,
    },
}

#[derive(Debug, Default)]
struct Agent {
    index: SessionsIndex,
    /// One `SessionRef` per session key, handed out for every event of that session: built
    /// once per index, and the pipeline's lookups find the very same id (see `SessionId`). When
    /// the index is loaded again each is rebuilt from its new entry (keeping its id), or dropped
    /// with it.
    refs: std::cell::RefCell<HashMap<String, SessionRef>>,
}

#[derive(Debug, Default)]
struct Gateway {
    agents: BTreeMap<String, Agent>,
    /// When the state dir was last found private (see `trusted`).
    trusted_at: Option<Instant>,
}

/// How long a state dir found private is taken as such without a `stat`: every event of a
/// busy gateway asked, a twentieth of the daemon's CPU under load. A dir made writable by
/// others is dropped this much later at most; its files are still opened with every check
/// (`guarded`) meanwhile.
const TRUST_RECHECK: Duration = Duration::from_secs(1);

pub struct Registry {
    scope: Scope,
    gateways: BTreeMap<PathBuf, Gateway>,
    /// State dirs outside the homes that discovery searches, found because a gateway started
    /// a turn (or opened its store) there and a host-wide tier saw it (Discover scope only).
    adopted: std::collections::BTreeSet<PathBuf>,
    /// State dirs and `sessions.json` files refused, each reported once per change of state.
    refusals: Reported<PathBuf>,
}

impl Registry {
    pub fn new(scope: Scope) -> Registry {
        Registry {
            scope,
            gateways: BTreeMap::new(),
            adopted: Default::default(),
            refusals: Reported::default(),
        }
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Where discovery looks, for messages like "no gateway found (looked in …)".
    pub fn search_places(&self) -> Vec<PathBuf> {
        match &self.scope {
            Scope::Discover { fs_root } => layout::home_roots_under(fs_root)
                .into_iter()
                .map(|home| home.join(".openclaw*"))
                .collect(),
            Scope::Gateways(dirs) => dirs.clone(),
        }
    }

    /// State dirs in scope that exist now.
    fn state_dirs_now(&self) -> Vec<PathBuf> {
        match &self.scope {
            Scope::Discover { fs_root } => layout::home_roots_under(fs_root)
                .iter()
                .flat_map(|home| layout::state_dirs_in_home(home))
                .chain(self.adopted.iter().filter(|d| d.is_dir()).cloned())
                .collect(),
            Scope::Gateways(dirs) => dirs.iter().filter(|d| d.is_dir()).cloned().collect(),
        }
    }

    /// Host-wide discovery: in Discover scope, a turn's lock (or a store) appearing in a state
    /// dir no home holds (a gateway run with `OPENCLAW_STATE_DIR=/srv/…`, a user outside
    /// `/home`) adopts that state dir. Only a real directory that not everyone may write to:
    /// otherwise any local user could make the daemon follow files they planted.
    fn adopt(&mut self, state_dir: &Path, gone: bool) -> bool {
        if gone || !matches!(self.scope, Scope::Discover { .. }) {
            return false;
        }
        // `trusted` reports a dir others may write once; a symlink is refused silently.
        if !self.trusted(state_dir) || !layout::is_adoptable_state_dir(state_dir) {
            return false;
        }
        tracing::info!(gateway = %state_dir.display(), "gateway found outside the homes searched (host-wide)");
        self.adopted.insert(state_dir.to_path_buf());
        true
    }

    fn in_scope(&self, state_dir: &Path) -> bool {
        if self.adopted.contains(state_dir) {
            return true;
        }
        match &self.scope {
            Scope::Discover { fs_root } => layout::is_discovered_state_dir(fs_root, state_dir),
            Scope::Gateways(dirs) => dirs.iter().any(|d| d == state_dir),
        }
    }

    /// Finds every gateway and agent in scope; returns the sessions dirs to scan.
    pub fn discover(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        for state_dir in self.state_dirs_now() {
            changes.extend(self.add_gateway(&state_dir));
        }
        changes
    }

    pub fn gateway_count(&self) -> usize {
        self.gateways.len()
    }

    pub fn gateways(&self) -> impl Iterator<Item = &Path> {
        self.gateways.keys().map(PathBuf::as_path)
    }

    pub fn agents(&self) -> Vec<AgentRef> {
        self.gateways
            .iter()
            .flat_map(|(g, gw)| {
                gw.agents.keys().map(|a| AgentRef {
                    gateway: g.clone(),
                    agent_id: a.clone(),
                })
            })
            .collect()
    }

    /// Whether the state dir may be followed: a dir other users may write to is not (they could
    /// swap its `agents/` tree for their own). A gateway followed until then is dropped.
    fn trusted(&mut self, state_dir: &Path) -> bool {
        if self
            .gateways
            .get(state_dir)
            .and_then(|g| g.trusted_at)
            .is_some_and(|at| at.elapsed() < TRUST_RECHECK)
        {
            return true;
        }
        match guarded::check_private_dir(state_dir) {
            Ok(()) => {
                if self.refusals.clear(&state_dir.to_path_buf()) {
                    tracing::info!(gateway = %state_dir.display(), "state dir no longer writable by others: following it");
                }
                if let Some(g) = self.gateways.get_mut(state_dir) {
                    g.trusted_at = Some(Instant::now());
                }
                true
            }
            // Gone: the events of its removal say the rest.
            Err(GuardError::NotFound { .. }) => false,
            Err(err) => {
                let text = err.to_string();
                if self.refusals.is_news(state_dir.to_path_buf(), &text) {
                    tracing::warn!(gateway = %state_dir.display(), "{text}");
                }
                self.gateways.remove(state_dir);
                false
            }
        }
    }

    fn add_gateway(&mut self, state_dir: &Path) -> Vec<Change> {
        if !self.trusted(state_dir) {
            return Vec::new();
        }
        if !self.gateways.contains_key(state_dir) {
            tracing::info!(gateway = %state_dir.display(), "gateway found");
            self.gateways
                .insert(state_dir.to_path_buf(), Gateway::default());
        }
        let mut changes = Vec::new();
        for agent_id in layout::agent_ids(state_dir) {
            changes.extend(self.add_agent(state_dir, &agent_id));
        }
        changes
    }

    fn add_agent(&mut self, state_dir: &Path, agent_id: &str) -> Vec<Change> {
        // Only under a gateway `add_gateway` took in (not one it refused).
        let Some(gateway) = self.gateways.get_mut(state_dir) else {
            return Vec::new();
        };
        if gateway.agents.contains_key(agent_id) {
            return Vec::new();
        }
        let has_sessions = layout::sessions_dir(state_dir, agent_id).is_dir();
        let has_store = layout::agent_db_path(state_dir, agent_id).is_file();
        if !has_sessions && !has_store {
            // Not yet: the sessions dir (or the store) appears with the first message; its
            // creation brings us back.
            return Vec::new();
        }
        tracing::info!(gateway = %state_dir.display(), agent_id, "agent found");
        gateway.agents.insert(agent_id.to_owned(), Agent::default());
        let agent = AgentRef {
            gateway: state_dir.to_path_buf(),
            agent_id: agent_id.to_owned(),
        };
        let mut changes = vec![];
        if let Some(index) = self.reload_index(&agent) {
            changes.push(Change::Index(agent.clone(), index));
        }
        changes.push(Change::Scan(agent));
        changes
    }

    /// Re-reads an agent's `sessions.json`; None when it is absent or refused (a refusal is
    /// logged once, until it is read again).
    pub fn reload_index(&mut self, agent: &AgentRef) -> Option<IndexChange> {
        let path = agent.sessions_dir().join(layout::SESSIONS_INDEX);
        let state_owner = std::fs::metadata(&agent.gateway)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m));
        let bytes = match read_index(&agent.sessions_dir(), state_owner) {
            Ok(bytes) => {
                self.refusals.clear(&agent.sessions_dir());
                if self.refusals.clear(&path) {
                    tracing::info!(path = %path.display(), "sessions index readable again");
                }
                bytes
            }
            Err(GuardError::NotFound { .. }) => return None,
            // The one report of a sessions dir others may write (the core, which then does not
            // follow its transcripts either, says nothing more).
            Err(err @ GuardError::WritableByOthers { .. }) => {
                let text = err.to_string();
                if self.refusals.is_news(agent.sessions_dir(), &text) {
                    tracing::warn!("{text}");
                }
                return None;
            }
            Err(err) => {
                let text = err.to_string();
                if self.refusals.is_news(path.clone(), &text) {
                    tracing::warn!(path = %path.display(), "sessions index not read: {text}");
                }
                return None;
            }
        };
        let slot = self
            .gateways
            .get_mut(&agent.gateway)?
            .agents
            .get_mut(&agent.agent_id)?;
        let change = slot.index.load(&bytes, &path);
        let index = &slot.index;
        let refs = slot.refs.get_mut();
        refs.retain(|key, _| index.entry(key).is_some());
        for (key, session) in refs.iter_mut() {
            if let Some(entry) = index.entry(key) {
                *session = session_ref(session.id.clone(), entry);
            }
        }
        Some(change)
    }

    fn agent(&self, agent: &AgentRef) -> Option<&Agent> {
        self.gateways
            .get(&agent.gateway)?
            .agents
            .get(&agent.agent_id)
    }

    fn index(&self, agent: &AgentRef) -> Option<&SessionsIndex> {
        Some(&self.agent(agent)?.index)
    }

    /// The session a transcript belongs to, per the last good index.
    pub fn session_for(&self, agent: &AgentRef, transcript: &str) -> Option<SessionRef> {
        let slot = self.agent(agent)?;
        let index = &slot.index;
        let key = index.key_for_transcript(transcript)?;
        if let Some(known) = slot.refs.borrow().get(key) {
            return Some(known.clone());
        }
        let entry = index.entry(key)?;
        let id = SessionId::new(
            agent.gateway.clone(),
            agent.agent_id.clone(),
            key.to_owned(),
        );
        let session = session_ref(id, entry);
        slot.refs
            .borrow_mut()
            .insert(key.to_owned(), session.clone());
        Some(session)
    }

    /// The transcript names the index currently points at.
    pub fn current_transcripts(&self, agent: &AgentRef) -> Vec<String> {
        let Some(index) = self.index(agent) else {
            return Vec::new();
        };
        let mut names: Vec<String> = index
            .keys()
            .filter_map(|k| Some(index.entry(k)?.transcript_name()?.to_owned()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Interprets one watch event.
    pub fn on_event(&mut self, event: &FsEvent) -> Vec<Change> {
        if event.kind == FsEventKind::Rescan {
            return self.discover_and_rescan();
        }
        let Some(place) = layout::place_of(&event.path) else {
            return Vec::new();
        };
        let gone = event.kind == FsEventKind::Removed;
        match place {
            Place::StateDir { state_dir } | Place::AgentsTree { state_dir } => {
                if gone || !self.in_scope(&state_dir) {
                    return Vec::new();
                }
                self.add_gateway(&state_dir)
            }
            Place::SessionsDir {
                state_dir,
                agent_id,
            } => {
                if gone || !self.in_scope(&state_dir) {
                    return Vec::new();
                }
                let mut changes = Vec::new();
                if !self.gateways.contains_key(&state_dir) {
                    changes.extend(self.add_gateway(&state_dir));
                }
                changes.extend(self.add_agent(&state_dir, &agent_id));
                changes
            }
            Place::AgentStoreFile {
                state_dir,
                agent_id,
                name,
            } => {
                let db = "openclaw-agent.sqlite";
                let is_store = name == db || name == format!("{db}-wal");
                if is_store && !self.in_scope(&state_dir) && !self.adopt(&state_dir, gone) {
                    return Vec::new();
                }
                if !is_store || gone || !self.trusted(&state_dir) {
                    return Vec::new();
                }
                let known = self
                    .gateways
                    .get(&state_dir)
                    .is_some_and(|g| g.agents.contains_key(&agent_id));
                if !known {
                    // First sight: the scan of the new agent reads the store.
                    let mut changes = self.add_gateway(&state_dir);
                    changes.extend(self.add_agent(&state_dir, &agent_id));
                    return changes;
                }
                vec![Change::Store(AgentRef {
                    gateway: state_dir,
                    agent_id,
                })]
            }
            Place::SessionFile {
                state_dir,
                agent_id,
                file,
            } => {
                let is_lock = matches!(file, SessionFile::Lock { .. });
                let followed =
                    self.in_scope(&state_dir) || (is_lock && self.adopt(&state_dir, gone));
                if !followed || !self.trusted(&state_dir) {
                    return Vec::new();
                }
                let mut changes = Vec::new();
                let known = self
                    .gateways
                    .get(&state_dir)
                    .is_some_and(|g| g.agents.contains_key(&agent_id));
                if !known {
                    changes.extend(self.add_gateway(&state_dir));
                    changes.extend(self.add_agent(&state_dir, &agent_id));
                    let added = self
                        .gateways
                        .get(&state_dir)
                        .is_some_and(|g| g.agents.contains_key(&agent_id));
                    if !added {
                        return changes;
                    }
                }
                let agent = AgentRef {
                    gateway: state_dir,
                    agent_id,
                };
                match file {
                    SessionFile::Index if !gone => {
                        if let Some(change) = self.reload_index(&agent) {
                            changes.push(Change::Index(agent, change));
                        }
                    }
                    SessionFile::Transcript { .. } => {
                        let name = file_name(&event.path);
                        changes.push(Change::Transcript {
                            agent,
                            name,
                            kind: event.kind,
                        });
                    }
                    SessionFile::Lock { transcript } => changes.push(Change::Lock {
                        agent,
                        transcript,
                        held: !gone,
                    }),
                    _ => {}
                }
                changes
            }
        }
    }

    fn discover_and_rescan(&mut self) -> Vec<Change> {
        let mut changes = self.discover();
        for agent in self.agents() {
            if !changes.contains(&Change::Scan(agent.clone())) {
                if let Some(index) = self.reload_index(&agent) {
                    changes.push(Change::Index(agent.clone(), index));
                }
                changes.push(Change::Scan(agent));
            }
        }
        changes
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What the pipeline tells the tracker about a session, from its index entry.
fn session_ref(id: SessionId, entry: &IndexedEntry) -> SessionRef {
    SessionRef::from(SessionInfo {
        id,
        spawned_by: entry.spawned_by.clone(),
        label: entry.label.clone(),
        route: entry.route.clone(),
    })
}

/// Reads `<sessions dir>/sessions.json` through the guarded reader: the sessions dir must not be
/// writable by others (and belong to `state_owner`, the state dir's owner, when given), and the
/// index must be a regular file with one link owned by the sessions dir's owner, as its
/// transcripts are.
pub fn read_index(sessions_dir: &Path, state_owner: Option<u32>) -> Result<Vec<u8>, GuardError> {
    let dir = Dir::open_nofollow(sessions_dir).map_err(|e| match e {
        GuardError::NotFound { .. } => GuardError::NotFound {
            path: sessions_dir.join(layout::SESSIONS_INDEX),
        },
        other => other,
    })?;
    dir.check_private()?;
    if let Some(expected) = state_owner.filter(|uid| *uid != dir.owner_uid()) {
        return Err(GuardError::DirOwner {
            dir: sessions_dir.to_owned(),
            uid: dir.owner_uid(),
            expected,
            whose: "the state dir's owner",
        });
    }
    dir.open(OsStr::new(layout::SESSIONS_INDEX), &Owner::DirOwner)?
        .read_all(MAX_INDEX_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkstate(root: &Path, home: &str, dir: &str, agent: &str) -> PathBuf {
        let state = root.join(home).join(dir);
        std::fs::create_dir_all(state.join("agents").join(agent).join("sessions")).expect("mkdir");
        state
    }

    #[test]
    fn discovery_finds_every_home_and_profile_and_ignores_the_rest() {
        let tmp = tempfile::tempdir().expect("tmp");
        let a = mkstate(tmp.path(), "home/alice", ".openclaw", "main");
        let b = mkstate(tmp.path(), "home/bob", ".openclaw-work", "ops");
        let r = mkstate(tmp.path(), "root", ".clawdbot", "main");
        mkstate(tmp.path(), "home/carol", "not-openclaw", "main");
        let mut reg = Registry::new(Scope::Discover {
            fs_root: tmp.path().to_path_buf(),
        });
        let scans: Vec<_> = reg
            .discover()
            .into_iter()
            .filter_map(|c| match c {
                Change::Scan(a) => Some(a.gateway),
                _ => None,
            })
            .collect();
        assert_eq!(scans.len(), 3, "{scans:?}");
        for g in [a, b, r] {
            assert!(scans.contains(&g), "{g:?} in {scans:?}");
        }
    }

    #[test]
    fn a_gateway_appearing_later_is_picked_up_from_its_events() {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut reg = Registry::new(Scope::Discover {
            fs_root: tmp.path().to_path_buf(),
        });
        assert!(reg.discover().is_empty());
        let state = mkstate(tmp.path(), "home/dave", ".openclaw", "main");
        let lock = state.join("agents/main/sessions/abc.jsonl.lock");
        let changes = reg.on_event(&FsEvent {
            path: lock,
            kind: FsEventKind::Created,
        });
        assert!(changes.iter().any(|c| matches!(c, Change::Scan(_))));
        assert!(changes.iter().any(|c| matches!(
            c,
            Change::Lock { transcript, held: true, .. } if transcript == "abc.jsonl"
        )));
    }

    #[test]
    fn explicit_gateways_turn_discovery_off() {
        let tmp = tempfile::tempdir().expect("tmp");
        let named = mkstate(tmp.path(), "srv", "gw1", "main");
        let other = mkstate(tmp.path(), "home/alice", ".openclaw", "main");
        let mut reg = Registry::new(Scope::Gateways(vec![named.clone()]));
        assert_eq!(reg.discover().len(), 1);
        let ignored = reg.on_event(&FsEvent {
            path: other.join("agents/main/sessions/x.jsonl"),
            kind: FsEventKind::Appended,
        });
        assert!(ignored.is_empty());
        assert_eq!(reg.gateway_count(), 1);
    }

    #[test]
    fn a_lock_outside_the_homes_adopts_its_state_dir_in_discover_scope_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("root-fs");
        std::fs::create_dir_all(root.join("home")).expect("homes");
        let elsewhere = mkstate(tmp.path(), "srv/bots", "state", "main");
        let lock = |state: &Path| FsEvent {
            path: state.join("agents/main/sessions/t1.jsonl.lock"),
            kind: FsEventKind::Created,
        };
        let transcript = FsEvent {
            path: elsewhere.join("agents/main/sessions/t1.jsonl"),
            kind: FsEventKind::Appended,
        };
        let mut reg = Registry::new(Scope::Discover { fs_root: root });
        assert!(
            reg.on_event(&transcript).is_empty(),
            "a transcript alone adopts nothing"
        );
        let changes = reg.on_event(&lock(&elsewhere));
        assert!(
            changes
                .iter()
                .any(|c| matches!(c, Change::Scan(a) if a.gateway == elsewhere))
        );
        assert!(
            !reg.on_event(&transcript).is_empty(),
            "followed once adopted"
        );
        reg.discover();
        assert!(reg.gateways().any(|g| g == elsewhere));

        let open_to_all = mkstate(tmp.path(), "tmp", "planted", "main");
        std::fs::set_permissions(&open_to_all, std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        assert!(reg.on_event(&lock(&open_to_all)).is_empty());

        let mut named = Registry::new(Scope::Gateways(vec![]));
        assert!(named.on_event(&lock(&elsewhere)).is_empty());
    }

    fn index_loaded(changes: &[Change], gateway: &Path) -> bool {
        changes
            .iter()
            .any(|c| matches!(c, Change::Index(a, _) if a.gateway == gateway))
    }

    fn write_index(state: &Path) -> PathBuf {
        let path = state.join("agents/main/sessions/sessions.json");
        std::fs::write(&path, br#"{"agent:main:main":{"sessionId":"s1"}}"#).expect("index");
        path
    }

    #[test]
    fn a_fifo_named_sessions_json_does_not_stop_the_other_gateways() {
        let tmp = tempfile::tempdir().expect("tmp");
        let planted = mkstate(tmp.path(), "home/mallory", ".openclaw", "main");
        let fifo = planted.join("agents/main/sessions/sessions.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let good = mkstate(tmp.path(), "home/alice", ".openclaw", "main");
        write_index(&good);
        let scope = Scope::Gateways(vec![planted.clone(), good.clone()]);
        // On a thread: before the fix the open of the FIFO blocked forever.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reg = Registry::new(scope);
            let _ = tx.send(crate::guarded::test_log::logged(|| reg.discover()));
        });
        let (changes, log) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("discovery blocked on the FIFO");
        assert!(index_loaded(&changes, &good), "{changes:?}");
        assert!(!index_loaded(&changes, &planted), "{changes:?}");
        assert!(
            log.contains("is a FIFO, not a regular file")
                && log.contains(&fifo.display().to_string()),
            "{log}"
        );
    }

    #[test]
    fn a_sessions_json_of_another_user_than_the_sessions_dir_owner_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: chown needs root");
            return;
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let state = mkstate(tmp.path(), "root", ".openclaw", "main");
        let index = write_index(&state);
        std::os::unix::fs::chown(&index, Some(65534), None).expect("chown");
        let mut reg = Registry::new(Scope::Gateways(vec![state.clone()]));
        let (changes, log) = crate::guarded::test_log::logged(|| reg.discover());
        assert!(!index_loaded(&changes, &state), "{changes:?}");
        assert!(
            changes.iter().any(|c| matches!(c, Change::Scan(_))),
            "its transcripts are still scanned"
        );
        assert!(log.contains("is owned by uid 65534"), "{log}");
        // Refused, fixed, refused again: reported twice in all, however often it is reloaded.
        let agent = reg.agents().pop().expect("agent");
        let (_, log) = crate::guarded::test_log::logged(|| {
            for _ in 0..20 {
                assert!(reg.reload_index(&agent).is_none());
            }
            std::os::unix::fs::chown(&index, Some(0), None).expect("chown back");
            assert!(reg.reload_index(&agent).is_some(), "read once owned right");
            std::os::unix::fs::chown(&index, Some(65534), None).expect("chown");
            for _ in 0..20 {
                assert!(reg.reload_index(&agent).is_none());
            }
        });
        assert_eq!(log.matches("is owned by uid 65534").count(), 1, "{log}");
        assert!(log.contains("sessions index readable again"), "{log}");

        // Nor does a sessions dir of another user than the state dir's (a link into their state).
        std::os::unix::fs::chown(state.join("agents/main/sessions"), Some(65534), None)
            .expect("chown dir");
        let err = read_index(&agent.sessions_dir(), Some(0)).expect_err("foreign sessions dir");
        assert!(
            matches!(err, GuardError::DirOwner { uid: 65534, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_state_or_sessions_dir_others_may_write_is_not_followed_with_one_warning() {
        use std::os::unix::fs::PermissionsExt;
        let world = std::fs::Permissions::from_mode(0o777);
        let tmp = tempfile::tempdir().expect("tmp");
        let state = mkstate(tmp.path(), "home/alice", ".openclaw", "main");
        write_index(&state);
        let sessions = state.join("agents/main/sessions");

        std::fs::set_permissions(&sessions, world.clone()).expect("chmod");
        let mut reg = Registry::new(Scope::Gateways(vec![state.clone()]));
        let (changes, log) = crate::guarded::test_log::logged(|| {
            let mut changes = reg.discover();
            for _ in 0..50 {
                changes.extend(reg.on_event(&FsEvent {
                    path: sessions.join("sessions.json"),
                    kind: FsEventKind::Appended,
                }));
            }
            changes
        });
        assert!(!index_loaded(&changes, &state), "{changes:?}");
        assert_eq!(
            log.matches(&format!("chmod o-w {}", sessions.display()))
                .count(),
            1,
            "{log}"
        );

        std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&state, world).expect("chmod");
        let mut reg = Registry::new(Scope::Gateways(vec![state.clone()]));
        let (changes, log) = crate::guarded::test_log::logged(|| {
            let mut changes = reg.discover();
            changes.extend(reg.on_event(&FsEvent {
                path: sessions.join("t1.jsonl.lock"),
                kind: FsEventKind::Created,
            }));
            changes.extend(reg.discover());
            changes
        });
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(reg.gateway_count(), 0);
        assert_eq!(
            log.matches(&format!("chmod o-w {}", state.display()))
                .count(),
            1,
            "{log}"
        );
    }

    #[test]
    fn a_followed_state_dir_made_writable_by_others_is_dropped_within_the_recheck_period() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let state = mkstate(tmp.path(), "home/alice", ".openclaw", "main");
        write_index(&state);
        let transcript = FsEvent {
            path: state.join("agents/main/sessions/s1.jsonl"),
            kind: FsEventKind::Appended,
        };
        let mut reg = Registry::new(Scope::Gateways(vec![state.clone()]));
        reg.discover();
        assert!(!reg.on_event(&transcript).is_empty(), "followed");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        // Found private just now: taken as such until the period is over.
        assert!(
            !reg.on_event(&transcript).is_empty(),
            "checked within the period"
        );
        std::thread::sleep(TRUST_RECHECK + Duration::from_millis(50));
        assert!(
            reg.on_event(&transcript).is_empty(),
            "checked again after it"
        );
        assert_eq!(reg.gateway_count(), 0);
    }
}
