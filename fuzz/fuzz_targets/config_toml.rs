//! The daemon's TOML config file → a checked `Config` (agent/src/service/config.rs, config/).
//!
//! Besides "no panic", what `check-config` promises: a loaded config passes `validate`
//! unchanged; the effective TOML it prints loads back to the same config (less the literal
//! tokens, which it never prints); and neither that text nor the Debug form depends on a
//! token's value.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use livestatus::service::config::{Config, Secret, load_text};

fn no_env(_: &str) -> Option<String> {
    None
}

/// `config` with every literal token replaced by `with` (`None`: removed).
fn tokens(config: &Config, with: Option<&str>) -> Config {
    let mut out = config.clone();
    if let Some(m) = &mut out.mattermost {
        let secret = || with.map(Secret::new);
        m.token = m.token.as_ref().and(secret());
        for account in m.accounts.values_mut() {
            account.token = account.token.as_ref().and(secret());
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    // The file is read as UTF-8 text; other bytes are refused before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/openclaw-livestatus/config.toml");
    let Ok(loaded) = load_text(path, text, false, &no_env) else {
        return;
    };
    let config = loaded.config;

    let mut validated = config.clone();
    if let Err(e) = validated.validate() {
        panic!("a loaded config fails validate: {e}");
    }
    assert_eq!(validated, config, "validate changed a loaded config");

    let printed = config.to_toml_redacted();
    let other = tokens(&config, Some("another-token-value"));
    assert_eq!(
        printed,
        other.to_toml_redacted(),
        "the printed TOML shows a token"
    );
    assert_eq!(
        format!("{config:?}"),
        format!("{other:?}"),
        "the Debug form shows a token"
    );

    let again = match load_text(path, &printed, false, &no_env) {
        Ok(again) => again.config,
        Err(e) => panic!("the effective TOML does not load: {e}\n{printed}"),
    };
    assert_eq!(again, tokens(&config, None), "{printed}");
});
