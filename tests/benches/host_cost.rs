//! Prints what the eBPF tier costs every other process on the host: a tight loop of 1-byte
//! write(2) to /dev/null, and one of open+close of an unrelated file, without the tier and with
//! it attached (each hook variant this kernel accepts), in one run, as ratios. Figures, not a
//! pass/fail: `make bench`.

use std::io::Write;
use std::time::{Duration, Instant};

use livestatus::watch::ebpf::{self, Hooks};
use livestatus::watch::{FsEvent, Scope};
use tokio::sync::mpsc;

const ITERATIONS: u32 = 1_000_000;
const ROUNDS: usize = 3;

fn per_call(mut f: impl FnMut()) -> Duration {
    let mut runs: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..ITERATIONS {
                f();
            }
            t.elapsed() / ITERATIONS
        })
        .collect();
    runs.sort();
    runs[ROUNDS / 2]
}

fn loops() -> (Duration, Duration) {
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null");
    let write = per_call(|| {
        null.write_all(b"x").expect("write");
    });
    let open = per_call(|| {
        drop(std::fs::File::open("/etc/hostname").expect("open"));
    });
    (write, open)
}

fn main() {
    println!(
        "host cost: median of {ROUNDS} loops of {ITERATIONS} calls, ns per call (ratio to no tier)"
    );
    let (w0, o0) = loops();
    println!(
        "{:<48} {:>8.0} {:>8.0}",
        "no tier: write(/dev/null, 1) | open+close",
        w0.as_nanos(),
        o0.as_nanos()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join(".openclaw");
    std::fs::create_dir_all(state.join("agents/main/sessions")).expect("mkdir");
    for hooks in [
        Hooks::FentryPerformWrite,
        Hooks::FentryVfsWrite,
        Hooks::SyscallTracepoints,
    ] {
        let (tx, mut rx) = mpsc::channel::<FsEvent>(1024);
        let started = rt.block_on(ebpf::start_with(
            Scope::Gateways(vec![state.clone()]),
            tx,
            hooks,
        ));
        let handle = match started {
            Ok(h) => h,
            Err(e) => {
                println!("{:<48} unavailable: {e}", hooks.name());
                continue;
            }
        };
        rt.spawn(async move { while rx.recv().await.is_some() {} });
        let (w, o) = loops();
        println!(
            "{:<48} {:>8.0} {:>8.0}   write ×{:.2}  open ×{:.2}",
            hooks.name(),
            w.as_nanos(),
            o.as_nanos(),
            w.as_secs_f64() / w0.as_secs_f64(),
            o.as_secs_f64() / o0.as_secs_f64()
        );
        rt.block_on(handle.stop());
    }
}
