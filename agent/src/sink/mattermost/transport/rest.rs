//! The few Mattermost v4 calls the sink makes, over one shared connection pool, with every answer
//! sorted into what the caller must do about it: go on, wait (429), retry later (5xx, timeouts,
//! connection errors) or stop (any other 4xx).

use std::time::Duration;

use reqwest::{Method, StatusCode, Url, header};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gateway::accounts::Account;

const USER_AGENT: &str = concat!("openclaw-livestatus/", env!("CARGO_PKG_VERSION"));
/// Bound of the wait read from a 429's headers (the pause itself is capped lower, in `server`,
/// which logs both).
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(24 * 3600);
/// A 429 with no usable header: wait this long.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(1);
/// Error bodies quoted in logs are cut to this many chars.
const MAX_QUOTED_BODY: usize = 300;

/// Why a call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::sink::mattermost) enum Failure {
    /// 429: the server must not be asked again before `wait` has passed.
    RateLimited { wait: Duration },
    /// 5xx, timeout, connection error, or a 2xx body we could not read: try again later.
    Transient(String),
    /// Any other 4xx: asking again will not help.
    Rejected(Rejection),
    /// The account itself is unusable (a base URL that does not parse).
    Config(String),
}

/// A 4xx answer, with Mattermost's error `id` and `message` when the body is an AppError.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::sink::mattermost) struct Rejection {
    pub status: u16,
    pub id: String,
    pub message: String,
}

/// A post found in a channel listing.
#[derive(Clone, Debug, Deserialize)]
pub(in crate::sink::mattermost) struct ListedPost {
    pub id: String,
    #[serde(default)]
    pub props: Value,
    #[serde(default)]
    pub delete_at: i64,
}

/// What `POST /api/v4/posts` takes.
pub(in crate::sink::mattermost) struct NewPost<'a> {
    pub channel_id: &'a str,
    pub root_id: Option<&'a str>,
    pub message: &'a str,
    pub props: &'a Value,
}

pub(in crate::sink::mattermost) struct Api {
    http: reqwest::Client,
    /// HTTP requests sent (REST calls, pings, plugin batches and health checks).
    sent: std::sync::atomic::AtomicU64,
}

#[derive(Deserialize)]
struct WithId {
    id: String,
}

#[derive(Deserialize)]
struct PostList {
    #[serde(default)]
    order: Vec<String>,
    #[serde(default)]
    posts: std::collections::HashMap<String, ListedPost>,
}

#[derive(Deserialize)]
struct AppError {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
}

impl Api {
    /// One client for every server: one pool, keep-alive, rustls, and a bound on every request.
    pub fn new(request_timeout: Duration) -> Result<Api, reqwest::Error> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(USER_AGENT)
            .timeout(request_timeout)
            .connect_timeout(request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        Ok(Api {
            http,
            sent: Default::default(),
        })
    }

    /// The pool, shared with the plugin transport; every use counts as one request sent.
    pub fn http(&self) -> &reqwest::Client {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.http
    }

    pub fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `GET /api/v4/system/ping` (no token: Mattermost answers it for anyone): whether the
    /// server is up, i.e. answers 200 with `{"status":"OK"}`.
    pub async fn ping(&self, base_url: &str) -> bool {
        let Ok(url) = endpoint(base_url, &["system", "ping"], &[]) else {
            return false;
        };
        let Ok(resp) = self.http().get(url).send().await else {
            return false;
        };
        if !resp.status().is_success() {
            return false;
        }
        #[derive(Deserialize)]
        struct Status {
            status: String,
        }
        resp.bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice::<Status>(&b).ok())
            .is_some_and(|s| s.status.eq_ignore_ascii_case("ok"))
    }

    /// `GET /api/v4/users/me`: the bot's own user id.
    pub async fn me(&self, account: &Account) -> Result<String, Failure> {
        let body = self
            .call(account, Method::GET, &["users", "me"], &[], None)
            .await?;
        parse::<WithId>(&body).map(|u| u.id)
    }

    /// `POST /api/v4/channels/direct`: the direct channel between the bot and `user_id`.
    pub async fn direct_channel(
        &self,
        account: &Account,
        bot_id: &str,
        user_id: &str,
    ) -> Result<String, Failure> {
        let body = json!([bot_id, user_id]);
        let body = self
            .call(
                account,
                Method::POST,
                &["channels", "direct"],
                &[],
                Some(&body),
            )
            .await?;
        parse::<WithId>(&body).map(|c| c.id)
    }

    /// `POST /api/v4/posts`: the new post's id.
    pub async fn create_post(
        &self,
        account: &Account,
        post: &NewPost<'_>,
    ) -> Result<String, Failure> {
        let mut body = json!({
            "channel_id": post.channel_id,
            "message": post.message,
            "props": post.props,
        });
        if let Some(root) = post.root_id {
            body["root_id"] = json!(root);
        }
        let body = self
            .call(account, Method::POST, &["posts"], &[], Some(&body))
            .await?;
        parse::<WithId>(&body).map(|p| p.id)
    }

    /// `PUT /api/v4/posts/{id}/patch` with the message only: a plain PUT would replace the
    /// post's props, and with them what identifies it as ours.
    pub async fn patch_message(
        &self,
        account: &Account,
        post_id: &str,
        message: &str,
    ) -> Result<(), Failure> {
        let body = json!({ "message": message });
        self.call(
            account,
            Method::PUT,
            &["posts", post_id, "patch"],
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }

    /// `DELETE /api/v4/posts/{id}`.
    pub async fn delete_post(&self, account: &Account, post_id: &str) -> Result<(), Failure> {
        self.call(account, Method::DELETE, &["posts", post_id], &[], None)
            .await
            .map(drop)
    }

    /// `GET /api/v4/channels/{id}/posts?since=<ms>`: posts created or edited since then.
    pub async fn posts_since(
        &self,
        account: &Account,
        channel_id: &str,
        since_ms: i64,
    ) -> Result<Vec<ListedPost>, Failure> {
        let since = since_ms.max(0).to_string();
        let body = self
            .call(
                account,
                Method::GET,
                &["channels", channel_id, "posts"],
                &[("since", since.as_str())],
                None,
            )
            .await?;
        let mut list = parse::<PostList>(&body)?;
        Ok(list
            .order
            .iter()
            .filter_map(|id| list.posts.remove(id))
            .collect())
    }

    async fn call(
        &self,
        account: &Account,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Vec<u8>, Failure> {
        let url = endpoint(&account.base_url, segments, query)?;
        let counted = method.clone();
        let mut req = self
            .http()
            .request(method, url)
            .bearer_auth(account.token.expose());
        if let Some(body) = body {
            req = req.json(body);
        }
        let sent = req.send().await;
        crate::metrics::count_mattermost_request(
            &account.base_url,
            counted.as_str(),
            sent.as_ref().ok().map(|r| r.status().as_u16()),
        );
        let resp = sent.map_err(transport_failure)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.map_err(transport_failure)?;
        classify(status, &headers, &bytes).map(|()| bytes.to_vec())
    }
}

/// `base_url` + `/api/v4/` + the segments, each escaped (ids cannot inject a path or a query).
fn endpoint(base_url: &str, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, Failure> {
    let mut url = Url::parse(base_url)
        .map_err(|e| Failure::Config(format!("the server URL {base_url:?} does not parse: {e}")))?;
    {
        let mut path = url.path_segments_mut().map_err(|()| {
            Failure::Config(format!("the server URL {base_url:?} cannot have a path"))
        })?;
        path.pop_if_empty().extend(["api", "v4"]).extend(segments);
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    Ok(url)
}

pub(in crate::sink::mattermost) fn transport_failure(err: reqwest::Error) -> Failure {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // The URL names the server (never the token), which is what an operator needs.
    Failure::Transient(format!("{what}: {err}"))
}

pub(in crate::sink::mattermost) fn classify(
    status: StatusCode,
    headers: &header::HeaderMap,
    body: &[u8],
) -> Result<(), Failure> {
    if status.is_success() {
        return Ok(());
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Failure::RateLimited {
            wait: rate_limit_wait(headers),
        });
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        let detail = app_error(body)
            .map(|e| format!("{}: {}", e.id, e.message))
            .unwrap_or_else(|| quote(body));
        return Err(Failure::Transient(format!("HTTP {status}: {detail}")));
    }
    let (id, message) = match app_error(body) {
        Some(e) => (e.id, e.message),
        None => (String::new(), quote(body)),
    };
    Err(Failure::Rejected(Rejection {
        status: status.as_u16(),
        id,
        message,
    }))
}

/// How long a 429 asks us to wait: `Retry-After` (seconds), else `X-RateLimit-Reset`. Mattermost
/// sets both from its limiter (`throttled`): `Retry-After` = ceil(RetryAfter) and
/// `X-RateLimit-Reset` = ceil(ResetAfter), each in seconds from now, not a Unix time. A value
/// that can only be a Unix time (after 2001) is read as one, for proxies that send that.
fn rate_limit_wait(headers: &header::HeaderMap) -> Duration {
    let seconds = |name: &str| -> Option<f64> {
        let v: f64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
        v.is_finite().then_some(v.max(0.0))
    };
    let wait = seconds(header::RETRY_AFTER.as_str())
        .or_else(|| seconds("x-ratelimit-reset"))
        .map(|s| {
            if s > 1e9 {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                (s - now).max(0.0)
            } else {
                s
            }
        })
        .map(|s| Duration::from_secs_f64(s.min(MAX_RATE_LIMIT_WAIT.as_secs_f64())));
    wait.unwrap_or(DEFAULT_RATE_LIMIT_WAIT)
}

fn app_error(body: &[u8]) -> Option<AppError> {
    serde_json::from_slice::<AppError>(body)
        .ok()
        .filter(|e| !e.id.is_empty() || !e.message.is_empty())
}

fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED_BODY) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

pub(in crate::sink::mattermost) fn parse<T: for<'de> Deserialize<'de>>(
    body: &[u8],
) -> Result<T, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| Failure::Transient(format!("unexpected answer ({e}): {}", quote(body))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> header::HeaderMap {
        let mut h = header::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn retry_after_wins_then_the_reset_header_in_seconds_from_now() {
        let wait = |pairs| rate_limit_wait(&headers(pairs));
        assert_eq!(
            wait(&[("retry-after", "3"), ("x-ratelimit-reset", "9")]),
            Duration::from_secs(3)
        );
        assert_eq!(wait(&[("x-ratelimit-reset", "7")]), Duration::from_secs(7));
        assert_eq!(wait(&[("retry-after", "0.25")]), Duration::from_millis(250));
        assert_eq!(wait(&[]), DEFAULT_RATE_LIMIT_WAIT);
        assert_eq!(wait(&[("retry-after", "soon")]), DEFAULT_RATE_LIMIT_WAIT);
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 5;
        let w = wait(&[("x-ratelimit-reset", &epoch.to_string())]);
        assert!(
            w <= Duration::from_secs(6) && w >= Duration::from_secs(3),
            "{w:?}"
        );
    }

    #[test]
    fn answers_are_sorted_by_what_to_do_about_them() {
        let none = header::HeaderMap::new();
        assert_eq!(classify(StatusCode::CREATED, &none, b"{}"), Ok(()));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, &none, b"<html>"),
            Err(Failure::Transient(_))
        ));
        let body = br#"{"id":"api.context.session_expired.app_error","message":"Invalid or expired session","status_code":401}"#;
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, &none, body),
            Err(Failure::Rejected(Rejection {
                status: 401,
                id: "api.context.session_expired.app_error".into(),
                message: "Invalid or expired session".into(),
            }))
        );
        // Mattermost's own 429 body is plain text.
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &none, b"limit exceeded"),
            Err(Failure::RateLimited {
                wait: DEFAULT_RATE_LIMIT_WAIT
            })
        );
    }

    #[test]
    fn ids_are_escaped_into_single_path_segments() {
        let url = endpoint(
            "https://chat.example.com/mm/",
            &["posts", "a/../b?x", "patch"],
            &[],
        )
        .expect("url");
        assert_eq!(
            url.as_str(),
            "https://chat.example.com/mm/api/v4/posts/a%2F..%2Fb%3Fx/patch"
        );
        let url = endpoint(
            "http://127.0.0.1:8065",
            &["channels", "c", "posts"],
            &[("since", "5")],
        )
        .expect("url");
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8065/api/v4/channels/c/posts?since=5"
        );
        assert!(matches!(
            endpoint("not a url", &[], &[]),
            Err(Failure::Config(_))
        ));
    }
}
