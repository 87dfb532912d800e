//! The binary as a user runs it: help, errors a user can act on, replay, watch and demo.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_openclaw-livestatus"))
}

fn fixture(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/openclaw")
        .join(scenario)
}

fn output(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run the binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_explains_every_command() {
    let (ok, stdout, _) = output(bin().arg("--help"));
    assert!(ok);
    for cmd in ["watch", "run", "replay", "check-config", "demo"] {
        assert!(stdout.contains(cmd), "{cmd} missing from --help:\n{stdout}");
    }
    let (ok, stdout, _) = output(bin().args(["replay", "--help"]));
    assert!(ok);
    assert!(stdout.contains("state dir"), "{stdout}");
}

#[test]
fn replay_of_a_transcript_prints_every_tool_with_its_result_and_the_tokens() {
    let path =
        fixture("2026.7.1/a_channel_tools/sessions/378cc088-7929-479b-991c-8aad99f30827.jsonl");
    let (ok, stdout, stderr) = output(bin().arg("replay").arg(&path));
    assert!(ok, "{stderr}");
    assert!(stdout.contains("[DONE]"), "{stdout}");
    assert!(stdout.contains("hello.txt"), "{stdout}");
    assert!(stdout.contains("[OK]"), "{stdout}");
    assert!(stdout.contains("240"), "{stdout}");
    // Deterministic: the same bytes on a second run.
    let (_, again, _) = output(bin().arg("replay").arg(&path));
    assert_eq!(stdout, again);
}

#[test]
fn replay_of_something_else_says_what_was_expected() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ok, _, stderr) = output(bin().arg("replay").arg(tmp.path()));
    assert!(!ok);
    assert!(stderr.contains("no OpenClaw transcript"), "{stderr}");
    let (ok, _, stderr) = output(bin().args(["replay", "/nonexistent/x.jsonl"]));
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/x.jsonl"), "{stderr}");
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_key() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("config.toml");
    std::fs::write(&file, "[render]\nmax_status_lines = \"many\"\n").expect("write");
    let (ok, _, stderr) = output(bin().arg("check-config").arg(&file));
    assert!(!ok, "accepted a bad config");
    assert!(stderr.contains("config.toml"), "{stderr}");
    assert!(stderr.contains("max_status_lines"), "{stderr}");
    assert!(stderr.contains('2'), "no line number: {stderr}");
}

#[test]
fn check_config_refuses_a_token_file_that_does_not_exist() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("config.toml");
    let missing = tmp.path().join("no-such-token");
    std::fs::write(
        &file,
        format!(
            "[mattermost]\nurl = \"http://127.0.0.1:9\"\ntoken_file = \"{}\"\n",
            missing.display()
        ),
    )
    .expect("write");
    let (ok, _, stderr) = output(
        bin()
            .arg("check-config")
            .arg(&file)
            .env_remove("MM_TOKEN")
            .env_remove("MM_URL")
            .env_remove("CREDENTIALS_DIRECTORY"),
    );
    assert!(!ok, "accepted a token_file that does not exist: {stderr}");
    assert!(stderr.contains("no-such-token"), "{stderr}");
}

#[test]
fn an_error_says_what_is_wrong_once() {
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[render]\ntool_labels_file = \"{}\"\n",
            tmp.path().join("no-such-labels.json").display()
        ),
    )
    .expect("write");
    let (ok, _, stderr) = output(bin().arg("check-config").arg(&file));
    assert!(!ok, "accepted a labels file that does not exist: {stderr}");
    // Said once, whoever wraps whom (the guarded reader words a missing file itself).
    assert_eq!(stderr.matches("does not exist").count(), 1, "{stderr}");
    assert!(stderr.matches("os error").count() <= 1, "{stderr}");
    assert_eq!(stderr.matches("no-such-labels.json").count(), 1, "{stderr}");
}

#[test]
fn check_config_prints_the_effective_config_without_secrets() {
    let (ok, stdout, stderr) = output(
        bin()
            .args(["check-config", "/nonexistent-default-is-not-used.toml"])
            .env("MM_TOKEN", "s3cr3t-token"),
    );
    assert!(!ok, "a missing explicit file must be an error: {stdout}");
    assert!(
        stderr.contains("nonexistent-default-is-not-used.toml"),
        "{stderr}"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let file = tmp.path().join("c.toml");
    std::fs::write(&file, "[mattermost]\nurl = \"https://chat.example.com\"\n").expect("write");
    let (ok, stdout, stderr) = output(
        bin()
            .arg("check-config")
            .arg(&file)
            .env("MM_TOKEN", "s3cr3t-token"),
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("chat.example.com"), "{stdout}");
    assert!(
        !stdout.contains("s3cr3t") && !stderr.contains("s3cr3t"),
        "secret printed"
    );
}

#[test]
fn watch_with_no_gateway_says_where_it_looked_and_keeps_waiting() {
    let tmp = tempfile::tempdir().expect("tmp");
    let gw = tmp.path().join("nothing-here/.openclaw");
    let mut child = bin()
        .args(["watch", "--tier", "inotify", "--gateway"])
        .arg(&gw)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        child.try_wait().expect("wait").is_none(),
        "watch exited instead of waiting"
    );
    nix_kill(child.id());
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(status.success(), "{status:?} {stderr}");
    assert!(stderr.contains("No OpenClaw gateway found"), "{stderr}");
    assert!(stderr.contains("nothing-here"), "{stderr}");
}

#[test]
fn demo_plays_real_chats_through_the_watch_pipeline() {
    let start = Instant::now();
    let (ok, stdout, stderr) = output(bin().args(["demo", "--speed", "40", "--tier", "inotify"]));
    assert!(ok, "{stderr}");
    for needle in [
        "hello.txt",
        "[OK]",
        "[ERR]",
        "count-notes",
        "thread-reply-ok",
        "[DONE]",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle} missing from the demo:\n{stdout}"
        );
    }
    assert!(start.elapsed() < Duration::from_secs(120));
}

#[test]
fn the_daemon_log_on_a_pipe_has_no_colour_escapes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let gw = tmp.path().join("home/alice/.openclaw");
    std::fs::create_dir_all(gw.join("agents/main/sessions")).expect("mkdir");
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "").expect("config");
    let mut child = bin()
        .args(["run", "--tier", "inotify", "--gateway"])
        .arg(&gw)
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("--config")
        .arg(&config)
        .env("LOG_LEVEL", "debug")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1500));
    nix_kill(child.id());
    let status = child.wait().expect("wait");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read");
    assert!(status.success(), "{status:?} {stderr}");
    assert!(stderr.contains("ready"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour escapes written to a pipe:\n{stderr:?}"
    );
}

fn nix_kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}
