//! Alerts and drift timelines: listing, acknowledging, transitions.

use super::App;
use crate::store::drift::{AlertQuery, AlertRecord, TransitionRow};
use serde::Serialize;

/// Why an alert request could not be served; `crate::error` maps each to its HTTP status and body.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// Malformed or invalid input (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// Nothing by that id (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with what is stored (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The database failed (HTTP 503).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

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
pub async fn list(app: &App, mut q: AlertQuery, l: Option<i64>) -> Result<AlertPage, AlertsError> {
    if let Some(k) = q.kind.as_deref() {
        if !crate::store::drift::ALERT_KINDS.contains(&k) {
            return Err(AlertsError::Invalid(format!(
                "unknown alert kind `{k}` (valid: {})",
                crate::store::drift::ALERT_KINDS.join(", ")
            )));
        }
    }
    q.limit = limit(l);
    let alerts = app.store.list_alerts(&q).await?;
    let next = (alerts.len() as i64 == q.limit)
        .then(|| alerts.last().map(|a| a.id))
        .flatten();
    Ok(AlertPage { alerts, next })
}

/// `GET /v1/alerts/{id}`.
pub async fn get(app: &App, id: i64) -> Result<AlertRecord, AlertsError> {
    app.store
        .alert(id)
        .await?
        .ok_or_else(|| AlertsError::NotFound(format!("no alert {id}")))
}

/// `POST /v1/alerts/{id}/ack`.
pub async fn ack(app: &App, id: i64, by: &str, reason: &str) -> Result<AlertRecord, AlertsError> {
    if reason.trim().is_empty() || reason.len() > 2000 {
        return Err(AlertsError::Invalid(
            "reason is required (at most 2000 bytes)".into(),
        ));
    }
    if by.trim().is_empty() || by.len() > 200 {
        return Err(AlertsError::Invalid(
            "by is required (at most 200 bytes)".into(),
        ));
    }
    let current = get(app, id).await?;
    if current.state != "open" {
        return Err(AlertsError::Conflict(format!(
            "alert {id} is {}, not open",
            current.state
        )));
    }
    if !app
        .store
        .ack_alert(id, by, reason, app.clock.now_ms())
        .await?
    {
        return Err(AlertsError::Conflict(format!(
            "alert {id} is no longer open"
        )));
    }
    get(app, id).await
}

/// Transitions of a host (all subjects) or of a subject (all hosts, or one).
pub async fn transitions(
    app: &App,
    agent: Option<&str>,
    subject: Option<&str>,
    l: Option<i64>,
) -> Result<Vec<TransitionRow>, AlertsError> {
    Ok(app.store.transitions(agent, subject, limit(l)).await?)
}
