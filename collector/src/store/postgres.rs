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

/// The tables whose planner statistics are due (`refresh_statistics`):
/// PostgreSQL's own autoanalyze rule with its defaults (rows inserted,
/// updated or deleted since the last `ANALYZE` ≥ 50 + 10 % of the live
/// rows), for this schema's tables, quoted for the `ANALYZE` that follows.
///
/// Why not a plain `ANALYZE` of everything on a timer: a table analyzed
/// while empty is recorded as empty (0 rows, 0 pages), which switches off
/// the planner's "never analyzed: assume at least 10 pages", and a prepared
/// statement's generic plan built on the next few rows is then a
/// sequential scan, kept until the table is analyzed again. Measured at
/// 50,000 hosts (session 12): `envelope_templates`, empty through the
/// first round, analyzed then, filled by the next round's 50,000 runs while
/// each run's template lookup scanned the whole table (433 heap pages a
/// run; PostgreSQL's CPU per run 310 → 1,900 µs). A table is analyzed once
/// it has rows and again each time it has grown by a tenth, so a generic
/// plan is rebuilt as the table grows, whether or not autovacuum runs.
const STATISTICS_DUE: &str =
    "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables \
     WHERE schemaname = current_schema() AND n_mod_since_analyze >= 50 + 0.1 * n_live_tup \
     ORDER BY relname";

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
        crate::store::migrate::run_migrations!(
            Postgres,
            &self.write,
            MIGRATIONS,
            begin = "BEGIN",
            lock = "SELECT pg_advisory_xact_lock($1)"
        )
    }

    /// `ANALYZE` the tables that have changed enough since their last one
    /// ([`STATISTICS_DUE`]); returns how many.
    async fn refresh_statistics_impl(&self) -> Result<usize, StoreError> {
        let due: Vec<String> = sqlx::query_scalar(STATISTICS_DUE)
            .fetch_all(&self.write)
            .await?;
        if !due.is_empty() {
            sqlx::raw_sql(&format!("ANALYZE {}", due.join(", ")))
                .execute(&self.write)
                .await?;
        }
        Ok(due.len())
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

crate::store::batch::impl_ingest_batch!(Postgres, lock = " FOR UPDATE", drift_head = "");
crate::store::sql::impl_store!(
    PgStore,
    Postgres,
    begin = "BEGIN",
    ingest_begin = "BEGIN",
    lock = " FOR UPDATE"
);
crate::store::sets::impl_set_writes!(Postgres);
crate::store::drift::impl_drift_store!(
    PgStore,
    Postgres,
    begin = "BEGIN",
    skip_locked = " FOR UPDATE SKIP LOCKED"
);

#[async_trait::async_trait]
impl crate::store::GuardStore for PgStore {
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

    /// PostgreSQL checks its own pages; here: every table of the schema
    /// can be read to its end (a damaged heap page fails the scan).
    async fn integrity_problems(&self, _full: bool, max: u32) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for table in [
            "agents",
            "enroll_tokens",
            "statements",
            "envelope_templates",
            "blobs",
            "results",
            "store_identity",
        ] {
            if let Err(e) = sqlx::query(&format!("SELECT count(*) FROM {table}"))
                .fetch_one(&self.read)
                .await
            {
                out.push(format!("{table}: {e}"));
            }
            if out.len() >= max as usize {
                break;
            }
        }
        Ok(out)
    }

    async fn backup_to(&self, _to: &std::path::Path) -> Result<(), StoreError> {
        Err(StoreError::Unsupported(
            "PostgreSQL: back up with `pg_dump --format=custom --file=evident.dump DATABASE_URL` \
             and restore with `pg_restore --dbname=NEW_DATABASE_URL evident.dump` (see README)"
                .into(),
        ))
    }
}

crate::store::access::impl_access_store!(PgStore);
crate::store::vuln::impl_vuln_store!(PgStore, Postgres, begin = "BEGIN", lock = " FOR UPDATE");
crate::store::guard::impl_host_store!(PgStore);
crate::store::retention::impl_retention_store!(PgStore, Postgres, begin = "BEGIN");
crate::store::bulk::impl_bulk_store!(
    PgStore,
    Postgres,
    begin = "BEGIN",
    lock = " FOR UPDATE OF a"
);

crate::store::console::impl_console_store!(PgStore, begin = "BEGIN");
crate::store::console_pages::impl_console_pages!(PgStore, begin = "BEGIN");
