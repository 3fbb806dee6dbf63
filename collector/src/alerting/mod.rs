//! Drift alerting at run time: the clock, the stale-evidence loop and the
//! outbox dispatcher that delivers notifications to the configured sinks
//! (webhook with an HMAC-SHA256 signature, Slack, log). Detection itself
//! happens in the ingest transaction (`store::drift`); delivery never runs
//! on the ingest path, so a slow or failing sink cannot slow ingest.

pub mod config;

use crate::clock::{system_ms, Clock};
use crate::store::drift::{DriftSettings, OutboxRow};
use crate::store::Store;
use config::{DriftConfig, SinkConfig, SinkType};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// HMAC-SHA256 over `TIMESTAMP.BODY`, hex: the `X-Evident-Signature` value
/// (after `sha256=`) of a webhook delivery.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A sink ready to deliver.
pub struct Sink {
    /// Its configuration.
    pub config: SinkConfig,
    secret: Vec<u8>,
    client: Option<reqwest::Client>,
}

/// Why sinks could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("sink `{sink}`: {reason}")]
pub struct SinkError {
    sink: String,
    reason: String,
}

impl Sink {
    /// Read the secret and CA files (relative to `dir`) and build the client.
    pub fn new(dir: &Path, config: &SinkConfig) -> Result<Sink, SinkError> {
        let err = |reason: String| SinkError {
            sink: config.name.clone(),
            reason,
        };
        let secret = match &config.secret_file {
            Some(p) => {
                let p = crate::config::Config::path(dir, p);
                let s = std::fs::read_to_string(&p)
                    .map_err(|e| err(format!("{}: {e}", p.display())))?;
                let s = s.trim().as_bytes().to_vec();
                if s.len() < 16 {
                    return Err(err("the secret must be at least 16 bytes".into()));
                }
                s
            }
            None => Vec::new(),
        };
        let client = match config.kind {
            SinkType::Log => None,
            SinkType::Webhook | SinkType::Slack => {
                let mut b = reqwest::Client::builder()
                    .timeout(Duration::from_millis(config.timeout_ms))
                    .redirect(reqwest::redirect::Policy::none());
                if let Some(ca) = &config.ca_file {
                    let p = crate::config::Config::path(dir, ca);
                    let pem =
                        std::fs::read(&p).map_err(|e| err(format!("{}: {e}", p.display())))?;
                    let tls = crate::tls::client_config(&pem).map_err(|e| err(e.to_string()))?;
                    b = b.use_preconfigured_tls(tls);
                }
                Some(b.build().map_err(|e| err(e.to_string()))?)
            }
        };
        Ok(Sink {
            config: config.clone(),
            secret,
            client,
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

    /// Deliver one notification.
    pub async fn deliver(&self, payload: &str) -> Result<(), String> {
        let n: serde_json::Value = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        if !self.wants(&n) {
            return Ok(());
        }
        match self.config.kind {
            SinkType::Log => {
                tracing::warn!(sink = %self.config.name, alert = %payload, "alert");
                Ok(())
            }
            SinkType::Webhook => {
                let ts = (system_ms() / 1000).to_string();
                let sig = signature(&self.secret, &ts, payload.as_bytes());
                self.post(|c, url| {
                    c.post(url)
                        .header("content-type", "application/json")
                        .header("x-evident-timestamp", &ts)
                        .header("x-evident-signature", format!("sha256={sig}"))
                        .body(payload.to_string())
                })
                .await
            }
            SinkType::Slack => {
                let body = slack_body(&n);
                self.post(|c, url| {
                    c.post(url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                })
                .await
            }
        }
    }

    async fn post(
        &self,
        build: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<(), String> {
        let (Some(client), Some(url)) = (&self.client, &self.config.url) else {
            return Err("no client".into());
        };
        let resp = build(client, url).send().await.map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {}", resp.status().as_u16()))
        }
    }
}

/// The Slack incoming-webhook body (`{"text": …}`) for a notification.
pub fn slack_body(n: &serde_json::Value) -> String {
    let s = |k: &str| n.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let text = format!(
        "[{}] {} {} alert on {}: {} ({})",
        s("severity"),
        s("kind"),
        s("event"),
        s("hostname"),
        s("subject"),
        s("detail")
    );
    serde_json::json!({ "text": text }).to_string()
}

/// Everything the background loops need.
pub struct Alerting {
    /// Sinks by config order.
    pub sinks: Vec<Sink>,
    /// `[drift]`.
    pub drift: DriftConfig,
    /// What ingest hands the store.
    pub settings: Arc<DriftSettings>,
}

impl Alerting {
    /// Set up sinks from the config (reading secrets relative to `dir`).
    pub fn new(
        dir: &Path,
        drift: &DriftConfig,
        sinks: &[SinkConfig],
    ) -> Result<Alerting, SinkError> {
        let sinks = sinks
            .iter()
            .map(|s| Sink::new(dir, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Alerting {
            settings: Arc::new(DriftSettings {
                sinks: sinks.iter().map(|s| s.config.name.clone()).collect(),
                flap_window_ms: i64::try_from(drift.flap_window_seconds)
                    .unwrap_or(i64::MAX / 2000)
                    .saturating_mul(1000),
                flap_threshold: drift.flap_threshold,
            }),
            sinks,
            drift: drift.clone(),
        })
    }

    /// Start the stale loop and the dispatcher; they stop when `stop` turns true.
    pub fn spawn(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        clock: Clock,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let stale = {
            let (me, store, mut stop) = (self.clone(), store.clone(), stop.clone());
            tokio::spawn(async move {
                let every = Duration::from_millis(me.drift.stale_check_ms);
                loop {
                    match store
                        .open_stale(clock.now_ms(), me.drift.stale_factor, &me.settings.sinks)
                        .await
                    {
                        Ok(ids) if !ids.is_empty() => {
                            tracing::warn!(alerts = ?ids, "stale evidence: alerts opened");
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "stale check failed"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => break,
                    }
                }
            })
        };
        let dispatch = {
            let (me, mut stop) = (self, stop);
            tokio::spawn(async move {
                let idle = Duration::from_millis(me.drift.outbox_poll_ms);
                loop {
                    let worked = me.dispatch_once(&*store).await;
                    if worked {
                        if *stop.borrow() {
                            break;
                        }
                        continue;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(idle) => {}
                        _ = stop.changed() => break,
                    }
                }
            })
        };
        vec![stale, dispatch]
    }

    /// Claim due notifications and deliver them; whether any were claimed.
    pub async fn dispatch_once(&self, store: &dyn Store) -> bool {
        let lease = self
            .sinks
            .iter()
            .map(|s| s.config.timeout_ms)
            .max()
            .unwrap_or(5000)
            .saturating_mul(2)
            .saturating_add(5000);
        let rows = match store
            .claim_outbox(system_ms(), i64::try_from(lease).unwrap_or(60_000), 32)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "outbox claim failed");
                return false;
            }
        };
        if rows.is_empty() {
            return false;
        }
        // Each sink's rows go in order; sinks are served concurrently so a
        // slow one does not hold the others back.
        let mut per_sink: std::collections::BTreeMap<&str, Vec<&OutboxRow>> = Default::default();
        for r in &rows {
            per_sink.entry(r.sink.as_str()).or_default().push(r);
        }
        let jobs = per_sink.into_iter().map(|(name, rows)| async move {
            let sink = self.sinks.iter().find(|s| s.config.name == name);
            let mut failed = false;
            for r in rows {
                let result = match sink {
                    // A sink removed from the config: drop its rows.
                    None => Ok(()),
                    Some(_) if failed => Err("an earlier notification failed".to_string()),
                    Some(s) => s.deliver(&r.payload).await,
                };
                let done = match result {
                    Ok(()) => store.outbox_delivered(r.id, system_ms()).await,
                    Err(e) => {
                        failed = true;
                        let (initial, max) = sink
                            .map(|s| (s.config.retry_initial_ms, s.config.retry_max_ms))
                            .unwrap_or((1000, 300_000));
                        let wait = evident_core::drift::backoff_ms(
                            u32::try_from(r.attempts).unwrap_or(u32::MAX),
                            initial,
                            max,
                        );
                        tracing::warn!(sink = name, alert = r.alert_id, attempt = r.attempts, retry_in_ms = wait, error = %e, "alert delivery failed");
                        store
                            .outbox_retry(
                                r.id,
                                system_ms().saturating_add(i64::try_from(wait).unwrap_or(i64::MAX / 2)),
                                &e,
                            )
                            .await
                    }
                };
                if let Err(e) = done {
                    tracing::warn!(error = %e, "outbox update failed");
                }
            }
        });
        let mut set = Vec::new();
        for j in jobs {
            set.push(j);
        }
        join_all(set).await;
        true
    }
}

async fn join_all<F: std::future::Future<Output = ()>>(futs: Vec<F>) {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    std::future::poll_fn(move |cx| {
        pinned.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if pinned.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_body_is_an_incoming_webhook_text_message() {
        let n = serde_json::json!({
            "severity": "high", "kind": "drift", "event": "opened", "hostname": "web-1",
            "subject": "rule:ssh.root-login", "detail": "pass -> fail"
        });
        let body: serde_json::Value = serde_json::from_str(&slack_body(&n)).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1);
        assert_eq!(
            body["text"],
            "[high] drift opened alert on web-1: rule:ssh.root-login (pass -> fail)"
        );
        // Missing fields never panic.
        assert!(slack_body(&serde_json::json!(null)).contains("alert on"));
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 style check through the public helper: recompute by hand.
        let sig = signature(b"0123456789abcdef", "1700000000", b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sig.len(), 64);
    }

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
