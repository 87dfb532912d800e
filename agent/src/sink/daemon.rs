//! What `run` delivers to: every box to the log, and to Mattermost when an account serves it.

use crate::session::BoxDelta;

use super::Sink;
use super::log::LogSink;
use super::rest::RestSink;

pub struct DaemonSink {
    pub log: LogSink,
    pub rest: Option<RestSink>,
}

impl Sink for DaemonSink {
    fn deliver(&mut self, deltas: &[BoxDelta], now_ms: i64) {
        self.log.deliver(deltas, now_ms);
        if let Some(rest) = self.rest.as_mut() {
            rest.deliver(deltas, now_ms);
        }
    }

    fn tick(&mut self, now_ms: i64) {
        self.log.tick(now_ms);
        if let Some(rest) = self.rest.as_mut() {
            rest.tick(now_ms);
        }
    }

    fn wants_ticks(&self) -> bool {
        self.log.wants_ticks() || self.rest.as_ref().is_some_and(Sink::wants_ticks)
    }

    fn finish(&mut self, now_ms: i64) {
        self.log.finish(now_ms);
        if let Some(rest) = self.rest.as_mut() {
            rest.finish(now_ms);
        }
    }

    fn heartbeat(&mut self) -> Option<tokio::sync::oneshot::Receiver<()>> {
        self.rest.as_mut().and_then(Sink::heartbeat)
    }

    fn status(&self) -> Option<String> {
        self.rest.as_ref().and_then(Sink::status)
    }

    fn reconfigure(&mut self, render: &crate::render::RenderOptions) {
        self.log.reconfigure(render);
    }
}
