//! `POST /v1/enroll`.

use crate::error::ApiError;
use crate::service::{enroll, App};
use axum::extract::{ConnectInfo, Request, State};
use axum::routing::post;
use axum::{Json, Router};
use evident_core::wire::{EnrollRequest, EnrollResponse};
use std::sync::Arc;

/// Largest enrollment body.
const LIMIT: usize = 16 * 1024;

/// Routes.
pub fn router() -> Router<Arc<App>> {
    Router::new().route("/v1/enroll", post(handle))
}

async fn handle(
    State(app): State<Arc<App>>,
    req: Request,
) -> Result<Json<EnrollResponse>, ApiError> {
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let body = super::read_body(req, LIMIT, app.limits.body_timeout_ms).await?;
    let req: EnrollRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("not an enrollment request: {e}")))?;
    Ok(Json(enroll::enroll(&app, req, peer).await?))
}
