//! A JSONL-era gateway (2026.4.27 shape) with many Mattermost sessions, one channel each, and
//! the transcript lines its turns append, in the shapes the recorded fixtures show
//! (`tests/fixtures/openclaw/2026.4.27/c_dm`): user message, assistant tool calls, tool results,
//! final assistant text with `stopReason: "stop"`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::daemon::write_gateway_config;
use crate::fake_mattermost::{BOT_USER_ID, Channel, TEAM_ID, World};

/// A session of the generated gateway.
#[derive(Clone, Debug)]
pub struct LoadSession {
    pub key: String,
    pub id: String,
    pub channel_id: String,
    pub transcript: PathBuf,
    pub lock: PathBuf,
}

/// A Mattermost id (26 lowercase alphanumerics) for session `i`.
pub fn channel_id(i: usize) -> String {
    format!("ld{i:024}")
}

/// The fake server's world with one channel per session, the bot a member of each.
pub fn world(sessions: usize) -> World {
    let mut world = World::default();
    for i in 0..sessions {
        world.channels.push(Channel::open(
            &channel_id(i),
            TEAM_ID,
            &format!("load-{i}"),
            &format!("Load {i}"),
            &[BOT_USER_ID],
        ));
    }
    world
}

/// Writes `openclaw.json` (pointing at `base_url`) and `sessions.json` listing `n` sessions, each
/// with a transcript holding its header line; returns the sessions.
pub fn write(state_dir: &Path, base_url: &str, token: &str, n: usize) -> Vec<LoadSession> {
    write_gateway_config(state_dir, base_url, token);
    let dir = state_dir.join("agents/main/sessions");
    std::fs::create_dir_all(&dir).expect("sessions dir");
    let now = unix_ms(SystemTime::now());
    let mut index = serde_json::Map::new();
    let mut sessions = Vec::with_capacity(n);
    for i in 0..n {
        let channel = channel_id(i);
        let id = format!("10ad0000-0000-4000-8000-{i:012}");
        let key = format!("agent:main:mattermost:channel:{channel}");
        let transcript = dir.join(format!("{id}.jsonl"));
        index.insert(key.clone(), index_entry(&id, &channel, &transcript, now));
        std::fs::write(&transcript, header(&id, now)).expect("transcript header");
        sessions.push(LoadSession {
            key,
            lock: dir.join(format!("{id}.jsonl.lock")),
            id,
            channel_id: channel,
            transcript,
        });
    }
    std::fs::write(
        dir.join("sessions.json"),
        serde_json::to_vec_pretty(&index).expect("index json"),
    )
    .expect("sessions.json");
    sessions
}

/// Sessions per agent in the history: one `sessions.json` of 200 000 entries would be 130 MB,
/// over the daemon's bound for an index and far past what a gateway keeps in one (it prunes
/// its index); a host with that much history has it across agents and gateways.
pub const HISTORY_PER_AGENT: usize = 10_000;

/// `n` finished sessions (one complete turn each) whose transcripts were last written at times
/// spread evenly over the past day, for the startup measurement: agent `main` holds the first
/// `HISTORY_PER_AGENT`, `h1`, `h2`, … the rest.
pub fn write_history(state_dir: &Path, base_url: &str, token: &str, n: usize) {
    write_gateway_config(state_dir, base_url, token);
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    for (a, first) in (0..n).step_by(HISTORY_PER_AGENT).enumerate() {
        let agent = if a == 0 {
            "main".to_owned()
        } else {
            format!("h{a}")
        };
        let dir = state_dir.join(format!("agents/{agent}/sessions"));
        std::fs::create_dir_all(&dir).expect("sessions dir");
        let mut index = serde_json::Map::new();
        for i in first..n.min(first + HISTORY_PER_AGENT) {
            let at = now - day.mul_f64((i as f64 + 1.0) / n as f64);
            let ms = unix_ms(at);
            let id = format!("01570000-0000-4000-8000-{i:012}");
            let channel = channel_id(i);
            let key = format!("agent:{agent}:mattermost:channel:{channel}");
            let transcript = dir.join(format!("{id}.jsonl"));
            index.insert(key, index_entry(&id, &channel, &transcript, ms));
            let mut text = header(&id, ms - 4000);
            text.extend(Turn::new(i, 0).lines(ms - 4000, 4));
            std::fs::write(&transcript, text).expect("history transcript");
            let file = std::fs::File::options()
                .write(true)
                .open(&transcript)
                .expect("reopen history transcript");
            file.set_times(std::fs::FileTimes::new().set_modified(at).set_accessed(at))
                .expect("set mtime");
        }
        std::fs::write(
            dir.join("sessions.json"),
            serde_json::to_vec(&index).expect("index json"),
        )
        .expect("sessions.json");
    }
}

fn index_entry(id: &str, channel: &str, transcript: &Path, now_ms: i64) -> serde_json::Value {
    json!({
        "sessionId": id,
        "updatedAt": now_ms,
        "sessionStartedAt": now_ms,
        "systemSent": true,
        "abortedLastRun": false,
        "chatType": "channel",
        "channel": "mattermost",
        "groupId": channel,
        "deliveryContext": {"channel": "mattermost", "to": format!("channel:{channel}"), "accountId": "default"},
        "lastChannel": "mattermost",
        "lastTo": format!("channel:{channel}"),
        "lastAccountId": "default",
        "sessionFile": transcript.display().to_string(),
        "compactionCount": 0
    })
}

fn header(id: &str, ms: i64) -> String {
    format!(
        "{{\"type\":\"session\",\"version\":3,\"id\":\"{id}\",\"timestamp\":\"{}\",\"cwd\":\"/home/alice/.openclaw/workspace\"}}\n",
        iso(ms)
    )
}

/// The `.jsonl.lock` OpenClaw 2026.4.27 holds for a whole turn.
pub fn lock_body(ms: i64) -> String {
    format!(
        "{{\n  \"pid\": {},\n  \"createdAt\": \"{}\",\n  \"starttime\": 438900\n}}",
        std::process::id(),
        iso(ms)
    )
}

/// Line `k` of turn `turn` of session `session`: ids unique across the run.
pub struct Turn {
    prefix: String,
}

impl Turn {
    pub fn new(session: usize, turn: usize) -> Turn {
        Turn {
            prefix: format!("{session:x}t{turn:x}"),
        }
    }

    /// Line `k` of a turn of `len` lines (`len` ≥ 2): the user's message first, then tool calls
    /// and their results in turn, the final answer last.
    pub fn line(&self, k: usize, len: usize, ms: i64) -> String {
        let p = &self.prefix;
        let ts = iso(ms);
        let parent = if k == 0 {
            "null".to_owned()
        } else {
            format!("\"{p}l{:x}\"", k - 1)
        };
        let id = format!("{p}l{k:x}");
        if k == 0 {
            return format!(
                "{{\"type\":\"message\",\"id\":\"{id}\",\"parentId\":{parent},\"timestamp\":\"{ts}\",\"message\":{{\"role\":\"user\",\"content\":[{{\"type\":\"text\",\"text\":\"[load {p}] please read hello.txt and list my notes folder\"}}],\"timestamp\":{ms}}}}}\n"
            );
        }
        if k + 1 == len {
            return format!(
                "{{\"type\":\"message\",\"id\":\"{id}\",\"parentId\":{parent},\"timestamp\":\"{ts}\",\"message\":{{\"role\":\"assistant\",\"content\":[{{\"type\":\"text\",\"text\":\"I read hello.txt and listed the notes folder ({p}). The file says hello and the folder has two files. \"}}],\"api\":\"openai-completions\",\"provider\":\"mock\",\"model\":\"mock-1\",\"usage\":{{\"input\":100,\"output\":20,\"cacheRead\":0,\"cacheWrite\":0,\"totalTokens\":120,\"cost\":{{\"input\":0,\"output\":0,\"cacheRead\":0,\"cacheWrite\":0,\"total\":0}}}},\"stopReason\":\"stop\",\"timestamp\":{ms},\"responseId\":\"chatcmpl-{p}\"}}}}\n"
            );
        }
        // Odd lines call a tool, even ones return its result.
        let call = format!("call_{p}c{:x}", (k - 1) / 2);
        if k % 2 == 1 {
            format!(
                "{{\"type\":\"message\",\"id\":\"{id}\",\"parentId\":{parent},\"timestamp\":\"{ts}\",\"message\":{{\"role\":\"assistant\",\"content\":[{{\"type\":\"toolCall\",\"id\":\"{call}\",\"name\":\"exec\",\"arguments\":{{\"command\":\"ls -la /home/alice/notes/{k}\"}}}}],\"api\":\"openai-completions\",\"provider\":\"mock\",\"model\":\"mock-1\",\"usage\":{{\"input\":100,\"output\":20,\"cacheRead\":0,\"cacheWrite\":0,\"totalTokens\":120,\"cost\":{{\"input\":0,\"output\":0,\"cacheRead\":0,\"cacheWrite\":0,\"total\":0}}}},\"stopReason\":\"toolUse\",\"timestamp\":{ms},\"responseId\":\"chatcmpl-{id}\"}}}}\n"
            )
        } else {
            format!(
                "{{\"type\":\"message\",\"id\":\"{id}\",\"parentId\":{parent},\"timestamp\":\"{ts}\",\"message\":{{\"role\":\"toolResult\",\"toolCallId\":\"{call}\",\"toolName\":\"exec\",\"content\":[{{\"type\":\"text\",\"text\":\"total 16\\ndrwxr-xr-x 2 alice alice 4096 Nov 22 03:10 .\\n-rw-r--r-- 1 alice alice   35 Nov 22 03:10 hello.txt\"}}],\"details\":{{\"status\":\"completed\",\"exitCode\":0,\"durationMs\":48,\"cwd\":\"/home/alice/.openclaw/workspace\"}},\"isError\":false,\"timestamp\":{ms}}}}}\n"
            )
        }
    }

    /// A whole turn of `len` lines written at once, starting at `ms`.
    pub fn lines(&self, ms: i64, len: usize) -> Vec<String> {
        (0..len).map(|k| self.line(k, len, ms + k as i64)).collect()
    }
}

/// The clock and OpenClaw's timestamp format (`2026-11-22T03:56:14.044Z`), as the daemon has them.
pub use livestatus::clock::{epoch_ms as unix_ms, format_rfc3339_ms as iso};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_the_way_openclaw_writes_them() {
        assert_eq!(iso(1_795_319_774_044), "2026-11-22T03:56:14.044Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn the_daemon_routes_each_generated_session_to_its_own_channel() {
        let tmp = tempfile::tempdir().expect("tmp");
        let sessions = write(tmp.path(), "http://127.0.0.1:9", "t", 3);
        let bytes = std::fs::read(tmp.path().join("agents/main/sessions/sessions.json"))
            .expect("sessions.json");
        let (index, _) = livestatus::gateway::sessions_index::parse_index(&bytes).expect("parse");
        assert_eq!(index.len(), 3);
        for s in &sessions {
            let entry = index.get(&s.key).expect("listed");
            let route = livestatus::gateway::route::route_for(&s.key, entry).expect("a route");
            assert_eq!(
                route.target,
                livestatus::gateway::Target::Channel(s.channel_id.clone())
            );
            assert!(s.transcript.is_file() && !s.lock.exists());
        }
        assert!(
            world(3)
                .channels
                .iter()
                .any(|c| c.id == sessions[2].channel_id)
        );
    }

    #[test]
    fn every_generated_line_is_one_json_object_of_the_recorded_shape() {
        let turn = Turn::new(7, 3);
        let lines = turn.lines(1_795_319_774_044, 6);
        let roles: Vec<String> = lines
            .iter()
            .map(|l| {
                assert!(l.ends_with('\n') && l.matches('\n').count() == 1, "{l}");
                let v: serde_json::Value = serde_json::from_str(l).expect("json line");
                v["message"]["role"].as_str().unwrap_or("").to_owned()
            })
            .collect();
        assert_eq!(
            roles,
            [
                "user",
                "assistant",
                "toolResult",
                "assistant",
                "toolResult",
                "assistant"
            ]
        );
        let last: serde_json::Value = serde_json::from_str(&lines[5]).expect("json");
        assert_eq!(last["message"]["stopReason"], "stop");
        let first: serde_json::Value = serde_json::from_str(&lines[1]).expect("json");
        assert_eq!(first["message"]["stopReason"], "toolUse");
    }
}
