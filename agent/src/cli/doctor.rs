//! `doctor`: what this host offers the daemon and what stands in its way, checked now.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use crate::gateway::accounts::{AccountBook, AccountDirectory};
use crate::gateway::{Registry, route::DEFAULT_ACCOUNT};
use crate::service::config::MattermostMode;
use crate::sink::mattermost::post_store::PostStore;

use super::settings;
use super::{DoctorArgs, FollowArgs};

/// A line of the report: `ok`, `warn` or `fail`, then what was found.
fn say(level: &str, what: impl AsRef<str>) {
    println!("[{level:>4}] {}", what.as_ref());
}

pub fn doctor(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let follow: FollowArgs = args.follow;
    let (config, warnings) = settings::load(&follow)?;
    settings::init_logging("error");
    let mut failures = 0;
    for warning in warnings.into_vec() {
        say("warn", format!("config: {warning}"));
    }

    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    say("ok", format!("kernel {}", kernel.trim()));
    if Path::new("/sys/kernel/btf/vmlinux").is_file() {
        say("ok", "kernel BTF: /sys/kernel/btf/vmlinux");
    } else {
        say(
            "warn",
            "kernel BTF: missing (/sys/kernel/btf/vmlinux); the eBPF tier needs a kernel built with CONFIG_DEBUG_INFO_BTF",
        );
    }
    match caps::read(None, caps::CapSet::Effective) {
        Ok(held) => {
            let mut names: Vec<String> = held.iter().map(|c| c.to_string()).collect();
            names.sort();
            let wanted = [
                "CAP_BPF",
                "CAP_PERFMON",
                "CAP_SYS_ADMIN",
                "CAP_DAC_READ_SEARCH",
            ];
            let missing: Vec<&str> = wanted
                .into_iter()
                .filter(|w| !names.iter().any(|n| n == w))
                .collect();
            let summary = if names.len() > 8 {
                format!("{} capabilities", names.len())
            } else {
                names.join(", ")
            };
            if missing.is_empty() {
                say("ok", format!("capabilities: {summary}"));
            } else {
                say(
                    "warn",
                    format!(
                        "capabilities: {summary}; missing {} (run as root, as the systemd unit does, for the kernel tiers and every user's sessions)",
                        missing.join(", ")
                    ),
                );
            }
        }
        Err(e) => say("warn", format!("capabilities: cannot read them ({e})")),
    }
    for tier in crate::watch::TierKind::ALL {
        match crate::watch::available(tier) {
            Ok(()) => say("ok", format!("tier {tier}: available")),
            Err(why) => say("warn", format!("tier {tier}: unavailable ({why})")),
        }
    }
    // Armed for real, as `run` would (with `auto`, the kernel tiers' cost to the host measured).
    let chosen = settings::run_options(&config).and_then(|opts| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(crate::pipeline::choose(&opts))
    });
    match chosen {
        Ok((tier, why)) => say("ok", format!("tier {tier} is what run would use: {why}")),
        Err(e) => {
            failures += 1;
            say("fail", format!("no watch tier can run: {e}"));
        }
    }

    let scope = settings::scope(&config);
    let mut registry = Registry::new(scope.clone());
    registry.discover();
    let gateways: Vec<std::path::PathBuf> = registry.gateways().map(Path::to_path_buf).collect();
    if gateways.is_empty() {
        let looked: Vec<String> = registry
            .search_places()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        say(
            "warn",
            format!(
                "no OpenClaw gateway found (looked in: {})",
                looked.join(", ")
            ),
        );
    }
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    let accounts = AccountDirectory::new(config.configured_accounts(credentials.as_deref())?);
    for gateway in &gateways {
        let agents = registry
            .agents()
            .into_iter()
            .filter(|a| &a.gateway == gateway)
            .count();
        say(
            "ok",
            format!(
                "gateway {} ({agents} agent(s) with sessions)",
                gateway.display()
            ),
        );
        accounts.prime(gateway);
    }
    let plugin = match settings::plugin_options(&config, credentials.as_deref()) {
        Ok(p) => Some(p),
        Err(e) => {
            say("fail", format!("plugin: {e:#}"));
            failures += 1;
            None
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let described = accounts.describe();
    for (owner, id, url, source) in &described {
        let gateway = Path::new(owner);
        let account = if owner == "config" {
            gateways
                .first()
                .and_then(|g| accounts.account(g, id))
                .or_else(|| accounts.account(Path::new("/"), id))
        } else {
            accounts.account(gateway, id)
        };
        let Some(account) = account else {
            say(
                "fail",
                format!("account {id} of {owner} ({url}): no usable token ({source})"),
            );
            failures += 1;
            continue;
        };
        let probe = runtime.block_on(probe(&account.base_url, account.token.expose()));
        match probe {
            Ok(user) => say(
                "ok",
                format!(
                    "account {id} of {owner}: {url} answers, bot @{user} (token from {source})"
                ),
            ),
            Err(why) => {
                say("fail", format!("account {id} of {owner}: {url}: {why}"));
                failures += 1;
            }
        }
        if let Some(plugin) = &plugin {
            let (mode, why) = runtime.block_on(crate::sink::mattermost::detect_transport(
                &account.base_url,
                plugin,
                Duration::from_secs(5),
            ));
            // REST is a working mode; only a plugin that was asked for and cannot be used warns.
            let level = if mode == "rest" && plugin.mode == MattermostMode::Plugin {
                "warn"
            } else {
                "ok"
            };
            say(
                level,
                format!("account {id} of {owner}: mode {mode}: {why}"),
            );
        }
    }
    if described.is_empty() {
        say(
            "warn",
            format!(
                "no Mattermost account (no [mattermost] in the config, none in a gateway's \
                 openclaw.json): boxes go to the log only; sessions use account \
                 \"{DEFAULT_ACCOUNT}\" unless OpenClaw names another"
            ),
        );
    }

    let data_dir = &config.service.data_dir;
    if let Err(e) = crate::service::data_dir::prepare(data_dir) {
        say("fail", format!("{e:#}"));
        failures += 1;
    } else {
        let probe = data_dir.join(".doctor-probe");
        match std::fs::write(&probe, b"").and_then(|()| std::fs::remove_file(&probe)) {
            Ok(()) => match PostStore::open(data_dir) {
                Ok(store) => say(
                    "ok",
                    format!(
                        "data dir {}: writable, {} box post(s) remembered",
                        data_dir.display(),
                        store.len()
                    ),
                ),
                Err(e) => {
                    say("fail", format!("data dir {}: {e}", data_dir.display()));
                    failures += 1;
                }
            },
            Err(e) => {
                say(
                    "fail",
                    format!(
                        "data dir {} is not writable ({e}): set service.data_dir or --data-dir",
                        data_dir.display()
                    ),
                );
                failures += 1;
            }
        }
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `GET /api/v4/users/me`: reachable, token accepted, and which bot it is.
async fn probe(base_url: &str, token: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(format!("{base_url}/api/v4/users/me"))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("unreachable ({e})"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if status.is_success() {
        return Ok(body["username"].as_str().unwrap_or("?").to_owned());
    }
    let id = body["id"].as_str().unwrap_or("");
    Err(match status.as_u16() {
        401 => format!(
            "the bot token is refused (401 {id}): create a new one for the bot and update the account"
        ),
        403 => format!("the token may not read its own user (403 {id})"),
        code => format!("answered {code} {id}"),
    })
}
