//! The SQLite store: one file under the data directory, WAL journal,
//! `synchronous = NORMAL`, one writer connection (the ingest writer batches
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
    const ANALYZE: &'static str = "PRAGMA optimize";

    /// Open (creating if missing) and migrate.
    pub async fn open(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<SqliteStore, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(timeout)
            // Statement rows are ~3 KB: with 4 KB pages each would fill a page
            // alone. 32 KB pages (set when the file is created) pack ten.
            .page_size(32768)
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

crate::store::sql::impl_store!(SqliteStore, Sqlite, begin = "BEGIN IMMEDIATE", lock = "");
crate::store::drift::impl_drift_store!(
    SqliteStore,
    Sqlite,
    begin = "BEGIN IMMEDIATE",
    skip_locked = ""
);
crate::store::retention::impl_retention_store!(SqliteStore, Sqlite, begin = "BEGIN IMMEDIATE");
