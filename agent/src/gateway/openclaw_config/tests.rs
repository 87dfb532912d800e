use std::fs;
use std::path::{Path, PathBuf};

use super::dotenv::parse_dotenv;
use super::secrets::home_of;
use super::*;

const FIXTURE_TOKEN: &str = "fake-mm-bot-token-not-secret";
const SECRET: &str = "s3cr3ttokenvalue4242424242";

fn fixture_states() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/openclaw");
    let mut found = Vec::new();
    for version in fs::read_dir(&root).expect("fixtures") {
        for scenario in fs::read_dir(version.expect("entry").path())
            .into_iter()
            .flatten()
        {
            let dir = scenario.expect("entry").path();
            if dir.join(GATEWAY_CONFIG).is_file() {
                found.push(dir);
            }
        }
    }
    found.sort();
    found
}

/// A home with a `.openclaw` state dir holding `config` (and nothing else yet).
struct Gateway {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    state: PathBuf,
}

impl Gateway {
    fn new(config: &str) -> Gateway {
        let tmp = tempfile::tempdir().expect("tmp");
        let home = tmp.path().join("home/alice");
        let state = home.join(".openclaw");
        fs::create_dir_all(&state).expect("mkdir");
        fs::write(state.join(GATEWAY_CONFIG), config).expect("write config");
        Gateway {
            _tmp: tmp,
            home,
            state,
        }
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.state.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
        path
    }

    fn read(&self) -> GatewayAccounts {
        read_gateway_accounts(&self.state).expect("config reads")
    }

    fn error(&self) -> GatewayConfigError {
        read_gateway_accounts(&self.state).expect_err("config must be refused")
    }
}

fn only(accounts: &GatewayAccounts, id: &str) -> (String, String, &'static str) {
    let found = accounts
        .accounts
        .get(id)
        .unwrap_or_else(|| panic!("no account {id}: {accounts:?}"));
    (
        found.account.base_url.clone(),
        found.account.token.expose().to_owned(),
        found.token_source,
    )
}

fn reasons(accounts: &GatewayAccounts) -> String {
    format!("{:?}", accounts.skipped)
}

#[test]
fn every_recorded_gateway_config_yields_its_default_account() {
    let states = fixture_states();
    assert!(states.len() >= 7, "{states:?}");
    for state in states {
        let accounts = read_gateway_accounts(&state).expect("fixture config reads");
        assert_eq!(
            only(&accounts, "default"),
            (
                "http://127.0.0.1:18065".to_owned(),
                FIXTURE_TOKEN.to_owned(),
                SOURCE_LITERAL
            ),
            "{}",
            state.display()
        );
        assert_eq!(accounts.accounts.len(), 1);
        assert!(accounts.skipped.is_empty(), "{:?}", accounts.skipped);
        assert_eq!(accounts.default_id.as_deref(), Some("default"));
    }
}

#[test]
fn json5_comments_trailing_commas_and_bare_keys_are_read() {
    let g = Gateway::new(
        r#"// written by hand
        {
          /* the chat server */
          channels: {
            mattermost: {
              enabled: true,
              baseUrl: 'https://chat.example.com/api/v4/', // trailing /api/v4 is dropped
              botToken: "tok1234567890",
            },
          },
        }"#,
    );
    assert_eq!(
        only(&g.read(), "default"),
        (
            "https://chat.example.com".to_owned(),
            "tok1234567890".to_owned(),
            SOURCE_LITERAL
        )
    );
}

#[test]
fn named_accounts_overlay_the_top_level_as_openclaw_merges_them() {
    let g = Gateway::new(
        r#"{ channels: { mattermost: {
            baseUrl: "https://chat.example.com",
            botToken: "toptoken",
            chatmode: "onmessage",
            defaultAccount: "ops",
            accounts: {
              ops: { botToken: "opstoken" },
              Alerts: { baseUrl: "https://alerts.example.com/", botToken: "alerttoken" },
              off: { enabled: false, botToken: "offtoken" },
              broken: 7,
            },
        } } }"#,
    );
    let accounts = g.read();
    assert_eq!(
        only(&accounts, "ops"),
        (
            "https://chat.example.com".to_owned(),
            "opstoken".to_owned(),
            SOURCE_LITERAL
        )
    );
    assert_eq!(
        only(&accounts, "alerts").0,
        "https://alerts.example.com",
        "ids are normalized like OpenClaw's"
    );
    // With named accounts the top level is only their base: it is no account "default" itself,
    // and a session naming no account uses `defaultAccount`.
    assert!(!accounts.accounts.contains_key("default"));
    assert_eq!(accounts.default_id.as_deref(), Some("ops"));
    let fallback = accounts.get("default").expect("default falls back");
    assert_eq!(fallback.account.token.expose(), "opstoken");
    assert!(accounts.get("nope").is_none());
    let skipped = reasons(&accounts);
    assert!(
        skipped.contains("\"off\"") && skipped.contains("disabled"),
        "{skipped}"
    );
    assert!(skipped.contains("\"broken\""), "{skipped}");
}

#[test]
fn without_default_account_the_default_id_is_default_then_the_first() {
    let g = Gateway::new(
        r#"{ channels: { mattermost: { baseUrl: "https://m.test", accounts: {
            zeta: { botToken: "z" }, beta: { botToken: "b" } } } } }"#,
    );
    let accounts = g.read();
    assert_eq!(accounts.default_id.as_deref(), Some("beta"));
    let g = Gateway::new(
        r#"{ channels: { mattermost: { baseUrl: "https://m.test", defaultAccount: "missing",
            accounts: { zeta: { botToken: "z" }, default: { botToken: "d" } } } } }"#,
    );
    assert_eq!(g.read().default_id.as_deref(), Some("default"));
}

#[test]
fn a_disabled_section_disables_every_account() {
    let g = Gateway::new(
        r#"{ channels: { mattermost: { enabled: false, baseUrl: "https://m.test", botToken: "t",
            accounts: { a: { enabled: true } } } } }"#,
    );
    let accounts = g.read();
    assert!(accounts.accounts.is_empty());
    assert!(reasons(&accounts).contains("disabled"));
}

#[test]
fn env_references_resolve_from_the_state_dirs_dotenv_and_the_env_block() {
    let g = Gateway::new(
        r#"{
          env: { vars: { ALERTS_TOKEN: "fromblock" }, OPS_TOKEN: "blockdirect", SHADOWED: "block" },
          secrets: { providers: { strict: { source: "env", allowlist: ["ALLOWED"] } } },
          channels: { mattermost: {
            baseUrl: "${MM_HOST:-https://fallback.example.com}",
            botToken: "${MM_BOT}",
            accounts: {
              default: {},
              dollar: { botToken: "$MM_BOT" },
              alerts: { botToken: "${ALERTS_TOKEN}" },
              ops: { botToken: { source: "env", provider: "default", id: "OPS_TOKEN" } },
              legacy: { botToken: { source: "env", id: "SHADOWED" } },
              allowed: { botToken: { source: "env", provider: "strict", id: "ALLOWED" } },
              refused: { botToken: { source: "env", provider: "strict", id: "MM_BOT" } },
              missing: { botToken: "${NOT_SET_ANYWHERE}" },
              escaped: { botToken: "$${MM_BOT}" },
            },
          } },
        }"#,
    );
    g.write(
        ".env",
        &format!(
            "# secrets\nexport MM_BOT=\"{SECRET}\"\nSHADOWED='dotenv' # wins over the block\n\
             ALLOWED=allowedtoken\nEMPTY=\n"
        ),
    );
    let accounts = g.read();
    let url = "https://fallback.example.com".to_owned();
    assert_eq!(
        only(&accounts, "default"),
        (url.clone(), SECRET.to_owned(), SOURCE_ENV)
    );
    assert_eq!(only(&accounts, "dollar").1, SECRET);
    assert_eq!(only(&accounts, "alerts").1, "fromblock");
    assert_eq!(only(&accounts, "ops").1, "blockdirect");
    assert_eq!(only(&accounts, "legacy").1, "dotenv");
    assert_eq!(only(&accounts, "allowed").1, "allowedtoken");
    // `$${` escapes: the token is the literal text, and a literal it is.
    assert_eq!(
        only(&accounts, "escaped"),
        (url, "${MM_BOT}".to_owned(), SOURCE_LITERAL)
    );
    let skipped = reasons(&accounts);
    assert!(skipped.contains("NOT_SET_ANYWHERE"), "{skipped}");
    assert!(skipped.contains("allowlist"), "{skipped}");
    assert!(
        !skipped.contains(SECRET),
        "a reason leaked the token: {skipped}"
    );
}

#[test]
fn mattermost_bot_token_and_url_fill_in_for_the_default_account_only() {
    let g =
        Gateway::new(r#"{ channels: { mattermost: { accounts: { default: {}, work: {} } } } }"#);
    g.write(
        ".env",
        "MATTERMOST_URL=https://env.example.com\nMATTERMOST_BOT_TOKEN=envtoken\n",
    );
    let accounts = g.read();
    assert_eq!(
        only(&accounts, "default"),
        (
            "https://env.example.com".to_owned(),
            "envtoken".to_owned(),
            SOURCE_ENV_FALLBACK
        )
    );
    assert!(!accounts.accounts.contains_key("work"));
    assert!(reasons(&accounts).contains("no baseUrl"));

    // Even without a channels.mattermost section the plugin runs on these variables.
    let g = Gateway::new(r#"{ gateway: { port: 18789 } }"#);
    assert!(g.read().accounts.is_empty());
    g.write(
        ".env",
        "MATTERMOST_URL=https://env.example.com\nMATTERMOST_BOT_TOKEN=envtoken\n",
    );
    assert_eq!(only(&g.read(), "default").1, "envtoken");
}

#[test]
fn file_references_read_single_values_and_json_pointers_from_the_users_files() {
    let g = Gateway::new(
        r#"{
          secrets: {
            providers: {
              tokfile: { source: "file", path: "~/.openclaw/secrets/mm-token.txt", mode: "singleValue" },
              vault: { source: "file", path: "~/secrets.json" },
            },
            defaults: { file: "vault" },
          },
          channels: { mattermost: { baseUrl: "https://m.test", accounts: {
            single: { botToken: { source: "file", provider: "tokfile", id: "value" } },
            pointer: { botToken: { source: "file", provider: "vault", id: "/mattermost/a~1b" } },
            defaulted: { botToken: { source: "file", id: "/mattermost/plain" } },
            badpointer: { botToken: { source: "file", provider: "vault", id: "/nope" } },
            noprovider: { botToken: { source: "file", provider: "ghost", id: "value" } },
          } } },
        }"#,
    );
    g.write("secrets/mm-token.txt", &format!("{SECRET}\n"));
    fs::write(
        g.home.join("secrets.json"),
        r#"{"mattermost":{"a/b":"pointed","plain":"plaintoken"}}"#,
    )
    .expect("write");
    let accounts = g.read();
    assert_eq!(
        only(&accounts, "single"),
        ("https://m.test".to_owned(), SECRET.to_owned(), SOURCE_FILE)
    );
    assert_eq!(only(&accounts, "pointer").1, "pointed");
    assert_eq!(only(&accounts, "defaulted").1, "plaintoken");
    let skipped = reasons(&accounts);
    assert!(skipped.contains("badpointer") && skipped.contains("pointer names no string"));
    assert!(skipped.contains("ghost"), "{skipped}");
    assert!(!skipped.contains(SECRET));
}

#[test]
fn secret_files_must_not_be_symlinks() {
    let g = Gateway::new(
        r#"{ secrets: { providers: { f: { source: "file", path: "~/.openclaw/tok", mode: "singleValue" } } },
             channels: { mattermost: { baseUrl: "https://m.test",
               botToken: { source: "file", provider: "f", id: "value" } } } }"#,
    );
    let target = g.write("real-token", SECRET);
    std::os::unix::fs::symlink(&target, g.state.join("tok")).expect("symlink");
    let accounts = g.read();
    assert!(accounts.accounts.is_empty());
    assert!(
        reasons(&accounts).contains("symlink"),
        "{}",
        reasons(&accounts)
    );
}

#[test]
fn exec_references_are_never_run() {
    let g = Gateway::new(
        r#"{ secrets: { providers: { vault: { source: "exec", command: "/bin/sh", args: ["-c", "touch /tmp/pwned"] } } },
             channels: { mattermost: { baseUrl: "https://m.test",
               botToken: { source: "exec", provider: "vault", id: "mm/token" } } } }"#,
    );
    let accounts = g.read();
    assert!(accounts.accounts.is_empty());
    let skipped = reasons(&accounts);
    assert!(
        skipped.contains("exec") && skipped.contains("[mattermost.accounts.<id>]"),
        "{skipped}"
    );
}

#[test]
fn includes_splice_in_files_inside_the_config_dir() {
    let g = Gateway::new(
        r#"{ channels: { $include: "./channels.json5", telegram: { enabled: false } } }"#,
    );
    g.write(
        "channels.json5",
        r#"{ mattermost: { $include: ["mm/base.json5", "mm/accounts.json5"], botToken: "top" } }"#,
    );
    g.write(
        "mm/base.json5",
        r#"{ baseUrl: "https://inc.example.com", botToken: "base" }"#,
    );
    g.write(
        "mm/accounts.json5",
        r#"{ accounts: { team: { botToken: "teamtoken" }, default: {} } }"#,
    );
    let accounts = g.read();
    assert_eq!(
        only(&accounts, "default"),
        (
            "https://inc.example.com".to_owned(),
            "top".to_owned(),
            SOURCE_LITERAL
        ),
        "siblings override what was included"
    );
    assert_eq!(only(&accounts, "team").1, "teamtoken");

    for (include, needle) in [
        ("../outside.json5", "outside"),
        ("/etc/passwd", "outside"),
        ("./self.json5", "includes itself"),
        ("./absent.json5", "does not exist"),
    ] {
        let g = Gateway::new(&format!(r#"{{ channels: {{ $include: "{include}" }} }}"#));
        g.write("self.json5", r#"{ $include: "./self.json5" }"#);
        let e = g.error();
        assert!(
            matches!(e, GatewayConfigError::Include { .. }) && e.to_string().contains(needle),
            "{include}: {e}"
        );
    }
}

#[test]
fn a_missing_config_is_told_apart_from_a_broken_one() {
    let tmp = tempfile::tempdir().expect("tmp");
    let e = read_gateway_accounts(tmp.path()).expect_err("no file");
    assert!(matches!(e, GatewayConfigError::Missing { .. }), "{e}");
    let e = read_gateway_accounts(&tmp.path().join("gone")).expect_err("no dir");
    assert!(matches!(e, GatewayConfigError::Missing { .. }), "{e}");
}

#[test]
fn syntax_errors_say_where_without_quoting_the_line() {
    let g = Gateway::new(&format!(
        "{{\n  channels: {{ mattermost: {{\n    botToken: \"{SECRET}\" baseUrl: \"x\" }} }}\n}}\n"
    ));
    let e = g.error();
    let GatewayConfigError::Syntax { line, column, .. } = &e else {
        panic!("expected a syntax error, got {e:?}");
    };
    assert_eq!(*line, 3, "{e}");
    assert!(*column > 1, "{e}");
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("openclaw.json:3:"), "{shown}");
    assert!(
        !shown.contains(SECRET),
        "the error quoted the token: {shown}"
    );
}

#[test]
fn odd_shapes_and_files_are_refused_as_values_not_panics() {
    for (text, needle) in [
        ("[1, 2]", "top level"),
        (
            r#"{ channels: { mattermost: "on" } }"#,
            "channels.mattermost",
        ),
        (
            r#"{ channels: { mattermost: { accounts: [] } } }"#,
            "accounts",
        ),
        ("\u{feff}{ x: 1 ", "JSON5"),
    ] {
        let g = Gateway::new(text);
        let e = g.error();
        assert!(e.to_string().contains(needle), "{text}: {e}");
    }
    let g = Gateway::new(&format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)));
    assert!(g.error().to_string().contains("nested"), "deep nesting");

    // The deepest nesting allowed still parses (the parser recurses; debug builds too).
    let inner = MAX_NESTING - 1;
    let g = Gateway::new(&format!(
        "{{a: {}1{}}}",
        "[".repeat(inner),
        "]".repeat(inner)
    ));
    g.read();

    let g = Gateway::new("{}");
    fs::write(
        g.state.join(GATEWAY_CONFIG),
        vec![b' '; MAX_GATEWAY_CONFIG_BYTES as usize + 1],
    )
    .expect("write");
    assert!(g.error().to_string().contains("byte limit"));

    let g = Gateway::new("{}");
    fs::write(g.state.join(GATEWAY_CONFIG), [0xff, 0xfe, b'{']).expect("write");
    assert!(matches!(g.error(), GatewayConfigError::Syntax { .. }));
}

#[test]
fn the_config_itself_is_never_read_through_a_symlink_or_a_fifo() {
    let g = Gateway::new("{}");
    let elsewhere = g.home.join("elsewhere.json");
    fs::write(
        &elsewhere,
        r#"{ channels: { mattermost: { baseUrl: "https://m.test", botToken: "t" } } }"#,
    )
    .expect("write");
    fs::remove_file(g.state.join(GATEWAY_CONFIG)).expect("rm");
    std::os::unix::fs::symlink(&elsewhere, g.state.join(GATEWAY_CONFIG)).expect("symlink");
    let e = g.error();
    assert!(e.to_string().contains("symlink"), "{e}");

    fs::remove_file(g.state.join(GATEWAY_CONFIG)).expect("rm");
    nix::unistd::mkfifo(
        &g.state.join(GATEWAY_CONFIG),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("mkfifo");
    let e = g.error();
    assert!(e.to_string().contains("not a regular file"), "{e}");
}

#[test]
fn files_of_another_owner_are_refused() {
    if !nix::unistd::geteuid().is_root() {
        return; // chown needs root; the check is the same code either way
    }
    let g = Gateway::new(
        r#"{ channels: { mattermost: { baseUrl: "https://m.test", botToken: "${TOK}" } } }"#,
    );
    let env = g.write(".env", "TOK=stolen\n");
    let stranger = Some(nix::unistd::Uid::from_raw(4242));
    nix::unistd::chown(&env, stranger, None).expect("chown");
    let accounts = g.read();
    assert!(accounts.accounts.is_empty(), "{accounts:?}");

    nix::unistd::chown(&g.state.join(GATEWAY_CONFIG), stranger, None).expect("chown");
    let e = g.error();
    assert!(e.to_string().contains("uid 4242"), "{e}");
}

#[test]
fn bad_urls_and_tokens_skip_the_account() {
    let g = Gateway::new(
        r#"{ channels: { mattermost: { accounts: {
            ftp: { baseUrl: "ftp://m.test", botToken: "t" },
            creds: { baseUrl: "https://u:p@m.test", botToken: "t" },
            spaced: { baseUrl: "https://m.test", botToken: "two words" },
            number: { baseUrl: "https://m.test", botToken: 42 },
            notoken: { baseUrl: "https://m.test" },
            urlnum: { baseUrl: 5, botToken: "t" },
        } } } }"#,
    );
    let accounts = g.read();
    assert!(accounts.accounts.is_empty(), "{accounts:?}");
    assert_eq!(accounts.skipped.len(), 6, "{:?}", accounts.skipped);
    assert!(!reasons(&accounts).contains("two words"));
}

#[test]
fn base_urls_are_normalized_like_openclaw_does() {
    for (raw, expected) in [
        ("https://chat.example.com", Some("https://chat.example.com")),
        (
            " https://chat.example.com/// ",
            Some("https://chat.example.com"),
        ),
        (
            "https://chat.example.com/API/V4",
            Some("https://chat.example.com"),
        ),
        (
            "http://127.0.0.1:18065/mm/api/v4/",
            Some("http://127.0.0.1:18065/mm"),
        ),
        ("chat.example.com", None),
        ("https://", None),
        ("https://:80", None),
        ("https://m.test/?a=b", None),
        ("https://m .test", None),
    ] {
        assert_eq!(normalize_base_url(raw).as_deref(), expected, "{raw:?}");
    }
}

#[test]
fn dotenv_lines_parse_as_dotenv_does() {
    let vars = parse_dotenv(
        "A=1\n export B = two \n# C=no\nD=\"x y\" \nE='single # not a comment'\nF=plain # note\n\
         G\n1BAD=x\nH=\"line\\nbreak\"\n",
    );
    assert_eq!(vars.get("A").map(String::as_str), Some("1"));
    assert_eq!(vars.get("B").map(String::as_str), Some("two"));
    assert_eq!(vars.get("C"), None);
    assert_eq!(vars.get("D").map(String::as_str), Some("x y"));
    assert_eq!(
        vars.get("E").map(String::as_str),
        Some("single # not a comment")
    );
    assert_eq!(vars.get("F").map(String::as_str), Some("plain"));
    assert_eq!(vars.get("1BAD"), None);
    assert_eq!(vars.get("H").map(String::as_str), Some("line\nbreak"));
}

#[test]
fn home_is_known_only_for_state_dirs_with_a_state_dir_name() {
    assert_eq!(
        home_of(Path::new("/home/bob/.openclaw-work")),
        Some(Path::new("/home/bob"))
    );
    assert_eq!(home_of(Path::new("/srv/gateway-state")), None);
}
