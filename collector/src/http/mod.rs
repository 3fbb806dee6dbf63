//! HTTP routes. Each area exposes `router()`; handlers only decode the
//! request and call a `service` function. Every refused request is logged
//! with its reason and the peer address, never with a secret.

use crate::error::{ApiError, Reason};
use crate::service::access::{self, Scope};
use crate::service::App;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub mod admin;
pub mod alerts;
pub mod enroll;
pub mod health;
pub mod ingest;
pub mod query;

/// Largest body of an admin, alerts or query request (tokens, acks).
pub const ADMIN_BODY_LIMIT: usize = 64 * 1024;

/// The whole API. Each area needs a scope (`service::access`): tokens and
/// agents `admin`; acknowledging alerts `operator`; reading `auditor`;
/// `/metrics` the `metrics` scope. Health probes need none.
pub fn router(app: Arc<App>) -> Router {
    let scoped = |r: Router<Arc<App>>, scope: Scope| {
        r.route_layer(middleware::from_fn_with_state(
            (app.clone(), scope),
            require_scope,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
    };
    Router::new()
        .merge(health::router())
        .merge(enroll::router())
        .merge(ingest::router())
        .merge(scoped(health::metrics_router(), Scope::Metrics))
        .merge(scoped(query::router(), Scope::Auditor))
        .merge(scoped(alerts::read_router(), Scope::Auditor))
        .merge(scoped(alerts::ack_router(), Scope::Operator))
        .merge(scoped(admin::router(), Scope::Admin))
        .merge(crate::console::router())
        .layer(middleware::from_fn(log_requests))
        .with_state(app)
}

async fn log_requests(req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status();
    let micros = start.elapsed().as_micros() as u64;
    if status.is_client_error() || status.is_server_error() {
        let reason = resp
            .extensions()
            .get::<Reason>()
            .map(|r| r.0.as_str())
            .unwrap_or("");
        // Debug formatting escapes what a client sent (newlines, escapes).
        // A client's mistake is not the service's problem: 4xx at INFO;
        // a 5xx is ours: ERROR.
        if status.is_server_error() {
            tracing::error!(%peer, %method, path = ?path, status = status.as_u16(), micros, reason = ?reason, "request failed");
        } else {
            tracing::info!(%peer, %method, path = ?path, status = status.as_u16(), micros, reason = ?reason, "request refused");
        }
    } else {
        tracing::debug!(%peer, %method, path = ?path, status = status.as_u16(), micros, "request");
    }
    resp
}

async fn require_scope(
    State((app, needed)): State<(Arc<App>, Scope)>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        return Err(ApiError::Unauthorized);
    };
    match access::scope_of(&app, presented).await? {
        Some(have) if have.allows(needed) => Ok(next.run(req).await),
        Some(have) => Err(ApiError::Scope {
            have: have.as_str(),
            need: needed.as_str(),
        }),
        None => Err(ApiError::Unauthorized),
    }
}

/// Read a body of at most `limit` bytes within `timeout_ms`: 413 from the
/// Content-Length header before parsing anything, or as soon as a streamed
/// body exceeds the limit; 400 when it does not arrive in time.
pub async fn read_body(req: Request, limit: usize, timeout_ms: u64) -> Result<Bytes, ApiError> {
    let timeout = std::time::Duration::from_millis(timeout_ms);
    match tokio::time::timeout(timeout, read_body_now(req, limit)).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::BadRequest(format!(
            "the request body did not arrive within {timeout_ms} ms"
        ))),
    }
}

async fn read_body_now(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > limit as u64) {
        // A moderately oversized body is read and discarded (never buffered)
        // so the client sees the 413 instead of a reset connection; anything
        // larger gets the 413 and the connection is closed.
        if n <= (limit as u64).saturating_mul(4) {
            discard(req.into_body()).await;
        }
        return Err(ApiError::TooLarge { limit });
    }
    let encoding = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not ASCII)").to_ascii_lowercase());
    let raw = axum::body::to_bytes(req.into_body(), limit)
        .await
        .map_err(|e| {
            let msg = format!("{e:?}");
            if msg.contains("LengthLimit") || msg.contains("length limit") {
                ApiError::TooLarge { limit }
            } else {
                ApiError::BadRequest(format!("could not read body: {e}"))
            }
        })?;
    decode_content(encoding.as_deref(), raw, limit)
}

/// Undo a `Content-Encoding` (only `gzip` is accepted; agents use it for
/// evidence). The decompressed size is bounded by `limit` too, so a
/// compression bomb is refused with 413 without being inflated.
pub fn decode_content(encoding: Option<&str>, raw: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    use std::io::Read as _;
    match encoding.map(str::trim) {
        None | Some("") | Some("identity") => Ok(raw),
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::with_capacity(raw.len().saturating_mul(3).min(limit));
            // `bufread`: the slice is the buffer (`read::GzDecoder` would
            // allocate a 32 KB `BufReader` per request).
            flate2::bufread::GzDecoder::new(raw.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::BadRequest(format!("body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(ApiError::TooLarge { limit });
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "unsupported Content-Encoding `{}` (use gzip or none)",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

async fn discard(mut body: axum::body::Body) {
    use http_body_util::BodyExt as _;
    let drain = async { while let Some(Ok(_)) = body.frame().await {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
}

#[cfg(test)]
mod content_tests {
    use super::*;
    use std::io::Write as _;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        Bytes::from(enc.finish().unwrap())
    }

    #[test]
    fn gzip_bodies_are_inflated_within_the_limit() {
        let body = br#"{"envelope":"abc","blobs":{}}"#;
        assert_eq!(
            decode_content(Some("gzip"), gzip(body), 1024).unwrap(),
            &body[..]
        );
        assert_eq!(
            decode_content(None, Bytes::from_static(b"x"), 1024).unwrap(),
            &b"x"[..]
        );
    }

    #[test]
    fn a_compression_bomb_is_413_and_garbage_is_400() {
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        assert!(matches!(
            decode_content(Some("gzip"), bomb, 4 * 1024 * 1024),
            Err(ApiError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_content(Some("gzip"), Bytes::from_static(b"not gzip"), 1024),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            decode_content(Some("br"), Bytes::from_static(b"x"), 1024),
            Err(ApiError::BadRequest(_))
        ));
    }
}
