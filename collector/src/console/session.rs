//! Sign-in: a scoped API token (admin, operator or auditor; see
//! `service::access`) is exchanged for a session. The browser holds a random
//! 256-bit id in the `__Host-evident_session` cookie (HttpOnly, Secure,
//! SameSite=Strict, Path=/, no Domain); the store keeps only its sha256,
//! with the role, who signed in, the session's CSRF token and an absolute
//! expiry ([`SESSION_TTL_MS`], measured on the collector's clock). Sign-out
//! deletes the row. The token itself is never stored in the browser.

use super::auth::{Session, SESSION_TTL_MS};
use super::error::ConsoleError;
use super::layout;
use crate::service::access::{self, Scope};
use crate::service::{random_hex, secret_hash, App};
use crate::store::console::SessionRecord;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

pub use super::auth::COOKIE;

fn signin_form(message: Option<&str>) -> maud::Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in to the Evident console" }
            @if let Some(m) = message {
                p.error-detail role="alert" { (m) }
            }
            form.signin method="post" action="/signin" {
                label for="token" { "API token (admin, operator or auditor)" }
                input #token type="password" name="token" autocomplete="off" required autofocus;
                button type="submit" { "Sign in" }
            }
            p.muted {
                "Create one on the collector host with "
                code { "evident-collector api-token create --scope auditor --name NAME" }
                ". The token is exchanged for a session of 8 hours; it is not kept in the browser."
            }
        },
    )
}

/// `GET /signin`.
pub async fn signin_page() -> Response {
    signin_form(None).into_response()
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignIn {
    #[serde(default)]
    token: String,
}

/// `POST /signin`: check the token, start a session, go to the fleet.
pub async fn signin(
    State(app): State<Arc<App>>,
    origins: super::csrf::Origins,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    origins.same_origin()?;
    let Ok(Form(form)) = form else {
        return Ok((
            StatusCode::BAD_REQUEST,
            signin_form(Some("The form was not understood.")),
        )
            .into_response());
    };
    let token = form.token.trim();
    let refused = |m: &str| (StatusCode::FORBIDDEN, signin_form(Some(m))).into_response();
    let scope = match access::scope_of(&app, token).await? {
        Some(Scope::Metrics) => {
            return Ok(refused("A metrics token cannot sign in to the console."))
        }
        Some(s) => s,
        None => return Ok(refused("Unknown or revoked token.")),
    };
    let actor = if app.is_admin(token) {
        "admin token".to_string()
    } else {
        match app.store.api_token_actor(&secret_hash(token)).await? {
            Some((id, name)) if name.is_empty() => id,
            Some((id, name)) => format!("{id} ({name})"),
            None => return Ok(refused("Unknown or revoked token.")),
        }
    };
    let now = app.clock.now_ms();
    super::housekeeping::expire_sessions(app.store.as_ref(), now).await?;
    let id = random_hex(32);
    app.store
        .create_session(
            &secret_hash(&id),
            &SessionRecord {
                scope: scope.as_str().into(),
                actor,
                csrf: random_hex(32),
                created_at: now,
                expires_at: now.saturating_add(SESSION_TTL_MS),
            },
        )
        .await?;
    let cookie = format!(
        "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL_MS / 1000
    );
    let mut resp = layout::see_other("/");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// A form that only carries the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /signout`.
pub async fn signout(
    State(app): State<Arc<App>>,
    s: Session,
    origins: super::csrf::Origins,
    form: Result<Form<CsrfOnly>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    let token = form.map(|f| f.0.csrf).unwrap_or_default();
    super::csrf::check(&s.csrf, &origins, &token)?;
    app.store.delete_session(&s.id_hash).await?;
    let mut resp = layout::see_other("/signin");
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-evident_session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(resp)
}
