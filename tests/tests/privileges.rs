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
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    std::fs::create_dir_all(state.join("agents/main/sessions")).expect("state dir");
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "").expect("config");
    let data = tmp.path().join("data");
    let daemon = Daemon::start(&state, &data, &config, "auto");
    daemon.wait_for_log("capabilities dropped", Duration::from_secs(10));
    let pid = daemon.pid().expect("running");
    // CAP_DAC_READ_SEARCH is bit 2.
    let read_search = format!("{:016x}", 1u64 << 2);
    for field in ["CapEff", "CapPrm", "CapBnd"] {
        let sets = per_thread(pid, field);
        assert!(!sets.is_empty(), "no thread status for {pid}");
        assert!(
            sets.iter().all(|s| *s == read_search),
            "{field} per thread: {sets:?}\n{}",
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
