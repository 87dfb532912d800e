//! The environment of the Node.js "Live Status v4" daemon, so an existing EnvironmentFile keeps
//! working after the switch. Each variable overrides the matching key of the config file; which
//! variable sets which key, and how, is its row in [`KEYS`](super::KEYS).

use std::path::{Path, PathBuf};

use super::rules::{self, IntRule};
use super::{ConfigError, Draft, KEYS, MattermostMode, Origin, REDACTED, Secret};

/// How one variable's text becomes its key's value: `(env, draft, variable, key)`.
pub(super) type SetVar =
    fn(&mut Env<'_>, &mut Draft, &'static str, &'static str) -> Result<(), ConfigError>;

pub(super) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    from_file: &'a [String],
    warnings: &'a mut Vec<String>,
    /// The gateways `TRANSCRIPT_DIR` and `SESSIONS_JSON` named so far, and their agents.
    gateways: Vec<PathBuf>,
    agents: Vec<String>,
}

impl Env<'_> {
    /// An empty variable counts as unset: the old daemon read `process.env.X || default`, and
    /// EnvironmentFiles often carry `X=` lines.
    fn get(&mut self, var: &'static str, key: &str) -> Option<String> {
        let value = (self.lookup)(var).filter(|v| !v.trim().is_empty())?;
        if self.from_file.iter().any(|k| k == key) {
            self.warnings.push(format!(
                "environment variable {var} overrides `{key}` from the config file"
            ));
        }
        Some(value)
    }

    /// The variable's text, when set, handed to `set` with its origin for errors.
    pub(super) fn text(
        &mut self,
        var: &'static str,
        key: &str,
        set: impl FnOnce(String, &Origin) -> Result<(), ConfigError>,
    ) -> Result<(), ConfigError> {
        match self.get(var, key) {
            Some(raw) => set(raw, &Origin::Env { var }),
            None => Ok(()),
        }
    }

    pub(super) fn int<T: TryFrom<u64>>(
        &mut self,
        var: &'static str,
        rule: &IntRule,
        store: impl FnOnce(T),
    ) -> Result<(), ConfigError> {
        let Some(raw) = self.get(var, rule.key) else {
            return Ok(());
        };
        let origin = Origin::Env { var };
        let value = rule.parse(&origin, &raw)?;
        store(rule.check_as(&origin, value)?);
        Ok(())
    }

    /// A literal token or secret; the placeholder `check-config` prints is ignored, with a
    /// warning, so that its output can be loaded back.
    pub(super) fn literal(
        &mut self,
        var: &'static str,
        key: &str,
        what: &str,
    ) -> Result<Option<Secret>, ConfigError> {
        let Some(raw) = self.get(var, key) else {
            return Ok(None);
        };
        if raw.trim() == REDACTED {
            self.warnings.push(format!(
                "{var} is the {REDACTED:?} placeholder printed by check-config, not a {what}; \
                 ignored"
            ));
            return Ok(None);
        }
        rules::token(var, &raw).map(Some)
    }

    /// The old daemon watched one agent's sessions; its variables name a gateway through it.
    /// Together they replace the file's gateways.
    fn gateway(
        &mut self,
        draft: &mut Draft,
        (var, key): (&'static str, &'static str),
        to_state: fn(&Path) -> Option<PathBuf>,
        shape: &str,
    ) -> Result<(), ConfigError> {
        let Some(raw) = (self.lookup)(var).filter(|v| !v.trim().is_empty()) else {
            return Ok(());
        };
        let origin = Origin::Env { var };
        let path = Path::new(raw.trim());
        let Some(state) = to_state(path) else {
            return Err(ConfigError::Value {
                origin,
                key: key.to_owned(),
                value: rules::quote(&raw),
                expected: shape.to_owned(),
            });
        };
        let state = rules::gateway(&origin, &state)?;
        if self.gateways.is_empty() && self.from_file.iter().any(|k| k == key) {
            self.warnings.push(
                "TRANSCRIPT_DIR / SESSIONS_JSON replace `watch.gateways` from the config file"
                    .to_owned(),
            );
        }
        if let Some(agent) = agent_of(path, &state) {
            let note = format!("agent `{agent}` of gateway {}", state.display());
            if !self.agents.contains(&note) {
                self.warnings.push(format!(
                    "TRANSCRIPT_DIR / SESSIONS_JSON name {note}; openclaw-livestatus follows \
                     every agent of that gateway"
                ));
                self.agents.push(note);
            }
        }
        // Both variables usually name the same gateway; that is no duplicate to warn about.
        if !self.gateways.contains(&state) {
            self.gateways.push(state);
        }
        draft.config.watch.gateways = self.gateways.clone();
        Ok(())
    }
}

pub(super) fn apply(
    lookup: &dyn Fn(&str) -> Option<String>,
    draft: &mut Draft,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let from_file = std::mem::take(&mut draft.from_file);
    let mut env = Env {
        lookup,
        from_file: &from_file,
        warnings,
        gateways: Vec::new(),
        agents: Vec::new(),
    };
    let result = KEYS.iter().try_for_each(|key| {
        key.env
            .iter()
            .try_for_each(|var| (var.set)(&mut env, draft, var.name, key.name))
    });
    draft.from_file = from_file;
    result
}

/// `TRANSCRIPT_DIR`: `<state>/agents/<agent>/sessions`.
pub(super) fn transcript_dir(
    env: &mut Env<'_>,
    draft: &mut Draft,
    var: &'static str,
    key: &'static str,
) -> Result<(), ConfigError> {
    env.gateway(
        draft,
        (var, key),
        rules::state_of_sessions_dir,
        "an absolute OpenClaw sessions dir, <state>/agents/<agent>/sessions, like \
         /home/alice/.openclaw/agents/main/sessions",
    )
}

/// `SESSIONS_JSON`: `<state>/agents/<agent>/sessions/sessions.json`.
pub(super) fn sessions_json(
    env: &mut Env<'_>,
    draft: &mut Draft,
    var: &'static str,
    key: &'static str,
) -> Result<(), ConfigError> {
    env.gateway(
        draft,
        (var, key),
        rules::state_of_sessions_json,
        "an absolute path to <state>/agents/<agent>/sessions/sessions.json, like \
         /home/alice/.openclaw/agents/main/sessions/sessions.json",
    )
}

/// `PLUGIN_ENABLED=true` meant "use the plugin when it answers its health check, else REST",
/// which is `auto`; `false` is `rest`.
pub(super) fn plugin_enabled(
    env: &mut Env<'_>,
    draft: &mut Draft,
    var: &'static str,
    key: &'static str,
) -> Result<(), ConfigError> {
    env.text(var, key, |raw, origin| {
        draft.config.plugin.mode = match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => MattermostMode::Auto,
            "false" | "0" | "no" | "off" => MattermostMode::Rest,
            _ => {
                return Err(ConfigError::Value {
                    origin: origin.clone(),
                    key: key.to_owned(),
                    value: rules::quote(&raw),
                    expected: "true (mattermost.mode = \"auto\") or false (\"rest\")".to_owned(),
                });
            }
        };
        Ok(())
    })
}

/// `<state>/agents/<agent>/…` → `<agent>`.
fn agent_of(path: &Path, state: &Path) -> Option<String> {
    let rest = rules::normalize(path);
    let rest = rest.strip_prefix(state).ok()?;
    let mut parts = rest.components().skip(1);
    parts
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .map(str::to_owned)
}
