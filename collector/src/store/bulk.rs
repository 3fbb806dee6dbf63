//! Bulk appends (issue 10): [`BulkStore::append_batch`] stores a batch with
//! exactly the rows and outcomes of [`EvidenceStore::ingest_batch`]
//! (super::EvidenceStore::ingest_batch), but writes the common case — a run
//! that is only the next link of its agent's chain and whose results equal
//! the agent's recorded drift results — with multi-row inserts and one
//! `agents` update per agent and batch, instead of five statements per run.
//!
//! Every other run (a host's first, a changed result, a gap, a duplicate or
//! conflicting sequence, an open stale alert, an agent that is not active)
//! goes through the writer's own `ingest_one`, so drift, transitions,
//! alerts, fleet and host status are decided by the one ingest path. What
//! the plain path skips is exactly what `ingest_one` would have found
//! nothing to do for: no integrity event (sequence = last + 1, previous =
//! the stored head), no drift change (same results digest and interval, no
//! stale alert to resolve). Used by `evident-fleet-bench populate`.

use super::{IngestItem, IngestOutcome, StoreError};
use async_trait::async_trait;

/// Bulk writes of signed runs (both backends).
#[async_trait]
pub trait BulkStore {
    /// Store `items` in one transaction: the same rows and outcomes as
    /// `ingest_batch`, faster when most runs change nothing.
    async fn append_batch(&self, items: &[IngestItem]) -> Result<Vec<IngestOutcome>, StoreError>;
}

/// The state of one agent's chain that decides whether a run is plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The agent may store statements.
    pub active: bool,
    /// Highest stored sequence and its envelope digest.
    pub last: Option<(i64, Vec<u8>)>,
    /// Results digest and interval recorded by drift detection.
    pub drift: Option<(Vec<u8>, i64)>,
    /// Open stale alerts (a new run resolves them).
    pub open_stale: i64,
}

impl Head {
    /// Would `ingest_one` store `item` with nothing but its row and the
    /// agent's head moving?
    pub fn plain(&self, item: &IngestItem) -> bool {
        let chained = match (&self.last, &item.previous) {
            (Some((seq, digest)), Some(prev)) => {
                item.sequence == seq.saturating_add(1) && digest.as_slice() == prev.0.as_slice()
            }
            _ => false,
        };
        let drift_quiet = match &item.drift {
            None => true,
            Some(d) => {
                let interval = i64::try_from(d.interval_seconds).unwrap_or(i64::MAX);
                self.open_stale == 0
                    && self.drift.as_ref().is_some_and(|(results, iv)| {
                        results.as_slice() == item.results_digest.0.as_slice() && *iv == interval
                    })
            }
        };
        self.active && item.declared_gap.is_none() && chained && drift_quiet
    }

    /// The head after `item` was stored on the plain path.
    pub fn advance(&mut self, item: &IngestItem) {
        self.last = Some((item.sequence, item.envelope_digest.0.to_vec()));
    }
}

macro_rules! impl_bulk_store {
    ($ty:ty, $db:ty, begin = $begin:expr, lock = $lock:literal) => {
        mod bulk_impl {
            use super::*;
            use $crate::store::bulk::{BulkStore, Head};
            use $crate::store::{IngestItem, IngestOutcome, StoreError};

            async fn head(
                tx: &mut sqlx::Transaction<'static, $db>,
                agent: &str,
            ) -> Result<Option<Head>, StoreError> {
                let row = sqlx::query(concat!(
                    "SELECT a.status, a.last_sequence, a.last_digest, d.results, d.interval_seconds, \
                     (SELECT COUNT(*) FROM alerts l WHERE l.agent_id = a.id AND l.kind = 'stale' \
                      AND l.state <> 'resolved') \
                     FROM agents a LEFT JOIN drift_state d ON d.agent_id = a.id WHERE a.id = $1",
                    $lock
                ))
                .bind(agent)
                .fetch_optional(&mut **tx)
                .await?;
                let Some(r) = row else { return Ok(None) };
                let status: String = r.try_get(0)?;
                let last_seq: Option<i64> = r.try_get(1)?;
                let last_digest: Option<Vec<u8>> = r.try_get(2)?;
                let results: Option<Vec<u8>> = r.try_get(3)?;
                let interval: Option<i64> = r.try_get(4)?;
                Ok(Some(Head {
                    active: status == "active",
                    last: last_seq.zip(last_digest),
                    drift: results.zip(interval),
                    open_stale: r.try_get(5)?,
                }))
            }

            /// Write plain runs of one agent (in sequence order).
            async fn flush(
                tx: &mut sqlx::Transaction<'static, $db>,
                items: &[&IngestItem],
            ) -> Result<(), StoreError> {
                let Some(last) = items.last() else { return Ok(()) };
                // In sequence order: a run's blob may be stored as a delta
                // against an earlier run's (as the writer's path does).
                let mut seen = std::collections::HashSet::new();
                let blobs: Vec<(&[u8], &[u8], Option<&str>)> = items
                    .iter()
                    .flat_map(|i| i.blobs.iter().map(move |b| (i, b)))
                    .filter(|(_, (d, _))| seen.insert(*d))
                    .map(|(i, (d, b))| (d.0.as_slice(), b.as_slice(), Some(i.agent_id.as_str())))
                    .collect();
                insert_blobs(tx, &blobs).await?;
                let mut results: Vec<(&evident_core::Digest, &[u8])> = items
                    .iter()
                    .filter_map(|i| i.results.as_ref().map(|r| (&i.results_digest, r.as_slice())))
                    .collect();
                results.sort_unstable_by(|a, b| a.0 .0.cmp(&b.0 .0));
                results.dedup_by(|a, b| a.0 == b.0);
                insert_content(tx, "results", &results).await?;
                insert_statement_rows(tx, items).await?;
                sqlx::query(
                    "UPDATE agents SET last_sequence = $2, last_digest = $3, last_seen = $4, \
                     latest_results = $5, latest_collected_at = $6 WHERE id = $1",
                )
                .bind(last.agent_id.as_str())
                .bind(last.sequence)
                .bind(last.envelope_digest.0.as_slice())
                .bind(last.received_at)
                .bind(last.results_digest.0.as_slice())
                .bind(last.collected_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            #[async_trait::async_trait]
            impl BulkStore for $ty {
                async fn append_batch(
                    &self,
                    items: &[IngestItem],
                ) -> Result<Vec<IngestOutcome>, StoreError> {
                    // Each agent's runs in batch order; agents in order of first appearance.
                    let mut agents: Vec<(&str, Vec<usize>)> = Vec::new();
                    let mut index: std::collections::HashMap<&str, usize> =
                        std::collections::HashMap::new();
                    for (i, item) in items.iter().enumerate() {
                        let slot = *index.entry(item.agent_id.as_str()).or_insert_with(|| {
                            agents.push((item.agent_id.as_str(), Vec::new()));
                            agents.len() - 1
                        });
                        if let Some(a) = agents.get_mut(slot) {
                            a.1.push(i);
                        }
                    }
                    let mut out: Vec<Option<IngestOutcome>> = vec![None; items.len()];
                    let mut tx = self.write.begin_with($begin).await?;
                    let mut fleet = $crate::store::fleet::FleetStatusDelta::default();
                    for (agent, idxs) in &agents {
                        let mut state = head(&mut tx, agent).await?;
                        let mut pending: Vec<&IngestItem> = Vec::new();
                        for &i in idxs {
                            let Some(item) = items.get(i) else { continue };
                            match state.as_mut() {
                                Some(h) if h.plain(item) => {
                                    h.advance(item);
                                    pending.push(item);
                                    if let Some(o) = out.get_mut(i) {
                                        *o = Some(IngestOutcome::Stored { events: Vec::new() });
                                    }
                                }
                                _ => {
                                    flush(&mut tx, &pending).await?;
                                    pending.clear();
                                    let o = ingest_one(&mut tx, item, &mut fleet).await?;
                                    if let Some(slot) = out.get_mut(i) {
                                        *slot = Some(o);
                                    }
                                    state = head(&mut tx, agent).await?;
                                }
                            }
                        }
                        flush(&mut tx, &pending).await?;
                    }
                    fleet_write(&mut tx, &fleet).await?;
                    tx.commit().await?;
                    out.into_iter()
                        .map(|o| o.ok_or_else(|| StoreError::Corrupt("bulk outcome missing".into())))
                        .collect()
                }
            }
        }
    };
}
pub(crate) use impl_bulk_store;

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::Digest;
    use std::sync::Arc;

    fn item(seq: i64, prev: Option<Digest>, results: u8) -> IngestItem {
        IngestItem {
            agent_id: "a".into(),
            sequence: seq,
            previous: prev,
            declared_gap: None,
            envelope_digest: Digest([seq as u8; 32]),
            envelope: Arc::new(Vec::new()),
            collected_at: 0,
            received_at: 0,
            blobs: Vec::new(),
            results_digest: Digest([results; 32]),
            results: None,
            drift: None,
            vuln: None,
        }
    }

    #[test]
    fn only_the_next_link_with_the_same_results_is_plain() {
        let mut h = Head {
            active: true,
            last: Some((4, vec![4; 32])),
            drift: Some((vec![9; 32], 3600)),
            open_stale: 0,
        };
        assert!(h.plain(&item(5, Some(Digest([4; 32])), 9)));
        assert!(!h.plain(&item(6, Some(Digest([4; 32])), 9)), "gap");
        assert!(!h.plain(&item(5, Some(Digest([3; 32])), 9)), "chain break");
        assert!(!h.plain(&item(5, None, 9)), "no previous");
        assert!(!h.plain(&item(4, Some(Digest([4; 32])), 9)), "duplicate");
        h.advance(&item(5, Some(Digest([4; 32])), 9));
        assert!(h.plain(&item(6, Some(Digest([5; 32])), 9)));
        h.active = false;
        assert!(!h.plain(&item(6, Some(Digest([5; 32])), 9)), "inactive");
        h.active = true;
        h.last = None;
        assert!(!h.plain(&item(1, None, 9)), "first statement");
    }
}
