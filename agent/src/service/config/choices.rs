//! The keys whose value is one of a few names: `watch.tier` and `mattermost.mode`.

use std::fmt;
use std::str::FromStr;

use crate::watch::TierKind;

/// Which watch tier to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TierChoice {
    /// The fastest tier this host allows: ebpf, fanotify, inotify, poll, in that order.
    #[default]
    Auto,
    /// This tier and no other.
    Only(TierKind),
}

impl TierChoice {
    pub const ALL: [TierChoice; 5] = [
        TierChoice::Auto,
        TierChoice::Only(TierKind::Ebpf),
        TierChoice::Only(TierKind::Fanotify),
        TierChoice::Only(TierKind::Inotify),
        TierChoice::Only(TierKind::Poll),
    ];
    /// The accepted spellings, e.g. for clap's `PossibleValuesParser`.
    pub const NAMES: [&'static str; 5] = ["auto", "ebpf", "fanotify", "inotify", "poll"];

    pub fn as_str(self) -> &'static str {
        match self {
            TierChoice::Auto => "auto",
            TierChoice::Only(kind) => kind.name(),
        }
    }
}

impl fmt::Display for TierChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TierChoice {
    type Err = ParseTierError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        TierChoice::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseTierError {
                value: s.to_owned(),
            })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown watch tier {value:?}: expected {}", self.expected())]
pub struct ParseTierError {
    value: String,
}

impl ParseTierError {
    pub fn expected(&self) -> String {
        format!("one of {}", TierChoice::NAMES.join(", "))
    }
}

/// `mattermost.mode`: how boxes reach a Mattermost server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MattermostMode {
    /// The plugin when its health route answers (checked at start, then every few minutes), else REST.
    #[default]
    Auto,
    /// Always the plugin; REST only while it is unreachable or failing.
    Plugin,
    /// Never the plugin.
    Rest,
}

impl MattermostMode {
    pub const NAMES: [&'static str; 3] = ["auto", "plugin", "rest"];

    pub fn as_str(self) -> &'static str {
        match self {
            MattermostMode::Auto => "auto",
            MattermostMode::Plugin => "plugin",
            MattermostMode::Rest => "rest",
        }
    }

    pub fn parse(raw: &str) -> Option<MattermostMode> {
        let wanted = raw.trim();
        [
            MattermostMode::Auto,
            MattermostMode::Plugin,
            MattermostMode::Rest,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(wanted))
    }
}
