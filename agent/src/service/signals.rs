//! What each signal means to the daemon. Installed before the watch tier is armed, so a
//! SIGHUP during startup is a reload and never kills the process (the default action).
//!
//! | signal | meaning |
//! |---|---|
//! | SIGTERM, SIGINT | stop: open boxes marked `[INTERRUPTED]`, delivered, state saved, exit 0 |
//! | SIGHUP (`systemctl reload`), SIGUSR1 (the Node daemon's habit) | reload the config |

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    Stop,
    Reload,
}

pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
}

impl Signals {
    /// Needs a tokio runtime.
    pub fn install() -> anyhow::Result<Signals> {
        let one = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("installing the {name} handler"))
        };
        Ok(Signals {
            term: one(SignalKind::terminate(), "SIGTERM")?,
            int: one(SignalKind::interrupt(), "SIGINT")?,
            hup: one(SignalKind::hangup(), "SIGHUP")?,
            usr1: one(SignalKind::user_defined1(), "SIGUSR1")?,
        })
    }

    pub async fn next(&mut self) -> (Order, &'static str) {
        tokio::select! {
            _ = self.term.recv() => (Order::Stop, "SIGTERM"),
            _ = self.int.recv() => (Order::Stop, "SIGINT"),
            _ = self.hup.recv() => (Order::Reload, "SIGHUP"),
            _ = self.usr1.recv() => (Order::Reload, "SIGUSR1"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM (the terminal view and the demo).
pub async fn stop_signal() {
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
