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

const MIGRATIONS: &[crate::store::Migration] = &[
    crate::store::Migration {
        version: 1,
        description: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    crate::store::Migration {
        version: 2,
        description: "drift",
        sql: include_str!("../../migrations/sqlite/0002_drift.sql"),
    },
    crate::store::Migration {
        version: 3,
        description: "review",
        sql: include_str!("../../migrations/sqlite/0003_review.sql"),
    },
    crate::store::Migration {
        version: 4,
        description: "policy files",
        sql: include_str!("../../migrations/sqlite/0004_policy_files.sql"),
    },
];

impl SqliteStore {
    const KIND: &'static str = "sqlite";

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
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS evident_migrations \
             (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&self.write)
        .await?;
        for m in MIGRATIONS {
            let mut tx = self.write.begin_with("BEGIN IMMEDIATE").await?;
            let done = sqlx::query("SELECT 1 FROM evident_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_none() {
                sqlx::raw_sql(m.sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(|source| StoreError::Migration {
                        version: m.version,
                        source,
                    })?;
                sqlx::query(
                    "INSERT INTO evident_migrations (version, description, applied_at) VALUES ($1, $2, $3)",
                )
                .bind(m.version)
                .bind(m.description)
                .bind(chrono::Utc::now().timestamp_millis())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
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
