//! Waiting for a condition with a deadline: what the tests do instead of sleeping "long
//! enough", which is too long on an idle machine and too short on a loaded one.

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Short enough not to slow a test down, long enough not to compete with the daemon for the CPU.
const POLL: Duration = Duration::from_millis(20);

/// Polls `ok` until it holds or `timeout` has passed; whether it held. For callers that say
/// themselves what went wrong (with a log, with what there was).
pub fn until(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Polls `ok` until it holds; panics naming `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, ok: impl FnMut() -> bool) {
    assert!(
        until(timeout, ok),
        "timed out after {timeout:?} waiting for {what}"
    );
}

/// Waits up to `timeout` for `child` to exit; its status, or None (still running) once the
/// time is up. The child is left as it is either way.
pub fn exit_within(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let mut status = None;
    until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}
