//! The `webhook` sink: POST of the notification JSON, signed with
//! HMAC-SHA256 in Evident's scheme and the Standard Webhooks scheme (see
//! [`signing`](crate::alerting::signing)).

use super::config::SinkCommon;
use super::{
    check_url, http_client, post, read_secret, Deliver, Delivery, DeliveryError, SinkKindConfig,
};
use crate::alerting::signing::{signature, standard_key, standard_signature};
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
    /// File holding the HMAC secret (at least 16 bytes; `whsec_` and base64
    /// for a Standard Webhooks key).
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
        let secret = read_secret(dir, &self.secret_file)?;
        Ok(Box::new(WebhookSink {
            client: http_client(dir, common, self.ca_file.as_deref())?,
            url: self.url.clone(),
            standard_key: standard_key(&secret)?,
            secret,
        }))
    }
}

/// POSTs notifications to a URL, signed in both schemes.
pub struct WebhookSink {
    /// Client (timeout, trusted CA, no redirects).
    pub client: reqwest::Client,
    /// Target URL.
    pub url: String,
    /// HMAC secret (at least 16 bytes).
    pub secret: Vec<u8>,
    /// The Standard Webhooks key derived from it.
    pub standard_key: Vec<u8>,
}

#[async_trait]
impl Deliver for WebhookSink {
    async fn deliver(&self, d: &Delivery<'_>) -> Result<(), DeliveryError> {
        let ts = (system_ms() / 1000).to_string();
        let body = d.text.as_bytes();
        post(
            self.client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("x-evident-timestamp", &ts)
                .header(
                    "x-evident-signature",
                    format!("sha256={}", signature(&self.secret, &ts, body)),
                )
                .header("webhook-id", d.id)
                .header("webhook-timestamp", &ts)
                .header(
                    "webhook-signature",
                    standard_signature(&self.standard_key, d.id, &ts, body),
                )
                .body(d.text.to_string()),
        )
        .await
    }
}
