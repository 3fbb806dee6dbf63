//! Alerts and drift timelines: read with scope `auditor`, acknowledge with `operator`.

use crate::error::ApiError;
use crate::service::{alerts, App};
use crate::store::drift::AlertQuery;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

/// Reading alerts and timelines (scope `auditor`).
pub fn read_router() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/alerts", get(list))
        .route("/v1/alerts/{id}", get(one))
        .route("/v1/hosts/{id}/transitions", get(host_transitions))
        .route("/v1/controls/{id}/transitions", get(control_transitions))
}

/// Acknowledging alerts (scope `operator`).
pub fn ack_router() -> Router<Arc<App>> {
    Router::new().route("/v1/alerts/{id}/ack", post(ack))
}

#[derive(Deserialize)]
struct ListParams {
    open: Option<bool>,
    host: Option<String>,
    kind: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
struct TimelineParams {
    host: Option<String>,
    subject: Option<String>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
struct AckBody {
    by: String,
    reason: String,
}

fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::BadRequest(e.body_text())
}

async fn list(
    State(app): State<Arc<App>>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let query = AlertQuery {
        open_only: q.open.unwrap_or(false),
        host: q.host,
        kind: q.kind,
        after: q.after,
        limit: 0,
    };
    Ok(Json(alerts::list(&app, query, q.limit).await?))
}

async fn one(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(alerts::get(&app, id).await?))
}

async fn ack(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    body: Result<Json<AckBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    Ok(Json(alerts::ack(&app, id, &b.by, &b.reason).await?))
}

async fn host_transitions(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    q: Result<Query<TimelineParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(
        alerts::transitions(&app, Some(&id), q.subject.as_deref(), q.limit).await?,
    ))
}

async fn control_transitions(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    q: Result<Query<TimelineParams>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let subject = format!("control:{id}");
    Ok(Json(
        alerts::transitions(&app, q.host.as_deref(), Some(&subject), q.limit).await?,
    ))
}
