//! For the core's tests: a gateway in a scratch home holding the index 2026.7.1 recorded for its
//! channel scenario, its transcript written by each test as the scenario needs.

use std::path::{Path, PathBuf};

/// The channel scenario's transcript.
pub const TRANSCRIPT: &str = "378cc088-7929-479b-991c-8aad99f30827.jsonl";

/// The recorded sessions dir of the channel scenario.
pub fn fixture_sessions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openclaw/2026.7.1/a_channel_tools/sessions")
}

/// The recorded transcript, whole.
pub fn recorded_transcript() -> String {
    std::fs::read_to_string(fixture_sessions().join(TRANSCRIPT)).expect("fixture")
}

/// Alice's state dir under `root` with the recorded index and no transcript yet:
/// (state dir, sessions dir).
pub fn recorded_gateway(root: &Path) -> (PathBuf, PathBuf) {
    let state = root.join("home/alice/.openclaw");
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("sessions dir");
    std::fs::copy(
        fixture_sessions().join("sessions.json"),
        sessions.join("sessions.json"),
    )
    .expect("index");
    (state, sessions)
}
