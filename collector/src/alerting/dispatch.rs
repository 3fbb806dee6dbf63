//! The outbox dispatcher: claims due notifications (leases, `SKIP LOCKED`
//! on PostgreSQL), delivers each sink's rows in order and sinks
//! concurrently, and schedules retries with exponential backoff. Leases and
//! retries use the system clock.

use super::Alerting;
use crate::clock::system_ms;
use crate::store::drift::OutboxRow;
use crate::store::Store;

impl Alerting {
    /// Claim due notifications and deliver them; whether any were claimed.
    pub async fn dispatch_once(&self, store: &dyn Store) -> bool {
        let lease = self
            .sinks
            .iter()
            .map(|s| s.config.common.timeout_ms)
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
            let sink = self.sinks.iter().find(|s| s.config.common.name == name);
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
                            .map(|s| (s.config.common.retry_initial_ms, s.config.common.retry_max_ms))
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
