//! What the daemon tells systemd (`sd_notify`). Without `NOTIFY_SOCKET` every call is a no-op,
//! so the same code runs under systemd, in a terminal and in tests.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

/// How long a state change systemd must see (READY, RELOADING, STOPPING) waits for room in a
/// full notify socket; a status line or watchdog ping does not wait at all.
const CRITICAL_PATIENCE: Duration = Duration::from_secs(2);

/// Whether a message must reach systemd, or may be dropped when its socket is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Urgency {
    Critical,
    Droppable,
}

fn send(states: &[NotifyState], urgency: Urgency) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    match send_to(&path, states, urgency) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            tracing::debug!("systemd's notify socket is full: a status update was dropped");
        }
        Err(e) => tracing::warn!(error = %e, "could not notify systemd"),
    }
}

/// One datagram of `KEY=VALUE` lines to the socket at `path`, never blocking the caller on a
/// reader that does not read (the sd-notify crate's blocking send stalled the whole event loop
/// once a test harness stopped reading after READY and the queue of ten datagrams filled).
fn send_to(path: &OsStr, states: &[NotifyState], urgency: Urgency) -> io::Result<()> {
    let mut msg = String::new();
    for s in states {
        let _ = writeln!(msg, "{s}");
    }
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    sock.connect(path)?;
    let deadline = Instant::now() + CRITICAL_PATIENCE;
    loop {
        match sock.send(msg.as_bytes()) {
            Ok(n) if n == msg.len() => return Ok(()),
            Ok(_) => return Err(io::Error::new(io::ErrorKind::WriteZero, "incomplete write")),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    && urgency == Urgency::Critical
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// READY=1 with the current status line.
pub fn ready(status: &str) {
    send(
        &[NotifyState::Ready, NotifyState::Status(status)],
        Urgency::Critical,
    );
}

/// RELOADING=1 with MONOTONIC_USEC, as systemd ≥ 253's `Type=notify-reload` requires and
/// older ones accept; READY=1 ends the reload.
pub fn reloading() {
    let mut states = vec![
        NotifyState::Reloading,
        NotifyState::Status("reloading the config"),
    ];
    match NotifyState::monotonic_usec_now() {
        Ok(now) => states.push(now),
        Err(e) => tracing::warn!(error = %e, "could not read CLOCK_MONOTONIC for MONOTONIC_USEC"),
    }
    send(&states, Urgency::Critical);
}

/// CLOCK_MONOTONIC in µs, the clock systemd stamps its state changes with: logged with
/// "ready" so a test can show the unit went active only after READY=1 was sent.
pub fn monotonic_usec() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into memory we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000)
}

pub fn status(line: &str) {
    send(&[NotifyState::Status(line)], Urgency::Droppable);
}

pub fn stopping() {
    send(
        &[
            NotifyState::Stopping,
            NotifyState::Status("stopping: marking open boxes [INTERRUPTED]"),
        ],
        Urgency::Critical,
    );
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog], Urgency::Droppable);
}

/// The watchdog period systemd asks for (`WatchdogSec=`), if it asks for one of this process.
pub fn watchdog_period() -> Option<Duration> {
    period_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// As sd_watchdog_enabled(3): `WATCHDOG_USEC` gives the period; `WATCHDOG_PID`, when set,
/// must name this process (a child that inherited the variables is not meant). The sd-notify
/// crate wants `WATCHDOG_PID` set, which libsystemd does not.
fn period_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    match pid {
        Some(pid) if pid.trim().parse::<u32>().ok() != Some(me) => None,
        _ => Some(Duration::from_micros(usec)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that does not read: its queue (net.unix.max_dgram_qlen, 10 here) fills up.
    fn deaf_socket() -> (tempfile::TempDir, std::path::PathBuf, UnixDatagram) {
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind");
        (tmp, path, sock)
    }

    #[test]
    fn status_updates_to_a_socket_nobody_reads_never_block() {
        let (_tmp, path, _deaf) = deaf_socket();
        let started = Instant::now();
        let mut dropped = 0;
        for i in 0..200 {
            let line = format!("status {i}");
            match send_to(
                path.as_os_str(),
                &[NotifyState::Status(&line)],
                Urgency::Droppable,
            ) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => dropped += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(dropped > 0, "the queue never filled");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "sending took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn ready_waits_for_room_in_a_full_socket_and_arrives() {
        let (_tmp, path, reader) = deaf_socket();
        while send_to(
            path.as_os_str(),
            &[NotifyState::Status("fill")],
            Urgency::Droppable,
        )
        .is_ok()
        {}
        let drain = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            reader
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            while let Ok(n) = reader.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                let ready = text.contains("READY=1");
                got.push(text);
                if ready {
                    break;
                }
            }
            got
        });
        send_to(path.as_os_str(), &[NotifyState::Ready], Urgency::Critical).expect("READY sent");
        let got = drain.join().expect("reader");
        assert_eq!(got.last().map(String::as_str), Some("READY=1\n"));
    }

    #[test]
    fn the_watchdog_period_is_ours_unless_another_pid_is_named() {
        assert_eq!(
            period_from(Some("30000000"), Some("42"), 42),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            period_from(Some("400000"), None, 42),
            Some(Duration::from_millis(400))
        );
        assert_eq!(period_from(Some("30000000"), Some("41"), 42), None);
        assert_eq!(period_from(None, Some("42"), 42), None);
        assert_eq!(period_from(Some("0"), None, 42), None);
        assert_eq!(period_from(Some("soon"), None, 42), None);
    }
}
