//! Alerts and drift timelines: listing, acknowledging, transitions.

use super::App;
use crate::error::ApiError;
use crate::store::drift::{AlertQuery, AlertRecord, TransitionRow};
use serde::Serialize;

/// A page of alerts.
#[derive(Debug, Serialize)]
pub struct AlertPage {
    /// Alerts, newest first.
    pub alerts: Vec<AlertRecord>,
    /// Pass as `after` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<i64>,
}

fn limit(l: Option<i64>) -> i64 {
    l.unwrap_or(100).clamp(1, 1000)
}

/// `GET /v1/alerts`.
pub async fn list(app: &App, mut q: AlertQuery, l: Option<i64>) -> Result<AlertPage, ApiError> {
    q.limit = limit(l);
    let alerts = app.store.list_alerts(&q).await?;
    let next = (alerts.len() as i64 == q.limit)
        .then(|| alerts.last().map(|a| a.id))
        .flatten();
    Ok(AlertPage { alerts, next })
}

/// `GET /v1/alerts/{id}`.
pub async fn get(app: &App, id: i64) -> Result<AlertRecord, ApiError> {
    app.store
        .alert(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no alert {id}")))
}

/// `POST /v1/alerts/{id}/ack`.
pub async fn ack(app: &App, id: i64, by: &str, reason: &str) -> Result<AlertRecord, ApiError> {
    if reason.trim().is_empty() || reason.len() > 2000 {
        return Err(ApiError::BadRequest(
            "reason is required (at most 2000 bytes)".into(),
        ));
    }
    if by.trim().is_empty() || by.len() > 200 {
        return Err(ApiError::BadRequest(
            "by is required (at most 200 bytes)".into(),
        ));
    }
    let current = get(app, id).await?;
    if current.state != "open" {
        return Err(ApiError::Conflict(format!(
            "alert {id} is {}, not open",
            current.state
        )));
    }
    if !app
        .store
        .ack_alert(id, by, reason, app.clock.now_ms())
        .await?
    {
        return Err(ApiError::Conflict(format!("alert {id} is no longer open")));
    }
    get(app, id).await
}

/// Transitions of a host (all subjects) or of a subject (all hosts, or one).
pub async fn transitions(
    app: &App,
    agent: Option<&str>,
    subject: Option<&str>,
    l: Option<i64>,
) -> Result<Vec<TransitionRow>, ApiError> {
    Ok(app.store.transitions(agent, subject, limit(l)).await?)
}
