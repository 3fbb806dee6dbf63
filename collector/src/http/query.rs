//! The query API (admin bearer token; JSON; paginated).

use crate::error::ApiError;
use crate::service::{query, App};
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

/// Routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/hosts", get(hosts))
        .route("/v1/hosts/{id}", get(host))
        .route("/v1/hosts/{id}/rules/{rule}", get(rule_history))
        .route("/v1/controls", get(controls))
        .route("/v1/evidence/{digest}", get(evidence))
        .route("/v1/integrity-events", get(events))
        .route("/v1/hosts/{id}/vulns", get(host_vulns))
        .route("/v1/vulns", get(fleet_vulns))
}

async fn host_vulns(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(query::host_vulns(&app, &id).await?))
}

async fn fleet_vulns(
    State(app): State<Arc<App>>,
    q: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(query::fleet_vulns(&app, q.limit).await?))
}

#[derive(Deserialize)]
struct PageParams {
    after: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
    agent: Option<String>,
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::BadRequest(e.body_text())
}

async fn hosts(
    State(app): State<Arc<App>>,
    q: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(query::hosts(&app, q.after, q.limit).await?))
}

async fn host(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(query::host(&app, &id).await?))
}

async fn rule_history(
    State(app): State<Arc<App>>,
    Path((id, rule)): Path<(String, String)>,
    q: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    Ok(Json(
        query::rule_history(&app, &id, &rule, q.before, q.limit).await?,
    ))
}

async fn controls(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        serde_json::json!({ "items": query::controls(&app).await? }),
    ))
}

async fn evidence(
    State(app): State<Arc<App>>,
    Path(digest): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(query::evidence(&app, &digest).await?))
}

async fn events(
    State(app): State<Arc<App>>,
    q: Result<Query<PageParams>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(bad_query)?;
    let after = match q.after.as_deref() {
        None => None,
        Some(s) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiError::BadRequest("after must be an event id".into()))?,
        ),
    };
    Ok(Json(
        query::integrity_events(&app, q.agent, after, q.limit).await?,
    ))
}
