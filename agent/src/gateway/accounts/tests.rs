use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::gateway::openclaw_config::{SOURCE_ENV, SOURCE_LITERAL};
use crate::service::config::{
    MattermostAccountConfig, MattermostConfig, Secret, TOKEN_SOURCE_CREDENTIAL, TOKEN_SOURCE_FILE,
};

const FIXTURE_URL: &str = "http://127.0.0.1:18065";
const FIXTURE_TOKEN: &str = "fake-mm-bot-token-not-secret";

fn fixture_gateway() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/openclaw/2026.7.1/c_dm")
}

fn state_with(config: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join(".openclaw");
    fs::create_dir(&state).expect("mkdir");
    fs::write(state.join(GATEWAY_CONFIG), config).expect("write");
    (tmp, state)
}

fn mm_config(url: &str, token: &str) -> MattermostConfig {
    let mut m = MattermostConfig::new(url);
    m.token = Some(Secret::new(token));
    m
}

fn token_of(book: &dyn AccountBook, gateway: &Path, id: &str) -> Option<String> {
    book.account(gateway, id)
        .map(|a| a.token.expose().to_owned())
}

#[test]
fn a_host_with_configured_gateways_needs_no_config() {
    let book = AccountDirectory::new(Vec::new());
    let gateway = fixture_gateway();
    assert_eq!(
        book.account(&gateway, "default"),
        Some(Account {
            base_url: FIXTURE_URL.to_owned(),
            token: Secret::new(FIXTURE_TOKEN),
        })
    );
    assert_eq!(book.account(&gateway, "other"), None);
    assert_eq!(
        book.account(Path::new("/nonexistent/.openclaw"), "default"),
        None
    );
    let described = book.describe();
    assert_eq!(
        described,
        vec![(
            gateway.display().to_string(),
            "default".to_owned(),
            FIXTURE_URL.to_owned(),
            SOURCE_LITERAL
        )]
    );
    assert!(!format!("{described:?}").contains(FIXTURE_TOKEN));
}

#[test]
fn the_configs_account_wins_over_the_gateways_own() {
    let mut m = mm_config("https://admin.example.com", "admintoken");
    m.accounts.insert(
        "alerts".to_owned(),
        MattermostAccountConfig {
            url: Some("https://alerts.example.com".to_owned()),
            token: Some(Secret::new("alerttoken")),
            token_file: None,
            ..MattermostAccountConfig::default()
        },
    );
    let book = AccountDirectory::new(m.configured_accounts(None).expect("tokens"));
    let (_tmp, state) = state_with(
        r#"{ channels: { mattermost: { baseUrl: "https://gw.example.com", accounts: {
            default: { botToken: "gwdefault" }, alerts: { botToken: "gwalerts" },
            work: { botToken: "gwwork" } } } } }"#,
    );
    assert_eq!(
        token_of(&book, &state, "default").as_deref(),
        Some("admintoken")
    );
    assert_eq!(
        token_of(&book, &state, "ALERTS ").as_deref(),
        Some("alerttoken")
    );
    let work = book.account(&state, "work").expect("gateway's own account");
    assert_eq!(
        (work.base_url.as_str(), work.token.expose()),
        ("https://gw.example.com", "gwwork")
    );
    // The config's accounts serve every gateway, even one without a config of its own.
    assert_eq!(
        token_of(&book, Path::new("/nonexistent"), "alerts").as_deref(),
        Some("alerttoken")
    );

    let described = book.describe();
    let rows: Vec<(&str, &str, &str)> = described
        .iter()
        .map(|(g, id, _, source)| (g.as_str(), id.as_str(), *source))
        .collect();
    let gw = state.display().to_string();
    assert_eq!(
        rows,
        vec![
            ("config", "alerts", "config token"),
            ("config", "default", "config token"),
            (gw.as_str(), "alerts", SOURCE_LITERAL),
            (gw.as_str(), "default", SOURCE_LITERAL),
            (gw.as_str(), "work", SOURCE_LITERAL),
        ]
    );
    let shown = format!("{described:?}");
    for secret in ["admintoken", "alerttoken", "gwwork", "gwdefault"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn configured_tokens_come_from_files_and_credentials_and_must_exist() {
    let tmp = tempfile::tempdir().expect("tmp");
    let creds = tmp.path().join("creds");
    fs::create_dir(&creds).expect("mkdir");
    fs::write(creds.join("mattermost-token"), "defaultcred\n").expect("write");
    fs::write(creds.join("mattermost-token-ops"), "opscred\n").expect("write");
    let file = tmp.path().join("alerts-token");
    fs::write(&file, "alertsfile\n").expect("write");

    let mut m = MattermostConfig::new("https://mm.test");
    m.accounts
        .insert("ops".to_owned(), MattermostAccountConfig::default());
    m.accounts.insert(
        "alerts".to_owned(),
        MattermostAccountConfig {
            token_file: Some(file),
            ..MattermostAccountConfig::default()
        },
    );
    let book = AccountDirectory::new(m.configured_accounts(Some(&creds)).expect("tokens"));
    let nowhere = Path::new("/nonexistent");
    assert_eq!(
        token_of(&book, nowhere, "default").as_deref(),
        Some("defaultcred")
    );
    assert_eq!(token_of(&book, nowhere, "ops").as_deref(), Some("opscred"));
    assert_eq!(
        token_of(&book, nowhere, "alerts").as_deref(),
        Some("alertsfile")
    );
    let ops_url = book.account(nowhere, "ops").map(|a| a.base_url);
    assert_eq!(
        ops_url.as_deref(),
        Some("https://mm.test"),
        "url is inherited"
    );
    let sources: Vec<&str> = book.describe().iter().map(|row| row.3).collect();
    assert_eq!(
        sources,
        [
            TOKEN_SOURCE_FILE,
            TOKEN_SOURCE_CREDENTIAL,
            TOKEN_SOURCE_CREDENTIAL
        ]
    );

    fs::remove_file(creds.join("mattermost-token-ops")).expect("rm");
    let e = m
        .configured_accounts(Some(&creds))
        .expect_err("an account without a token");
    let shown = e.to_string();
    assert!(
        shown.contains("`ops`") && shown.contains("mattermost-token-ops"),
        "{shown}"
    );
}

#[test]
fn a_changed_gateway_config_is_read_again() {
    let book = AccountDirectory::new(Vec::new()).checking_every_lookup();
    let (_tmp, state) = state_with(
        r#"{ channels: { mattermost: { baseUrl: "https://m.test", botToken: "first" } } }"#,
    );
    assert_eq!(token_of(&book, &state, "default").as_deref(), Some("first"));

    // Rewritten the way OpenClaw does it: a new file renamed over the old one.
    let tmp_file = state.join("openclaw.json.tmp");
    fs::write(
        &tmp_file,
        r#"{ channels: { mattermost: { baseUrl: "https://m.test", botToken: "second" } } }"#,
    )
    .expect("write");
    fs::rename(&tmp_file, state.join(GATEWAY_CONFIG)).expect("rename");
    assert_eq!(
        token_of(&book, &state, "default").as_deref(),
        Some("second")
    );

    // What the stat cannot see (a referenced .env) shows after reload / invalidate.
    fs::write(
        state.join(GATEWAY_CONFIG),
        r#"{ channels: { mattermost: { baseUrl: "https://m.test", botToken: "${TOK}" } } }"#,
    )
    .expect("write");
    book.invalidate(&state);
    assert_eq!(token_of(&book, &state, "default"), None);
    fs::write(state.join(".env"), "TOK=third\n").expect("write");
    assert_eq!(token_of(&book, &state, "default"), None, "still cached");
    book.reload();
    assert_eq!(token_of(&book, &state, "default").as_deref(), Some("third"));
    let source = book.describe().first().map(|row| row.3);
    assert_eq!(source, Some(SOURCE_ENV));
}

#[test]
fn a_broken_rewrite_keeps_the_last_good_accounts_and_a_removed_config_drops_them() {
    let book = AccountDirectory::new(Vec::new()).checking_every_lookup();
    let (_tmp, state) = state_with(
        r#"{ channels: { mattermost: { baseUrl: "https://m.test", botToken: "good" } } }"#,
    );
    assert_eq!(token_of(&book, &state, "default").as_deref(), Some("good"));
    fs::write(state.join(GATEWAY_CONFIG), "{ channels: ").expect("write");
    book.prime(&state);
    assert_eq!(token_of(&book, &state, "default").as_deref(), Some("good"));
    fs::remove_file(state.join(GATEWAY_CONFIG)).expect("rm");
    assert_eq!(token_of(&book, &state, "default"), None);
}

#[test]
fn prime_lists_a_gateway_before_its_first_session() {
    let book = AccountDirectory::new(Vec::new());
    assert!(book.describe().is_empty());
    book.prime(&fixture_gateway());
    assert_eq!(book.describe().len(), 1);
}

#[test]
fn the_directory_is_shared_across_threads() {
    fn shareable<T: AccountBook>() {}
    shareable::<AccountDirectory>();
    let book = std::sync::Arc::new(AccountDirectory::new(Vec::new()));
    let gateway = fixture_gateway();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let book = book.clone();
            let gateway = gateway.clone();
            std::thread::spawn(move || book.account(&gateway, "default").is_some())
        })
        .collect();
    for t in threads {
        assert!(t.join().expect("thread"));
    }
}

#[test]
fn account_ids_normalize_as_openclaw_does() {
    for (raw, expected) in [
        ("default", "default"),
        ("  Work ", "work"),
        ("my team", "my-team"),
        ("a//b", "a-b"),
        ("--x--", "x"),
        ("", "default"),
        ("///", "default"),
        ("ünï", "n"),
        (&"a".repeat(70), &"a".repeat(64)),
    ] {
        assert_eq!(normalize_account_id(raw), expected, "{raw:?}");
    }
}
