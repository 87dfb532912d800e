use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::*;
use crate::watch::TierKind;

const TOKEN: &str = "xq7z9tokensecret4242abcdef";

/// An environment made of the given pairs only; the real process environment is never read.
fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn no_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[])
}

struct ConfigFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn write_config(text: &str) -> ConfigFile {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    fs::write(&path, text).expect("write config");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    ConfigFile { _dir: dir, path }
}

fn load_text(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Loaded, ConfigError> {
    let file = write_config(text);
    load(ConfigSource::Explicit(&file.path), env)
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    load_at(&dir.path().join("absent.toml"), false, &env_of(pairs))
}

fn err_text(text: &str) -> (ConfigError, String) {
    let e = load_text(text, &no_env()).expect_err("config should be rejected");
    let shown = e.to_string();
    (e, shown)
}

const FULL: &str = r#"
[watch]
tier = "inotify"
gateways = ["/home/alice/.openclaw", "/srv/bot/.openclaw-work/"]
poll_interval_ms = 250
safety_net_interval_ms = 30000
max_host_cost = 1.5

[session]
idle_timeout_s = 600
max_session_duration_s = 3600

[render]
max_status_lines = 40
max_message_chars = 60000
tool_labels_file = "/etc/openclaw-livestatus/labels.json"

[mattermost]
url = "https://chat.example.com/"
token_file = "/etc/openclaw-livestatus/bot-token"
default_channel = "abcdefghijklmnopqrstuvwxyz"
throttle_ms = 250
max_active_sessions = 50

[service]
data_dir = "/var/lib/ls-test"
log_level = "info,livestatus::sink=debug"
"#;

#[test]
fn without_a_file_or_environment_the_documented_defaults_apply() {
    let loaded = load_env(&[]).expect("defaults load");
    assert_eq!(loaded.file, None);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c, Config::default());
    assert_eq!(c.watch.tier, TierChoice::Auto);
    assert!(c.watch.gateways.is_empty());
    assert_eq!(c.watch.poll_interval_ms, 1000);
    assert_eq!(c.watch.safety_net_interval_ms, 10_000);
    assert_eq!(c.watch.max_host_cost(), 1.05);
    assert_eq!(c.session.idle_timeout_s, 900);
    assert_eq!(c.session.max_session_duration_s, 7200);
    assert_eq!(c.render.max_status_lines, 20);
    assert_eq!(c.render.max_message_chars, 16_383);
    assert_eq!(c.render.tool_labels_file, None);
    assert!(c.mattermost.is_none(), "terminal only by default");
    assert_eq!(
        c.service.data_dir,
        Path::new("/var/lib/openclaw-livestatus")
    );
    assert_eq!(c.service.log_level, "info");
}

#[test]
fn a_missing_file_at_the_default_path_is_fine_but_a_named_one_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.toml");

    let loaded = load_at(&missing, false, &no_env()).expect("default path may be absent");
    assert_eq!(loaded.config, Config::default());

    let e = load(ConfigSource::Explicit(&missing), &no_env()).expect_err("named file must exist");
    assert!(
        matches!(&e, ConfigError::NotFound { path } if *path == missing),
        "{e:?}"
    );
    assert!(e.to_string().contains("nope.toml"), "{e}");
    assert_eq!(ConfigSource::Default.path(), Path::new(DEFAULT_CONFIG_PATH));
}

#[test]
fn a_full_file_sets_every_key() {
    let file = write_config(FULL);
    let loaded = load(ConfigSource::Explicit(&file.path), &no_env()).expect("full file loads");
    assert_eq!(loaded.file.as_deref(), Some(file.path.as_path()));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.watch.tier, TierChoice::Only(TierKind::Inotify));
    assert_eq!(
        c.watch.gateways,
        [
            PathBuf::from("/home/alice/.openclaw"),
            PathBuf::from("/srv/bot/.openclaw-work")
        ]
    );
    assert_eq!(c.watch.poll_interval_ms, 250);
    assert_eq!(c.watch.safety_net_interval_ms, 30_000);
    assert_eq!(c.watch.max_host_cost(), 1.5);
    assert_eq!(c.session.idle_timeout_s, 600);
    assert_eq!(c.session.max_session_duration_s, 3600);
    assert_eq!(c.render.max_status_lines, 40);
    assert_eq!(c.render.max_message_chars, 60_000);
    assert_eq!(
        c.render.tool_labels_file.as_deref(),
        Some(Path::new("/etc/openclaw-livestatus/labels.json"))
    );
    let m = c.mattermost.expect("mattermost configured");
    assert_eq!(m.url, "https://chat.example.com", "trailing slash dropped");
    assert_eq!(m.token, None);
    assert_eq!(
        m.token_file.as_deref(),
        Some(Path::new("/etc/openclaw-livestatus/bot-token"))
    );
    assert_eq!(
        m.default_channel.as_deref(),
        Some("abcdefghijklmnopqrstuvwxyz")
    );
    assert_eq!(m.throttle_ms, 250);
    assert_eq!(m.max_active_sessions, 50);
    assert_eq!(c.service.data_dir, Path::new("/var/lib/ls-test"));
    assert_eq!(c.service.log_level, "info,livestatus::sink=debug");
}

#[test]
fn empty_strings_in_the_file_mean_unset() {
    let text = "[render]\ntool_labels_file = \"\"\n[mattermost]\nurl = \"https://mm.test\"\n\
                token = \"\"\ntoken_file = \"\"\ndefault_channel = \"\"\n";
    let m = load_text(text, &no_env()).expect("loads").config;
    assert_eq!(m.render.tool_labels_file, None);
    let m = m.mattermost.expect("mattermost");
    assert_eq!(
        (m.token, m.token_file, m.default_channel),
        (None, None, None)
    );
}

#[test]
fn environment_overrides_the_file_and_says_so() {
    let text = "[render]\nmax_status_lines = 30\nmax_message_chars = 4000\n";
    let loaded = load_text(text, &env_of(&[("MAX_STATUS_LINES", "45")])).expect("loads");
    assert_eq!(loaded.config.render.max_status_lines, 45, "env beats file");
    assert_eq!(
        loaded.config.render.max_message_chars, 4000,
        "file beats default"
    );
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("MAX_STATUS_LINES") && w.contains("render.max_status_lines")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn every_legacy_variable_maps_to_its_key() {
    let loaded = load_env(&[
        ("MM_URL", "https://chat.example.com"),
        ("MM_TOKEN", TOKEN),
        (
            "TRANSCRIPT_DIR",
            "/home/alice/.openclaw/agents/main/sessions",
        ),
        (
            "SESSIONS_JSON",
            "/home/bob/.openclaw-work/agents/ops/sessions/sessions.json",
        ),
        ("THROTTLE_MS", "750"),
        ("IDLE_TIMEOUT_S", "120"),
        ("MAX_SESSION_DURATION_S", "1800"),
        ("MAX_STATUS_LINES", "12"),
        ("MAX_ACTIVE_SESSIONS", "5"),
        ("MAX_MESSAGE_CHARS", "8000"),
        ("DEFAULT_CHANNEL", "0123456789abcdefghijklmnop"),
        ("TOOL_LABELS_FILE", "/opt/ls/labels.json"),
        ("LOG_LEVEL", "debug"),
        ("HEALTH_PORT", "9191"),
    ])
    .expect("legacy environment loads");
    let c = loaded.config;
    assert_eq!(
        c.watch.gateways,
        [
            PathBuf::from("/home/alice/.openclaw"),
            PathBuf::from("/home/bob/.openclaw-work")
        ]
    );
    assert_eq!(c.session.idle_timeout_s, 120);
    assert_eq!(c.session.max_session_duration_s, 1800);
    assert_eq!(c.render.max_status_lines, 12);
    assert_eq!(c.render.max_message_chars, 8000);
    assert_eq!(
        c.render.tool_labels_file.as_deref(),
        Some(Path::new("/opt/ls/labels.json"))
    );
    assert_eq!(c.service.log_level, "debug");
    assert_eq!(c.api.listen, "127.0.0.1:9191".parse().expect("address"));
    let m = c.mattermost.expect("MM_URL configures Mattermost");
    assert_eq!(m.url, "https://chat.example.com");
    assert_eq!(m.token.as_ref().map(Secret::expose), Some(TOKEN));
    assert_eq!(m.throttle_ms, 750);
    assert_eq!(m.max_active_sessions, 5);
    assert_eq!(
        m.default_channel.as_deref(),
        Some("0123456789abcdefghijklmnop")
    );

    assert_eq!(legacy_env().count(), 17);
}

#[test]
fn the_old_plugin_variables_set_mode_url_and_secret() {
    let loaded = load_env(&[
        ("PLUGIN_ENABLED", "true"),
        (
            "PLUGIN_URL",
            "https://chat.example.com/plugins/com.openclaw.livestatus/",
        ),
        ("PLUGIN_SECRET", "s3cret-shared-value"),
    ])
    .expect("plugin variables load");
    let p = loaded.config.plugin;
    assert_eq!(p.mode, MattermostMode::Auto);
    assert_eq!(
        p.url.as_deref(),
        Some("https://chat.example.com/plugins/com.openclaw.livestatus")
    );
    assert_eq!(
        p.secret.as_ref().map(Secret::expose),
        Some("s3cret-shared-value")
    );
    let off = load_env(&[("PLUGIN_ENABLED", "false")]).expect("false loads");
    assert_eq!(off.config.plugin.mode, MattermostMode::Rest);
    let e = load_env(&[("PLUGIN_ENABLED", "maybe")]).expect_err("maybe is refused");
    let shown = e.to_string();
    assert!(
        shown.contains("PLUGIN_ENABLED") && shown.contains("true") && shown.contains("rest"),
        "{shown}"
    );
}

#[test]
fn a_mattermost_table_with_only_plugin_keys_needs_no_url() {
    let loaded = load_text(
        "[mattermost]\nmode = \"plugin\"\nplugin_url = \"http://127.0.0.1:9/plugins/x\"\n",
        &no_env(),
    )
    .expect("plugin-only table loads");
    assert_eq!(loaded.config.mattermost, None);
    assert_eq!(loaded.config.plugin.mode, MattermostMode::Plugin);
    assert_eq!(
        loaded.config.plugin.url.as_deref(),
        Some("http://127.0.0.1:9/plugins/x")
    );
}

#[test]
fn an_account_sets_its_own_servers_plugin() {
    let loaded = load_text(
        "[mattermost]\nurl = \"https://chat.example.com\"\n\n[mattermost.accounts.alerts]\n\
         url = \"https://alerts.example.com\"\nmode = \"rest\"\n\
         plugin_url = \"https://alerts.example.com/plugins/x/\"\n\
         plugin_secret_file = \"/etc/openclaw-livestatus/alerts-plugin-secret\"\n",
        &no_env(),
    )
    .expect("account plugin keys load");
    let m = loaded.config.mattermost.expect("mattermost");
    let a = &m.accounts["alerts"];
    assert_eq!(a.mode, Some(MattermostMode::Rest));
    assert_eq!(
        a.plugin_url.as_deref(),
        Some("https://alerts.example.com/plugins/x")
    );
    assert_eq!(
        a.plugin_secret_file.as_deref(),
        Some(Path::new("/etc/openclaw-livestatus/alerts-plugin-secret"))
    );
    let printed = Config {
        mattermost: Some(m.clone()),
        ..Config::default()
    }
    .to_toml_redacted();
    assert!(printed.contains("mode = \"rest\""), "{printed}");
    let (_, shown) = err_text(
        "[mattermost]\nurl = \"https://chat.example.com\"\n[mattermost.accounts.alerts]\nmode = \"fast\"\n",
    );
    assert!(
        shown.contains("mattermost.accounts.alerts.mode") && shown.contains(":4:"),
        "{shown}"
    );
}

#[test]
fn a_bad_mode_names_its_line_and_the_choices() {
    let (_, shown) = err_text("[mattermost]\nurl = \"https://mm.test\"\nmode = \"websocket\"\n");
    assert!(shown.contains(":3:"), "{shown}");
    assert!(shown.contains("mattermost.mode"), "{shown}");
    assert!(
        shown.contains("auto") && shown.contains("plugin") && shown.contains("rest"),
        "{shown}"
    );
}

#[test]
fn plugin_mode_without_a_secret_says_where_to_put_one() {
    let plugin = PluginConfig {
        mode: MattermostMode::Plugin,
        ..PluginConfig::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let e = plugin
        .read_secret(Some(dir.path()))
        .expect_err("no secret anywhere");
    let shown = e.to_string();
    assert!(shown.contains("mattermost.plugin_secret_file"), "{shown}");
    assert!(shown.contains("plugin-secret"), "{shown}");
    assert!(shown.contains(&dir.path().display().to_string()), "{shown}");
    // auto without a secret is no error: it means REST.
    let auto = PluginConfig::default();
    assert_eq!(auto.read_secret(Some(dir.path())).expect("auto"), None);
    // The systemd credential is read like the token's.
    let cred = dir.path().join(PLUGIN_SECRET_CREDENTIAL);
    fs::write(&cred, "from-credential\n").expect("write credential");
    fs::set_permissions(&cred, fs::Permissions::from_mode(0o600)).expect("chmod");
    let secret = plugin.read_secret(Some(dir.path())).expect("credential");
    assert_eq!(secret.as_ref().map(Secret::expose), Some("from-credential"));
    assert_eq!(format!("{secret:?}"), "Some([redacted])");
}

#[test]
fn transcript_dir_names_its_gateway_and_other_shapes_are_refused() {
    let loaded = load_env(&[(
        "TRANSCRIPT_DIR",
        "/home/alice/.openclaw/agents/main/sessions/",
    )])
    .expect("sessions dir maps");
    assert_eq!(
        loaded.config.watch.gateways,
        [PathBuf::from("/home/alice/.openclaw")]
    );
    assert!(
        loaded.warnings.iter().any(|w| w.contains("agent `main`")),
        "the wider scope is pointed out: {:?}",
        loaded.warnings
    );

    for bad in [
        "/home/alice/.openclaw",
        "/home/alice/.openclaw/agents/main",
        "home/alice/.openclaw/agents/main/sessions",
        "/agents/main/sessions",
    ] {
        let e = load_env(&[("TRANSCRIPT_DIR", bad)]).expect_err(bad);
        let shown = e.to_string();
        assert!(shown.contains("TRANSCRIPT_DIR"), "{shown}");
        assert!(shown.contains(bad), "{shown}");
        assert!(shown.contains("<state>/agents/<agent>/sessions"), "{shown}");
    }
}

#[test]
fn sessions_json_names_its_gateway_and_agrees_with_transcript_dir() {
    let loaded = load_env(&[
        ("TRANSCRIPT_DIR", "/root/.openclaw/agents/main/sessions"),
        (
            "SESSIONS_JSON",
            "/root/.openclaw/agents/main/sessions/sessions.json",
        ),
    ])
    .expect("loads");
    assert_eq!(
        loaded.config.watch.gateways,
        [PathBuf::from("/root/.openclaw")]
    );
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("more than once")),
        "{:?}",
        loaded.warnings
    );

    let e = load_env(&[("SESSIONS_JSON", "/root/.openclaw/agents/main/sessions")])
        .expect_err("a dir is not sessions.json");
    assert!(e.to_string().contains("SESSIONS_JSON"), "{e}");
    assert!(e.to_string().contains("sessions.json"), "{e}");
}

#[test]
fn environment_replaces_the_file_gateways() {
    let text = "[watch]\ngateways = [\"/home/alice/.openclaw\"]\n";
    let env = env_of(&[("TRANSCRIPT_DIR", "/home/bob/.openclaw/agents/main/sessions")]);
    let c = load_text(text, &env).expect("loads").config;
    assert_eq!(c.watch.gateways, [PathBuf::from("/home/bob/.openclaw")]);
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let c = load_env(&[("MAX_STATUS_LINES", ""), ("MM_URL", "  ")])
        .expect("loads")
        .config;
    assert_eq!(c.render.max_status_lines, 20);
    assert!(c.mattermost.is_none());
}

#[test]
fn bad_numbers_in_the_environment_name_the_variable_and_range() {
    for (var, value) in [
        ("MAX_STATUS_LINES", "0"),
        ("MAX_STATUS_LINES", "501"),
        ("MAX_STATUS_LINES", "twenty"),
        ("THROTTLE_MS", "-1"),
        ("THROTTLE_MS", "60001"),
        ("IDLE_TIMEOUT_S", "1.5"),
        ("MAX_ACTIVE_SESSIONS", "99999999999999999999999"),
    ] {
        let e = load_env(&[(var, value)]).expect_err(value);
        let shown = e.to_string();
        assert!(shown.contains(var), "{shown}");
        assert!(shown.contains(value), "{shown}");
        assert!(shown.contains("..="), "the range is given: {shown}");
    }
    let shown = load_env(&[("MAX_STATUS_LINES", "0")])
        .expect_err("0")
        .to_string();
    assert!(shown.contains("1..=500"), "{shown}");
}

#[test]
fn an_unknown_key_names_itself_its_line_and_the_valid_keys() {
    let (e, shown) = err_text("[watch]\ntier = \"poll\"\n\n[render]\nmax_status_line = 30\n");
    let ConfigError::UnknownKey { key, at, .. } = &e else {
        panic!("expected UnknownKey, got {e:?}");
    };
    assert_eq!(key, "render.max_status_line");
    assert_eq!(*at, Position { line: 5, column: 1 });
    assert!(shown.contains(":5:1:"), "{shown}");
    for valid in ["max_status_lines", "max_message_chars", "tool_labels_file"] {
        assert!(shown.contains(valid), "{shown}");
    }

    let (e, shown) = err_text("[watcher]\ntier = \"poll\"\n");
    assert!(
        matches!(&e, ConfigError::UnknownKey { key, .. } if key == "watcher"),
        "{e:?}"
    );
    assert!(shown.contains("mattermost"), "lists the tables: {shown}");
}

#[test]
fn a_wrong_type_names_line_column_key_and_what_was_expected() {
    let (e, shown) = err_text("[render]\nmax_message_chars = 4000\nmax_status_lines = \"20\"\n");
    let ConfigError::WrongType { key, at, .. } = &e else {
        panic!("expected WrongType, got {e:?}");
    };
    assert_eq!(key, "render.max_status_lines");
    assert_eq!(
        *at,
        Position {
            line: 3,
            column: 20
        }
    );
    assert!(shown.contains("config.toml:3:20"), "{shown}");
    assert!(shown.contains("expected an integer"), "{shown}");

    let (_, shown) = err_text("[watch]\ngateways = \"/home/alice/.openclaw\"\n");
    assert!(
        shown.contains("watch.gateways") && shown.contains(":2:12"),
        "{shown}"
    );

    let (_, shown) = err_text("mattermost = 5\n");
    assert!(
        shown.contains("`mattermost`") && shown.contains("[mattermost]"),
        "{shown}"
    );

    let (_, shown) = err_text("[session]\nidle_timeout_s = 1979-05-27T07:32:00Z\n");
    assert!(
        shown.contains("session.idle_timeout_s") && shown.contains(":2:18"),
        "{shown}"
    );
}

#[test]
fn a_syntax_error_names_line_and_column() {
    let (e, shown) = err_text("[render]\nmax_status_lines = 20\nmax_message_chars = \n");
    let ConfigError::Syntax { at, key, .. } = &e else {
        panic!("expected Syntax, got {e:?}");
    };
    assert_eq!(at.line, 3, "{shown}");
    assert_eq!(key.as_deref(), Some("render.max_message_chars"), "{shown}");
    assert!(shown.contains("config.toml:3:"), "{shown}");
}

#[test]
fn bad_values_in_the_file_name_key_value_and_what_is_valid() {
    let cases: [(&str, &[&str]); 8] = [
        (
            "[watch]\nmax_host_cost = 0.9\n",
            &["watch.max_host_cost", "0.9", "1.0..=100.0"],
        ),
        (
            "[watch]\ntier = \"ebpf2\"\n",
            &[
                "watch.tier",
                "\"ebpf2\"",
                "auto, ebpf, fanotify, inotify, poll",
                ":2:1",
            ],
        ),
        (
            "[watch]\npoll_interval_ms = 50\n",
            &["watch.poll_interval_ms", "50", "100..=60000"],
        ),
        (
            "[session]\nidle_timeout_s = -5\n",
            &["session.idle_timeout_s", "-5", "1..=86400"],
        ),
        (
            "[watch]\ngateways = [\"/ok/.openclaw\", \".openclaw\"]\n",
            &["watch.gateways", "\".openclaw\"", "absolute"],
        ),
        (
            "[watch]\ngateways = [\"/home/a/.openclaw/agents/main/sessions\"]\n",
            &["watch.gateways", "/home/a/.openclaw)"],
        ),
        (
            "[mattermost]\nurl = \"chat.example.com\"\n",
            &["mattermost.url", "\"chat.example.com\"", "https://"],
        ),
        (
            "[mattermost]\nurl = \"https://mm.test\"\ndefault_channel = \"town-square\"\n",
            &["mattermost.default_channel", "town-square", "channel id"],
        ),
    ];
    let (e, shown) = err_text("[watch]\nmax_host_cost = \"1.05\"\n");
    assert!(matches!(e, ConfigError::WrongType { .. }), "{e:?}");
    assert!(
        shown.contains("watch.max_host_cost") && shown.contains(":2:"),
        "{shown}"
    );
    for (text, needles) in cases {
        let (e, shown) = err_text(text);
        assert!(matches!(e, ConfigError::Value { .. }), "{e:?}");
        for needle in needles {
            assert!(shown.contains(needle), "{needle:?} missing from: {shown}");
        }
    }
}

#[test]
fn urls_with_credentials_queries_or_bad_ports_are_refused() {
    for url in [
        "https://user:pw@mm.test",
        "https://mm.test/?x=1",
        "https://mm.test:0",
        "https://mm.test:http",
        "https://",
        "ftp://mm.test",
    ] {
        let e = load_env(&[("MM_URL", url)]).expect_err(url);
        assert!(e.to_string().contains("MM_URL"), "{e}");
    }
    for url in [
        "http://localhost:8065",
        "https://[::1]:8065/mm",
        "https://mm.test/chat/",
    ] {
        let loaded = load_env(&[("MM_URL", url)]).expect(url);
        assert!(loaded.warnings.is_empty(), "{url}: {:?}", loaded.warnings);
    }
    let loaded = load_env(&[("MM_URL", "http://chat.example.com")]).expect("plain http works");
    assert!(loaded.warnings.iter().any(|w| w.contains("plain http")));
}

#[test]
fn a_mattermost_table_without_url_is_an_error_and_stray_variables_a_warning() {
    let (e, shown) = err_text("[mattermost]\ntoken_file = \"/etc/tok\"\n");
    assert!(matches!(e, ConfigError::Missing { .. }), "{e:?}");
    assert!(
        shown.contains("mattermost.url") && shown.contains(":1:"),
        "{shown}"
    );

    // The URL may come from a later source than the rest of the table.
    let c = load_text(
        "[mattermost]\ntoken_file = \"/etc/tok\"\n",
        &env_of(&[("MM_URL", "https://mm.test")]),
    )
    .expect("MM_URL completes the table")
    .config;
    assert_eq!(
        c.mattermost.map(|m| m.url).as_deref(),
        Some("https://mm.test")
    );

    let e = load_env(&[("MM_TOKEN", TOKEN)]).expect_err("a token without a server");
    assert!(
        e.to_string().contains("MM_TOKEN") && !e.to_string().contains(TOKEN),
        "{e}"
    );

    let loaded = load_env(&[("THROTTLE_MS", "100")]).expect("harmless");
    assert!(loaded.config.mattermost.is_none());
    assert!(
        loaded.warnings.iter().any(|w| w.contains("THROTTLE_MS")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn log_levels_are_level_names_or_real_directives() {
    for ok in [
        "info",
        "WARN",
        "off",
        "livestatus=trace",
        "warn,livestatus::sink=debug",
    ] {
        load_env(&[("LOG_LEVEL", ok)]).expect(ok);
    }
    for bad in ["inf", "verbose", "livestatus=loud"] {
        let e = load_env(&[("LOG_LEVEL", bad)]).expect_err(bad);
        assert!(e.to_string().contains("LOG_LEVEL"), "{e}");
    }
    let (_, shown) = err_text("[service]\nlog_level = \"inf\"\n");
    assert!(
        shown.contains("service.log_level") && shown.contains("\"inf\""),
        "{shown}"
    );
}

#[test]
fn tokens_never_show_in_debug_toml_warnings_or_errors() {
    let text = format!("[mattermost]\nurl = \"https://mm.test\"\ntoken = \"{TOKEN}\"\n");
    let file = write_config(&text);
    fs::set_permissions(&file.path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let loaded = load(ConfigSource::Explicit(&file.path), &no_env()).expect("literal allowed");
    let m = loaded.config.mattermost.as_ref().expect("mattermost");
    assert_eq!(m.token.as_ref().map(Secret::expose), Some(TOKEN));
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("readable by every user")),
        "{:?}",
        loaded.warnings
    );

    let from_env = load_env(&[("MM_URL", "https://mm.test"), ("MM_TOKEN", TOKEN)])
        .expect("loads")
        .config;
    for config in [&loaded.config, &from_env] {
        let debug = format!("{config:?} {config:#?}");
        let toml = config.to_toml_redacted();
        assert!(
            !debug.contains(TOKEN) && debug.contains(REDACTED),
            "{debug}"
        );
        assert!(!toml.contains(TOKEN) && toml.contains(REDACTED), "{toml}");
    }
    assert!(!format!("{:?}", loaded.warnings).contains(TOKEN));
    assert_eq!(Secret::new(TOKEN).to_string(), REDACTED);

    let bad = load_env(&[("MM_URL", "https://mm.test"), ("MM_TOKEN", "abc def")])
        .expect_err("a token with a space");
    assert!(!bad.to_string().contains("abc"), "{bad}");
}

#[test]
fn a_token_literal_in_a_private_file_is_still_pointed_out() {
    let text = format!("[mattermost]\nurl = \"https://mm.test\"\ntoken = \"{TOKEN}\"\n");
    let loaded = load_text(&text, &no_env()).expect("loads");
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("literal") && w.contains("token_file")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn the_effective_toml_loads_back_to_the_same_config() {
    let env = env_of(&[
        ("MAX_STATUS_LINES", "33"),
        ("LOG_LEVEL", "warn,livestatus=debug"),
    ]);
    let first = load_text(FULL, &env).expect("loads").config;
    let printed = first.to_toml_redacted();
    let again = load_text(&printed, &no_env())
        .expect("printed config loads")
        .config;
    assert_eq!(again, first, "{printed}");

    let defaults = Config::default();
    let again = load_text(&defaults.to_toml_redacted(), &no_env())
        .expect("loads")
        .config;
    assert_eq!(again, defaults);

    // A literal token cannot come back; its placeholder is ignored, with a word why.
    let with_token = load_env(&[("MM_URL", "https://mm.test"), ("MM_TOKEN", TOKEN)])
        .expect("loads")
        .config;
    let reloaded = load_text(&with_token.to_toml_redacted(), &no_env()).expect("loads");
    let mut expected = with_token.clone();
    if let Some(m) = &mut expected.mattermost {
        m.token = None;
    }
    assert_eq!(reloaded.config, expected);
    assert!(reloaded.warnings.iter().any(|w| w.contains("placeholder")));
}

#[test]
fn the_effective_toml_escapes_strings() {
    let mut config = Config::default();
    config.watch.gateways = vec![PathBuf::from("/home/o\"brien/.openclaw")];
    config.render.tool_labels_file = Some(PathBuf::from("/etc/la\\bels.json"));
    let again = load_text(&config.to_toml_redacted(), &no_env())
        .expect("loads")
        .config;
    assert_eq!(again, config);
}

#[test]
fn read_token_prefers_the_literal_then_the_file_then_the_credential() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("bot-token");
    fs::write(&token_file, format!("{TOKEN}\n")).expect("write");
    let creds = dir.path().join("creds");
    fs::create_dir(&creds).expect("mkdir");
    fs::write(creds.join(TOKEN_CREDENTIAL), "fromcredential\r\n").expect("write");

    let mut m = MattermostConfig::new("https://mm.test");
    m.token = Some(Secret::new("literal"));
    m.token_file = Some(token_file.clone());
    assert_eq!(
        m.read_token(Some(&creds)).expect("literal").expose(),
        "literal"
    );

    m.token = None;
    assert_eq!(m.read_token(Some(&creds)).expect("file").expose(), TOKEN);

    m.token_file = None;
    assert_eq!(
        m.read_token(Some(&creds)).expect("credential").expose(),
        "fromcredential"
    );

    let e = m
        .read_token(Some(&dir.path().join("empty-creds")))
        .expect_err("none");
    assert!(matches!(e, ConfigError::NoToken { .. }), "{e:?}");
    let e = m.read_token(None).expect_err("none");
    assert!(e.to_string().contains("CREDENTIALS_DIRECTORY"), "{e}");

    m.token_file = Some(dir.path().join("missing-token"));
    let e = m
        .read_token(Some(&creds))
        .expect_err("named file must exist");
    assert!(matches!(e, ConfigError::TokenRead { .. }), "{e:?}");
}

#[test]
fn read_token_refuses_empty_or_malformed_files_without_echoing_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = MattermostConfig::new("https://mm.test");
    for (name, content) in [
        ("empty", "\n"),
        ("two-words", "sec ret\n"),
        ("binary", "\u{0}\u{1}"),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, content).expect("write");
        m.token_file = Some(path);
        let e = m.read_token(None).expect_err(name);
        assert!(matches!(e, ConfigError::BadToken { .. }), "{name}: {e:?}");
        assert!(!e.to_string().contains("sec"), "{e}");
    }
    let big = dir.path().join("big");
    fs::write(&big, "a".repeat(10_000)).expect("write");
    m.token_file = Some(big);
    assert!(m.read_token(None).is_err());
}

#[test]
fn tier_choice_parses_and_prints_its_names() {
    for tier in TierChoice::ALL {
        assert_eq!(tier.to_string().parse::<TierChoice>(), Ok(tier));
    }
    assert_eq!(
        "Poll".parse::<TierChoice>(),
        Ok(TierChoice::Only(TierKind::Poll))
    );
    let e = "ebpf2".parse::<TierChoice>().expect_err("unknown");
    assert_eq!(
        e.to_string(),
        "unknown watch tier \"ebpf2\": expected one of auto, ebpf, fanotify, inotify, poll"
    );
    assert_eq!(
        "FANOTIFY".parse::<TierChoice>(),
        Ok(TierChoice::Only(TierKind::Fanotify))
    );
}

#[test]
fn validate_rechecks_values_the_cli_changed() {
    let mut config = Config::default();
    config.render.max_status_lines = 0;
    let e = config.validate().expect_err("0 lines");
    assert!(e.to_string().contains("render.max_status_lines"), "{e}");

    let mut config = Config::default();
    let mut m = MattermostConfig::new("https://mm.test/");
    m.token_file = Some(PathBuf::from("/run/tok/"));
    config.mattermost = Some(m);
    config.watch.gateways = vec![PathBuf::from("/home/a/./.openclaw/")];
    config.validate().expect("valid");
    let m = config.mattermost.expect("mattermost");
    assert_eq!(m.url, "https://mm.test");
    assert_eq!(config.watch.gateways, [PathBuf::from("/home/a/.openclaw")]);

    let mut config = Config::default();
    config.watch.gateways = vec![PathBuf::from("relative")];
    assert!(config.validate().is_err());
}

#[test]
fn duplicate_gateways_collapse_with_a_warning() {
    let text = "[watch]\ngateways = [\"/root/.openclaw\", \"/root/.openclaw/\"]\n";
    let loaded = load_text(text, &no_env()).expect("loads");
    assert_eq!(
        loaded.config.watch.gateways,
        [PathBuf::from("/root/.openclaw")]
    );
    assert!(loaded.warnings.iter().any(|w| w.contains("more than once")));
}

#[test]
fn the_documentation_covers_every_key_and_variable() {
    let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md"));
    assert_eq!(
        keys::undocumented(doc),
        Vec::<String>::new(),
        "docs/config.md lacks them"
    );
    // Every key is printed by check-config (literal secrets only when set).
    let printed = Config {
        mattermost: Some(MattermostConfig::new("https://mm.test")),
        ..Config::default()
    }
    .to_toml_redacted();
    for key in KEYS {
        let (table, name) = key.split();
        // Literal secrets are printed (redacted) only when set.
        if ![
            "mattermost.token",
            "mattermost.plugin_secret",
            "api.secret",
            "uploader.token",
        ]
        .contains(&key.name)
        {
            assert!(printed.contains(&format!("[{table}]")), "{table}");
            assert!(
                printed.contains(&format!("\n{name} = ")),
                "{} not printed",
                key.name
            );
        }
    }
}

const ACCOUNTS: &str = r#"
[mattermost]
url = "https://chat.example.com"
token_file = "/etc/openclaw-livestatus/bot-token"

[mattermost.accounts.alerts]
url = "https://alerts.example.com/"
token_file = "/etc/openclaw-livestatus/alerts-token"

[mattermost.accounts.ops-2]
token_file = ""
"#;

#[test]
fn named_accounts_load_and_inherit_the_top_level_url() {
    let loaded = load_text(ACCOUNTS, &no_env()).expect("accounts load");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let m = loaded.config.mattermost.expect("mattermost");
    assert_eq!(m.account_ids(), ["default", "alerts", "ops-2"]);
    let alerts = &m.accounts["alerts"];
    assert_eq!(alerts.url.as_deref(), Some("https://alerts.example.com"));
    assert_eq!(
        alerts.token_file.as_deref(),
        Some(Path::new("/etc/openclaw-livestatus/alerts-token"))
    );
    assert_eq!(m.accounts["ops-2"], MattermostAccountConfig::default());
    assert_eq!(m.account_url("default"), Some("https://chat.example.com"));
    assert_eq!(m.account_url("alerts"), Some("https://alerts.example.com"));
    assert_eq!(m.account_url("ops-2"), Some("https://chat.example.com"));
    assert_eq!(m.account_url("nope"), None);
}

#[test]
fn accounts_alone_make_the_top_level_url_optional() {
    let text = "[mattermost]\ndefault_channel = \"abcdefghijklmnopqrstuvwxyz\"\n\
                [mattermost.accounts.work]\nurl = \"https://work.example.com\"\n";
    let loaded = load_text(text, &no_env()).expect("accounts without a top-level url");
    let m = loaded.config.mattermost.clone().expect("mattermost");
    assert_eq!(m.url, "");
    assert_eq!(m.account_ids(), ["work"]);
    assert_eq!(m.account_url("default"), None);
    assert_eq!(m.account_url("work"), Some("https://work.example.com"));

    // A top-level token then belongs to no account, and is not handed to the named ones.
    let text = format!(
        "[mattermost]\ntoken = \"{TOKEN}\"\n[mattermost.accounts.work]\nurl = \"https://w.test\"\n"
    );
    let loaded = load_text(&text, &no_env()).expect("loads");
    let m = loaded.config.mattermost.expect("mattermost");
    assert_eq!(m.token, None);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("no configured account `default`")),
        "{:?}",
        loaded.warnings
    );
    assert!(!format!("{:?}", loaded.warnings).contains(TOKEN));
}

#[test]
fn account_errors_name_file_line_and_key() {
    let cases: [(&str, &[&str]); 6] = [
        (
            "[mattermost]\nurl = \"https://m.test\"\n[mattermost.accounts.\"Bad Id\"]\nurl = \"https://x.test\"\n",
            &[
                "config.toml:3:",
                "mattermost.accounts",
                "\"Bad Id\"",
                "lowercase",
            ],
        ),
        (
            "[mattermost.accounts.work]\ntoken_file = \"/etc/tok\"\n",
            &["config.toml:1:", "mattermost.accounts.work has no url"],
        ),
        (
            "[mattermost]\nurl = \"https://m.test\"\n[mattermost.accounts.default]\ntoken_file = \"/t\"\n",
            &["config.toml:3:", "already are the account `default`"],
        ),
        (
            "[mattermost.accounts.work]\nurl = \"work.example.com\"\n",
            &["config.toml:2:", "mattermost.accounts.work.url", "https://"],
        ),
        (
            "[mattermost.accounts.work]\nurl = \"https://w.test\"\ntoken_file = \"relative\"\n",
            &[
                "config.toml:3:",
                "mattermost.accounts.work.token_file",
                "absolute",
            ],
        ),
        (
            "[mattermost.accounts.work]\nurl = \"https://w.test\"\ntoken = \"a b\"\n",
            &["mattermost.accounts.work.token", "whitespace"],
        ),
    ];
    for (text, needles) in cases {
        let (_, shown) = err_text(text);
        for needle in needles {
            assert!(shown.contains(needle), "{needle:?} missing from: {shown}");
        }
        assert!(!shown.contains("a b"), "{shown}");
    }

    let (e, shown) = err_text("[mattermost.accounts.work]\nurl = \"https://w.test\"\nbogus = 1\n");
    assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e:?}");
    assert!(
        shown.contains("mattermost.accounts.work.bogus")
            && shown.contains(":3:")
            && shown.contains("token_file"),
        "{shown}"
    );
    let (e, shown) = err_text("[mattermost.accounts.work]\nurl = 5\n");
    assert!(matches!(e, ConfigError::WrongType { .. }), "{e:?}");
    assert!(shown.contains("mattermost.accounts.work.url"), "{shown}");
    let (e, shown) = err_text("[mattermost]\naccounts = 5\n");
    assert!(matches!(e, ConfigError::WrongType { .. }), "{e:?}");
    assert!(shown.contains("mattermost.accounts"), "{shown}");
    let (e, shown) =
        err_text("[mattermost.accounts.work]\nurl = \"https://w.test\"\ntoken_file = \n");
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e:?}");
    assert!(
        shown.contains("mattermost.accounts.work.token_file"),
        "{shown}"
    );
}

#[test]
fn account_token_literals_are_warned_about_and_never_shown() {
    let text =
        format!("[mattermost.accounts.work]\nurl = \"https://w.test\"\ntoken = \"{TOKEN}\"\n");
    let file = write_config(&text);
    fs::set_permissions(&file.path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let loaded = load(ConfigSource::Explicit(&file.path), &no_env()).expect("loads");
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("mattermost.accounts.work.token")
                && w.contains("readable by every user")
                && w.contains("mattermost-token-work")),
        "{:?}",
        loaded.warnings
    );
    let config = loaded.config;
    let toml = config.to_toml_redacted();
    let debug = format!("{config:?}");
    assert!(
        !toml.contains(TOKEN) && !debug.contains(TOKEN),
        "{toml}\n{debug}"
    );
    let m = config.mattermost.expect("mattermost");
    let (token, source) = m.account_token("work", None).expect("literal");
    assert_eq!((token.expose(), source), (TOKEN, TOKEN_SOURCE_LITERAL));
}

#[test]
fn account_tokens_come_from_the_literal_the_file_or_a_credential_of_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let creds = dir.path().join("creds");
    fs::create_dir(&creds).expect("mkdir");
    fs::write(creds.join("mattermost-token"), "topcredential\n").expect("write");
    fs::write(creds.join("mattermost-token-work"), "workcredential\n").expect("write");
    let file = dir.path().join("tok");
    fs::write(&file, "fromfile\n").expect("write");

    let mut m = MattermostConfig::new("https://mm.test");
    m.accounts
        .insert("work".to_owned(), MattermostAccountConfig::default());
    let (t, s) = m.account_token("default", Some(&creds)).expect("top level");
    assert_eq!((t.expose(), s), ("topcredential", TOKEN_SOURCE_CREDENTIAL));
    let (t, s) = m
        .account_token("work", Some(&creds))
        .expect("own credential");
    assert_eq!((t.expose(), s), ("workcredential", TOKEN_SOURCE_CREDENTIAL));

    let work = m.accounts.get_mut("work").expect("work");
    work.token_file = Some(file);
    let (t, s) = m.account_token("work", Some(&creds)).expect("file");
    assert_eq!((t.expose(), s), ("fromfile", TOKEN_SOURCE_FILE));

    m.accounts
        .insert("bare".to_owned(), MattermostAccountConfig::default());
    let e = m.account_token("bare", Some(&creds)).expect_err("no token");
    assert!(matches!(e, ConfigError::NoAccountToken { .. }), "{e:?}");
    assert!(e.to_string().contains("mattermost-token-bare"), "{e}");
    let e = m.account_token("bare", None).expect_err("no token");
    assert!(e.to_string().contains("CREDENTIALS_DIRECTORY"), "{e}");
    assert!(m.account_token("unknown", Some(&creds)).is_err());
}

#[test]
fn accounts_survive_the_effective_toml_round_trip() {
    let first = load_text(ACCOUNTS, &no_env()).expect("loads").config;
    let printed = first.to_toml_redacted();
    let again = load_text(&printed, &no_env())
        .expect("printed config loads")
        .config;
    assert_eq!(again, first, "{printed}");

    let only_named = "[mattermost.accounts.work]\nurl = \"https://w.test\"\n";
    let first = load_text(only_named, &no_env()).expect("loads").config;
    let printed = first.to_toml_redacted();
    assert!(!printed.contains("\nurl = \"\""), "{printed}");
    let again = load_text(&printed, &no_env()).expect("loads").config;
    assert_eq!(again, first, "{printed}");
}

#[test]
fn validate_rechecks_accounts_the_cli_may_have_changed() {
    let mut config = Config::default();
    let mut m = MattermostConfig::new("");
    m.accounts.insert(
        "work".to_owned(),
        MattermostAccountConfig {
            url: Some("https://w.test/".to_owned()),
            ..MattermostAccountConfig::default()
        },
    );
    config.mattermost = Some(m.clone());
    config.validate().expect("accounts without a top-level url");
    let url = config
        .mattermost
        .as_ref()
        .and_then(|m| m.accounts["work"].url.clone());
    assert_eq!(url.as_deref(), Some("https://w.test"));

    for broken in [
        {
            let mut m = m.clone();
            m.accounts
                .insert("Bad".to_owned(), MattermostAccountConfig::default());
            m
        },
        {
            let mut m = m.clone();
            m.accounts
                .insert("orphan".to_owned(), MattermostAccountConfig::default());
            m
        },
        {
            let mut m = m.clone();
            m.url = "https://m.test".to_owned();
            m.accounts
                .insert("default".to_owned(), MattermostAccountConfig::default());
            m
        },
        {
            let mut m = m.clone();
            if let Some(a) = m.accounts.get_mut("work") {
                a.token_file = Some(PathBuf::from("rel"));
            }
            m
        },
        MattermostConfig::new(""),
    ] {
        let mut config = Config {
            mattermost: Some(broken.clone()),
            ..Config::default()
        };
        assert!(config.validate().is_err(), "{broken:?}");
    }
}

#[test]
fn the_documentation_covers_the_account_keys() {
    let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md"));
    for key in [
        "mattermost.accounts.<id>",
        "mattermost.accounts.<id>.url",
        "mattermost.accounts.<id>.token",
        "mattermost.accounts.<id>.token_file",
        "mattermost-token-<id>",
    ] {
        assert!(
            doc.contains(&format!("`{key}`")),
            "docs/config.md lacks {key}"
        );
    }
}
