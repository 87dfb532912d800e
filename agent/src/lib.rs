//! openclaw-livestatus: follows OpenClaw gateway sessions and shows each turn as a live status box.
//!
//! Data moves one way, one module per stage (see ARCHITECTURE.md at the top of the repo):
//! `watch` → `gateway` → `transcript` → `session` → `render` → `sink`, with `service` around them.

pub mod api;
pub mod cli;
pub mod clock;
pub mod gateway;
pub mod guarded;
pub mod heap;
pub mod layout;
pub mod metrics;
pub mod pipeline;
pub mod playback;
pub mod render;
pub mod reported;
pub mod secret;
pub mod service;
pub mod session;
pub mod sink;
pub mod transcript;
pub mod watch;
