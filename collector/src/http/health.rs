//! `GET /livez` (the process answers), `GET /readyz` and `/healthz` (the
//! store is healthy: it answers and passed its integrity check) and
//! `GET /metrics` (scope `metrics`).

use crate::error::ApiError;
use crate::service::{query, App};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// Health routes (no token).
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/healthz", get(readyz))
}

/// `/metrics` (scoped by the caller).
pub fn metrics_router() -> Router<Arc<App>> {
    Router::new().route("/metrics", get(metrics))
}

/// 200 while the process serves requests.
async fn livez() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// 200 only when the store passed its start-up integrity check and the
/// database answers; otherwise 503 naming the problem.
async fn readyz(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    if let Some(problem) = app.health.not_ready() {
        return Err(ApiError::Unavailable(problem));
    }
    app.store.ping().await?;
    Ok(Json(
        serde_json::json!({"status": "ok", "database": app.store.kind()}),
    ))
}

/// A scrape fails (503) when the database does: counts of zero would hide it.
async fn metrics(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let snapshot = query::metrics_snapshot(&app).await?;
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(crate::metrics::wants_openmetrics);
    let content_type = if openmetrics {
        crate::metrics::OPENMETRICS_CONTENT_TYPE
    } else {
        crate::metrics::TEXT_CONTENT_TYPE
    };
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        app.metrics.render(&snapshot, openmetrics),
    ))
}
