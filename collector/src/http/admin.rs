//! Admin API (scope `admin`): enrollment tokens, agents, scoped API tokens. Handlers
//! decode and call `service::admin`, which the offline
//! `evident-collector token …` and `agents …` commands call too.

use crate::error::ApiError;
use crate::service::{access, admin, App};
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use evident_core::wire::AgentStatus;
use serde::Deserialize;
use std::sync::Arc;

/// Routes.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/admin/tokens", get(list_tokens).post(create_token))
        .route("/v1/admin/tokens/{id}", delete(revoke_token))
        .route("/v1/admin/agents", get(list_agents))
        .route("/v1/admin/agents/{id}/approve", post(approve))
        .route("/v1/admin/agents/{id}/revoke", post(revoke))
        .route(
            "/v1/admin/api-tokens",
            get(list_api_tokens).post(create_api_token),
        )
        .route("/v1/admin/api-tokens/{id}", delete(revoke_api_token))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateApiToken {
    /// `admin`, `operator`, `auditor` or `metrics`.
    scope: String,
    /// What it is for.
    #[serde(default)]
    name: String,
}

async fn create_api_token(
    State(app): State<Arc<App>>,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let req: CreateApiToken =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let t = access::mint(&*app.store, &req.scope, &req.name, app.clock.now_ms()).await?;
    Ok(Json(
        serde_json::json!({"id": t.info.id, "scope": t.info.scope, "token": t.secret}),
    ))
}

async fn list_api_tokens(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        serde_json::json!({"items": app.store.list_api_tokens().await?}),
    ))
}

async fn revoke_api_token(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    access::revoke(&*app.store, &id).await?;
    Ok(Json(serde_json::json!({"revoked": id})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    /// Lifetime in seconds.
    expires_in_seconds: Option<i64>,
    /// Allowed enrollments.
    uses: Option<i64>,
}

async fn create_token(
    State(app): State<Arc<App>>,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let req: CreateToken = if body.is_empty() {
        CreateToken::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?
    };
    let t = admin::mint_token(
        &*app.store,
        app.clock.now_ms(),
        req.expires_in_seconds.map(|s| s.saturating_mul(1000)),
        req.uses,
    )
    .await?;
    Ok(Json(serde_json::json!({"id": t.id, "token": t.secret})))
}

async fn list_tokens(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        serde_json::json!({"items": admin::tokens(&*app.store).await?}),
    ))
}

async fn revoke_token(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    admin::revoke_token(&*app.store, &id).await?;
    Ok(Json(serde_json::json!({"revoked": id})))
}

async fn list_agents(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        serde_json::json!({"items": admin::agents(&*app.store, 10_000).await?}),
    ))
}

async fn set_status(
    app: &App,
    id: &str,
    status: AgentStatus,
) -> Result<impl IntoResponse, ApiError> {
    admin::set_agent_status(&*app.store, id, status).await?;
    Ok(Json(serde_json::json!({"agent_id": id, "status": status})))
}

async fn approve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_status(&app, &id, AgentStatus::Active).await
}

async fn revoke(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    set_status(&app, &id, AgentStatus::Revoked).await
}
