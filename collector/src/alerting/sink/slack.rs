//! The `slack` sink: a Slack incoming webhook (`{"text": …}`).

use super::{post, Deliver};
use async_trait::async_trait;

/// POSTs a one-line text message per notification.
pub struct SlackSink {
    /// Client (timeout, trusted CA, no redirects).
    pub client: reqwest::Client,
    /// Incoming-webhook URL.
    pub url: String,
}

#[async_trait]
impl Deliver for SlackSink {
    async fn deliver(&self, _payload: &str, n: &serde_json::Value) -> Result<(), String> {
        post(
            self.client
                .post(&self.url)
                .header("content-type", "application/json")
                .body(slack_body(n)),
        )
        .await
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
}
