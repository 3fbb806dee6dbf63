//! The PostgreSQL store: several collector replicas may share one database.
//! Ingest takes a row lock on the agent (`FOR UPDATE`) so sequence and chain
//! checks stay exact across replicas; migrations run under an advisory lock.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Postgres};
use std::str::FromStr;
use std::time::Duration;

/// PostgreSQL-backed [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    write: Pool<Postgres>,
    read: Pool<Postgres>,
}

const MIGRATIONS: &[crate::store::Migration] = &[
    crate::store::Migration {
        version: 1,
        description: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    crate::store::Migration {
        version: 2,
        description: "drift",
        sql: include_str!("../../migrations/postgres/0002_drift.sql"),
    },
    crate::store::Migration {
        version: 3,
        description: "review",
        sql: include_str!("../../migrations/postgres/0003_review.sql"),
    },
    crate::store::Migration {
        version: 4,
        description: "policy files",
        sql: include_str!("../../migrations/postgres/0004_policy_files.sql"),
    },
];

/// Advisory lock key serialising migrations across replicas.
const MIGRATION_LOCK: i64 = 0x6576_6964_656e_7401;

impl PgStore {
    const KIND: &'static str = "postgres";

    /// Connect and migrate.
    pub async fn open(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<PgStore, StoreError> {
        let opts = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(timeout)
            .connect_with(opts)
            .await?;
        let store = PgStore {
            write: pool.clone(),
            read: pool,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS evident_migrations \
             (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        for m in MIGRATIONS {
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
        }
        tx.commit().await?;
        Ok(())
    }

    async fn storage_bytes_impl(&self) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind = 'r'",
        )
        .fetch_one(&self.read)
        .await?;
        let bytes: i64 = row.try_get(0)?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }
}

crate::store::sql::impl_store!(PgStore, Postgres, begin = "BEGIN", lock = " FOR UPDATE");
crate::store::drift::impl_drift_store!(
    PgStore,
    Postgres,
    begin = "BEGIN",
    skip_locked = " FOR UPDATE SKIP LOCKED"
);
