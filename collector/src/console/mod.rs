//! The web console (issue 15): server-rendered HTML pages for operators and
//! auditors, served by `serve` on the same HTTPS listener as the API.
//!
//! - `session.rs` — sign-in with a scoped API token exchanged for a session
//!   cookie (`__Host-evident_session`: HttpOnly, Secure, SameSite=Strict,
//!   Path=/), stored by its sha256 with an absolute expiry; sign-out.
//! - `csrf.rs` — every POST carries the session's synchronizer token and
//!   must come from the console's own origin.
//! - `layout.rs` — the page shell (navigation, security headers), status
//!   badges (symbol + text, never colour alone), `<time>` elements, SVG.
//! - `pages/` — one module per page; each reads latest state only (the
//!   `fleet_status`, `host_status` and `drift_state` tables, one host's
//!   latest results), never statement history per request.
//! - `assets/` — the stylesheet and the one small script, compiled into the
//!   binary (no CDN, no build step).
//! - `housekeeping.rs` — the background task: expired sessions deleted in
//!   batches, the daily trend snapshot, and at start the trend backfilled
//!   from the stored history (`backfill.rs`).
//!
//! Every page is rendered by maud, which escapes every interpolated value:
//! host names, probe data and messages are agent-supplied data.

use crate::service::App;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

mod assets;
mod auth;
pub mod backfill;
mod csrf;
mod error;
pub mod housekeeping;
mod layout;
mod pages;
pub mod session;
mod shell;
pub mod trend;

pub use error::ConsoleError;

/// Largest form body the console accepts.
pub const FORM_LIMIT: usize = 16 * 1024;

/// The console's routes (merged into the API router by `http::router`).
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(pages::fleet::page))
        .route("/controls/{id}", get(pages::control::page))
        .route("/matrix", get(pages::matrix::page))
        .route("/hosts/{id}", get(pages::host::page))
        .route("/alerts", get(pages::alerts::page))
        .route("/vulns", get(pages::vulns::page))
        .route("/alerts/{id}/ack", post(pages::alerts::ack))
        .route("/review", get(pages::review::page))
        .route("/review/download", get(pages::download::download))
        .route("/admin", get(pages::admin::page))
        .route("/admin/agents/{id}", post(pages::admin::agent_status))
        .route("/admin/tokens", post(pages::admin::create_token))
        .route("/signin", get(session::signin_page).post(session::signin))
        .route("/signout", post(session::signout))
        .route("/console/assets/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn(layout::security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(FORM_LIMIT))
}
