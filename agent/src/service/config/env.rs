//! The environment of the Node.js "Live Status v4" daemon, so an existing EnvironmentFile keeps
//! working after the switch. Each variable overrides the matching key of the config file.

use std::path::{Path, PathBuf};

use super::rules::{self, IntRule};
use super::{ConfigError, Draft, Origin, REDACTED};

/// Every legacy variable and the key it sets.
pub const LEGACY_ENV: [(&str, &str); 17] = [
    ("MM_URL", "mattermost.url"),
    ("MM_TOKEN", "mattermost.token"),
    ("TRANSCRIPT_DIR", "watch.gateways"),
    ("SESSIONS_JSON", "watch.gateways"),
    ("THROTTLE_MS", "mattermost.throttle_ms"),
    ("IDLE_TIMEOUT_S", "session.idle_timeout_s"),
    ("MAX_SESSION_DURATION_S", "session.max_session_duration_s"),
    ("MAX_STATUS_LINES", "render.max_status_lines"),
    ("MAX_ACTIVE_SESSIONS", "mattermost.max_active_sessions"),
    ("MAX_MESSAGE_CHARS", "render.max_message_chars"),
    ("DEFAULT_CHANNEL", "mattermost.default_channel"),
    ("TOOL_LABELS_FILE", "render.tool_labels_file"),
    ("LOG_LEVEL", "service.log_level"),
    ("HEALTH_PORT", "api.listen"),
    ("PLUGIN_URL", "mattermost.plugin_url"),
    ("PLUGIN_SECRET", "mattermost.plugin_secret"),
    ("PLUGIN_ENABLED", "mattermost.mode"),
];

struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    from_file: &'a [String],
    warnings: &'a mut Vec<String>,
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

    fn int(&mut self, var: &'static str, rule: &IntRule) -> Result<Option<u64>, ConfigError> {
        let Some(raw) = self.get(var, rule.key) else {
            return Ok(None);
        };
        let origin = Origin::Env { var };
        let value = rule.parse(&origin, &raw)?;
        rule.check(&origin, value).map(Some)
    }

    fn count(&mut self, var: &'static str, rule: &IntRule) -> Result<Option<usize>, ConfigError> {
        let Some(raw) = self.get(var, rule.key) else {
            return Ok(None);
        };
        let origin = Origin::Env { var };
        let value = rule.parse(&origin, &raw)?;
        rule.check_usize(&origin, value).map(Some)
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
    };
    let result = apply_vars(&mut env, draft);
    draft.from_file = from_file;
    result
}

fn apply_vars(env: &mut Env<'_>, draft: &mut Draft) -> Result<(), ConfigError> {
    // The old daemon watched one agent's sessions; both variables name a gateway through it.
    let mut gateways = Vec::new();
    let mut agents = Vec::new();
    for (var, to_state, shape) in [
        (
            "TRANSCRIPT_DIR",
            rules::state_of_sessions_dir as fn(&Path) -> Option<PathBuf>,
            "an absolute OpenClaw sessions dir, <state>/agents/<agent>/sessions, like \
             /home/alice/.openclaw/agents/main/sessions",
        ),
        (
            "SESSIONS_JSON",
            rules::state_of_sessions_json,
            "an absolute path to <state>/agents/<agent>/sessions/sessions.json, like \
             /home/alice/.openclaw/agents/main/sessions/sessions.json",
        ),
    ] {
        let Some(raw) = (env.lookup)(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let origin = Origin::Env { var };
        let path = Path::new(raw.trim());
        let Some(state) = to_state(path) else {
            return Err(ConfigError::Value {
                origin,
                key: "watch.gateways".to_owned(),
                value: rules::quote(&raw),
                expected: shape.to_owned(),
            });
        };
        let state = rules::gateway(&origin, &state)?;
        if let Some(agent) = agent_of(path, &state) {
            let note = format!("agent `{agent}` of gateway {}", state.display());
            if !agents.contains(&note) {
                agents.push(note);
            }
        }
        // Both variables usually name the same gateway; that is no duplicate to warn about.
        if !gateways.contains(&state) {
            gateways.push(state);
        }
    }
    if !gateways.is_empty() {
        if env.from_file.iter().any(|k| k == "watch.gateways") {
            env.warnings.push(
                "TRANSCRIPT_DIR / SESSIONS_JSON replace `watch.gateways` from the config file"
                    .to_owned(),
            );
        }
        for note in agents {
            env.warnings.push(format!(
                "TRANSCRIPT_DIR / SESSIONS_JSON name {note}; openclaw-livestatus follows every \
                 agent of that gateway"
            ));
        }
        draft.config.watch.gateways = gateways;
    }

    if let Some(v) = env.int("IDLE_TIMEOUT_S", &rules::IDLE_TIMEOUT_S)? {
        draft.config.session.idle_timeout_s = v;
    }
    if let Some(v) = env.int("MAX_SESSION_DURATION_S", &rules::MAX_SESSION_DURATION_S)? {
        draft.config.session.max_session_duration_s = v;
    }
    if let Some(v) = env.count("MAX_STATUS_LINES", &rules::MAX_STATUS_LINES)? {
        draft.config.render.max_status_lines = v;
    }
    if let Some(v) = env.count("MAX_MESSAGE_CHARS", &rules::MAX_MESSAGE_CHARS)? {
        draft.config.render.max_message_chars = v;
    }
    if let Some(raw) = env.get("TOOL_LABELS_FILE", "render.tool_labels_file") {
        let origin = Origin::Env {
            var: "TOOL_LABELS_FILE",
        };
        let path = rules::absolute_path(&origin, "render.tool_labels_file", Path::new(raw.trim()))?;
        draft.config.render.tool_labels_file = Some(path);
    }
    if let Some(raw) = env.get("LOG_LEVEL", "service.log_level") {
        let origin = Origin::Env { var: "LOG_LEVEL" };
        draft.config.service.log_level = rules::log_level(&origin, "service.log_level", &raw)?;
    }

    if let Some(raw) = env.get("HEALTH_PORT", "api.listen") {
        let origin = Origin::Env { var: "HEALTH_PORT" };
        draft.config.api.listen = super::api::health_port(&origin, &raw)?;
    }

    if let Some(raw) = env.get("MM_URL", "mattermost.url") {
        let origin = Origin::Env { var: "MM_URL" };
        draft.mattermost.url = rules::url(&origin, "mattermost.url", raw.trim())?;
    }
    if let Some(raw) = env.get("MM_TOKEN", "mattermost.token") {
        if raw.trim() == REDACTED {
            env.warnings.push(format!(
                "MM_TOKEN is the {REDACTED:?} placeholder printed by check-config, not a token; \
                 ignored"
            ));
        } else {
            draft.mattermost.token = Some(rules::token("MM_TOKEN", &raw)?);
            draft
                .mattermost_wanted
                .get_or_insert(Origin::Env { var: "MM_TOKEN" });
        }
    }
    if let Some(raw) = env.get("DEFAULT_CHANNEL", "mattermost.default_channel") {
        let origin = Origin::Env {
            var: "DEFAULT_CHANNEL",
        };
        let id = rules::channel_id(&origin, "mattermost.default_channel", &raw)?;
        draft.mattermost.default_channel = Some(id);
        draft.mattermost_env_only.push("DEFAULT_CHANNEL");
    }
    if let Some(v) = env.int("THROTTLE_MS", &rules::THROTTLE_MS)? {
        draft.mattermost.throttle_ms = v;
        draft.mattermost_env_only.push("THROTTLE_MS");
    }
    if let Some(v) = env.count("MAX_ACTIVE_SESSIONS", &rules::MAX_ACTIVE_SESSIONS)? {
        draft.mattermost.max_active_sessions = v;
        draft.mattermost_env_only.push("MAX_ACTIVE_SESSIONS");
    }
    apply_plugin_vars(env, draft)
}

/// The old daemon's plugin variables. `PLUGIN_ENABLED=true` meant "use the plugin when it
/// answers its health check, else REST", which is `auto`; `false` is `rest`.
fn apply_plugin_vars(env: &mut Env<'_>, draft: &mut Draft) -> Result<(), ConfigError> {
    if let Some(raw) = env.get("PLUGIN_ENABLED", "mattermost.mode") {
        let mode = match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => super::MattermostMode::Auto,
            "false" | "0" | "no" | "off" => super::MattermostMode::Rest,
            _ => {
                return Err(ConfigError::Value {
                    origin: Origin::Env {
                        var: "PLUGIN_ENABLED",
                    },
                    key: "mattermost.mode".to_owned(),
                    value: rules::quote(&raw),
                    expected: "true (mattermost.mode = \"auto\") or false (\"rest\")".to_owned(),
                });
            }
        };
        draft.config.plugin.mode = mode;
    }
    if let Some(raw) = env.get("PLUGIN_URL", "mattermost.plugin_url") {
        let origin = Origin::Env { var: "PLUGIN_URL" };
        draft.config.plugin.url = Some(rules::url(&origin, "mattermost.plugin_url", raw.trim())?);
    }
    if let Some(raw) = env.get("PLUGIN_SECRET", "mattermost.plugin_secret") {
        if raw.trim() == REDACTED {
            env.warnings.push(format!(
                "PLUGIN_SECRET is the {REDACTED:?} placeholder printed by check-config, not a \
                 secret; ignored"
            ));
        } else {
            draft.config.plugin.secret = Some(rules::token("PLUGIN_SECRET", &raw)?);
        }
    }
    Ok(())
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
