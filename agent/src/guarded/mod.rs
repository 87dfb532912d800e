//! The one way the daemon reads a file that a user or an admin controls: a gateway's
//! `sessions.json`, `openclaw.json` and its includes and secrets, transcripts, the daemon's
//! config, token files and systemd credentials, the tool labels file, `posts.json`. The daemon
//! runs as root (or keeps CAP_DAC_READ_SEARCH), so a file planted under one of those names must
//! not make it read what its planter could not, hang it, or fill its memory. Every read:
//! - opens relative to an open directory fd and never follows a symlink at the last component
//!   (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, else `O_NOFOLLOW`);
//! - never blocks on open (`O_NONBLOCK`), then keeps only a regular file (no FIFO, device,
//!   socket or directory) with exactly one link, owned by whom the caller expects (a uid, the
//!   directory's owner, or for an admin's file the daemon's user or root);
//! - reads at most a bound, and refuses a file that grows past it while being read.
//!
//! A leaf: it knows nothing of OpenClaw or of the stages using it.

mod dir;
mod error;
mod open;

pub use dir::Dir;
pub use error::GuardError;
pub use open::{Opened, Owner, Rules, check_private_dir, check_stat, kind_name, open, read};

#[cfg(test)]
pub(crate) mod test_log;
#[cfg(test)]
mod tests;
