//! A fake Mattermost server for end-to-end tests: the REST API v4 subset the daemon uses, with
//! the real server's status codes, error ids and JSON shapes, and its refusals.
//!
//! It runs on its own thread and tokio runtime, on `127.0.0.1:<ephemeral>`, so sync and async
//! tests can both use it; dropping the handle stops it and cuts every open connection.
//!
//! # What it answers (everything else is `404 api.context.404.app_error`)
//!
//! | request | behaviour |
//! |---|---|
//! | `GET /api/v4/system/ping` | `{"status":"OK",…}`, no session needed |
//! | `GET /api/v4/config/client?format=old` | no session needed; `MaxPostSize` (a string, runes) only with a session |
//! | `GET /api/v4/users/me`, `/users/{id}` | user JSON; unknown id → 404 `app.user.missing_account.const` |
//! | `POST /api/v4/posts` | 201 + Post; see the checks below |
//! | `GET /api/v4/posts/{id}` | 404 `app.post.get.app_error` for unknown or deleted posts |
//! | `PUT /api/v4/posts/{id}/patch` | only the fields sent change; `props`, when sent, replaces the whole map |
//! | `PUT /api/v4/posts/{id}` | full replacement: body `id` must match; a missing `message` becomes `""` and missing `props` become `{}` |
//! | `DELETE /api/v4/posts/{id}` | soft delete (a root takes its thread along); `{"status":"OK"}` |
//! | `GET /api/v4/channels/{id}` | channel JSON; unknown → 404 `app.channel.get.existing.app_error` |
//! | `GET /api/v4/channels/{id}/posts` | `{order, posts, next_post_id, prev_post_id, first_inaccessible_post_time}`; `since` / `after` / `before` / `page`+`per_page` |
//! | `POST /api/v4/channels/direct` | `[user_id, other_user_id]` → the DM channel, created if absent; always 201 |
//!
//! # Rules taken from the real server (`server/channels/api4`, `app`, `store/sqlstore`)
//!
//! - Auth: `Authorization: Bearer <token>` (or `Token <token>`). No or unknown token on an
//!   endpoint that needs a session → 401 `api.context.session_expired.app_error`; a valid token
//!   in the `access_token` query parameter → 401 `api.context.token_provided.app_error`. The
//!   404 catch-all, ping and the client config do not need a session, so a bad token there is
//!   ignored.
//! - Posting needs channel membership (`channel_user`); the team role has no `create_post`.
//!   The permission check runs first, so an unknown channel is a 403 too.
//! - Editing (PUT or PATCH) needs membership and authorship, and an unknown post is a **403**
//!   (the handlers turn a failed lookup into a permission error); only GET/DELETE say 404.
//! - `root_id` must be a live post (else 400 `api.post.create_post.root_id.app_error`), in the
//!   same channel (else 400 `api.post.create_post.channel_root_id.app_error`) and itself a
//!   root (else 400 `…root_id…`). A reply moves its root's `update_at`.
//! - Messages longer than `World::max_post_runes` runes (Unicode scalar values, not bytes) →
//!   400 `model.post.is_valid.message_length.app_error`, on create and on both edits.
//! - A bot's posts get `props.from_bot = "true"`; PUT and PATCH keep the identity props
//!   (`from_bot`, `from_webhook`, `from_oauth_app`, `from_plugin`) of the stored post.
//! - `edit_at` moves only when the message (or `props.attachments`) changes; every edit keeps
//!   the old version as a deleted row with `original_id` set, which `since=` returns.
//! - A `pending_post_id` seen in the last 30 s makes `POST /posts` return the existing post
//!   (201, no metadata, empty `pending_post_id`) instead of a duplicate.
//! - Errors are `{"id","message","detailed_error":"","request_id","status_code"}`, with the
//!   request id also in `X-Request-Id`.
//!
//! # Failure injection
//!
//! Injected answers happen in front of everything else (like a proxy or the rate limiter, which
//! also run before auth) and the request has no effect. Order: down, hang, rate limit, failure.
//! - `rate_limit_next`: 429, `text/plain` body `limit exceeded`, `Retry-After: <s>`,
//!   `X-RateLimit-Limit: 101` (burst 100 + 1, the defaults), `X-RateLimit-Remaining: 0`,
//!   `X-RateLimit-Reset: <s>` — **seconds from now**, not a timestamp, as the throttled limiter
//!   Mattermost uses writes it.
//! - `set_down(true)`: every request answers `503` with an nginx HTML page, as a reverse proxy
//!   does when the server behind it is gone (connections are still accepted; refusing them
//!   would mean giving up the port).
//!
//! # Not modelled
//!
//! WebSocket, files, reactions, threads endpoint, ETags/304, cookies and CSRF, the edit time
//! limit (default: unlimited), archived channels, payload size limits, and rate-limit headers
//! on ordinary answers (rate limiting is off by default).

mod api;
mod errors;
mod model;
mod state;
mod world;

use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

pub use model::Post;
pub use world::{
    ALICE_USER_ID, BOT_TOKEN, BOT_USER_ID, Channel, DEFAULT_MAX_POST_RUNES, DM_CHANNEL_ID, TEAM_ID,
    TOWN_SQUARE_ID, Team, User, World, dm_name,
};

use api::Reply;
use errors::AppErr;
use state::State;

/// Why a request got an injected answer instead of a real one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Down,
    Hang,
    RateLimited { retry_after_s: u64 },
    Failed { status: u16 },
}

#[derive(Clone, Debug, PartialEq)]
pub enum RecordedBody {
    Empty,
    Json(Value),
    /// Not JSON; lossy UTF-8.
    Raw(String),
}

impl RecordedBody {
    pub fn json(&self) -> Option<&Value> {
        match self {
            RecordedBody::Json(v) => Some(v),
            _ => None,
        }
    }
}

/// One request as the server saw it. Credentials never appear: the `Authorization` and
/// `Cookie` values and an `access_token` query value are replaced by `<redacted>`.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The raw query string (without `?`).
    pub query: String,
    /// Lowercase names, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: RecordedBody,
    /// `None` while unanswered (a hung request stays `None`).
    pub status: Option<u16>,
    pub fault: Option<Fault>,
    /// The user whose token authenticated the request.
    pub user_id: Option<String>,
    pub at: Instant,
    /// Wall clock, comparable with posts' `create_at` / `update_at`.
    pub unix_ms: i64,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct FakeMattermost {
    base_url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeMattermost {
    /// The fixtures' world (see [`World::default`]); the bot's token is [`BOT_TOKEN`].
    pub fn start() -> FakeMattermost {
        FakeMattermost::start_with(World::default())
    }

    pub fn start_with(world: World) -> FakeMattermost {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("listener address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(world)),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app_state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-mattermost".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("fake mattermost runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let app = Router::new().fallback(entry).with_state(app_state);
                    tokio::select! {
                        served = axum::serve(listener, app).into_future() => {
                            if let Err(e) = served {
                                eprintln!("fake mattermost stopped: {e}");
                            }
                        }
                        _ = rx => {}
                    }
                });
                // Not a graceful shutdown: dropping the runtime drops every connection task,
                // hung requests included, which a graceful one would wait for forever.
                drop(rt);
            })
            .expect("spawn fake mattermost thread");
        FakeMattermost {
            base_url: format!("http://{addr}"),
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }

    /// The requests logged so far, leaving the log empty: a long run (the load bench) drains it
    /// as it goes instead of holding every body until the end. None is lost or seen twice: a
    /// request is logged and answered under the same lock.
    pub fn take_requests(&self) -> Vec<Recorded> {
        std::mem::take(&mut self.shared.lock().log)
    }

    /// Every post in the table (deleted ones included, with `delete_at` set), in creation
    /// order, as they are now. Edit-history rows are not included.
    pub fn posts(&self) -> Vec<Post> {
        self.shared.lock().posts.clone()
    }

    pub fn post(&self, id: &str) -> Option<Post> {
        self.shared.lock().post(id).cloned()
    }

    /// Earlier versions of a post, oldest first (one per edit).
    pub fn post_history(&self, id: &str) -> Vec<Post> {
        self.shared
            .lock()
            .history
            .iter()
            .filter(|p| p.original_id == id)
            .cloned()
            .collect()
    }

    /// The channels as they are now (including DMs made through the API).
    pub fn channels(&self) -> Vec<Channel> {
        self.shared.lock().world.channels.clone()
    }

    /// The next `n` requests answer `status` with a Mattermost error body and have no effect
    /// (503 uses the server's own `api.context.server_busy.app_error`).
    pub fn fail_next(&self, n: usize, status: u16) {
        let mut st = self.shared.lock();
        st.faults.failing = n;
        st.faults.fail_status = status;
    }

    /// The next `n` requests answer 429 like Mattermost's rate limiter.
    pub fn rate_limit_next(&self, n: usize, retry_after_s: u64) {
        let mut st = self.shared.lock();
        st.faults.rate_limited = n;
        st.faults.retry_after_s = retry_after_s;
    }

    /// The next `n` requests are read and then never answered; the connection stays open until
    /// the client gives up or the server is dropped.
    pub fn hang_next(&self, n: usize) {
        self.shared.lock().faults.hang = n;
    }

    /// While down, every request answers 503 from "the reverse proxy" and changes nothing.
    pub fn set_down(&self, down: bool) {
        self.shared.lock().faults.down = down;
    }

    /// The user leaves the channel: posting and editing there become 403 (reading a public
    /// channel still works for team members).
    pub fn remove_member(&self, channel_id: &str, user_id: &str) {
        if let Some(ch) = self.shared.lock().channel_mut(channel_id) {
            ch.members.retain(|m| m != user_id);
        }
    }

    pub fn add_member(&self, channel_id: &str, user_id: &str) {
        let mut st = self.shared.lock();
        if let Some(ch) = st.channel_mut(channel_id)
            && !ch.members.iter().any(|m| m == user_id)
        {
            ch.members.push(user_id.to_owned());
        }
    }

    /// A post written by someone else (a human in the web app, say), with no request logged.
    /// `root_id` is taken as given.
    pub fn inject_post(
        &self,
        channel_id: &str,
        user_id: &str,
        message: &str,
        root_id: Option<&str>,
    ) -> Post {
        let mut st = self.shared.lock();
        api::inject(
            &mut st,
            None,
            channel_id,
            user_id,
            message,
            root_id.unwrap_or(""),
        )
    }

    /// Seeds a post with a given id: a recorded conversation's posts (a thread's root) exist
    /// on the server before the replayed gateway answers in their thread.
    pub fn seed_post_with_id(
        &self,
        id: &str,
        channel_id: &str,
        user_id: &str,
        message: &str,
    ) -> Post {
        let mut st = self.shared.lock();
        api::inject(&mut st, Some(id), channel_id, user_id, message, "")
    }
}

impl Drop for FakeMattermost {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Most clients send JSON; anything else is kept as text for the log.
fn recorded_body(bytes: &[u8]) -> RecordedBody {
    if bytes.is_empty() {
        return RecordedBody::Empty;
    }
    match serde_json::from_slice(bytes) {
        Ok(v) => RecordedBody::Json(v),
        Err(_) => RecordedBody::Raw(String::from_utf8_lossy(bytes).into_owned()),
    }
}

fn redacted_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().unwrap_or("<binary>");
            let shown = match name.as_str() {
                "authorization" => match value.split_once(' ') {
                    Some((scheme, _)) => format!("{scheme} <redacted>"),
                    None => "<redacted>".to_owned(),
                },
                "cookie" => "<redacted>".to_owned(),
                _ => value.to_owned(),
            };
            (name.as_str().to_owned(), shown)
        })
        .collect()
}

fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if api::percent_decode(k) == "access_token" => format!("{k}=<redacted>"),
            _ => kv.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn injected(fault: &Fault, request_id: &str) -> Reply {
    match fault {
        Fault::Down => Reply {
            status: 503,
            content_type: "text/html",
            headers: vec![("Server", "nginx".to_owned())],
            body: b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".to_vec(),
        },
        Fault::RateLimited { retry_after_s } => Reply {
            status: 429,
            content_type: "text/plain; charset=utf-8",
            headers: vec![
                ("X-RateLimit-Limit", "101".to_owned()),
                ("X-RateLimit-Remaining", "0".to_owned()),
                ("X-RateLimit-Reset", retry_after_s.to_string()),
                ("Retry-After", retry_after_s.to_string()),
                ("X-Content-Type-Options", "nosniff".to_owned()),
            ],
            body: b"limit exceeded\n".to_vec(),
        },
        Fault::Failed { status } => {
            let err = if *status == 503 {
                AppErr::new(503, "api.context.server_busy.app_error")
            } else {
                AppErr::new(*status, "fake_mattermost.injected_failure")
            };
            let mut reply = Reply::error(&err, request_id);
            reply.headers.push(("X-Request-Id", request_id.to_owned()));
            reply
        }
        Fault::Hang => unreachable!("a hung request gets no reply"),
    }
}

async fn entry(AxumState(shared): AxumState<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20)
        .await
        .unwrap_or_default();
    let request_id = model::new_id();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let (reply, hang) = {
        let mut st = shared.lock();
        let idx = st.log.len();
        st.log.push(Recorded {
            method: parts.method.as_str().to_owned(),
            path: path.clone(),
            query: redacted_query(&query),
            headers: redacted_headers(&parts.headers),
            body: recorded_body(&bytes),
            status: None,
            fault: None,
            user_id: None,
            at: Instant::now(),
            unix_ms: model::wall_ms(),
        });
        let fault = st.faults.take();
        st.log[idx].fault = fault.clone();
        match fault {
            Some(Fault::Hang) => (None, true),
            Some(f) => {
                let reply = injected(&f, &request_id);
                st.log[idx].status = Some(reply.status);
                (Some(reply), false)
            }
            None => {
                let authorization = parts
                    .headers
                    .get(axum::http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok());
                let req = api::Request {
                    method: parts.method.as_str(),
                    path: &path,
                    query: &query,
                    authorization,
                    body: &bytes,
                };
                let (mut reply, user) = api::handle(&mut st, &req, &request_id);
                reply.headers.push(("X-Request-Id", request_id.clone()));
                reply.headers.push(("X-Version-Id", api::version_header()));
                st.log[idx].status = Some(reply.status);
                st.log[idx].user_id = user;
                (Some(reply), false)
            }
        }
    };
    if hang {
        std::future::pending::<()>().await;
    }
    let reply = reply.expect("a reply unless hung");
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("Content-Type", reply.content_type);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Body::from(reply.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
