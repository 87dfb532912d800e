//! Plays a recorded OpenClaw session into a state dir, as its gateway wrote it, timed now
//! (`tests/service/run.sh` plays into a container's `/home/<user>/.openclaw` from the host).
//!
//! `play-recording SCENARIO STATE_DIR [PAUSE_AFTER_APPENDS RESUME_FILE]`: with the last two,
//! stops after that many appends (the turn is open) and goes on once RESUME_FILE exists.

use std::path::PathBuf;
use std::time::Duration;

use livestatus::playback::Pace;
use livestatus_e2e::recording_now;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 && args.len() != 4 {
        eprintln!("usage: play-recording SCENARIO STATE_DIR [PAUSE_AFTER_APPENDS RESUME_FILE]");
        std::process::exit(2);
    }
    let rec = recording_now(&args[0]);
    let state = PathBuf::from(&args[1]);
    let mut player = match rec.prepare(&state, "main") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("play-recording: preparing {}: {e:#}", state.display());
            std::process::exit(1);
        }
    };
    player.stamp_when_written();
    if args.len() == 4 {
        let pause: usize = args[2].parse().unwrap_or(2);
        let resume = PathBuf::from(&args[3]);
        let mut appends = 0;
        if let Err(e) = player.play_until(Pace::FAST, |s| {
            appends += usize::from(s.starts_with("append"));
            appends == pause
        }) {
            eprintln!("play-recording: {e:#}");
            std::process::exit(1);
        }
        println!("paused");
        while !resume.exists() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if let Err(e) = player.play(Pace::FAST, |_| {}) {
        eprintln!("play-recording: {e:#}");
        std::process::exit(1);
    }
    println!("played");
}
