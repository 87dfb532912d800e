//! What the daemon tells systemd (`sd_notify`). Without `NOTIFY_SOCKET` every call is a no-op,
//! so the same code runs under systemd, in a terminal and in tests.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "could not notify systemd");
    }
}

/// READY=1 with the current status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
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
    send(&states);
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
    send(&[NotifyState::Status(line)]);
}

pub fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: marking open boxes [INTERRUPTED]"),
    ]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
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
