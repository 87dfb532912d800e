//! An in-process stand-in for the Mattermost v4 API, with the shapes the sink relies on (post,
//! post list, channel, user, AppError) and knobs to make it fail, limit or hang.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

pub const TOKEN: &str = "stubtoken0123456789abcdefg";
pub const BOT_ID: &str = "botuser00000000000000000000";

#[derive(Clone, Debug)]
pub struct StubPost {
    pub id: String,
    pub channel_id: String,
    pub root_id: String,
    pub message: String,
    pub props: Value,
    pub create_at: i64,
    pub update_at: i64,
    pub delete_at: i64,
}

#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    pub auth: Option<String>,
    pub user_agent: Option<String>,
    pub at: Instant,
    /// The status answered (0: never answered).
    pub status: u16,
}

/// One canned answer for the next request matching `method` (and `path_end`, when set).
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    pub path_end: &'static str,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

#[derive(Default)]
pub struct StubState {
    pub posts: BTreeMap<String, StubPost>,
    pub requests: Vec<Req>,
    pub faults: VecDeque<Fault>,
    /// Every request answers 500.
    pub down: bool,
    /// `POST /posts` stores the post and never answers.
    pub hang_creates: bool,
    /// On each `POST /posts`, the content of this file (the sink's store) is kept here.
    pub store_file: Option<PathBuf>,
    pub store_at_create: Vec<String>,
    /// `GET /api/v4/system/ping`s, kept apart from `requests` (no token, no box), with whether
    /// they were answered OK.
    pub pings: Vec<(Instant, bool)>,
    /// The plugin `com.openclaw.livestatus` on this server (see `plugin_answer`).
    pub plugin: PluginStub,
    next_id: u64,
}

/// A stand-in for the plugin's batch API (plugin/server/apply.go): seq checks, one post per
/// box (stored among the server's posts, as the plugin's are), gap answers.
#[derive(Default)]
pub struct PluginStub {
    /// Installed and answering; otherwise every plugin route is a 404.
    pub up: bool,
    /// Every route answers 500 (a plugin that keeps failing).
    pub failing: bool,
    /// Per session key: (seq, post id, ops applied in order, finished).
    pub sessions: BTreeMap<String, (u64, String, Vec<Value>, bool)>,
    /// The deltas of every batch, in order.
    pub batches: Vec<Vec<Value>>,
    pub healths: usize,
}

impl StubState {
    pub fn count(&self, method: &str, path_start: &str, path_end: &str) -> usize {
        self.matching(method, path_start, path_end).count()
    }

    pub fn matching<'a>(
        &'a self,
        method: &'a str,
        path_start: &'a str,
        path_end: &'a str,
    ) -> impl Iterator<Item = &'a Req> + 'a {
        self.requests.iter().filter(move |r| {
            r.method == method && r.path.starts_with(path_start) && r.path.ends_with(path_end)
        })
    }

    pub fn creates(&self) -> usize {
        self.count("POST", "/api/v4/posts", "/posts")
    }

    pub fn patches(&self) -> usize {
        self.count("PUT", "/api/v4/posts/", "/patch")
    }

    pub fn live_posts(&self) -> Vec<StubPost> {
        self.posts
            .values()
            .filter(|p| p.delete_at == 0)
            .cloned()
            .collect()
    }
}

pub type Shared = Arc<Mutex<StubState>>;

pub struct Stub {
    pub base_url: String,
    pub state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stub {
    pub async fn start() -> Stub {
        let state = Shared::default();
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stub");
        let addr = listener.local_addr().expect("stub address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Stub {
            base_url: format!("http://{addr}"),
            state,
            task,
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut StubState) -> T) -> T {
        f(&mut self.state.lock().expect("stub lock"))
    }

    /// The next post creation gets this answer instead of a post.
    pub fn fail_next_post(
        &self,
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: impl Into<String>,
    ) {
        let body = body.into();
        self.with(|s| {
            s.faults.push_back(Fault {
                method: "POST",
                path_end: "/posts",
                status,
                headers,
                body,
            })
        });
    }

    /// Polls until `cond` holds of what the stub has; panics with `what` after `limit`.
    pub async fn wait(&self, what: &str, limit: Duration, cond: impl Fn(&StubState) -> bool) {
        wait_until(what, limit, || self.with(|s| cond(s))).await;
    }
}

/// Polls `cond` until it holds; panics with `what` after `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn app_error(status: u16, id: &str, message: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        axum::Json(json!({"id": id, "message": message, "status_code": status, "request_id": "r"})),
    )
        .into_response()
}

fn post_json(p: &StubPost) -> Value {
    json!({
        "id": p.id, "channel_id": p.channel_id, "root_id": p.root_id, "message": p.message,
        "props": p.props, "create_at": p.create_at, "update_at": p.update_at,
        "delete_at": p.delete_at, "user_id": BOT_ID, "type": "",
    })
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let req = Req {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        auth: header("authorization"),
        user_agent: header("user-agent"),
        at: Instant::now(),
        status: 0,
    };
    if method == Method::GET && uri.path() == "/api/v4/system/ping" {
        let mut st = state.lock().expect("stub lock");
        let up = !st.down;
        st.pings.push((Instant::now(), up));
        // Mattermost's answer: 200 and "OK", or 500 and "UNHEALTHY" when it is not well.
        return if up {
            axum::Json(json!({"status": "OK"})).into_response()
        } else {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"status": "UNHEALTHY"})),
            )
                .into_response()
        };
    }
    if uri.path().starts_with("/plugins/com.openclaw.livestatus/") {
        let mut st = state.lock().expect("stub lock");
        return plugin_answer(&mut st, &req);
    }
    let (response, hang) = {
        let mut st = state.lock().expect("stub lock");
        let index = st.requests.len();
        st.requests.push(req.clone());
        let (response, hang) = answer(&mut st, &req);
        st.requests[index].status = if hang { 0 } else { response.status().as_u16() };
        (response, hang)
    };
    if hang {
        std::future::pending::<()>().await;
    }
    response
}

pub const PLUGIN_SECRET: &str = "stub-plugin-secret";

fn plugin_answer(st: &mut StubState, req: &Req) -> Response {
    let p = &mut st.plugin;
    if !p.up {
        return (StatusCode::NOT_FOUND, "404 page not found").into_response();
    }
    if p.failing {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": "kv down"})),
        )
            .into_response();
    }
    match (
        req.method.as_str(),
        req.path
            .trim_start_matches("/plugins/com.openclaw.livestatus"),
    ) {
        ("GET", "/api/v1/health") => {
            p.healths += 1;
            axum::Json(json!({"id": "com.openclaw.livestatus", "version": "0.1.0",
                "capabilities": ["batch", "snapshot", "websocket", "final_post"]}))
            .into_response()
        }
        ("POST", "/api/v1/batch") => {
            if req.auth.as_deref() != Some(&format!("Bearer {PLUGIN_SECRET}")) {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": "missing or wrong shared secret"})),
                )
                    .into_response();
            }
            let deltas = req.body["deltas"].as_array().cloned().unwrap_or_default();
            p.batches.push(deltas.clone());
            let mut results = Vec::new();
            let mut conflict = false;
            for d in deltas {
                let key = d["session_key"].as_str().unwrap_or("").to_owned();
                let seq = d["seq"].as_u64().unwrap_or(0);
                let ops = d["ops"].as_array().cloned().unwrap_or_default();
                let opens = ops.first().is_some_and(|o| o["op"] == "open");
                let snapshot = d["snapshot"].as_bool().unwrap_or(false);
                let cur = p.sessions.get(&key).cloned();
                let (status, post_id) = match cur {
                    Some((_, post, _, false)) if snapshot => {
                        p.sessions
                            .insert(key.clone(), (seq, post.clone(), ops.clone(), false));
                        ("applied", post)
                    }
                    _ if opens && (seq == 1 || snapshot) => {
                        st.next_id += 1;
                        let id = format!("plug{:022}", st.next_id);
                        st.posts.insert(
                            id.clone(),
                            StubPost {
                                id: id.clone(),
                                channel_id: d["channel_id"].as_str().unwrap_or("").to_owned(),
                                root_id: d["root_id"].as_str().unwrap_or("").to_owned(),
                                message: "(plugin post)".to_owned(),
                                props: json!({"session_key": key}),
                                create_at: now_ms(),
                                update_at: now_ms(),
                                delete_at: 0,
                            },
                        );
                        p.sessions
                            .insert(key.clone(), (seq, id.clone(), ops.clone(), false));
                        ("applied", id)
                    }
                    Some((have, post, mut applied, _)) if seq == have + 1 => {
                        applied.extend(ops.iter().cloned());
                        p.sessions
                            .insert(key.clone(), (seq, post.clone(), applied, false));
                        ("applied", post)
                    }
                    Some((have, post, _, _)) if seq <= have => ("duplicate", post),
                    _ => {
                        conflict = true;
                        ("gap", String::new())
                    }
                };
                let have = p.sessions.get(&key).map_or(0, |s| s.0);
                if let Some(s) = p.sessions.get_mut(&key)
                    && ops.iter().any(|o| o["op"] == "close")
                    && status == "applied"
                {
                    s.3 = true;
                }
                results.push(
                    json!({"session_key": key, "status": status, "seq": have, "post_id": post_id}),
                );
            }
            let code = if conflict {
                StatusCode::CONFLICT
            } else {
                StatusCode::OK
            };
            (code, axum::Json(json!({"results": results}))).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no such endpoint").into_response(),
    }
}

fn answer(st: &mut StubState, req: &Req) -> (Response, bool) {
    if req.auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return (
            app_error(
                401,
                "api.context.session_expired.app_error",
                "Invalid or expired session, please login again.",
            ),
            false,
        );
    }
    if st.down {
        return (
            app_error(500, "app.post.save.app_error", "Unable to save the post."),
            false,
        );
    }
    if let Some(pos) = st
        .faults
        .iter()
        .position(|f| f.method == req.method && req.path.ends_with(f.path_end))
        && let Some(f) = st.faults.remove(pos)
    {
        let mut resp = (
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            f.body.clone(),
        )
            .into_response();
        for (k, v) in &f.headers {
            if let Ok(v) = v.parse() {
                resp.headers_mut().insert(*k, v);
            }
        }
        return (resp, false);
    }
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["api", "v4", "users", "me"]) => (
            axum::Json(json!({"id": BOT_ID, "username": "livestatus", "is_bot": true}))
                .into_response(),
            false,
        ),
        ("POST", ["api", "v4", "channels", "direct"]) => {
            let ids: Vec<String> = serde_json::from_value(req.body.clone()).unwrap_or_default();
            if ids.len() != 2 || ids[0] != BOT_ID {
                return (
                    app_error(
                        400,
                        "api.context.invalid_body_param.app_error",
                        "Invalid or missing user_ids in request body.",
                    ),
                    false,
                );
            }
            let mut sorted = ids.clone();
            sorted.sort();
            (
                (
                    StatusCode::CREATED,
                    axum::Json(json!({"id": format!("dm{}{}", &sorted[0][..4], &sorted[1][..4]), "type": "D", "name": sorted.join("__")})),
                )
                    .into_response(),
                false,
            )
        }
        ("POST", ["api", "v4", "posts"]) => {
            if let Some(dir) = st.store_file.as_deref().and_then(|p| p.parent()) {
                // The store as a restart after a crash right now would read it.
                let content = crate::sink::mattermost::post_store::PostStore::open(dir)
                    .map(|s| String::from_utf8_lossy(&s.to_bytes(s.generation())).into_owned())
                    .unwrap_or_default();
                st.store_at_create.push(content);
            }
            st.next_id += 1;
            let now = now_ms();
            let post = StubPost {
                id: format!("post{:022}", st.next_id),
                channel_id: req.body["channel_id"].as_str().unwrap_or("").to_owned(),
                root_id: req.body["root_id"].as_str().unwrap_or("").to_owned(),
                message: req.body["message"].as_str().unwrap_or("").to_owned(),
                props: req.body["props"].clone(),
                create_at: now,
                update_at: now,
                delete_at: 0,
            };
            let json = post_json(&post);
            st.posts.insert(post.id.clone(), post);
            (
                (StatusCode::CREATED, axum::Json(json)).into_response(),
                st.hang_creates,
            )
        }
        ("PUT", ["api", "v4", "posts", id, "patch"]) => match st.posts.get_mut(*id) {
            Some(p) if p.delete_at == 0 => {
                if let Some(m) = req.body["message"].as_str() {
                    p.message = m.to_owned();
                }
                p.update_at = now_ms();
                (axum::Json(post_json(p)).into_response(), false)
            }
            _ => (
                app_error(404, "app.post.get.app_error", "Unable to get the post."),
                false,
            ),
        },
        ("DELETE", ["api", "v4", "posts", id]) => match st.posts.get_mut(*id) {
            Some(p) if p.delete_at == 0 => {
                p.delete_at = now_ms();
                p.update_at = p.delete_at;
                (axum::Json(json!({"status": "OK"})).into_response(), false)
            }
            _ => (
                app_error(404, "app.post.get.app_error", "Unable to get the post."),
                false,
            ),
        },
        ("GET", ["api", "v4", "channels", channel, "posts"]) => {
            let since: i64 = req
                .query
                .split('&')
                .find_map(|kv| kv.strip_prefix("since="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            // Like Mattermost, `since` lists deleted posts too, so clients can drop them.
            let found: Vec<&StubPost> = st
                .posts
                .values()
                .filter(|p| p.channel_id == *channel && p.update_at >= since)
                .collect();
            let order: Vec<&str> = found.iter().map(|p| p.id.as_str()).collect();
            let posts: serde_json::Map<String, Value> =
                found.iter().map(|p| (p.id.clone(), post_json(p))).collect();
            (
                axum::Json(
                    json!({"order": order, "posts": posts, "next_post_id": "", "prev_post_id": ""}),
                )
                .into_response(),
                false,
            )
        }
        _ => (
            app_error(
                404,
                "api.context.404.app_error",
                "Sorry, we could not find the page.",
            ),
            false,
        ),
    }
}
