//! Binds `api.listen` (TCP, or a Unix socket for local-only use) and serves the routes.

use anyhow::Context;

use super::ApiState;
use crate::service::config::Listen;

pub async fn serve(listen: &Listen, state: ApiState) -> anyhow::Result<()> {
    let app = super::routes::router(state);
    match listen {
        Listen::Off => Ok(()),
        Listen::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            tracing::info!(listen = %addr, "local API listening");
            axum::serve(listener, app)
                .await
                .context("serving the local API")
        }
        Listen::Unix(path) => {
            // A socket left by a previous run would make bind fail; only a socket is removed.
            if let Ok(meta) = std::fs::symlink_metadata(path) {
                use std::os::unix::fs::FileTypeExt;
                if meta.file_type().is_socket() {
                    let _ = std::fs::remove_file(path);
                }
            }
            let listener = tokio::net::UnixListener::bind(path)
                .with_context(|| format!("cannot listen on {}", path.display()))?;
            tracing::info!(listen = %listen, "local API listening");
            axum::serve(listener, app)
                .await
                .context("serving the local API")
        }
    }
}
