//! Storage for the web console (issue 15, migration 50): browser sessions
//! (stored by the sha256 of their id), the per host × subject latest status
//! (`host_status`, kept by the ingest transaction in `drift.rs`) and the
//! daily fleet trend (`fleet_trend`). Every query here reads an index; none
//! scans statement history. The SQL is shared by both backends
//! ([`impl_console_store!`]).

use super::StoreError;
use async_trait::async_trait;

/// A signed-in browser session as stored (never its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// `admin`, `operator` or `auditor`.
    pub scope: String,
    /// Who signed in (the token's id and name), recorded on acknowledgements.
    pub actor: String,
    /// The synchronizer CSRF token of this session's forms.
    pub csrf: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; the session is refused from then on.
    pub expires_at: i64,
}

/// One host's latest status of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectHost {
    /// Agent id.
    pub agent_id: String,
    /// Host name (agent-supplied: escape when shown).
    pub hostname: String,
    /// Status.
    pub status: String,
    /// Unix ms since when it has had this status (as seen by the collector).
    pub since: i64,
    /// The host's latest statement (envelope digest): the evidence the
    /// status rests on.
    pub statement: Option<evident_core::Digest>,
    /// When that statement was collected (Unix ms).
    pub collected_at: Option<i64>,
}

/// One (day, status, hosts) point of the fleet trend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrendPoint {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Status.
    pub status: String,
    /// Host × control pairs (fleet) or hosts (one control) in that status.
    pub hosts: i64,
}

/// Console storage.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Store a new session under the sha256 of its id.
    async fn create_session(&self, id_hash: &[u8; 32], s: &SessionRecord)
        -> Result<(), StoreError>;
    /// The unexpired session with this id hash at `now`.
    async fn session(
        &self,
        id_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Sign out: delete the session.
    async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Delete at most `limit` sessions expired at `now` (one batch, by
    /// the expiry index); how many.
    async fn expire_sessions(&self, now: i64, limit: i64) -> Result<u64, StoreError>;
    /// The id and name of the unrevoked API token with this hash.
    async fn api_token_actor(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<(String, String)>, StoreError>;
    /// Active hosts whose latest status of `subject` is `status` (any
    /// status when None), by agent id after `after`, at most `limit`.
    async fn subject_hosts(
        &self,
        subject: &str,
        status: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SubjectHost>, StoreError>;
    /// Number of active agents.
    async fn active_hosts(&self) -> Result<i64, StoreError>;
    /// Number of alerts in `state` (an index count, not a list).
    async fn alerts_in_state(&self, state: &str) -> Result<i64, StoreError>;
    /// Latest statuses of `agents` for subjects starting with `prefix`:
    /// `(agent id, subject, status)`.
    async fn host_statuses(
        &self,
        agents: &[String],
        prefix: &str,
    ) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Copy fleet_status's control rows into `fleet_trend` for `day`.
    async fn snapshot_trend(&self, day: &str) -> Result<(), StoreError>;
    /// The trend from `since_day` on: every control summed (None) or one
    /// control subject.
    async fn trend(
        &self,
        subject: Option<&str>,
        since_day: &str,
    ) -> Result<Vec<TrendPoint>, StoreError>;
}

/// The SQL both backends share.
macro_rules! impl_console_store {
    ($ty:ty, begin = $begin:expr) => {
        #[async_trait::async_trait]
        impl crate::store::console::ConsoleStore for $ty {
            async fn create_session(
                &self,
                id_hash: &[u8; 32],
                s: &crate::store::console::SessionRecord,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO console_sessions (id_hash, scope, actor, csrf, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id_hash.as_slice())
                .bind(&s.scope)
                .bind(&s.actor)
                .bind(&s.csrf)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                id_hash: &[u8; 32],
                now: i64,
            ) -> Result<Option<crate::store::console::SessionRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT scope, actor, csrf, created_at, expires_at FROM console_sessions \
                     WHERE id_hash = $1 AND expires_at > $2",
                )
                .bind(id_hash.as_slice())
                .bind(now)
                .fetch_optional(&self.read)
                .await?;
                row.map(|r| {
                    Ok(crate::store::console::SessionRecord {
                        scope: r.try_get(0)?,
                        actor: r.try_get(1)?,
                        csrf: r.try_get(2)?,
                        created_at: r.try_get(3)?,
                        expires_at: r.try_get(4)?,
                    })
                })
                .transpose()
            }

            async fn delete_session(&self, id_hash: &[u8; 32]) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
                    .bind(id_hash.as_slice())
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn expire_sessions(&self, now: i64, limit: i64) -> Result<u64, StoreError> {
                let r = sqlx::query(
                    "DELETE FROM console_sessions WHERE id_hash IN \
                     (SELECT id_hash FROM console_sessions WHERE expires_at <= $1 LIMIT $2)",
                )
                .bind(now)
                .bind(limit)
                .execute(&self.write)
                .await?;
                Ok(r.rows_affected())
            }

            async fn api_token_actor(
                &self,
                hash: &[u8; 32],
            ) -> Result<Option<(String, String)>, StoreError> {
                let row = sqlx::query(
                    "SELECT id, name FROM api_tokens WHERE token_hash = $1 AND revoked = 0",
                )
                .bind(hash.as_slice())
                .fetch_optional(&self.read)
                .await?;
                row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
            }

            async fn subject_hosts(
                &self,
                subject: &str,
                status: Option<&str>,
                after: Option<&str>,
                limit: i64,
            ) -> Result<Vec<crate::store::console::SubjectHost>, StoreError> {
                // One statement per filter shape, so each uses the
                // (subject, status, agent_id) index.
                let after = after.unwrap_or("");
                let rows = match status {
                    Some(status) => sqlx::query(
                        "SELECT h.agent_id, a.hostname, h.status, h.since, a.last_digest, a.latest_collected_at FROM host_status h \
                         JOIN agents a ON a.id = h.agent_id \
                         WHERE h.subject = $1 AND h.status = $2 AND h.agent_id > $3 AND a.status = 'active' \
                         ORDER BY h.agent_id LIMIT $4",
                    )
                    .bind(subject)
                    .bind(status)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?,
                    None => sqlx::query(
                        "SELECT h.agent_id, a.hostname, h.status, h.since, a.last_digest, a.latest_collected_at FROM host_status h \
                         JOIN agents a ON a.id = h.agent_id \
                         WHERE h.subject = $1 AND h.agent_id > $2 AND a.status = 'active' \
                         ORDER BY h.agent_id LIMIT $3",
                    )
                    .bind(subject)
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?,
                };
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::console::SubjectHost {
                            agent_id: r.try_get(0)?,
                            hostname: r.try_get(1)?,
                            status: r.try_get(2)?,
                            since: r.try_get(3)?,
                            statement: r
                                .try_get::<Option<Vec<u8>>, _>(4)?
                                .map(|b| crate::store::digest_from(&b))
                                .transpose()?,
                            collected_at: r.try_get(5)?,
                        })
                    })
                    .collect()
            }

            async fn active_hosts(&self) -> Result<i64, StoreError> {
                let row = sqlx::query("SELECT COUNT(*) FROM agents WHERE status = 'active'")
                    .fetch_one(&self.read)
                    .await?;
                Ok(row.try_get(0)?)
            }

            async fn alerts_in_state(&self, state: &str) -> Result<i64, StoreError> {
                let row = sqlx::query("SELECT COUNT(*) FROM alerts WHERE state = $1")
                    .bind(state)
                    .fetch_one(&self.read)
                    .await?;
                Ok(row.try_get(0)?)
            }

            async fn host_statuses(
                &self,
                agents: &[String],
                prefix: &str,
            ) -> Result<Vec<(String, String, String)>, StoreError> {
                let mut out = Vec::new();
                // Bounded IN lists (a page of hosts), one index lookup each.
                for chunk in agents.chunks(100) {
                    let sql = format!(
                        "SELECT agent_id, subject, status FROM host_status \
                         WHERE substr(subject, 1, length($1)) = $1 AND agent_id IN ({})",
                        (0..chunk.len()).map(|i| format!("${}", i + 2)).collect::<Vec<_>>().join(", ")
                    );
                    let mut q = sqlx::query(&sql).bind(prefix);
                    for a in chunk {
                        q = q.bind(a);
                    }
                    for r in q.fetch_all(&self.read).await? {
                        out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
                    }
                }
                Ok(out)
            }

            async fn snapshot_trend(&self, day: &str) -> Result<(), StoreError> {
                let mut tx = self.write.begin_with($begin).await?;
                sqlx::query("DELETE FROM fleet_trend WHERE day = $1")
                    .bind(day)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO fleet_trend (day, subject, status, hosts) \
                     SELECT $1, subject, status, hosts FROM fleet_status \
                     WHERE hosts > 0 AND subject LIKE 'control:%'",
                )
                .bind(day)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn trend(
                &self,
                subject: Option<&str>,
                since_day: &str,
            ) -> Result<Vec<crate::store::console::TrendPoint>, StoreError> {
                let rows = match subject {
                    Some(s) => sqlx::query(
                        "SELECT day, status, hosts FROM fleet_trend WHERE subject = $1 AND day >= $2 \
                         ORDER BY day, status",
                    )
                    .bind(s)
                    .bind(since_day)
                    .fetch_all(&self.read)
                    .await?,
                    None => sqlx::query(
                        "SELECT day, status, CAST(SUM(hosts) AS BIGINT) FROM fleet_trend WHERE day >= $1 \
                         GROUP BY day, status ORDER BY day, status",
                    )
                    .bind(since_day)
                    .fetch_all(&self.read)
                    .await?,
                };
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::console::TrendPoint {
                            day: r.try_get(0)?,
                            status: r.try_get(1)?,
                            hosts: r.try_get(2)?,
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use impl_console_store;
