//! Vulnerability feed snapshots (issue #18, migration 40): stored by the
//! sha256 of the feed as imported, with source, import time, counts and the
//! compact index (JSON compressed with zstd). The SQL is shared by both
//! backends ([`impl_vuln_store!`]). Snapshots are never deleted: results
//! and bundles cite them by digest.

use super::StoreError;
use async_trait::async_trait;
use serde::Serialize;

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
}

/// The SQL both backends share.
macro_rules! impl_vuln_store {
    ($ty:ty) => {
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
