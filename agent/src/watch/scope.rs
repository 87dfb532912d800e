//! What the watch tiers cover.

use std::path::PathBuf;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every home under `fs_root` (`<fs_root>/root`, `<fs_root>/home/*`) and every state dir
    /// that appears in one, now or later. `fs_root` is `/` in production, a temp dir in tests.
    Discover { fs_root: PathBuf },
    /// Exactly these state dirs (`--gateway`); nothing else is looked at.
    Gateways(Vec<PathBuf>),
}
