//! The endpoints. Every one needs the bearer secret when `api.secret` is set (401 with an empty
//! body otherwise); each reads the loop's last snapshot and nothing else of the core.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::ApiState;
use crate::metrics::{self, ApiLabels, ServerLabels};
use crate::sink::rest::{BreakerState, ServerView};

pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/v1/status", get(status))
        .route("/plugins/session-status/status", get(status))
        .with_state(state)
}

fn counted(endpoint: &'static str, response: Response) -> Response {
    metrics::get()
        .api_requests
        .get_or_create(&ApiLabels {
            endpoint,
            code: response.status().as_u16(),
        })
        .inc();
    response
}

fn refused() -> Response {
    StatusCode::UNAUTHORIZED.into_response()
}

async fn health(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if !super::auth::allowed(state.secret.as_deref(), &headers) {
        return counted("health", refused());
    }
    let snapshot = state.snapshot.borrow().clone();
    let (healthy, doc) = super::health::document(super::health::Inputs {
        snapshot: &snapshot,
        breakers: state.breakers.as_ref().map(|read| read()),
        uptime_seconds: state.started.elapsed().as_secs(),
        last_error: super::last_error::get(),
        uploader: state.uploads.get(),
        now_ms: crate::clock::now_ms(),
    });
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    counted("health", (code, axum::Json(doc)).into_response())
}

async fn metrics_text(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if !super::auth::allowed(state.secret.as_deref(), &headers) {
        return counted("metrics", refused());
    }
    let m = metrics::get();
    if let Some(read) = &state.breakers {
        for ServerView {
            server, breaker, ..
        } in read()
        {
            let value = match breaker {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            };
            m.breaker_state
                .get_or_create(&ServerLabels { server })
                .set(value);
        }
    }
    let body = m.encode();
    counted(
        "metrics",
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
    )
}

#[derive(Deserialize)]
struct StatusQuery {
    gateway: Option<String>,
}

async fn status(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<StatusQuery>,
) -> Response {
    if !super::auth::allowed(state.secret.as_deref(), &headers) {
        return counted("status", refused());
    }
    let snapshot = state.snapshot.borrow().clone();
    if !snapshot.ready {
        let body = json!({"ok": false, "error": "starting: the daemon is not ready yet"});
        return counted(
            "status",
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response(),
        );
    }
    let gateway = query
        .gateway
        .filter(|g| !g.trim().is_empty())
        .map(|g| PathBuf::from(g.trim().trim_end_matches('/')));
    if let Some(g) = &gateway
        && !snapshot.gateways.iter().any(|known| known == g)
    {
        let body = json!({"ok": false, "error": format!("no followed gateway {}", g.display())});
        return counted(
            "status",
            (StatusCode::NOT_FOUND, axum::Json(body)).into_response(),
        );
    }
    let max = max_concurrent(&state, &snapshot.gateways, gateway.as_deref()).await;
    let doc =
        super::status_v1::document(&snapshot, gateway.as_deref(), max, crate::clock::now_ms());
    counted("status", axum::Json(doc).into_response())
}

/// A gateway's own limit, else `api.max_concurrent`; host-wide, the sum over the gateways
/// followed (each gateway runs its own turns), or `api.max_concurrent` when there are none.
async fn max_concurrent(state: &ApiState, gateways: &[PathBuf], only: Option<&Path>) -> u32 {
    let default = state.max_concurrent;
    if let Some(g) = only {
        return state.limits.of(g).await.unwrap_or(default);
    }
    if gateways.is_empty() {
        return default;
    }
    let mut sum: u32 = 0;
    for g in gateways {
        sum = sum.saturating_add(state.limits.of(g).await.unwrap_or(default));
    }
    sum
}
