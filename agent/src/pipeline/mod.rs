//! Wiring of the stages: `core` is the synchronous event → delta machine, `run` drives it from
//! the watch tiers under tokio and hands deltas to a sink.

mod arm;
pub mod core;
mod merge;
pub mod run;
pub mod snapshot;
mod stores;
mod transcripts;

#[cfg(test)]
mod park_tests;
#[cfg(test)]
mod recheck_tests;
#[cfg(test)]
mod recorded_gateway;
#[cfg(test)]
mod rewrite_tests;

pub use arm::{choose, measure_command};
pub use core::Core;
pub use run::{Control, Hooks, Pulse, Reconfig, RunOptions, TierChoice, run, run_controlled};

/// How far a file's mtime may lag the wall clock and still count as written after startup
/// (file times come from the kernel's coarse clock).
const MTIME_SLACK_MS: i64 = 2_000;
