//! The release daemon under measurement, as a child process: `run --gateway <dir> --tier <t>`,
//! READY timed on its `NOTIFY_SOCKET` as systemd would, optionally under a soft fd limit.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `target/release/openclaw-livestatus` of this workspace, or why it cannot be used.
pub fn release_binary() -> Result<PathBuf, String> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release/openclaw-livestatus")
        .canonicalize()
        .map_err(|_| {
            "target/release/openclaw-livestatus is missing: build it first with \
             `cargo build --release -p openclaw-livestatus --locked` (`make bench` does)"
                .to_owned()
        })?;
    Ok(bin)
}

pub struct Agent {
    child: Option<Child>,
    pub log: PathBuf,
    notify: UnixDatagram,
    pub spawned: Instant,
}

/// How to start one daemon.
pub struct Launch<'a> {
    pub binary: &'a Path,
    pub state_dir: &'a Path,
    /// Holds the data dir, the config, the log and the notify socket.
    pub work_dir: &'a Path,
    pub tier: &'a str,
    /// A soft `RLIMIT_NOFILE` like systemd's `LimitNOFILE=` (through `prlimit`).
    pub nofile: Option<u64>,
}

impl Agent {
    pub fn start(l: &Launch) -> Result<Agent, String> {
        std::fs::create_dir_all(l.work_dir)
            .map_err(|e| format!("{}: {e}", l.work_dir.display()))?;
        let config = l.work_dir.join("config.toml");
        std::fs::write(&config, "").map_err(|e| format!("{}: {e}", config.display()))?;
        let log = l.work_dir.join("daemon.log");
        let err = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let sock_path = l.work_dir.join("notify.sock");
        let _ = std::fs::remove_file(&sock_path);
        let notify = UnixDatagram::bind(&sock_path)
            .map_err(|e| format!("bind {}: {e}", sock_path.display()))?;
        notify
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|e| format!("notify socket timeout: {e}"))?;
        let mut command = match l.nofile {
            Some(n) => {
                // prlimit execs the daemon: the pid we hold is the daemon's.
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:")).arg("--").arg(l.binary);
                c
            }
            None => Command::new(l.binary),
        };
        command
            .arg("run")
            .arg("--gateway")
            .arg(l.state_dir)
            .arg("--data-dir")
            .arg(l.work_dir.join("data"))
            .arg("--config")
            .arg(&config)
            .arg("--tier")
            .arg(l.tier)
            .env("LOG_LEVEL", "info")
            .env("NOTIFY_SOCKET", &sock_path)
            .env_remove("JOURNAL_STREAM")
            .env_remove("MM_URL")
            .env_remove("MM_TOKEN")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err));
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", l.binary.display()))?;
        Ok(Agent {
            child: Some(child),
            log,
            notify,
            spawned,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Time from spawn to `READY=1`; `Err` says why it never came (exit, or the log's last lines).
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.notify.recv(&mut buf)
                && String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .any(|l| l == "READY=1")
            {
                return Ok(self.spawned.elapsed());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!("exited ({status}): {}", self.last_error()));
            }
            // The daemon gave up on telling systemd (EMFILE on the socket): READY=1 will not come.
            if let Some(line) = self
                .log_text()
                .lines()
                .find(|l| l.contains("could not notify systemd"))
            {
                return Err(format!("never sent: {}", message_of(line)));
            }
        }
        Err(format!(
            "no READY=1 within {timeout:?}: {}",
            self.last_error()
        ))
    }

    /// The most telling line of the log: the last warning or error, else the last line.
    pub fn last_error(&self) -> String {
        let log = self.log_text();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("ERROR") || l.contains("WARN"))
            .or_else(|| log.lines().next_back())
            .unwrap_or("(empty log)");
        message_of(line)
    }

    /// Lines of the log that contain `needle` (case-insensitive).
    pub fn log_count(&self, needle: &str) -> usize {
        let needle = needle.to_lowercase();
        self.log_text()
            .lines()
            .filter(|l| l.to_lowercase().contains(&needle))
            .count()
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn stop(mut self, grace: Duration) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A log line without its timestamp and span, cut to a table cell's length.
fn message_of(line: &str) -> String {
    let msg = line.split_once("}: ").map_or(line, |(_, m)| m);
    msg.chars().take(160).collect()
}
