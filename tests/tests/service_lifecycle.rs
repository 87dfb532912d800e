//! The daemon as a service, tried against the real binary: other instances, reload (SIGHUP,
//! SIGUSR1), what systemd hears on its notify socket, the watchdog, and SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use livestatus::playback::Pace;
use livestatus_e2e::daemon::{Daemon, binary, write_gateway_config};
use livestatus_e2e::fake_mattermost::FakeMattermost;
use livestatus_e2e::posts::{box_posts, creates, wait_for};
use livestatus_e2e::recording_now;
use livestatus_e2e::wait::exit_within;

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
    let Some(status) = exit_within(&mut second, Duration::from_secs(10)) else {
        let _ = second.kill();
        let _ = second.wait();
        panic!("the second daemon on the same data dir kept running");
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

/// A gateway whose `openclaw.json` names the fake Mattermost, a data dir and a config file.
struct Host {
    tmp: tempfile::TempDir,
    state: PathBuf,
    data: PathBuf,
    config: PathBuf,
}

impl Host {
    fn new(mm: &FakeMattermost, config: &str) -> Host {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("home/alice/.openclaw");
        write_gateway_config(&state, &mm.base_url(), TOKEN);
        let data = tmp.path().join("data");
        let config_path = tmp.path().join("config.toml");
        std::fs::write(&config_path, config).expect("config");
        Host {
            tmp,
            state,
            data,
            config: config_path,
        }
    }

    fn daemon(&self, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        Daemon::start_with_env(&[&self.state], &self.data, &self.config, "inotify", env)
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }
}

#[test]
fn a_reload_while_a_turn_runs_keeps_its_box_in_the_same_post() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "[session]\nidle_timeout_s = 900\n");
    let mut daemon = host.daemon(&[]);
    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&host.state, "main").expect("prepare");
    let mut appends = 0;
    player
        .play_until(Pace::FAST, |s| {
            appends += usize::from(s.starts_with("append"));
            appends == 2
        })
        .expect("play the turn's start");
    wait_for("the box's post", Duration::from_secs(20), || {
        !box_posts(&mm).is_empty()
    });
    let post_id = box_posts(&mm)[0].id.clone();

    // The admin edits the config and runs `systemctl reload` (SIGHUP) mid-turn.
    std::fs::write(
        &host.config,
        "[session]\nidle_timeout_s = 600\n\n[service]\nlog_level = \"debug\"\n",
    )
    .expect("edit the config");
    daemon.signal("-HUP");
    daemon.wait_for_log("config reloaded", Duration::from_secs(10));
    assert!(daemon.is_running(), "SIGHUP must not stop the daemon");

    player.play(Pace::FAST, |_| {}).expect("play the rest");
    wait_for("the box's final state", Duration::from_secs(20), || {
        box_posts(&mm).iter().any(|p| p.message.contains("[DONE]"))
    });
    let posts = box_posts(&mm);
    assert_eq!(posts.len(), 1, "one post for the turn: {posts:#?}");
    assert_eq!(
        posts[0].id, post_id,
        "the box kept its post across the reload"
    );
    assert_eq!(creates(&mm), 1, "no second post was created");
    let log = daemon.log_text();
    assert!(
        !log.contains("out of order"),
        "a delta was lost or repeated:\n{log}"
    );
    assert!(daemon.terminate());
}

#[test]
fn a_broken_config_on_reload_is_refused_and_the_running_one_stays() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "[session]\nidle_timeout_s = 900\n");
    let mut daemon = host.daemon(&[]);
    std::fs::write(&host.config, "[session]\nidle_timeout_s = \"soon\"\n").expect("break it");
    daemon.signal("-HUP");
    daemon.wait_for_log("reload refused", Duration::from_secs(10));
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("reload refused"))
        .expect("the refusal line");
    assert!(
        line.contains(&format!("{}:2:", host.config.display())),
        "names the file and line: {line}"
    );
    assert!(
        line.contains("session.idle_timeout_s"),
        "names the key: {line}"
    );
    assert!(
        daemon.is_running(),
        "a refused reload keeps the daemon running"
    );

    // The old config still serves: a turn played now reaches Mattermost.
    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&host.state, "main").expect("prepare");
    player.play(Pace::FAST, |_| {}).expect("play");
    wait_for("the turn's post", Duration::from_secs(20), || {
        box_posts(&mm).iter().any(|p| p.message.contains("[DONE]"))
    });
    assert!(daemon.terminate());
}

#[test]
fn sigusr1_reloads_like_sighup() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    let mut daemon = host.daemon(&[]);
    daemon.signal("-USR1");
    daemon.wait_for_log("config reloaded", Duration::from_secs(10));
    assert!(daemon.log_text().contains("SIGUSR1"));
    assert!(daemon.is_running(), "SIGUSR1 must not stop the daemon");
    assert!(daemon.terminate());
}

/// What systemd would read on `NOTIFY_SOCKET`.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        NotifySocket { socket, path }
    }

    /// Every message received within `window`.
    fn read_for(&self, window: Duration) -> Vec<String> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        out
    }

    /// Reads until a message contains `needle`; returns everything read.
    fn read_until(&self, needle: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let found = msg.contains(needle);
                out.push(msg);
                if found {
                    return out;
                }
            }
        }
        panic!("systemd never heard {needle:?}; it heard {out:#?}");
    }
}

#[test]
fn systemd_hears_ready_status_reloading_and_stopping() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    let notify = NotifySocket::bind(host.path());
    let daemon = host.daemon(&[("NOTIFY_SOCKET", notify.path.as_os_str())]);
    let heard = notify.read_until("READY=1", Duration::from_secs(5));
    let ready = heard.iter().find(|m| m.contains("READY=1")).expect("ready");
    assert!(
        ready.contains("STATUS=tier inotify, 1 gateway(s)"),
        "{ready}"
    );

    daemon.signal("-HUP");
    let heard = notify.read_until("READY=1", Duration::from_secs(10));
    let reloading = heard
        .iter()
        .find(|m| m.contains("RELOADING=1"))
        .unwrap_or_else(|| panic!("no RELOADING=1 before READY=1: {heard:#?}"));
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");

    // The status line is refreshed by the heartbeat (every 5 s without a watchdog).
    let heard = notify.read_until("STATUS=", Duration::from_secs(8));
    assert!(
        heard
            .iter()
            .any(|m| m.contains("STATUS=tier inotify, 1 gateway(s), 0 open box(es)")),
        "{heard:#?}"
    );

    daemon.signal("-TERM");
    notify.read_until("STOPPING=1", Duration::from_secs(10));
    assert!(daemon.terminate(), "SIGTERM exits 0");
}

#[test]
fn the_watchdog_is_fed_only_while_the_pipeline_answers() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    let notify = NotifySocket::bind(host.path());
    let stall = host.path().join("stall");
    // WatchdogSec=400ms: a heartbeat every 200 ms.
    let mut daemon = host.daemon(&[
        ("NOTIFY_SOCKET", notify.path.as_os_str()),
        ("WATCHDOG_USEC", std::ffi::OsStr::new("400000")),
        ("LIVESTATUS_TEST_STALL_FILE", stall.as_os_str()),
    ]);
    notify.read_until("READY=1", Duration::from_secs(5));
    let fed = notify.read_for(Duration::from_millis(1500));
    let pings = fed.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(
        pings >= 3,
        "the watchdog is fed while all is well: {fed:#?}"
    );

    std::fs::write(&stall, "").expect("stall the pipeline");
    daemon.wait_for_log("stalls on purpose", Duration::from_secs(5));
    // A ping may already be on its way; after that, silence.
    let _ = notify.read_for(Duration::from_millis(300));
    let starved = notify.read_for(Duration::from_millis(1500));
    assert!(
        !starved.iter().any(|m| m.contains("WATCHDOG=1")),
        "a wedged loop must starve the watchdog: {starved:#?}"
    );
    assert!(
        daemon.is_running(),
        "it is systemd that ends a wedged daemon"
    );
    daemon.kill9();
}
