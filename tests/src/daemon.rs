//! The real `openclaw-livestatus` binary as a child process: started, signalled, killed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::{exit_within, until};

/// The binary cargo built beside this test (`cargo test --workspace` builds it).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir of the test executable");
    let bin = dir.join("openclaw-livestatus");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p openclaw-livestatus`, or run `cargo test --workspace`)",
        bin.display()
    );
    bin
}

pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    /// `openclaw-livestatus run` following `state_dir`, keeping its state in `data_dir`, with
    /// `config` as its config file; its stderr goes to `<data_dir>/../daemon-<n>.log`.
    pub fn start(state_dir: &Path, data_dir: &Path, config: &Path, tier: &str) -> Daemon {
        Daemon::start_gateways(&[state_dir], data_dir, config, tier)
    }

    /// Like `start`, following several gateways (`--gateway` each).
    pub fn start_gateways(
        state_dirs: &[&Path],
        data_dir: &Path,
        config: &Path,
        tier: &str,
    ) -> Daemon {
        Daemon::start_with_env(state_dirs, data_dir, config, tier, &[])
    }

    /// Like `start_gateways`, with these variables set in the daemon's environment (a
    /// `NOTIFY_SOCKET`, a test hook).
    pub fn start_with_env(
        state_dirs: &[&Path],
        data_dir: &Path,
        config: &Path,
        tier: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Daemon {
        let log = data_dir.with_file_name(format!(
            "daemon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let err = std::fs::File::create(&log).expect("daemon log");
        let mut command = Command::new(binary());
        command.arg("run");
        for state_dir in state_dirs {
            command.arg("--gateway").arg(state_dir);
        }
        let child = command
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--config")
            .arg(config)
            .arg("--tier")
            .arg(tier)
            .env("LOG_LEVEL", "debug")
            .env_remove("JOURNAL_STREAM")
            .env_remove("MM_URL")
            .env_remove("MM_TOKEN")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn the daemon");
        let daemon = Daemon {
            child: Some(child),
            log,
        };
        daemon.wait_for_log("ready", Duration::from_secs(20));
        daemon
    }

    /// The child's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the daemon's log contains `needle`; panics with the log when it does not.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        if !until(timeout, || self.log_text().contains(needle)) {
            panic!("the daemon never logged {needle:?}:\n{}", self.log_text());
        }
    }

    /// Polls `ok` until it holds; panics naming `what`, with the daemon's log, after `timeout`.
    pub fn wait_for(&self, what: &str, timeout: Duration, ok: impl FnMut() -> bool) {
        if !until(timeout, ok) {
            panic!(
                "timed out after {timeout:?} waiting for {what}; the daemon's log:\n{}",
                self.log_text()
            );
        }
    }

    /// Whether the child is still running (false once it has exited, however).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends `sig` (as `kill` spells it: `-HUP`, `-USR1`, `-TERM`).
    pub fn signal(&self, sig: &str) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status();
        }
    }

    /// SIGTERM, then waits for a clean exit; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        self.signal("-TERM");
        let mut child = self.child.take().expect("running");
        if let Some(status) = exit_within(&mut child, Duration::from_secs(20)) {
            return status.success();
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the daemon did not stop within 20 s of SIGTERM");
    }

    /// SIGKILL: no chance to save or flush anything.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes a gateway's `openclaw.json` that points its Mattermost channel at `base_url`.
pub fn write_gateway_config(state_dir: &Path, base_url: &str, token: &str) {
    std::fs::create_dir_all(state_dir).expect("state dir");
    let config = serde_json::json!({
        "channels": {"mattermost": {"enabled": true, "baseUrl": base_url, "botToken": token}},
        "gateway": {"mode": "local", "port": 18789}
    });
    std::fs::write(
        state_dir.join("openclaw.json"),
        serde_json::to_vec_pretty(&config).expect("json"),
    )
    .expect("openclaw.json");
}
