//! The one migration runner, for both backends. Migrations are SQL files
//! embedded from `collector/migrations/{sqlite,postgres}/NNNN_name.sql`, one
//! list of versions for both (each backend has its own dialect of every
//! file). All pending migrations run in one transaction, recorded in
//! `evident_migrations`; on PostgreSQL an advisory lock held by that
//! transaction serialises replicas starting together (SQLite's
//! `BEGIN IMMEDIATE` already excludes other writers).
//!
//! Adding a migration: write both SQL files and add one line to
//! [`migrations!`].

/// An embedded migration.
pub(crate) struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// The migrations of one backend (`"sqlite"` or `"postgres"`), in order.
macro_rules! migrations {
    ($dir:literal) => {
        &[
            $crate::store::migrate::Migration {
                version: 1,
                description: "init",
                sql: include_str!(concat!("../../migrations/", $dir, "/0001_init.sql")),
            },
            $crate::store::migrate::Migration {
                version: 2,
                description: "drift",
                sql: include_str!(concat!("../../migrations/", $dir, "/0002_drift.sql")),
            },
            $crate::store::migrate::Migration {
                version: 3,
                description: "review",
                sql: include_str!(concat!("../../migrations/", $dir, "/0003_review.sql")),
            },
            $crate::store::migrate::Migration {
                version: 4,
                description: "policy files",
                sql: include_str!(concat!("../../migrations/", $dir, "/0004_policy_files.sql")),
            },
            $crate::store::migrate::Migration {
                version: 5,
                description: "query indexes",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0005_query_indexes.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 6,
                description: "retention",
                sql: include_str!(concat!("../../migrations/", $dir, "/0006_retention.sql")),
            },
            $crate::store::migrate::Migration {
                version: 7,
                description: "fleet status",
                sql: include_str!(concat!("../../migrations/", $dir, "/0007_fleet_status.sql")),
            },
            $crate::store::migrate::Migration {
                version: 10,
                description: "store identity",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0010_store_identity.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 11,
                description: "host identity",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0011_host_identity.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 12,
                description: "api tokens",
                sql: include_str!(concat!("../../migrations/", $dir, "/0012_api_tokens.sql")),
            },
            $crate::store::migrate::Migration {
                version: 20,
                description: "attester revocation",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0020_attester_revocation.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 30,
                description: "statement days",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0030_statement_days.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 40,
                description: "vulnerability feed snapshots",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0040_vuln_snapshots.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 50,
                description: "console",
                sql: include_str!(concat!("../../migrations/", $dir, "/0050_console.sql")),
            },
            $crate::store::migrate::Migration {
                version: 60,
                description: "outbox failed",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0060_outbox_failed.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 80,
                description: "alert statements",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0080_alert_statements.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 90,
                description: "envelope templates",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0090_envelope_templates.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 100,
                description: "vulnerability first seen",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0100_vuln_first_seen.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 110,
                description: "console indexes",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0110_console_indexes.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 140,
                description: "vulnerability fleet counts",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0140_vuln_fleet_counts.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 150,
                description: "blob encoding",
                sql: include_str!(concat!(
                    "../../migrations/",
                    $dir,
                    "/0150_blob_encoding.sql"
                )),
            },
            $crate::store::migrate::Migration {
                version: 160,
                description: "blob deltas",
                sql: include_str!(concat!("../../migrations/", $dir, "/0160_blob_deltas.sql")),
            },
            $crate::store::migrate::Migration {
                version: 170,
                description: "room for in-place updates",
                sql: include_str!(concat!("../../migrations/", $dir, "/0170_hot_rows.sql")),
            },
            $crate::store::migrate::Migration {
                version: 180,
                description: "drift heads",
                sql: include_str!(concat!("../../migrations/", $dir, "/0180_drift_heads.sql")),
            },
        ]
    };
}
pub(crate) use migrations;

/// Apply the pending migrations of `$list` on `$pool` in one transaction
/// begun with `$begin`, after running `$lock` (bound to [`MIGRATION_LOCK`])
/// when it is not empty.
macro_rules! run_migrations {
    ($db:ty, $pool:expr, $list:expr, begin = $begin:expr, lock = $lock:literal) => {{
        let pool: &sqlx::Pool<$db> = $pool;
        let list: &[$crate::store::migrate::Migration] = $list;
        let mut tx = pool.begin_with($begin).await?;
        if !$lock.is_empty() {
            sqlx::query($lock)
                .bind($crate::store::migrate::MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS evident_migrations \
             (version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        for m in list {
            let done = sqlx::query("SELECT 1 FROM evident_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_some() {
                continue;
            }
            sqlx::raw_sql(m.sql)
                .execute(&mut *tx)
                .await
                .map_err(|source| $crate::store::StoreError::Migration {
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
        Ok::<(), $crate::store::StoreError>(())
    }};
}
pub(crate) use run_migrations;

/// Advisory lock key serialising migrations across PostgreSQL replicas.
pub(crate) const MIGRATION_LOCK: i64 = 0x6576_6964_656e_7401;
