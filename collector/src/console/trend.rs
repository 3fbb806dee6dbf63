//! The fleet trend: `serve` copies the fleet's control counts
//! (`fleet_status`) into `fleet_trend` under today's UTC date at start and
//! every [`EVERY`] (`housekeeping.rs`), so a day's point is its last
//! snapshot; days before that are backfilled from history (`backfill.rs`). The console's
//! trend charts read those rows (one per day, control and status), never
//! statement history.

use crate::clock::Clock;
use crate::store::Store;
use std::time::Duration;

/// How often the snapshot is refreshed.
pub const EVERY: Duration = Duration::from_secs(300);

/// The UTC day of Unix ms, `YYYY-MM-DD`.
pub fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

/// Take one snapshot now.
pub async fn snapshot(store: &dyn Store, clock: &Clock) -> Result<(), crate::store::StoreError> {
    store.snapshot_trend(&day(clock.now_ms())).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_utc_dates() {
        assert_eq!(super::day(0), "1970-01-01");
        assert_eq!(super::day(1_795_000_000_000), "2026-11-18");
    }
}
