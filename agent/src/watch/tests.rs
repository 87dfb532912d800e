//! The same scenarios on every tier, on real files (and real inotify): what a gateway does on
//! disk, and what each tier must report. Waits are bounded and on the channel, never sleeps.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use FsEventKind::{Appended, Created, Removed, Renamed};

/// Generous: two cores shared with other builds.
pub(super) const WAIT: Duration = Duration::from_secs(20);

fn opts() -> WatchOptions {
    WatchOptions {
        poll_interval: Duration::from_millis(25),
        safety_net_interval: Duration::from_millis(25),
        ..WatchOptions::default()
    }
}

pub(super) fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write file");
}

pub(super) fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open for append");
    f.write_all(text.as_bytes()).expect("append");
}

pub(super) fn mkdir(path: &Path) {
    std::fs::create_dir_all(path).expect("mkdir -p");
}

pub(super) struct Rig {
    rx: mpsc::Receiver<FsEvent>,
    log: Vec<FsEvent>,
    /// An existing sessions dir in scope, for barrier files.
    barrier: PathBuf,
    handle: Option<WatchHandle>,
}

impl Rig {
    async fn start(tier: TierKind, scope: Scope, barrier_dir: &Path) -> Rig {
        let (tx, rx) = mpsc::channel(4096);
        let handle = start(tier, scope, opts(), tx).await.expect("tier starts");
        assert_eq!(handle.tier, tier);
        Rig::armed(handle, rx, barrier_dir)
    }

    /// A tier already started (the kernel tiers' tests start theirs, or skip).
    pub(super) fn armed(
        handle: WatchHandle,
        rx: mpsc::Receiver<FsEvent>,
        barrier_dir: &Path,
    ) -> Rig {
        Rig {
            rx,
            log: Vec::new(),
            barrier: barrier_dir.join("barrier.jsonl.lock"),
            handle: Some(handle),
        }
    }

    pub(super) fn mark(&self) -> usize {
        self.log.len()
    }

    /// Receives until each of `want` has been seen since `mark`.
    pub(super) async fn wait_for<P: AsRef<Path> + std::fmt::Debug>(
        &mut self,
        mark: usize,
        want: &[(P, FsEventKind)],
    ) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let missing: Vec<&(P, FsEventKind)> = want
                .iter()
                .filter(|(p, k)| {
                    !self.log[mark..]
                        .iter()
                        .any(|e| e.path == p.as_ref() && e.kind == *k)
                })
                .collect();
            if missing.is_empty() {
                return;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(ev)) => self.log.push(ev),
                Ok(None) => panic!("event channel closed while waiting for {missing:?}"),
                Err(_) => panic!(
                    "timed out waiting for {missing:?}; received since the step began: {:#?}",
                    &self.log[mark..]
                ),
            }
        }
    }

    /// Returns once everything caused before the call has been received. A barrier file is
    /// created, then removed, each waited for: both tiers report in order (one kernel queue;
    /// walk after walk), and the removal is seen in a later walk than anything that happened
    /// before the creation.
    pub(super) async fn sync(&mut self) {
        let b = self.barrier.clone();
        let m = self.mark();
        write(&b, "{}");
        self.wait_for(m, &[(b.clone(), Created)]).await;
        let m = self.mark();
        std::fs::remove_file(&b).expect("remove barrier");
        self.wait_for(m, &[(b, Removed)]).await;
    }

    /// Everything received, without the barrier's own events.
    pub(super) fn real(&self) -> Vec<&FsEvent> {
        self.log.iter().filter(|e| e.path != self.barrier).collect()
    }

    pub(super) async fn stop_and_expect_closed(mut self) {
        if let Some(h) = self.handle.take() {
            assert!(h.is_running());
            h.stop().await;
        }
        let closed =
            tokio::time::timeout(WAIT, async { while self.rx.recv().await.is_some() {} }).await;
        assert!(closed.is_ok(), "the tier kept its sender after stop()");
    }
}

/// Receives until an event passes `found`; panics with `missing` after `WAIT`.
async fn wait_until(
    rx: &mut tokio::sync::mpsc::Receiver<FsEvent>,
    found: impl Fn(&FsEvent) -> bool,
    missing: &str,
) {
    wait_within(rx, WAIT, found, missing).await;
}

/// `wait_until` with its own bound.
async fn wait_within(
    rx: &mut tokio::sync::mpsc::Receiver<FsEvent>,
    limit: Duration,
    found: impl Fn(&FsEvent) -> bool,
    missing: &str,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) if found(&ev) => return,
            Ok(Some(_)) => {}
            Ok(None) => panic!("channel closed"),
            Err(_) => panic!("{missing}"),
        }
    }
}

fn want(items: &[(&Path, FsEventKind)]) -> Vec<(PathBuf, FsEventKind)> {
    items.iter().map(|(p, k)| (p.to_path_buf(), *k)).collect()
}

async fn discover_scenario(tier: TierKind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    mkdir(&fs.join("home/alice"));
    // A gateway that already ran: its files are the daemon's initial scan's business.
    let root_st = fs.join("root/.openclaw");
    let root_sess = root_st.join("agents/main/sessions");
    mkdir(&root_sess);
    write(&root_sess.join("old.jsonl"), "{\"type\":\"session\"}\n");
    write(&root_sess.join("sessions.json"), "{}");
    write(&root_st.join("openclaw.json"), "{}");

    let mut rig = Rig::start(
        tier,
        Scope::Discover {
            fs_root: fs.clone(),
        },
        &root_sess,
    )
    .await;

    // Armed on return: a file created right away is reported.
    let early = root_sess.join("early.jsonl.lock");
    write(&early, "{}");
    rig.sync().await;
    rig.wait_for(0, &want(&[(&early, Created)])).await;
    let baseline: Vec<_> = rig.real().into_iter().filter(|e| e.path != early).collect();
    assert!(baseline.is_empty(), "the baseline reported {baseline:?}");

    // A state dir appears; the gateway fills it right after `mkdir -p`.
    let st = fs.join("home/alice/.openclaw");
    let sess = st.join("agents/main/sessions");
    let lock = sess.join("abc.jsonl.lock");
    let jsonl = sess.join("abc.jsonl");
    let index = sess.join("sessions.json");
    let config = st.join("openclaw.json");
    let m = rig.mark();
    mkdir(&sess);
    write(&lock, "{\"pid\":1}");
    write(&jsonl, "{\"type\":\"session\"}\n");
    write(&index, "{}");
    write(&config, "{}");
    mkdir(&st.join("workspace"));
    write(&st.join("workspace/AGENTS.md"), "# agents");
    write(&fs.join("home/alice/notes.txt"), "notes");
    write(&sess.join("abc.trajectory.jsonl"), "{}\n");
    rig.wait_for(
        m,
        &want(&[
            (&st, Created),
            (&sess, Created),
            (&lock, Created),
            (&jsonl, Created),
            (&index, Created),
            (&config, Created),
        ]),
    )
    .await;
    rig.sync().await;

    let m = rig.mark();
    append(&jsonl, "{\"type\":\"message\"}\n");
    rig.wait_for(m, &want(&[(&jsonl, Appended)])).await;
    rig.sync().await;

    // `sessions.json` is rewritten by tmp + rename.
    let m = rig.mark();
    let tmp_index = sess.join("sessions.json.4242.c4780c8d.tmp");
    write(&tmp_index, "{\"k\":{}}");
    std::fs::rename(&tmp_index, &index).expect("rename index");
    rig.wait_for(m, &want(&[(&index, Renamed)])).await;
    rig.sync().await;

    let m = rig.mark();
    std::fs::remove_file(&lock).expect("unlock");
    rig.wait_for(m, &want(&[(&lock, Removed)])).await;
    rig.sync().await;

    // The daily reset rotates the transcript away.
    let m = rig.mark();
    let rotated = sess.join("abc.jsonl.reset.2026-11-22T04-02-55.808Z");
    std::fs::rename(&jsonl, &rotated).expect("rotate");
    rig.wait_for(m, &want(&[(&jsonl, Removed), (&rotated, Renamed)]))
        .await;
    rig.sync().await;

    // A new user with a profile gateway of the SQLite era.
    let bst = fs.join("home/bob/.openclaw-work");
    let store = bst.join("agents/main/agent");
    let db = store.join("openclaw-agent.sqlite");
    let wal = store.join("openclaw-agent.sqlite-wal");
    let m = rig.mark();
    mkdir(&store);
    write(&db, "SQLite format 3\0");
    write(&wal, "wal");
    write(&store.join("auth-profiles.json"), "{}");
    rig.wait_for(
        m,
        &want(&[
            (&bst, Created),
            (&store, Created),
            (&db, Created),
            (&wal, Created),
        ]),
    )
    .await;
    rig.sync().await;

    let m = rig.mark();
    append(&wal, "commit");
    rig.wait_for(m, &want(&[(&wal, Appended)])).await;
    rig.sync().await;

    // The state dir goes away and comes back: it is followed again.
    let m = rig.mark();
    std::fs::remove_dir_all(&bst).expect("rm -r state dir");
    rig.wait_for(
        m,
        &want(&[(&bst, Removed), (&wal, Removed), (&db, Removed)]),
    )
    .await;
    rig.sync().await;
    let m = rig.mark();
    let bsess = bst.join("agents/main/sessions");
    let block = bsess.join("s1.jsonl.lock");
    mkdir(&bsess);
    write(&block, "{}");
    rig.wait_for(m, &want(&[(&bst, Created), (&block, Created)]))
        .await;
    rig.sync().await;

    let unrelated: Vec<_> = rig
        .log
        .iter()
        .filter(|e| {
            let p = e.path.to_string_lossy();
            e.path.starts_with(st.join("workspace"))
                || p.ends_with("notes.txt")
                || p.ends_with(".tmp")
                || p.contains("trajectory")
                || p.ends_with("auth-profiles.json")
                || e.path == fs.join("home/alice")
                || e.path == fs.join("home/bob")
        })
        .collect();
    assert!(
        unrelated.is_empty(),
        "reported unrelated paths: {unrelated:#?}"
    );
    rig.stop_and_expect_closed().await;
}

async fn gateways_scenario(tier: TierKind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    mkdir(&fs.join("home/alice"));
    let bob_sess = fs.join("home/bob/.openclaw/agents/main/sessions");
    mkdir(&bob_sess);
    // `$OPENCLAW_STATE_DIR` may have any name.
    let gw = fs.join("srv/gw");
    let gw_sess = gw.join("agents/ops/sessions");
    mkdir(&gw_sess);
    // Named, but not created yet.
    let alice_st = fs.join("home/alice/.openclaw");

    let mut rig = Rig::start(
        tier,
        Scope::Gateways(vec![alice_st.clone(), gw.clone()]),
        &gw_sess,
    )
    .await;
    rig.sync().await;
    assert!(
        rig.real().is_empty(),
        "the baseline reported {:?}",
        rig.real()
    );

    // Another home's gateway is busy: not ours.
    write(&bob_sess.join("b.jsonl.lock"), "{}");
    write(&bob_sess.join("b.jsonl"), "{}\n");
    append(&bob_sess.join("b.jsonl"), "{}\n");

    let alice_sess = alice_st.join("agents/main/sessions");
    let alice_lock = alice_sess.join("a.jsonl.lock");
    let m = rig.mark();
    mkdir(&alice_sess);
    write(&alice_lock, "{}");
    rig.wait_for(m, &want(&[(&alice_st, Created), (&alice_lock, Created)]))
        .await;
    rig.sync().await;

    let gw_jsonl = gw_sess.join("x.jsonl");
    let m = rig.mark();
    write(&gw_jsonl, "{}\n");
    rig.wait_for(m, &want(&[(&gw_jsonl, Created)])).await;
    rig.sync().await;
    let m = rig.mark();
    append(&gw_jsonl, "{}\n");
    rig.wait_for(m, &want(&[(&gw_jsonl, Appended)])).await;
    rig.sync().await;

    // The named state dir is removed and created again.
    let m = rig.mark();
    std::fs::remove_dir_all(&alice_st).expect("rm -r alice state");
    rig.wait_for(m, &want(&[(&alice_st, Removed)])).await;
    rig.sync().await;
    let m = rig.mark();
    mkdir(&alice_sess);
    write(&alice_lock, "{}");
    rig.wait_for(m, &want(&[(&alice_st, Created), (&alice_lock, Created)]))
        .await;
    rig.sync().await;

    let foreign: Vec<_> = rig
        .log
        .iter()
        .filter(|e| e.path.starts_with(fs.join("home/bob")))
        .collect();
    assert!(foreign.is_empty(), "reported another home: {foreign:#?}");
    rig.stop_and_expect_closed().await;
}

/// A state dir moved out of the OpenClaw shape is gone: what is written in it under its new name
/// is not reported (under the old name least of all), and moving it back brings it all back.
async fn moved_away_scenario(tier: TierKind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    let root_sess = fs.join("root/.openclaw/agents/main/sessions");
    mkdir(&root_sess);
    let st = fs.join("home/alice/.openclaw");
    let sess = st.join("agents/main/sessions");
    mkdir(&sess);
    write(&sess.join("a.jsonl"), "{}\n");

    let mut rig = Rig::start(
        tier,
        Scope::Discover {
            fs_root: fs.clone(),
        },
        &root_sess,
    )
    .await;
    rig.sync().await;

    let bak = fs.join("home/alice/.openclaw.bak");
    let m = rig.mark();
    std::fs::rename(&st, &bak).expect("move state dir away");
    rig.wait_for(m, &want(&[(&st, Removed)])).await;
    rig.sync().await;

    let bak_late = bak.join("agents/main/sessions/late.jsonl");
    write(&bak_late, "{}\n");
    append(&bak_late, "{}\n");
    append(&bak.join("agents/main/sessions/a.jsonl"), "{}\n");
    rig.sync().await;
    let stale: Vec<_> = rig
        .log
        .iter()
        .filter(|e| {
            e.path.starts_with(&bak)
                || e.path.ends_with("late.jsonl")
                || (e.path == sess.join("a.jsonl") && e.kind == Appended)
        })
        .collect();
    assert!(
        stale.is_empty(),
        "reported a moved-away state dir: {stale:#?}"
    );

    let m = rig.mark();
    std::fs::rename(&bak, &st).expect("move state dir back");
    let late = sess.join("late.jsonl");
    rig.wait_for(
        m,
        &want(&[(&st, Created), (&sess, Created), (&late, Created)]),
    )
    .await;
    rig.sync().await;
    let m = rig.mark();
    append(&late, "{}\n");
    rig.wait_for(m, &want(&[(&late, Appended)])).await;
    rig.stop_and_expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inotify_follows_discovered_gateways() {
    discover_scenario(TierKind::Inotify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_follows_discovered_gateways() {
    discover_scenario(TierKind::Poll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inotify_follows_named_gateways_only() {
    gateways_scenario(TierKind::Inotify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_follows_named_gateways_only() {
    gateways_scenario(TierKind::Poll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_net_reports_like_the_poll_tier() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sess = tmp.path().join("gw/agents/main/sessions");
    mkdir(&sess);
    let (tx, mut rx) = mpsc::channel(64);
    let h = start_safety_net(Scope::Gateways(vec![tmp.path().join("gw")]), opts(), tx)
        .await
        .expect("safety net starts");
    assert_eq!(h.tier, TierKind::Poll);
    let lock = sess.join("s.jsonl.lock");
    write(&lock, "{}");
    let ev = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event in time")
        .expect("channel open");
    assert_eq!(
        ev,
        FsEvent {
            path: lock,
            kind: Created
        }
    );
    h.stop().await;
}

#[tokio::test]
async fn zero_interval_is_refused() {
    let (tx, _rx) = mpsc::channel(1);
    let o = WatchOptions {
        poll_interval: Duration::ZERO,
        ..WatchOptions::default()
    };
    let err = start(TierKind::Poll, Scope::Gateways(Vec::new()), o, tx)
        .await
        .expect_err("zero interval");
    assert!(matches!(err, WatchError::BadInterval { .. }), "{err}");
}

#[test]
fn inotify_is_available_here() {
    assert_eq!(inotify_available(), Ok(()));
}

#[test]
fn errors_say_what_to_do() {
    let e = WatchError::WatchLimit {
        path: "/home/alice/.openclaw/agents".into(),
        limit: "8192".into(),
    };
    let s = e.to_string();
    assert!(s.contains("max_user_watches=8192"), "{s}");
    assert!(s.contains("sysctl") && s.contains("--tier poll"), "{s}");
    assert!(s.contains("/home/alice/.openclaw/agents"), "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inotify_moved_away_state_dir() {
    moved_away_scenario(TierKind::Inotify).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_moved_away_state_dir() {
    moved_away_scenario(TierKind::Poll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inotify_queue_overflow_asks_for_a_rescan_and_keeps_going() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    let sess = fs.join("root/.openclaw/agents/main/sessions");
    mkdir(&sess);
    // A full channel stalls the tier, so the kernel queue overflows behind it.
    let (tx, mut rx) = mpsc::channel(1);
    let h = start(
        TierKind::Inotify,
        Scope::Discover {
            fs_root: fs.clone(),
        },
        opts(),
        tx,
    )
    .await
    .expect("inotify starts");
    let queue: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    let busy = [sess.join("busy-a.jsonl"), sess.join("busy-b.jsonl")];
    for b in &busy {
        write(b, "");
    }
    // Appends to two files in turn: the kernel merges an event only into an identical one just
    // before it, so each write queues one; one read() takes at most a few thousand.
    for i in 0..(queue + 4096) {
        append(&busy[i % 2], "x\n");
    }
    let rescan = FsEvent {
        path: fs.clone(),
        kind: FsEventKind::Rescan,
    };
    wait_until(
        &mut rx,
        |ev| *ev == rescan,
        "no Rescan after a queue overflow",
    )
    .await;
    // Directories created while events were lost are watched again.
    let bsess = fs.join("home/bob/.openclaw/agents/main/sessions");
    mkdir(&bsess);
    let lock = bsess.join("n.jsonl.lock");
    write(&lock, "{}");
    // The flood fills the kernel queue (max_queued_events), each event read through the
    // one-slot channel before and after the overflow: 1–10 s alone here, over `WAIT` beside
    // the other tests of a full run (CI). What is asserted is that they come at all.
    wait_within(
        &mut rx,
        Duration::from_secs(120),
        |ev| ev.path == lock && ev.kind == Created,
        "not following new directories after the overflow",
    )
    .await;
    h.stop().await;
}

use super::fanotify::tests::fanotify_or_skip;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanotify_follows_discovered_gateways() {
    if fanotify_or_skip("fanotify_follows_discovered_gateways") {
        discover_scenario(TierKind::Fanotify).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanotify_follows_named_gateways_only() {
    if fanotify_or_skip("fanotify_follows_named_gateways_only") {
        gateways_scenario(TierKind::Fanotify).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanotify_moved_away_state_dir() {
    if fanotify_or_skip("fanotify_moved_away_state_dir") {
        moved_away_scenario(TierKind::Fanotify).await;
    }
}

/// A gateway named through a symlink and a `..`: events carry real paths, reports must use
/// the name the operator gave, as the inotify tier's do.
async fn spelled_scenario(tier: TierKind) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    let real_sess = fs.join("srv/gw/agents/main/sessions");
    mkdir(&real_sess);
    mkdir(&fs.join("etc"));
    std::os::unix::fs::symlink(fs.join("srv/gw"), fs.join("gw-link")).expect("symlink");
    let spelled = fs.join("etc/../gw-link");
    let sess = spelled.join("agents/main/sessions");
    let mut rig = Rig::start(tier, Scope::Gateways(vec![spelled.clone()]), &sess).await;
    rig.sync().await;
    let lock = sess.join("s.jsonl.lock");
    let jsonl = sess.join("s.jsonl");
    let m = rig.mark();
    write(&real_sess.join("s.jsonl.lock"), "{}");
    write(&real_sess.join("s.jsonl"), "{}\n");
    append(&real_sess.join("s.jsonl"), "{}\n");
    rig.wait_for(
        m,
        &want(&[(&lock, Created), (&jsonl, Created), (&jsonl, Appended)]),
    )
    .await;
    let agent = spelled.join("agents/second");
    let m = rig.mark();
    mkdir(&fs.join("srv/gw/agents/second/sessions"));
    rig.wait_for(m, &want(&[(&agent, Created)])).await;
    rig.sync().await;
    let elsewhere: Vec<_> = rig
        .log
        .iter()
        .filter(|e| !e.path.starts_with(&spelled))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "reported under another name: {elsewhere:#?}"
    );
    rig.stop_and_expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanotify_reports_a_gateway_under_the_name_it_was_given() {
    if fanotify_or_skip("fanotify_reports_a_gateway_under_the_name_it_was_given") {
        spelled_scenario(TierKind::Fanotify).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inotify_reports_a_gateway_under_the_name_it_was_given() {
    spelled_scenario(TierKind::Inotify).await;
}

/// Several instances on one filesystem (each mark sees all of it): each reports its own scope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanotify_instances_on_one_filesystem_keep_to_their_scopes() {
    if !fanotify_or_skip("fanotify_instances_on_one_filesystem_keep_to_their_scopes") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    let a = fs.join("a/.openclaw");
    let b = fs.join("b/.openclaw");
    let (a_sess, b_sess) = (
        a.join("agents/main/sessions"),
        b.join("agents/main/sessions"),
    );
    mkdir(&a_sess);
    mkdir(&b_sess);
    let mut ra = Rig::start(
        TierKind::Fanotify,
        Scope::Gateways(vec![a.clone()]),
        &a_sess,
    )
    .await;
    let mut rb = Rig::start(
        TierKind::Fanotify,
        Scope::Gateways(vec![b.clone()]),
        &b_sess,
    )
    .await;
    let (fa, fb) = (a_sess.join("x.jsonl"), b_sess.join("y.jsonl"));
    let (ma, mb) = (ra.mark(), rb.mark());
    write(&fa, "{}\n");
    write(&fb, "{}\n");
    ra.wait_for(ma, &want(&[(&fa, Created)])).await;
    rb.wait_for(mb, &want(&[(&fb, Created)])).await;
    ra.sync().await;
    rb.sync().await;
    assert!(
        ra.log.iter().all(|e| e.path.starts_with(&a)),
        "{:#?}",
        ra.log
    );
    assert!(
        rb.log.iter().all(|e| e.path.starts_with(&b)),
        "{:#?}",
        rb.log
    );
    ra.stop_and_expect_closed().await;
    rb.stop_and_expect_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanotify_queue_overflow_asks_for_a_rescan_and_keeps_going() {
    if !fanotify_or_skip("fanotify_queue_overflow_asks_for_a_rescan_and_keeps_going") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    let sess = fs.join("root/.openclaw/agents/main/sessions");
    mkdir(&sess);
    // A full channel stalls the tier, so the kernel queue overflows behind it.
    let (tx, mut rx) = mpsc::channel(1);
    let h = start(
        TierKind::Fanotify,
        Scope::Discover {
            fs_root: fs.clone(),
        },
        opts(),
        tx,
    )
    .await
    .expect("fanotify starts");
    let queue: usize = std::fs::read_to_string("/proc/sys/fs/fanotify/max_queued_events")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(16384);
    // Two reports stall the tier on the full channel; then the kernel merges events on one
    // name, so only distinct names fill its queue (beyond the batch the tier already read).
    write(&sess.join("s1.jsonl.lock"), "{}");
    write(&sess.join("s2.jsonl.lock"), "{}");
    // In a marked directory: nothing outside the shape's directories reaches the queue.
    for i in 0..(queue + 4096 + 1024) {
        write(&sess.join(format!("flood-{i}")), "");
    }
    write(&sess.join("a.jsonl.lock"), "{}");
    let rescan = FsEvent {
        path: fs.clone(),
        kind: FsEventKind::Rescan,
    };
    wait_within(
        &mut rx,
        Duration::from_secs(120),
        |ev| *ev == rescan,
        "no Rescan after a queue overflow",
    )
    .await;
    let bsess = fs.join("home/bob/.openclaw/agents/main/sessions");
    mkdir(&bsess);
    let lock = bsess.join("n.jsonl.lock");
    write(&lock, "{}");
    // The flood fills the kernel queue (max_queued_events), each event read through the
    // one-slot channel before and after the overflow: 1–10 s alone here, over `WAIT` beside
    // the other tests of a full run (CI). What is asserted is that they come at all.
    wait_within(
        &mut rx,
        Duration::from_secs(120),
        |ev| ev.path == lock && ev.kind == Created,
        "not following new directories after the overflow",
    )
    .await;
    h.stop().await;
}

#[test]
fn fanotify_is_available_here() {
    if fanotify_or_skip("fanotify_is_available_here") {
        assert_eq!(fanotify::available(), Ok(()));
    }
}

/// A tmpfs mounted in the test's tree, detached again when dropped (also on panic).
struct Mounted(std::ffi::CString);

impl Mounted {
    fn tmpfs(at: &Path) -> Mounted {
        use std::os::unix::ffi::OsStrExt;
        let target = std::ffi::CString::new(at.as_os_str().as_bytes()).expect("no NUL");
        // SAFETY: NUL-terminated strings that outlive the call; no data argument.
        let r = unsafe {
            libc::mount(
                c"none".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        assert_eq!(
            r,
            0,
            "mount tmpfs on {}: {}",
            at.display(),
            std::io::Error::last_os_error()
        );
        Mounted(target)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // SAFETY: a NUL-terminated path.
        unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
    }
}

/// Gateways on two filesystems at start (ext4 or whatever holds the temp dir, and tmpfs), and
/// a filesystem mounted over a home after start: each gets its mark, and what the new one holds
/// is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanotify_marks_every_filesystem_of_the_scope_also_later_mounts() {
    if !fanotify_or_skip("fanotify_marks_every_filesystem_of_the_scope_also_later_mounts") {
        return;
    }
    if !Path::new("/dev/shm").is_dir() {
        panic!("this test needs a tmpfs at /dev/shm");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let fs = tmp.path().canonicalize().expect("canonical tmp");
    let shm = tempfile::tempdir_in("/dev/shm").expect("tempdir on tmpfs");
    let shm = shm.path().canonicalize().expect("canonical shm");
    let a = fs.join("home/alice/.openclaw");
    let b = shm.join("gw");
    let (a_sess, b_sess) = (
        a.join("agents/main/sessions"),
        b.join("agents/main/sessions"),
    );
    mkdir(&a_sess);
    mkdir(&b_sess);
    let mut rig = Rig::start(
        TierKind::Fanotify,
        Scope::Gateways(vec![a.clone(), b.clone()]),
        &a_sess,
    )
    .await;
    let (fa, fb) = (a_sess.join("x.jsonl"), b_sess.join("y.jsonl"));
    let m = rig.mark();
    write(&fa, "{}\n");
    write(&fb, "{}\n");
    append(&fb, "{}\n");
    rig.wait_for(m, &want(&[(&fa, Created), (&fb, Created), (&fb, Appended)]))
        .await;
    rig.stop_and_expect_closed().await;

    // Discovery: a home that is already known gets a filesystem mounted over it.
    let root_sess = fs.join("root/.openclaw/agents/main/sessions");
    mkdir(&root_sess);
    let carol = fs.join("home/carol");
    mkdir(&carol);
    let mut rig = Rig::start(
        TierKind::Fanotify,
        Scope::Discover {
            fs_root: fs.clone(),
        },
        &root_sess,
    )
    .await;
    rig.sync().await;
    let mounted = Mounted::tmpfs(&carol);
    let st = carol.join(".openclaw");
    let sess = st.join("agents/main/sessions");
    let lock = sess.join("c.jsonl.lock");
    let jsonl = sess.join("c.jsonl");
    let m = rig.mark();
    mkdir(&sess);
    write(&lock, "{}");
    write(&jsonl, "{}\n");
    rig.wait_for(
        m,
        &want(&[(&st, Created), (&lock, Created), (&jsonl, Created)]),
    )
    .await;
    let m = rig.mark();
    append(&jsonl, "{}\n");
    rig.wait_for(m, &want(&[(&jsonl, Appended)])).await;
    rig.stop_and_expect_closed().await;
    drop(mounted);
}
