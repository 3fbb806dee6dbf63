//! Alert sinks: one file per kind. Each file holds its config struct
//! (the kind's own `[[sink]]` keys, `deny_unknown_fields`) implementing
//! [`SinkKindConfig`] (checks and building) and its deliverer implementing
//! [`Deliver`]. Adding a sink: its file here (`pub mod`) and one line in
//! the `sink_kinds!` list below, which makes both the `type = "…"` variant
//! of [`SinkKind`] and its dispatch; nothing else matches on the kind.

pub mod log;
pub mod slack;
pub mod webhook;

pub mod config;

use async_trait::async_trait;
pub use config::{SinkCommon, SinkConfig};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// One notification to deliver (rendered by `alerting::payload`).
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The delivery id, the same on every retry (`webhook-id`).
    pub id: &'a str,
    /// The body as JSON.
    pub body: &'a serde_json::Value,
    /// The body serialised: the exact bytes a webhook signs and sends.
    pub text: &'a str,
}

/// Why a delivery did not succeed, and whether to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth retrying (network error, timeout, 5xx, 408, 429); `after_ms`
    /// is the receiver's `Retry-After`, when it sent one.
    Retry {
        /// What happened.
        reason: String,
        /// `Retry-After`, in ms.
        after_ms: Option<u64>,
    },
    /// Final: the receiver refused it (a 4xx other than 408 and 429), or
    /// it cannot be sent at all.
    Final(String),
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryError::Retry { reason, .. } => f.write_str(reason),
            DeliveryError::Final(reason) => write!(f, "{reason} (final, not retried)"),
        }
    }
}

/// Delivers one notification somewhere.
#[async_trait]
pub trait Deliver: Send + Sync {
    /// Deliver one notification.
    async fn deliver(&self, d: &Delivery<'_>) -> Result<(), DeliveryError>;
}

/// A sink kind's own configuration: checked before the server starts,
/// then built into a deliverer.
pub trait SinkKindConfig {
    /// Checks beyond parsing (URL schemes, …).
    fn validate(&self) -> Result<(), String>;
    /// The deliverer (reading secret and CA files relative to `dir`).
    fn build(&self, dir: &Path, common: &SinkCommon) -> Result<Box<dyn Deliver>, String>;
}

/// Declares [`SinkKind`] (tagged by `type`, lowercase variant names) and
/// its one dispatch to [`SinkKindConfig`].
macro_rules! sink_kinds {
    ($($(#[$doc:meta])* $variant:ident($config:ty),)*) => {
        /// The kind of a sink with its own settings (`type = "…"`).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "lowercase")]
        pub enum SinkKind {
            $($(#[$doc])* $variant($config),)*
        }

        impl SinkKind {
            /// The kind's configuration behind its trait.
            pub fn config(&self) -> &dyn SinkKindConfig {
                match self {
                    $(SinkKind::$variant(c) => c,)*
                }
            }
        }
    };
}

sink_kinds! {
    /// `type = "webhook"`: POST of the alert as JSON, signed with HMAC-SHA256.
    Webhook(webhook::WebhookConfig),
    /// `type = "slack"`: Slack incoming webhook (`{"text": …}`).
    Slack(slack::SlackConfig),
    /// `type = "log"`: a tracing log line.
    Log(log::LogConfig),
}

/// A configured sink ready to deliver.
pub struct Sink {
    /// Its configuration.
    pub config: SinkConfig,
    kind: Box<dyn Deliver>,
}

/// Why sinks could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("sink `{sink}`: {reason}")]
pub struct SinkError {
    sink: String,
    reason: String,
}

impl Sink {
    /// Build the sink `config` describes (reading its secret and CA files
    /// relative to `dir`).
    pub fn new(dir: &Path, config: &SinkConfig) -> Result<Sink, SinkError> {
        let kind = config
            .kind
            .config()
            .build(dir, &config.common)
            .map_err(|reason| SinkError {
                sink: config.common.name.clone(),
                reason,
            })?;
        Ok(Sink {
            config: config.clone(),
            kind,
        })
    }

    /// Whether the notification passes the sink's filter.
    pub fn wants(&self, n: &serde_json::Value) -> bool {
        let f = &self.config.common;
        let s = |k: &str| n.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        let subject = s("subject");
        let in_list = |prefix: &str, list: &[String]| {
            subject
                .strip_prefix(prefix)
                .is_some_and(|c| list.iter().any(|x| x == c))
        };
        let subject_ok = (f.controls.is_empty() && f.rules.is_empty())
            || in_list("control:", &f.controls)
            || in_list("rule:", &f.rules);
        any(&f.severities, s("severity"))
            && any(&f.kinds, s("kind"))
            && subject_ok
            && (f.hosts.is_empty()
                || f.hosts
                    .iter()
                    .any(|h| h == s("hostname") || h == s("agent_id")))
    }

    /// Deliver one notification (nothing when the filter refuses it).
    pub async fn deliver(&self, d: &Delivery<'_>) -> Result<(), DeliveryError> {
        if !self.wants(d.body) {
            return Ok(());
        }
        self.kind.deliver(d).await
    }
}

/// The HMAC secret the file `p` holds (at least 16 bytes).
pub(crate) fn read_secret(dir: &Path, p: &Path) -> Result<Vec<u8>, String> {
    let p = crate::config::Config::path(dir, p);
    let s = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    let s = s.trim().as_bytes().to_vec();
    if s.len() < 16 {
        return Err("the secret must be at least 16 bytes".into());
    }
    Ok(s)
}

/// An HTTP client for a sink: its timeout, no redirects, and only the
/// `ca_file` CAs when one is configured.
pub(crate) fn http_client(
    dir: &Path,
    common: &SinkCommon,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_millis(common.timeout_ms))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = ca_file {
        let p = crate::config::Config::path(dir, ca);
        let pem = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let tls = crate::tls::client_config(&pem).map_err(|e| e.to_string())?;
        b = b.use_preconfigured_tls(tls);
    }
    b.build().map_err(|e| e.to_string())
}

/// Checks an http:// or https:// URL.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err("url must be http:// or https://".into())
    }
}

/// Send a request; Ok on a 2xx answer. A 4xx is final except 408 and 429;
/// network errors, timeouts and 5xx are retried, after the answer's
/// `Retry-After` when it has one.
pub(crate) async fn post(req: reqwest::RequestBuilder) -> Result<(), DeliveryError> {
    let resp = req.send().await.map_err(|e| DeliveryError::Retry {
        reason: evident_core::error_chain(&e),
        after_ms: None,
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let reason = format!("HTTP {}", status.as_u16());
    if status.is_client_error() && !matches!(status.as_u16(), 408 | 429) {
        return Err(DeliveryError::Final(reason));
    }
    let after_ms = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| retry_after_ms(v, chrono::Utc::now()));
    Err(DeliveryError::Retry { reason, after_ms })
}

/// `Retry-After`: delay seconds or an HTTP date, as ms from `now`.
pub(crate) fn retry_after_ms(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<u64> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = at.timestamp_millis().saturating_sub(now.timestamp_millis());
    Some(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_severity_kind_control_and_host() {
        let cfg: SinkConfig = toml::from_str(
            "name='a'\ntype='log'\nseverities=['high']\nkinds=['drift']\ncontrols=['A.8.5']\nhosts=['web-1']",
        )
        .unwrap();
        let sink = Sink::new(Path::new("."), &cfg).unwrap();
        assert_eq!(sink.config.common.max_attempts, 12);
        let n = serde_json::json!({"severity":"high","kind":"drift","subject":"control:A.8.5","hostname":"web-1","agent_id":"x"});
        assert!(sink.wants(&n));
        let mut m = n.clone();
        m["severity"] = "low".into();
        assert!(!sink.wants(&m));
        let mut m = n.clone();
        m["subject"] = "rule:ssh".into();
        assert!(!sink.wants(&m));
        let mut m = n;
        m["hostname"] = "db-1".into();
        assert!(!sink.wants(&m));
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(retry_after_ms("120", now), Some(120_000));
        assert_eq!(
            retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(60_000)
        );
        // A date in the past: now.
        assert_eq!(
            retry_after_ms("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(0)
        );
        assert_eq!(retry_after_ms("soon", now), None);
    }
}
