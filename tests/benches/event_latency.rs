//! Prints the latency from a writer's write(2) returning to the watch tier's `FsEvent` for that
//! file, per tier, p50/p99 over 1000 appends, side by side in one run, with `inotifywait` on the
//! same appends as an outside reference. Figures, not a pass/fail: `make bench`.
//!
//! Tiers that cannot run here (eBPF without the object, fanotify without CAP_SYS_ADMIN) print why.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use livestatus::watch::{self, FsEventKind, Scope, TierKind, WatchOptions};
use tokio::sync::mpsc;

const EVENTS: usize = 1000;

fn gateway(tmp: &Path) -> (PathBuf, PathBuf) {
    let state = tmp.join(".openclaw");
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("mkdir");
    let transcript = sessions.join("bench.jsonl");
    std::fs::write(&transcript, "{}\n").expect("transcript");
    (state, transcript)
}

/// One append at a time, each waited for, so every latency is measured alone.
fn measure_tier(tier: TierKind) -> Result<Vec<Duration>, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (state, transcript) = gateway(tmp.path());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(4096);
        let opts = WatchOptions {
            poll_interval: Duration::from_millis(100),
            ..WatchOptions::default()
        };
        let handle = watch::start(tier, Scope::Gateways(vec![state]), opts, tx)
            .await
            .map_err(|e| e.to_string())?;
        let mut file = open_for_append(&transcript)?;
        let mut out = Vec::with_capacity(EVENTS);
        for _ in 0..EVENTS {
            file.write_all(b"{}\n").map_err(|e| e.to_string())?;
            let written = Instant::now();
            loop {
                match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                    Ok(Some(ev)) if ev.path == transcript && ev.kind == FsEventKind::Appended => {
                        out.push(written.elapsed());
                        break;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return Err("channel closed".to_owned()),
                    Err(_) => break,
                }
            }
        }
        handle.stop().await;
        Ok(out)
    })
}

/// The transcript, opened once as the gateway holds it: every append is one write(2).
fn open_for_append(path: &std::path::Path) -> Result<std::fs::File, String> {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn measure_inotifywait() -> Result<Vec<Duration>, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_, transcript) = gateway(tmp.path());
    let mut child = Command::new("inotifywait")
        .args(["-m", "-q", "-e", "modify", "--format", "%w%f"])
        .arg(&transcript)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("inotifywait: {e} (apt-get install inotify-tools)"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    // inotifywait prints nothing when its watch is set; give it a moment, then prime.
    std::thread::sleep(Duration::from_millis(300));
    let mut file = open_for_append(&transcript)?;
    let mut out = Vec::with_capacity(EVENTS);
    for _ in 0..EVENTS {
        file.write_all(b"{}\n").map_err(|e| e.to_string())?;
        let written = Instant::now();
        match lines.next() {
            Some(Ok(_)) => out.push(written.elapsed()),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok(out)
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn print_row(name: &str, r: Result<Vec<Duration>, String>) {
    match r {
        Ok(mut l) => {
            l.sort();
            println!(
                "{:<12} {:>6} {:>10.1?} {:>10.1?} {:>10.1?}",
                name,
                l.len(),
                pct(&l, 0.50),
                pct(&l, 0.99),
                l.last().copied().unwrap_or_default()
            );
        }
        Err(e) => println!("{name:<12} unavailable: {e}"),
    }
}

fn main() {
    // The writer is this process; the eBPF tier must not ignore it.
    watch::ebpf::watch_own_process(true);
    println!("write(2) return → FsEvent, {EVENTS} appends per tier (one run, side by side)");
    println!(
        "{:<12} {:>6} {:>10} {:>10} {:>10}",
        "tier", "seen", "p50", "p99", "max"
    );
    for tier in [
        TierKind::Ebpf,
        TierKind::Fanotify,
        TierKind::Inotify,
        TierKind::Poll,
    ] {
        print_row(tier.name(), measure_tier(tier));
    }
    print_row("inotifywait", measure_inotifywait());
}
