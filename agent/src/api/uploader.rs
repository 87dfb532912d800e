//! The status uploader: every interval, POSTs the agents (see `upload_doc`) with a bearer token
//! to the monitoring service — the `[uploader]` URL for every gateway, and each gateway whose
//! owner set up `openclaw-status-monitor` (`<state dir>/credentials/openclaw-status-monitor.json`:
//! `monitorUrl`, `agentToken`, `syncIntervalMinutes`) to its own URL for its own agents. Runs on
//! the API's thread: a slow or dead service never touches the Mattermost path. Failures are
//! retried with doubling waits (5 s up to the interval); the last result is in `/health` and
//! `/metrics`.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ApiState;
use crate::guarded::{self, Rules};
use crate::metrics::{self, ResultLabels};
use crate::service::config::Secret;

/// The monitor's own credentials file, relative to a gateway's state dir.
pub const MONITOR_FILE: &str = "credentials/openclaw-status-monitor.json";
/// Test-only: the interval in milliseconds, instead of minutes (docs/service.md).
pub const INTERVAL_ENV: &str = "LIVESTATUS_TEST_UPLOAD_INTERVAL_MS";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(5);
const MAX_MONITOR_FILE: u64 = 64 * 1024;

/// What the daemon's config asks for.
#[derive(Clone, Debug)]
pub struct UploaderPlan {
    /// `[uploader] url` and its token; None: only monitor files upload.
    pub configured: Option<(String, Secret)>,
    pub interval: Duration,
    /// Shorter first retry (tests).
    pub first_retry: Duration,
}

impl UploaderPlan {
    pub fn new(configured: Option<(String, Secret)>, interval: Duration) -> UploaderPlan {
        let (interval, first_retry) = match std::env::var(INTERVAL_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(ms) if ms > 0 => (Duration::from_millis(ms), Duration::from_millis(ms)),
            _ => (interval, FIRST_RETRY),
        };
        UploaderPlan {
            configured,
            interval,
            first_retry,
        }
    }
}

/// The last upload, as `/health` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UploadResult {
    /// Unix ms of the attempt.
    pub at: i64,
    pub url: String,
    pub ok: bool,
    /// The HTTP status, None when no answer came.
    pub status: Option<u16>,
    pub message: String,
    /// Unix ms of the last accepted upload to any URL.
    pub last_success_at: Option<i64>,
}

#[derive(Default)]
pub struct UploadStatus(Mutex<Option<UploadResult>>);

impl UploadStatus {
    pub fn get(&self) -> Option<UploadResult> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, mut result: UploadResult) {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let previous = last.as_ref().and_then(|r| r.last_success_at);
        result.last_success_at = if result.ok { Some(result.at) } else { previous };
        *last = Some(result);
    }
}

/// One place to send to.
#[derive(Clone, Debug)]
struct Target {
    url: String,
    token: Secret,
    /// None: every gateway.
    gateways: Option<Vec<PathBuf>>,
    interval: Duration,
}

/// `openclaw-status-monitor.json`, as that tool writes it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MonitorFile {
    agent_token: Option<String>,
    monitor_url: Option<String>,
    sync_interval_minutes: Option<u64>,
}

/// The monitor's URL and token for a gateway, when its owner set one up; read as that owner's
/// file through the guarded reader.
fn monitor_target(gateway: &Path, default_interval: Duration) -> Option<Target> {
    let owner = std::fs::metadata(gateway).ok()?.uid();
    let path = gateway.join(MONITOR_FILE);
    let bytes = guarded::read(
        &path,
        &Rules::owned_by(owner, "the state dir's owner", MAX_MONITOR_FILE),
    )
    .ok()?;
    let file: MonitorFile = match serde_json::from_slice(&bytes) {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(path = %path.display(), "status monitor credentials do not parse: {e}");
            return None;
        }
    };
    let url = file.monitor_url.filter(|u| {
        let u = u.trim();
        u.starts_with("https://") || u.starts_with("http://")
    })?;
    let token = file
        .agent_token
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && !t.chars().any(|c| c.is_whitespace() || c.is_control()))?;
    Some(Target {
        url: url.trim().to_owned(),
        token: Secret::new(token),
        gateways: Some(vec![gateway.to_path_buf()]),
        interval: file
            .sync_interval_minutes
            .filter(|m| *m > 0)
            .map_or(default_interval, |m| Duration::from_secs(m * 60)),
    })
}

/// The monitor URL and token a gateway's owner set up, if any (for `upload --test`).
pub fn monitor_credentials(gateway: &Path) -> Option<(String, Secret)> {
    monitor_target(gateway, Duration::from_secs(300)).map(|t| (t.url, t.token))
}

/// The outcome of one POST.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &Secret,
    body: &super::upload_doc::UploadDoc,
) -> UploadResult {
    let at = crate::clock::now_ms();
    let sent = http
        .post(url)
        .bearer_auth(token.expose())
        .json(body)
        .send()
        .await;
    let (ok, status, message) = match sent {
        Ok(resp) => {
            let status = resp.status();
            let message = match status.as_u16() {
                200..=299 => "accepted".to_owned(),
                401 | 403 => "token refused".to_owned(),
                code => {
                    let text = resp.text().await.unwrap_or_default();
                    let text: String = text.chars().take(200).collect();
                    format!("the server answered {code}: {}", text.trim())
                }
            };
            (status.is_success(), Some(status.as_u16()), message)
        }
        Err(e) => (false, None, describe(&e)),
    };
    let label = match (ok, status) {
        (true, _) => "ok",
        (false, Some(401 | 403)) => "refused",
        _ => "failed",
    };
    metrics::get()
        .uploads
        .get_or_create(&ResultLabels { result: label })
        .inc();
    if ok {
        metrics::get().upload_last_success.set(at as f64 / 1000.0);
    }
    UploadResult {
        at,
        url: url.to_owned(),
        ok,
        status,
        message,
        last_success_at: None,
    }
}

/// A network error as an operator reads it (the chain of causes, no URL secrets).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}

pub fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("openclaw-livestatus/", env!("CARGO_PKG_VERSION")))
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .build()?)
}

/// Per URL: when it is due next and how many failures in a row.
struct Schedule {
    due: tokio::time::Instant,
    failures: u32,
}

/// The uploader's task: runs until the process ends.
pub async fn run(plan: UploaderPlan, state: ApiState) {
    let http = match http_client() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!("the status uploader could not start: {e:#}");
            return;
        }
    };
    let mut schedules: HashMap<String, Schedule> = HashMap::new();
    // Checks for due uploads (and new monitor files) this often at most.
    let step = plan.interval.min(Duration::from_secs(30));
    loop {
        let snapshot = state.snapshot.borrow().clone();
        if snapshot.ready {
            let mut targets = Vec::new();
            if let Some((url, token)) = &plan.configured {
                targets.push(Target {
                    url: url.clone(),
                    token: token.clone(),
                    gateways: None,
                    interval: plan.interval,
                });
            }
            for gateway in &snapshot.gateways {
                let dir = gateway.clone();
                let interval = plan.interval;
                if let Ok(Some(target)) =
                    tokio::task::spawn_blocking(move || monitor_target(&dir, interval)).await
                {
                    targets.push(target);
                }
            }
            let now = tokio::time::Instant::now();
            for target in targets {
                let schedule = schedules.entry(target.url.clone()).or_insert(Schedule {
                    due: now,
                    failures: 0,
                });
                if schedule.due > now {
                    continue;
                }
                let body = super::upload_doc::document(
                    &snapshot.sessions,
                    target.gateways.as_deref(),
                    crate::clock::now_ms(),
                    false,
                );
                let result = post(&http, &target.url, &target.token, &body).await;
                if result.ok {
                    schedule.failures = 0;
                    schedule.due = now + target.interval;
                } else {
                    schedule.failures += 1;
                    let wait = plan
                        .first_retry
                        .saturating_mul(1 << schedule.failures.min(10).saturating_sub(1))
                        .min(target.interval);
                    if schedule.failures == 1 {
                        tracing::warn!(
                            url = %target.url,
                            "status upload failed: {}; retrying in {wait:?}",
                            result.message
                        );
                    }
                    schedule.due = now + wait;
                }
                state.uploads.record(result);
            }
        }
        let next = schedules
            .values()
            .map(|s| s.due)
            .min()
            .unwrap_or_else(|| tokio::time::Instant::now() + step)
            .min(tokio::time::Instant::now() + step);
        tokio::time::sleep_until(next).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(ok: bool, at: i64) -> UploadResult {
        UploadResult {
            at,
            url: "https://m.test".to_owned(),
            ok,
            status: ok.then_some(200),
            message: String::new(),
            last_success_at: None,
        }
    }

    #[test]
    fn the_last_success_is_remembered_through_later_failures() {
        let status = UploadStatus::default();
        assert_eq!(status.get(), None);
        status.record(result(false, 1));
        assert_eq!(status.get().and_then(|r| r.last_success_at), None);
        status.record(result(true, 2));
        status.record(result(false, 3));
        let last = status.get().expect("recorded");
        assert_eq!(
            (last.at, last.ok, last.last_success_at),
            (3, false, Some(2))
        );
    }

    #[test]
    fn a_gateway_owners_monitor_file_names_its_url_token_and_interval() {
        let gateway = tempfile::tempdir().expect("tmp");
        let dir = gateway.path().join("credentials");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = gateway.path().join(MONITOR_FILE);
        let default = Duration::from_secs(300);
        assert!(
            monitor_target(gateway.path(), default).is_none(),
            "no file, no target"
        );
        std::fs::write(
            &file,
            r#"{"agentToken":"tok-123","monitorUrl":"https://monitor.test/sync","syncIntervalMinutes":2}"#,
        )
        .expect("write");
        let target = monitor_target(gateway.path(), default).expect("a target");
        assert_eq!(target.url, "https://monitor.test/sync");
        assert_eq!(target.token.expose(), "tok-123");
        assert_eq!(target.interval, Duration::from_secs(120));
        assert_eq!(target.gateways, Some(vec![gateway.path().to_path_buf()]));
        for bad in [
            r#"{"agentToken":"tok","monitorUrl":"file:///etc/passwd"}"#,
            r#"{"agentToken":"two words","monitorUrl":"https://m.test"}"#,
            r#"{"monitorUrl":"https://m.test"}"#,
            "not json",
        ] {
            std::fs::write(&file, bad).expect("write");
            assert!(monitor_target(gateway.path(), default).is_none(), "{bad}");
        }
    }
}
