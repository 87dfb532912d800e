//! The requests in flight, each a task of its own (`job.rs`) so a slow server holds up neither
//! the worker nor other boxes. A finished task gives back only its result; which box, server
//! and call it was for is kept here by task id, so a task that panicked or was cancelled is
//! still answered to its box (as a transient failure) and the box is not left busy for good.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::task::{Id, JoinError, JoinSet};

use crate::gateway::accounts::Account;
use crate::session::BoxId;

use super::hints::Call;
use super::job::{self, Job, JobOk};
use super::transport::rest::{Api, Failure};

/// Whose a request is: the box, its server (base URL), and the call.
pub(super) type Owner = (BoxId, String, Call);

/// A request task as `JoinSet::join_next_with_id` hands it back.
pub(super) type Done = Result<(Id, Result<JobOk, Failure>), JoinError>;

/// Request tasks and pings in flight.
pub(super) struct Jobs {
    pub requests: JoinSet<Result<JobOk, Failure>>,
    owners: HashMap<Id, Owner>,
    /// Pings of servers whose breaker is open: (base URL, answered).
    pub pings: JoinSet<(String, bool)>,
}

impl Jobs {
    pub fn new() -> Jobs {
        Jobs {
            requests: JoinSet::new(),
            owners: HashMap::new(),
            pings: JoinSet::new(),
        }
    }

    /// Starts `job` for box `id` on `server`.
    pub fn start(&mut self, api: Arc<Api>, account: Account, job: Job, id: BoxId, server: String) {
        let call = job.call();
        let handle = self.requests.spawn(job::run(api, account, job));
        self.owners.insert(handle.id(), (id, server, call));
    }

    /// The owner and result of a finished request task; None for a task not started here.
    pub fn finished(&mut self, done: Done) -> Option<(Owner, Result<JobOk, Failure>)> {
        let (task, result) = match done {
            Ok((task, result)) => (task, result),
            Err(e) => (
                e.id(),
                Err(Failure::Transient(format!("request task failed: {e}"))),
            ),
        };
        let owner = self.owners.remove(&task)?;
        Some((owner, result))
    }

    /// Pings `base_url`; the answer comes back through `pings`.
    pub fn ping(&mut self, api: &Arc<Api>, base_url: &str) {
        let (api, base_url) = (api.clone(), base_url.to_owned());
        self.pings.spawn(async move {
            let ok = api.ping(&base_url).await;
            (base_url, ok)
        });
    }

    /// Drops everything in flight (the worker is stopping).
    pub fn abort_all(&mut self) {
        self.requests.abort_all();
        self.pings.abort_all();
    }
}
