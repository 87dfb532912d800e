//! What the kernel really does with our group: capabilities needed after arming, measured.
//! The scenarios shared with the other tiers are in `watch::tests`.

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use super::record::{self, Record};
use super::{available, sys};

/// fanotify needs CAP_SYS_ADMIN. Without it a fanotify test fails, unless
/// LIVESTATUS_ALLOW_NO_FANOTIFY=1 says this host is known not to have it: then it says why it
/// skipped, and passes.
pub(crate) fn fanotify_or_skip(test: &str) -> bool {
    match available() {
        Ok(()) => true,
        Err(why) if std::env::var("LIVESTATUS_ALLOW_NO_FANOTIFY").as_deref() == Ok("1") => {
            eprintln!("SKIPPED {test}: the fanotify tier cannot run here: {why}");
            false
        }
        Err(why) => panic!(
            "{test}: the fanotify tier cannot run here: {why} (set \
             LIVESTATUS_ALLOW_NO_FANOTIFY=1 to skip fanotify tests on such a host)"
        ),
    }
}

/// Drops `caps` from the effective set of the calling thread only (capabilities are per
/// thread in Linux), so the rest of the test process keeps them.
fn drop_effective(caps: &[caps::Capability]) {
    for &c in caps {
        caps::drop(None, caps::CapSet::Effective, c).expect("drop an effective capability");
    }
}

fn wait_readable(fd: std::os::fd::BorrowedFd<'_>, within: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 100) } > 0 {
            return true;
        }
    }
    false
}

/// The measurement behind docs/fanotify.md: after arming, the group fd keeps delivering
/// events without CAP_SYS_ADMIN, while marking another filesystem needs it, and every handle
/// resolution (`open_by_handle_at`) needs CAP_DAC_READ_SEARCH.
#[test]
fn after_arming_reading_needs_no_capability_but_resolving_needs_dac_read_search() {
    if !fanotify_or_skip(
        "after_arming_reading_needs_no_capability_but_resolving_needs_dac_read_search",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().canonicalize().expect("canonical");
    let outcome = std::thread::spawn(move || {
        let group = sys::init().expect("fanotify_init as root");
        sys::mark_filesystem(group.as_fd(), &dir).expect("mark as root");
        let (fid, _) = sys::dir_id(&dir).expect("dir handle");
        let mount_fd = sys::open_mount_fd(&dir).expect("mount fd");
        assert_eq!(
            sys::path_of(mount_fd.as_fd(), &fid).expect("resolves with all capabilities"),
            dir
        );

        drop_effective(&[
            caps::Capability::CAP_SYS_ADMIN,
            caps::Capability::CAP_DAC_READ_SEARCH,
        ]);
        std::fs::write(dir.join("after-drop.jsonl"), "{}\n").expect("write");
        assert!(
            wait_readable(group.as_fd(), Duration::from_secs(10)),
            "no event after dropping CAP_SYS_ADMIN"
        );
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = false;
        // Other tests write on this filesystem too: look for our name among everything.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !got && Instant::now() < deadline {
            match sys::read(group.as_fd(), &mut buf) {
                Ok(n) => {
                    let mut recs = Vec::new();
                    record::parse(&buf[..n], &mut recs).expect("parse");
                    got = recs.iter().any(|r| {
                        matches!(r, Record::Event(e) if e.name.as_deref() == Some("after-drop.jsonl".as_ref()) && e.dir.as_ref() == Some(&fid))
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    wait_readable(group.as_fd(), Duration::from_millis(200));
                }
                Err(e) => panic!("read after dropping CAP_SYS_ADMIN: {e}"),
            }
        }
        let resolve = sys::path_of(mount_fd.as_fd(), &fid).map_err(|e| e.raw_os_error());
        let new_group = sys::init().map(|_| ()).map_err(|e| e.raw_os_error());
        let shm = Path::new("/dev/shm");
        let remark = if shm.is_dir() {
            Some(sys::mark_filesystem(group.as_fd(), shm).map_err(|e| e.raw_os_error()))
        } else {
            None
        };
        let later = dir.join("found-later");
        std::fs::create_dir(&later).expect("mkdir");
        let dir_mark = sys::mark_dir(group.as_fd(), &later, true).map_err(|e| e.raw_os_error());
        (got, resolve, new_group, remark, dir_mark)
    })
    .join()
    .expect("measuring thread");
    let (got, resolve, new_group, remark, dir_mark) = outcome;
    eprintln!(
        "without CAP_SYS_ADMIN and CAP_DAC_READ_SEARCH: events still read: {got}; \
         open_by_handle_at: {resolve:?}; new fanotify_init: {new_group:?}; new filesystem \
         mark: {remark:?} (Some(1) = EPERM); directory mark: {dir_mark:?}"
    );
    assert_eq!(
        dir_mark,
        Ok(()),
        "a directory found after the drop must still get its write mark"
    );
    assert!(
        got,
        "the armed group stopped reporting after dropping CAP_SYS_ADMIN"
    );
    assert_eq!(
        resolve,
        Err(Some(libc::EPERM)),
        "open_by_handle_at without CAP_DAC_READ_SEARCH"
    );
    // Since Linux 5.13 an unprivileged group may be created, but not with a filesystem mark.
    assert!(
        matches!(new_group, Ok(()) | Err(Some(libc::EPERM))),
        "{new_group:?}"
    );
    if let Some(remark) = remark {
        assert_eq!(remark, Err(Some(libc::EPERM)), "a new filesystem mark");
    }
}

/// Every record the group holds now, read until it has been quiet for `quiet` (at most 5 s:
/// other processes create files on this filesystem all the time).
fn drain(group: std::os::fd::BorrowedFd<'_>, quiet: Duration) -> Vec<Record> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match sys::read(group, &mut buf) {
            Ok(n) => record::parse(&buf[..n], &mut out).expect("parse"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if !wait_readable(group, quiet) {
                    return out;
                }
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    out
}

/// The price of the tier for the rest of the host: what happens on the filesystem outside the
/// directories of the shape must not even be queued to the group (with a filesystem mark every
/// write and creation was, and each cost a wake-up and a filter in user space), while writes
/// and creations in a marked directory are.
#[test]
fn nothing_outside_the_marked_directories_is_queued() {
    if !fanotify_or_skip("nothing_outside_the_marked_directories_is_queued") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let sessions = root.join("sessions");
    let elsewhere = root.join("elsewhere");
    std::fs::create_dir_all(&sessions).expect("mkdir");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let outside = elsewhere.join("busy.log");
    let inside = sessions.join("s.jsonl");
    std::fs::write(&outside, "").expect("create");
    std::fs::write(&inside, "").expect("create");

    let group = sys::init().expect("fanotify_init as root");
    sys::mark_dir(group.as_fd(), &sessions, true).expect("directory mark");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&outside)
        .expect("open");
    for _ in 0..200 {
        std::io::Write::write_all(&mut file, b"x").expect("write");
    }
    drop(file);
    std::fs::write(elsewhere.join("new.jsonl"), "{}\n").expect("create outside");
    let writes = |recs: &[Record]| -> usize {
        recs.iter()
            .filter(|r| {
                matches!(r, Record::Event(e) if e.mask & (libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE) != 0)
            })
            .count()
    };
    // Other processes write and create files on this filesystem too: none of it may be queued.
    let queued = drain(group.as_fd(), Duration::from_millis(300));
    assert!(queued.is_empty(), "queued from outside: {queued:?}");

    std::fs::write(&inside, "{}\n").expect("write inside");
    std::fs::write(sessions.join("t.jsonl.lock"), "{}").expect("create inside");
    let queued = drain(group.as_fd(), Duration::from_millis(300));
    let named = |bit: u64, name: &str| {
        queued.iter().any(|r| {
            matches!(r, Record::Event(e) if e.mask & bit != 0 && e.name.as_deref() == Some(name.as_ref()))
        })
    };
    assert!(named(libc::FAN_MODIFY, "s.jsonl"), "the write: {queued:?}");
    assert!(
        named(libc::FAN_CREATE, "t.jsonl.lock"),
        "the creation: {queued:?}"
    );
    assert!(writes(&queued) > 0);
}
