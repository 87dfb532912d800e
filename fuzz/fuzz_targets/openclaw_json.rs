//! A gateway's `openclaw.json` (JSON5) → its Mattermost accounts
//! (agent/src/gateway/openclaw_config/), read from a state dir as the daemon reads it.
//!
//! The state dir also holds a `.env` and a secret file, so env and file references in the
//! input can resolve. The file is rewritten for every input; the dir lives in /dev/shm when
//! there is one, so that costs microseconds.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use livestatus::gateway::openclaw_config::read_gateway_accounts;

struct StateDir {
    _root: tempfile::TempDir,
    path: PathBuf,
}

fn state_dir() -> &'static StateDir {
    static DIR: OnceLock<StateDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let root = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("a scratch dir for the state dir");
        let path = root.path().join(".openclaw");
        std::fs::create_dir(&path).expect("state dir");
        std::fs::write(
            path.join(".env"),
            "MM_TOKEN=fake-mm-bot-token-not-secret\nexport MM_URL='http://127.0.0.1:8065'\n",
        )
        .expect(".env");
        std::fs::write(
            path.join("secrets.json"),
            r#"{"mattermost":{"token":"fake-mm-bot-token-not-secret"}}"#,
        )
        .expect("secrets.json");
        StateDir { _root: root, path }
    })
}

/// The token the state dir's `.env` and secret file hold.
const TOKEN: &str = "fake-mm-bot-token-not-secret";

fuzz_target!(|data: &[u8]| {
    let dir = state_dir();
    std::fs::write(dir.path.join("openclaw.json"), data).expect("write openclaw.json");
    // Reasons and errors are logged: they may name a reference, never a value it resolves to.
    let quoted_in_input = data.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
    match read_gateway_accounts(&dir.path) {
        Ok(accounts) => {
            if let Some(id) = &accounts.default_id {
                let known = accounts.accounts.contains_key(id)
                    || accounts.skipped.iter().any(|(skipped, _)| skipped == id);
                assert!(
                    known,
                    "the default account {id:?} is neither usable nor skipped"
                );
            }
            for (id, reason) in &accounts.skipped {
                assert!(
                    quoted_in_input || !reason.contains(TOKEN),
                    "the reason {id:?} is skipped shows the token"
                );
            }
        }
        Err(e) => {
            assert!(
                quoted_in_input || !e.to_string().contains(TOKEN),
                "the error shows the token"
            );
        }
    }
});
