//! Why a console request failed, as an HTML page with its status (or a
//! redirect to the sign-in page). The service errors map here, as they
//! map to `ApiError` for the JSON API.

use super::shell;
use crate::service::{admin::AdminError, alerts::AlertsError, query::QueryError};
use crate::store::StoreError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// A console failure.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No (or an expired) session: go to the sign-in page.
    #[error("sign in first")]
    SignIn,
    /// The session's role does not allow this, or a CSRF check failed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there (404).
    #[error("{0}")]
    NotFound(String),
    /// Bad input (400).
    #[error("{0}")]
    BadRequest(String),
    /// Not in a state that allows it (409).
    #[error("{0}")]
    Conflict(String),
    /// The database or stored data failed (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> ConsoleError {
        ConsoleError::Unavailable(e.to_string())
    }
}

impl From<QueryError> for ConsoleError {
    fn from(e: QueryError) -> ConsoleError {
        match e {
            QueryError::Invalid(m) => ConsoleError::BadRequest(m),
            QueryError::NotFound(m) => ConsoleError::NotFound(m),
            QueryError::Unavailable(m) => ConsoleError::Unavailable(m),
            QueryError::Store(e) => e.into(),
        }
    }
}

impl From<AlertsError> for ConsoleError {
    fn from(e: AlertsError) -> ConsoleError {
        match e {
            AlertsError::Invalid(m) => ConsoleError::BadRequest(m),
            AlertsError::NotFound(m) => ConsoleError::NotFound(m),
            AlertsError::Conflict(m) => ConsoleError::Conflict(m),
            AlertsError::Store(e) => e.into(),
        }
    }
}

impl From<AdminError> for ConsoleError {
    fn from(e: AdminError) -> ConsoleError {
        match e {
            AdminError::NotFound { what, id } => ConsoleError::NotFound(format!("no {what} {id}")),
            AdminError::Invalid(m) => ConsoleError::BadRequest(m),
            AdminError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = match &self {
            ConsoleError::SignIn => {
                return (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, "/signin")],
                    "sign in first",
                )
                    .into_response();
            }
            ConsoleError::Forbidden(_) => StatusCode::FORBIDDEN,
            ConsoleError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsoleError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Conflict(_) => StatusCode::CONFLICT,
            ConsoleError::Unavailable(m) => {
                tracing::warn!(error = ?m, "console page failed");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let title = status.canonical_reason().unwrap_or("Error");
        let body = shell::bare(
            title,
            maud::html! {
                h1 { (status.as_u16()) " " (title) }
                p.error-detail { (self.to_string()) }
                p { a href="/" { "Back to the fleet" } }
            },
        );
        (status, body).into_response()
    }
}
