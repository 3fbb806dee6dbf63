//! The console's background work in `serve`, on the collector's clock:
//! expired sessions deleted in bounded batches every [`SWEEP`] (and at each
//! sign-in), the fleet trend recorded every [`trend::EVERY`], and once at
//! start the trend backfilled from the stored history (`backfill.rs`).

use super::{backfill, trend};
use crate::clock::Clock;
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// How often expired sessions are deleted.
pub const SWEEP: Duration = Duration::from_secs(60);
/// Sessions deleted per statement.
pub const SESSION_BATCH: i64 = 500;

/// Delete every session expired at `now`, [`SESSION_BATCH`] at a time;
/// how many.
pub async fn expire_sessions(store: &dyn Store, now: i64) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let n = store.expire_sessions(now, SESSION_BATCH).await?;
        total += n;
        if n < SESSION_BATCH.unsigned_abs() {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// The background loop (stops with `stop`).
pub fn spawn(
    store: Arc<dyn Store>,
    clock: Clock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // A clock read from a file (test builds) can jump at any moment.
    let sweep = if clock.is_fake() {
        Duration::from_secs(1)
    } else {
        SWEEP
    };
    tokio::spawn(async move {
        if let Err(e) = trend::snapshot(store.as_ref(), &clock).await {
            tracing::warn!(error = %e, "recording the fleet trend failed");
        }
        let started = std::time::Instant::now();
        match backfill::run(store.as_ref(), clock.now_ms()).await {
            Ok(0) => {}
            Ok(days) => tracing::info!(
                days,
                millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "fleet trend backfilled from the stored history"
            ),
            Err(e) => tracing::warn!(error = %e, "backfilling the fleet trend failed"),
        }
        let mut last_trend = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(sweep) => {}
                _ = stop.changed() => return,
            }
            match expire_sessions(store.as_ref(), clock.now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(sessions = n, "expired console sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "deleting expired console sessions failed"),
            }
            if last_trend.elapsed() >= trend::EVERY {
                last_trend = tokio::time::Instant::now();
                if let Err(e) = trend::snapshot(store.as_ref(), &clock).await {
                    tracing::warn!(error = %e, "recording the fleet trend failed");
                }
            }
        }
    })
}
