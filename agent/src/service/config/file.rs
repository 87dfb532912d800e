//! The TOML file: serde does the typing (`deny_unknown_fields` on every table), and a key index
//! built from the same text turns toml's byte spans into `file:line:column` plus the dotted key
//! path, which toml's own errors do not expose.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::rules::{self, IntRule};
use super::{ConfigError, Draft, MattermostAccountConfig, Origin, Position, REDACTED, Secret};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    watch: Option<WatchFile>,
    session: Option<SessionFile>,
    render: Option<RenderFile>,
    mattermost: Option<MattermostFile>,
    service: Option<ServiceFile>,
    api: Option<ApiFile>,
    uploader: Option<UploaderFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([api])")]
struct ApiFile {
    listen: Option<String>,
    secret: Option<String>,
    secret_file: Option<String>,
    max_concurrent: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([uploader])")]
struct UploaderFile {
    url: Option<String>,
    interval_minutes: Option<Int>,
    token: Option<String>,
    token_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([watch])")]
struct WatchFile {
    tier: Option<String>,
    gateways: Option<PathList>,
    poll_interval_ms: Option<Int>,
    safety_net_interval_ms: Option<Int>,
    max_host_cost: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([session])")]
struct SessionFile {
    idle_timeout_s: Option<Int>,
    max_session_duration_s: Option<Int>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([render])")]
struct RenderFile {
    max_status_lines: Option<Int>,
    max_message_chars: Option<Int>,
    tool_labels_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([mattermost])")]
struct MattermostFile {
    url: Option<String>,
    token: Option<String>,
    token_file: Option<String>,
    default_channel: Option<String>,
    throttle_ms: Option<Int>,
    max_active_sessions: Option<Int>,
    mode: Option<String>,
    plugin_url: Option<String>,
    plugin_secret: Option<String>,
    plugin_secret_file: Option<String>,
    accounts: Option<BTreeMap<String, AccountFile>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table ([mattermost.accounts.<id>])"
)]
struct AccountFile {
    url: Option<String>,
    token: Option<String>,
    token_file: Option<String>,
    mode: Option<String>,
    plugin_url: Option<String>,
    plugin_secret: Option<String>,
    plugin_secret_file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table ([service])")]
struct ServiceFile {
    data_dir: Option<String>,
    log_level: Option<String>,
}

/// An integer whose type error reads "expected an integer" rather than "expected i64"; signed,
/// so a negative number reaches the range check and gets the key's range in its message.
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor;
        impl Visitor<'_> for IntVisitor {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
        }
        deserializer.deserialize_i64(IntVisitor)
    }
}

/// The gateways array, whose type error shows what an entry looks like.
struct PathList(Vec<String>);

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = PathList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an array of paths, like ["/home/alice/.openclaw"]"#)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PathList, A::Error> {
                let mut paths = Vec::new();
                while let Some(path) = seq.next_element::<String>()? {
                    paths.push(path);
                }
                Ok(PathList(paths))
            }
        }
        deserializer.deserialize_seq(ListVisitor)
    }
}

/// Every key of the document with the byte span of the key itself.
struct KeyIndex<'a> {
    text: &'a str,
    keys: Vec<(String, Range<usize>)>,
}

impl<'a> KeyIndex<'a> {
    fn build(text: &'a str) -> Result<Self, toml::de::Error> {
        let mut keys = Vec::new();
        KeySeed {
            prefix: String::new(),
            out: &mut keys,
        }
        .deserialize(toml::Deserializer::new(text))?;
        Ok(KeyIndex { text, keys })
    }

    fn position(&self, key: &str) -> Option<Position> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, span)| Position::of_offset(self.text, span.start))
    }

    /// The key an error at `offset` belongs to: a value follows its key, so the nearest key
    /// starting at or before the offset owns it (for an unknown key, that key itself).
    fn owner(&self, offset: usize) -> Option<&(String, Range<usize>)> {
        self.keys
            .iter()
            .filter(|(_, span)| span.start <= offset)
            .max_by_key(|(_, span)| span.start)
    }
}

/// Walks the document recording key paths and spans; values are only descended into.
struct KeySeed<'v> {
    prefix: String,
    out: &'v mut Vec<(String, Range<usize>)>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<toml::Spanned<String>>()? {
            let path = if self.prefix.is_empty() {
                key.get_ref().clone()
            } else {
                format!("{}.{}", self.prefix, key.get_ref())
            };
            self.out.push((path.clone(), key.span()));
            // A date-time value arrives as a private map whose key has no span; it is a leaf to
            // us (no key takes one), and typing reports it. Nothing else can fail here, the
            // text has already parsed.
            let _ = map.next_value_seed(KeySeed {
                prefix: path,
                out: self.out,
            });
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let element = KeySeed {
                prefix: self.prefix.clone(),
                out: self.out,
            };
            // An element that fails (a date-time) holds no keys; stopping there cannot loop.
            if !matches!(seq.next_element_seed(element), Ok(Some(()))) {
                return Ok(());
            }
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

const TABLES: [&str; 7] = [
    "watch",
    "session",
    "render",
    "mattermost",
    "service",
    "api",
    "uploader",
];

/// toml reports syntax errors without a key; recover the table header and the key on the
/// failing line from the text, when they look unambiguous.
fn guess_key(text: &str, offset: usize) -> Option<String> {
    let at = Position::of_offset(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(at.line.checked_sub(1)?)?.trim();
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let bare = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !bare(key) || key.starts_with('[') {
        return None;
    }
    let header = lines[..at.line - 1]
        .iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| l.starts_with('['))?;
    let table = header.strip_prefix('[')?.split(']').next()?.trim();
    let known = TABLES.contains(&table)
        || table
            .strip_prefix("mattermost.accounts.")
            .is_some_and(|id| !id.is_empty());
    known.then(|| format!("{table}.{key}"))
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn syntax_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map_or(0, |s| s.start);
    ConfigError::Syntax {
        path: path.to_path_buf(),
        at: Position::of_offset(text, offset),
        key: guess_key(text, offset),
        message: one_line(e.message()),
    }
}

fn schema_error(path: &Path, index: &KeyIndex, e: &toml::de::Error) -> ConfigError {
    let span = e.span().unwrap_or(0..0);
    let owner = index.owner(span.start);
    let key = owner.map_or_else(|| "(document)".to_owned(), |(k, _)| k.clone());
    let at = Position::of_offset(index.text, span.start);
    let message = one_line(e.message());
    // serde reports an unknown field at the key's own span; a wrong type at the value's.
    if owner.is_some_and(|(_, key_span)| *key_span == span) {
        ConfigError::UnknownKey {
            path: path.to_path_buf(),
            at,
            key,
            message,
        }
    } else {
        ConfigError::WrongType {
            path: path.to_path_buf(),
            at,
            key,
            message,
        }
    }
}

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
            set.draft.config.watch.gateways = super::dedup_gateways(gateways, warnings);
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
        set.count(&rules::MAX_STATUS_LINES, r.max_status_lines, |d, v| {
            d.config.render.max_status_lines = v;
        })?;
        set.count(&rules::MAX_MESSAGE_CHARS, r.max_message_chars, |d, v| {
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
        set.count(
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
            d.config.api.max_concurrent = u32::try_from(v).unwrap_or(u32::MAX);
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

fn literal_token_warning(path: &Path, key: &str, world_readable: bool) -> String {
    let (file_key, credential) = match key.strip_suffix(".token") {
        None if key == "mattermost.plugin_secret" => (
            "mattermost.plugin_secret_file".to_owned(),
            super::PLUGIN_SECRET_CREDENTIAL.to_owned(),
        ),
        None if key.ends_with(".plugin_secret") => {
            let table = key.trim_end_matches(".plugin_secret");
            (
                format!("{table}.plugin_secret_file"),
                format!(
                    "{}{}",
                    super::ACCOUNT_PLUGIN_SECRET_PREFIX,
                    table.rsplit('.').next().unwrap_or_default()
                ),
            )
        }
        Some(table) if table != "mattermost" => (
            format!("{table}.token_file"),
            format!(
                "{}{}",
                super::ACCOUNT_CREDENTIAL_PREFIX,
                table.rsplit('.').next().unwrap_or_default()
            ),
        ),
        _ => (
            "mattermost.token_file".to_owned(),
            super::TOKEN_CREDENTIAL.to_owned(),
        ),
    };
    let advice = format!(
        "move it to a file named by {file_key} (mode 600) or to the `{credential}` systemd \
         credential"
    );
    if world_readable {
        format!(
            "{} holds {key} and is readable by every user on this host; \
             chmod 600 it, or better, {advice}",
            path.display()
        )
    } else {
        format!("{} holds {key} as a literal; {advice}", path.display())
    }
}

/// Applies one file key at a time, with the key's position for errors.
struct Setter<'a, 'i> {
    path: &'a Path,
    index: &'a KeyIndex<'i>,
    draft: &'a mut Draft,
}

impl Setter<'_, '_> {
    fn origin(&self, key: &str) -> Origin {
        Origin::file(self.path, self.index.position(key))
    }

    fn int(
        &mut self,
        rule: &IntRule,
        value: Option<Int>,
        store: impl FnOnce(&mut Draft, u64),
    ) -> Result<(), ConfigError> {
        if let Some(Int(v)) = value {
            let v = rule.check(&self.origin(rule.key), v.into())?;
            store(self.draft, v);
        }
        Ok(())
    }

    fn count(
        &mut self,
        rule: &IntRule,
        value: Option<Int>,
        store: impl FnOnce(&mut Draft, usize),
    ) -> Result<(), ConfigError> {
        if let Some(Int(v)) = value {
            let v = rule.check_usize(&self.origin(rule.key), v.into())?;
            store(self.draft, v);
        }
        Ok(())
    }

    /// A literal token: `""` means "not set", and the placeholder `check-config` prints is ignored.
    fn token(
        &self,
        key: &str,
        raw: &str,
        world_readable: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Secret>, ConfigError> {
        if raw.trim() == REDACTED {
            let sources = if key == "mattermost.token" {
                "token_file, MM_TOKEN or the systemd credential"
            } else {
                "token_file or the systemd credential"
            };
            warnings.push(format!(
                "{}: {key} is the {REDACTED:?} placeholder printed by check-config, not a \
                 token; ignored (the token comes from {sources})",
                self.origin(key)
            ));
            return Ok(None);
        }
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let token = rules::token(key, raw)?;
        warnings.push(literal_token_warning(self.path, key, world_readable));
        Ok(Some(token))
    }

    /// A literal `api.secret` / `uploader.token`: as `token`, with its own advice.
    fn secret(
        &self,
        key: &str,
        raw: &str,
        world_readable: bool,
        warnings: &mut Vec<String>,
    ) -> Result<Option<Secret>, ConfigError> {
        if raw.trim() == REDACTED {
            warnings.push(format!(
                "{}: {key} is the {REDACTED:?} placeholder printed by check-config, not a \
                 secret; ignored",
                self.origin(key)
            ));
            return Ok(None);
        }
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let secret = super::api::secret(key, raw)?;
        let file_key = format!("{}_file", key);
        if world_readable {
            warnings.push(format!(
                "{} holds {key} and is readable by every user on this host; chmod 600 it, or \
                 better, move it to a file named by {file_key} (mode 600)",
                self.path.display()
            ));
        }
        Ok(Some(secret))
    }

    /// `""` means "not set", as in the shipped example config.
    fn optional_path(&self, key: &str, raw: &str) -> Result<Option<PathBuf>, ConfigError> {
        if raw.is_empty() {
            return Ok(None);
        }
        rules::absolute_path(&self.origin(key), key, Path::new(raw)).map(Some)
    }
}
