//! CSRF protection on every state-changing request: the form must carry the
//! session's synchronizer token (random, 256 bits, stored with the session,
//! compared in constant time), and the request must come from the console's
//! own origin (`Origin`, else `Referer`, naming the `Host` it was sent to).
//! The session cookie is also SameSite=Strict. Any failure is a 403.

use super::error::ConsoleError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Uri};

/// The `host[:port]` of an `https://…` or `http://…` URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Where a request was sent (`Host`, or the HTTP/2 `:authority`) and where
/// it says it comes from (`Origin`, else `Referer`).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    host: Option<String>,
    from: Option<String>,
}

impl Origins {
    /// Read them from a request's URI and headers.
    pub fn of(uri: &Uri, headers: &HeaderMap) -> Origins {
        let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
        Origins {
            host: get(header::HOST)
                .map(str::to_string)
                .or_else(|| uri.authority().map(|a| a.as_str().to_string())),
            from: get(header::ORIGIN)
                .and_then(authority)
                .or_else(|| get(header::REFERER).and_then(authority))
                .map(str::to_string),
        }
    }

    /// Refuse unless the request names this console's origin.
    pub fn same_origin(&self) -> Result<(), ConsoleError> {
        let host = self
            .host
            .as_deref()
            .ok_or_else(|| ConsoleError::Forbidden("refused: the request names no Host".into()))?;
        match self.from.as_deref() {
            Some(a) if a.eq_ignore_ascii_case(host) => Ok(()),
            Some(_) => Err(ConsoleError::Forbidden(
                "refused: the form was sent from another site (Origin does not match)".into(),
            )),
            None => Err(ConsoleError::Forbidden(
                "refused: the request names no Origin or Referer".into(),
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origins {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Origins::of(&parts.uri, &parts.headers))
    }
}

/// Check a state-changing request of a signed-in session whose CSRF token
/// is `expected`.
pub fn check(expected: &str, origins: &Origins, presented: &str) -> Result<(), ConsoleError> {
    origins.same_origin()?;
    let want = expected.as_bytes();
    let got = presented.as_bytes();
    let same = want.len() == got.len()
        && want
            .iter()
            .zip(got.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same && !want.is_empty() {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "refused: missing or wrong CSRF token (reload the page and try again)".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn same_origin(h: &HeaderMap) -> Result<(), ConsoleError> {
        Origins::of(&Uri::from_static("/"), h).same_origin()
    }

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn only_the_consoles_own_origin_may_post() {
        assert!(same_origin(&headers("127.0.0.1:8443", Some("https://127.0.0.1:8443"))).is_ok());
        assert!(same_origin(&headers("127.0.0.1:8443", Some("https://evil.example"))).is_err());
        assert!(same_origin(&headers("127.0.0.1:8443", Some("null"))).is_err());
        assert!(same_origin(&headers("127.0.0.1:8443", None)).is_err());
        // HTTP/2: no Host header, the authority is in the URI.
        let mut h = HeaderMap::new();
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://127.0.0.1:8443"),
        );
        let uri: Uri = "https://127.0.0.1:8443/signin".parse().unwrap();
        assert!(Origins::of(&uri, &h).same_origin().is_ok());
        assert!(check("a", &Origins::of(&uri, &h), "a").is_ok());
        assert!(check("a", &Origins::of(&uri, &h), "b").is_err());
        assert!(check("", &Origins::of(&uri, &h), "").is_err());
    }
}
