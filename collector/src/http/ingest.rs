//! `POST /v1/evidence`.

use crate::service::{ingest, App};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use evident_core::wire::IngestStatus;
use std::sync::Arc;
use std::time::Instant;

/// Routes.
pub fn router() -> Router<Arc<App>> {
    Router::new().route("/v1/evidence", post(handle))
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let start = Instant::now();
    let result = match super::read_body(req, app.max_body_bytes, app.limits.body_timeout_ms).await {
        Ok(body) => ingest::ingest(&app, &body)
            .await
            .map_err(crate::error::ApiError::from),
        Err(e) => Err(e),
    };
    match result {
        Ok(resp) => {
            let (code, label) = match resp.status {
                IngestStatus::Stored => (StatusCode::CREATED, "stored"),
                IngestStatus::Duplicate => (StatusCode::OK, "duplicate"),
            };
            app.metrics.ingest(label, start.elapsed());
            (code, Json(resp)).into_response()
        }
        Err(e) => {
            app.metrics.ingest(e.label(), start.elapsed());
            e.into_response()
        }
    }
}
