//! The SQLite store: one file under the data directory, WAL journal,
//! `synchronous = FULL` (configurable: `sqlite_synchronous`), one writer connection (the ingest writer batches
//! many envelopes per transaction) and a pool of readers.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};
use std::str::FromStr;
use std::time::Duration;

/// SQLite-backed [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    write: Pool<Sqlite>,
    read: Pool<Sqlite>,
}

/// How the writer begins a transaction: with SQLite's default for
/// temporary data (files past a threshold), so a statement that builds
/// large temporary data (a fleet-wide `GROUP BY`, a migration) stays
/// bounded in memory.
const BEGIN_WRITE: &str = "PRAGMA temp_store = DEFAULT; BEGIN IMMEDIATE";

/// How the ingest writer begins a batch: with temporary data in memory.
/// SQLite keeps a statement journal for each multi-row write (the pages
/// it changes, to undo that statement alone) and spills it to a new
/// temporary file past 64 KiB; a batch's multi-row writes change a page
/// per run in each per-host index, so every batch created, wrote and
/// deleted such files (`subjournalPageIfRequired`: 3.6 % of `serve` at
/// 10,000 hosts, docs/benchmarks.md, session 18). A batch is bounded
/// (`max_batch` runs), so its journals are too. The setting is per
/// connection and outlasts the transaction: every other write transaction
/// begins with [`BEGIN_WRITE`], and the statements the writer runs outside
/// a transaction are single small ones.
const BEGIN_INGEST: &str = "PRAGMA temp_store = MEMORY; BEGIN IMMEDIATE";

/// WAL pages after which a commit checkpoints (SQLite's default: 1,000,
/// 4 MB). The checkpoint runs inside the committing writer's transaction
/// end: it copies every page written since the last one into the database
/// file and fsyncs it. A fleet's runs each dirty a leaf page of their own in
/// several per-host indexes (`agents`, `statement_days`, the statements'
/// keys), so with 1,000 pages a checkpoint came every ~4 batches and nearly
/// every page it wrote was written again a few checkpoints later: at 50,000
/// hosts the checkpoint was ~20 % of SQLite's time, most of it the fsync's
/// writeback (`docs/benchmarks.md`, session 20). 10,000 pages (40 MB of WAL)
/// write a page dirtied again within the window once, and fsync a tenth as
/// often.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The WAL file is truncated back to this size when a checkpoint resets it
/// (SQLite's default is never): a WAL that grew past the checkpoint
/// threshold while a long read held it (an export streaming a year) does
/// not keep its disk space.
const JOURNAL_SIZE_LIMIT_BYTES: u64 = 64 << 20;

const MIGRATIONS: &[crate::store::migrate::Migration] =
    crate::store::migrate::migrations!("sqlite");

impl SqliteStore {
    const KIND: &'static str = "sqlite";

    /// Open (creating if missing) and migrate.
    pub async fn open(
        url: &str,
        max_connections: u32,
        timeout: Duration,
        durability: crate::store::Durability,
    ) -> Result<SqliteStore, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                crate::store::Durability::Full => SqliteSynchronous::Full,
                crate::store::Durability::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(timeout)
            // 4 KB pages (set when the file is created; SQLite's default).
            // Statement rows are a few hundred bytes since the envelope forms
            // and templates, and an unchanged run of a round-robin fleet
            // dirties a page of its own in each per-host index: every dirty
            // page goes to the WAL and back into the file whole, so 32 KB
            // pages (the choice when rows were ~3 KB) wrote 8× the bytes
            // per run (docs/benchmarks.md, session 11). A store created
            // with 32 KB pages keeps them.
            .page_size(4096)
            .pragma("cache_size", "-16000")
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES.to_string());
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_with(opts.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(timeout)
            .connect_with(opts)
            .await?;
        let store = SqliteStore { write, read };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        crate::store::migrate::run_migrations!(
            Sqlite,
            &self.write,
            MIGRATIONS,
            begin = BEGIN_WRITE,
            lock = ""
        )
    }

    /// `PRAGMA optimize`: SQLite analyzes what its own rule finds due (a
    /// table whose size moved by a large factor since its last analysis),
    /// under a temporary `analysis_limit` since SQLite 3.46 (the bundled
    /// version), so running it every minute stays cheap on a large store.
    async fn refresh_statistics_impl(&self) -> Result<usize, StoreError> {
        sqlx::raw_sql("PRAGMA optimize")
            .execute(&self.write)
            .await?;
        Ok(0)
    }

    async fn storage_bytes_impl(&self) -> Result<u64, StoreError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.write)
            .await?;
        let row = sqlx::query(
            "SELECT (SELECT page_count FROM pragma_page_count()) - (SELECT freelist_count FROM pragma_freelist_count()), \
             (SELECT page_size FROM pragma_page_size())",
        )
        .fetch_one(&self.write)
        .await?;
        let pages: i64 = row.try_get(0)?;
        let size: i64 = row.try_get(1)?;
        Ok(u64::try_from(pages.saturating_mul(size)).unwrap_or(0))
    }
}

crate::store::batch::impl_ingest_batch!(
    Sqlite,
    lock = "",
    drift_head = " INDEXED BY drift_state_head"
);
crate::store::sql::impl_store!(
    SqliteStore,
    Sqlite,
    begin = BEGIN_WRITE,
    ingest_begin = BEGIN_INGEST,
    lock = ""
);
crate::store::sets::impl_set_writes!(Sqlite);
crate::store::drift::impl_drift_store!(SqliteStore, Sqlite, begin = BEGIN_WRITE, skip_locked = "");

#[async_trait::async_trait]
impl crate::store::GuardStore for SqliteStore {
    async fn store_identity(&self) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT id FROM store_identity ORDER BY created_at LIMIT 1")
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn set_store_identity(&self, id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO store_identity (id, created_at) VALUES ($1, $2)")
            .bind(id)
            .bind(now)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn integrity_problems(&self, full: bool, max: u32) -> Result<Vec<String>, StoreError> {
        let pragma = if full {
            "integrity_check"
        } else {
            "quick_check"
        };
        let rows = match sqlx::query(&format!("PRAGMA {pragma}({})", max.max(1)))
            .fetch_all(&self.read)
            .await
        {
            Ok(rows) => rows,
            // A corrupt file can fail the check itself: that is its answer.
            Err(e) => return Ok(vec![e.to_string()]),
        };
        let mut out = Vec::new();
        for r in rows {
            let line: String = r.try_get(0)?;
            if line != "ok" {
                out.push(line);
            }
        }
        Ok(out)
    }

    async fn backup_to(&self, to: &std::path::Path) -> Result<(), StoreError> {
        if to.exists() {
            return Err(StoreError::Unsupported(format!(
                "{} exists; a backup never overwrites a file",
                to.display()
            )));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(to.display().to_string())
            .execute(&self.read)
            .await?;
        Ok(())
    }
}

crate::store::access::impl_access_store!(SqliteStore);
crate::store::vuln::impl_vuln_store!(SqliteStore, Sqlite, begin = BEGIN_WRITE, lock = "");
crate::store::guard::impl_host_store!(SqliteStore);
crate::store::retention::impl_retention_store!(SqliteStore, Sqlite, begin = BEGIN_WRITE);
crate::store::bulk::impl_bulk_store!(SqliteStore, Sqlite, begin = BEGIN_WRITE, lock = "");

crate::store::console::impl_console_store!(SqliteStore, begin = BEGIN_WRITE);
crate::store::console_pages::impl_console_pages!(SqliteStore, begin = BEGIN_WRITE);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EvidenceStore as _, IngestItem, IngestOutcome};
    use evident_core::Digest;
    use sqlx::Row as _;
    use std::sync::Arc;

    fn item(agent: &str) -> IngestItem {
        IngestItem {
            agent_id: agent.into(),
            sequence: 1,
            previous: None,
            declared_gap: None,
            envelope_digest: Digest([1; 32]),
            envelope: Arc::new(Vec::new()),
            collected_at: 0,
            received_at: 0,
            blobs: Vec::new(),
            results_digest: Digest([1; 32]),
            results: None,
            drift: None,
            vuln: None,
        }
    }

    /// `temp_store` on the writer's connection, read in a transaction begun
    /// with `begin`.
    async fn temp_store_in(store: &SqliteStore, begin: &'static str) -> i64 {
        let mut tx = store.write.begin_with(begin).await.unwrap();
        let v = sqlx::query("PRAGMA temp_store")
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        tx.rollback().await.unwrap();
        v
    }

    /// A new store in a temporary directory (kept alive by the first value).
    async fn open_temp() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("e.db").display());
        let store = SqliteStore::open(
            &url,
            2,
            Duration::from_secs(5),
            crate::store::Durability::Full,
        )
        .await
        .unwrap();
        (dir, store)
    }

    /// The integer value of `PRAGMA name` on a connection of `pool`.
    async fn pragma(pool: &Pool<Sqlite>, name: &str) -> i64 {
        sqlx::query(&format!("PRAGMA {name}"))
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    }

    /// An ingest batch runs with temporary data in memory (2); every other
    /// write transaction, even right after a batch, with the default (0).
    #[tokio::test]
    async fn ingest_batches_alone_keep_temporary_data_in_memory() {
        let (_dir, store) = open_temp().await;
        assert_eq!(temp_store_in(&store, BEGIN_INGEST).await, 2);
        assert_eq!(temp_store_in(&store, BEGIN_WRITE).await, 0);

        // A batch (two unknown agents: both refused) through that begin.
        let out = store.ingest_batch(&[item("a"), item("b")]).await.unwrap();
        assert_eq!(out.outcomes, vec![IngestOutcome::Refused(None); 2]);
        assert_eq!(
            pragma(&store.write, "temp_store").await,
            2,
            "the batch's setting outlasts it on the connection"
        );
        assert_eq!(temp_store_in(&store, BEGIN_WRITE).await, 0);
    }

    /// The writer checkpoints every 10,000 WAL pages, not SQLite's 1,000,
    /// and a reset WAL is cut back to 64 MiB.
    #[tokio::test]
    async fn the_writer_checkpoints_a_larger_wal() {
        let (_dir, store) = open_temp().await;
        for pool in [&store.write, &store.read] {
            assert_eq!(pragma(pool, "wal_autocheckpoint").await, 10_000);
            assert_eq!(pragma(pool, "journal_size_limit").await, 64 << 20);
        }
    }
}
