//! Where logs go: journald when systemd started us (it sets `JOURNAL_STREAM`), else stderr.
//!
//! In the journal every line carries `SYSLOG_IDENTIFIER=openclaw-livestatus`, and the fields
//! of the event and its spans under their own names, upper-cased: `GATEWAY`, `AGENT_ID`,
//! `SESSION_KEY`, `MM_ACCOUNT`, `POST_ID` on the lines about a session, `TIER` on the
//! daemon's (so `journalctl -u openclaw-livestatus SESSION_KEY=agent:main:main` works), `PATH`
//! on a file's or directory's, `SERVER` on a Mattermost server's. Those names are the same on
//! every line that names such a thing: a new log line uses them, not a synonym.

use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Registry, reload};

pub const SYSLOG_IDENTIFIER: &str = "openclaw-livestatus";

/// Changes the log level of a running daemon (on reload).
#[derive(Clone)]
pub struct LevelHandle(Option<reload::Handle<EnvFilter, Registry>>);

impl LevelHandle {
    /// `level` was validated with the config (`service.log_level`).
    pub fn set(&self, level: &str) {
        let Some(handle) = &self.0 else { return };
        match EnvFilter::try_new(level) {
            Ok(filter) => {
                if let Err(e) = handle.reload(filter) {
                    tracing::warn!(error = %e, "could not change the log level");
                }
            }
            Err(e) => tracing::warn!(error = %e, level, "log level not applied"),
        }
    }
}

pub fn init(level: &str) -> LevelHandle {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(crate::api::last_error::LastError);
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        let journald = journald
            .with_syslog_identifier(SYSLOG_IDENTIFIER.to_owned())
            .with_field_prefix(None);
        return match registry.with(journald).try_init() {
            Ok(()) => LevelHandle(Some(handle)),
            Err(_) => LevelHandle(None),
        };
    }
    match registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(colour_on_stderr())
                .with_target(false),
        )
        .try_init()
    {
        Ok(()) => LevelHandle(Some(handle)),
        Err(_) => LevelHandle(None),
    }
}

/// Colour escapes only for a person at a terminal: a log file, a pipe or journald's stream
/// would keep them as noise, and `NO_COLOR` (any non-empty value) turns them off everywhere.
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}
