//! What the fake Mattermost received during a load run, reduced as it arrives (the bodies are
//! dropped), then matched to the turns the writers wrote: when each turn's box first appeared
//! and when its final state arrived.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::fake_mattermost::{FakeMattermost, Recorded};

use super::writer::WrittenTurn;

const PROPS_KEY: &str = "openclaw_livestatus";

/// A box's final state, as `posts::finished` reads it.
fn is_final(message: &str) -> bool {
    ["[DONE]", "[ERROR]", "[INTERRUPTED]"]
        .iter()
        .any(|tag| message.contains(tag))
}

#[derive(Debug)]
struct Create {
    at: Instant,
    session_key: String,
    started_ms: i64,
    is_final: bool,
}

#[derive(Debug)]
struct Edit {
    at: Instant,
    post_id: String,
    is_final: bool,
}

/// Every request's arrival, and the box writes among them.
#[derive(Debug, Default)]
pub struct Received {
    pub requests: Vec<Instant>,
    creates: Vec<Create>,
    edits: Vec<Edit>,
}

impl Received {
    /// Moves what the server logged since the last call into this summary.
    pub fn drain(&mut self, mm: &FakeMattermost) {
        for r in mm.take_requests() {
            self.add(&r);
        }
    }

    fn add(&mut self, r: &Recorded) {
        self.requests.push(r.at);
        let ok = r.status.is_some_and(|s| (200..300).contains(&s));
        let Some(body) = r.body.json() else {
            return;
        };
        if !ok {
            return;
        }
        let message = body["message"].as_str().unwrap_or("");
        if r.method == "POST" && r.path == "/api/v4/posts" {
            let props = &body["props"][PROPS_KEY];
            if let (Some(key), Some(started_ms)) =
                (props["session_key"].as_str(), props["started_ms"].as_i64())
            {
                self.creates.push(Create {
                    at: r.at,
                    session_key: key.to_owned(),
                    started_ms,
                    is_final: is_final(message),
                });
            }
        } else if r.method == "PUT"
            && let Some(rest) = r.path.strip_prefix("/api/v4/posts/")
        {
            self.edits.push(Edit {
                at: r.at,
                post_id: rest.trim_end_matches("/patch").to_owned(),
                is_final: is_final(message),
            });
        }
    }
}

/// Per written turn: when its box's first create arrived, and its final state.
#[derive(Debug, Default, Clone, Copy)]
pub struct TurnSeen {
    pub created: Option<Instant>,
    pub finished: Option<Instant>,
}

/// Matches the server's box posts to written turns. A post belongs to the turn of its session
/// whose lock was created nearest its `started_ms` (turns are `writer::TURN` apart, so the
/// nearest is the one).
pub fn match_turns(
    received: &Received,
    mm: &FakeMattermost,
    session_keys: &[String],
    turns: &[WrittenTurn],
) -> Vec<TurnSeen> {
    let session_of: HashMap<&str, usize> = session_keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut by_session: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, t) in turns.iter().enumerate() {
        by_session.entry(t.session).or_default().push(i);
    }
    let turn_of = |key: &str, started_ms: i64| -> Option<usize> {
        let session = *session_of.get(key)?;
        by_session
            .get(&session)?
            .iter()
            .copied()
            .min_by_key(|&i| (turns[i].started_unix_ms - started_ms).abs())
    };
    let mut seen = vec![TurnSeen::default(); turns.len()];
    let mut note = |turn: usize, at: Instant, is_final: bool, is_create: bool| {
        let s = &mut seen[turn];
        if is_create && s.created.is_none_or(|c| at < c) {
            s.created = Some(at);
        }
        if is_final && s.finished.is_none_or(|f| at < f) {
            s.finished = Some(at);
        }
    };
    for c in &received.creates {
        if let Some(turn) = turn_of(&c.session_key, c.started_ms) {
            note(turn, c.at, c.is_final, true);
        }
    }
    let mut post_turn: HashMap<String, usize> = HashMap::new();
    for post in mm.posts() {
        let props = &post.props[PROPS_KEY];
        if let (Some(key), Some(started_ms)) =
            (props["session_key"].as_str(), props["started_ms"].as_i64())
            && let Some(turn) = turn_of(key, started_ms)
        {
            post_turn.insert(post.id.clone(), turn);
        }
    }
    for e in &received.edits {
        if let Some(&turn) = post_turn.get(&e.post_id) {
            note(turn, e.at, e.is_final, false);
        }
    }
    seen
}

/// The `p`-quantile (0..=1) of sorted durations; zero for none.
pub fn quantile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
