//! The local HTTP API: `/health`, `/metrics`, `/v1/status` (the session-status plugin's shape),
//! and the status uploader. It runs on a thread and runtime of its own, started once the loop
//! is READY (after the capability drop, so it holds no more than the loop), and reads only the
//! loop's published snapshot: a client hammering it cannot lock, wait on or slow the core.

pub mod auth;
pub mod client;
pub mod gateway_limits;
pub mod health;
pub mod last_error;
pub mod listener;
pub mod routes;
pub mod status_v1;
pub mod upload_doc;
pub mod uploader;

use std::sync::Arc;
use std::time::Instant;

use crate::pipeline::snapshot::SnapshotRx;
use crate::service::config::{Listen, Secret};
use crate::sink::rest::ServerView;

/// Reads each Mattermost server's breaker and transport (the sink's shared maps) without the
/// loop.
pub type BreakerReader = Arc<dyn Fn() -> Vec<ServerView> + Send + Sync>;

/// What the handlers read; cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    pub snapshot: SnapshotRx,
    pub secret: Option<Arc<Secret>>,
    pub max_concurrent: u32,
    /// None: no Mattermost configured (boxes go to the log).
    pub breakers: Option<BreakerReader>,
    pub started: Instant,
    pub uploads: Arc<uploader::UploadStatus>,
    pub limits: Arc<gateway_limits::GatewayLimits>,
}

/// What `start` needs besides the state.
pub struct ApiLaunch {
    pub listen: Listen,
    pub uploader: Option<uploader::UploaderPlan>,
}

/// Starts the API thread; a listener that cannot bind is logged and the daemon goes on
/// without it (boxes matter more than the API).
pub fn start(launch: ApiLaunch, state: ApiState) {
    if launch.listen == Listen::Off && launch.uploader.is_none() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("api".to_owned())
        .spawn(move || {
            yield_to_the_loop();
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "the local API could not start its runtime");
                    return;
                }
            };
            runtime.block_on(async move {
                if let Some(plan) = launch.uploader {
                    tokio::spawn(uploader::run(plan, state.clone()));
                }
                if let Err(e) = listener::serve(&launch.listen, state).await {
                    tracing::error!(
                        listen = %launch.listen,
                        "the local API is off: {e:#}; set api.listen to a free address, or off"
                    );
                }
                // The uploader goes on when the listener is off or failed.
                std::future::pending::<()>().await;
            });
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the local API could not start its thread");
    }
}

/// Lowers this thread's scheduling priority (nice 10): on a busy host the event loop gets the
/// CPU before a client hammering the API does. Refused under the unit's `SystemCallFilter`
/// (`~@resources`); the API then runs at the daemon's priority, which is only slower for it.
fn yield_to_the_loop() {
    // SAFETY: gettid and setpriority take and return plain integers; PRIO_PROCESS with a thread
    // id changes only that thread on Linux.
    let done = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10)
    };
    if done != 0 {
        tracing::debug!("the API thread keeps the daemon's priority (setpriority refused)");
    }
}
