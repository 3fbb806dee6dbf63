//! The `webhook` sink: POST of the notification JSON, signed with
//! HMAC-SHA256 (see [`signing`](crate::alerting::signing)).

use super::config::SinkCommon;
use super::{check_url, http_client, post, read_secret, Deliver, SinkKindConfig};
use crate::alerting::signing::signature;
use crate::clock::system_ms;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `type = "webhook"`: its own keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Target URL (http:// or https://).
    pub url: String,
    /// File holding the HMAC secret (at least 16 bytes).
    pub secret_file: PathBuf,
    /// PEM file of CA certificates trusted for an https URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl SinkKindConfig for WebhookConfig {
    fn validate(&self) -> Result<(), String> {
        check_url(&self.url)
    }

    fn build(&self, dir: &Path, common: &SinkCommon) -> Result<Box<dyn Deliver>, String> {
        Ok(Box::new(WebhookSink {
            client: http_client(dir, common, self.ca_file.as_deref())?,
            url: self.url.clone(),
            secret: read_secret(dir, &self.secret_file)?,
        }))
    }
}

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
