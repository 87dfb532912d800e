//! Each gateway's own `agents.defaults.maxConcurrent`, read from its `openclaw.json` at most
//! every `TTL` (on a blocking thread: the file is a user's, read through the guarded reader).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct GatewayLimits {
    cache: Mutex<HashMap<PathBuf, (Instant, Option<u32>)>>,
}

impl GatewayLimits {
    /// The gateway's own limit, None when its config sets none.
    pub async fn of(&self, gateway: &Path) -> Option<u32> {
        if let Some((at, limit)) = self.lock().get(gateway)
            && at.elapsed() < TTL
        {
            return *limit;
        }
        let dir = gateway.to_path_buf();
        let limit = tokio::task::spawn_blocking(move || {
            crate::gateway::openclaw_config::read_max_concurrent(&dir)
        })
        .await
        .ok()
        .flatten();
        self.lock()
            .insert(gateway.to_path_buf(), (Instant::now(), limit));
        limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Instant, Option<u32>)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}
