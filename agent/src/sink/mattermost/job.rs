//! One request (or short sequence of requests) for one box, run as its own task so a slow server
//! never holds up the worker or other boxes. A box has at most one job in flight.

use std::sync::Arc;

use serde_json::{Value, json};

use super::post_store::PostKey;
use crate::gateway::accounts::Account;

use super::hints::Call;
use super::marker_journal::MarkerJournal;
use super::transport::rest::{Api, Failure, ListedPost, NewPost};

/// The props key that marks a post as a status box, and says which one.
pub const PROPS_KEY: &str = "openclaw_livestatus";

pub(super) enum Job {
    /// Finds the direct channel between the bot and `user_id`.
    Resolve {
        user_id: String,
        bot_id: Option<String>,
    },
    /// Creates the box's post; first, with `lookup`, searches the channel for one an earlier
    /// attempt (or run) may have created without us learning its id.
    Create {
        channel_id: String,
        root_id: Option<String>,
        text: String,
        key: PostKey,
        lookup: Option<Lookup>,
        /// False for a retracted box: only look, to delete what is found.
        create: bool,
        /// Synced to the marker journal before the POST, so a crash after it is detectable.
        marker: Option<Marker>,
    },
    Patch {
        post_id: String,
        text: String,
    },
    Delete {
        post_id: String,
    },
}

/// A post made after a "creating since" marker is searched from this much earlier, for a server
/// clock behind ours.
pub(super) const LOOKUP_MARGIN_MS: i64 = 5 * 60 * 1000;

#[derive(Clone, Debug)]
pub(super) struct Lookup {
    pub since_ms: i64,
    /// The keys earlier attempts put in the post's props (a restored box's start may differ
    /// from the one the previous run saw).
    pub keys: Vec<PostKey>,
}

pub(super) struct Marker {
    pub journal: Arc<MarkerJournal>,
    pub generation: u64,
    pub line: Vec<u8>,
}

#[derive(Debug)]
pub(super) enum JobOk {
    Resolved {
        bot_id: String,
        channel_id: String,
    },
    Created {
        post_id: String,
        text: String,
    },
    /// A post of an earlier attempt, found by its props; what it shows is unknown.
    Found {
        post_id: String,
    },
    /// Looked (retracted box) and nothing was there.
    Missing,
    Patched {
        text: String,
    },
    Deleted,
}

impl Job {
    pub fn call(&self) -> Call {
        match self {
            Job::Resolve { .. } => Call::Resolve,
            Job::Create { .. } => Call::Create,
            Job::Patch { .. } => Call::Patch,
            Job::Delete { .. } => Call::Delete,
        }
    }
}

pub(super) fn props(key: &PostKey) -> Value {
    json!({ PROPS_KEY: {
        "gateway": key.gateway,
        "session_key": key.session_key,
        "started_ms": key.started_ms,
    }})
}

fn is_ours(post: &ListedPost, key: &PostKey) -> bool {
    let p = &post.props[PROPS_KEY];
    post.delete_at == 0
        && p["session_key"].as_str() == Some(key.session_key.as_str())
        && p["gateway"].as_str() == Some(key.gateway.as_str())
        && p["started_ms"].as_i64() == Some(key.started_ms)
}

pub(super) async fn run(api: Arc<Api>, account: Account, job: Job) -> Result<JobOk, Failure> {
    match job {
        Job::Resolve { user_id, bot_id } => {
            let bot_id = match bot_id {
                Some(id) => id,
                None => api.me(&account).await?,
            };
            let channel_id = api.direct_channel(&account, &bot_id, &user_id).await?;
            Ok(JobOk::Resolved { bot_id, channel_id })
        }
        Job::Create {
            channel_id,
            root_id,
            text,
            key,
            lookup,
            create,
            marker,
        } => {
            if let Some(lookup) = lookup {
                let posts = api
                    .posts_since(&account, &channel_id, lookup.since_ms)
                    .await?;
                if let Some(found) = posts
                    .iter()
                    .find(|p| lookup.keys.iter().any(|k| is_ours(p, k)))
                {
                    return Ok(JobOk::Found {
                        post_id: found.id.clone(),
                    });
                }
            }
            if !create {
                return Ok(JobOk::Missing);
            }
            if let Some(m) = marker {
                // Logged by the journal; posting anyway beats not showing the box.
                m.journal.append(m.generation, m.line).await;
            }
            let post_id = api
                .create_post(
                    &account,
                    &NewPost {
                        channel_id: &channel_id,
                        root_id: root_id.as_deref(),
                        message: &text,
                        props: &props(&key),
                    },
                )
                .await?;
            Ok(JobOk::Created { post_id, text })
        }
        Job::Patch { post_id, text } => {
            api.patch_message(&account, &post_id, &text).await?;
            Ok(JobOk::Patched { text })
        }
        Job::Delete { post_id } => match api.delete_post(&account, &post_id).await {
            Ok(()) => Ok(JobOk::Deleted),
            // Already gone is what we wanted.
            Err(Failure::Rejected(r)) if r.status == 404 => Ok(JobOk::Deleted),
            Err(e) => Err(e),
        },
    }
}
