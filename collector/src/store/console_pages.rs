//! The console's paged reads at fleet size (issue 15, migration 110): the
//! rule × host matrix read page by page from a cursor in index order (by
//! host name, or by one rule's status through the `host_status_rank`
//! expression index), the alerts list paged by id with its filters and its
//! counts read from indexes, and the inputs of the trend backfill (which
//! days have a trend, each active host's latest results as of a past day
//! from `statement_days`). No query here sorts or scans more than a page,
//! except the counts, which read one index range.

use super::drift::AlertRecord;
use super::StoreError;
use async_trait::async_trait;

/// The status rank the matrix sorts a rule by (failing first); the same
/// expression as the `host_status_rank` index of migration 110, so the
/// planner reads the index in order instead of sorting.
pub const MATRIX_RANK: &str = "(CASE h.status WHEN 'fail' THEN 0 WHEN 'error' THEN 1 \
     WHEN 'no-evidence' THEN 2 WHEN 'waived' THEN 3 WHEN 'not-applicable' THEN 4 ELSE 5 END)";

/// The rank of an active host with no status of the rule at all (listed
/// after every host that has one).
pub const MISSING_RANK: i64 = 6;

/// The rank [`MATRIX_RANK`] gives `status`.
pub fn matrix_rank(status: &str) -> i64 {
    match status {
        "fail" => 0,
        "error" => 1,
        "no-evidence" => 2,
        "waived" => 3,
        "not-applicable" => 4,
        _ => 5,
    }
}

/// The order of the matrix page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatrixOrder<'a> {
    /// By host name (then agent id), descending when `desc`.
    Host {
        /// Descending.
        desc: bool,
    },
    /// By the hosts' status of this subject (`rule:ID`, failing first),
    /// then agent id; hosts without a status of it last.
    Rule {
        /// The subject.
        subject: &'a str,
    },
}

/// One host row of the matrix and its position in the page order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixKey {
    /// [`matrix_rank`] of the host's status (rule order; 0 by host name).
    pub rank: i64,
    /// Host name (agent-supplied: escape when shown).
    pub hostname: String,
    /// Agent id.
    pub agent_id: String,
}

/// Which alerts the alerts page lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// `open`, `acknowledged` or `resolved` (None: every state).
    pub state: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this host (agent id or host name).
    pub host: Option<String>,
}

/// A position in the alerts list (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertCursor {
    /// The page of alerts older than this id.
    Older(i64),
    /// The page of alerts newer than this id.
    Newer(i64),
}

/// Console reads that page through an index.
#[async_trait]
pub trait ConsolePageStore: Send + Sync {
    /// At most `limit` active hosts in `order`, after the key (`before`
    /// false) or before it (`before` true), in page order.
    async fn matrix_page(
        &self,
        order: MatrixOrder<'_>,
        at: Option<(&MatrixKey, bool)>,
        limit: i64,
    ) -> Result<Vec<MatrixKey>, StoreError>;
    /// At most `limit` alerts matching `filter`, newest first, from `at`.
    async fn alerts_page(
        &self,
        filter: &AlertFilter,
        at: Option<AlertCursor>,
        limit: i64,
    ) -> Result<Vec<AlertRecord>, StoreError>;
    /// How many alerts match `filter` (an index range count).
    async fn alerts_count(&self, filter: &AlertFilter) -> Result<i64, StoreError>;
    /// The alert kinds present (one index probe per kind).
    async fn alert_kinds(&self) -> Result<Vec<String>, StoreError>;
    /// The days from `since_day` on (`YYYY-MM-DD`) with a trend recorded
    /// (one index probe per day).
    async fn trend_days(&self, since_day: &str) -> Result<Vec<String>, StoreError>;
    /// Active hosts after `after` (agent id order, at most `limit`) with
    /// the results digest of their last statement collected by the end of
    /// UTC day number `day` (days since the epoch), from `statement_days`;
    /// hosts without one are left out. `(agent id, results)`.
    async fn results_as_of_day(
        &self,
        day: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, Option<evident_core::Digest>)>, StoreError>;
    /// The trend recorded for `day` (`YYYY-MM-DD`): (control subject,
    /// status, hosts).
    async fn trend_day(&self, day: &str) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// Write the trend of `day` (control subject, status, hosts) unless
    /// that day has one already; whether it was written.
    async fn backfill_trend_day(
        &self,
        day: &str,
        rows: &[(String, String, i64)],
    ) -> Result<bool, StoreError>;
}

/// The SQL both backends share (expanded where `impl_drift_store!` is, for
/// `ALERT_COLS` and `alert_from_row`).
macro_rules! impl_console_pages {
    ($ty:ty, begin = $begin:expr) => {
        #[async_trait::async_trait]
        impl crate::store::console_pages::ConsolePageStore for $ty {
            async fn matrix_page(
                &self,
                order: crate::store::console_pages::MatrixOrder<'_>,
                at: Option<(&crate::store::console_pages::MatrixKey, bool)>,
                limit: i64,
            ) -> Result<Vec<crate::store::console_pages::MatrixKey>, StoreError> {
                use crate::store::console_pages::{MatrixKey, MatrixOrder, MATRIX_RANK, MISSING_RANK};
                let before = at.is_some_and(|a| a.1);
                match order {
                    MatrixOrder::Host { desc } => {
                        let ascending = desc == before;
                        let (op, dir) = if ascending { (">", "ASC") } else { ("<", "DESC") };
                        let rows = match at {
                            Some((k, _)) => {
                                let sql = format!(
                                    "SELECT id, hostname FROM agents WHERE status = 'active' \
                                     AND (hostname, id) {op} ($1, $2) ORDER BY hostname {dir}, id {dir} LIMIT $3"
                                );
                                sqlx::query(&sql)
                                    .bind(&k.hostname)
                                    .bind(&k.agent_id)
                                    .bind(limit)
                                    .fetch_all(&self.read)
                                    .await?
                            }
                            None => {
                                let sql = format!(
                                    "SELECT id, hostname FROM agents WHERE status = 'active' \
                                     ORDER BY hostname {dir}, id {dir} LIMIT $1"
                                );
                                sqlx::query(&sql).bind(limit).fetch_all(&self.read).await?
                            }
                        };
                        let mut out = rows
                            .iter()
                            .map(|r| Ok(MatrixKey { rank: 0, agent_id: r.try_get(0)?, hostname: r.try_get(1)? }))
                            .collect::<Result<Vec<_>, StoreError>>()?;
                        if before {
                            out.reverse();
                        }
                        Ok(out)
                    }
                    MatrixOrder::Rule { subject } => {
                        // Hosts with a status of the subject, in index order
                        // from a key: the rest of the key's rank (an index
                        // seek on subject, rank, agent id), then the ranks
                        // beyond it (a seek on subject, rank). CROSS JOIN
                        // keeps SQLite from driving the join from agents.
                        let ranked = |key: (i64, String), forward: bool, n: i64| {
                            let (op, dir) = if forward { (">", "ASC") } else { ("<", "DESC") };
                            let cols = format!(
                                "SELECT h.agent_id, a.hostname, CAST({MATRIX_RANK} AS BIGINT) FROM host_status h \
                                 CROSS JOIN agents a WHERE a.id = h.agent_id AND h.subject = $1 AND a.status = 'active'"
                            );
                            let same = format!(
                                "{cols} AND {MATRIX_RANK} = $2 AND h.agent_id {op} $3 ORDER BY h.agent_id {dir} LIMIT $4"
                            );
                            let beyond = format!(
                                "{cols} AND {MATRIX_RANK} {op} $2 ORDER BY {MATRIX_RANK} {dir}, h.agent_id {dir} LIMIT $3"
                            );
                            async move {
                                let mut rows = sqlx::query(&same)
                                    .bind(subject)
                                    .bind(key.0)
                                    .bind(&key.1)
                                    .bind(n)
                                    .fetch_all(&self.read)
                                    .await?;
                                let left = n - rows.len() as i64;
                                if left > 0 {
                                    rows.extend(
                                        sqlx::query(&beyond)
                                            .bind(subject)
                                            .bind(key.0)
                                            .bind(left)
                                            .fetch_all(&self.read)
                                            .await?,
                                    );
                                }
                                rows.iter()
                                    .map(|r| Ok(MatrixKey { agent_id: r.try_get(0)?, hostname: r.try_get(1)?, rank: r.try_get(2)? }))
                                    .collect::<Result<Vec<_>, StoreError>>()
                            }
                        };
                        // Active hosts with none, by agent id.
                        let missing = |id: String, forward: bool, n: i64| {
                            let (op, dir) = if forward { (">", "ASC") } else { ("<", "DESC") };
                            let sql = format!(
                                "SELECT a.id, a.hostname FROM agents a WHERE a.status = 'active' AND a.id {op} $2 \
                                 AND NOT EXISTS (SELECT 1 FROM host_status h WHERE h.agent_id = a.id AND h.subject = $1) \
                                 ORDER BY a.id {dir} LIMIT $3"
                            );
                            async move {
                                let rows = sqlx::query(&sql)
                                    .bind(subject)
                                    .bind(id)
                                    .bind(n)
                                    .fetch_all(&self.read)
                                    .await?;
                                rows.iter()
                                    .map(|r| Ok(MatrixKey { agent_id: r.try_get(0)?, hostname: r.try_get(1)?, rank: MISSING_RANK }))
                                    .collect::<Result<Vec<_>, StoreError>>()
                            }
                        };
                        let mut out = Vec::new();
                        match at {
                            Some((k, true)) => {
                                if k.rank >= MISSING_RANK {
                                    out = missing(k.agent_id.clone(), false, limit).await?;
                                }
                                let left = limit - out.len() as i64;
                                if left > 0 {
                                    let key = if k.rank >= MISSING_RANK {
                                        (MISSING_RANK, String::new())
                                    } else {
                                        (k.rank, k.agent_id.clone())
                                    };
                                    out.extend(ranked(key, false, left).await?);
                                }
                                out.reverse();
                            }
                            _ => {
                                let after = at.map(|a| a.0);
                                let in_missing = after.is_some_and(|k| k.rank >= MISSING_RANK);
                                if !in_missing {
                                    let key = after.map_or((-1, String::new()), |k| (k.rank, k.agent_id.clone()));
                                    out = ranked(key, true, limit).await?;
                                }
                                let left = limit - out.len() as i64;
                                if left > 0 {
                                    let from = after.filter(|_| in_missing).map_or(String::new(), |k| k.agent_id.clone());
                                    out.extend(missing(from, true, left).await?);
                                }
                            }
                        }
                        Ok(out)
                    }
                }
            }

            async fn alerts_page(
                &self,
                filter: &crate::store::console_pages::AlertFilter,
                at: Option<crate::store::console_pages::AlertCursor>,
                limit: i64,
            ) -> Result<Vec<AlertRecord>, StoreError> {
                use crate::store::console_pages::AlertCursor;
                let (cmp, cursor, dir) = match at {
                    None => ("<", i64::MAX, "DESC"),
                    Some(AlertCursor::Older(id)) => ("<", id, "DESC"),
                    Some(AlertCursor::Newer(id)) => (">", id, "ASC"),
                };
                let (clause, binds) = console_alert_filter(filter, 3);
                let sql = format!(
                    "SELECT {ALERT_COLS} FROM alerts a LEFT JOIN agents g ON g.id = a.agent_id \
                     WHERE a.id {cmp} $1{clause} ORDER BY a.id {dir} LIMIT $2"
                );
                let mut q = sqlx::query(&sql).bind(cursor).bind(limit);
                for b in binds {
                    q = q.bind(b);
                }
                let rows = q.fetch_all(&self.read).await?;
                let mut out = rows.iter().map(alert_from_row).collect::<Result<Vec<_>, _>>()?;
                if matches!(at, Some(AlertCursor::Newer(_))) {
                    out.reverse();
                }
                Ok(out)
            }

            async fn alerts_count(
                &self,
                filter: &crate::store::console_pages::AlertFilter,
            ) -> Result<i64, StoreError> {
                let (clause, binds) = console_alert_filter(filter, 1);
                let sql = format!("SELECT COUNT(*) FROM alerts a WHERE 1 = 1{clause}");
                let mut q = sqlx::query(&sql);
                for b in binds {
                    q = q.bind(b);
                }
                Ok(q.fetch_one(&self.read).await?.try_get(0)?)
            }

            async fn alert_kinds(&self) -> Result<Vec<String>, StoreError> {
                let mut out: Vec<String> = Vec::new();
                // A loose index scan of alerts_kind: one probe per kind.
                while out.len() < 64 {
                    let last = out.last().cloned().unwrap_or_default();
                    let row = sqlx::query("SELECT MIN(kind) FROM alerts WHERE kind > $1")
                        .bind(last)
                        .fetch_one(&self.read)
                        .await?;
                    match row.try_get::<Option<String>, _>(0)? {
                        Some(k) => out.push(k),
                        None => break,
                    }
                }
                Ok(out)
            }

            async fn trend_days(&self, since_day: &str) -> Result<Vec<String>, StoreError> {
                let mut out: Vec<String> = Vec::new();
                let mut last = String::new();
                // One probe of the (day, …) primary key per day.
                while out.len() < 10_000 {
                    let row = sqlx::query("SELECT MIN(day) FROM fleet_trend WHERE day >= $1 AND day > $2")
                        .bind(since_day)
                        .bind(&last)
                        .fetch_one(&self.read)
                        .await?;
                    match row.try_get::<Option<String>, _>(0)? {
                        Some(d) => {
                            last = d.clone();
                            out.push(d);
                        }
                        None => break,
                    }
                }
                Ok(out)
            }

            async fn results_as_of_day(
                &self,
                day: i64,
                after: &str,
                limit: i64,
            ) -> Result<Vec<(String, Option<evident_core::Digest>)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT a.id, (SELECT s.results FROM statement_days d JOIN statements s \
                       ON s.agent_id = d.agent_id AND s.sequence = d.last_sequence \
                       WHERE d.agent_id = a.id AND d.day <= $1 ORDER BY d.day DESC LIMIT 1) \
                     FROM agents a WHERE a.status = 'active' AND a.id > $2 ORDER BY a.id LIMIT $3",
                )
                .bind(day)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0)?,
                            r.try_get::<Option<Vec<u8>>, _>(1)?
                                .map(|b| crate::store::digest_from(&b))
                                .transpose()?,
                        ))
                    })
                    .collect()
            }

            async fn trend_day(&self, day: &str) -> Result<Vec<(String, String, i64)>, StoreError> {
                let rows = sqlx::query("SELECT subject, status, hosts FROM fleet_trend WHERE day = $1")
                    .bind(day)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect()
            }

            async fn backfill_trend_day(
                &self,
                day: &str,
                rows: &[(String, String, i64)],
            ) -> Result<bool, StoreError> {
                let mut tx = self.write.begin_with($begin).await?;
                let exists = sqlx::query("SELECT 1 FROM fleet_trend WHERE day = $1 LIMIT 1")
                    .bind(day)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_some() {
                    return Ok(false);
                }
                for (subject, status, hosts) in rows {
                    sqlx::query("INSERT INTO fleet_trend (day, subject, status, hosts) VALUES ($1, $2, $3, $4)")
                        .bind(day)
                        .bind(subject)
                        .bind(status)
                        .bind(hosts)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(true)
            }
        }

        /// The WHERE clause of an alert filter (each shape reads its own
        /// index: alerts_state, alerts_kind_state, alerts_kind,
        /// alerts_agent_state, alerts_agent) and its parameters, numbered
        /// from `$first`.
        fn console_alert_filter(
            f: &crate::store::console_pages::AlertFilter,
            first: usize,
        ) -> (String, Vec<String>) {
            let mut clause = String::new();
            let mut binds = Vec::new();
            let mut n = first;
            if let Some(s) = &f.state {
                clause.push_str(&format!(" AND a.state = ${n}"));
                binds.push(s.clone());
                n += 1;
            }
            if let Some(k) = &f.kind {
                clause.push_str(&format!(" AND a.kind = ${n}"));
                binds.push(k.clone());
                n += 1;
            }
            if let Some(h) = &f.host {
                clause.push_str(&format!(
                    " AND a.agent_id IN (SELECT id FROM agents WHERE id = ${n} \
                     UNION SELECT id FROM agents WHERE hostname = ${n})"
                ));
                binds.push(h.clone());
            }
            (clause, binds)
        }
    };
}
pub(crate) use impl_console_pages;
