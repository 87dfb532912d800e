//! `check-config`: loads the config as `run` would, reads its tokens, and prints the effective
//! configuration (secrets redacted) with its warnings.

use std::process::ExitCode;

use anyhow::Context;

use crate::service::config::{self, ConfigSource};
use crate::session::labels::ToolLabels;

use super::CheckConfigArgs;

pub fn run(args: CheckConfigArgs) -> anyhow::Result<ExitCode> {
    let source = match &args.file {
        Some(path) => ConfigSource::Explicit(path),
        None => ConfigSource::Default,
    };
    let loaded = config::load(source, &config::process_env)?;
    match &loaded.file {
        Some(file) => eprintln!("config: {} is valid", file.display()),
        None => eprintln!(
            "config: no file at {} — built-in defaults and environment apply",
            config::DEFAULT_CONFIG_PATH
        ),
    }
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(path) = &loaded.config.render.tool_labels_file {
        ToolLabels::from_file(path).with_context(|| "render.tool_labels_file")?;
    }
    // Tokens are read as `run` reads them, so a missing or unreadable token file is found here
    // and not at the daemon's start.
    let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(std::path::PathBuf::from);
    loaded.config.configured_accounts(credentials.as_deref())?;
    print!("{}", loaded.config.to_toml_redacted());
    Ok(ExitCode::SUCCESS)
}
