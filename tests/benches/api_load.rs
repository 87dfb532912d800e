//! Prints the latency from a transcript append (the `write` returning) to the Mattermost request
//! carrying the new line (as the fake Mattermost receives it), through the real daemon binary,
//! first alone and then while clients hammer `GET /v1/status` as fast as they can. The API runs on
//! its own thread and reads only the loop's snapshot, so the two columns should match. Figures,
//! not a pass/fail: `make bench`.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use livestatus::api::client;
use livestatus::playback::Pace;
use livestatus::service::config::Listen;
use livestatus_e2e::daemon::{Daemon, write_gateway_config};
use livestatus_e2e::fake_mattermost::FakeMattermost;
use livestatus_e2e::posts::{box_posts, wait_for};
use livestatus_e2e::recording_now;

const APPENDS: usize = 200;
const HAMMERS: usize = 2;
const TOKEN: &str = "fake-mm-bot-token-not-secret";

fn tool_call_line(i: usize) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    format!(
        "{{\"type\":\"message\",\"id\":\"bench{i}\",\"parentId\":null,\"timestamp\":{now},\"message\":{{\"role\":\"assistant\",\"content\":[{{\"type\":\"toolCall\",\"id\":\"bc{i}\",\"name\":\"exec\",\"arguments\":{{\"command\":\"bench-{i}\"}}}}],\"stopReason\":\"toolUse\"}}}}\n"
    )
}

/// The session's transcript (not the trajectory side file).
fn transcript(sessions: &Path) -> PathBuf {
    std::fs::read_dir(sessions)
        .expect("sessions dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.ends_with(".jsonl") && !name.contains("trajectory")
        })
        .expect("a transcript")
}

fn measure(mm: &FakeMattermost, file: &Path, base: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(APPENDS);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .expect("open transcript");
    for i in base..base + APPENDS {
        mm.clear_requests();
        f.write_all(tool_call_line(i).as_bytes()).expect("append");
        let written = Instant::now();
        let needle = format!("bench-{i}");
        let deadline = written + Duration::from_secs(5);
        while Instant::now() < deadline {
            let hit = mm.requests().into_iter().find(|r| {
                r.body
                    .json()
                    .and_then(|b| b["message"].as_str())
                    .is_some_and(|m| m.contains(&needle))
            });
            if let Some(r) = hit {
                out.push(r.at.saturating_duration_since(written));
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    out
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn print(label: &str, mut l: Vec<Duration>) {
    l.sort();
    println!(
        "{label:<28} {:>6} {:>10.3?} {:>10.3?} {:>10.3?}",
        l.len(),
        pct(&l, 0.50),
        pct(&l, 0.99),
        l.last().copied().unwrap_or_default()
    );
}

fn main() {
    let mm = FakeMattermost::start();
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    write_gateway_config(&state, &mm.base_url(), TOKEN);
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let config = tmp.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mattermost]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\nthrottle_ms = 0\n[api]\nlisten = \"{addr}\"\n",
            mm.base_url()
        ),
    )
    .expect("config");
    let daemon = Daemon::start(&state, &tmp.path().join("data"), &config, "inotify");
    let listen = Listen::Tcp(addr);
    wait_for("the API", Duration::from_secs(30), || {
        client::get(&listen, "/health", None).is_ok_and(|a| a.status == 200)
    });
    // A real turn, left open after its first steps.
    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&state, "main").expect("prepare");
    let mut appends = 0;
    player
        .play_until(Pace::FAST, |s| {
            appends += usize::from(s.starts_with("append"));
            appends == 2
        })
        .expect("play");
    wait_for("the box", Duration::from_secs(20), || {
        !box_posts(&mm).is_empty()
    });
    let file = transcript(player.sessions_dir());

    println!("append → Mattermost request latency through the daemon, {APPENDS} appends each");
    println!(
        "{:<28} {:>6} {:>10} {:>10} {:>10}",
        "", "seen", "p50", "p99", "max"
    );
    print("API idle", measure(&mm, &file, 0));

    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicU64::new(0));
    let hammers: Vec<_> = (0..HAMMERS)
        .map(|_| {
            let (stop, asked, listen) = (stop.clone(), asked.clone(), listen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if client::get(&listen, "/v1/status", None).is_ok() {
                        asked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    let loaded = measure(&mm, &file, APPENDS);
    let rate = asked.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        let _ = h.join();
    }
    print(&format!("{HAMMERS} clients on /v1/status"), loaded);
    println!("/v1/status answered {rate:.0} requests/s meanwhile");
    let _ = daemon.terminate();
}
