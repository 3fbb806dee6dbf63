//! `GET /healthz` and `GET /metrics`.

use crate::error::ApiError;
use crate::service::{query, App};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

/// Routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

/// 200 only when the database answers; otherwise 503 naming the database error.
async fn healthz(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    app.store.ping().await?;
    Ok(Json(
        serde_json::json!({"status": "ok", "database": app.store.kind()}),
    ))
}

/// A scrape fails (503) when the database does: counts of zero would hide it.
async fn metrics(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    let controls = query::control_host_counts(&app).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(&controls),
    ))
}
