//! `[api]` and `[uploader]`: values, defaults, errors that say where and what to do, secrets.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;

fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    fs::write(&path, text).expect("write config");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    load(ConfigSource::Explicit(&path), &lookup)
}

#[test]
fn the_api_listens_on_loopback_9090_by_default_with_eight_sessions() {
    let c = load_str("", &[]).expect("loads").config;
    assert_eq!(c.api.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.api.max_concurrent, 8);
    assert_eq!(c.api.secret, None);
    assert_eq!(c.uploader.url, None);
    assert_eq!(c.uploader.interval_minutes, 5);
}

#[test]
fn listen_takes_an_address_a_unix_socket_or_off() {
    let c = load_str(
        "[api]\nlisten = \"unix:/run/openclaw-livestatus/api.sock\"\nmax_concurrent = 3\n",
        &[],
    )
    .expect("loads")
    .config;
    assert_eq!(
        c.api.listen,
        Listen::Unix("/run/openclaw-livestatus/api.sock".into())
    );
    assert_eq!(c.api.max_concurrent, 3);
    let c = load_str("[api]\nlisten = \"off\"\n", &[])
        .expect("loads")
        .config;
    assert_eq!(c.api.listen, Listen::Off);
    let c = load_str("[api]\nlisten = \"[::1]:9191\"\n", &[])
        .expect("loads")
        .config;
    assert_eq!(c.api.listen.to_string(), "[::1]:9191");
}

#[test]
fn a_bad_listen_value_names_file_line_key_and_the_accepted_forms() {
    for bad in [
        "localhost",
        "unix:relative.sock",
        "127.0.0.1",
        "unix:/a/../b",
    ] {
        let text = format!("\n[api]\nlisten = \"{bad}\"\n");
        let e = load_str(&text, &[]).expect_err("refused").to_string();
        assert!(e.contains("config.toml:3:1"), "{e}");
        assert!(e.contains("`api.listen`"), "{e}");
        assert!(
            e.contains("127.0.0.1:9090") && e.contains("unix:") && e.contains("off"),
            "{e}"
        );
    }
    let e = load_str("[api]\nmax_concurrent = 0\n", &[])
        .expect_err("refused")
        .to_string();
    assert!(e.contains("`api.max_concurrent` = 0"), "{e}");
    let e = load_str("[api]\nport = 1\n", &[])
        .expect_err("refused")
        .to_string();
    assert!(e.contains("unknown key `api.port`"), "{e}");
}

#[test]
fn the_old_health_port_maps_to_a_loopback_listener_and_a_bad_one_is_named() {
    let c = load_str("", &[("HEALTH_PORT", "9393")])
        .expect("loads")
        .config;
    assert_eq!(c.api.listen.to_string(), "127.0.0.1:9393");
    let e = load_str("", &[("HEALTH_PORT", "http")])
        .expect_err("refused")
        .to_string();
    assert!(e.contains("HEALTH_PORT") && e.contains("api.listen"), "{e}");
    let e = load_str("", &[("HEALTH_PORT", "70000")])
        .expect_err("refused")
        .to_string();
    assert!(e.contains("HEALTH_PORT"), "{e}");
}

#[test]
fn the_api_secret_comes_from_the_literal_the_file_or_the_credential_and_never_shows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("secret");
    fs::write(&file, "from-file-secret\n").expect("write");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).expect("chmod");
    let text = format!("[api]\nsecret_file = \"{}\"\n", file.display());
    let c = load_str(&text, &[]).expect("loads").config;
    let secret = c.api.read_secret(None).expect("reads").expect("set");
    assert_eq!(secret.expose(), "from-file-secret");

    let creds = tempfile::tempdir().expect("tempdir");
    let cred = creds.path().join(API_SECRET_CREDENTIAL);
    fs::write(&cred, "cred-secret").expect("write");
    fs::set_permissions(&cred, fs::Permissions::from_mode(0o600)).expect("chmod");
    let c = load_str("", &[]).expect("loads").config;
    let secret = c.api.read_secret(Some(creds.path())).expect("reads");
    assert_eq!(secret.as_ref().map(Secret::expose), Some("cred-secret"));
    assert_eq!(c.api.read_secret(None).expect("reads"), None);

    let c = load_str("[api]\nsecret = \"literal-secret-1\"\n", &[])
        .expect("loads")
        .config;
    let printed = c.to_toml_redacted();
    assert!(!printed.contains("literal-secret-1"), "{printed}");
    assert!(!format!("{c:?}").contains("literal-secret-1"));
    assert_eq!(
        load_str(&printed, &[])
            .expect("printed config loads")
            .config
            .api
            .secret,
        None,
        "the redacted placeholder is not a secret"
    );

    let e = load_str("[api]\nsecret = \"two words\"\n", &[]).expect_err("refused");
    assert!(matches!(e, ConfigError::BadSecret { .. }), "{e}");
    assert!(!e.to_string().contains("two words"), "{e}");
    let missing = Path::new("/nonexistent/api-secret");
    let c = ApiConfig {
        secret_file: Some(missing.to_path_buf()),
        ..ApiConfig::default()
    };
    let e = c.read_secret(None).expect_err("a named file must exist");
    assert!(e.to_string().contains("/nonexistent/api-secret"), "{e}");
}

#[test]
fn the_uploader_takes_its_url_interval_and_token_in_order() {
    let text =
        "[uploader]\nurl = \"https://monitor.example.com/api/agents/\"\ninterval_minutes = 2\n";
    let c = load_str(text, &[]).expect("loads").config;
    assert_eq!(
        c.uploader.url.as_deref(),
        Some("https://monitor.example.com/api/agents")
    );
    assert_eq!(c.uploader.interval().as_secs(), 120);
    let env = |name: &str| (name == MONITOR_TOKEN_ENV).then(|| "env-token".to_owned());
    let token = c.uploader.read_token(None, &env).expect("reads");
    assert_eq!(token.as_ref().map(Secret::expose), Some("env-token"));
    let none = |_: &str| None;
    assert_eq!(c.uploader.read_token(None, &none).expect("reads"), None);
    let with_literal = UploaderConfig {
        token: Some(Secret::new("literal")),
        ..c.uploader.clone()
    };
    let token = with_literal.read_token(None, &env).expect("reads");
    assert_eq!(token.as_ref().map(Secret::expose), Some("literal"));

    let e = load_str("[uploader]\nurl = \"ftp://x\"\n", &[])
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("`uploader.url`") && e.contains("https://"),
        "{e}"
    );
    let e = load_str("[uploader]\ninterval_minutes = 0\n", &[])
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("`uploader.interval_minutes` = 0") && e.contains("1..=1440"),
        "{e}"
    );
}

#[test]
fn api_and_uploader_survive_the_effective_toml_round_trip() {
    let text = "[api]\nlisten = \"unix:/run/x/api.sock\"\nmax_concurrent = 12\n\
                [uploader]\nurl = \"https://m.test/sync\"\ninterval_minutes = 7\n\
                token_file = \"/etc/openclaw-livestatus/uploader-token\"\n";
    let first = load_str(text, &[]).expect("loads").config;
    let printed = first.to_toml_redacted();
    let again = load_str(&printed, &[])
        .expect("printed config loads")
        .config;
    assert_eq!(again, first, "{printed}");
}
