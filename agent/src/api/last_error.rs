//! The last ERROR the daemon logged, for `/health`: a tracing layer that keeps its message.

use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// (Unix ms, message with its fields).
static LAST: Mutex<Option<(i64, String)>> = Mutex::new(None);

/// Longest message kept.
const MAX_CHARS: usize = 500;

pub struct LastError;

impl<S: Subscriber> Layer<S> for LastError {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let mut text = Text(String::new());
        event.record(&mut text);
        let message: String = text.0.chars().take(MAX_CHARS).collect();
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some((crate::clock::now_ms(), message));
    }
}

struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            self.0.push_str(&format!("{value:?}"));
        } else {
            self.0.push_str(&format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            self.0.push_str(&format!("{}={value}", field.name()));
        }
    }
}

/// The last error logged, if any: (Unix ms, message).
pub fn get() -> Option<(i64, String)> {
    LAST.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
