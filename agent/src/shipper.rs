//! Delivery to the collector over HTTPS: reqwest with rustls (the `ring`
//! provider only; no OpenSSL, no aws-lc-rs).
//!
//! Trust is the configured CA only (`ca_file`), plus the system bundle when
//! `use_system_roots = true`; a client certificate is presented when
//! configured; `HTTPS_PROXY` / `NO_PROXY` are honoured (reqwest reads them).
//! Requests are the wire types of [`evident_core::wire`]. Blobs the collector
//! is known to hold are left out; a 422 naming missing blobs is answered at
//! once with every blob. Each outcome is classified: delivered (2xx), retry
//! later (network errors, 408, 429, 5xx, anything unexpected), stop (403:
//! unknown, pending or revoked key) or reject (a permanent 4xx for this one
//! statement). [`Backoff`] spaces retries exponentially with jitter.

use crate::config::Config;
use crate::spool::Item;
use evident_core::evidence::{Parsed, SequenceRange};
use evident_core::wire::{EnrollRequest, EnrollResponse, ErrorBody, IngestRequest, IngestResponse};
use evident_core::{Digest, Envelope};
use std::collections::HashSet;
use std::time::Duration;

/// The ingest path.
pub const EVIDENCE_PATH: &str = "/v1/evidence";
/// The enrollment path.
pub const ENROLL_PATH: &str = "/v1/enroll";

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Tls {
        what: String,
        source: reqwest::Error,
    },
    #[error("no CA certificate found in {0}")]
    NoCa(String),
    #[error("collector URL: {0}")]
    Url(String),
    #[error("use_system_roots: no system CA bundle found (set SSL_CERT_FILE)")]
    NoSystemRoots,
}

/// How one delivery attempt ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Try again later.
    #[error("{0}")]
    Retry(String),
    /// The collector refuses this agent's key (403): stop delivering.
    #[error("collector refused the agent key (403): {0}")]
    Stopped(String),
    /// The collector will never accept this statement.
    #[error("collector rejected the statement ({status}): {message}")]
    Rejected { status: u16, message: String },
}

/// A delivered statement.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Its sequence.
    pub sequence: u64,
    /// The gap it declared.
    pub gap: Option<SequenceRange>,
    /// The collector's answer, when it parsed.
    pub response: Option<IngestResponse>,
    /// Every blob digest of the statement (the collector now holds them all).
    pub blobs: Vec<Digest>,
    /// Bytes of the request body(ies) sent.
    pub bytes_sent: u64,
}

/// The HTTP client and the collector's address.
#[derive(Debug, Clone)]
pub struct Shipper {
    client: reqwest::Client,
    base: reqwest::Url,
}

/// Install `ring` as the process's rustls provider (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn read(path: &std::path::Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::Io {
        path: path.display().to_string(),
        source,
    })
}

impl Shipper {
    /// A client for `config`.
    pub fn new(config: &Config) -> Result<Shipper, ClientError> {
        install_crypto_provider();
        let base =
            reqwest::Url::parse(&config.collector).map_err(|e| ClientError::Url(e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .timeout(Duration::from_secs(config.delivery.timeout_seconds))
            .connect_timeout(Duration::from_secs(config.delivery.timeout_seconds.min(10)))
            .pool_max_idle_per_host(1)
            // HTTP/1.1 only (ALPN `http/1.1`): a worker sends its few
            // requests one after the other on one new connection, so
            // HTTP/2's multiplexing buys nothing, and its connection
            // preface, SETTINGS exchange, flow-control and GOAWAY frames
            // cost the collector CPU on every run (docs/benchmarks.md).
            .http1_only()
            .user_agent(concat!("evident-agent/", env!("CARGO_PKG_VERSION")));
        let mut roots = Vec::new();
        if let Some(ca) = &config.ca_file {
            let pem = read(ca)?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| ClientError::Tls {
                    what: ca.display().to_string(),
                    source,
                })?;
            if certs.is_empty() {
                return Err(ClientError::NoCa(ca.display().to_string()));
            }
            roots.extend(certs);
        }
        if config.use_system_roots {
            let path = std::env::var_os("SSL_CERT_FILE")
                .map(std::path::PathBuf::from)
                .into_iter()
                .chain(SYSTEM_BUNDLES.iter().map(std::path::PathBuf::from))
                .find(|p| p.is_file())
                .ok_or(ClientError::NoSystemRoots)?;
            let pem = read(&path)?;
            roots.extend(
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| ClientError::Tls {
                    what: path.display().to_string(),
                    source,
                })?,
            );
        }
        for c in roots {
            builder = builder.add_root_certificate(c);
        }
        if let (Some(cert), Some(key)) = (&config.client_cert_file, &config.client_key_file) {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            let id = reqwest::Identity::from_pem(&pem).map_err(|source| ClientError::Tls {
                what: format!("client certificate {}", cert.display()),
                source,
            })?;
            builder = builder.identity(id);
        }
        let client = builder.build().map_err(|source| ClientError::Tls {
            what: "HTTP client".into(),
            source,
        })?;
        Ok(Shipper { client, base })
    }

    /// The HTTP client a worker's requests go through (TLS as configured,
    /// HTTP/1.1). `evident-fleet-bench ingest` posts its runs through a new
    /// one per run, so it measures the agent's own transport.
    pub fn http(&self) -> &reqwest::Client {
        &self.client
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, SendError> {
        self.base.join(path).map_err(|e| SendError::Rejected {
            status: 0,
            message: format!("bad collector URL: {e}"),
        })
    }

    /// Enroll the agent's public key with a token.
    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, SendError> {
        let resp = self
            .client
            .post(self.url(ENROLL_PATH)?)
            .json(req)
            .send()
            .await
            .map_err(|e| SendError::Retry(describe(&e)))?;
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                SendError::Retry(format!("enrollment answer is not understood: {e}"))
            });
        }
        let message = error_message(&body);
        match status.as_u16() {
            400 | 401 | 403 | 404 | 422 => Err(SendError::Stopped(format!(
                "enrollment refused ({status}): {message}"
            ))),
            _ => Err(SendError::Retry(format!(
                "enrollment failed ({status}): {message}"
            ))),
        }
    }

    /// Deliver one spooled statement, leaving out blobs in `known`.
    pub async fn send(&self, item: &Item, known: &HashSet<Digest>) -> Result<Sent, SendError> {
        let gap = Envelope::from_json(&item.envelope)
            .ok()
            .and_then(|env| Parsed::from_bytes(&env.payload).ok())
            .and_then(|p| match p {
                Parsed::Full(s) => s.predicate.gap,
                Parsed::Unchanged(u) => u.gap,
            });
        let blobs: Vec<Digest> = item.blobs.keys().copied().collect();
        let mut bytes_sent = 0u64;
        let mut send_all = false;
        for _ in 0..2 {
            let req = IngestRequest::new(
                &item.envelope,
                item.blobs
                    .iter()
                    .filter(|(d, _)| send_all || !known.contains(*d))
                    .map(|(d, b)| (d, b.as_slice())),
            );
            let json = serde_json::to_vec(&req).unwrap_or_default();
            let mut post = self
                .client
                .post(self.url(EVIDENCE_PATH)?)
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            let body = match gzip(&json) {
                Some(compressed) => {
                    post = post.header(reqwest::header::CONTENT_ENCODING, "gzip");
                    compressed
                }
                None => json,
            };
            bytes_sent += body.len() as u64;
            let resp = post
                .body(body)
                .send()
                .await
                .map_err(|e| SendError::Retry(describe(&e)))?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .map_err(|e| SendError::Retry(describe(&e)))?;
            if status.is_success() {
                return Ok(Sent {
                    sequence: item.sequence,
                    gap,
                    response: serde_json::from_slice(&body).ok(),
                    blobs,
                    bytes_sent,
                });
            }
            let message = error_message(&body);
            match status.as_u16() {
                422 if !send_all => {
                    send_all = true;
                    continue;
                }
                403 => return Err(SendError::Stopped(message)),
                400 | 401 | 409 | 413 | 422 => {
                    return Err(SendError::Rejected {
                        status: status.as_u16(),
                        message,
                    })
                }
                _ => {
                    return Err(SendError::Retry(format!(
                        "collector answered {status}: {message}"
                    )))
                }
            }
        }
        Err(SendError::Retry(
            "collector still reports missing blobs".into(),
        ))
    }
}

fn error_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.error,
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// Exponential backoff with jitter: the n-th delay is drawn uniformly from
/// `[d/2, d]` where `d = min(initial · 2ⁿ, max)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff starting at `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The backoff `[delivery]` configures.
    pub fn from_config(delivery: &crate::config::DeliveryConfig) -> Backoff {
        Backoff::new(
            Duration::from_millis(delivery.backoff_initial_ms),
            Duration::from_secs(delivery.backoff_max_seconds),
        )
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(30)).unwrap_or(u32::MAX);
        let d = self.initial.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = d / 2;
        let spread = (d - half).as_millis() as u64;
        let extra = if spread == 0 {
            0
        } else {
            crate::schedule::random_u64() % (spread + 1)
        };
        half + Duration::from_millis(extra)
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// Gzip a request body as the agent sends it. The statement travels
/// base64-encoded inside the envelope and again inside the JSON body; gzip
/// takes most of that back. The default level (6): the bodies are small
/// (an unchanged run's JSON is ~2 KB), so it costs the host little, and it
/// keeps an unchanged run under 1 KB on the wire, where zlib-rs' fastest
/// level, a different algorithm (`deflate_quick`), left it ~20 % larger.
pub fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail; if it did, the body goes uncompressed.
    enc.write_all(data).and_then(|()| enc.finish()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let d0 = b.next_delay();
        assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
        let d1 = b.next_delay();
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(200));
        for _ in 0..40 {
            let d = b.next_delay();
            assert!(d >= Duration::from_secs(1) || b.attempts() < 6);
            assert!(d <= Duration::from_secs(2));
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn error_bodies_are_read() {
        assert_eq!(
            error_message(br#"{"error":"unknown key","missing_blobs":[]}"#),
            "unknown key"
        );
        assert_eq!(error_message(b"plain"), "plain");
    }
}
