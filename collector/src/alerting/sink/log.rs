//! The `log` sink: one `tracing` warning per notification.

use super::config::SinkCommon;
use super::{Deliver, Delivery, DeliveryError, SinkKindConfig};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `type = "log"`: no keys of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {}

impl SinkKindConfig for LogConfig {
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    fn build(&self, _dir: &Path, common: &SinkCommon) -> Result<Box<dyn Deliver>, String> {
        Ok(Box::new(LogSink {
            name: common.name.clone(),
        }))
    }
}

/// Writes notifications to the service log.
pub struct LogSink {
    /// The sink's name, in the log line.
    pub name: String,
}

#[async_trait]
impl Deliver for LogSink {
    async fn deliver(&self, d: &Delivery<'_>) -> Result<(), DeliveryError> {
        tracing::warn!(sink = %self.name, delivery = d.id, alert = %d.text, "alert");
        Ok(())
    }
}
