//! `kill -9` at any moment, turns that end (and new ones that start) while the daemon is down,
//! then a restart: every turn that has a post ends in ITS post with the final text a clean run
//! gives, no turn gets a second post, and nothing stays `[ACTIVE]`.
//!
//! The gateway's chats are real recordings, chained in one state dir the way the gateway wrote
//! them (one era after the other's scenarios), played at a quick pace while a killer thread
//! takes the daemon down at points drawn per round and the player goes on writing meanwhile.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use livestatus::playback::{Pace, Player, Recording};
use livestatus::sink::mattermost::post_store::POSTS_FILE;
use livestatus_e2e::daemon::{Daemon, write_gateway_config};
use livestatus_e2e::fake_mattermost::{FakeMattermost, Post};
use livestatus_e2e::recording;
use livestatus_e2e::sqlite_play::HeldTurn;
use livestatus_e2e::wait::until;

const TOKEN: &str = "fake-mm-bot-token-not-secret";
const PACE: Pace = Pace {
    speed: 20.0,
    max_gap: Duration::from_millis(80),
};

/// The scenarios of one era, in the order the gateway ran them (the state dir carried over).
const CHAINS: [&[&str]; 2] = [
    &["2026.4.27/a_channel_tools", "2026.4.27/c_dm"],
    &[
        "2026.7.1/a_channel_tools",
        "2026.7.1/b_thread_reply",
        "2026.7.1/c_dm",
        "2026.7.1/d_tool_error",
        "2026.7.1/e_subagent",
    ],
];

struct Host {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    data: PathBuf,
    config: PathBuf,
}

impl Host {
    fn new(mm: &FakeMattermost) -> Host {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("home/alice/.openclaw");
        write_gateway_config(&state, &mm.base_url(), TOKEN);
        let data = tmp.path().join("data");
        let config = tmp.path().join("config.toml");
        std::fs::write(&config, "").expect("config");
        Host {
            _tmp: tmp,
            state,
            data,
            config,
        }
    }

    fn daemon(&self) -> Daemon {
        Daemon::start(&self.state, &self.data, &self.config, "inotify")
    }
}

/// The chain's recordings, each moved to start now (as a gateway running now writes), one after
/// the other: a later recording is prepared only when the one before has been played out.
struct Chain {
    scenarios: Vec<&'static str>,
    current: Option<Player>,
}

impl Chain {
    fn new(scenarios: &[&'static str]) -> Chain {
        Chain {
            scenarios: scenarios.iter().rev().copied().collect(),
            current: None,
        }
    }

    /// Plays `steps` writes (or all that are left: returns false once the chain is played out).
    fn play(&mut self, host: &Host, mut steps: usize) -> bool {
        while steps > 0 {
            if self.current.is_none() {
                let Some(next) = self.scenarios.pop() else {
                    return false;
                };
                let rec: Recording = recording(next).shifted_to(livestatus::clock::now_ms());
                let mut player = rec.prepare(&host.state, "main").expect("prepare");
                // Played at 20×, and one scenario after the other into the same transcripts:
                // stamped as written, the transcripts' times run forward as a gateway's do.
                player.stamp_when_written();
                self.current = Some(player);
            }
            let player = self.current.as_mut().expect("a player");
            let mut taken = 0;
            player
                .play_until(PACE, |_| {
                    taken += 1;
                    taken == steps
                })
                .expect("play");
            if taken < steps {
                // This recording is played out; the rest of the steps go to the next one.
                self.current = None;
            }
            steps -= taken.min(steps);
        }
        true
    }
}

fn box_posts(mm: &FakeMattermost) -> Vec<Post> {
    let mut posts: Vec<Post> = mm
        .posts()
        .into_iter()
        .filter(|p| p.props.get("openclaw_livestatus").is_some() && p.delete_at == 0)
        .collect();
    posts.sort_by_key(|p| p.create_at);
    posts
}

fn finished(p: &Post) -> bool {
    ["[DONE]", "[ERROR]", "[INTERRUPTED]"]
        .iter()
        .any(|tag| p.message.contains(tag))
}

/// A post's text without the figures that depend on when the daemon saw the turn start
/// (elapsed times): what must be equal between a clean run and a run with crashes.
fn normalized(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut word = String::from(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || d == 'm' || d == 's' || d == 'h' {
                    word.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            if word.ends_with('s') || word.ends_with('m') || word.ends_with('h') {
                out.push_str("<t>");
            } else {
                out.push_str(&word);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits until at least `want` box posts are all finished and have not changed for a second,
/// or 40 s have passed; returns the posts either way.
fn quiet(mm: &FakeMattermost, want: usize) -> Vec<Post> {
    let mut last = Vec::new();
    let mut since = Instant::now();
    // Not settled in time: the caller compares what there is, and says so.
    until(Duration::from_secs(40), || {
        let now: Vec<(String, String)> = box_posts(mm)
            .into_iter()
            .map(|p| (p.id, p.message))
            .collect();
        if now != last {
            last = now;
            since = Instant::now();
        }
        let done = last.len() >= want && box_posts(mm).iter().all(finished);
        done && since.elapsed() > Duration::from_secs(1)
    });
    box_posts(mm)
}

/// Waits until the daemon has posted a box and saved that post's id in its store: the restart
/// then finds the post. (A kill before the save is another case, which the random rounds draw.)
fn wait_post_saved(mm: &FakeMattermost, host: &Host, daemon: &Daemon) {
    let store = host.data.join(POSTS_FILE);
    daemon.wait_for(
        "the box's post id in the store",
        Duration::from_secs(20),
        || {
            box_posts(mm).first().is_some_and(|p| {
                std::fs::read_to_string(&store).is_ok_and(|saved| saved.contains(&p.id))
            })
        },
    );
}

/// Like `quiet`, and panics with the daemon's log unless `want` finished posts came.
fn settled(mm: &FakeMattermost, daemon: &Daemon, want: usize, what: &str) -> Vec<Post> {
    let posts = quiet(mm, want);
    if posts.len() >= want && posts.iter().all(finished) {
        return posts;
    }
    let log = daemon.log_text();
    let tail: Vec<&str> = log.lines().rev().take(80).collect();
    panic!(
        "{what}: wanted {want} finished box posts, got {:#?}\nlog tail:\n{}",
        posts.iter().map(|p| &p.message).collect::<Vec<_>>(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// What the gateway writes, step by step: a chain of JSONL recordings, or the last turn of a
/// SQLite-era store committed row by row.
enum Source {
    Jsonl(Chain),
    Sqlite(HeldTurn),
}

/// The gateway of one run: `scenarios` is a JSONL chain, or one 2026.9.6 scenario.
fn source(host: &Host, scenarios: &[&'static str]) -> Source {
    match scenarios {
        [one] if one.starts_with("2026.9.") => Source::Sqlite(HeldTurn::new(&host.state, one)),
        chain => Source::Jsonl(Chain::new(chain)),
    }
}

impl Source {
    /// Writes `steps` more; false once everything is written.
    fn play(&mut self, host: &Host, steps: usize) -> bool {
        match self {
            Source::Jsonl(chain) => chain.play(host, steps),
            Source::Sqlite(turn) => turn.commit(steps, PACE.max_gap / 4),
        }
    }

    fn play_out(&mut self, host: &Host) {
        while self.play(host, usize::MAX) {}
    }
}

fn clean_run(scenarios: &[&'static str]) -> Vec<String> {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm);
    let mut gateway = source(&host, scenarios);
    let daemon = host.daemon();
    gateway.play_out(&host);
    // The count is not known before: wait for every post to be final and quiet.
    let posts = settled(&mm, &daemon, 1, "clean run");
    // No two turns of these recordings end alike: a repeated text is a turn posted twice (seen
    // when another daemon on the host, following every state dir, posted into this test's
    // server too).
    let texts: Vec<&String> = posts.iter().map(|p| &p.message).collect();
    for (i, t) in texts.iter().enumerate() {
        assert!(
            !texts[..i].contains(t),
            "a turn posted twice in a clean run: {t}\n(is another openclaw-livestatus running \
             host-wide on this machine?)\n{}",
            daemon.log_text()
        );
    }
    assert!(daemon.terminate());
    posts.iter().map(|p| normalized(&p.message)).collect()
}

/// A small deterministic generator, so a failing round can be replayed from its seed.
struct Draw(u64);

impl Draw {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below.max(1) as u64) as usize
    }
}

fn crash_rounds(chain: &[&'static str], rounds: u64) {
    let want = clean_run(chain);
    assert!(!want.is_empty(), "the clean run posted nothing");
    for round in 0..rounds {
        let seed = 0x9e37_79b9_7f4a_7c15 ^ (round + 1).wrapping_mul(0x2545_f491);
        let mut draw = Draw(seed);
        let mm = FakeMattermost::start();
        let host = Host::new(&mm);
        let mut chain_player = source(&host, chain);
        let mut daemon = host.daemon();
        let mut story = Vec::new();
        let mut earlier_logs = Vec::new();
        loop {
            let up = 1 + draw.next(12);
            let more = chain_player.play(&host, up);
            if !more {
                break;
            }
            // A fixed wait on purpose: the kill lands at a drawn moment, after the daemon has
            // acted on some of it (or none: a kill right after a write).
            std::thread::sleep(Duration::from_millis(draw.next(300) as u64));
            earlier_logs.push(daemon.log_text());
            daemon.kill9();
            let down = draw.next(10);
            story.push(format!("up {up}, down {down}"));
            let more = chain_player.play(&host, down);
            daemon = host.daemon();
            if !more {
                break;
            }
        }
        chain_player.play_out(&host);
        let posts = quiet(&mm, want.len());
        let got: Vec<String> = posts.iter().map(|p| normalized(&p.message)).collect();
        if got != want {
            for (i, log) in earlier_logs.iter().enumerate() {
                eprintln!("---- log of daemon {i} (killed) ----\n{log}");
            }
            for p in &posts {
                eprintln!("post {} root {:?} props {}", p.id, p.root_id, p.props);
            }
        }
        assert_eq!(
            got,
            want,
            "round {round} (seed {seed:#x}, {}): the posts differ from a clean run's\nlog:\n{}",
            story.join("; "),
            daemon.log_text()
        );
        assert!(daemon.terminate());
    }
}

#[test]
fn a_turn_that_ends_while_the_daemon_is_down_ends_in_its_own_post() {
    // A1 in progress → kill → A1 ends and A2 starts while down → restart.
    let chain: &[&'static str] = &["2026.7.1/a_channel_tools", "2026.7.1/d_tool_error"];
    let mut want = clean_run(chain);
    // The DM turn of the chain (written before A2 starts) ends while the daemon is down here:
    // a turn never seen live has no post to finish.
    want.retain(|m| !m.contains("direct message"));
    assert_eq!(want.len(), 2, "{want:#?}");
    let mm = FakeMattermost::start();
    let host = Host::new(&mm);
    let daemon = host.daemon();
    let mut a = recording("2026.7.1/a_channel_tools")
        .shifted_to(livestatus::clock::now_ms())
        .prepare(&host.state, "main")
        .expect("prepare");
    let mut appends = 0;
    a.play_until(PACE, |s| {
        appends += usize::from(s.starts_with("append"));
        appends == 2
    })
    .expect("play");
    wait_post_saved(&mm, &host, &daemon);
    daemon.kill9();
    a.play(PACE, |_| {}).expect("play A1 out");
    let mut d = recording("2026.7.1/d_tool_error")
        .shifted_to(livestatus::clock::now_ms())
        .prepare(&host.state, "main")
        .expect("prepare");
    let mut appends = 0;
    d.play_until(PACE, |s| {
        appends += usize::from(s.starts_with("append"));
        appends == 1
    })
    .expect("play A2's start");
    let daemon = host.daemon();
    d.play(PACE, |_| {}).expect("play A2 out");
    let posts = settled(&mm, &daemon, 2, "A1/A2");
    let got: Vec<String> = posts.iter().map(|p| normalized(&p.message)).collect();
    assert_eq!(got, want, "log:\n{}", daemon.log_text());
    assert!(daemon.terminate());
}

#[test]
fn a_turn_that_ends_while_the_daemon_is_down_is_finished_in_its_post() {
    // A1 in progress → kill → A1 ends → restart (no A2): its post must not stay [ACTIVE].
    let chain: &[&'static str] = &["2026.7.1/a_channel_tools"];
    let want = clean_run(chain);
    let mm = FakeMattermost::start();
    let host = Host::new(&mm);
    let daemon = host.daemon();
    let mut a = recording("2026.7.1/a_channel_tools")
        .shifted_to(livestatus::clock::now_ms())
        .prepare(&host.state, "main")
        .expect("prepare");
    let mut appends = 0;
    a.play_until(PACE, |s| {
        appends += usize::from(s.starts_with("append"));
        appends == 2
    })
    .expect("play");
    wait_post_saved(&mm, &host, &daemon);
    daemon.kill9();
    a.play(PACE, |_| {}).expect("play A1 out");
    let daemon = host.daemon();
    let posts = settled(&mm, &daemon, 1, "A1 alone");
    let got: Vec<String> = posts.iter().map(|p| normalized(&p.message)).collect();
    assert_eq!(got, want, "log:\n{}", daemon.log_text());
    assert!(daemon.terminate());
}

/// Rounds per chain: `LIVESTATUS_CRASH_ROUNDS` (default 4) for a longer run.
fn rounds() -> u64 {
    std::env::var("LIVESTATUS_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

#[test]
fn kill_9_at_random_points_over_every_jsonl_era_gives_the_clean_runs_posts() {
    for chain in CHAINS {
        crash_rounds(chain, rounds());
    }
}

/// The SQLite era: the store's last turn committed row by row (one transaction each, as the
/// gateway does) while the daemon is killed and restarted.
#[test]
fn kill_9_at_random_points_over_the_sqlite_era_gives_the_clean_runs_posts() {
    crash_rounds(&["2026.9.6/a_channel_tools"], rounds());
}
