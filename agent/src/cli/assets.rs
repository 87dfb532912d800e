//! `openclaw-livestatus generate-assets DIR` (hidden): the man page and shell completions the
//! packages ship, generated from this very CLI so they can never describe another version.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

const NAME: &str = "openclaw-livestatus";

/// Writes `<dir>/openclaw-livestatus.1` (plus one page per subcommand,
/// `openclaw-livestatus-<cmd>.1`) and `<dir>/completions/` for bash, zsh and fish.
pub fn generate(dir: &Path) -> anyhow::Result<ExitCode> {
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions)
        .with_context(|| format!("creating {}", completions.display()))?;
    let cmd = Cli::command();
    write_page(dir, NAME, cmd.clone())?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("{NAME}-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(format!("{NAME} {}", sub.get_name()));
        write_page(dir, &name, page)?;
    }
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut cmd = Cli::command();
        let path =
            clap_complete::generate_to(shell, &mut cmd, NAME, &completions).with_context(|| {
                format!("writing {shell} completions into {}", completions.display())
            })?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn write_page(dir: &Path, name: &str, cmd: clap::Command) -> anyhow::Result<()> {
    let path: PathBuf = dir.join(format!("{name}.1"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .with_context(|| format!("rendering the man page {name}(1)"))?;
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
