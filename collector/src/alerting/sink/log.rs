//! The `log` sink: one `tracing` warning per notification.

use super::Deliver;
use async_trait::async_trait;

/// Writes notifications to the service log.
pub struct LogSink {
    /// The sink's name, in the log line.
    pub name: String,
}

#[async_trait]
impl Deliver for LogSink {
    async fn deliver(&self, payload: &str, _n: &serde_json::Value) -> Result<(), String> {
        tracing::warn!(sink = %self.name, alert = %payload, "alert");
        Ok(())
    }
}
