//! The daemon as a service: what `openclaw-livestatus run` does about other instances,
//! tried against the real binary.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use livestatus_e2e::daemon::{Daemon, binary, write_gateway_config};
use livestatus_e2e::fake_mattermost::FakeMattermost;

const TOKEN: &str = "fake-mm-bot-token-not-secret";

#[test]
fn a_second_run_on_the_same_data_dir_exits_at_once_naming_the_holder() {
    let mm = FakeMattermost::start();
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    write_gateway_config(&state, &mm.base_url(), TOKEN);
    let data = tmp.path().join("data");
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "").expect("config");
    let first = Daemon::start(&state, &data, &config, "inotify");
    let first_pid = first.pid().expect("first daemon runs");

    let mut second = Command::new(binary())
        .arg("run")
        .arg("--gateway")
        .arg(&state)
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .arg("--tier")
        .arg("inotify")
        .env_remove("JOURNAL_STREAM")
        .env_remove("MM_URL")
        .env_remove("MM_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the second daemon");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = second.try_wait().expect("wait for the second daemon") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second daemon on the same data dir kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = second.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("process {first_pid}")),
        "names the holder: {stderr}"
    );
    assert!(
        stderr.contains(&data.display().to_string()),
        "names the data dir: {stderr}"
    );
    assert!(first.terminate(), "the first daemon still stops cleanly");
}

#[test]
fn run_logs_that_its_token_file_is_readable_by_every_user() {
    use std::os::unix::fs::PermissionsExt;
    let mm = FakeMattermost::start();
    let tmp = tempfile::tempdir().expect("tmp");
    let state = tmp.path().join("home/alice/.openclaw");
    write_gateway_config(&state, &mm.base_url(), TOKEN);
    let token_file = tmp.path().join("bot-token");
    std::fs::write(&token_file, TOKEN).expect("token file");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = tmp.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mattermost]\nurl = \"{}\"\ntoken_file = \"{}\"\n",
            mm.base_url(),
            token_file.display()
        ),
    )
    .expect("config");

    // The warning check-config prints must reach the daemon's log too: it is found before
    // logging is set up.
    let daemon = Daemon::start(&state, &tmp.path().join("data"), &config, "inotify");
    let log = daemon.log_text();
    let warning = format!(
        "mattermost.token_file {} is readable by every user on this host; chmod 600 it",
        token_file.display()
    );
    assert!(log.contains(&warning), "no warning in the log:\n{log}");
    assert!(log.contains("WARN"), "logged as a warning:\n{log}");
    assert!(daemon.terminate());
}
