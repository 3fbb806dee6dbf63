//! Storage for retention (issue 10): pruning statements past the configured
//! window in small batches, leaving a chain stub (sequence, envelope digest,
//! previous) for each pruned statement so `verify` still proves each host's
//! hash chain across them; pruning old resolved alerts, transitions,
//! delivered outbox rows and integrity events; and the record of every
//! pass with the policy it applied. [`RetentionStore`] is a supertrait of
//! [`Store`](super::Store); the SQL is shared by both backends through
//! [`impl_retention_store!`]. What to keep is decided by the pure
//! [`keep`] below.

use super::StoreError;
use async_trait::async_trait;
use evident_core::evidence::{Content, Parsed};
use evident_core::{Digest, Envelope};
use serde::Serialize;

/// Where the previous pass stopped on one host: the last statement
/// considered and what it held, to tell whether the next one changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneMark {
    /// Last sequence considered (kept or pruned).
    pub through_sequence: i64,
    /// Its collection time, unix ms.
    pub prev_collected_at: i64,
    /// Its results digest.
    pub prev_results: Digest,
    /// Digest of its content (host facts, schedule, probe entries), when
    /// it could be read.
    pub prev_content: Option<Digest>,
}

/// One batch of one host's statements to consider.
#[derive(Debug, Clone)]
pub struct PruneBatch {
    /// The host.
    pub agent_id: String,
    /// Statements collected before this (unix ms) may be pruned.
    pub cutoff: i64,
    /// Most statements considered in this batch.
    pub limit: i64,
    /// The prune run recorded on each stub.
    pub run: i64,
    /// Work out what would be pruned, change nothing.
    pub dry_run: bool,
    /// Where the previous batch stopped (None: read the stored mark).
    pub mark: Option<PruneMark>,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneBatchOutcome {
    /// Where it stopped (pass it to the next batch).
    pub mark: Option<PruneMark>,
    /// Statements considered.
    pub considered: u64,
    /// Statements pruned (would be, on a dry run).
    pub pruned: u64,
    /// Nothing more of this host is past the window.
    pub done: bool,
}

/// Rows pruned from the event tables (would be, on a dry run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Resolved alerts (with every notification delivered).
    pub alerts: u64,
    /// Transitions no open alert cites.
    pub transitions: u64,
    /// Delivered outbox rows.
    pub outbox: u64,
    /// Integrity events whose statements were considered and that no open
    /// integrity alert cites.
    pub integrity_events: u64,
}

impl EventCounts {
    /// Sum of all tables.
    pub fn total(&self) -> u64 {
        self.alerts + self.transitions + self.outbox + self.integrity_events
    }
}

/// What a pruned statement leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStub {
    /// Agent.
    pub agent_id: String,
    /// Its sequence.
    pub sequence: i64,
    /// sha256 of its exact envelope bytes.
    pub digest: Digest,
    /// The previous envelope digest it named.
    pub previous: Option<Digest>,
    /// When it was collected, unix ms.
    pub collected_at: i64,
    /// The prune run that pruned it.
    pub prune_run: i64,
}

/// One recorded retention pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneRun {
    /// Id.
    pub id: i64,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms (None: interrupted).
    pub finished_at: Option<i64>,
    /// The window in days.
    pub keep_days: i64,
    /// Statements collected before this (unix ms) were considered.
    pub cutoff: i64,
    /// The policy, in words.
    pub policy: String,
    /// Statements pruned.
    pub statements: i64,
    /// Event rows pruned.
    pub events: EventCounts,
}

/// Retention: batches of pruning, chain stubs, recorded runs.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Record the start of a pass; its id.
    async fn begin_prune_run(
        &self,
        started_at: i64,
        keep_days: i64,
        cutoff: i64,
        policy: &str,
    ) -> Result<i64, StoreError>;
    /// Record the end of a pass with what it pruned from the event tables
    /// (statements are counted batch by batch).
    async fn finish_prune_run(
        &self,
        id: i64,
        finished_at: i64,
        events: &EventCounts,
    ) -> Result<(), StoreError>;
    /// Consider one batch of a host's statements collected before the
    /// cutoff, in one transaction (rolled back on a dry run).
    async fn prune_statements(&self, b: &PruneBatch) -> Result<PruneBatchOutcome, StoreError>;
    /// Prune one batch (at most `limit` rows per table) of event rows older
    /// than `cutoff`; a dry run counts them all instead.
    async fn prune_events(
        &self,
        cutoff: i64,
        limit: i64,
        dry_run: bool,
    ) -> Result<EventCounts, StoreError>;
    /// A host's chain stubs by ascending sequence above `after`, collected
    /// within `since..=until` (unix ms).
    async fn chain_stubs(
        &self,
        agent_id: &str,
        after: Option<i64>,
        since: Option<i64>,
        until: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ChainStub>, StoreError>;
    /// The recorded passes among `ids`.
    async fn prune_runs(&self, ids: &[i64]) -> Result<Vec<PruneRun>, StoreError>;
}

/// What a statement holds, for the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Sequence.
    pub sequence: i64,
    /// Collection time, unix ms.
    pub collected_at: i64,
    /// Results digest.
    pub results: Digest,
    /// Content digest (None: the envelope could not be read; it is kept).
    pub content: Option<Digest>,
    /// The previous digest it names.
    pub previous: Option<Digest>,
    /// It declares dropped runs.
    pub declares_gap: bool,
}

impl Candidate {
    /// Read what the decision needs from the exact envelope bytes.
    pub fn read(sequence: i64, collected_at: i64, results: Digest, envelope: &[u8]) -> Candidate {
        let parsed = Envelope::from_json(envelope)
            .ok()
            .and_then(|env| Parsed::from_bytes(&env.payload).ok());
        let (content, previous, declares_gap) = match parsed {
            Some(Parsed::Full(st)) => (
                Some(Content::of(&st.predicate).digest()),
                st.predicate.previous,
                st.predicate.gap.is_some(),
            ),
            Some(Parsed::Unchanged(u)) => (Some(u.content), u.previous, u.gap.is_some()),
            None => (None, None, true),
        };
        Candidate {
            sequence,
            collected_at,
            results,
            content,
            previous,
            declares_gap,
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// Whether a statement past the window is kept: the first of its host's
/// UTC day; anything changed since the previous statement (results or
/// content); it carries an integrity event or a transition, or vulnerability
/// state cites it (first seen, resolved, inventory change) (`protected`);
/// it declares a gap, could not be read, or borders a sequence gap (its
/// predecessor or successor is not adjacent). Everything else is pruned
/// to a chain stub.
pub fn keep(prev: Option<&PruneMark>, c: &Candidate, next_sequence: i64, protected: bool) -> bool {
    let Some(prev) = prev else { return true };
    protected
        || c.declares_gap
        || c.content.is_none()
        || prev.through_sequence.saturating_add(1) != c.sequence
        || c.sequence.saturating_add(1) != next_sequence
        || prev.prev_collected_at.div_euclid(DAY_MS) != c.collected_at.div_euclid(DAY_MS)
        || prev.prev_results != c.results
        || prev.prev_content != c.content
}

/// The policy in words, as recorded with every pass and shown by `verify`
/// and the report.
pub fn policy_text(keep_days: u32) -> String {
    format!(
        "keep every statement for {keep_days} days; past that keep the statements where anything changed (results or content), the first of each host's UTC day, every statement carrying an integrity event, a transition or a declared gap, every statement a vulnerability first-seen, resolution or inventory change cites, and each host's latest; the others are pruned to chain stubs (sequence, envelope digest, previous) that link the kept statements"
    )
}

/// Implements [`RetentionStore`] for a store type with the SQL both
/// backends share.
macro_rules! impl_retention_store {
    ($ty:ty, $db:ty, begin = $begin:expr) => {
        const _: () = {
            use $crate::store::retention::{
                keep, Candidate, ChainStub, EventCounts, PruneBatch, PruneBatchOutcome,
                PruneMark, PruneRun, RetentionStore,
            };
            use $crate::store::sql::placeholders;
            use $crate::store::{digest_from, StoreError};
            use sqlx::Row as _;

            /// Event rows past the cutoff that may go, per table (`$1` cutoff).
            const OUTBOX: &str = "FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1";
            const ALERTS: &str = "FROM alerts a WHERE a.state = 'resolved' AND a.resolved_at < $1 \
                 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = a.id AND o.delivered_at IS NULL)";
            const TRANSITIONS: &str = "FROM transitions t WHERE t.at < $1 \
                 AND EXISTS (SELECT 1 FROM retention_marks m WHERE m.agent_id = t.agent_id AND m.through_sequence >= t.sequence) \
                 AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.agent_id = t.agent_id AND a.subject = t.subject AND a.state <> 'resolved')";
            const EVENTS: &str = "FROM integrity_events e WHERE e.at < $1 \
                 AND EXISTS (SELECT 1 FROM retention_marks m WHERE m.agent_id = e.agent_id AND m.through_sequence >= e.sequence) \
                 AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.agent_id = e.agent_id AND a.subject = 'integrity:' || e.kind AND a.state <> 'resolved')";

            fn opt_digest(v: Option<Vec<u8>>) -> Result<Option<evident_core::Digest>, StoreError> {
                v.map(|b| digest_from(&b)).transpose()
            }

            #[async_trait::async_trait]
            impl RetentionStore for $ty {
                async fn begin_prune_run(
                    &self,
                    started_at: i64,
                    keep_days: i64,
                    cutoff: i64,
                    policy: &str,
                ) -> Result<i64, StoreError> {
                    let row = sqlx::query(
                        "INSERT INTO prune_runs (started_at, keep_days, cutoff, policy) \
                         VALUES ($1, $2, $3, $4) RETURNING id",
                    )
                    .bind(started_at)
                    .bind(keep_days)
                    .bind(cutoff)
                    .bind(policy)
                    .fetch_one(&self.write)
                    .await?;
                    Ok(row.try_get(0)?)
                }

                async fn finish_prune_run(
                    &self,
                    id: i64,
                    finished_at: i64,
                    e: &EventCounts,
                ) -> Result<(), StoreError> {
                    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                    sqlx::query(
                        "UPDATE prune_runs SET finished_at = $2, alerts = alerts + $3, \
                         transitions = transitions + $4, outbox = outbox + $5, \
                         integrity_events = integrity_events + $6 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(finished_at)
                    .bind(n(e.alerts))
                    .bind(n(e.transitions))
                    .bind(n(e.outbox))
                    .bind(n(e.integrity_events))
                    .execute(&self.write)
                    .await?;
                    Ok(())
                }

                async fn prune_statements(
                    &self,
                    b: &PruneBatch,
                ) -> Result<PruneBatchOutcome, StoreError> {
                    let mut tx = self.write.begin_with($begin).await?;
                    let mut mark = match &b.mark {
                        Some(m) => Some(m.clone()),
                        None => {
                            let row = sqlx::query(
                                "SELECT through_sequence, prev_collected_at, prev_results, prev_content \
                                 FROM retention_marks WHERE agent_id = $1",
                            )
                            .bind(&b.agent_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                            match row {
                                None => None,
                                Some(r) => Some(PruneMark {
                                    through_sequence: r.try_get(0)?,
                                    prev_collected_at: r.try_get(1)?,
                                    prev_results: digest_from(&r.try_get::<Vec<u8>, _>(2)?)?,
                                    prev_content: opt_digest(r.try_get(3)?)?,
                                }),
                            }
                        }
                    };
                    let head: Option<i64> =
                        sqlx::query("SELECT last_sequence FROM agents WHERE id = $1")
                            .bind(&b.agent_id)
                            .fetch_optional(&mut *tx)
                            .await?
                            .map(|r| r.try_get::<Option<i64>, _>(0))
                            .transpose()?
                            .flatten();
                    let Some(head) = head else {
                        tx.rollback().await?;
                        return Ok(PruneBatchOutcome {
                            mark,
                            done: true,
                            ..PruneBatchOutcome::default()
                        });
                    };
                    // One more row than the batch: each decision looks at
                    // the next sequence (a statement before a gap is kept).
                    let rows = sqlx::query(
                        "SELECT sequence, digest, collected_at, results, envelope_form, envelope, envelope_templates.template \
                         FROM statements LEFT JOIN envelope_templates ON envelope_templates.id = statements.template_id \
                         WHERE agent_id = $1 AND sequence > $2 ORDER BY sequence LIMIT $3",
                    )
                    .bind(&b.agent_id)
                    .bind(mark.as_ref().map(|m| m.through_sequence).unwrap_or(i64::MIN))
                    .bind(b.limit.max(1).saturating_add(1))
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut seqs = Vec::with_capacity(rows.len());
                    for r in &rows {
                        seqs.push(r.try_get::<i64, _>(0)?);
                    }
                    let protected: std::collections::HashSet<i64> =
                        match (seqs.first(), seqs.last()) {
                            (Some(lo), Some(hi)) => {
                                let found = sqlx::query(
                                    "SELECT sequence FROM integrity_events WHERE agent_id = $1 AND sequence BETWEEN $2 AND $3 \
                                     UNION SELECT sequence FROM transitions WHERE agent_id = $1 AND sequence BETWEEN $2 AND $3 \
                                     UNION SELECT first_sequence FROM vuln_first_seen WHERE agent_id = $1 AND first_sequence BETWEEN $2 AND $3 \
                                     UNION SELECT resolved_sequence FROM vuln_first_seen WHERE agent_id = $1 AND resolved_sequence BETWEEN $2 AND $3 \
                                     UNION SELECT first_sequence FROM vuln_inventories WHERE agent_id = $1 AND first_sequence BETWEEN $2 AND $3",
                                )
                                .bind(&b.agent_id)
                                .bind(*lo)
                                .bind(*hi)
                                .fetch_all(&mut *tx)
                                .await?;
                                found
                                    .iter()
                                    .map(|r| r.try_get::<i64, _>(0))
                                    .collect::<Result<_, _>>()?
                            }
                            _ => Default::default(),
                        };
                    let mut out = PruneBatchOutcome::default();
                    let mut pruned: Vec<ChainStub> = Vec::new();
                    let mut stopped = false;
                    for (i, r) in rows.iter().enumerate() {
                        let Some(next) = seqs.get(i + 1) else { break };
                        let sequence: i64 = r.try_get(0)?;
                        let collected_at: i64 = r.try_get(2)?;
                        if collected_at >= b.cutoff || sequence >= head {
                            stopped = true;
                            break;
                        }
                        let digest = digest_from(&r.try_get::<Vec<u8>, _>(1)?)?;
                        let results = digest_from(&r.try_get::<Vec<u8>, _>(3)?)?;
                        let template: Option<Vec<u8>> = r.try_get(6)?;
                        let bytes = $crate::store::unpack_row(
                            r.try_get(4)?,
                            r.try_get(5)?,
                            template.as_deref(),
                            sequence,
                            collected_at,
                            &digest,
                        )?;
                        let c = Candidate::read(sequence, collected_at, results, &bytes);
                        if !keep(mark.as_ref(), &c, *next, protected.contains(&sequence)) {
                            pruned.push(ChainStub {
                                agent_id: b.agent_id.clone(),
                                sequence,
                                digest,
                                previous: c.previous,
                                collected_at,
                                prune_run: b.run,
                            });
                        }
                        out.considered += 1;
                        mark = Some(PruneMark {
                            through_sequence: sequence,
                            prev_collected_at: collected_at,
                            prev_results: results,
                            prev_content: c.content,
                        });
                    }
                    out.done = stopped || i64::try_from(rows.len()).unwrap_or(0) <= b.limit.max(1);
                    out.pruned = pruned.len() as u64;
                    for chunk in pruned.chunks(200) {
                        let values = (0..chunk.len())
                            .map(|i| format!("({})", placeholders(i * 6 + 1, 6)))
                            .collect::<Vec<_>>()
                            .join(",");
                        let sql = format!(
                            "INSERT INTO chain_stubs (agent_id, sequence, digest, previous, collected_at, prune_run) VALUES {values}"
                        );
                        let mut q = sqlx::query(&sql);
                        for s in chunk {
                            q = q
                                .bind(&s.agent_id)
                                .bind(s.sequence)
                                .bind(s.digest.0.to_vec())
                                .bind(s.previous.map(|d| d.0.to_vec()))
                                .bind(s.collected_at)
                                .bind(s.prune_run);
                        }
                        q.execute(&mut *tx).await?;
                        let sql = format!(
                            "DELETE FROM statements WHERE agent_id = $1 AND sequence IN ({})",
                            placeholders(2, chunk.len())
                        );
                        let mut q = sqlx::query(&sql).bind(&b.agent_id);
                        for s in chunk {
                            q = q.bind(s.sequence);
                        }
                        q.execute(&mut *tx).await?;
                    }
                    if let Some(m) = &mark {
                        sqlx::query(
                            "INSERT INTO retention_marks (agent_id, through_sequence, prev_collected_at, prev_results, prev_content) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (agent_id) DO UPDATE SET \
                             through_sequence = excluded.through_sequence, prev_collected_at = excluded.prev_collected_at, \
                             prev_results = excluded.prev_results, prev_content = excluded.prev_content",
                        )
                        .bind(&b.agent_id)
                        .bind(m.through_sequence)
                        .bind(m.prev_collected_at)
                        .bind(m.prev_results.0.to_vec())
                        .bind(m.prev_content.map(|d| d.0.to_vec()))
                        .execute(&mut *tx)
                        .await?;
                    }
                    sqlx::query("UPDATE prune_runs SET statements = statements + $2 WHERE id = $1")
                        .bind(b.run)
                        .bind(i64::try_from(out.pruned).unwrap_or(i64::MAX))
                        .execute(&mut *tx)
                        .await?;
                    if b.dry_run {
                        tx.rollback().await?;
                    } else {
                        tx.commit().await?;
                    }
                    out.mark = mark;
                    Ok(out)
                }

                async fn prune_events(
                    &self,
                    cutoff: i64,
                    limit: i64,
                    dry_run: bool,
                ) -> Result<EventCounts, StoreError> {
                    let tables = [
                        ("outbox", "outbox", OUTBOX),
                        ("alerts", "a", ALERTS),
                        ("transitions", "t", TRANSITIONS),
                        ("integrity_events", "e", EVENTS),
                    ];
                    let mut counts = [0u64; 4];
                    let mut tx = self.write.begin_with($begin).await?;
                    for (i, (table, alias, from)) in tables.iter().enumerate() {
                        counts[i] = if dry_run {
                            let row = sqlx::query(&format!("SELECT COUNT(*) {from}"))
                                .bind(cutoff)
                                .fetch_one(&mut *tx)
                                .await?;
                            u64::try_from(row.try_get::<i64, _>(0)?).unwrap_or(0)
                        } else {
                            sqlx::query(&format!(
                                "DELETE FROM {table} WHERE id IN (SELECT {alias}.id {from} LIMIT $2)"
                            ))
                            .bind(cutoff)
                            .bind(limit)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                        };
                    }
                    if dry_run {
                        tx.rollback().await?;
                    } else {
                        tx.commit().await?;
                    }
                    Ok(EventCounts {
                        outbox: counts[0],
                        alerts: counts[1],
                        transitions: counts[2],
                        integrity_events: counts[3],
                    })
                }

                async fn chain_stubs(
                    &self,
                    agent_id: &str,
                    after: Option<i64>,
                    since: Option<i64>,
                    until: Option<i64>,
                    limit: i64,
                ) -> Result<Vec<ChainStub>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT agent_id, sequence, digest, previous, collected_at, prune_run FROM chain_stubs \
                         WHERE agent_id = $1 AND sequence > $2 AND collected_at >= $3 AND collected_at <= $4 \
                         ORDER BY sequence LIMIT $5",
                    )
                    .bind(agent_id)
                    .bind(after.unwrap_or(i64::MIN))
                    .bind(since.unwrap_or(i64::MIN))
                    .bind(until.unwrap_or(i64::MAX))
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(ChainStub {
                                agent_id: r.try_get(0)?,
                                sequence: r.try_get(1)?,
                                digest: digest_from(&r.try_get::<Vec<u8>, _>(2)?)?,
                                previous: opt_digest(r.try_get(3)?)?,
                                collected_at: r.try_get(4)?,
                                prune_run: r.try_get(5)?,
                            })
                        })
                        .collect()
                }

                async fn prune_runs(&self, ids: &[i64]) -> Result<Vec<PruneRun>, StoreError> {
                    let mut out = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(500) {
                        let sql = format!(
                            "SELECT id, started_at, finished_at, keep_days, cutoff, policy, statements, \
                             alerts, transitions, outbox, integrity_events FROM prune_runs \
                             WHERE id IN ({}) ORDER BY id",
                            placeholders(1, chunk.len())
                        );
                        let mut q = sqlx::query(&sql);
                        for id in chunk {
                            q = q.bind(*id);
                        }
                        for r in q.fetch_all(&self.read).await? {
                            let n = |i: usize| -> Result<u64, StoreError> {
                                Ok(u64::try_from(r.try_get::<i64, _>(i)?).unwrap_or(0))
                            };
                            out.push(PruneRun {
                                id: r.try_get(0)?,
                                started_at: r.try_get(1)?,
                                finished_at: r.try_get(2)?,
                                keep_days: r.try_get(3)?,
                                cutoff: r.try_get(4)?,
                                policy: r.try_get(5)?,
                                statements: r.try_get(6)?,
                                events: EventCounts {
                                    alerts: n(7)?,
                                    transitions: n(8)?,
                                    outbox: n(9)?,
                                    integrity_events: n(10)?,
                                },
                            });
                        }
                    }
                    Ok(out)
                }
            }
        };
    };
}
pub(crate) use impl_retention_store;

#[cfg(test)]
mod tests;
