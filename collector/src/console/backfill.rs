//! The trend backfill: `serve` fills `fleet_trend` for the days of the
//! trend window ([`DAYS`] before today) that have no trend yet — the days
//! before the console first ran, and days `serve` was down — from the stored
//! history: for each such day, every active host's results as of the end of
//! that day (its last statement collected by then, found through
//! `statement_days`), rolled up per control and status exactly as
//! `fleet_status` counts the latest results. Bounded: at most [`DAYS`] days,
//! hosts read a page at a time, parsed control statuses kept in a small LRU.
//! Resumable: each day is written in its own transaction and a day that has
//! a trend is never recomputed, so a restart continues where it stopped.
//! Newest day first; it stops at the first day no host had evidence by.

use crate::store::{Store, StoreError};
use evident_core::Digest;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Days before today the backfill covers (the trend charts show 90).
pub const DAYS: i64 = 90;
/// Hosts read per query.
const PAGE: i64 = 500;
/// Parsed control statuses kept (most recently used).
const CACHE: usize = 2048;
const DAY_MS: i64 = 86_400_000;

/// Only the control roll-up of stored results (the rules are skipped).
#[derive(Deserialize)]
struct Controls {
    controls: Vec<Control>,
}

#[derive(Deserialize)]
struct Control {
    id: String,
    status: String,
}

type Statuses = Arc<Vec<(String, String)>>;

async fn statuses(
    store: &dyn Store,
    cache: &mut lru::LruCache<Digest, Statuses>,
    digest: &Digest,
) -> Result<Option<Statuses>, StoreError> {
    if let Some(s) = cache.get(digest) {
        return Ok(Some(s.clone()));
    }
    let Some(bytes) = store.results(digest).await? else {
        return Ok(None);
    };
    let Ok(parsed) = serde_json::from_slice::<Controls>(&bytes) else {
        tracing::warn!(%digest, "stored results unreadable: left out of the trend backfill");
        return Ok(None);
    };
    let s: Statuses = Arc::new(
        parsed
            .controls
            .into_iter()
            .map(|c| (format!("control:{}", c.id), c.status))
            .collect(),
    );
    cache.put(*digest, s.clone());
    Ok(Some(s))
}

/// The trend of UTC day number `day` from the history: (control subject,
/// status, hosts); None when no active host had evidence by its end.
pub async fn day_from_history(
    store: &dyn Store,
    cache: &mut lru::LruCache<Digest, Statuses>,
    day: i64,
) -> Result<Option<Vec<(String, String, i64)>>, StoreError> {
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut any = false;
    let mut after = String::new();
    loop {
        let page = store.results_as_of_day(day, &after, PAGE).await?;
        for (_, results) in &page {
            let Some(d) = results else { continue };
            any = true;
            if let Some(st) = statuses(store, cache, d).await? {
                for (subject, status) in st.iter() {
                    *counts.entry((subject.clone(), status.clone())).or_default() += 1;
                }
            }
        }
        match page.last() {
            Some((id, _)) if page.len() as i64 == PAGE => after = id.clone(),
            _ => break,
        }
    }
    Ok(any.then(|| {
        counts
            .into_iter()
            .map(|((subject, status), n)| (subject, status, n))
            .collect()
    }))
}

/// Fill the days of the window before `now`'s day that have no trend;
/// how many days were written.
pub async fn run(store: &dyn Store, now_ms: i64) -> Result<usize, StoreError> {
    let today = now_ms.div_euclid(DAY_MS);
    let first = today - DAYS;
    let have: BTreeSet<String> = store
        .trend_days(&super::trend::day(first * DAY_MS))
        .await?
        .into_iter()
        .collect();
    let mut cache = lru::LruCache::new(NonZeroUsize::new(CACHE).unwrap_or(NonZeroUsize::MIN));
    let mut written = 0;
    for day in (first..today).rev() {
        let name = super::trend::day(day * DAY_MS);
        if have.contains(&name) {
            continue;
        }
        let Some(rows) = day_from_history(store, &mut cache, day).await? else {
            break;
        };
        if store.backfill_trend_day(&name, &rows).await? {
            written += 1;
        }
    }
    Ok(written)
}
