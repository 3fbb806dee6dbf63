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

const MIGRATIONS: &[crate::store::migrate::Migration] =
    crate::store::migrate::migrations!("postgres");

impl PgStore {
    const KIND: &'static str = "postgres";
    const ANALYZE: &'static str = "ANALYZE";

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
        crate::store::migrate::run_migrations!(
            Postgres,
            &self.write,
            MIGRATIONS,
            begin = "BEGIN",
            lock = "SELECT pg_advisory_xact_lock($1)"
        )
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
crate::store::retention::impl_retention_store!(PgStore, Postgres, begin = "BEGIN");
