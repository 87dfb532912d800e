//! Prints the latency from a transcript append (the `write` returning) to the box update
//! reaching the sink, per tier, p50/p99 over 1000 appends, and the process RSS. Figures, not a
//! pass/fail: `make bench`.

use std::io::Write;
use std::time::{Duration, Instant};

use livestatus::service::config::TierChoice;
use livestatus::watch::{Scope, TierKind};
use livestatus_e2e::{Collector, tier_options};

const APPENDS: usize = 1000;

fn tool_call_line(i: usize) -> String {
    format!(
        "{{\"type\":\"message\",\"id\":\"m{i}\",\"parentId\":null,\"timestamp\":\"2026-11-22T03:50:{:02}.{:03}Z\",\"message\":{{\"role\":\"assistant\",\"content\":[{{\"type\":\"toolCall\",\"id\":\"c{i}\",\"name\":\"exec\",\"arguments\":{{\"command\":\"bench-{i}\"}}}}],\"stopReason\":\"toolUse\"}}}}\n",
        (i / 1000) % 60,
        i % 1000
    )
}

fn measure(tier: TierChoice) -> Vec<Duration> {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join(".openclaw");
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("mkdir");
    std::fs::write(
        sessions.join("sessions.json"),
        r#"{"agent:main:main":{"sessionId":"bench","sessionFile":"/x/bench.jsonl"}}"#,
    )
    .expect("index");
    let transcript = sessions.join("bench.jsonl");
    std::fs::write(
        &transcript,
        "{\"type\":\"session\",\"version\":3,\"id\":\"bench\",\"timestamp\":\"2026-11-22T03:50:00.000Z\"}\n\
         {\"type\":\"message\",\"id\":\"u\",\"timestamp\":\"2026-11-22T03:50:00.001Z\",\"message\":{\"role\":\"user\",\"content\":\"go\"}}\n",
    )
    .expect("transcript");
    let collector = Collector::default();
    let mut sink = collector.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (times_tx, times_rx) = std::sync::mpsc::channel::<Vec<Instant>>();
    let watcher = collector.clone();
    let mut start = Some(move || {
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&transcript)
                .expect("open");
            let mut written = Vec::with_capacity(APPENDS);
            for i in 0..APPENDS {
                file.write_all(tool_call_line(i).as_bytes())
                    .expect("append");
                written.push(Instant::now());
                // Wait for this line to arrive so each append is measured alone.
                let deadline = Instant::now() + Duration::from_secs(5);
                let needle = format!("bench-{i}");
                while Instant::now() < deadline {
                    let seen = watcher
                        .inner
                        .lock()
                        .expect("lock")
                        .arrivals
                        .iter()
                        .rev()
                        .take(4)
                        .any(|(_, d)| livestatus_e2e::adds_line(d, &needle));
                    if seen {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            let _ = times_tx.send(written);
            let _ = stop_tx.send(());
        });
    });
    let mut opts = tier_options(Scope::Gateways(vec![state.clone()]), tier);
    opts.watch.poll_interval = Duration::from_millis(100);
    livestatus_e2e::run_pipeline(opts, &mut sink, stop_rx, move || {
        if let Some(s) = start.take() {
            s();
        }
    });
    let written = times_rx.recv().expect("writer");
    let c = collector.inner.lock().expect("lock");
    let mut latencies = Vec::new();
    for (i, at) in written.iter().enumerate() {
        let needle = format!("bench-{i}");
        if let Some((seen, _)) = c
            .arrivals
            .iter()
            .find(|(_, d)| livestatus_e2e::adds_line(d, &needle))
        {
            latencies.push(seen.saturating_duration_since(*at));
        }
    }
    latencies
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    println!("append → box update latency, {APPENDS} appends per tier (one run, side by side)");
    println!(
        "{:<8} {:>6} {:>10} {:>10} {:>10}",
        "tier", "seen", "p50", "p99", "max"
    );
    for tier in [
        TierChoice::Only(TierKind::Inotify),
        TierChoice::Only(TierKind::Poll),
    ] {
        let mut l = measure(tier);
        l.sort();
        println!(
            "{:<8} {:>6} {:>10.3?} {:>10.3?} {:>10.3?}",
            tier.to_string(),
            l.len(),
            pct(&l, 0.50),
            pct(&l, 0.99),
            l.last().copied().unwrap_or_default()
        );
    }
    println!("process RSS (pipeline + bench driver): {} KiB", rss_kib());
}
