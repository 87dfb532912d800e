//! What the fake Mattermost holds of the daemon's boxes, and waiting on it: the helpers the
//! end-to-end tests that run `openclaw-livestatus run` share.

use std::time::Duration;

use crate::daemon::Daemon;
use crate::fake_mattermost::{FakeMattermost, Post};
use crate::wait::until;

// Kept here too: the tests and the API bench that wait on posts import it from here.
pub use crate::wait::wait_for;

/// The posts that are status boxes (they carry the daemon's props).
pub fn box_posts(mm: &FakeMattermost) -> Vec<Post> {
    mm.posts()
        .into_iter()
        .filter(|p| p.props.get("openclaw_livestatus").is_some())
        .collect()
}

/// A box that shows how its turn ended.
pub fn finished(p: &Post) -> bool {
    ["[DONE]", "[ERROR]", "[INTERRUPTED]"]
        .iter()
        .any(|tag| p.message.contains(tag))
}

/// Waits until `n` box posts exist and all show a final state; on timeout, says what there was.
pub fn wait_final(mm: &FakeMattermost, daemon: &Daemon, n: usize, timeout: Duration) {
    if until(timeout, || all_finished(mm, n)) {
        return;
    }
    let requests: Vec<String> = mm
        .requests()
        .iter()
        .map(|r| format!("{} {} -> {:?}", r.method, r.path, r.status))
        .collect();
    let log = daemon.log_text();
    let tail: Vec<&str> = log.lines().rev().take(60).collect();
    panic!(
        "wanted {n} finished box posts; posts: {:#?}\nrequests: {requests:#?}\nlog tail:\n{}",
        box_posts(mm)
            .iter()
            .map(|p| (&p.channel_id, &p.root_id, &p.message))
            .collect::<Vec<_>>(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// At least `n` box posts, every one finished.
pub fn all_finished(mm: &FakeMattermost, n: usize) -> bool {
    let posts = box_posts(mm);
    posts.len() >= n && posts.iter().all(finished)
}

/// Post creations the server was asked for.
pub fn creates(mm: &FakeMattermost) -> usize {
    mm.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v4/posts")
        .count()
}
