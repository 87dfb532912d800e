//! The fanotify tier: whole-filesystem marks on every filesystem that holds a gateway.

use tokio::sync::mpsc;

use super::{FsEvent, Scope, TierKind, WatchError, WatchHandle};

pub fn available() -> Result<(), String> {
    Err("not built into this binary yet".to_owned())
}

pub async fn start(_scope: Scope, _tx: mpsc::Sender<FsEvent>) -> Result<WatchHandle, WatchError> {
    Err(WatchError::Unavailable {
        tier: TierKind::Fanotify,
        reason: available().err().unwrap_or_default(),
    })
}
