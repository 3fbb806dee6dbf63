//! Sign-in: a scoped API token (admin, operator or auditor; see
//! `service::access`) is exchanged for a session. The browser holds a random
//! 256-bit id in the `__Host-evident_session` cookie (HttpOnly, Secure,
//! SameSite=Strict, Path=/, no Domain); the store keeps only its sha256,
//! with the role, who signed in, the session's CSRF token and an absolute
//! expiry ([`SESSION_TTL_MS`], measured on the collector's clock). Sign-out
//! deletes the row. The token itself is never stored in the browser.

use super::error::ConsoleError;
use super::layout;
use crate::service::access::{self, Scope};
use crate::service::{random_hex, secret_hash, App};
use crate::store::console::SessionRecord;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use serde::Deserialize;
use std::sync::Arc;

/// The session cookie's name (`__Host-`: Secure, Path=/, no Domain).
pub const COOKIE: &str = "__Host-evident_session";

/// How long a session lasts after sign-in (8 hours).
pub const SESSION_TTL_MS: i64 = 8 * 3600 * 1000;

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    /// Role.
    pub scope: Scope,
    /// Who (token id and name, or "admin token").
    pub actor: String,
    /// The synchronizer token of this session's forms.
    pub csrf: String,
    id_hash: [u8; 32],
}

impl Session {
    /// Refuse (403) unless the role allows `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ConsoleError> {
        if self.scope.allows(needed) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden(format!(
                "the {} role cannot do this; it needs {}",
                self.scope.as_str(),
                needed.as_str()
            )))
        }
    }
}

/// The session id the request's cookie carries.
fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl FromRequestParts<Arc<App>> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let id = cookie_id(&parts.headers).ok_or(ConsoleError::SignIn)?;
        let id_hash = secret_hash(&id);
        let rec = app
            .store
            .session(&id_hash, app.clock.now_ms())
            .await?
            .ok_or(ConsoleError::SignIn)?;
        let scope = Scope::parse(&rec.scope)
            .filter(|s| *s != Scope::Metrics)
            .ok_or(ConsoleError::SignIn)?;
        Ok(Session {
            scope,
            actor: rec.actor,
            csrf: rec.csrf,
            id_hash,
        })
    }
}

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
                code { "evident-collector token api create --scope auditor --name NAME" }
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
    headers: HeaderMap,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    super::csrf::same_origin(&headers)?;
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
    app.store.expire_sessions(now).await?;
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
    headers: HeaderMap,
    form: Result<Form<CsrfOnly>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    let token = form.map(|f| f.0.csrf).unwrap_or_default();
    super::csrf::check(&s, &headers, &token)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_session_cookie_is_read() {
        let mut h = HeaderMap::new();
        let id = "a".repeat(64);
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("x=1; {COOKIE}={id}; y=2")).unwrap(),
        );
        assert_eq!(cookie_id(&h).as_deref(), Some(id.as_str()));
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE}=<script>")).unwrap(),
        );
        assert_eq!(cookie_id(&h), None);
        assert_eq!(cookie_id(&HeaderMap::new()), None);
    }
}
