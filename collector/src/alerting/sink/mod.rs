//! Alert sinks: one file per kind, each implementing [`Deliver`]; a
//! [`Sink`] wraps one with its name, filter and retry settings. Adding a
//! sink: its file here, one [`SinkType`] variant, and one arm in
//! [`Sink::new`] (and its checks in `config::validate`).

pub mod log;
pub mod slack;
pub mod webhook;

use super::config::{SinkConfig, SinkType};
use async_trait::async_trait;
use std::path::Path;
use std::time::Duration;

/// Delivers one notification somewhere.
#[async_trait]
pub trait Deliver: Send + Sync {
    /// Deliver `payload` (the notification JSON; `n` is it parsed).
    async fn deliver(&self, payload: &str, n: &serde_json::Value) -> Result<(), String>;
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
        let err = |reason: String| SinkError {
            sink: config.name.clone(),
            reason,
        };
        let url = || config.url.clone().unwrap_or_default();
        let kind: Box<dyn Deliver> = match config.kind {
            SinkType::Log => Box::new(log::LogSink {
                name: config.name.clone(),
            }),
            SinkType::Slack => Box::new(slack::SlackSink {
                client: http_client(dir, config).map_err(err)?,
                url: url(),
            }),
            SinkType::Webhook => Box::new(webhook::WebhookSink {
                client: http_client(dir, config).map_err(err)?,
                url: url(),
                secret: read_secret(dir, config).map_err(err)?,
            }),
        };
        Ok(Sink {
            config: config.clone(),
            kind,
        })
    }

    /// Whether the notification passes the sink's filter.
    pub fn wants(&self, n: &serde_json::Value) -> bool {
        let f = &self.config;
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
    pub async fn deliver(&self, payload: &str) -> Result<(), String> {
        let n: serde_json::Value = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        if !self.wants(&n) {
            return Ok(());
        }
        self.kind.deliver(payload, &n).await
    }
}

/// The HMAC secret a sink's `secret_file` holds (at least 16 bytes).
fn read_secret(dir: &Path, config: &SinkConfig) -> Result<Vec<u8>, String> {
    let Some(p) = &config.secret_file else {
        return Err("secret_file is required".into());
    };
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
fn http_client(dir: &Path, config: &SinkConfig) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.timeout_ms))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = &config.ca_file {
        let p = crate::config::Config::path(dir, ca);
        let pem = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let tls = crate::tls::client_config(&pem).map_err(|e| e.to_string())?;
        b = b.use_preconfigured_tls(tls);
    }
    b.build().map_err(|e| e.to_string())
}

/// Send a request; Ok on a 2xx answer.
pub(crate) async fn post(req: reqwest::RequestBuilder) -> Result<(), String> {
    let resp = req.send().await.map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
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
}
