//! CSRF protection on every state-changing request: the form must carry the
//! session's synchronizer token (random, 256 bits, stored with the session,
//! compared in constant time), and the request must come from the console's
//! own origin (`Origin`, else `Referer`, naming the `Host` it was sent to).
//! The session cookie is also SameSite=Strict. Any failure is a 403.

use super::error::ConsoleError;
use super::session::Session;
use axum::http::{header, HeaderMap};

/// The `host[:port]` of an `https://…` or `http://…` URL.
fn authority(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Refuse unless the request names this console's origin.
pub fn same_origin(headers: &HeaderMap) -> Result<(), ConsoleError> {
    let get = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    let host = get(header::HOST)
        .ok_or_else(|| ConsoleError::Forbidden("refused: the request names no Host".into()))?;
    let from = match get(header::ORIGIN) {
        Some(o) => authority(o),
        None => get(header::REFERER).and_then(authority),
    };
    match from {
        Some(a) if a.eq_ignore_ascii_case(host) => Ok(()),
        Some(_) => Err(ConsoleError::Forbidden(
            "refused: the form was sent from another site (Origin does not match)".into(),
        )),
        None => Err(ConsoleError::Forbidden(
            "refused: the request names no Origin or Referer".into(),
        )),
    }
}

/// Check a state-changing request of a signed-in session.
pub fn check(s: &Session, headers: &HeaderMap, presented: &str) -> Result<(), ConsoleError> {
    same_origin(headers)?;
    let want = s.csrf.as_bytes();
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
    }
}
