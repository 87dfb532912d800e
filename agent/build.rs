//! Embeds the eBPF object when scripts/build-ebpf.sh has built it. Without it the agent still
//! builds (the other tiers need no kernel toolchain) and the eBPF tier says how to get it,
//! unless LIVESTATUS_REQUIRE_EBPF=1 (set by `make package`): a package must not ship a binary
//! whose best tier is missing.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(livestatus_ebpf_object)");
    println!("cargo::rerun-if-env-changed=LIVESTATUS_REQUIRE_EBPF");
    let required = std::env::var_os("LIVESTATUS_REQUIRE_EBPF").is_some_and(|v| v == "1");
    let Some(manifest) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return;
    };
    let dir = PathBuf::from(manifest).join("../target/ebpf");
    // Watching the directory (not the file) makes cargo notice the object appearing later
    // without re-running this script on every build while it is missing.
    if std::fs::create_dir_all(&dir).is_ok() {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    let object = dir.join("livestatus.bpf.o");
    if object.is_file() {
        println!("cargo::rustc-cfg=livestatus_ebpf_object");
        println!(
            "cargo::rustc-env=LIVESTATUS_EBPF_OBJECT={}",
            object.display()
        );
    } else if required {
        println!(
            "cargo::error=LIVESTATUS_REQUIRE_EBPF=1 but the eBPF object {} is missing: \
             build it with scripts/build-ebpf.sh (a package without it would lack the ebpf tier)",
            object.display()
        );
    }
}
