//! Deltas in: folding them into boxes, finding where each box goes, and — for boxes rebuilt
//! at startup (`BoxOp::Restored`) — taking over the post a previous run left (`restore.rs`).

use super::post_store::PostKey;
use crate::clock;
use crate::gateway::accounts::Account;
use crate::gateway::route::Target;
use crate::session::{BoxDelta, BoxId, BoxModel, BoxOp};

use super::restore::{Adopt, resume};
use super::throttle::Throttle;
use super::tracked::{Dest, Phase, Tracked};
use super::worker::Worker;

impl Worker {
    pub(super) fn on_delta(&mut self, delta: &BoxDelta, now_ms: i64) {
        let reopens = matches!(delta.ops.first(), Some(BoxOp::Open { .. }));
        if let Some(b) = self.boxes.get_mut(&delta.id) {
            let applied = if reopens {
                BoxModel::open(delta).map(|m| b.model = m)
            } else {
                b.model.apply(delta)
            };
            if let Err(e) = applied {
                tracing::warn!(error = %e, "box delta out of order; ignored");
                return;
            }
            b.pending_since_ms.get_or_insert(now_ms);
            let dated = delta.ops.iter().any(|op| matches!(op, BoxOp::FirstLine(_)));
            if !b.model.retracted {
                b.text_stale_at = Some(now_ms);
            }
            if dated && self.store.posts.get(&b.key).is_some() {
                // A post made on the lock alone learns which turn it shows.
                self.save_box(&delta.id);
            }
            self.drop_if_unseen(&delta.id);
            return;
        }
        if !reopens {
            // Boxes never posted (no route, restored and already shown) end up here too.
            return;
        }
        match BoxModel::open(delta) {
            Ok(model) => self.open_box(model, now_ms),
            Err(e) => tracing::warn!(error = %e, "box delta without its opening; ignored"),
        }
    }

    /// A retracted box that never reached the server and waits for a slot: forget it now.
    fn drop_if_unseen(&mut self, id: &BoxId) {
        let unseen = self.boxes.get(id).is_some_and(|b| {
            b.model.retracted
                && !b.admitted
                && !b.busy
                && b.marker_ms.is_none()
                && b.lookup.is_none()
                && !matches!(b.phase, Phase::Posted { .. })
        });
        if unseen {
            self.boxes.remove(id);
        }
    }

    fn destination(&mut self, model: &BoxModel) -> Option<(Account, Dest, Option<String>)> {
        let gateway = &model.id.session.gateway;
        let (account_id, dest, root_id) = match &model.route {
            Some(route) => (
                route.account_id.clone(),
                match &route.target {
                    Target::Channel(c) => Dest::Channel(c.clone()),
                    Target::User(u) => Dest::Dm(u.clone()),
                },
                route.root_id.clone(),
            ),
            None => match &self.opts.default_channel {
                Some(c) => ("default".to_owned(), Dest::Channel(c.clone()), None),
                None => {
                    let k = format!("noroute\0{}\0{}", gateway.display(), model.session_key);
                    if self.once(k) {
                        tracing::info!(gateway = %gateway.display(), session_key = %model.session_key,
                            "session not bound to Mattermost and no default_channel: its boxes are not posted");
                    }
                    return None;
                }
            },
        };
        match self.accounts.account(gateway, &account_id) {
            Some(account) => Some((account, dest, root_id)),
            None => {
                let k = format!("noaccount\0{}\0{account_id}", gateway.display());
                if self.once(k) {
                    tracing::warn!(gateway = %gateway.display(), mm_account = %account_id,
                        "no Mattermost account configured for this gateway's accountId: its boxes are not posted");
                }
                None
            }
        }
    }

    fn open_box(&mut self, model: BoxModel, now_ms: i64) {
        tracing::debug!(session_key = %model.session_key, turn = model.id.turn, restored = model.restored,
            started_ms = model.started_ms, first_line_ms = ?model.first_line_ms, "box opened");
        if model.retracted {
            return;
        }
        let Some((account, dest, mut root_id)) = self.destination(&model) else {
            return;
        };
        let mut key = PostKey {
            gateway: model.id.session.gateway.to_string_lossy().into_owned(),
            session_key: model.session_key.clone(),
            started_ms: model.started_ms,
        };
        let mut phase = match dest {
            Dest::Channel(channel_id) => Phase::NeedPost { channel_id },
            Dest::Dm(user_id) => match self.directory.dm(&account, &user_id) {
                Some(channel_id) => Phase::NeedPost {
                    channel_id: channel_id.clone(),
                },
                None => Phase::NeedChannel { user_id },
            },
        };
        let mut shown = None;
        let mut marker_ms = None;
        let mut lookup = None;
        let mut plugin_post = false;
        if model.restored {
            let session = (model.id.session.clone(), account.clone());
            if !self.restored_sessions.contains(&session) {
                self.restored_sessions.push(session);
            }
            match self.adoptable(&key, &account.base_url, &model) {
                Adopt::Continue(old_key, entry) => {
                    let entry = *entry;
                    // The post keeps the key it was made under: its props carry that key,
                    // and a lookup for a create cut off by a crash searches by it.
                    key = old_key;
                    root_id = entry.root_id.clone();
                    shown = entry.last_text.clone();
                    plugin_post = entry.by_plugin && entry.post_id.is_some();
                    (phase, marker_ms, lookup) = resume(&key, &entry);
                    tracing::info!(session_key = %key.session_key, first_line_ms = ?model.first_line_ms,
                        post_id = ?entry.post_id, "restored box: continuing the post of the previous run");
                }
                // Its post already shows how it ended.
                Adopt::Final => return,
                // A finished turn with no post: one that ran while no daemon watched gets its
                // box now (nothing lost); an older one was shown, or deliberately not, back then.
                Adopt::Nothing if model.is_finished() && !self.unwatched(&model, now_ms) => return,
                Adopt::Nothing => {}
            }
        }
        let text = self.render(&model, now_ms);
        let id = model.id.clone();
        self.opened += 1;
        let tracked = Tracked {
            root_id,
            text,
            shown,
            marker_ms,
            lookup,
            plugin_post,
            pending_since_ms: Some(now_ms),
            ..Tracked::new(
                model,
                key,
                account,
                phase,
                self.opened,
                Throttle::new(self.opts.throttle),
            )
        };
        let entry = tracked.entry(clock::now_ms());
        let key = tracked.key.clone();
        self.boxes.insert(id.clone(), tracked);
        if let Some(entry) = entry {
            self.store.posts.put(key, entry);
            self.store.changed();
        }
        self.admission.queue.push_back(id);
    }
}
