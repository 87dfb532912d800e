//! `openclaw-livestatus status`: the running daemon's state for a person, through its API.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use super::{FollowArgs, StatusArgs};
use crate::api::client::{self, Answer};
use crate::service::config::Secret;

pub fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let follow = FollowArgs {
        config: args.config.clone(),
        ..FollowArgs::default()
    };
    let (config, _warnings) = super::settings::load(&follow)?;
    let listen = args.listen.clone().unwrap_or(config.api.listen.clone());
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    // A secret this user may not read: ask without one, and explain a 401.
    let secret = match config.api.read_secret(credentials.as_deref()) {
        Ok(secret) => secret,
        Err(e) => {
            eprintln!("openclaw-livestatus: asking without the API secret: {e}");
            None
        }
    };
    let health = client::get(&listen, "/health", secret.as_ref())?;
    refused(&health, secret.as_ref())?;
    let doc: Value = serde_json::from_slice(&health.body)
        .map_err(|e| anyhow::anyhow!("the daemon's /health is not JSON: {e}"))?;
    let healthy = health.status == 200;
    if args.json {
        let answer = client::get(&listen, "/v1/status", secret.as_ref())?;
        refused(&answer, secret.as_ref())?;
        println!("{}", String::from_utf8_lossy(&answer.body).trim_end());
    } else {
        let mut gateways = Vec::new();
        for g in doc["gateways"].as_array().into_iter().flatten() {
            let Some(dir) = g.as_str() else { continue };
            let path = format!("/v1/status?gateway={}", percent_encode(dir));
            let counts = client::get(&listen, &path, secret.as_ref())
                .ok()
                .and_then(|a| serde_json::from_slice::<Value>(&a.body).ok());
            gateways.push((dir.to_owned(), counts));
        }
        print!("{}", render(&doc, &gateways));
    }
    if healthy {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "openclaw-livestatus: the daemon is {}",
            doc["status"].as_str().unwrap_or("unhealthy")
        );
        Ok(ExitCode::FAILURE)
    }
}

fn refused(answer: &Answer, secret: Option<&Secret>) -> anyhow::Result<()> {
    if answer.status == 401 {
        anyhow::bail!(if secret.is_some() {
            "the daemon refused the API secret (401): is api.secret the same in this config?"
        } else {
            "the daemon wants the API secret (401): run as a user who can read api.secret_file, \
             or pass --config with the daemon's config"
        });
    }
    Ok(())
}

/// Everything but unreserved characters and `/` escaped, for a path in a query.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The person's view of `/health` and each gateway's `/v1/status`.
pub fn render(health: &Value, gateways: &[(String, Option<Value>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "openclaw-livestatus {}: {} (up {}s)",
        health["version"].as_str().unwrap_or("?"),
        health["status"].as_str().unwrap_or("?"),
        health["uptimeSeconds"].as_u64().unwrap_or(0)
    );
    for problem in health["problems"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  problem: {}", problem.as_str().unwrap_or(""));
    }
    match health["tier"].as_object() {
        Some(tier) => {
            let _ = writeln!(
                out,
                "tier: {} ({})",
                tier.get("name").and_then(Value::as_str).unwrap_or("?"),
                tier.get("why").and_then(Value::as_str).unwrap_or("")
            );
        }
        None => {
            let _ = writeln!(out, "tier: none armed");
        }
    }
    if gateways.is_empty() {
        let _ = writeln!(out, "no gateway followed yet");
    }
    for (dir, counts) in gateways {
        match counts {
            Some(c) => {
                let s = &c["sessions"];
                let _ = writeln!(
                    out,
                    "gateway {dir}: {} running, {} idle, max {}",
                    s["running"], s["idle"], s["maxConcurrent"]
                );
            }
            None => {
                let _ = writeln!(out, "gateway {dir}");
            }
        }
        for b in health["openBoxes"].as_array().into_iter().flatten() {
            if b["gateway"].as_str() != Some(dir) {
                continue;
            }
            let _ = writeln!(
                out,
                "  box {} (agent {}) {}s: {}",
                b["session"].as_str().unwrap_or("?"),
                b["agent"].as_str().unwrap_or("?"),
                b["elapsedSeconds"].as_i64().unwrap_or(0),
                b["lastLine"].as_str().unwrap_or("")
            );
        }
    }
    match health["mattermost"].as_array() {
        None => {
            let _ = writeln!(out, "Mattermost: not configured (boxes go to the log)");
        }
        Some(servers) if servers.is_empty() => {
            let _ = writeln!(out, "Mattermost: no server used yet");
        }
        Some(servers) => {
            for s in servers {
                let _ = writeln!(
                    out,
                    "Mattermost {}: {}, breaker {}",
                    s["server"].as_str().unwrap_or("?"),
                    s["mode"].as_str().unwrap_or("?"),
                    s["breaker"].as_str().unwrap_or("?")
                );
            }
        }
    }
    if let Some(u) = health["uploader"].as_object() {
        let _ = writeln!(
            out,
            "uploader: {} {}",
            u.get("url").and_then(Value::as_str).unwrap_or("?"),
            u.get("message").and_then(Value::as_str).unwrap_or("?")
        );
    }
    if let Some(e) = health["lastError"].as_object() {
        let _ = writeln!(
            out,
            "last error: {}",
            e.get("message").and_then(Value::as_str).unwrap_or("?")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_line_per_gateway_and_open_box_then_tier_and_mattermost() {
        let health = json!({
            "status": "ok", "version": "1.2.3", "uptimeSeconds": 7, "problems": [],
            "tier": {"name": "inotify", "why": "asked for (inotify)"},
            "gateways": ["/home/a/.openclaw"],
            "openBoxes": [{"gateway": "/home/a/.openclaw", "agent": "main",
                "session": "agent:main:main", "elapsedSeconds": 38, "lastLine": "exec: ls [OK]"}],
            "mattermost": [{"server": "https://chat", "mode": "rest", "breaker": "closed"}],
            "lastError": null, "uploader": null
        });
        let counts = json!({"sessions": {"running": 1, "idle": 2, "maxConcurrent": 4}});
        let text = render(&health, &[("/home/a/.openclaw".to_owned(), Some(counts))]);
        assert!(
            text.contains("openclaw-livestatus 1.2.3: ok (up 7s)"),
            "{text}"
        );
        assert!(
            text.contains("tier: inotify (asked for (inotify))"),
            "{text}"
        );
        assert!(
            text.contains("gateway /home/a/.openclaw: 1 running, 2 idle, max 4"),
            "{text}"
        );
        assert!(
            text.contains("  box agent:main:main (agent main) 38s: exec: ls [OK]"),
            "{text}"
        );
        assert!(
            text.contains("Mattermost https://chat: rest, breaker closed"),
            "{text}"
        );
    }

    #[test]
    fn gateway_paths_are_escaped_for_the_query() {
        assert_eq!(
            percent_encode("/home/a b/.openclaw&x"),
            "/home/a%20b/.openclaw%26x"
        );
    }
}
