//! Drift alerting at run time. Detection happens in the ingest transaction
//! (`evident_core::drift` decides, `store::drift` executes); here: the
//! sinks (`sink/`, one file per kind behind [`sink::Deliver`]), the body
//! they deliver (`payload.rs`), webhook signing (`signing.rs`), the outbox
//! dispatcher with its bounded retries (`dispatch.rs`) and the
//! stale-evidence loop (`stale.rs`). Delivery never runs on the ingest
//! path, so a slow or failing sink cannot slow ingest. The clock is
//! `crate::clock`.

pub mod config;
mod dispatch;
pub mod payload;
pub mod signing;
pub mod sink;
mod stale;

use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::drift::DriftSettings;
use crate::store::Store;
use config::{DriftConfig, SinkConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub use signing::signature;
pub use sink::slack::slack_body;
pub use sink::{Sink, SinkError};

/// Everything the background loops need.
pub struct Alerting {
    /// Sinks by config order.
    pub sinks: Vec<Sink>,
    /// `[drift]`.
    pub drift: DriftConfig,
    /// What ingest hands the store.
    pub settings: Arc<DriftSettings>,
    /// Delivery counters (`evident_alert_deliveries_total`).
    pub metrics: Arc<Metrics>,
    /// The collector's public base URL, for links in notifications.
    pub public_url: Option<String>,
}

impl Alerting {
    /// Set up sinks from the config (reading secrets relative to `dir`);
    /// their delivery series are registered in `metrics` at 0.
    pub fn new(
        dir: &Path,
        drift: &DriftConfig,
        sinks: &[SinkConfig],
        metrics: Arc<Metrics>,
        public_url: Option<String>,
    ) -> Result<Alerting, SinkError> {
        let sinks = sinks
            .iter()
            .map(|s| Sink::new(dir, s))
            .collect::<Result<Vec<_>, _>>()?;
        metrics.register_sinks(sinks.iter().map(|s| s.config.common.name.as_str()));
        Ok(Alerting {
            settings: Arc::new(DriftSettings {
                sinks: sinks.iter().map(|s| s.config.common.name.clone()).collect(),
                flap_window_ms: i64::try_from(drift.flap_window_seconds)
                    .unwrap_or(i64::MAX / 2000)
                    .saturating_mul(1000),
                flap_threshold: drift.flap_threshold,
            }),
            sinks,
            drift: drift.clone(),
            metrics,
            public_url,
        })
    }

    /// Start the stale loop and the dispatcher; they stop when `stop` turns true.
    pub fn spawn(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        clock: Clock,
        stop: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let stale = tokio::spawn(stale::run(
            self.clone(),
            store.clone(),
            clock.clone(),
            stop.clone(),
        ));
        let dispatch = {
            let (me, mut stop) = (self, stop);
            tokio::spawn(async move {
                let idle = Duration::from_millis(me.drift.outbox_poll_ms);
                loop {
                    let worked = me.dispatch_once(&*store, &clock).await;
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
}
