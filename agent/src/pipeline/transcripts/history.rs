//! The finished transcripts found at an agent's first sight, not touched since: all that is
//! kept of each is where it ended, so that one written to again is followed from there. A host
//! keeps every transcript it ever had; a followed file (its tailer, its session, its key) costs
//! ~0.5 KB, this 32 bytes, and no session is looked up until the file is written to again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::gateway::AgentRef;
use crate::transcript::FileIdentity;

/// Where a transcript ended when it was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Ended {
    pub identity: FileIdentity,
    pub offset: u64,
}

/// Per agent, a hash of each name (not the name: it is most of a record's size). A hash shared by
/// two names is caught by the identity, which `take` compares with the file's.
#[derive(Default)]
pub(super) struct History {
    agents: HashMap<AgentRef, HashMap<u64, Ended>>,
}

impl History {
    pub fn record(&mut self, agent: &AgentRef, name: &str, ended: Ended) {
        if !self.agents.contains_key(agent) {
            self.agents.insert(agent.clone(), HashMap::new());
        }
        if let Some(names) = self.agents.get_mut(agent) {
            names.insert(name_hash(name), ended);
        }
    }

    /// Whether `name` was recorded: then where it ended, forgotten. `now` is the file at that
    /// name as it is now (None: gone); the record of another file is forgotten and not given.
    pub fn take(
        &mut self,
        agent: &AgentRef,
        name: &str,
        now: Option<FileIdentity>,
    ) -> Option<Ended> {
        let names = self.agents.get_mut(agent)?;
        let ended = names.remove(&name_hash(name))?;
        (Some(ended.identity) == now).then_some(ended)
    }

    /// The record of `name`, left in place.
    pub fn get(&self, agent: &AgentRef, name: &str) -> Option<Ended> {
        self.agents.get(agent)?.get(&name_hash(name)).copied()
    }

    pub fn len(&self) -> usize {
        self.agents.values().map(HashMap::len).sum()
    }
}

/// `DefaultHasher::new` has fixed keys: the same name hashes the same for the daemon's life.
fn name_hash(name: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish()
}
