//! The JSON the uploader POSTs (documented in docs/api.md): the agents of the gateways it
//! covers, one entry per (gateway, agent).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::session::tracker::SessionView;

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UploadDoc {
    pub source: &'static str,
    pub version: &'static str,
    pub host: String,
    /// Unix ms.
    pub timestamp: i64,
    /// True only for `openclaw-livestatus upload --test`.
    pub test: bool,
    pub agents: Vec<AgentDoc>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AgentDoc {
    pub id: String,
    pub gateway: String,
    /// `running` when one of its sessions has a turn open, else `idle`.
    pub state: &'static str,
    pub open_turns: usize,
    pub sessions: usize,
    /// Unix ms of the last input of any of its sessions.
    pub last_activity: i64,
}

/// The agents of `sessions` whose gateway is in `gateways` (all when None).
pub fn document(
    sessions: &[SessionView],
    gateways: Option<&[PathBuf]>,
    now_ms: i64,
    test: bool,
) -> UploadDoc {
    let mut agents: BTreeMap<(&Path, &str), AgentDoc> = BTreeMap::new();
    for s in sessions {
        if gateways.is_some_and(|only| !only.contains(&s.id.gateway)) {
            continue;
        }
        let entry = agents
            .entry((s.id.gateway.as_path(), s.id.agent_id.as_str()))
            .or_insert_with(|| AgentDoc {
                id: s.id.agent_id.clone(),
                gateway: s.id.gateway.display().to_string(),
                state: "idle",
                open_turns: 0,
                sessions: 0,
                last_activity: 0,
            });
        entry.sessions += 1;
        entry.last_activity = entry.last_activity.max(s.updated_ms);
        if s.running {
            entry.open_turns += 1;
            entry.state = "running";
        }
    }
    UploadDoc {
        source: "openclaw-livestatus",
        version: env!("CARGO_PKG_VERSION"),
        host: hostname(),
        timestamp: now_ms,
        test,
        agents: agents.into_values().collect(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionId;

    fn session(gateway: &str, agent: &str, key: &str, running: bool, at: i64) -> SessionView {
        SessionView {
            id: SessionId::new(PathBuf::from(gateway), agent.to_owned(), key.to_owned()),
            spawned_by: None,
            running,
            updated_ms: at,
        }
    }

    #[test]
    fn one_entry_per_agent_of_each_gateway_with_its_open_turns() {
        let sessions = [
            session("/g1", "main", "agent:main:main", true, 10),
            session("/g1", "main", "agent:main:cron:x", false, 30),
            session("/g1", "ops", "agent:ops:main", false, 5),
            session("/g2", "main", "agent:main:main", false, 7),
        ];
        let doc = document(&sessions, None, 99, false);
        assert_eq!(doc.agents.len(), 3);
        let main = &doc.agents[0];
        assert_eq!((main.gateway.as_str(), main.id.as_str()), ("/g1", "main"));
        assert_eq!(main.state, "running");
        assert_eq!(main.open_turns, 1);
        assert_eq!(main.sessions, 2);
        assert_eq!(main.last_activity, 30);
        assert_eq!(doc.agents[1].state, "idle");
        let only = document(&sessions, Some(&[PathBuf::from("/g2")]), 99, false);
        assert_eq!(only.agents.len(), 1);
        assert_eq!(only.agents[0].gateway, "/g2");
        let v = serde_json::to_value(&doc).expect("serializes");
        assert_eq!(v["agents"][0]["openTurns"], 1);
        assert_eq!(v["agents"][0]["lastActivity"], 30);
    }
}
