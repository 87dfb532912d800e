//! Config, logging, signals, systemd: what makes the pipeline a service.

pub mod config;
pub mod daemon;
pub mod data_dir;
pub mod heartbeat;
pub mod instance;
pub mod live_accounts;
pub mod logging;
pub mod notify;
pub mod privileges;
pub mod reload;
pub mod runtime;
pub mod signals;
pub mod status;
