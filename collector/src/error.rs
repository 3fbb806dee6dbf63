//! One error type for every HTTP answer that is not a success, mapped to
//! its status code. The reason is attached to the response so the request
//! log can name it; it never contains a secret. Services return their own
//! errors (`service::*::…Error`); the `From` impls here are the one place
//! that gives each its status and body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use evident_core::wire::ErrorBody;
use evident_core::Digest;

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Body over the configured limit (413), checked before parsing.
    #[error("request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// Malformed request: not JSON, not a DSSE envelope, wrong payloadType, blob mismatch (400).
    #[error("{0}")]
    BadRequest(String),
    /// The envelope's signature does not verify (401).
    #[error("{0}")]
    BadSignature(String),
    /// Missing or wrong admin token (401).
    #[error("missing or wrong admin token")]
    Unauthorized,
    /// A valid token whose scope does not allow this (403).
    #[error("this token's scope ({have}) does not allow this; it needs {need}")]
    Scope {
        have: &'static str,
        need: &'static str,
    },
    /// Unknown, unapproved or revoked key; bad enrollment token (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing at that address (404).
    #[error("{0}")]
    NotFound(String),
    /// Same sequence, different envelope (409); recorded as an integrity event.
    #[error("{0}")]
    Conflict(String),
    /// Referenced blobs neither sent nor stored (422).
    #[error("{} blob(s) referenced by the statement are neither in the request nor stored", .0.len())]
    MissingBlobs(Vec<Digest>),
    /// A rate limit or quota was reached (429); try again later.
    #[error("{0}")]
    TooMany(String),
    /// Database unavailable, disk full, shutting down (503): nothing was acknowledged.
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

/// The refusal reason, carried in response extensions for the request log.
#[derive(Debug, Clone)]
pub struct Reason(pub String);

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BadSignature(_) | ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Scope { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MissingBlobs(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// Short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ApiError::TooLarge { .. } => "too_large",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::BadSignature(_) => "bad_signature",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) | ApiError::Scope { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::MissingBlobs(_) => "missing_blobs",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::TooMany(_) => "rate_limited",
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

impl From<crate::service::admin::AdminError> for ApiError {
    fn from(e: crate::service::admin::AdminError) -> Self {
        use crate::service::admin::AdminError;
        match e {
            AdminError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            AdminError::Invalid(m) => ApiError::BadRequest(m),
            AdminError::Store(s) => s.into(),
        }
    }
}

impl From<crate::service::access::AccessError> for ApiError {
    fn from(e: crate::service::access::AccessError) -> Self {
        use crate::service::access::AccessError as E;
        match e {
            E::Invalid(m) => ApiError::BadRequest(m),
            E::NotFound(_) => ApiError::NotFound(e.to_string()),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::service::ingest::IngestError> for ApiError {
    fn from(e: crate::service::ingest::IngestError) -> Self {
        use crate::service::ingest::IngestError as E;
        match e {
            E::Invalid(m) => ApiError::BadRequest(m),
            E::BadSignature(m) => ApiError::BadSignature(m),
            E::Refused(m) => ApiError::Forbidden(m),
            E::Conflict(m) => ApiError::Conflict(m),
            E::MissingBlobs(d) => ApiError::MissingBlobs(d),
            E::Unavailable(m) => ApiError::Unavailable(m),
            E::TooMany(m) => ApiError::TooMany(m),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::service::query::QueryError> for ApiError {
    fn from(e: crate::service::query::QueryError) -> Self {
        use crate::service::query::QueryError as E;
        match e {
            E::Invalid(m) => ApiError::BadRequest(m),
            E::NotFound(m) => ApiError::NotFound(m),
            E::Unavailable(m) => ApiError::Unavailable(m),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::service::enroll::EnrollError> for ApiError {
    fn from(e: crate::service::enroll::EnrollError) -> Self {
        use crate::service::enroll::EnrollError as E;
        match e {
            E::Invalid(m) => ApiError::BadRequest(m),
            E::Refused(m) => ApiError::Forbidden(m),
            E::TooMany(m) => ApiError::TooMany(m),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::service::alerts::AlertsError> for ApiError {
    fn from(e: crate::service::alerts::AlertsError) -> Self {
        use crate::service::alerts::AlertsError as E;
        match e {
            E::Invalid(m) => ApiError::BadRequest(m),
            E::NotFound(m) => ApiError::NotFound(m),
            E::Conflict(m) => ApiError::Conflict(m),
            E::Store(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        let missing_blobs = match self {
            ApiError::MissingBlobs(d) => d,
            _ => Vec::new(),
        };
        let mut resp = (
            status,
            Json(ErrorBody {
                error: message.clone(),
                missing_blobs,
            }),
        )
            .into_response();
        resp.extensions_mut().insert(Reason(message));
        resp
    }
}
