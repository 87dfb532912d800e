//! Files an admin or a user controls, planted to hang or mislead the daemon, tried against the
//! real binary: each is refused at once with a message saying what and where.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use livestatus_e2e::daemon::binary;
use livestatus_e2e::wait::exit_within;

/// Waits for `child` to exit, killing it (and failing) if it is still running after 20 s:
/// blocking on a FIFO's open, or running on a refused data dir, is what these tests catch.
fn exits_promptly(mut child: Child, what: &str) -> (Option<i32>, String) {
    let Some(status) = exit_within(&mut child, Duration::from_secs(20)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what}: still running after 20 s instead of refusing at once");
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status.code(), stderr)
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo")
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

fn openclaw_livestatus(args: &[&std::ffi::OsStr]) -> Child {
    Command::new(binary())
        .args(args)
        .env_remove("JOURNAL_STREAM")
        .env_remove("MM_URL")
        .env_remove("MM_TOKEN")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openclaw-livestatus")
}

#[test]
fn check_config_with_a_fifo_as_config_token_file_or_labels_file_exits_at_once_saying_so() {
    let tmp = tempfile::tempdir().expect("tmp");
    let fifo = tmp.path().join("planted.fifo");
    mkfifo(&fifo);
    let fifo_text = fifo.display().to_string();
    let config = tmp.path().join("config.toml");
    for (what, config_text) in [
        ("the config file", None),
        (
            "mattermost.token_file",
            Some(format!(
                "[mattermost]\nurl = \"https://chat.example.com\"\ntoken_file = \"{fifo_text}\"\n"
            )),
        ),
        (
            "render.tool_labels_file",
            Some(format!("[render]\ntool_labels_file = \"{fifo_text}\"\n")),
        ),
    ] {
        let config_arg = match &config_text {
            Some(text) => {
                std::fs::write(&config, text).expect("config");
                &config
            }
            None => &fifo,
        };
        let child = openclaw_livestatus(&["check-config".as_ref(), config_arg.as_os_str()]);
        let (code, stderr) = exits_promptly(child, what);
        assert_eq!(code, Some(1), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("{fifo_text} is a FIFO, not a regular file")),
            "{what}: {stderr}"
        );
    }

    // /dev/zero as the labels file is refused, not read until memory runs out.
    std::fs::write(&config, "[render]\ntool_labels_file = \"/dev/zero\"\n").expect("config");
    let child = openclaw_livestatus(&["check-config".as_ref(), config.as_os_str()]);
    let (code, stderr) = exits_promptly(child, "/dev/zero");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("/dev/zero is a character device"),
        "{stderr}"
    );
}

#[test]
fn run_on_a_data_dir_others_may_write_exits_1_naming_the_dir_and_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    std::fs::create_dir_all(state.join("agents/main/sessions")).expect("state");
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).expect("data");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "").expect("config");
    let child = openclaw_livestatus(&[
        "run".as_ref(),
        "--gateway".as_ref(),
        state.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
        "--tier".as_ref(),
        "poll".as_ref(),
    ]);
    let (code, stderr) = exits_promptly(child, "run");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the data dir {} is writable by others",
            data.display()
        )) && stderr.contains(&format!("chmod go-w {}", data.display())),
        "{stderr}"
    );
    assert!(
        !data.join("posts.json").exists() && !data.join("lock").exists(),
        "nothing is written to a refused data dir"
    );
}

#[test]
fn a_fifo_named_sessions_json_in_one_gateway_does_not_stop_another_gateways_box() {
    use livestatus::playback::Pace;
    use livestatus_e2e::daemon::{Daemon, write_gateway_config};
    use livestatus_e2e::fake_mattermost::FakeMattermost;

    let mm = FakeMattermost::start();
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = tmp.path().join("home/alice/.openclaw");
    write_gateway_config(&alice, &mm.base_url(), "fake-mm-bot-token-not-secret");
    let mallory = tmp.path().join("home/mallory/.openclaw");
    let planted = mallory.join("agents/main/sessions/sessions.json");
    std::fs::create_dir_all(planted.parent().expect("sessions dir")).expect("mkdir");
    mkfifo(&planted);
    let data = tmp.path().join("data");
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "").expect("config");

    // Before the fix the daemon never became ready: its first scan blocked opening the FIFO.
    let daemon = Daemon::start_gateways(&[&mallory, &alice], &data, &config, "inotify");
    let mut player = livestatus_e2e::recording_now("2026.7.1/a_channel_tools")
        .prepare(&alice, "main")
        .expect("prepare");
    player.play(Pace::FAST, |_| {}).expect("play");
    daemon.wait_for("alice's box to finish", Duration::from_secs(20), || {
        mm.posts()
            .iter()
            .any(|p| p.props.get("openclaw_livestatus").is_some() && p.message.contains("[DONE]"))
    });
    let log = daemon.log_text();
    assert_eq!(
        log.matches(&format!("{} is a FIFO", planted.display()))
            .count(),
        1,
        "reported once:\n{log}"
    );
    assert!(daemon.terminate(), "SIGTERM is still obeyed");
}
