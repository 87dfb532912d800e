//! Wiring of the stages: `core` is the synchronous event → delta machine, `run` drives it from
//! the watch tiers under tokio and hands deltas to a sink.

mod arm;
pub mod core;
mod merge;
pub mod run;
pub mod snapshot;
mod stores;

#[cfg(test)]
mod park_tests;
#[cfg(test)]
mod recheck_tests;
#[cfg(test)]
mod rewrite_tests;

pub use arm::{choose, measure_command};
pub use core::Core;
pub use run::{Control, Hooks, Pulse, Reconfig, RunOptions, TierChoice, run, run_controlled};
