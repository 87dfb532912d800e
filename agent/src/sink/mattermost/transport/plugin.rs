//! The plugin transport: `POST <plugin>/api/v1/batch` with `Authorization: Bearer <secret>`
//! (plugin/server/api.go, batch.go, apply.go) and `GET <plugin>/api/v1/health`.
//!
//! What the plugin has of a box is tracked per box in [`Sent`]; each batch carries, per box, the
//! ops that bring the plugin from there to the box's latest model (lines added since, statuses
//! changed, tokens, the close), as ONE delta numbered `seq` = the previous + 1. The first delta
//! of a box opens it at seq 1; the answer's `post_id` is the post the plugin made, which the
//! worker keeps in the post store like a REST post. A `gap` or `duplicate` answer, or a batch
//! that failed in flight, makes the next delta a snapshot (the whole box from `open`, which
//! replaces the plugin's record and keeps its post), so the plugin never drifts from the model.

use std::time::Duration;

use reqwest::{StatusCode, Url, header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::service::config::Secret;
use crate::session::{BoxModel, BoxState, LineKind, LineStatus};

use super::rest::{Failure, classify, parse, transport_failure};

/// The plugin's id, which is also its URL path under the server.
pub const PLUGIN_ID: &str = "com.openclaw.livestatus";

/// The plugin caps a batch at 500 deltas and 1 MiB; the agent stays well below.
pub const MAX_DELTAS_PER_BATCH: usize = 200;

/// What the plugin has of one box.
#[derive(Clone, Debug, Default)]
pub struct Sent {
    /// The last seq sent (0: nothing yet).
    pub seq: u64,
    /// The seq the plugin reported in a gap answer.
    pub plugin_seq: u64,
    /// The next delta must be a snapshot.
    pub snapshot: bool,
    /// The model's line index that is the plugin's line 0 (`BoxModel::dropped` at the open).
    base: u64,
    /// Lines sent, in the model's numbering (`base` + how many).
    count: u64,
    statuses: Vec<LineStatus>,
    tokens: u64,
    closed: bool,
    pub retracted: bool,
}

impl Sent {
    /// A box whose post the plugin made in an earlier run: its record there is replaced by a
    /// snapshot (which keeps the post), not opened anew (which would start another post).
    pub fn resumed() -> Sent {
        Sent {
            seq: 1,
            snapshot: true,
            ..Sent::default()
        }
    }

    /// Whether the plugin has everything of `model`.
    pub fn caught_up(&self, model: &BoxModel) -> bool {
        if model.retracted {
            return self.retracted || self.seq == 0;
        }
        self.seq > 0
            && !self.snapshot
            && self.count == model.dropped + model.lines.len() as u64
            && self.tokens == model.tokens
            && self.closed == model.is_finished()
            && self.statuses_match(model)
    }

    fn statuses_match(&self, model: &BoxModel) -> bool {
        model.lines.iter().enumerate().all(|(i, line)| {
            let at = model.dropped + i as u64;
            at < self.base
                || self
                    .statuses
                    .get((at - self.base) as usize)
                    .is_none_or(|s| *s == line.status)
        })
    }

    /// The delta that brings the plugin up to `model`, and what it will have once applied; None
    /// when there is nothing to send.
    pub fn next(
        &self,
        model: &BoxModel,
        channel_id: &str,
        root_id: Option<&str>,
    ) -> Option<(WireDelta, Sent)> {
        if self.caught_up(model) {
            return None;
        }
        let mut next = self.clone();
        let mut ops = Vec::new();
        let mut snapshot = false;
        if model.retracted {
            next.retracted = true;
            ops.push(json!({"op": "retract"}));
        } else {
            // Lines that scrolled out of the model before they were sent cannot be added in
            // order any more: start over from what the model has.
            let lost = model.dropped > self.count;
            let fresh = self.seq == 0 || self.snapshot || lost;
            snapshot = self.seq > 0 && fresh;
            if fresh {
                next.base = model.dropped;
                next.count = model.dropped;
                next.statuses.clear();
                next.tokens = 0;
                next.closed = false;
                ops.push(json!({"op": "open", "agent_id": model.agent_id, "started_ms": model.started_ms}));
            }
            for (i, line) in model.lines.iter().enumerate() {
                let at = model.dropped + i as u64;
                if at < next.base {
                    continue;
                }
                let pos = (at - next.base) as usize;
                if at < next.count {
                    if next.statuses.get(pos).is_some_and(|s| *s != line.status) {
                        ops.push(json!({"op": "set_status", "index": pos, "status": status(line.status)}));
                        next.statuses[pos] = line.status;
                    }
                } else {
                    ops.push(
                        json!({"op": "add_line", "depth": line.depth, "kind": kind(line.kind),
                        "text": clip(&line.text), "status": status(line.status)}),
                    );
                    next.statuses.push(line.status);
                    next.count = at + 1;
                }
            }
            if model.tokens != next.tokens {
                ops.push(json!({"op": "tokens", "tokens": model.tokens}));
                next.tokens = model.tokens;
            }
            if model.is_finished() && !next.closed {
                let mut close = json!({"op": "close", "state": state(model.state),
                    "ended_ms": model.ended_ms.unwrap_or(model.started_ms)});
                if let Some(e) = &model.error {
                    close["error"] = json!(clip_error(e));
                }
                ops.push(close);
                next.closed = true;
            }
        }
        if ops.is_empty() {
            return None;
        }
        next.seq = if self.seq == 0 && !snapshot {
            1
        } else {
            self.seq.max(self.plugin_seq) + 1
        };
        next.snapshot = false;
        Some((
            WireDelta {
                session_key: model.session_key.clone(),
                channel_id: channel_id.to_owned(),
                root_id: root_id.unwrap_or_default().to_owned(),
                seq: next.seq,
                snapshot,
                ops,
            },
            next,
        ))
    }
}

/// The plugin bounds line text to 4000 bytes and error text to 2000.
fn clip(text: &str) -> String {
    cut(text, 4000)
}

fn clip_error(text: &str) -> String {
    cut(text, 2000)
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn status(s: LineStatus) -> &'static str {
    match s {
        LineStatus::None => "none",
        LineStatus::Ok => "ok",
        LineStatus::Err => "err",
    }
}

fn kind(k: LineKind) -> &'static str {
    match k {
        LineKind::Text => "text",
        LineKind::Tool => "tool",
        LineKind::SubAgent => "sub_agent",
        LineKind::SubAgentEnd => "sub_agent_end",
    }
}

fn state(s: BoxState) -> &'static str {
    match s {
        BoxState::Active => "active",
        BoxState::Done => "done",
        BoxState::Error => "error",
        BoxState::Interrupted => "interrupted",
    }
}

/// One delta of `POST batch` (plugin/server/batch.go `Delta`).
#[derive(Clone, Debug, Serialize)]
pub struct WireDelta {
    pub session_key: String,
    pub channel_id: String,
    pub root_id: String,
    pub seq: u64,
    pub snapshot: bool,
    pub ops: Vec<Value>,
}

/// The answer to one delta (apply.go `Result`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct WireResult {
    pub session_key: String,
    pub status: String,
    #[serde(default)]
    pub seq: u64,
    #[serde(default)]
    pub post_id: String,
    #[serde(default)]
    pub error: String,
}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    results: Vec<WireResult>,
}

/// `GET health`'s answer, as far as the agent needs it.
#[derive(Clone, Debug, Deserialize)]
pub struct Health {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// `<plugin base>/api/v1/<name>`.
pub fn endpoint(plugin_base: &str, name: &str) -> Result<Url, Failure> {
    let mut url = Url::parse(plugin_base).map_err(|e| {
        Failure::Config(format!(
            "the plugin URL {plugin_base:?} does not parse: {e}"
        ))
    })?;
    url.path_segments_mut()
        .map_err(|()| {
            Failure::Config(format!("the plugin URL {plugin_base:?} cannot have a path"))
        })?
        .pop_if_empty()
        .extend(["api", "v1", name]);
    Ok(url)
}

/// The plugin's base under a server: `<server>/plugins/com.openclaw.livestatus`.
pub fn base_of(server: &str) -> String {
    format!("{}/plugins/{PLUGIN_ID}", server.trim_end_matches('/'))
}

/// Whether the plugin is there and speaks the batch API: Ok(health) or why not.
pub async fn health(
    http: &reqwest::Client,
    plugin_base: &str,
    timeout: Duration,
) -> Result<Health, String> {
    let url = endpoint(plugin_base, "health").map_err(|e| format!("{e:?}"))?;
    let resp = http
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("{:?}", transport_failure(e)))?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "GET health answered HTTP {status} (is the plugin {PLUGIN_ID} installed and enabled?)"
        ));
    }
    let h: Health = serde_json::from_slice(&bytes).map_err(|e| {
        format!("GET health answered something that is not the plugin's health: {e}")
    })?;
    if h.id != PLUGIN_ID || !h.capabilities.iter().any(|c| c == "batch") {
        return Err(format!(
            "GET health answered id {:?} with capabilities {:?}, not {PLUGIN_ID} with \"batch\"",
            h.id, h.capabilities
        ));
    }
    Ok(h)
}

/// Sends one batch; a 409 (some delta hit a gap or was refused) still carries every result.
pub async fn batch(
    http: &reqwest::Client,
    plugin_base: &str,
    secret: &Secret,
    deltas: &[WireDelta],
) -> Result<Vec<WireResult>, Failure> {
    let url = endpoint(plugin_base, "batch")?;
    let resp = http
        .post(url)
        .bearer_auth(secret.expose())
        .header(header::CONTENT_TYPE, "application/json")
        .json(&json!({ "deltas": deltas }))
        .send()
        .await
        .map_err(transport_failure)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(transport_failure)?;
    if status != StatusCode::CONFLICT {
        classify(status, &headers, &bytes)?;
    }
    Ok(parse::<BatchAnswer>(&bytes)?.results)
}
