//! `auto` weighs what a kernel tier costs the rest of the host (issue #14): measured on this
//! kernel, through `doctor`, which arms tiers exactly as `run` does and says which it would use
//! and why. The eBPF tier's syscall hooks cost every process measurably, so a limit of ×1.00
//! turns it down and a limit of ×100 keeps it.

use std::path::Path;
use std::process::Command;

use livestatus::service::config::TierChoice;
use livestatus::watch::TierKind;
use livestatus_e2e::daemon::binary;
use livestatus_e2e::tier_loads_here;

/// `doctor`'s line about the tier `run` would use, with this `watch.max_host_cost`.
fn doctor_tier_line(tmp: &Path, max_host_cost: &str) -> String {
    let state = tmp.join(".openclaw");
    std::fs::create_dir_all(state.join("agents/main/sessions")).expect("gateway");
    let config = tmp.join(format!("config-{max_host_cost}.toml"));
    std::fs::write(
        &config,
        format!(
            "[watch]\nmax_host_cost = {max_host_cost}\n\n[service]\ndata_dir = \"{}\"\n",
            tmp.join("data").display()
        ),
    )
    .expect("config");
    let out = Command::new(binary())
        .arg("doctor")
        .arg("--config")
        .arg(&config)
        .arg("--gateway")
        .arg(&state)
        .output()
        .expect("run doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout
        .lines()
        .find(|l| l.contains("is what run would use"))
        .unwrap_or_else(|| {
            panic!(
                "doctor named no tier:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_owned()
}

#[test]
fn auto_keeps_the_ebpf_tier_only_when_its_measured_cost_is_within_the_limit() {
    if !tier_loads_here(
        TierChoice::Only(TierKind::Ebpf),
        "auto_keeps_the_ebpf_tier_only_when_its_cost…",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");

    let generous = doctor_tier_line(tmp.path(), "100.0");
    assert!(
        generous.contains(
            "tier ebpf is what run would use: auto: ebpf, as it costs the host write(/dev/null) ×"
        ),
        "{generous}"
    );
    assert!(generous.contains("within ×100.00"), "{generous}");

    let strict = doctor_tier_line(tmp.path(), "1.0");
    assert!(
        !strict.contains("tier ebpf is what run"),
        "a tier hooking every system call cannot cost nothing: {strict}"
    );
    assert!(
        strict.contains("ebpf would cost the host write(/dev/null) ×")
            && strict.contains("over ×1.00"),
        "the measured cost is what turned it down: {strict}"
    );
}
