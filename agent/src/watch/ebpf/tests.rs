//! The eBPF tier on real files with its programs really attached. A test that cannot load them
//! fails, unless LIVESTATUS_ALLOW_NO_EBPF=1 says this host may lack eBPF, in which case it
//! prints why it skipped.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::*;
use crate::watch::FsEventKind::{Appended, Created, Removed, Renamed};
use crate::watch::tests::{Rig, WAIT, append, mkdir, write};

/// Starts the tier, or says why not: `None` only when skipping is allowed.
async fn start_or_skip(scope: Scope, test: &str) -> Option<(WatchHandle, mpsc::Receiver<FsEvent>)> {
    watch_own_process(true);
    let (tx, rx) = mpsc::channel(4096);
    match start(scope, tx).await {
        Ok(h) => Some((h, rx)),
        Err(e) if std::env::var_os("LIVESTATUS_ALLOW_NO_EBPF").is_some_and(|v| v == "1") => {
            eprintln!("{test}: SKIPPED, the eBPF tier cannot run here: {e}");
            None
        }
        Err(e) => panic!(
            "{test}: the eBPF tier did not start: {e} (set LIVESTATUS_ALLOW_NO_EBPF=1 on hosts \
             without eBPF)"
        ),
    }
}

/// The shared rig of the tier tests on this tier, or `None` when skipping is allowed.
async fn rig(scope: Scope, barrier_dir: &Path, test: &str) -> Option<Rig> {
    let (handle, rx) = start_or_skip(scope, test).await?;
    assert_eq!(handle.tier, TierKind::Ebpf);
    Some(Rig::armed(handle, rx, barrier_dir))
}

fn canonical_tmp() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    (tmp, fs)
}

#[test]
fn ebpf_is_available_here() {
    match available() {
        Ok(()) => {}
        Err(e) if std::env::var_os("LIVESTATUS_ALLOW_NO_EBPF").is_some_and(|v| v == "1") => {
            eprintln!("ebpf_is_available_here: SKIPPED: {e}");
        }
        Err(e) => panic!("{e} (set LIVESTATUS_ALLOW_NO_EBPF=1 on hosts without eBPF)"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebpf_follows_discovered_gateways() {
    let (_tmp, fs) = canonical_tmp();
    mkdir(&fs.join("home/alice"));
    let root_sess = fs.join("root/.openclaw/agents/main/sessions");
    mkdir(&root_sess);
    let Some(mut rig) = rig(
        Scope::Discover {
            fs_root: fs.clone(),
        },
        &root_sess,
        "ebpf_follows_discovered_gateways",
    )
    .await
    else {
        return;
    };
    // Armed on return.
    let early = root_sess.join("early.jsonl.lock");
    write(&early, "{}");
    rig.wait_for(0, &[(&early, Created)]).await;

    let st = fs.join("home/alice/.openclaw");
    let sess = st.join("agents/main/sessions");
    let lock = sess.join("abc.jsonl.lock");
    let jsonl = sess.join("abc.jsonl");
    let index = sess.join("sessions.json");
    mkdir(&sess);
    let m = rig.mark();
    write(&lock, "{\"pid\":1}");
    write(&jsonl, "{\"type\":\"session\"}\n");
    write(&index, "{}");
    mkdir(&st.join("workspace"));
    write(&st.join("workspace/AGENTS.jsonl"), "{}");
    write(&fs.join("home/alice/notes.jsonl"), "notes");
    write(&sess.join("abc.trajectory.jsonl"), "{}\n");
    rig.wait_for(m, &[(&lock, Created), (&jsonl, Created), (&index, Created)])
        .await;
    rig.sync().await;

    let m = rig.mark();
    append(&jsonl, "{\"type\":\"message\"}\n");
    rig.wait_for(m, &[(&jsonl, Appended)]).await;

    let m = rig.mark();
    let tmp_index = sess.join("sessions.json.4242.c4780c8d.tmp");
    write(&tmp_index, "{\"k\":{}}");
    std::fs::rename(&tmp_index, &index).expect("rename index");
    rig.wait_for(m, &[(&index, Renamed)]).await;

    let m = rig.mark();
    std::fs::remove_file(&lock).expect("unlock");
    rig.wait_for(m, &[(&lock, Removed)]).await;

    let m = rig.mark();
    let rotated = sess.join("abc.jsonl.reset.2026-11-22T04-02-55.808Z");
    std::fs::rename(&jsonl, &rotated).expect("rotate");
    rig.wait_for(m, &[(&jsonl, Removed), (&rotated, Renamed)])
        .await;

    // A profile gateway of the SQLite era.
    let store = fs.join("home/bob/.openclaw-work/agents/main/agent");
    let wal = store.join("openclaw-agent.sqlite-wal");
    mkdir(&store);
    let m = rig.mark();
    write(&wal, "wal");
    append(&wal, "commit");
    write(&store.join("openclaw-agent.sqlite-shm"), "shm");
    rig.wait_for(m, &[(&wal, Created), (&wal, Appended)]).await;
    rig.sync().await;

    let unrelated: Vec<_> = rig
        .real()
        .into_iter()
        .filter(|e| {
            let p = e.path.to_string_lossy();
            p.contains("workspace")
                || p.contains("notes")
                || p.ends_with(".tmp")
                || p.contains("trajectory")
                || p.ends_with("-shm")
        })
        .collect();
    assert!(
        unrelated.is_empty(),
        "reported unrelated paths: {unrelated:#?}"
    );
    rig.stop_and_expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebpf_follows_named_gateways_only() {
    let (_tmp, fs) = canonical_tmp();
    let bob_sess = fs.join("home/bob/.openclaw/agents/main/sessions");
    mkdir(&bob_sess);
    mkdir(&fs.join("home/alice"));
    let gw = fs.join("srv/gw");
    let gw_sess = gw.join("agents/ops/sessions");
    mkdir(&gw_sess);
    let alice_st = fs.join("home/alice/.openclaw");
    let Some(mut rig) = rig(
        Scope::Gateways(vec![alice_st.clone(), gw.clone()]),
        &gw_sess,
        "ebpf_follows_named_gateways_only",
    )
    .await
    else {
        return;
    };
    write(&bob_sess.join("b.jsonl.lock"), "{}");
    write(&bob_sess.join("b.jsonl"), "{}\n");
    append(&bob_sess.join("b.jsonl"), "{}\n");

    // Named but created only now.
    let alice_sess = alice_st.join("agents/main/sessions");
    let alice_lock = alice_sess.join("a.jsonl.lock");
    mkdir(&alice_sess);
    let m = rig.mark();
    write(&alice_lock, "{}");
    rig.wait_for(m, &[(&alice_lock, Created)]).await;

    let gw_jsonl = gw_sess.join("x.jsonl");
    let m = rig.mark();
    write(&gw_jsonl, "{}\n");
    append(&gw_jsonl, "{}\n");
    rig.wait_for(m, &[(&gw_jsonl, Created), (&gw_jsonl, Appended)])
        .await;

    // Removed and created again: still followed.
    std::fs::remove_dir_all(&alice_st).expect("rm -r");
    mkdir(&alice_sess);
    let m = rig.mark();
    write(&alice_lock, "{}");
    rig.wait_for(m, &[(&alice_lock, Created)]).await;
    rig.sync().await;

    let foreign: Vec<_> = rig
        .real()
        .into_iter()
        .filter(|e| e.path.starts_with(fs.join("home/bob")))
        .collect();
    assert!(foreign.is_empty(), "reported another home: {foreign:#?}");
    rig.stop_and_expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebpf_resolves_relative_opens_to_absolute_paths() {
    use std::os::fd::{AsRawFd, FromRawFd};

    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::Mode;
    let (_tmp, fs) = canonical_tmp();
    let gw = fs.join("gw");
    let sess = gw.join("agents/main/sessions");
    mkdir(&sess);
    let Some(mut rig) = rig(
        Scope::Gateways(vec![gw.clone()]),
        &sess,
        "ebpf_resolves_relative_opens_to_absolute_paths",
    )
    .await
    else {
        return;
    };
    let dir = std::fs::File::open(&sess).expect("open dir");
    let fd = openat(
        Some(dir.as_raw_fd()),
        "rel.jsonl.lock",
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .expect("openat");
    // SAFETY: openat just returned this fd and nothing else owns it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(b"{}").expect("write");
    drop(file);
    rig.wait_for(0, &[(&sess.join("rel.jsonl.lock"), Created)])
        .await;
    rig.stop_and_expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebpf_reports_writes_through_fds_opened_before_it_started() {
    let (_tmp, fs) = canonical_tmp();
    let gw = fs.join("gw");
    let sess = gw.join("agents/main/sessions");
    mkdir(&sess);
    let jsonl = sess.join("held.jsonl");
    write(&jsonl, "{}\n");
    let mut held = std::fs::OpenOptions::new()
        .append(true)
        .open(&jsonl)
        .expect("open");
    let Some(mut rig) = rig(
        Scope::Gateways(vec![gw.clone()]),
        &sess,
        "ebpf_reports_writes_through_fds_opened_before_it_started",
    )
    .await
    else {
        return;
    };
    held.write_all(b"{}\n").expect("append");
    rig.wait_for(0, &[(&jsonl, Appended)]).await;
    rig.stop_and_expect_closed().await;
}

/// The filter is in the kernel: a process writing at full speed to files that do not matter
/// (and to a transcript of a gateway not in scope) puts nothing in the ring buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebpf_kernel_filter_keeps_noise_out_of_user_space() {
    let (_tmp, fs) = canonical_tmp();
    let gw = fs.join("home/alice/.openclaw");
    let sess = gw.join("agents/main/sessions");
    mkdir(&sess);
    let other = fs.join("home/bob/.openclaw/agents/main/sessions");
    mkdir(&other);
    let Some((handle, mut rx)) = start_or_skip(
        Scope::Gateways(vec![gw.clone()]),
        "ebpf_kernel_filter_keeps_noise_out_of_user_space",
    )
    .await
    else {
        return;
    };
    // What the self-test of the start put through is not noise.
    let before = handle.ebpf_counters().expect("ebpf counters");
    let noisy_dir = fs.clone();
    std::thread::spawn(move || {
        let mut log = std::fs::File::create(noisy_dir.join("noise.log")).expect("noise");
        let foreign = other.join("foreign.jsonl");
        for i in 0..20_000 {
            log.write_all(b"x").expect("noise write");
            if i % 100 == 0 {
                append_or_create(&foreign, "{}\n");
                std::fs::write(noisy_dir.join("scratch.json"), "{}").expect("scratch");
            }
        }
    })
    .join()
    .expect("noisy thread");
    // Only opens and writes: unlinks and renames of matching names by tests running beside
    // this one pass the tracepoint set's name-only filter (user space drops them).
    let c = handle.ebpf_counters().expect("ebpf counters");
    assert_eq!(
        c.opens_and_writes - before.opens_and_writes,
        0,
        "the kernel let noise through: {c:?} (at start: {before:?})"
    );
    assert_eq!(c.dropped, 0, "{c:?}");
    // The tier is live all along: one write in scope is counted and reported.
    let jsonl = sess.join("s.jsonl");
    write(&jsonl, "{}\n");
    let ev = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event in time")
        .expect("channel open");
    assert_eq!(ev.path, jsonl);
    let c = handle.ebpf_counters().expect("ebpf counters");
    assert!(c.emitted >= 1 && c.dropped == 0, "{c:?}");
    handle.stop().await;
}

fn append_or_create(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    f.write_all(text.as_bytes()).expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebpf_discovers_a_gateway_outside_every_home_from_its_first_lock() {
    let (_tmp, fs) = canonical_tmp();
    let root = fs.join("root-fs");
    mkdir(&root.join("home/alice"));
    let barrier = root.join("root/.openclaw/agents/main/sessions");
    mkdir(&barrier);
    // A gateway run with OPENCLAW_STATE_DIR under /srv: no home holds it, nobody named it.
    let state = fs.join("srv/bots/state");
    let sess = state.join("agents/main/sessions");
    mkdir(&sess);
    // One everyone may write to is never adopted.
    let planted = fs.join("scratch/state");
    mkdir(&planted.join("agents/main/sessions"));
    std::fs::set_permissions(
        &planted,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let test = "ebpf_discovers_a_gateway_outside_every_home_from_its_first_lock";
    let Some(mut rig) = rig(Scope::Discover { fs_root: root }, &barrier, test).await else {
        return;
    };
    let lock = sess.join("t1.jsonl.lock");
    let jsonl = sess.join("t1.jsonl");
    let planted_lock = planted.join("agents/main/sessions/p.jsonl.lock");
    let stray = fs.join("srv/bots/notes.jsonl.lock");
    write(&planted_lock, "{}");
    write(&stray, "{}");
    write(&lock, "{\"pid\":1}");
    rig.wait_for(0, &[(&lock, Created)]).await;
    // Adopted: its transcript passes the kernel filter from now on.
    let m = rig.mark();
    write(&jsonl, "{\"type\":\"session\"}\n");
    append(&jsonl, "{\"type\":\"message\"}\n");
    rig.wait_for(m, &[(&jsonl, Created), (&jsonl, Appended)])
        .await;
    rig.sync().await;
    let wrong: Vec<_> = rig
        .real()
        .into_iter()
        .filter(|e| e.path == planted_lock || e.path == stray)
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
    rig.stop_and_expect_closed().await;
}

#[test]
fn the_self_test_passes_only_when_the_programs_see_another_process() {
    use aya::maps::{HashMap as BpfHashMap, MapData, RingBuf};
    let test = "the_self_test_passes_only_when_the_programs_see_another_process";
    let bpf = match object::load_and_attach(std::process::id(), false, Hooks::SyscallTracepoints) {
        Ok(bpf) => bpf,
        Err(e) if std::env::var_os("LIVESTATUS_ALLOW_NO_EBPF").is_some_and(|v| v == "1") => {
            eprintln!("{test}: SKIPPED, the eBPF tier cannot run here: {e}");
            return;
        }
        Err(e) => panic!("{test}: cannot load the programs: {e}"),
    };
    let mut bpf = bpf;
    let mut dirs: BpfHashMap<MapData, [u64; 2], u32> = bpf
        .take_map("DIRS")
        .expect("DIRS")
        .try_into()
        .expect("DIRS map");
    let mut files: BpfHashMap<MapData, [u64; 2], u32> = bpf
        .take_map("FILES")
        .expect("FILES")
        .try_into()
        .expect("FILES map");
    let mut ring: RingBuf<MapData> = bpf
        .take_map("EVENTS")
        .expect("EVENTS")
        .try_into()
        .expect("ring");
    // A directory the kernel filter was never told about: nothing may come out.
    let (_tmp, unregistered) = canonical_tmp();
    let err = selftest::probe_once(&unregistered, &mut ring).expect_err("nothing registered");
    assert!(err.contains("not seen"), "{err}");
    selftest::run(&mut dirs, &mut files, &mut ring).expect("registered: both seen");
    assert_eq!(
        files.keys().count(),
        0,
        "the probe files are not left watched"
    );
}
