//! The daemon gives up its capabilities once its tier is armed: every thread keeps only
//! CAP_DAC_READ_SEARCH (reading other users' sessions), and cannot regain the rest.

use std::time::Duration;

use livestatus_e2e::daemon::Daemon;

/// `<field>:` of a `/proc/<pid>/task/<tid>/status`, for every thread.
fn per_thread(pid: u32, field: &str) -> Vec<String> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .flatten()
    {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        if let Some(v) = status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
        {
            out.push(v.trim().to_owned());
        }
    }
    out
}

fn is_root_with_caps() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 21) != 0)
}

/// Starts the daemon on `tier` and checks every thread's sets once it is ready.
fn check(tier: &str, kept: u64) {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    std::fs::create_dir_all(state.join("agents/main/sessions")).expect("state dir");
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "").expect("config");
    let data = tmp.path().join("data");
    let daemon = Daemon::start(&state, &data, &config, tier);
    daemon.wait_for_log("capabilities dropped", Duration::from_secs(10));
    let pid = daemon.pid().expect("running");
    let want = format!("{kept:016x}");
    for field in ["CapEff", "CapPrm", "CapBnd"] {
        let sets = per_thread(pid, field);
        assert!(!sets.is_empty(), "no thread status for {pid}");
        assert!(
            sets.iter().all(|s| *s == want),
            "{tier}: {field} per thread: {sets:?}, want {want}\n{}",
            daemon.log_text()
        );
    }
    for field in ["CapInh", "CapAmb"] {
        let sets = per_thread(pid, field);
        assert!(
            sets.iter().all(|s| s == "0000000000000000"),
            "{field}: {sets:?}"
        );
    }
    assert!(per_thread(pid, "NoNewPrivs").iter().all(|s| s == "1"));
    assert!(
        !daemon.log_text().contains("still hold more"),
        "{}",
        daemon.log_text()
    );
    assert!(daemon.terminate(), "a clean exit after the drop");
}

/// CAP_DAC_READ_SEARCH, bit 2.
const READ_SEARCH: u64 = 1 << 2;
/// CAP_BPF, bit 39.
const BPF: u64 = 1 << 39;

#[test]
fn after_ready_only_dac_read_search_is_left_on_every_thread() {
    if !is_root_with_caps() {
        assert!(
            std::env::var_os("LIVESTATUS_ALLOW_NO_ROOT").is_some(),
            "this test needs root with CAP_SYS_ADMIN (set LIVESTATUS_ALLOW_NO_ROOT=1 to skip it)"
        );
        eprintln!("SKIPPED: not root with CAP_SYS_ADMIN, and LIVESTATUS_ALLOW_NO_ROOT is set");
        return;
    }
    check("fanotify", READ_SEARCH);
    check("inotify", READ_SEARCH);
}

/// Where unprivileged bpf() is disabled, the eBPF tier's remaining calls need CAP_BPF.
#[test]
fn the_ebpf_tier_keeps_cap_bpf_besides() {
    if !livestatus_e2e::tier_runs_here(
        livestatus::service::config::TierChoice::Only(livestatus::watch::TierKind::Ebpf),
        "the_ebpf_tier_keeps_cap_bpf_besides",
    ) {
        return;
    }
    check("ebpf", READ_SEARCH | BPF);
}
