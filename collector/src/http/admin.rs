//! Admin API (bearer admin token): enrollment tokens and agents. The same
//! operations are available offline as `evident-collector token …` and
//! `evident-collector agents …`.

use crate::error::ApiError;
use crate::service::{new_enroll_token, secret_hash, App};
use crate::store::NewToken;
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
    let (id, secret) = new_enroll_token();
    let now = app.clock.now_ms();
    app.store
        .create_token(&NewToken {
            id: id.clone(),
            hash: secret_hash(&secret),
            created_at: now,
            expires_at: req
                .expires_in_seconds
                .map(|s| now.saturating_add(s.saturating_mul(1000))),
            max_uses: req.uses,
        })
        .await?;
    Ok(Json(serde_json::json!({"id": id, "token": secret})))
}

async fn list_tokens(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        serde_json::json!({"items": app.store.list_tokens().await?}),
    ))
}

async fn revoke_token(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if app.store.revoke_token(&id).await? {
        Ok(Json(serde_json::json!({"revoked": id})))
    } else {
        Err(ApiError::NotFound(format!("no token {id}")))
    }
}

async fn list_agents(State(app): State<Arc<App>>) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        serde_json::json!({"items": app.store.list_agents(None, 10_000).await?}),
    ))
}

async fn set_status(
    app: &App,
    id: &str,
    status: AgentStatus,
) -> Result<impl IntoResponse, ApiError> {
    if app.store.set_agent_status(id, status).await? {
        Ok(Json(serde_json::json!({"agent_id": id, "status": status})))
    } else {
        Err(ApiError::NotFound(format!("no agent {id}")))
    }
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
