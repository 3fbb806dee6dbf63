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
            .pragma("cache_size", "-16000");
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
            begin = "BEGIN IMMEDIATE",
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

crate::store::batch::impl_ingest_batch!(Sqlite, lock = "");
crate::store::sql::impl_store!(SqliteStore, Sqlite, begin = "BEGIN IMMEDIATE", lock = "");
crate::store::sets::impl_set_writes!(Sqlite);
crate::store::drift::impl_drift_store!(
    SqliteStore,
    Sqlite,
    begin = "BEGIN IMMEDIATE",
    skip_locked = ""
);

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
crate::store::vuln::impl_vuln_store!(SqliteStore, Sqlite, begin = "BEGIN IMMEDIATE", lock = "");
crate::store::guard::impl_host_store!(SqliteStore);
crate::store::retention::impl_retention_store!(SqliteStore, Sqlite, begin = "BEGIN IMMEDIATE");
crate::store::bulk::impl_bulk_store!(SqliteStore, Sqlite, begin = "BEGIN IMMEDIATE", lock = "");

crate::store::console::impl_console_store!(SqliteStore, begin = "BEGIN IMMEDIATE");
crate::store::console_pages::impl_console_pages!(SqliteStore, begin = "BEGIN IMMEDIATE");
