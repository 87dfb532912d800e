//! Config, logging, signals: what makes the pipeline a service.

pub mod config;
pub mod data_dir;
pub mod instance;
pub mod privileges;
pub mod state;
