//! The `slack` sink: a Slack incoming webhook (`{"text": …}`).

use super::config::SinkCommon;
use super::{check_url, http_client, post, Deliver, Delivery, DeliveryError, SinkKindConfig};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `type = "slack"`: its own keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Incoming-webhook URL (http:// or https://).
    pub url: String,
    /// PEM file of CA certificates trusted for an https URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl SinkKindConfig for SlackConfig {
    fn validate(&self) -> Result<(), String> {
        check_url(&self.url)
    }

    fn build(&self, dir: &Path, common: &SinkCommon) -> Result<Box<dyn Deliver>, String> {
        Ok(Box::new(SlackSink {
            client: http_client(dir, common, self.ca_file.as_deref())?,
            url: self.url.clone(),
        }))
    }
}

/// POSTs a one-line text message per notification.
pub struct SlackSink {
    /// Client (timeout, trusted CA, no redirects).
    pub client: reqwest::Client,
    /// Incoming-webhook URL.
    pub url: String,
}

#[async_trait]
impl Deliver for SlackSink {
    async fn deliver(&self, d: &Delivery<'_>) -> Result<(), DeliveryError> {
        post(
            self.client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(slack_body(d.body)),
        )
        .await
    }
}

/// The Slack incoming-webhook body (`{"text": …}`) for a notification.
pub fn slack_body(n: &serde_json::Value) -> String {
    let s = |k: &str| n.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let mut text = format!(
        "[{}] {} {} alert on {}: {} ({})",
        s("severity"),
        s("kind"),
        s("event"),
        s("hostname"),
        s("subject"),
        s("detail")
    );
    let url = s("url");
    if !url.is_empty() {
        text.push(' ');
        text.push_str(url);
    }
    serde_json::json!({ "text": text }).to_string()
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
        let mut linked = n.clone();
        linked["url"] = "https://c.example/alerts/4".into();
        let body: serde_json::Value = serde_json::from_str(&slack_body(&linked)).unwrap();
        assert!(body["text"]
            .as_str()
            .unwrap()
            .ends_with(") https://c.example/alerts/4"));
        // Missing fields never panic.
        assert!(slack_body(&serde_json::json!(null)).contains("alert on"));
    }
}
