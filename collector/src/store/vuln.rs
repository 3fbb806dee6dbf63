//! Vulnerability feed snapshots (issue #18, migration 40): stored by the
//! sha256 of the feed as imported, with source, import time, counts and the
//! compact index (JSON compressed with zstd). The SQL is shared by both
//! backends ([`impl_vuln_store!`]). Snapshots are never deleted: results
//! and bundles cite them by digest.
//!
//! Per-host state (migration 100): each host's inventory history (a row
//! whenever its packages blob changes) and per (CVE, source package) the
//! statements that first and last showed it and the one where it was
//! resolved ([`VulnUpdate`], applied in the ingest transaction or by the
//! background re-match).

use super::StoreError;
use async_trait::async_trait;
use evident_core::Digest;
use serde::Serialize;
use std::collections::BTreeMap;

/// One row of a host's inventory history: from statement `first_sequence`
/// on, its packages blob was `packages`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRow {
    /// First statement with this inventory (after a different one).
    pub first_sequence: i64,
    /// Digest of the packages blob.
    pub packages: Digest,
    /// Envelope digest of that statement.
    pub first_digest: Digest,
    /// Its collection time (Unix ms).
    pub first_at: i64,
}

/// A statement cited by vulnerability state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    /// Sequence.
    pub sequence: i64,
    /// Envelope digest.
    pub digest: Digest,
    /// Collection time (Unix ms).
    pub at: i64,
}

/// Per host x (CVE, source package): first seen, last seen, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirstSeenRow {
    /// Agent.
    pub agent_id: String,
    /// CVE id.
    pub cve: String,
    /// Source package.
    pub source: String,
    /// The statement that first showed it (see docs/vulnerabilities.md).
    pub first: StatementRef,
    /// Sequence of the last statement that still matched it.
    pub last_sequence: i64,
    /// Its collection time (Unix ms).
    pub last_at: i64,
    /// The first statement where it no longer matched (None: open).
    pub resolved: Option<StatementRef>,
}

/// A (CVE, source package) newly open on a host, with its first-seen statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFirstSeen {
    /// CVE id.
    pub cve: String,
    /// Source package.
    pub source: String,
    /// First-seen statement.
    pub first: StatementRef,
}

/// What one statement (at ingest, or its host's latest statement at a
/// re-match) changes in the host's vulnerability state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnUpdate {
    /// Agent.
    pub agent_id: String,
    /// The statement.
    pub statement: StatementRef,
    /// Its packages blob (recorded in the inventory history when it differs
    /// from the inventory before it).
    pub packages: Option<Digest>,
    /// Whether some pair is open (the open rows' last-seen move to it).
    pub refresh_last: bool,
    /// Pairs open now that were not.
    pub new: Vec<NewFirstSeen>,
    /// Pairs open before that no longer match (resolved at this statement).
    pub gone: Vec<(String, String)>,
}

/// A host's latest known inventory (what a re-match reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestInventory {
    /// Agent.
    pub agent_id: String,
    /// Host name.
    pub hostname: String,
    /// Digest of the packages blob.
    pub packages: Digest,
    /// The host's latest statement.
    pub statement: StatementRef,
}

/// One (CVE, source package) and the active hosts it is open on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetCve {
    /// CVE id.
    pub cve: String,
    /// Source package.
    pub source: String,
    /// Active hosts where it is open.
    pub hosts: i64,
    /// The earliest first-seen among them (Unix ms).
    pub first_seen: i64,
}

/// A stored snapshot's description (without its index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotInfo {
    /// `sha256:<hex>` of the feed bytes (a directory: of its sorted member list).
    pub digest: String,
    /// `debian-tracker` or `osv`.
    pub format: String,
    /// Where it came from (file path or URL).
    pub source: String,
    /// Unix ms of the (last) import.
    pub imported_at: i64,
    /// Size of the feed as read.
    pub feed_bytes: i64,
    /// Index entries.
    pub entries: i64,
    /// Distinct CVE ids.
    pub cves: i64,
    /// Releases covered, comma-separated (`debian:bookworm,debian:trixie`).
    pub releases: String,
}

/// What one transaction changes in the fleet counts
/// (`vuln_fleet_counts`, migration 140): per (CVE, source package) the
/// active hosts gained or lost, the earliest first sighting gained and
/// whether one was lost. Applied at the transaction's end in (CVE, source)
/// order, so concurrent transactions lock count rows in one order.
#[derive(Debug, Default)]
pub(crate) struct FleetDelta(pub(crate) BTreeMap<(String, String), PairDelta>);

/// One pair's change in a [`FleetDelta`].
#[derive(Debug, Default)]
pub(crate) struct PairDelta {
    /// Active hosts gained (negative: lost).
    pub(crate) hosts: i64,
    /// The earliest first sighting among the hosts gained.
    pub(crate) earliest_added: Option<i64>,
    /// The earliest first sighting among the hosts lost (the pair's
    /// earliest is read again when it is not later than this).
    pub(crate) earliest_removed: Option<i64>,
}

impl FleetDelta {
    /// The pair became open on an active host (first seen at `first_at`).
    pub(crate) fn open(&mut self, cve: &str, source: &str, first_at: i64) {
        let d = self
            .0
            .entry((cve.to_string(), source.to_string()))
            .or_default();
        d.hosts += 1;
        d.earliest_added = Some(d.earliest_added.map_or(first_at, |e| e.min(first_at)));
    }

    /// The pair is no longer open on an active host where it was first seen
    /// at `first_at`.
    pub(crate) fn close(&mut self, cve: &str, source: &str, first_at: i64) {
        let d = self
            .0
            .entry((cve.to_string(), source.to_string()))
            .or_default();
        d.hosts -= 1;
        d.earliest_removed = Some(d.earliest_removed.map_or(first_at, |e| e.min(first_at)));
    }
}

/// Storage of feed snapshots.
#[async_trait]
pub trait VulnStore: Send + Sync {
    /// Store a snapshot; importing the same digest again only makes it the
    /// newest (the one in force).
    async fn put_vuln_snapshot(
        &self,
        info: &SnapshotInfo,
        index_zst: &[u8],
    ) -> Result<(), StoreError>;
    /// Every snapshot, newest first.
    async fn vuln_snapshots(&self) -> Result<Vec<SnapshotInfo>, StoreError>;
    /// The compressed index of a snapshot by digest (`None`: the newest).
    async fn vuln_snapshot_index(
        &self,
        digest: Option<&str>,
    ) -> Result<Option<(SnapshotInfo, Vec<u8>)>, StoreError>;
    /// The digest of the snapshot in force (the newest).
    async fn vuln_snapshot_newest(&self) -> Result<Option<String>, StoreError>;
    /// A host's inventory history before `before_sequence`, newest first.
    async fn vuln_inventory_history(
        &self,
        agent_id: &str,
        before_sequence: i64,
        limit: i64,
    ) -> Result<Vec<InventoryRow>, StoreError>;
    /// First-seen rows of one host (`None`: every host), open ones only
    /// unless `resolved_too`.
    async fn vuln_first_seen(
        &self,
        agent_id: Option<&str>,
        resolved_too: bool,
    ) -> Result<Vec<FirstSeenRow>, StoreError>;
    /// Apply re-match updates in one transaction.
    async fn vuln_apply(&self, updates: &[VulnUpdate]) -> Result<(), StoreError>;
    /// Active hosts after `after` (by id) with their latest known inventory.
    async fn vuln_latest_inventories(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LatestInventory>, StoreError>;
    /// The (CVE, source package) pairs open on the most active hosts.
    async fn vuln_fleet(&self, limit: i64) -> Result<Vec<FleetCve>, StoreError>;
}

/// The SQL both backends share.
macro_rules! impl_vuln_store {
    ($ty:ty, $db:ty, begin = $begin:expr, lock = $lock:literal) => {
        /// Apply one [`VulnUpdate`](crate::store::vuln::VulnUpdate) inside
        /// a transaction (the ingest transaction or a re-match batch); the
        /// pairs it opens and resolves go to `fleet` when the agent is
        /// active (`None`: it is not, the fleet counts leave it out).
        async fn vuln_apply_tx(
            tx: &mut sqlx::Transaction<'static, $db>,
            u: &crate::store::vuln::VulnUpdate,
            mut fleet: Option<&mut crate::store::vuln::FleetDelta>,
        ) -> Result<(), StoreError> {
            let st = &u.statement;
            if let Some(p) = &u.packages {
                let before = sqlx::query(
                    "SELECT packages FROM vuln_inventories WHERE agent_id = $1 AND first_sequence <= $2 \
                     ORDER BY first_sequence DESC LIMIT 1",
                )
                .bind(&u.agent_id)
                .bind(st.sequence)
                .fetch_optional(&mut **tx)
                .await?;
                let same = match &before {
                    Some(r) => r.try_get::<Vec<u8>, _>(0)? == p.0.as_slice(),
                    None => false,
                };
                if !same {
                    sqlx::query(
                        "INSERT INTO vuln_inventories (agent_id, first_sequence, packages, first_digest, first_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(&u.agent_id)
                    .bind(st.sequence)
                    .bind(p.0.as_slice())
                    .bind(st.digest.0.as_slice())
                    .bind(st.at)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            if u.refresh_last {
                sqlx::query(
                    "UPDATE vuln_first_seen SET last_sequence = $2, last_at = $3 \
                     WHERE agent_id = $1 AND resolved_sequence IS NULL AND last_sequence < $2",
                )
                .bind(&u.agent_id)
                .bind(st.sequence)
                .bind(st.at)
                .execute(&mut **tx)
                .await?;
            }
            for (cve, source) in &u.gone {
                let closed = sqlx::query(
                    "UPDATE vuln_first_seen SET resolved_sequence = $4, resolved_digest = $5, resolved_at = $6 \
                     WHERE agent_id = $1 AND cve = $2 AND source = $3 AND resolved_sequence IS NULL \
                     AND last_sequence <= $4 RETURNING first_at",
                )
                .bind(&u.agent_id)
                .bind(cve)
                .bind(source)
                .bind(st.sequence)
                .bind(st.digest.0.as_slice())
                .bind(st.at)
                .fetch_optional(&mut **tx)
                .await?;
                if let (Some(r), Some(f)) = (closed, fleet.as_deref_mut()) {
                    f.close(cve, source, r.try_get(0)?);
                }
            }
            for n in &u.new {
                let opened = sqlx::query(
                    "INSERT INTO vuln_first_seen (agent_id, cve, source, first_sequence, first_digest, first_at, \
                     last_sequence, last_at, resolved_sequence, resolved_digest, resolved_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL, NULL) \
                     ON CONFLICT (agent_id, cve, source) DO UPDATE SET \
                     first_sequence = excluded.first_sequence, first_digest = excluded.first_digest, \
                     first_at = excluded.first_at, last_sequence = excluded.last_sequence, \
                     last_at = excluded.last_at, resolved_sequence = NULL, resolved_digest = NULL, \
                     resolved_at = NULL \
                     WHERE vuln_first_seen.resolved_sequence IS NOT NULL",
                )
                .bind(&u.agent_id)
                .bind(&n.cve)
                .bind(&n.source)
                .bind(n.first.sequence)
                .bind(n.first.digest.0.as_slice())
                .bind(n.first.at)
                .bind(st.sequence)
                .bind(st.at)
                .execute(&mut **tx)
                .await?;
                // 1: inserted, or a resolved row reopened; 0: already open.
                if let (1, Some(f)) = (opened.rows_affected(), fleet.as_deref_mut()) {
                    f.open(&n.cve, &n.source, n.first.at);
                }
            }
            Ok(())
        }

        /// Apply a transaction's [`FleetDelta`](crate::store::vuln::FleetDelta)
        /// to `vuln_fleet_counts`, pair by pair in order: add the hosts
        /// gained and lost, delete a pair left on no host, and read a pair's
        /// earliest first sighting again (one row of the partial index
        /// `vuln_first_seen_open`) when the one lost may have been it.
        async fn vuln_fleet_flush(
            tx: &mut sqlx::Transaction<'static, $db>,
            fleet: crate::store::vuln::FleetDelta,
        ) -> Result<(), StoreError> {
            for ((cve, source), d) in fleet.0 {
                if d.hosts == 0 && d.earliest_added.is_none() && d.earliest_removed.is_none() {
                    continue;
                }
                let hosts: i64 = sqlx::query(
                    "INSERT INTO vuln_fleet_counts (cve, source, hosts, first_seen) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (cve, source) DO UPDATE SET hosts = vuln_fleet_counts.hosts + excluded.hosts, \
                     first_seen = CASE WHEN excluded.first_seen < vuln_fleet_counts.first_seen \
                     THEN excluded.first_seen ELSE vuln_fleet_counts.first_seen END RETURNING hosts",
                )
                .bind(&cve)
                .bind(&source)
                .bind(d.hosts)
                .bind(d.earliest_added.unwrap_or(i64::MAX))
                .fetch_one(&mut **tx)
                .await?
                .try_get(0)?;
                if hosts <= 0 {
                    sqlx::query("DELETE FROM vuln_fleet_counts WHERE cve = $1 AND source = $2")
                        .bind(&cve)
                        .bind(&source)
                        .execute(&mut **tx)
                        .await?;
                } else if let Some(removed) = d.earliest_removed {
                    sqlx::query(
                        "UPDATE vuln_fleet_counts SET first_seen = COALESCE((SELECT f.first_at \
                         FROM vuln_first_seen f JOIN agents a ON a.id = f.agent_id AND a.status = 'active' \
                         WHERE f.cve = $1 AND f.source = $2 AND f.resolved_sequence IS NULL \
                         ORDER BY f.first_at LIMIT 1), first_seen) \
                         WHERE cve = $1 AND source = $2 AND first_seen >= $3",
                    )
                    .bind(&cve)
                    .bind(&source)
                    .bind(removed)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Ok(())
        }

        /// Inside the transaction that moves an agent into or out of
        /// `active` (after its status was written): its open pairs join or
        /// leave the fleet counts.
        async fn vuln_on_status(
            tx: &mut sqlx::Transaction<'static, $db>,
            agent_id: &str,
            now_active: bool,
        ) -> Result<(), StoreError> {
            let rows = sqlx::query(
                "SELECT cve, source, first_at FROM vuln_first_seen \
                 WHERE agent_id = $1 AND resolved_sequence IS NULL",
            )
            .bind(agent_id)
            .fetch_all(&mut **tx)
            .await?;
            let mut fleet = crate::store::vuln::FleetDelta::default();
            for r in &rows {
                let (cve, source): (String, String) = (r.try_get(0)?, r.try_get(1)?);
                let first_at: i64 = r.try_get(2)?;
                if now_active {
                    fleet.open(&cve, &source, first_at);
                } else {
                    fleet.close(&cve, &source, first_at);
                }
            }
            vuln_fleet_flush(tx, fleet).await
        }

        /// Inside the ingest transaction (the agent locked and active): a
        /// statement's vulnerability state, for the agent's newest
        /// statement only, and the fleet counts.
        async fn vuln_on_ingest(
            tx: &mut sqlx::Transaction<'static, $db>,
            item: &IngestItem,
            newest: bool,
        ) -> Result<(), StoreError> {
            match &item.vuln {
                Some(u) if newest => {
                    let mut fleet = crate::store::vuln::FleetDelta::default();
                    vuln_apply_tx(tx, u, Some(&mut fleet)).await?;
                    vuln_fleet_flush(tx, fleet).await
                }
                _ => Ok(()),
            }
        }

        #[async_trait::async_trait]
        impl crate::store::vuln::VulnStore for $ty {
            async fn put_vuln_snapshot(
                &self,
                s: &crate::store::vuln::SnapshotInfo,
                index_zst: &[u8],
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO vuln_snapshots (digest, format, source, imported_at, feed_bytes, entries, cves, releases, index_zst) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (digest) DO UPDATE SET imported_at = excluded.imported_at, source = excluded.source",
                )
                .bind(&s.digest)
                .bind(&s.format)
                .bind(&s.source)
                .bind(s.imported_at)
                .bind(s.feed_bytes)
                .bind(s.entries)
                .bind(s.cves)
                .bind(&s.releases)
                .bind(index_zst)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn vuln_snapshots(
                &self,
            ) -> Result<Vec<crate::store::vuln::SnapshotInfo>, StoreError> {
                let rows = sqlx::query(
                    "SELECT digest, format, source, imported_at, feed_bytes, entries, cves, releases \
                     FROM vuln_snapshots ORDER BY imported_at DESC, digest LIMIT 10000",
                )
                .fetch_all(&self.read)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::vuln::snapshot_info!(r));
                }
                Ok(out)
            }

            async fn vuln_snapshot_index(
                &self,
                digest: Option<&str>,
            ) -> Result<Option<(crate::store::vuln::SnapshotInfo, Vec<u8>)>, StoreError> {
                let cols = "digest, format, source, imported_at, feed_bytes, entries, cves, releases, index_zst";
                let row = match digest {
                    Some(d) => {
                        sqlx::query(&format!("SELECT {cols} FROM vuln_snapshots WHERE digest = $1"))
                            .bind(d)
                            .fetch_optional(&self.read)
                            .await?
                    }
                    None => {
                        sqlx::query(&format!(
                            "SELECT {cols} FROM vuln_snapshots ORDER BY imported_at DESC, digest LIMIT 1"
                        ))
                        .fetch_optional(&self.read)
                        .await?
                    }
                };
                match row {
                    None => Ok(None),
                    Some(r) => {
                        let info = crate::store::vuln::snapshot_info!(&r);
                        Ok(Some((info, r.try_get(8)?)))
                    }
                }
            }

            async fn vuln_snapshot_newest(&self) -> Result<Option<String>, StoreError> {
                let row = sqlx::query(
                    "SELECT digest FROM vuln_snapshots ORDER BY imported_at DESC, digest LIMIT 1",
                )
                .fetch_optional(&self.read)
                .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            }

            async fn vuln_inventory_history(
                &self,
                agent_id: &str,
                before_sequence: i64,
                limit: i64,
            ) -> Result<Vec<crate::store::vuln::InventoryRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT first_sequence, packages, first_digest, first_at FROM vuln_inventories \
                     WHERE agent_id = $1 AND first_sequence < $2 ORDER BY first_sequence DESC LIMIT $3",
                )
                .bind(agent_id)
                .bind(before_sequence)
                .bind(limit.max(1))
                .fetch_all(&self.read)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::vuln::InventoryRow {
                        first_sequence: r.try_get(0)?,
                        packages: digest_from(&r.try_get::<Vec<u8>, _>(1)?)?,
                        first_digest: digest_from(&r.try_get::<Vec<u8>, _>(2)?)?,
                        first_at: r.try_get(3)?,
                    });
                }
                Ok(out)
            }

            async fn vuln_first_seen(
                &self,
                agent_id: Option<&str>,
                resolved_too: bool,
            ) -> Result<Vec<crate::store::vuln::FirstSeenRow>, StoreError> {
                let mut sql = String::from(
                    "SELECT agent_id, cve, source, first_sequence, first_digest, first_at, last_sequence, last_at, \
                     resolved_sequence, resolved_digest, resolved_at FROM vuln_first_seen WHERE 1 = 1",
                );
                if agent_id.is_some() {
                    sql.push_str(" AND agent_id = $1");
                }
                if !resolved_too {
                    sql.push_str(" AND resolved_sequence IS NULL");
                }
                sql.push_str(" ORDER BY agent_id, cve, source LIMIT 1000000");
                let mut q = sqlx::query(&sql);
                if let Some(a) = agent_id {
                    q = q.bind(a);
                }
                let rows = q.fetch_all(&self.read).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let resolved = match r.try_get::<Option<i64>, _>(8)? {
                        None => None,
                        Some(sequence) => Some(crate::store::vuln::StatementRef {
                            sequence,
                            digest: digest_from(&r.try_get::<Option<Vec<u8>>, _>(9)?.unwrap_or_default())?,
                            at: r.try_get::<Option<i64>, _>(10)?.unwrap_or_default(),
                        }),
                    };
                    let first_digest = digest_from(&r.try_get::<Vec<u8>, _>(4)?)?;
                    out.push(crate::store::vuln::FirstSeenRow {
                        agent_id: r.try_get(0)?,
                        cve: r.try_get(1)?,
                        source: r.try_get(2)?,
                        first: crate::store::vuln::StatementRef {
                            sequence: r.try_get(3)?,
                            digest: first_digest,
                            at: r.try_get(5)?,
                        },
                        last_sequence: r.try_get(6)?,
                        last_at: r.try_get(7)?,
                        resolved,
                    });
                }
                Ok(out)
            }

            async fn vuln_apply(
                &self,
                updates: &[crate::store::vuln::VulnUpdate],
            ) -> Result<(), StoreError> {
                if updates.is_empty() {
                    return Ok(());
                }
                let mut tx = self.write.begin_with($begin).await?;
                // The agents locked in id order (as a status change or an
                // ingest would), then only the active ones counted: an agent
                // revoked since the re-match read it changes no count.
                let ids: std::collections::BTreeSet<&str> =
                    updates.iter().map(|u| u.agent_id.as_str()).collect();
                let mut active = std::collections::HashSet::new();
                for id in ids {
                    let row = sqlx::query(concat!("SELECT status FROM agents WHERE id = $1", $lock))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(r) = row {
                        if r.try_get::<String, _>(0)? == evident_core::wire::AgentStatus::Active.as_str() {
                            active.insert(id);
                        }
                    }
                }
                let mut fleet = crate::store::vuln::FleetDelta::default();
                for u in updates {
                    let counted = active.contains(u.agent_id.as_str()).then_some(&mut fleet);
                    vuln_apply_tx(&mut tx, u, counted).await?;
                }
                vuln_fleet_flush(&mut tx, fleet).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn vuln_latest_inventories(
                &self,
                after: Option<&str>,
                limit: i64,
            ) -> Result<Vec<crate::store::vuln::LatestInventory>, StoreError> {
                let rows = sqlx::query(
                    "SELECT a.id, a.hostname, i.packages, a.last_sequence, a.last_digest, a.latest_collected_at \
                     FROM agents a JOIN vuln_inventories i ON i.agent_id = a.id AND i.first_sequence = \
                     (SELECT MAX(j.first_sequence) FROM vuln_inventories j WHERE j.agent_id = a.id) \
                     WHERE a.status = 'active' AND a.id > $1 AND a.last_sequence IS NOT NULL \
                     ORDER BY a.id LIMIT $2",
                )
                .bind(after.unwrap_or(""))
                .bind(limit.max(1))
                .fetch_all(&self.read)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::vuln::LatestInventory {
                        agent_id: r.try_get(0)?,
                        hostname: r.try_get(1)?,
                        packages: digest_from(&r.try_get::<Vec<u8>, _>(2)?)?,
                        statement: crate::store::vuln::StatementRef {
                            sequence: r.try_get::<Option<i64>, _>(3)?.unwrap_or_default(),
                            digest: digest_from(&r.try_get::<Option<Vec<u8>>, _>(4)?.unwrap_or_default())?,
                            at: r.try_get::<Option<i64>, _>(5)?.unwrap_or_default(),
                        },
                    });
                }
                Ok(out)
            }

            async fn vuln_fleet(
                &self,
                limit: i64,
            ) -> Result<Vec<crate::store::vuln::FleetCve>, StoreError> {
                let rows = sqlx::query(
                    "SELECT cve, source, hosts, first_seen FROM vuln_fleet_counts WHERE hosts > 0 \
                     ORDER BY hosts DESC, cve, source LIMIT $1",
                )
                .bind(limit.max(1))
                .fetch_all(&self.read)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(crate::store::vuln::FleetCve {
                        cve: r.try_get(0)?,
                        source: r.try_get(1)?,
                        hosts: r.try_get(2)?,
                        first_seen: r.try_get(3)?,
                    });
                }
                Ok(out)
            }
        }
    };
}
pub(crate) use impl_vuln_store;

/// A row's first eight columns as a [`SnapshotInfo`] (either backend's row).
macro_rules! snapshot_info {
    ($r:expr) => {{
        let r = $r;
        crate::store::vuln::SnapshotInfo {
            digest: r.try_get(0)?,
            format: r.try_get(1)?,
            source: r.try_get(2)?,
            imported_at: r.try_get(3)?,
            feed_bytes: r.try_get(4)?,
            entries: r.try_get(5)?,
            cves: r.try_get(6)?,
            releases: r.try_get(7)?,
        }
    }};
}
pub(crate) use snapshot_info;
