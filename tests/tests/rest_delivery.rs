//! `openclaw-livestatus run` against a fake Mattermost that follows the v4 API: the real
//! recordings of OpenClaw gateways, played into a temp state dir whose `openclaw.json` names
//! the fake server, must become exactly one post per turn in the right channel and thread,
//! edited in place to the final box — through bursts, outages, rate limits and crashes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use livestatus::api::client;
use livestatus::playback::{Pace, Recording};
use livestatus::service::config::Listen;
use livestatus_e2e::daemon::{Daemon, write_gateway_config};
use livestatus_e2e::fake_mattermost::{ALICE_USER_ID, FakeMattermost, Post};
use livestatus_e2e::posts::{box_posts, creates, finished, wait_final, wait_for};
use livestatus_e2e::recording_now;

const CHANNEL: &str = "ch4town5quare00000000000ab";
const DM: &str = "ch7dm0alice0bot00000000000";
const THREAD_ROOT: &str = "jag0wjcd1t1cuuhaucllp7h6u4";
const TOKEN: &str = "fake-mm-bot-token-not-secret";

struct Host {
    tmp: tempfile::TempDir,
    state: PathBuf,
    data: PathBuf,
    config: PathBuf,
}

impl Host {
    fn new(mm: &FakeMattermost, extra_config: &str) -> Host {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("home/alice/.openclaw");
        write_gateway_config(&state, &mm.base_url(), TOKEN);
        let data = tmp.path().join("data");
        let config = tmp.path().join("config.toml");
        std::fs::write(&config, extra_config).expect("config");
        Host {
            tmp,
            state,
            data,
            config,
        }
    }

    fn daemon(&self) -> Daemon {
        Daemon::start(&self.state, &self.data, &self.config, "inotify")
    }

    fn play(&self, rec: &Recording, pace: Pace) {
        let mut player = rec.prepare(&self.state, "main").expect("prepare");
        player.play(pace, |_| {}).expect("play");
    }

    /// Writes what existed before the recording began, so the daemon finds it at startup.
    fn prepare(&self, rec: &Recording) -> livestatus::playback::Player {
        rec.prepare(&self.state, "main").expect("prepare")
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }
}

#[test]
fn a_channel_turn_is_one_post_in_its_channel_edited_in_place_to_the_final_box() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    let daemon = host.daemon();
    host.play(&recording_now("2026.7.1/a_channel_tools"), Pace::FAST);
    wait_final(&mm, &daemon, 1, Duration::from_secs(20));
    let posts = box_posts(&mm);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let post = &posts[0];
    assert_eq!(post.channel_id, CHANNEL);
    assert_eq!(post.root_id, "");
    assert!(
        post.message
            .contains("read: /home/alice/notes/hello.txt [OK]"),
        "{}",
        post.message
    );
    assert!(
        post.message.contains("exec: ls -la /home/alice/notes [OK]"),
        "{}",
        post.message
    );
    assert!(
        post.message.contains("[DONE]") && post.message.contains("240"),
        "{}",
        post.message
    );
    assert_eq!(
        post.props["openclaw_livestatus"]["session_key"],
        "agent:main:mattermost:channel:ch4town5quare00000000000ab"
    );
    for r in mm.requests() {
        assert!(
            !(r.method == "PUT" && r.path == format!("/api/v4/posts/{}", post.id)),
            "a plain PUT would wipe the post's props: {r:?}"
        );
    }
    assert!(daemon.terminate());
    assert_eq!(creates(&mm), 1);
}

#[test]
fn a_thread_reply_lands_in_its_thread_and_a_dm_in_the_direct_channel() {
    let mm = FakeMattermost::start();
    // The user's post the recorded thread hangs off.
    mm.seed_post_with_id(
        THREAD_ROOT,
        CHANNEL,
        ALICE_USER_ID,
        "[scen:tools] please read hello.txt",
    );
    let host = Host::new(&mm, "");
    let b = recording_now("2026.7.1/b_thread_reply");
    let mut player = host.prepare(&b);
    let daemon = host.daemon();
    player.play(Pace::FAST, |_| {}).expect("play b");
    host.play(&recording_now("2026.7.1/c_dm"), Pace::FAST);
    wait_final(&mm, &daemon, 2, Duration::from_secs(20));
    let posts = box_posts(&mm);
    assert_eq!(posts.len(), 2, "{posts:#?}");
    let thread = posts
        .iter()
        .find(|p| p.message.contains("thread-reply-ok"))
        .expect("thread box");
    assert_eq!(
        (thread.channel_id.as_str(), thread.root_id.as_str()),
        (CHANNEL, THREAD_ROOT)
    );
    let dm = posts
        .iter()
        .find(|p| p.channel_id == DM)
        .expect("a post in the DM channel");
    assert!(dm.message.contains("hello.txt"), "{}", dm.message);
    assert!(
        mm.requests()
            .iter()
            .any(|r| r.method == "POST" && r.path == "/api/v4/channels/direct"),
        "the DM channel was not resolved through /channels/direct"
    );
    assert!(daemon.terminate());
}

/// A turn of `n` tool calls appended as fast as the disk takes them.
fn burst_transcript(state: &Path, n: usize) {
    let sessions = state.join("agents/main/sessions");
    std::fs::create_dir_all(&sessions).expect("sessions");
    std::fs::write(
        sessions.join("sessions.json"),
        format!(
            r#"{{"agent:main:mattermost:channel:{CHANNEL}":{{"sessionId":"burst","sessionFile":"/x/burst.jsonl","deliveryContext":{{"channel":"mattermost","to":"channel:{CHANNEL}","accountId":"default"}}}}}}"#
        ),
    )
    .expect("index");
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(sessions.join("burst.jsonl"))
        .expect("transcript");
    let now = "2026-11-22T05:00:00.000Z";
    writeln!(
        f,
        r#"{{"type":"session","version":3,"id":"burst","timestamp":"{now}"}}"#
    )
    .expect("w");
    writeln!(f, r#"{{"type":"message","id":"u","timestamp":"{now}","message":{{"role":"user","content":"go"}}}}"#).expect("w");
    for i in 0..n {
        writeln!(f, r#"{{"type":"message","id":"a{i}","timestamp":"{now}","message":{{"role":"assistant","content":[{{"type":"toolCall","id":"c{i}","name":"exec","arguments":{{"command":"step-{i}"}}}}],"stopReason":"toolUse"}}}}"#).expect("w");
    }
    writeln!(f, r#"{{"type":"message","id":"z","timestamp":"{now}","message":{{"role":"assistant","content":[{{"type":"text","text":"all done"}}],"stopReason":"stop","usage":{{"totalTokens":1000}}}}}}"#).expect("w");
}

#[test]
fn a_burst_of_a_hundred_appends_costs_a_couple_of_requests_and_the_final_state_arrives() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    let daemon = host.daemon();
    burst_transcript(&host.state, 100);
    wait_final(&mm, &daemon, 1, Duration::from_secs(20));
    let writes = mm
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v4/posts"))
        .count();
    assert!(writes <= 3, "{writes} requests for one burst");
    let post = &box_posts(&mm)[0];
    assert!(post.message.contains("all done"), "{}", post.message);
    assert!(daemon.terminate());
}

#[test]
fn after_an_outage_the_box_catches_up_in_one_update() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    // The API tells when the outage has lasted long enough: the turn ended, the breaker open.
    let socket = host.path().join("api.sock");
    std::fs::write(
        &host.config,
        format!("[api]\nlisten = \"unix:{}\"\n", socket.display()),
    )
    .expect("config");
    let api = Listen::Unix(socket);
    let daemon = host.daemon();
    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&host.state, "main").expect("prepare");
    // Down from the start of the turn until after its end.
    mm.set_down(true);
    player.play(Pace::FAST, |_| {}).expect("play");
    let channel_key = format!("agent:main:mattermost:channel:{CHANNEL}");
    daemon.wait_for(
        "the turn's end (/v1/status) while the breaker is open (/health 503)",
        Duration::from_secs(60),
        || {
            let ended = client::get(&api, "/v1/status", None).is_ok_and(|a| {
                let doc: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
                doc["sessions"]["running"] == 0
                    && doc["sessions"]["details"].as_array().is_some_and(|d| {
                        d.iter()
                            .any(|s| s["key"] == channel_key.as_str() && s["status"] == "idle")
                    })
            });
            ended && client::get(&api, "/health", None).is_ok_and(|a| a.status == 503)
        },
    );
    let before = mm.requests().len();
    mm.set_down(false);
    wait_final(&mm, &daemon, 1, Duration::from_secs(90));
    let after: Vec<_> = mm.requests()[before..]
        .iter()
        .filter(|r| r.path.starts_with("/api/v4/posts") && r.status.is_some_and(|s| s < 300))
        .cloned()
        .collect();
    assert!(after.len() <= 2, "the outage was replayed: {after:#?}");
    assert_eq!(box_posts(&mm).len(), 1);
    assert!(daemon.terminate());
}

#[test]
fn sigterm_marks_the_open_box_interrupted() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    let daemon = host.daemon();
    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&host.state, "main").expect("prepare");
    // Play only up to the first tool results, then stop the daemon mid-turn.
    let mut appends = 0;
    player
        .play_until(Pace::FAST, |s| {
            appends += usize::from(s.starts_with("append"));
            appends == 2
        })
        .expect("play");
    // Posted means open at the daemon: SIGTERM now finds a box to mark.
    wait_for("the box", Duration::from_secs(20), || {
        !box_posts(&mm).is_empty()
    });
    assert!(daemon.terminate());
    let post = &box_posts(&mm)[0];
    assert!(post.message.contains("[INTERRUPTED]"), "{}", post.message);
}

/// The spawning turn's box is posted before the kill; the daemon is then killed at a random
/// point while the sub-agent and the answer turn go on. After the restart the spawning turn ends
/// in its own post with the child's lines, the answer turn has its post (even when it ran wholly
/// while the daemon was down), no turn has two posts, and nothing stays [ACTIVE].
#[test]
fn kill_9_and_restart_at_random_points_never_duplicates_a_post_nor_loses_a_line() {
    for round in 0..6 {
        let mm = FakeMattermost::start();
        let host = Host::new(&mm, "");
        let rec = recording_now("2026.7.1/e_subagent");
        let mut player = host.prepare(&rec);
        // Played at 20x: stamped when written, as a gateway's lines are.
        player.stamp_when_written();
        let daemon = host.daemon();
        let pace = Pace {
            speed: 20.0,
            max_gap: Duration::from_millis(120),
        };
        player
            .play_until(pace, |step| step.starts_with("append"))
            .expect("play the turn's start");
        wait_for("the spawning turn's box", Duration::from_secs(20), || {
            !box_posts(&mm).is_empty()
        });
        let kill_after = Duration::from_millis(fastrand_u64(round) % 400);
        let killer = std::thread::spawn(move || {
            // A fixed wait on purpose: the kill lands at a drawn moment of the playback.
            std::thread::sleep(kill_after);
            daemon.kill9();
        });
        player.play(pace, |_| {}).expect("play");
        killer.join().expect("killer");
        let daemon = host.daemon();
        wait_final(&mm, &daemon, 2, Duration::from_secs(30));
        // A fixed wait on purpose: a duplicate post would come after the two final ones, and
        // none may come meanwhile.
        std::thread::sleep(Duration::from_millis(700));
        let posts = box_posts(&mm);
        let story = format!("round {round} (kill after {kill_after:?}): {posts:#?}");
        assert!(posts.iter().all(finished), "{story}\n{}", daemon.log_text());
        let spawns: Vec<&Post> = posts
            .iter()
            .filter(|p| p.message.contains("count-notes"))
            .collect();
        assert_eq!(spawns.len(), 1, "{story}\n{}", daemon.log_text());
        assert!(
            spawns[0]
                .message
                .contains("ls /home/alice/notes | wc -l [OK]"),
            "{story}"
        );
        let answers = posts
            .iter()
            .filter(|p| p.message.contains("The sub-agent finished"))
            .count();
        assert_eq!(answers, 1, "{story}");
        assert_eq!(posts.len(), 2, "{story}");
        assert!(daemon.terminate());
        let _ = host.path();
    }
}

#[test]
fn a_channel_the_bot_is_not_in_is_reported_once_not_retried_in_a_loop() {
    let mm = FakeMattermost::start();
    mm.remove_member(CHANNEL, "bt9f4k2m7xq1w8e5r3t6y0uiop");
    let host = Host::new(&mm, "");
    let daemon = host.daemon();
    host.play(&recording_now("2026.7.1/a_channel_tools"), Pace::FAST);
    daemon.wait_for_log("403", Duration::from_secs(20));
    // A fixed wait on purpose: a retry loop would post again meanwhile.
    std::thread::sleep(Duration::from_secs(2));
    let attempts = creates(&mm);
    assert!(
        attempts <= 2,
        "{attempts} attempts to post where the bot may not"
    );
    let log = daemon.log_text();
    assert!(
        log.contains("api.context.permissions.app_error") || log.contains("permission"),
        "{log}"
    );
    assert!(!log.contains(TOKEN), "the token was logged");
    assert!(daemon.terminate());
}

fn fastrand_u64(seed: u64) -> u64 {
    // A fixed, spread-out sequence: reproducible rounds, different kill points.
    seed.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        >> 33
}

#[test]
fn a_wrong_token_is_reported_with_what_to_do_and_not_retried_in_a_loop() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    write_gateway_config(&host.state, &mm.base_url(), "not-the-bot-token");
    let daemon = host.daemon();
    host.play(&recording_now("2026.7.1/a_channel_tools"), Pace::FAST);
    daemon.wait_for_log("401", Duration::from_secs(20));
    // A fixed wait on purpose: a retry loop would send again meanwhile.
    std::thread::sleep(Duration::from_secs(2));
    let log = daemon.log_text();
    assert!(
        log.contains("api.context.session_expired.app_error"),
        "{log}"
    );
    assert!(
        log.to_lowercase().contains("token"),
        "no hint about the token: {log}"
    );
    assert!(!log.contains("not-the-bot-token"), "the token was logged");
    let attempts = mm.requests().len();
    assert!(
        attempts <= 3,
        "{attempts} requests with a token the server refuses"
    );
    assert!(box_posts(&mm).is_empty());
    assert!(daemon.terminate());
}

#[test]
fn rate_limits_and_server_errors_delay_the_box_but_never_lose_or_double_it() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    let daemon = host.daemon();
    mm.rate_limit_next(2, 1);
    mm.fail_next(2, 502);
    host.play(&recording_now("2026.7.1/a_channel_tools"), Pace::FAST);
    wait_final(&mm, &daemon, 1, Duration::from_secs(40));
    let statuses: Vec<Option<u16>> = mm.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&Some(429)), "{statuses:?}");
    assert!(statuses.contains(&Some(502)), "{statuses:?}");
    assert_eq!(box_posts(&mm).len(), 1);
    // After a 429 with Retry-After: 1, the server is left alone for that second.
    let requests = mm.requests();
    let i = requests
        .iter()
        .position(|r| r.status == Some(429))
        .expect("a rate-limited request");
    let next = requests.get(i + 1).expect("a request after the rate limit");
    let waited = next.at.duration_since(requests[i].at);
    assert!(
        waited >= Duration::from_millis(900),
        "retried {waited:?} after a 429 that said Retry-After: 1"
    );
    assert!(daemon.terminate());
}

#[test]
fn a_box_longer_than_the_post_limit_is_cut_with_a_visible_marker() {
    let mm = FakeMattermost::start();
    let host = Host::new(
        &mm,
        "[render]\nmax_status_lines = 500\nmax_message_chars = 400\n",
    );
    let daemon = host.daemon();
    burst_transcript(&host.state, 80);
    wait_final(&mm, &daemon, 1, Duration::from_secs(20));
    let post = &box_posts(&mm)[0];
    assert!(
        post.message.chars().count() <= 400,
        "{} chars",
        post.message.chars().count()
    );
    assert!(
        post.message.contains("earlier"),
        "no marker: {}",
        post.message
    );
    assert!(
        post.message.contains("all done") && post.message.contains("[DONE]"),
        "{}",
        post.message
    );
    assert!(daemon.terminate());
}

#[test]
fn doctor_probes_each_gateways_account_and_says_what_to_fix() {
    let mm = FakeMattermost::start();
    let host = Host::new(&mm, "");
    std::fs::create_dir_all(host.state.join("agents/main/sessions")).expect("agent");
    let doctor = |host: &Host| {
        std::process::Command::new(livestatus_e2e::daemon::binary())
            .arg("doctor")
            .arg("--gateway")
            .arg(&host.state)
            .arg("--config")
            .arg(&host.config)
            .env("LOG_LEVEL", "error")
            .env_remove("MM_URL")
            .env_remove("MM_TOKEN")
            .output()
            .expect("doctor")
    };
    // --data-dir is the daemon's; doctor reads service.data_dir from the config.
    std::fs::write(
        &host.config,
        format!("[service]\ndata_dir = \"{}\"\n", host.data.display()),
    )
    .expect("config");
    let out = doctor(&host);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("bot @openclaw"), "{text}");
    assert!(text.contains(&host.state.display().to_string()), "{text}");

    write_gateway_config(&host.state, &mm.base_url(), "revoked-token");
    let out = doctor(&host);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("refused") && text.contains("401"), "{text}");
    assert!(!text.contains("revoked-token"), "the token was printed");
}
