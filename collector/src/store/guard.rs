//! The store knows itself: an initialised data directory records the
//! identity of its database (`DIR/store.id`, the same id as the database's
//! `store_identity` row), and [`open_checked`] refuses a missing, fresh or
//! different database instead of creating one. For SQLite it also refuses a
//! database whose write-ahead log was lost after a crash (the `-shm` index
//! still names frames never copied into the database file), and it offers
//! the integrity check (`PRAGMA quick_check` / `integrity_check`) and the
//! online backup (`VACUUM INTO`) behind `/readyz`, `db check` and
//! `db backup`.

use super::{Store, StoreError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The file in the data directory naming its database's identity.
pub const ID_FILE: &str = "store.id";

/// How SQLite commits reach the disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `FULL`: an acknowledged commit survives power loss (the default).
    #[default]
    Full,
    /// `NORMAL`: survives a crash of the process, not of the machine.
    Normal,
}

/// What concerns the database as a whole: identity, integrity, backup.
#[async_trait]
pub trait GuardStore: Send + Sync {
    /// The identity recorded in the database (None: a fresh database).
    async fn store_identity(&self) -> Result<Option<String>, StoreError>;
    /// Record `id` as the database's identity (once).
    async fn set_store_identity(&self, id: &str, now: i64) -> Result<(), StoreError>;
    /// An integrity check: the problems found (at most `max`); empty when
    /// healthy. `full` reads every index entry too (SQLite
    /// `integrity_check`; otherwise `quick_check`).
    async fn integrity_problems(&self, full: bool, max: u32) -> Result<Vec<String>, StoreError>;
    /// A consistent copy of the live database written to `to` (SQLite
    /// `VACUUM INTO`); PostgreSQL answers with the `pg_dump` to use.
    async fn backup_to(&self, to: &Path) -> Result<(), StoreError>;
}

/// Which agents a host (host name, machine id) enrolled as.
#[async_trait]
pub trait HostStore: Send + Sync {
    /// Agents enrolled with this host name or machine id (at most 100).
    async fn host_matches(
        &self,
        hostname: &str,
        machine_id: Option<&str>,
    ) -> Result<Vec<HostMatch>, StoreError>;
    /// Record the machine id an agent reported at enrollment.
    async fn set_machine_id(&self, agent_id: &str, machine_id: &str) -> Result<(), StoreError>;
}

/// An enrolled agent matching a host (see [`GuardStore::host_matches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMatch {
    /// Agent id.
    pub id: String,
    /// Its key id.
    pub key_id: String,
    /// `active`, `pending` or `revoked`.
    pub status: String,
    /// Host name it enrolled with.
    pub hostname: String,
    /// Machine id it enrolled with.
    pub machine_id: Option<String>,
}

/// The host-matching SQL both backends share.
macro_rules! impl_host_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl crate::store::guard::HostStore for $ty {
        async fn host_matches(
            &self,
            hostname: &str,
            machine_id: Option<&str>,
        ) -> Result<Vec<crate::store::guard::HostMatch>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, key_id, status, hostname, machine_id FROM agents \
                 WHERE hostname = $1 OR ($2 IS NOT NULL AND machine_id = $2) ORDER BY id LIMIT 100",
            )
            .bind(hostname)
            .bind(machine_id)
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(crate::store::guard::HostMatch {
                        id: r.try_get(0)?,
                        key_id: r.try_get(1)?,
                        status: r.try_get(2)?,
                        hostname: r.try_get(3)?,
                        machine_id: r.try_get(4)?,
                    })
                })
                .collect()
        }

        async fn set_machine_id(&self, agent_id: &str, machine_id: &str) -> Result<(), StoreError> {
            sqlx::query("UPDATE agents SET machine_id = $2 WHERE id = $1")
                .bind(agent_id)
                .bind(machine_id)
                .execute(&self.write)
                .await?;
            Ok(())
        }
        }
    };
}
pub(crate) use impl_host_store;

/// The SQLite database file a URL names (None for PostgreSQL or memory).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// Frames the SQLite wal-index (`-shm`) says are in the WAL but not yet
/// copied into the database: `(copied, last)`; None when the index is
/// absent, unreadable or says nothing is pending.
///
/// Layout (sqlite.org/walformat.html): two copies of the 48-byte
/// `WalIndexHdr` (mxFrame, the last valid frame, at byte 16), then the
/// checkpoint info whose first field is nBackfill (byte 96), native order.
pub fn pending_wal_frames(shm: &Path) -> Option<(u32, u32)> {
    let bytes = std::fs::read(shm).ok()?;
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_ne_bytes)
    };
    let initialised = bytes.get(12).copied() == Some(1);
    let max_frame = u32_at(16)?;
    let backfilled = u32_at(96)?;
    (initialised && max_frame > backfilled).then_some((backfilled, max_frame))
}

/// Refuse a SQLite database whose WAL was lost: the index still names
/// frames the database file never received.
fn check_wal(db: &Path) -> Result<(), StoreError> {
    let shm = PathBuf::from(format!("{}-shm", db.display()));
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    if wal_len > 32 {
        return Ok(());
    }
    if let Some((copied, last)) = pending_wal_frames(&shm) {
        return Err(StoreError::Identity(format!(
            "the write-ahead log {} is missing or empty, but its index {} says frames {} to {last} \
             were never copied into {}: commits acknowledged to agents are lost. Restore the \
             database from a backup (`evident-collector db backup`), or accept the loss by \
             deleting {} and starting again",
            wal.display(),
            shm.display(),
            copied + 1,
            db.display(),
            shm.display()
        )));
    }
    Ok(())
}

/// The identity a data directory records, if it was initialised with one.
pub fn recorded_identity(dir: &Path) -> Result<Option<String>, StoreError> {
    let path = dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::Identity(format!("{}: {e}", path.display()))),
    }
}

/// Open the store of data directory `dir` at `url`, refusing a missing,
/// fresh or different database and (SQLite) a lost write-ahead log. A
/// directory without `store.id` (made before identities existed, or by
/// `init` now) adopts the database's identity, creating one if needed.
pub async fn open_checked(
    dir: &Path,
    url: &str,
    max_connections: u32,
    timeout: Duration,
    durability: Durability,
) -> Result<Arc<dyn Store>, StoreError> {
    let expected = recorded_identity(dir)?;
    if let Some(db) = sqlite_path(url) {
        if let Some(id) = &expected {
            if !db.exists() {
                return Err(StoreError::Identity(format!(
                    "the database {} is missing, but {} was initialised with store {id}: \
                     refusing to start with a new, empty database. Restore it from a backup \
                     (`evident-collector db backup`), or point `database` at the right one",
                    db.display(),
                    dir.display()
                )));
            }
        }
        check_wal(&db)?;
    }
    let store = super::open_with(url, max_connections, timeout, durability).await?;
    let found = store.store_identity().await?;
    match (&expected, found) {
        (Some(e), Some(f)) if *e == f => {}
        (Some(e), Some(f)) => {
            store.close().await;
            return Err(StoreError::Identity(format!(
                "{} is store {e} but the database at {} is store {f}: a different database; \
                 refusing to use it",
                dir.display(),
                crate::server::redact_url(url)
            )));
        }
        (Some(e), None) => {
            store.close().await;
            return Err(StoreError::Identity(format!(
                "{} is store {e} but the database at {} has no identity (it is new or was \
                 replaced): refusing to use it. Restore the database from a backup",
                dir.display(),
                crate::server::redact_url(url)
            )));
        }
        (None, found) => {
            let id = match found {
                Some(f) => f,
                None => {
                    let id = format!("st_{}", crate::service::random_hex(16));
                    store
                        .set_store_identity(&id, chrono::Utc::now().timestamp_millis())
                        .await?;
                    id
                }
            };
            let path = dir.join(ID_FILE);
            std::fs::write(&path, format!("{id}\n"))
                .map_err(|e| StoreError::Identity(format!("{}: {e}", path.display())))?;
        }
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_from_urls() {
        assert_eq!(
            sqlite_path("sqlite:///d/evident.db"),
            Some(PathBuf::from("/d/evident.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:x.db?mode=rwc"),
            Some(PathBuf::from("x.db"))
        );
        assert_eq!(sqlite_path("postgres://h/db"), None);
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }

    #[test]
    fn the_wal_index_names_pending_frames() {
        let dir = tempfile::tempdir().unwrap();
        let shm = dir.path().join("x-shm");
        let mut b = vec![0u8; 136];
        b[12] = 1;
        b[16..20].copy_from_slice(&7u32.to_ne_bytes());
        b[96..100].copy_from_slice(&3u32.to_ne_bytes());
        std::fs::write(&shm, &b).unwrap();
        assert_eq!(pending_wal_frames(&shm), Some((3, 7)));
        b[96..100].copy_from_slice(&7u32.to_ne_bytes());
        std::fs::write(&shm, &b).unwrap();
        assert_eq!(pending_wal_frames(&shm), None);
        assert_eq!(pending_wal_frames(&dir.path().join("absent")), None);
        std::fs::write(&shm, b"short").unwrap();
        assert_eq!(pending_wal_frames(&shm), None);
    }
}
