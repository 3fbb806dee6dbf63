//! The stale-evidence loop: every `drift.stale_check_ms`, open a `stale`
//! alert for each active host silent longer than its schedule interval
//! times `drift.stale_factor` (decided by `evident_core::drift::is_stale`).

use super::Alerting;
use crate::clock::Clock;
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Run until `stop` turns true.
pub(super) async fn run(
    me: Arc<Alerting>,
    store: Arc<dyn Store>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) {
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
}
