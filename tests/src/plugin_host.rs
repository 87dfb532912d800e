//! The Mattermost plugin under the SDK's real plugin host: `plugin/build/livestatus-harness`
//! (plugin/harness) runs the BUILT bundle as Mattermost does, with an in-memory server behind
//! it, and serves the plugin's HTTP API on loopback plus `/harness/*` views of what the plugin
//! did (posts, post writes, WebSocket events).
//!
//! Both are built by `make -C plugin harness` (the top-level `make test` does it first). A test
//! that needs them and finds them missing FAILS, saying so: a silently skipped cross-language
//! test would look like a passing one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The plugin's id, which is its URL path under a server.
pub const PLUGIN_ID: &str = "com.openclaw.livestatus";

/// `plugin/` of this repository.
pub fn plugin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugin")
}

/// The harness binary and the bundle it loads; panics with what to run when either is missing.
pub fn built() -> (PathBuf, PathBuf) {
    let dir = plugin_dir();
    let harness = dir.join("build/livestatus-harness");
    let manifest = std::fs::read_to_string(dir.join("plugin.json")).expect("plugin/plugin.json");
    let manifest: Value = serde_json::from_str(&manifest).expect("plugin.json is JSON");
    let version = manifest["version"]
        .as_str()
        .expect("plugin.json has a version");
    let bundle = dir.join(format!("dist/{PLUGIN_ID}-{version}.tar.gz"));
    for (what, path) in [
        ("the plugin harness", &harness),
        ("the plugin bundle", &bundle),
    ] {
        assert!(
            path.is_file(),
            "{what} {} is missing: run `make -C plugin harness` first (the top-level `make test` \
             does); this test needs the real plugin host and does not skip without it",
            path.display()
        );
    }
    (harness, bundle)
}

pub struct PluginHost {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`: the plugin is under `/plugins/com.openclaw.livestatus/`.
    pub url: String,
}

impl PluginHost {
    /// Starts the harness with the plugin's `SharedSecret` and `CHANNEL:USER` memberships (who
    /// may read which session); returns once the plugin is active.
    pub fn start(secret: &str, members: &[(&str, &str)]) -> PluginHost {
        PluginHost::start_with(secret, members, &[])
    }

    /// `start`, with more harness flags (e.g. `-max-active-sessions 200`).
    pub fn start_with(secret: &str, members: &[(&str, &str)], flags: &[&str]) -> PluginHost {
        let (harness, bundle) = built();
        let members: Vec<String> = members.iter().map(|(c, u)| format!("{c}:{u}")).collect();
        let mut child = Command::new(&harness)
            .arg("-bundle")
            .arg(&bundle)
            .arg("-secret")
            .arg(secret)
            .arg("-member")
            .arg(members.join(","))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", harness.display()));
        let stdout = child.stdout.take().expect("harness stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("the plugin harness did not say `listening on …` within 60 s");
            }
        };
        PluginHost {
            child: Some(child),
            url,
        }
    }

    /// The plugin's base URL, as `mattermost.plugin_url` takes it.
    pub fn plugin_url(&self) -> String {
        format!("{}/plugins/{PLUGIN_ID}", self.url)
    }

    /// GET `path`, as `user` (a logged-in Mattermost user) when given: (status, JSON body).
    pub fn get(&self, path: &str, user: Option<&str>) -> (u16, Value) {
        get(&self.url, path, user)
    }

    /// Every post the plugin made that still exists.
    pub fn posts(&self) -> Vec<Value> {
        list(self.get("/harness/posts", None).1)
    }

    /// Every CreatePost / UpdatePost / DeletePost, in order: `{op, post_id, message}`.
    pub fn writes(&self) -> Vec<Value> {
        list(self.get("/harness/writes", None).1)
    }

    /// Every published WebSocket event: `{event, channel_id, payload}`.
    pub fn events(&self) -> Vec<Value> {
        list(self.get("/harness/events", None).1)
    }

    /// `GET sessions/{key}` as `user`.
    pub fn session(&self, key: &str, user: &str) -> Option<Value> {
        let path = format!(
            "/plugins/{PLUGIN_ID}/api/v1/sessions/{}",
            key.replace(':', "%3A")
        );
        match self.get(&path, Some(user)) {
            (200, v) => Some(v),
            _ => None,
        }
    }

    /// Stops the harness (and with it the plugin) at once, as a server that went away.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PluginHost {
    fn drop(&mut self) {
        self.kill();
    }
}

fn list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// A plain HTTP/1.0 GET (no chunked answers), so the tests need no HTTP client crate.
fn get(base: &str, path: &str, user: Option<&str>) -> (u16, Value) {
    let authority = base.trim_start_matches("http://");
    let Ok(mut stream) = TcpStream::connect(authority) else {
        return (0, Value::Null);
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let user = user
        .map(|u| format!("X-Harness-User-Id: {u}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n{user}\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, Value::Null);
    }
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return (0, Value::Null);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}
