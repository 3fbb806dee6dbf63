//! The `webhook` sink: POST of the notification JSON, signed with
//! HMAC-SHA256 (see [`signing`](crate::alerting::signing)).

use super::{post, Deliver};
use crate::alerting::signing::signature;
use crate::clock::system_ms;
use async_trait::async_trait;

/// POSTs notifications to a URL with a signature header.
pub struct WebhookSink {
    /// Client (timeout, trusted CA, no redirects).
    pub client: reqwest::Client,
    /// Target URL.
    pub url: String,
    /// HMAC secret (at least 16 bytes).
    pub secret: Vec<u8>,
}

#[async_trait]
impl Deliver for WebhookSink {
    async fn deliver(&self, payload: &str, _n: &serde_json::Value) -> Result<(), String> {
        let ts = (system_ms() / 1000).to_string();
        let sig = signature(&self.secret, &ts, payload.as_bytes());
        post(
            self.client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("x-evident-timestamp", &ts)
                .header("x-evident-signature", format!("sha256={sig}"))
                .body(payload.to_string()),
        )
        .await
    }
}
