//! Where boxes go. A sink receives the session stage's deltas in order and owns its own
//! pacing (throttles, redraws), which it does on `tick`.

pub mod daemon;
pub mod log;
pub mod mattermost;
/// The old name of `mattermost`, kept so code written against `sink::rest` still builds.
pub use mattermost as rest;
pub mod terminal;

use crate::session::{BoxDelta, BoxId};

pub trait Sink {
    fn deliver(&mut self, deltas: &[BoxDelta], now_ms: i64);
    /// Called a few times a second: redraws, trailing flushes.
    fn tick(&mut self, now_ms: i64);
    /// Whether `tick` would do anything now; while neither the core nor the sink wants ticks,
    /// the loop sleeps until the next event.
    fn wants_ticks(&self) -> bool {
        true
    }
    /// The daemon is stopping: push out everything still pending.
    fn finish(&mut self, now_ms: i64);
    /// A liveness probe for the watchdog: resolves once the sink's own worker has taken it.
    /// None: the sink does its work inside `deliver`/`tick`, which the loop already proved.
    fn heartbeat(&mut self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        None
    }
    /// One line on the sink's state for `systemctl status` (Mattermost servers); None: nothing to say.
    fn status(&self) -> Option<String> {
        None
    }
    /// A reloaded config's render options, for what is shown from now on.
    fn reconfigure(&mut self, _render: &crate::render::RenderOptions) {}
}

/// A short, stable title for a box: the session key, and the gateway when it is not the usual one.
pub fn box_title(id: &BoxId) -> String {
    let gateway = id
        .session
        .gateway
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let owner = id
        .session
        .gateway
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{owner}/{gateway} {} #{}", id.session.key, id.turn)
}
