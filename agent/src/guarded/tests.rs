//! One matrix over the guarded reader: every kind of planted file, read by path and beneath an
//! open dir, is refused with the right error and without blocking; a good file is read.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::stat::Mode;

use super::*;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// What a row expects.
#[derive(Debug)]
enum Want {
    Read(&'static [u8]),
    NotFound,
    Symlink,
    NotRegular(&'static str),
    HardLinks(u64),
    WrongOwner(u32),
    TooLarge { grew: bool },
}

struct Case {
    story: &'static str,
    /// Creates the file in the dir and returns its path.
    plant: fn(&Path) -> PathBuf,
    /// Runs between the open and the read.
    meanwhile: fn(&Path),
    owner: Owner,
    want: Want,
    needs_root: bool,
}

const GOOD: &[u8] = b"{\"ok\":true}\n";
const MAX: u64 = 64;

fn good(dir: &Path) -> PathBuf {
    let p = dir.join("good.json");
    std::fs::write(&p, GOOD).expect("write");
    p
}

fn nothing(_: &Path) {}

fn cases() -> Vec<Case> {
    let case = |story, plant: fn(&Path) -> PathBuf, want| Case {
        story,
        plant,
        meanwhile: nothing,
        owner: Owner::DirOwner,
        want,
        needs_root: false,
    };
    vec![
        case("a good file is read", good, Want::Read(GOOD)),
        case(
            "a missing file is not found, not refused",
            |d| d.join("absent.json"),
            Want::NotFound,
        ),
        case(
            "a FIFO is refused without blocking on open",
            |d| {
                let p = d.join("sessions.json");
                nix::unistd::mkfifo(&p, Mode::S_IRWXU).expect("mkfifo");
                p
            },
            Want::NotRegular("FIFO"),
        ),
        case(
            "a symlink to a good file is not followed",
            |d| {
                good(d);
                let p = d.join("link.json");
                symlink("good.json", &p).expect("symlink");
                p
            },
            Want::Symlink,
        ),
        case(
            "a symlink to /etc/shadow is not followed",
            |d| {
                let p = d.join("shadow.json");
                symlink("/etc/shadow", &p).expect("symlink");
                p
            },
            Want::Symlink,
        ),
        case(
            "a second hard link is refused",
            |d| {
                let p = good(d);
                std::fs::hard_link(&p, d.join("second.json")).expect("link");
                p
            },
            Want::HardLinks(2),
        ),
        case(
            "a directory is refused",
            |d| {
                let p = d.join("dir.json");
                std::fs::create_dir(&p).expect("mkdir");
                p
            },
            Want::NotRegular("directory"),
        ),
        case(
            "a unix socket is refused",
            |d| {
                let p = d.join("sock.json");
                let listener = std::os::unix::net::UnixListener::bind(&p).expect("bind");
                std::mem::forget(listener);
                p
            },
            Want::NotRegular("socket or device"),
        ),
        case(
            "/dev/zero is refused, not read until memory runs out",
            |_| PathBuf::from("/dev/zero"),
            Want::NotRegular("character device"),
        ),
        case(
            "/dev/null is refused",
            |_| PathBuf::from("/dev/null"),
            Want::NotRegular("character device"),
        ),
        case(
            "a file over the bound is refused",
            |d| {
                let p = d.join("big.json");
                std::fs::write(&p, vec![b' '; MAX as usize + 1]).expect("write");
                p
            },
            Want::TooLarge { grew: false },
        ),
        Case {
            meanwhile: |p| {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(p)
                    .expect("append");
                f.write_all(&[b' '; 4096]).expect("grow");
            },
            ..case(
                "a file that grows past the bound while being read is refused",
                good,
                Want::TooLarge { grew: true },
            )
        },
        Case {
            needs_root: true,
            ..case(
                "a file of another user than the dir's owner is refused",
                |d| {
                    let p = good(d);
                    std::os::unix::fs::chown(&p, Some(65534), None).expect("chown");
                    p
                },
                Want::WrongOwner(65534),
            )
        },
        Case {
            needs_root: true,
            owner: Owner::Admin,
            ..case(
                "an admin's file owned by another user is refused",
                |d| {
                    let p = good(d);
                    std::os::unix::fs::chown(&p, Some(65534), None).expect("chown");
                    p
                },
                Want::WrongOwner(65534),
            )
        },
        Case {
            owner: Owner::Uid {
                uid: 4242,
                whose: "the state dir's owner",
            },
            ..case(
                "a file not owned by the uid asked for is refused",
                good,
                Want::WrongOwner(nix::unistd::geteuid().as_raw()),
            )
        },
    ]
}

fn matches(got: &Result<Vec<u8>, GuardError>, want: &Want) -> bool {
    match (got, want) {
        (Ok(bytes), Want::Read(w)) => bytes == w,
        (Err(GuardError::NotFound { .. }), Want::NotFound) => true,
        (Err(GuardError::Symlink { .. }), Want::Symlink) => true,
        (Err(GuardError::NotRegular { kind, .. }), Want::NotRegular(w)) => kind == w,
        (Err(GuardError::HardLinks { nlink, .. }), Want::HardLinks(w)) => nlink == w,
        (Err(GuardError::WrongOwner { uid, .. }), Want::WrongOwner(w)) => uid == w,
        (Err(GuardError::TooLarge { grew, .. }), Want::TooLarge { grew: w }) => grew == w,
        _ => false,
    }
}

/// Runs `read` on a thread and fails the test if it has not returned within seconds: a
/// blocking open would otherwise hang the test instead of failing it.
fn promptly<T: Send + 'static>(story: &str, read: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{story}: the read blocked"))
}

#[test]
fn every_planted_file_is_refused_promptly_and_a_good_one_is_read() {
    for c in cases() {
        if c.needs_root && !is_root() {
            eprintln!("skipped (chown needs root): {}", c.story);
            continue;
        }
        for anchored in [false, true] {
            let tmp = tempfile::tempdir().expect("tmp");
            let path = (c.plant)(tmp.path());
            let (owner, meanwhile) = (c.owner.clone(), c.meanwhile);
            let got = promptly(c.story, move || {
                let opened = if anchored {
                    let dir = Dir::open_nofollow(path.parent().expect("parent"))?;
                    dir.open(path.file_name().expect("name"), &owner)
                } else {
                    open(&path, &owner)
                };
                let opened = opened?;
                meanwhile(&opened.path);
                opened.read_all(MAX)
            });
            assert!(
                matches(&got, &c.want),
                "{} ({}): want {:?}, got {got:?}",
                c.story,
                if anchored { "beneath a dir" } else { "by path" },
                c.want
            );
        }
    }
}

#[test]
fn a_refusal_says_what_where_and_what_to_do_with_the_os_error_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let p = good(tmp.path());
    std::fs::hard_link(&p, tmp.path().join("b.json")).expect("link");
    let text = read(&p, &Rules::dir_owner(MAX))
        .expect_err("two links")
        .to_string();
    assert!(text.contains(&p.display().to_string()), "{text}");
    assert!(text.contains("has 2 hard links"), "{text}");
    assert!(text.contains("give it a single link"), "{text}");

    let other = tempfile::tempdir().expect("tmp");
    let owned = read(
        &good(other.path()),
        &Rules::owned_by(4242, "the state dir's owner", MAX),
    );
    let text = owned.expect_err("wrong owner").to_string();
    assert!(
        text.contains("but the state dir's owner is uid 4242") && text.contains("chown 4242"),
        "{text}"
    );

    // An OS error is quoted once, also where a caller prints the whole chain.
    let too_long = tmp.path().join("x".repeat(300));
    let err = read(&too_long, &Rules::dir_owner(MAX)).expect_err("name too long");
    let chain = format!("{:#}", anyhow::Error::new(err));
    assert_eq!(chain.matches("too long").count(), 1, "{chain}");
}

#[test]
fn a_dir_others_may_write_is_refused_with_the_chmod_that_fixes_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = Dir::open_nofollow(tmp.path()).expect("dir");
    assert!(dir.check_private().is_ok());
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o770)).expect("chmod");
    assert!(dir.check_private().is_ok(), "group-writable is allowed");
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let text = dir.check_private().expect_err("world-writable").to_string();
    assert!(
        text.contains(&format!("chmod o-w {}", tmp.path().display())),
        "{text}"
    );
}
