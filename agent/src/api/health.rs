//! `GET /health`: what the daemon is doing and whether it is healthy — 200 when it is, 503 when
//! not (not READY yet, no tier armed, or every Mattermost server failing), so `curl -f` and
//! load balancers can use it.

use serde::Serialize;

use crate::pipeline::snapshot::Snapshot;
use crate::sink::rest::{BreakerState, ServerView};

use super::uploader::UploadResult;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthDoc {
    /// `ok`, `starting` or `unhealthy`.
    pub status: &'static str,
    /// Why not healthy; empty when healthy.
    pub problems: Vec<String>,
    pub version: &'static str,
    pub uptime_seconds: u64,
    pub tier: Option<TierDoc>,
    pub gateways: Vec<String>,
    pub open_boxes: Vec<BoxDoc>,
    /// None: no Mattermost configured (boxes go to the log).
    pub mattermost: Option<Vec<ServerDoc>>,
    pub last_error: Option<ErrorDoc>,
    pub uploader: Option<UploadResult>,
}

#[derive(Debug, Serialize)]
pub struct TierDoc {
    pub name: &'static str,
    pub why: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BoxDoc {
    pub gateway: String,
    pub agent: String,
    pub session: String,
    pub elapsed_seconds: i64,
    pub last_line: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ServerDoc {
    pub server: String,
    /// `plugin` (batches to the Live Status plugin) or `rest` (create + patch posts).
    pub mode: String,
    /// `closed`, `half-open` or `open`.
    pub breaker: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ErrorDoc {
    /// Unix ms.
    pub at: i64,
    pub message: String,
}

pub struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    pub breakers: Option<Vec<ServerView>>,
    pub uptime_seconds: u64,
    pub last_error: Option<(i64, String)>,
    pub uploader: Option<UploadResult>,
    pub now_ms: i64,
}

/// The document and whether it is healthy.
pub fn document(i: Inputs<'_>) -> (bool, HealthDoc) {
    let s = i.snapshot;
    let mut problems = Vec::new();
    if !s.ready {
        problems.push("starting: the watch tier is not armed yet".to_owned());
    } else if s.tier.is_none() {
        problems.push("no watch tier is armed".to_owned());
    }
    if let Some(servers) = &i.breakers
        && !servers.is_empty()
        && servers.iter().all(|v| v.breaker != BreakerState::Closed)
    {
        problems.push(
            "every Mattermost server is failing (circuit breakers open): boxes are not delivered"
                .to_owned(),
        );
    }
    let status = if !s.ready {
        "starting"
    } else if problems.is_empty() {
        "ok"
    } else {
        "unhealthy"
    };
    let doc = HealthDoc {
        status,
        problems,
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: i.uptime_seconds,
        tier: s.tier.map(|t| TierDoc {
            name: t.name(),
            why: s.tier_why.clone(),
        }),
        gateways: s.gateways.iter().map(|g| g.display().to_string()).collect(),
        open_boxes: s
            .open_boxes
            .iter()
            .map(|b| BoxDoc {
                gateway: b.owner.gateway.display().to_string(),
                agent: b.owner.agent_id.clone(),
                session: b.owner.key.clone(),
                elapsed_seconds: ((i.now_ms - b.started_ms) / 1000).max(0),
                last_line: b.last_line.clone(),
            })
            .collect(),
        mattermost: i.breakers.map(|servers| {
            servers
                .into_iter()
                .map(|v| ServerDoc {
                    server: v.server,
                    mode: v.mode,
                    breaker: v.breaker.as_str(),
                })
                .collect()
        }),
        last_error: i.last_error.map(|(at, message)| ErrorDoc { at, message }),
        uploader: i.uploader,
    };
    (status == "ok", doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::TierKind;

    fn ready() -> Snapshot {
        Snapshot {
            ready: true,
            tier: Some(TierKind::Inotify),
            tier_why: "asked for (inotify)".to_owned(),
            ..Snapshot::default()
        }
    }

    fn server(url: &str, breaker: BreakerState) -> ServerView {
        ServerView {
            server: url.to_owned(),
            breaker,
            mode: "rest".to_owned(),
        }
    }

    fn inputs(snapshot: &Snapshot, breakers: Option<Vec<ServerView>>) -> Inputs<'_> {
        Inputs {
            snapshot,
            breakers,
            uptime_seconds: 3,
            last_error: None,
            uploader: None,
            now_ms: 0,
        }
    }

    #[test]
    fn healthy_once_ready_with_a_tier_and_a_server_that_answers() {
        let s = ready();
        let servers = vec![
            server("https://a", BreakerState::Closed),
            server("https://b", BreakerState::Open),
        ];
        let (healthy, doc) = document(inputs(&s, Some(servers)));
        assert!(healthy, "{:?}", doc.problems);
        assert_eq!(doc.status, "ok");
        assert_eq!(doc.tier.as_ref().map(|t| t.name), Some("inotify"));
        assert_eq!(doc.mattermost.as_ref().map(Vec::len), Some(2));
    }

    #[test]
    fn not_ready_or_every_server_failing_is_unhealthy() {
        let (healthy, doc) = document(inputs(&Snapshot::default(), None));
        assert!(!healthy);
        assert_eq!(doc.status, "starting");
        let s = ready();
        let servers = vec![
            server("https://a", BreakerState::Open),
            server("https://b", BreakerState::HalfOpen),
        ];
        let (healthy, doc) = document(inputs(&s, Some(servers)));
        assert!(!healthy);
        assert_eq!(doc.status, "unhealthy");
        assert!(doc.problems[0].contains("every Mattermost server"));
    }

    #[test]
    fn no_mattermost_at_all_is_healthy_and_says_so() {
        let s = ready();
        let (healthy, doc) = document(inputs(&s, None));
        assert!(healthy);
        let v = serde_json::to_value(&doc).expect("serializes");
        assert!(v["mattermost"].is_null());
        assert_eq!(v["uptimeSeconds"], 3);
    }
}
