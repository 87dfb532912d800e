//! The async runtime every long-running command uses.

use anyhow::Context;

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Idle blocking-pool threads go soon, so none started before the capability drop
        // outlives it for long (see `privileges::threads_holding_more`).
        .thread_keep_alive(std::time::Duration::from_millis(200))
        .build()
        .context("starting the async runtime")
}
