//! The load benchmark's parts (`tests/benches/load.rs`, `make bench`; docs/performance.md): a
//! generated gateway with many sessions, writers that run their turns on a schedule, the release
//! daemon as a child process, and what the fake Mattermost received, matched to the turns.

pub mod agent;
pub mod deliveries;
pub mod gateway;
pub mod measure;
pub mod proc_stats;
pub mod writer;
