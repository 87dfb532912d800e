//! A request's reply, read back into its box. Kept apart from the loop that starts requests
//! because every reply kind moves a box along differently (a post made, one found, a refusal
//! that ends the box, a transient failure that must look before it posts again), and a
//! failed create is where a double post would come from.

use tokio::time::Instant;

use super::hints::{Call, hint};
use super::job::{JobOk, LOOKUP_MARGIN_MS, Lookup};
use super::jobs::Done;
use super::tracked::{Phase, Settle, posted};
use super::transport::rest::Failure;
use super::worker::Worker;

impl Worker {
    /// A request finished: what its reply (or failure) means for its box, its server's
    /// breaker, and the store.
    pub(super) fn on_done(&mut self, done: Done) {
        let Some(((id, server, call), result)) = self.jobs.finished(done) else {
            return;
        };
        let now = Instant::now();
        self.servers.get(&server, &self.opts).record(&result, now);
        let Some(b) = self.boxes.get_mut(&id) else {
            return;
        };
        b.busy = false;
        match result {
            Ok(JobOk::Resolved { bot_id, channel_id }) => {
                let user_id = match &b.phase {
                    Phase::NeedChannel { user_id } => Some(user_id.as_str()),
                    _ => None,
                };
                self.directory
                    .resolved(&b.account, user_id, bot_id, &channel_id);
                b.phase = Phase::NeedPost { channel_id };
            }
            Ok(JobOk::Created { post_id, text }) => {
                // The journal's fields (GATEWAY, AGENT_ID, SESSION_KEY, MM_ACCOUNT, POST_ID):
                // `journalctl SESSION_KEY=…` finds the post of a session.
                tracing::info!(gateway = %b.model.id.session.gateway.display(), agent_id = %b.model.agent_id,
                    session_key = %b.key.session_key, mm_account = b.model.route.as_ref().map_or("default", |r| r.account_id.as_str()),
                    post_id = %post_id, started_ms = b.key.started_ms, first_line_ms = ?b.model.first_line_ms, "box post created");
                b.phase = posted(&b.phase, post_id);
                b.shown = Some(text);
                b.lookup = None;
                self.stats.created += 1;
                self.save_box(&id);
            }
            Ok(JobOk::Found { post_id }) => {
                b.phase = posted(&b.phase, post_id);
                b.shown = None;
                b.lookup = None;
                self.stats.adopted += 1;
                self.save_box(&id);
            }
            Ok(JobOk::Missing) => self.settle(&id, Settle::Gone),
            Ok(JobOk::Patched { text }) => {
                b.shown = Some(text);
                self.stats.updates += 1;
                self.save_box(&id);
            }
            Ok(JobOk::Deleted) => {
                self.stats.deletes += 1;
                self.settle(&id, Settle::Gone);
            }
            Err(Failure::Transient(_) | Failure::RateLimited { .. }) => {
                if call == Call::Create
                    && let Some(since) = b.marker_ms
                {
                    // The POST may have gone through before the failure: look before reposting.
                    let mut keys = b.lookup.take().map(|l| l.keys).unwrap_or_default();
                    if !keys.contains(&b.key) {
                        keys.push(b.key.clone());
                    }
                    b.lookup = Some(Lookup {
                        since_ms: since - LOOKUP_MARGIN_MS,
                        keys,
                    });
                }
            }
            Err(Failure::Rejected(r))
                if call == Call::Patch && b.plugin_post && matches!(r.status, 403 | 404) =>
            {
                // The plugin's post, which this account may not edit (or see): post the box
                // anew rather than lose it.
                b.plugin_post = false;
                b.shown = None;
                if let Phase::Posted { channel_id, .. } = &b.phase {
                    b.phase = Phase::NeedPost {
                        channel_id: channel_id.clone(),
                    };
                }
                if self.once(format!("pluginpost\0{server}\0{}", r.status)) {
                    tracing::warn!(server = %server, status = r.status, message = %r.message,
                        "cannot continue the plugin's post over REST (give the bot the edit_others_posts permission to keep one post per box); posting the box again");
                }
            }
            Err(Failure::Rejected(r)) => {
                let channel = match &b.phase {
                    Phase::NeedPost { channel_id } | Phase::Posted { channel_id, .. } => {
                        channel_id.clone()
                    }
                    Phase::NeedChannel { user_id } => format!("dm:{user_id}"),
                };
                let k = format!("4xx\0{server}\0{}\0{}\0{channel}", r.status, r.id);
                if self.once(k) {
                    tracing::warn!(
                        server = %server, status = r.status, error_id = %r.id, message = %r.message,
                        channel_id = %channel, call = call.as_str(),
                        hint = hint(call, r.status, &r.id),
                        "Mattermost refused a status box request; this box is no longer sent"
                    );
                }
                self.settle(&id, Settle::Abandoned);
            }
            Err(Failure::Config(why)) => {
                if self.once(format!("config\0{server}")) {
                    tracing::warn!(server = %server, error = %why,
                        "unusable Mattermost account: its boxes are not posted");
                }
                self.settle(&id, Settle::Abandoned);
            }
        }
    }
}
