//! The fake Mattermost as a process, for tests that cannot link it (tests/service/run.sh: the
//! daemon runs under systemd in a container and reaches it on loopback).
//!
//! `fake-mattermost DUMP` prints its base URL on stdout, then rewrites DUMP (JSON: every box
//! post with its id, channel, message, and the number of post creations) after each change,
//! until killed.

use std::time::Duration;

use livestatus_e2e::fake_mattermost::FakeMattermost;

fn main() {
    let Some(dump) = std::env::args_os().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: fake-mattermost DUMP");
        std::process::exit(2);
    };
    let mm = FakeMattermost::start();
    println!("{}", mm.base_url());
    let mut last = String::new();
    loop {
        let posts: Vec<serde_json::Value> = mm
            .posts()
            .into_iter()
            .filter(|p| p.props.get("openclaw_livestatus").is_some())
            .map(|p| {
                serde_json::json!({
                    "id": p.id, "channel_id": p.channel_id, "root_id": p.root_id,
                    "message": p.message, "deleted": p.delete_at != 0,
                })
            })
            .collect();
        let creates = mm
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/api/v4/posts")
            .count();
        let text = serde_json::json!({"posts": posts, "creates": creates}).to_string();
        if text != last {
            let tmp = dump.with_extension("tmp");
            if std::fs::write(&tmp, &text)
                .and_then(|()| std::fs::rename(&tmp, &dump))
                .is_ok()
            {
                last = text;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
