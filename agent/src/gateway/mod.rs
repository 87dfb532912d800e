//! Which gateway, agent and session a path belongs to: discovery of state dirs and the
//! sessions index (`sessions.json`; the SQLite store of 2026.8+ comes with its own reader).

pub mod account;
pub mod accounts;
pub mod openclaw_config;
pub mod registry;
pub mod route;
pub mod sessions_index;

pub use accounts::{Account, AccountBook, AccountDirectory};
pub use registry::{AgentRef, Change, Registry};
pub use route::{Route, Target};
