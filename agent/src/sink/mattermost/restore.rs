//! A restart: which post a previous run left belongs to which rebuilt box (`BoxOp::Restored`),
//! and what to do with the posts no box takes.

use std::collections::HashSet;

use super::post_store::{Outcome, PostEntry, PostKey};
use crate::gateway::accounts::Account;
use crate::session::{BoxDelta, BoxId, BoxModel, BoxOp, SessionId};

use super::job::{LOOKUP_MARGIN_MS, Lookup};
use super::throttle::Throttle;
use super::tracked::{Phase, Tracked};
use super::worker::Worker;

/// What a restored box does with the posts a previous run left.
pub(super) enum Adopt {
    /// Continue this post (it shows the turn, or a lock-only start of it).
    Continue(PostKey, Box<PostEntry>),
    /// The turn's post already shows its end (or it was refused): nothing to send.
    Final,
    /// No post is this turn's.
    Nothing,
}

/// Where a stored post stands for the box that takes it over: posted, or its create cut off by
/// a crash (then the channel is searched for it, by the key it was made under, before anything
/// is posted). Returns the phase, the create marker and the lookup.
pub(super) fn resume(key: &PostKey, entry: &PostEntry) -> (Phase, Option<i64>, Option<Lookup>) {
    match (&entry.post_id, entry.creating_since_ms) {
        (Some(post_id), _) => (
            Phase::Posted {
                channel_id: entry.channel_id.clone(),
                post_id: post_id.clone(),
            },
            None,
            None,
        ),
        (None, since) => {
            let since = since.unwrap_or(entry.updated_ms);
            (
                Phase::NeedPost {
                    channel_id: entry.channel_id.clone(),
                },
                Some(since),
                Some(Lookup {
                    since_ms: since - LOOKUP_MARGIN_MS,
                    keys: vec![key.clone()],
                }),
            )
        }
    }
}

/// A post made on a turn's lock alone, not finished: its turn wrote no line the run saw.
fn open_lock_post(e: &PostEntry) -> bool {
    e.first_line_ms.is_none() && (!e.finished || e.outcome == Some(Outcome::Interrupted))
}

impl Worker {
    /// The stored post a restored box continues, found by the turn's identity
    /// (`BoxOp::FirstLine`) — never by time windows: a live box starts at the lock, a rebuilt
    /// one at its first line, and a box waiting for a sub-agent ends after the next turn began.
    /// A post made on the lock alone, before its turn wrote a line, carries no identity: it
    /// belongs to the turn that follows the same turn (`follows_ms`), or, when this run knows
    /// no turn before (a fresh transcript after a reset), to the first that came after it.
    /// A post another box continues is taken.
    pub(super) fn adoptable(&self, key: &PostKey, server: &str, model: &BoxModel) -> Adopt {
        let claimed: HashSet<&PostKey> = self.boxes.values().map(|b| &b.key).collect();
        let entries = || {
            self.store
                .posts
                .session_entries(&key.gateway, &key.session_key)
                .filter(|(k, e)| e.server == server && !claimed.contains(k))
        };
        let candidates =
            || entries().filter(|(_, e)| e.post_id.is_some() || e.creating_since_ms.is_some());
        if let Some(first) = model.first_line_ms
            && let Some((k, e)) = entries().find(|(_, e)| e.first_line_ms == Some(first))
        {
            let settled = e.finished && e.outcome != Some(Outcome::Interrupted);
            let on_server = e.post_id.is_some() || e.creating_since_ms.is_some();
            return if settled && model.is_finished() {
                // Shown final, or given up on (a refusal): nothing more to send.
                Adopt::Final
            } else if on_server {
                Adopt::Continue(k.clone(), Box::new(e.clone()))
            } else {
                Adopt::Nothing
            };
        }
        let same_place = candidates()
            .filter(|(_, e)| open_lock_post(e) && e.follows_ms == model.follows_ms)
            .min_by_key(|(k, _)| k.started_ms);
        let after_reset = || {
            candidates()
                .filter(|(_, e)| {
                    open_lock_post(e)
                        && model.follows_ms.is_none()
                        && e.follows_ms
                            .zip(model.first_line_ms)
                            .is_some_and(|(before, first)| before < first)
                })
                .min_by_key(|(k, _)| k.started_ms)
        };
        match same_place.or_else(after_reset) {
            Some((k, e)) => Adopt::Continue(k.clone(), Box::new(e.clone())),
            None => Adopt::Nothing,
        }
    }

    /// Whether a rebuilt turn began after the last run that saved the post store started and
    /// before this one did, recently enough that its post, had one been made, would still be in
    /// the store: then having none means no daemon saw it (it ran while the daemon was down),
    /// so it is posted now. Never on a first start (history stays history), and never for a
    /// turn this run saw begin: this run posted it or decided not to (a catch-up after a
    /// rewrite can cut turns where the live run saw none).
    pub(super) fn unwatched(&self, model: &BoxModel, now_ms: i64) -> bool {
        let Some((since, until)) = self.store.posts.unposted_window_ms(now_ms) else {
            return false;
        };
        model
            .first_line_ms
            .is_some_and(|first| first >= since && first < until)
    }

    /// Posts a previous run made on a lock alone that no rebuilt box of their session took
    /// while the session's restored deltas came in (they come in one batch): the lock was not a
    /// turn, and a live run would have withdrawn the box, so the post is deleted.
    pub(super) fn retract_stale_lock_posts(&mut self) {
        for (session, account) in std::mem::take(&mut self.restored_sessions) {
            let claimed: HashSet<&PostKey> = self.boxes.values().map(|b| &b.key).collect();
            let gateway = session.gateway.to_string_lossy().into_owned();
            let stale: Vec<(PostKey, PostEntry)> = self
                .store
                .posts
                .session_entries(&gateway, &session.key)
                .filter(|(k, e)| {
                    e.server == account.base_url
                        && !claimed.contains(k)
                        && !e.finished
                        && e.first_line_ms.is_none()
                        && (e.post_id.is_some() || e.creating_since_ms.is_some())
                })
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect();
            for (key, entry) in stale {
                tracing::info!(session_key = %key.session_key,
                    "a post of the previous run shows a lock that was not a turn: deleting it");
                self.withdraw(&session, &account, key, entry);
            }
        }
    }

    /// Tracks a stored post as a withdrawn box, so the jobs delete it (or, when its create was
    /// cut off, look for it and delete what they find).
    fn withdraw(&mut self, session: &SessionId, account: &Account, key: PostKey, entry: PostEntry) {
        self.own_turns -= 1;
        let id = BoxId {
            session: session.clone(),
            turn: self.own_turns,
        };
        let open = BoxDelta {
            id: id.clone(),
            seq: 1,
            ops: vec![
                BoxOp::Open {
                    agent_id: session.agent_id.clone(),
                    session_key: key.session_key.clone(),
                    started_ms: key.started_ms,
                    route: None,
                    follows_ms: entry.follows_ms,
                },
                BoxOp::Retract,
            ],
        };
        let Ok(model) = BoxModel::open(&open) else {
            return;
        };
        let (phase, marker_ms, lookup) = resume(&key, &entry);
        self.opened += 1;
        let tracked = Tracked {
            root_id: entry.root_id,
            shown: entry.last_text,
            marker_ms,
            lookup,
            ..Tracked::new(
                model,
                key,
                account.clone(),
                phase,
                self.opened,
                Throttle::new(self.opts.throttle),
            )
        };
        self.boxes.insert(id.clone(), tracked);
        self.admission.queue.push_back(id);
    }
}
