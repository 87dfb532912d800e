//! `openclaw-livestatus run` against the Mattermost plugin under the SDK's real plugin host
//! (`plugin/build/livestatus-harness`, built by `make -C plugin harness`; the tests FAIL when it
//! is missing) on recorded gateway sessions: the plugin keeps the session record, publishes its
//! WebSocket events, makes one post per turn and writes it once more only at the turn's end. The
//! fake Mattermost serves REST for the same server: when the plugin goes away mid-turn, the box
//! continues there, in the post the plugin made.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use livestatus::playback::Pace;
use livestatus_e2e::daemon::{Daemon, write_gateway_config};
use livestatus_e2e::fake_mattermost::{
    ALICE_USER_ID, BOT_USER_ID, FakeMattermost, TOWN_SQUARE_ID, World,
};
use livestatus_e2e::plugin_host::PluginHost;
use livestatus_e2e::posts::{creates, wait_for};
use livestatus_e2e::recording_now;
use serde_json::Value;

const TOKEN: &str = "fake-mm-bot-token-not-secret";
const SECRET: &str = "plugin-shared-secret-for-tests";
const KEY: &str = "agent:main:mattermost:channel:ch4town5quare00000000000ab";

struct Host {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    data: PathBuf,
    config: PathBuf,
}

impl Host {
    /// A gateway whose account is the fake Mattermost, and a config that sends its boxes to
    /// the plugin at `plugin_url` with the shared secret in a file.
    fn new(mm: &FakeMattermost, plugin_url: &str) -> Host {
        let tmp = tempfile::tempdir().expect("tmp");
        let state = tmp.path().join("home/alice/.openclaw");
        write_gateway_config(&state, &mm.base_url(), TOKEN);
        let secret = tmp.path().join("plugin-secret");
        std::fs::write(&secret, format!("{SECRET}\n")).expect("secret");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let config = tmp.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[mattermost]\nmode = \"plugin\"\nplugin_url = \"{plugin_url}\"\nplugin_secret_file = \"{}\"\n",
                secret.display()
            ),
        )
        .expect("config");
        Host {
            data: tmp.path().join("data"),
            _tmp: tmp,
            state,
            config,
        }
    }

    fn daemon(&self) -> Daemon {
        Daemon::start(&self.state, &self.data, &self.config, "inotify")
    }
}

fn text_of(session: &Value) -> Vec<(String, String)> {
    session["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    (
                        l["text"].as_str().unwrap_or_default().to_owned(),
                        l["status"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has_line(session: &Value, needle: &str, status: &str) -> bool {
    text_of(session)
        .iter()
        .any(|(text, s)| text.contains(needle) && s == status)
}

#[test]
fn a_turn_through_the_plugin_is_one_post_written_only_at_start_and_end_with_live_events() {
    let mm = FakeMattermost::start();
    let plugin = PluginHost::start(SECRET, &[(TOWN_SQUARE_ID, ALICE_USER_ID)]);
    let host = Host::new(&mm, &plugin.plugin_url());
    let daemon = host.daemon();
    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&host.state, "main").expect("prepare");
    player.play(Pace::FAST, |_| {}).expect("play");
    wait_for(
        "the session record to end [DONE]",
        Duration::from_secs(30),
        || {
            plugin
                .session(KEY, ALICE_USER_ID)
                .is_some_and(|s| s["state"] == "done")
        },
    );

    // The session record, as the webapp reads it.
    let session = plugin.session(KEY, ALICE_USER_ID).expect("record");
    assert_eq!(session["channel_id"], TOWN_SQUARE_ID, "{session:#}");
    assert_eq!(session["agent_id"], "main");
    assert!(
        has_line(&session, "read: /home/alice/notes/hello.txt", "ok"),
        "{session:#}"
    );
    assert!(
        has_line(&session, "exec: ls -la /home/alice/notes", "ok"),
        "{session:#}"
    );
    // A user who is not in the channel cannot read it.
    assert_eq!(plugin.session(KEY, BOT_USER_ID), None);

    // One post, of the plugin's type, in the session's channel.
    let posts = plugin.posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let post = &posts[0];
    assert_eq!(post["type"], "custom_livestatus");
    assert_eq!(post["channel_id"], TOWN_SQUARE_ID);
    assert_eq!(post["props"]["session_key"], KEY);
    assert_eq!(session["post_id"], post["id"]);
    let message = post["message"].as_str().unwrap_or_default();
    assert!(message.contains("[DONE]"), "{message}");
    assert!(
        message.contains("read: /home/alice/notes/hello.txt"),
        "{message}"
    );

    // Written twice: created at the start, the final box once at the end; no edit in between.
    let writes: Vec<(String, String)> = plugin
        .writes()
        .iter()
        .map(|w| {
            (
                w["op"].as_str().unwrap_or_default().to_owned(),
                w["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let ops: Vec<&str> = writes.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(ops, ["create", "update"], "{writes:#?}");
    assert!(writes[1].1.contains("[DONE]"), "{writes:#?}");
    assert!(!writes[0].1.contains("[DONE]"), "{writes:#?}");

    // The box streamed over WebSocket: several updates to the channel, seq rising, the last one final.
    let events: Vec<Value> = plugin
        .events()
        .into_iter()
        .filter(|e| e["event"] == "session_update")
        .collect();
    assert!(events.len() >= 2, "{events:#?}");
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| {
            e["payload"]["seq"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(events.iter().all(|e| e["channel_id"] == TOWN_SQUARE_ID));
    let last: Value = serde_json::from_str(
        events[events.len() - 1]["payload"]["session"]
            .as_str()
            .unwrap_or("{}"),
    )
    .expect("session JSON in the event");
    assert_eq!(last["state"], "done", "{last:#}");
    let first: Value =
        serde_json::from_str(events[0]["payload"]["session"].as_str().unwrap_or("{}"))
            .expect("session JSON in the event");
    assert_eq!(first["state"], "active", "{first:#}");

    // Nothing went over REST.
    assert_eq!(creates(&mm), 0, "{:#?}", mm.requests());
    assert!(
        mm.requests()
            .iter()
            .all(|r| !r.path.starts_with("/api/v4/posts/")),
        "{:#?}",
        mm.requests()
    );
    assert!(daemon.terminate());
}

#[test]
fn when_the_plugin_stops_mid_turn_the_box_continues_over_rest_in_the_same_post() {
    // The plugin's post is in the same Mattermost as the bot's REST account; the bot holds
    // edit_others_posts (here: system_admin), which continuing another author's post needs.
    let mut world = World::default();
    for u in &mut world.users {
        if u.id == BOT_USER_ID {
            u.roles = "system_user system_admin".to_owned();
        }
    }
    let mm = FakeMattermost::start_with(world);
    let mut plugin = PluginHost::start(SECRET, &[(TOWN_SQUARE_ID, ALICE_USER_ID)]);
    let host = Host::new(&mm, &plugin.plugin_url());
    let daemon = host.daemon();
    let rec = recording_now("2026.7.1/a_channel_tools");
    let mut player = rec.prepare(&host.state, "main").expect("prepare");
    let mut appends = 0;
    player
        .play_until(Pace::FAST, |s| {
            appends += usize::from(s.starts_with("append"));
            appends == 2
        })
        .expect("play the turn's start");
    wait_for(
        "the plugin's post and a line",
        Duration::from_secs(30),
        || {
            plugin.posts().len() == 1
                && plugin
                    .session(KEY, ALICE_USER_ID)
                    .is_some_and(|s| !text_of(&s).is_empty())
        },
    );
    let post = plugin.posts().remove(0);
    let post_id = post["id"].as_str().expect("post id").to_owned();
    let session = plugin.session(KEY, ALICE_USER_ID).expect("record");
    assert_eq!(session["state"], "active", "{session:#}");
    // That post lives in the server the REST account talks to.
    mm.seed_post_with_id(
        &post_id,
        TOWN_SQUARE_ID,
        post["user_id"]
            .as_str()
            .unwrap_or("livestatusbot000000000000a"),
        post["message"].as_str().unwrap_or_default(),
    );

    plugin.kill();
    player.play(Pace::FAST, |_| {}).expect("play the rest");
    wait_for(
        "the plugin's post to end [DONE] over REST",
        Duration::from_secs(40),
        || {
            mm.post(&post_id)
                .is_some_and(|p| p.message.contains("[DONE]"))
        },
    );
    let continued = mm.post(&post_id).expect("post");
    assert!(
        continued
            .message
            .contains("read: /home/alice/notes/hello.txt [OK]"),
        "{}",
        continued.message
    );
    assert!(
        continued
            .message
            .contains("exec: ls -la /home/alice/notes [OK]"),
        "{}",
        continued.message
    );
    // No second post: the box moved, it was not posted again.
    assert_eq!(creates(&mm), 0, "{:#?}", mm.requests());
    let patches = mm
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == format!("/api/v4/posts/{post_id}/patch"))
        .count();
    assert!(patches >= 1);
    daemon.wait_for_log("falling back to REST", Duration::from_secs(5));
    assert!(daemon.terminate());
}

#[test]
fn doctor_says_which_transport_each_account_gets_and_why() {
    let mm = FakeMattermost::start();
    let plugin = PluginHost::start(SECRET, &[]);
    let host = Host::new(&mm, &plugin.plugin_url());
    std::fs::create_dir_all(host.state.join("agents/main/sessions")).expect("agent");
    let doctor = |config: &str| {
        std::fs::write(
            &host.config,
            format!(
                "{config}\n[service]\ndata_dir = \"{}\"\n",
                host.data.display()
            ),
        )
        .expect("config");
        let out = std::process::Command::new(livestatus_e2e::daemon::binary())
            .arg("doctor")
            .arg("--gateway")
            .arg(&host.state)
            .arg("--config")
            .arg(&host.config)
            .env("LOG_LEVEL", "error")
            .env_remove("PLUGIN_SECRET")
            .env_remove("PLUGIN_URL")
            .env_remove("PLUGIN_ENABLED")
            .output()
            .expect("doctor");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let url = plugin.plugin_url();
    let (ok, text) = doctor(&format!(
        "[mattermost]\nmode = \"auto\"\nplugin_url = \"{url}\"\nplugin_secret = \"{SECRET}\""
    ));
    assert!(ok, "{text}");
    assert!(
        text.contains("account default of")
            && text.contains("mode plugin")
            && text.contains("accepts the shared secret"),
        "{text}"
    );
    assert!(!text.contains(SECRET), "the secret was printed: {text}");

    let (_, text) = doctor(&format!(
        "[mattermost]\nmode = \"plugin\"\nplugin_url = \"{url}\"\nplugin_secret = \"not-the-secret\""
    ));
    assert!(
        text.contains("mode rest") && text.contains("refuses the shared secret"),
        "{text}"
    );

    let (ok, text) = doctor("[mattermost]\nmode = \"auto\"");
    assert!(ok, "{text}");
    assert!(
        text.contains("mode rest") && text.contains("no plugin secret"),
        "{text}"
    );

    let (ok, text) = doctor("[mattermost]\nmode = \"plugin\"");
    assert!(!ok, "{text}");
    assert!(text.contains("plugin_secret_file"), "{text}");
}
