//! The daemon's local HTTP API, asked while real OpenClaw recordings play into a temp gateway:
//! `/v1/status` follows the state machine (a turn in progress is `running: 1`, idle once it
//! ends), a wrong or missing secret gets 401 and nothing else, `/metrics` is valid exposition
//! whose counters move, `/health` turns 503 while Mattermost is down and 200 after, and the
//! uploader posts at its interval and survives its receiver being down.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livestatus::api::client::{self, Answer};
use livestatus::playback::Pace;
use livestatus::service::config::{Listen, Secret};
use livestatus_e2e::daemon::Daemon;
use livestatus_e2e::fake_mattermost::FakeMattermost;
use livestatus_e2e::posts::{box_posts, wait_for};
use livestatus_e2e::recording_now;
use serde_json::Value;

const SECRET: &str = "api-secret-for-the-test";
const UPLOAD_TOKEN: &str = "upload-token-for-the-test";
const CHANNEL_KEY: &str = "agent:main:mattermost:channel:ch4town5quare00000000000ab";
const MM_TOKEN: &str = "fake-mm-bot-token-not-secret";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

struct Host {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    data: PathBuf,
    config: PathBuf,
    listen: Listen,
}

impl Host {
    /// A gateway whose `openclaw.json` names the fake Mattermost (and, when given, its own
    /// `agents.defaults.maxConcurrent`), and a daemon config with the API on a free port.
    fn new(mm: &FakeMattermost, max_concurrent: Option<u32>, extra: &str) -> Host {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("home/alice/.openclaw");
        std::fs::create_dir_all(&state).expect("state dir");
        let mut gateway = serde_json::json!({
            "channels": {"mattermost": {"enabled": true, "baseUrl": mm.base_url(), "botToken": MM_TOKEN}},
            "gateway": {"mode": "local", "port": 18789}
        });
        if let Some(n) = max_concurrent {
            gateway["agents"] = serde_json::json!({"defaults": {"maxConcurrent": n}});
        }
        std::fs::write(
            state.join("openclaw.json"),
            serde_json::to_vec_pretty(&gateway).expect("json"),
        )
        .expect("openclaw.json");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let config = tmp.path().join("config.toml");
        std::fs::write(
            &config,
            format!("[api]\nlisten = \"{addr}\"\nsecret = \"{SECRET}\"\n{extra}"),
        )
        .expect("config");
        Host {
            data: tmp.path().join("data"),
            _tmp: tmp,
            state,
            config,
            listen: Listen::Tcp(addr),
        }
    }

    fn daemon(&self, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        Daemon::start_with_env(&[&self.state], &self.data, &self.config, "inotify", env)
    }

    fn get(&self, path: &str) -> Answer {
        client::get(&self.listen, path, Some(&Secret::new(SECRET))).expect("the API answers")
    }

    fn json(&self, path: &str) -> (u16, Value) {
        let answer = self.get(path);
        let value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        (answer.status, value)
    }

    /// Polls until the API is up and the daemon READY.
    fn wait_ready(&self) {
        wait_for("the API to answer /health", Duration::from_secs(30), || {
            client::get(&self.listen, "/health", Some(&Secret::new(SECRET)))
                .is_ok_and(|a| a.status == 200)
        });
    }

    fn status(&self) -> Value {
        let (code, doc) = self.json("/v1/status");
        assert_eq!(code, 200, "{doc}");
        doc
    }
}

fn detail<'a>(doc: &'a Value, key: &str) -> Option<&'a Value> {
    doc["sessions"]["details"]
        .as_array()?
        .iter()
        .find(|d| d["key"] == key)
}

/// A strict reading of the text exposition: every line a HELP, TYPE, UNIT or sample line of a
/// declared family, `# EOF` last; then the samples by name as prometheus-parse reads them.
fn parse_metrics(text: &str) -> Vec<prometheus_parse::Sample> {
    let mut families: Vec<String> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "exposition must end with # EOF"
    );
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "info", "unknown"].contains(&kind),
                "{line}"
            );
            families.push(name.to_owned());
        } else if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
        } else {
            let name_end = line.find(['{', ' ']).expect("sample name");
            let name = &line[..name_end];
            assert!(
                families
                    .iter()
                    .any(|f| name == f || name.starts_with(&format!("{f}_"))),
                "sample of an undeclared family: {line}"
            );
            let value = line.rsplit(' ').next().expect("value");
            assert!(value.parse::<f64>().is_ok(), "not a number: {line}");
            if let Some(open) = line.find('{') {
                let close = line.rfind('}').expect("closing brace");
                assert!(close > open, "{line}");
                for pair in line[open + 1..close].split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{line}"
                    );
                    assert!(v.starts_with('"'), "{line}");
                }
            }
        }
    }
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("prometheus-parse reads it");
    scrape.samples
}

fn value(v: &prometheus_parse::Value) -> f64 {
    match v {
        prometheus_parse::Value::Counter(x)
        | prometheus_parse::Value::Gauge(x)
        | prometheus_parse::Value::Untyped(x) => *x,
        _ => 0.0,
    }
}

/// The sum of every sample of `name` (over its labels).
fn total(samples: &[prometheus_parse::Sample], name: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| value(&s.value))
        .sum()
}

fn metrics(host: &Host) -> Vec<prometheus_parse::Sample> {
    let answer = host.get("/metrics");
    assert_eq!(answer.status, 200);
    parse_metrics(&String::from_utf8(answer.body).expect("utf-8"))
}

#[test]
fn v1_status_says_running_while_a_turn_is_open_and_idle_after_it_ends() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, Some(3), "");
    let daemon = host.daemon(&[]);
    host.wait_ready();
    let before = metrics(&host);

    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&host.state, "main").expect("prepare");
    let mut appends = 0;
    player
        .play_until(Pace::FAST, |s| {
            appends += usize::from(s.starts_with("append"));
            appends == 2
        })
        .expect("play the start of the turn");
    wait_for("running: 1", Duration::from_secs(20), || {
        let doc = host.status();
        doc["sessions"]["running"] == 1
            && detail(&doc, CHANNEL_KEY).is_some_and(|d| d["status"] == "running")
    });
    let doc = host.status();
    assert_eq!(doc["ok"], true);
    assert_eq!(
        doc["sessions"]["maxConcurrent"], 3,
        "the gateway's own limit: {doc}"
    );
    assert_eq!(doc["sessions"]["available"], 2);
    let d = detail(&doc, CHANNEL_KEY).expect("the channel session");
    assert_eq!(d["agent"], "main");
    assert_eq!(d["kind"], "channel");
    assert!(d["updatedAt"].as_i64().is_some_and(|t| t > 0), "{d}");
    // The plugin's path and a gateway filter give the same answer for this one gateway.
    let (code, plugin) = host.json("/plugins/session-status/status");
    assert_eq!(
        (code, &plugin["sessions"]["running"]),
        (200, &Value::from(1))
    );
    let path = format!("/v1/status?gateway={}", host.state.display());
    let (code, filtered) = host.json(&path);
    assert_eq!(
        (code, &filtered["sessions"]["running"]),
        (200, &Value::from(1))
    );
    let (code, _) = host.json("/v1/status?gateway=/nowhere/.openclaw");
    assert_eq!(code, 404);

    // `status` shows the open box, for a person, with exit code 0.
    let out = std::process::Command::new(livestatus_e2e::daemon::binary())
        .arg("status")
        .arg("--config")
        .arg(&host.config)
        .output()
        .expect("run status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("box {CHANNEL_KEY} (agent main)")),
        "{text}"
    );
    assert!(text.contains("1 running"), "{text}");
    let out = std::process::Command::new(livestatus_e2e::daemon::binary())
        .args(["status", "--json", "--config"])
        .arg(&host.config)
        .output()
        .expect("run status --json");
    let json: Value = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    assert_eq!(json["sessions"]["running"], 1);

    player.play(Pace::FAST, |_| {}).expect("play the rest");
    wait_for(
        "the turn to end in /v1/status",
        Duration::from_secs(20),
        || {
            let doc = host.status();
            doc["sessions"]["running"] == 0
                && detail(&doc, CHANNEL_KEY).is_some_and(|d| d["status"] == "idle")
        },
    );

    let after = metrics(&host);
    for counter in [
        "livestatus_events_total",
        "livestatus_transcript_lines_total",
        "livestatus_boxes_opened_total",
        "livestatus_mattermost_requests_total",
    ] {
        assert!(
            total(&after, counter) > total(&before, counter),
            "{counter} did not move: {} -> {}",
            total(&before, counter),
            total(&after, counter)
        );
    }
    assert!(total(&after, "livestatus_boxes_closed_total") >= 1.0);
    // Every request that carried the turn's changes was timed from the event behind them.
    let text = String::from_utf8(host.get("/metrics").body).expect("utf-8");
    let count = |suffix: &str| -> f64 {
        let name = format!("livestatus_delivery_latency_seconds_{suffix} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name}in:\n{text}"))
    };
    assert!(count("count") >= 1.0, "no delivery timed");
    assert!(
        count("sum") / count("count") < 10.0,
        "a delivery took {} s on average",
        count("sum") / count("count")
    );
    assert!(total(&after, "process_resident_memory_bytes") > 0.0);
    assert!(!box_posts(&mm).is_empty());
    assert!(daemon.terminate());
}

#[test]
fn a_wrong_or_missing_secret_gets_401_and_no_data() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, None, "");
    let daemon = host.daemon(&[]);
    host.wait_ready();
    for path in [
        "/health",
        "/metrics",
        "/v1/status",
        "/plugins/session-status/status",
    ] {
        for secret in [
            None,
            Some(Secret::new("wrong")),
            Some(Secret::new(&SECRET[1..])),
        ] {
            let answer = client::get(&host.listen, path, secret.as_ref()).expect("answers");
            assert_eq!(answer.status, 401, "{path} with {secret:?}");
            assert!(answer.body.is_empty(), "{path} leaked {:?}", answer.body);
        }
    }
    let (code, doc) = host.json("/v1/status");
    assert_eq!(code, 200);
    assert_eq!(
        doc["sessions"]["maxConcurrent"], 8,
        "api.max_concurrent: {doc}"
    );
    // `status` without the secret says why it failed, and exits non-zero.
    let bare = host.data.with_file_name("bare.toml");
    let Listen::Tcp(addr) = &host.listen else {
        unreachable!("a TCP listener")
    };
    std::fs::write(&bare, format!("[api]\nlisten = \"{addr}\"\n")).expect("config");
    let out = std::process::Command::new(livestatus_e2e::daemon::binary())
        .args(["status", "--config"])
        .arg(&bare)
        .output()
        .expect("run status");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(daemon.terminate());
    // Not running: `status` fails with a message naming the address.
    let out = std::process::Command::new(livestatus_e2e::daemon::binary())
        .args(["status", "--config"])
        .arg(&host.config)
        .output()
        .expect("run status");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the daemon") && err.contains(&addr.to_string()),
        "{err}"
    );
}

#[test]
fn health_is_503_while_mattermost_is_down_long_enough_to_open_the_breaker_and_200_after() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, None, "");
    let daemon = host.daemon(&[]);
    host.wait_ready();
    mm.set_down(true);
    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&host.state, "main").expect("prepare");
    player.play(Pace::FAST, |_| {}).expect("play");
    wait_for("/health 503", Duration::from_secs(40), || {
        host.get("/health").status == 503
    });
    let (_, doc) = host.json("/health");
    assert_eq!(doc["status"], "unhealthy");
    assert_eq!(doc["mattermost"][0]["breaker"], "open", "{doc}");
    assert!(
        doc["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("Mattermost")),
        "{doc}"
    );
    let samples = metrics(&host);
    let breaker = samples
        .iter()
        .find(|s| s.metric == "livestatus_mattermost_breaker_state")
        .expect("breaker gauge");
    assert_eq!(value(&breaker.value), 2.0);
    mm.set_down(false);
    wait_for("/health 200 again", Duration::from_secs(60), || {
        host.get("/health").status == 200
    });
    let (_, doc) = host.json("/health");
    assert_eq!(doc["mattermost"][0]["breaker"], "closed", "{doc}");
    assert!(daemon.terminate());
}

/// One POST the receiver got: its Authorization header and body.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A loopback HTTP receiver on `port` that answers 200 to every POST and records it.
fn receiver(port: u16) -> Received {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("receiver port");
    let got: Received = Arc::default();
    let record = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut auth = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let Ok(mut got) = record.lock() {
                got.push((auth, body));
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    got
}

#[test]
fn the_uploader_posts_at_its_interval_and_survives_its_receiver_being_down() {
    let mm = FakeMattermost::start();
    let port = free_port();
    let host = Host::new(
        &mm,
        None,
        &format!(
            "[uploader]\nurl = \"http://127.0.0.1:{port}/sync\"\ntoken = \"{UPLOAD_TOKEN}\"\n"
        ),
    );
    let interval = std::ffi::OsString::from("300");
    let daemon = host.daemon(&[("LIVESTATUS_TEST_UPLOAD_INTERVAL_MS", &interval)]);
    host.wait_ready();
    // Nothing listens yet: the uploader fails, says so in /health, and keeps trying.
    wait_for(
        "a failed upload in /health",
        Duration::from_secs(20),
        || {
            let (_, doc) = host.json("/health");
            doc["uploader"]["ok"] == false
        },
    );
    let (_, doc) = host.json("/health");
    assert!(
        doc["uploader"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connect")),
        "{doc}"
    );
    let upload_test = || {
        std::process::Command::new(livestatus_e2e::daemon::binary())
            .args(["upload", "--test", "--config"])
            .arg(&host.config)
            .output()
            .expect("run upload --test")
    };
    let out = upload_test();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("could not connect"), "{said}");
    let got = receiver(port);
    wait_for("three uploads", Duration::from_secs(20), || {
        got.lock().map(|g| g.len() >= 3).unwrap_or(false)
    });
    let out = upload_test();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("accepted (200)"), "{said}");
    wait_for("the test upload", Duration::from_secs(10), || {
        got.lock()
            .map(|g| g.iter().any(|(_, body)| body["test"] == true))
            .unwrap_or(false)
    });
    let received = got.lock().expect("lock").clone();
    for (auth, body) in &received {
        assert_eq!(auth, &format!("Bearer {UPLOAD_TOKEN}"));
        assert_eq!(body["source"], "openclaw-livestatus");
        assert!(body["agents"].is_array(), "{body}");
    }
    assert!(
        received.iter().filter(|(_, b)| b["test"] == false).count() >= 3,
        "{received:?}"
    );
    let (code, doc) = host.json("/health");
    assert_eq!(code, 200, "{doc}");
    assert_eq!(doc["uploader"]["ok"], true, "{doc}");
    assert!(doc["uploader"]["lastSuccessAt"].as_i64().is_some(), "{doc}");
    let samples = metrics(&host);
    let ok = samples
        .iter()
        .filter(|s| s.metric == "livestatus_uploads_total" && s.labels.get("result") == Some("ok"))
        .map(|s| value(&s.value))
        .sum::<f64>();
    assert!(ok >= 3.0, "uploads ok: {ok}");
    assert!(daemon.terminate());
}

#[test]
fn the_api_can_listen_on_a_unix_socket_only() {
    let mm = FakeMattermost::start();
    let mut host = Host::new(&mm, None, "");
    let socket = host.data.with_file_name("api.sock");
    std::fs::write(
        &host.config,
        format!("[api]\nlisten = \"unix:{}\"\n", socket.display()),
    )
    .expect("config");
    host.listen = Listen::Unix(socket.clone());
    let daemon = host.daemon(&[]);
    wait_for(
        "the socket to answer /health",
        Duration::from_secs(30),
        || client::get(&host.listen, "/health", None).is_ok_and(|a| a.status == 200),
    );
    let answer = client::get(&host.listen, "/v1/status", None).expect("answers");
    assert_eq!(answer.status, 200);
    let doc: Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(doc["ok"], true);
    assert!(daemon.terminate());
}
