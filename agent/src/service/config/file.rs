//! The TOML file: serde does the typing (`deny_unknown_fields` on every table), and a key index
//! built from the same text turns toml's byte spans into `file:line:column` plus the dotted key
//! path, which toml's own errors do not expose.

mod locate;
mod schema;
mod setter;

use std::path::Path;

use super::rules;
use super::{ConfigError, Draft, MattermostAccountConfig};
use locate::{KeyIndex, schema_error, syntax_error};
use schema::{FileConfig, MattermostFile, PathList};
use setter::Setter;

/// Reads the file's values into `draft`, checking each where it is written.
pub(super) fn apply(
    path: &Path,
    text: &str,
    world_readable: bool,
    draft: &mut Draft,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    let index = KeyIndex::build(text).map_err(|e| syntax_error(path, text, &e))?;
    let file: FileConfig = toml::from_str(text).map_err(|e| schema_error(path, &index, &e))?;
    draft.from_file = index.keys.iter().map(|(k, _)| k.clone()).collect();
    let mut set = Setter {
        path,
        index: &index,
        draft,
    };

    if let Some(w) = file.watch {
        if let Some(tier) = w.tier {
            let origin = set.origin("watch.tier");
            set.draft.config.watch.tier = rules::tier(&origin, &tier)?;
        }
        if let Some(PathList(list)) = w.gateways {
            let origin = set.origin("watch.gateways");
            let mut gateways = Vec::with_capacity(list.len());
            for entry in &list {
                gateways.push(rules::gateway(&origin, Path::new(entry))?);
            }
            set.draft.config.watch.gateways = super::load::dedup_gateways(gateways, warnings);
        }
        set.int(&rules::POLL_INTERVAL_MS, w.poll_interval_ms, |d, v| {
            d.config.watch.poll_interval_ms = v;
        })?;
        set.int(
            &rules::SAFETY_NET_INTERVAL_MS,
            w.safety_net_interval_ms,
            |d, v| {
                d.config.watch.safety_net_interval_ms = v;
            },
        )?;
        if let Some(cost) = w.max_host_cost {
            let origin = set.origin(rules::MAX_HOST_COST_KEY);
            set.draft.config.watch.max_host_cost_centi = rules::max_host_cost(&origin, cost)?;
        }
    }

    if let Some(s) = file.session {
        set.int(&rules::IDLE_TIMEOUT_S, s.idle_timeout_s, |d, v| {
            d.config.session.idle_timeout_s = v;
        })?;
        set.int(
            &rules::MAX_SESSION_DURATION_S,
            s.max_session_duration_s,
            |d, v| {
                d.config.session.max_session_duration_s = v;
            },
        )?;
    }

    if let Some(r) = file.render {
        set.int(&rules::MAX_STATUS_LINES, r.max_status_lines, |d, v| {
            d.config.render.max_status_lines = v;
        })?;
        set.int(&rules::MAX_MESSAGE_CHARS, r.max_message_chars, |d, v| {
            d.config.render.max_message_chars = v;
        })?;
        if let Some(p) = r.tool_labels_file {
            set.draft.config.render.tool_labels_file =
                set.optional_path("render.tool_labels_file", &p)?;
        }
    }

    if let Some(mut m) = file.mattermost {
        apply_plugin(&mut set, &mut m, world_readable, warnings)?;
        let only_plugin = m.url.is_none()
            && m.token.is_none()
            && m.token_file.is_none()
            && m.default_channel.is_none()
            && m.throttle_ms.is_none()
            && m.max_active_sessions.is_none()
            && m.accounts.is_none();
        // A table with only plugin keys configures the plugin for the gateways' own accounts;
        // it asks for no server of its own.
        if !only_plugin {
            set.draft.mattermost_wanted = Some(set.origin("mattermost"));
        }
        if let Some(url) = m.url {
            let origin = set.origin("mattermost.url");
            set.draft.mattermost.url = rules::url(&origin, "mattermost.url", &url)?;
        }
        if let Some(token) = m.token {
            set.draft.mattermost.token =
                set.token("mattermost.token", &token, world_readable, warnings)?;
        }
        if let Some(p) = m.token_file {
            set.draft.mattermost.token_file = set.optional_path("mattermost.token_file", &p)?;
        }
        if let Some(channel) = m.default_channel {
            set.draft.mattermost.default_channel = if channel.trim().is_empty() {
                None
            } else {
                let origin = set.origin("mattermost.default_channel");
                Some(rules::channel_id(
                    &origin,
                    "mattermost.default_channel",
                    &channel,
                )?)
            };
        }
        set.int(&rules::THROTTLE_MS, m.throttle_ms, |d, v| {
            d.mattermost.throttle_ms = v;
        })?;
        set.int(
            &rules::MAX_ACTIVE_SESSIONS,
            m.max_active_sessions,
            |d, v| {
                d.mattermost.max_active_sessions = v;
            },
        )?;
        for (id, a) in m.accounts.unwrap_or_default() {
            let table = format!("mattermost.accounts.{id}");
            let origin = set.origin(&table);
            let id = rules::account_id(&origin, &id)?;
            let mut account = MattermostAccountConfig::default();
            if let Some(url) = a.url.filter(|u| !u.is_empty()) {
                let key = format!("{table}.url");
                account.url = Some(rules::url(&set.origin(&key), &key, &url)?);
            }
            if let Some(token) = a.token {
                account.token =
                    set.token(&format!("{table}.token"), &token, world_readable, warnings)?;
            }
            if let Some(p) = a.token_file {
                account.token_file = set.optional_path(&format!("{table}.token_file"), &p)?;
            }
            if let Some(raw) = a.mode {
                let key = format!("{table}.mode");
                account.mode = Some(rules::mode(&set.origin(&key), &key, &raw)?);
            }
            if let Some(url) = a.plugin_url.filter(|u| !u.is_empty()) {
                let key = format!("{table}.plugin_url");
                account.plugin_url = Some(rules::url(&set.origin(&key), &key, &url)?);
            }
            if let Some(secret) = a.plugin_secret {
                let key = format!("{table}.plugin_secret");
                account.plugin_secret = set.token(&key, &secret, world_readable, warnings)?;
            }
            if let Some(p) = a.plugin_secret_file {
                let key = format!("{table}.plugin_secret_file");
                account.plugin_secret_file = set.optional_path(&key, &p)?;
            }
            set.draft.account_origins.insert(id.clone(), origin);
            set.draft.mattermost.accounts.insert(id, account);
        }
    }

    if let Some(s) = file.service {
        if let Some(p) = s.data_dir {
            let origin = set.origin("service.data_dir");
            set.draft.config.service.data_dir =
                rules::absolute_path(&origin, "service.data_dir", Path::new(&p))?;
        }
        if let Some(level) = s.log_level {
            let origin = set.origin("service.log_level");
            set.draft.config.service.log_level =
                rules::log_level(&origin, "service.log_level", &level)?;
        }
    }

    if let Some(a) = file.api {
        if let Some(raw) = a.listen {
            let origin = set.origin("api.listen");
            set.draft.config.api.listen = super::api::listen(&origin, &raw)?;
        }
        if let Some(raw) = a.secret {
            set.draft.config.api.secret =
                set.secret("api.secret", &raw, world_readable, warnings)?;
        }
        if let Some(p) = a.secret_file {
            set.draft.config.api.secret_file = set.optional_path("api.secret_file", &p)?;
        }
        set.int(&super::api::MAX_CONCURRENT, a.max_concurrent, |d, v| {
            d.config.api.max_concurrent = v;
        })?;
    }

    if let Some(u) = file.uploader {
        if let Some(url) = u.url.filter(|u| !u.trim().is_empty()) {
            let origin = set.origin("uploader.url");
            set.draft.config.uploader.url = Some(rules::url(&origin, "uploader.url", &url)?);
        }
        set.int(&super::api::INTERVAL_MINUTES, u.interval_minutes, |d, v| {
            d.config.uploader.interval_minutes = v;
        })?;
        if let Some(raw) = u.token {
            set.draft.config.uploader.token =
                set.secret("uploader.token", &raw, world_readable, warnings)?;
        }
        if let Some(p) = u.token_file {
            set.draft.config.uploader.token_file = set.optional_path("uploader.token_file", &p)?;
        }
    }
    Ok(())
}

/// `mode` and `plugin_*` of `[mattermost]`, taken out of the table.
fn apply_plugin(
    set: &mut Setter<'_, '_>,
    m: &mut MattermostFile,
    world_readable: bool,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    if let Some(raw) = m.mode.take() {
        let origin = set.origin("mattermost.mode");
        set.draft.config.plugin.mode = rules::mode(&origin, "mattermost.mode", &raw)?;
    }
    if let Some(raw) = m.plugin_url.take().filter(|u| !u.is_empty()) {
        let origin = set.origin("mattermost.plugin_url");
        set.draft.config.plugin.url = Some(rules::url(&origin, "mattermost.plugin_url", &raw)?);
    }
    if let Some(raw) = m.plugin_secret.take() {
        set.draft.config.plugin.secret =
            set.token("mattermost.plugin_secret", &raw, world_readable, warnings)?;
    }
    if let Some(p) = m.plugin_secret_file.take() {
        set.draft.config.plugin.secret_file =
            set.optional_path("mattermost.plugin_secret_file", &p)?;
    }
    Ok(())
}
