//! Who is signed in: the [`Session`] extractor reads the session cookie,
//! looks up its sha256 among unexpired sessions on the collector's clock,
//! and redirects to the sign-in page without one.

use super::error::ConsoleError;
use crate::service::access::Scope;
use crate::service::{secret_hash, App};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
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
    pub(super) id_hash: [u8; 32],
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

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
