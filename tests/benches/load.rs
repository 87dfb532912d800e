//! The release daemon under load, side by side per tier (issue #14's table): N sessions each
//! appending ~10 realistic transcript lines a second, in 4 s turns under a `.jsonl.lock`, for
//! LOAD_SECONDS, against a fake Mattermost on loopback; then idle wake-ups and startup over
//! history. Figures, not a pass/fail: `make bench`; docs/performance.md says how to read them.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use livestatus_e2e::load::agent::release_binary;
use livestatus_e2e::load::measure::{
    LoadSpec, ReferenceFigures, history_run, idle_run, inotifywait_run, load_run,
    node_reference_run,
};

/// A setting from the environment, or its default; a value that does not parse is fatal.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name}={v:?} is not a valid value; unset it or give a number");
            std::process::exit(2)
        }),
        _ => default,
    }
}

/// A comma-separated list from the environment, or the default list.
fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn env_counts(name: &str, default: &str) -> Vec<usize> {
    env_list(name, default)
        .iter()
        .map(|s| {
            s.parse().unwrap_or_else(|_| {
                eprintln!("{name}: {s:?} is not a count; give numbers separated by commas");
                std::process::exit(2)
            })
        })
        .collect()
}

fn mb(kib: u64) -> String {
    format!("{:.0} MB", kib as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

fn flush() {
    let _ = std::io::stdout().flush();
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported (use the env vars).
    let binary = match release_binary() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("load bench: {e}");
            std::process::exit(1)
        }
    };
    let parts = env_list("LOAD_PARTS", "load,idle,history");
    let seconds: u64 = env_or("LOAD_SECONDS", 60);
    let sessions = env_counts("LOAD_SESSIONS", "100,1000");
    let tiers = env_list("LOAD_TIERS", "inotify,fanotify,ebpf,poll");
    let writers: usize = env_or("LOAD_WRITERS", 2);
    let drain = Duration::from_secs(env_or("LOAD_DRAIN_SECONDS", 10));
    let idle_seconds: u64 = env_or("IDLE_SECONDS", 60);
    let history = env_counts("HISTORY_COUNTS", "2000,20000");
    let history_tiers = env_list("HISTORY_TIERS", "inotify");
    // Another build of the daemon (e.g. main's) run on the same rows right after this one's, so
    // a change is read as a ratio measured on the same noisy machine in the same minute.
    let baseline = std::env::var_os("LOAD_BASELINE")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from);
    if let Some(b) = &baseline
        && !b.is_file()
    {
        eprintln!(
            "LOAD_BASELINE={}: no such file; give the path of another build of openclaw-livestatus",
            b.display()
        );
        std::process::exit(2)
    }
    println!(
        "openclaw-livestatus load bench: {} ({}), {} cores, kernel {}",
        binary.display(),
        git_head(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel()
    );
    if parts.iter().any(|p| p == "load") {
        let mut builds = vec![(binary.as_path(), "")];
        if let Some(b) = &baseline {
            builds.push((b.as_path(), " (baseline)"));
        }
        load_table(&builds, &sessions, &tiers, seconds, writers, drain);
    }
    if parts.iter().any(|p| p == "idle") {
        idle_table(&binary, &tiers, idle_seconds);
    }
    if parts.iter().any(|p| p == "history") {
        history_table(&binary, &history, &history_tiers);
    }
}

fn load_table(
    builds: &[(&Path, &str)],
    sessions: &[usize],
    tiers: &[String],
    seconds: u64,
    writers: usize,
    drain: Duration,
) {
    println!(
        "\n## Load: {seconds} s, turns of 4 s × 40 lines under a .jsonl.lock, {writers} writer thread(s); delivered = final state within {} s of the last write\n",
        drain.as_secs()
    );
    println!(
        "| N sessions (lines/s) | tier | agent CPU (% of a core) | peak RSS | turns delivered | final-state lag p50 / p99 | box appears p50 (turns / box posts) | requests/s | overflow / rescan log lines | writer late p99 / max |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    flush();
    for &n in sessions {
        for (tier, (binary, build)) in tiers
            .iter()
            .flat_map(|t| builds.iter().map(move |b| (t, *b)))
        {
            let spec = LoadSpec {
                binary,
                sessions: n,
                tier,
                seconds,
                drain,
                writers,
            };
            match load_run(&spec) {
                Ok(f) => {
                    let behind = if f.writer_late_p99 > Duration::from_millis(100) {
                        " (writer fell behind)"
                    } else {
                        ""
                    };
                    let deleted = if f.deleted_posts > 0 {
                        format!(", {} deleted", f.deleted_posts)
                    } else {
                        String::new()
                    };
                    let errors = if f.writer_errors > 0 {
                        format!(", {} write errors", f.writer_errors)
                    } else {
                        String::new()
                    };
                    println!(
                        "| {n} ({:.0}/s) | {tier}{build} | {:.0} % | {} | {} / {} | {} / {} | {} ({} / {}{deleted}) | {:.0} | {} / {} | {} / {}{behind}{errors} |",
                        f.lines_per_s,
                        f.cpu_percent,
                        mb(f.hwm_kib),
                        f.turns_delivered,
                        f.turns_total,
                        secs(f.lag_p50),
                        secs(f.lag_p99),
                        secs(f.appear_p50),
                        f.appeared,
                        f.box_posts,
                        f.requests_per_s,
                        f.overflows,
                        f.rescans,
                        secs(f.writer_late_p99),
                        secs(f.writer_late_max),
                    );
                }
                Err(e) => println!("| {n} | {tier}{build} | skipped: {e} | | | | | | | |"),
            }
            flush();
        }
        reference_row(
            n,
            "`inotifywait -m -r`",
            inotifywait_run(n, seconds, writers),
        );
        reference_row(
            n,
            "Node `fs.watch` + 500 ms poll",
            node_reference_run(n, seconds, writers),
        );
    }
}

fn reference_row(n: usize, what: &str, run: Result<ReferenceFigures, String>) {
    match run {
        Ok(r) => println!(
            "| {n} ({:.0}/s) | reference: {what} | {:.0} % | {} | | | | | | |",
            r.lines_per_s,
            r.cpu_percent,
            mb(r.hwm_kib)
        ),
        Err(e) => println!("| {n} | reference: {what} | skipped: {e} | | | | | | | |"),
    }
    flush();
}

fn idle_table(binary: &Path, tiers: &[String], seconds: u64) {
    const SESSIONS: usize = 100;
    println!("\n## Idle: {SESSIONS} quiet sessions, {seconds} s after READY (+2 s to settle)\n");
    println!("| tier | voluntary context switches / min | RSS | CPU (% of a core) |");
    println!("|---|---|---|---|");
    flush();
    for tier in tiers {
        match idle_run(binary, tier, SESSIONS, seconds) {
            Ok(f) => println!(
                "| {tier} | {:.0} | {} | {:.2} % |",
                f.switches_per_min,
                mb(f.rss_kib),
                f.cpu_percent
            ),
            Err(e) => println!("| {tier} | skipped: {e} | | |"),
        }
        flush();
    }
}

fn history_table(binary: &Path, counts: &[usize], tiers: &[String]) {
    println!(
        "\n## History: finished transcripts (mtimes over the past day), soft fd limit 1024 (systemd's default) and the bench's own\n"
    );
    println!(
        "| transcripts | tier | soft NOFILE | spawn → READY=1 | RSS 1 s after | open fds | EMFILE in log |"
    );
    println!("|---|---|---|---|---|---|---|");
    flush();
    let scratch = match tempfile::tempdir() {
        Ok(t) => t,
        Err(e) => {
            println!("history skipped: temp dir: {e}");
            return;
        }
    };
    for &count in counts {
        for tier in tiers {
            for nofile in [Some(1024), None] {
                let limit = nofile.map_or_else(own_nofile, |n: u64| n.to_string());
                match history_run(binary, tier, count, nofile, scratch.path()) {
                    Ok(f) => println!(
                        "| {count} | {tier} | {limit} | {} | {} | {} | {} |",
                        match &f.ready {
                            Ok(d) => secs(*d),
                            Err(e) => format!("never: {e}"),
                        },
                        mb(f.rss_kib),
                        f.fds,
                        if f.emfile { "yes" } else { "no" }
                    ),
                    Err(e) => println!("| {count} | {tier} | {limit} | skipped: {e} | | | |"),
                }
                flush();
            }
        }
    }
}

fn own_nofile() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn git_head() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown commit".to_owned())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}
