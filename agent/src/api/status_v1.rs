//! `GET /v1/status` (also `/plugins/session-status/status`): the session-status OpenClaw
//! plugin's exact response, from the state machine rather than file mtimes:
//! `{"ok":true,"timestamp":…,"sessions":{"running","idle","total","maxConcurrent","available",
//! "details":[{"key","status","agent","kind","updatedAt"}]}}`.

use std::path::Path;

use serde::Serialize;

use crate::pipeline::snapshot::Snapshot;
use crate::session::tracker::SessionView;

/// `details` lists the sessions active this recently (and every running one).
pub const RECENT_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct StatusDoc {
    pub ok: bool,
    /// Unix ms.
    pub timestamp: i64,
    pub sessions: Sessions,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Sessions {
    pub running: usize,
    pub idle: usize,
    pub total: usize,
    pub max_concurrent: u32,
    pub available: u32,
    pub details: Vec<Detail>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    pub key: String,
    /// `running` (a turn is open) or `idle`.
    pub status: &'static str,
    pub agent: String,
    pub kind: &'static str,
    /// Unix ms of the session's last input.
    pub updated_at: i64,
}

/// What kind of session a key names, e.g. `agent:main:mattermost:channel:<id>` → `channel`.
pub fn kind_of(session: &SessionView) -> &'static str {
    if session.spawned_by.is_some() {
        return "subagent";
    }
    let key = session.id.key.as_str();
    let rest = key
        .strip_prefix("agent:")
        .and_then(|r| r.split_once(':'))
        .map_or(key, |(_, rest)| rest);
    if rest == "main" {
        "main"
    } else if rest.starts_with("subagent:") {
        "subagent"
    } else if rest.contains(":thread:") {
        "thread"
    } else if rest.contains(":channel:") || rest.contains(":group:") {
        "channel"
    } else if rest.contains(":direct:") || rest.contains(":dm:") {
        "direct"
    } else if rest.starts_with("cron:") {
        "cron"
    } else {
        "other"
    }
}

/// The document for the sessions of `gateway` (every gateway when None).
pub fn document(
    snapshot: &Snapshot,
    gateway: Option<&Path>,
    max_concurrent: u32,
    now_ms: i64,
) -> StatusDoc {
    let mut details: Vec<Detail> = snapshot
        .sessions
        .iter()
        .filter(|s| gateway.is_none_or(|g| s.id.gateway == g))
        .filter(|s| s.running || now_ms - s.updated_ms <= RECENT_MS)
        .map(|s| Detail {
            key: s.id.key.clone(),
            status: if s.running { "running" } else { "idle" },
            agent: s.id.agent_id.clone(),
            kind: kind_of(s),
            updated_at: s.updated_ms,
        })
        .collect();
    details.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.key.cmp(&b.key)));
    let running = details.iter().filter(|d| d.status == "running").count();
    let total = details.len();
    let used = u32::try_from(running).unwrap_or(u32::MAX);
    StatusDoc {
        ok: true,
        timestamp: now_ms,
        sessions: Sessions {
            running,
            idle: total - running,
            total,
            max_concurrent,
            available: max_concurrent.saturating_sub(used),
            details,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionId;
    use std::path::PathBuf;

    fn session(gateway: &str, key: &str, running: bool, updated_ms: i64) -> SessionView {
        SessionView {
            id: SessionId::new(PathBuf::from(gateway), "main".to_owned(), key.to_owned()),
            spawned_by: None,
            running,
            updated_ms,
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    fn snapshot() -> Snapshot {
        Snapshot {
            ready: true,
            sessions: vec![
                session(
                    "/home/a/.openclaw",
                    "agent:main:mattermost:channel:c1",
                    true,
                    NOW - 1_000,
                ),
                session("/home/a/.openclaw", "agent:main:main", false, NOW - 60_000),
                // Active long ago: not in details, not counted.
                session(
                    "/home/a/.openclaw",
                    "agent:main:cron:nightly",
                    false,
                    NOW - RECENT_MS - 1,
                ),
                session(
                    "/home/b/.openclaw",
                    "agent:main:mattermost:channel:c1:thread:p1",
                    true,
                    NOW - 5,
                ),
            ],
            ..Snapshot::default()
        }
    }

    #[test]
    fn running_means_a_turn_is_open_and_details_hold_the_last_five_minutes() {
        let doc = document(&snapshot(), None, 8, NOW);
        let v = serde_json::to_value(&doc).expect("serializes");
        assert_eq!(v["ok"], true);
        assert_eq!(v["timestamp"], NOW);
        let s = &v["sessions"];
        assert_eq!(s["running"], 2);
        assert_eq!(s["idle"], 1);
        assert_eq!(s["total"], 3);
        assert_eq!(s["maxConcurrent"], 8);
        assert_eq!(s["available"], 6);
        let keys: Vec<&str> = s["details"]
            .as_array()
            .expect("details")
            .iter()
            .map(|d| d["key"].as_str().expect("key"))
            .collect();
        assert_eq!(
            keys,
            [
                "agent:main:mattermost:channel:c1:thread:p1",
                "agent:main:mattermost:channel:c1",
                "agent:main:main"
            ]
        );
        let first = &s["details"][0];
        let mut fields: Vec<&str> = first
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        assert_eq!(fields, ["agent", "key", "kind", "status", "updatedAt"]);
        assert_eq!(first["status"], "running");
        assert_eq!(first["kind"], "thread");
        assert_eq!(s["details"][2]["kind"], "main");
        assert_eq!(s["details"][2]["status"], "idle");
    }

    #[test]
    fn a_gateway_filter_keeps_its_own_sessions_and_available_never_goes_negative() {
        let doc = document(&snapshot(), Some(Path::new("/home/b/.openclaw")), 1, NOW);
        assert_eq!(doc.sessions.running, 1);
        assert_eq!(doc.sessions.total, 1);
        assert_eq!(doc.sessions.available, 0);
        let doc = document(&snapshot(), None, 1, NOW);
        assert_eq!(doc.sessions.available, 0);
    }
}
