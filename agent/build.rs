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
    let target = PathBuf::from(manifest).join("../target");
    let dir = target.join("ebpf");
    // Watching the directory (not the file) makes cargo notice the object appearing later
    // without re-running this script on every build while it is missing. It is created only
    // inside the target dir cargo builds into: a build never writes elsewhere in the tree.
    let ours = std::env::var_os("OUT_DIR").is_some_and(|out| {
        let (Ok(out), Ok(target)) = (PathBuf::from(out).canonicalize(), target.canonicalize())
        else {
            return false;
        };
        out.starts_with(target)
    });
    if ours {
        let _ = std::fs::create_dir_all(&dir);
    }
    println!("cargo::rerun-if-changed={}", dir.display());
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
