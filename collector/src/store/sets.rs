//! Set-based writes of the drift and status path (issues #10, #15): each
//! function writes all of a run's rows of one table in one statement, so a
//! statement costs a bounded number of round trips however many rules and
//! controls its evaluation has (row at a time, a host's first statement on
//! PostgreSQL took ~170 round trips).
//!
//! The SQL differs per backend only in how the rows travel, so
//! [`impl_set_writes!`] has one arm per backend, side by side, with the same
//! functions and the same rows: PostgreSQL binds one array per column and
//! reads them back with `UNNEST … WITH ORDINALITY` (one fixed statement
//! text, prepared once per connection, any number of rows; rows are taken
//! in the order given, so ids and row locks follow it as they did row at a
//! time); SQLite binds multi-row `VALUES` in chunks of [`CHUNK`] rows (its
//! variable limit), one statement for any run the bundled policies give.
//! Callers pass rows in a deterministic order (sorted maps), which keeps
//! the lock order of concurrent writers on PostgreSQL the same as before.

/// Rows per SQLite multi-row statement: ≤ 5 variables a row plus 3, so
/// ≤ 10,003 variables, below SQLite's limit of 32,766. A run of the
/// bundled policies (~180 subjects) writes at most ~360 `fleet_status`
/// deltas and ~360 outbox rows per sink: one statement each.
pub(crate) const CHUNK: usize = 2000;

/// An alert to insert: (kind, subject, severity, baseline, detail).
pub(crate) type AlertRow<'a> = (&'a str, &'a str, &'a str, bool, &'a str);

/// A notification to queue: (alert id, event, sink, payload).
pub(crate) type OutboxInsert<'a> = (i64, &'a str, &'a str, String);

macro_rules! impl_set_writes {
    (Postgres) => {
        /// Upsert `(subject, status)` rows of `agent` in `host_status`, `since` = `now`.
        async fn set_host_status(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            agent: &str,
            rows: &[(&str, &str)],
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            if rows.is_empty() {
                return Ok(());
            }
            let (subjects, statuses): (Vec<&str>, Vec<&str>) = rows.iter().copied().unzip();
            sqlx::query(
                "INSERT INTO host_status (agent_id, subject, status, since) \
                 SELECT $1, u.s, u.t, $4 FROM UNNEST($2::text[], $3::text[]) WITH ORDINALITY AS u(s, t, n) ORDER BY u.n \
                 ON CONFLICT (agent_id, subject) DO UPDATE SET status = excluded.status, since = excluded.since",
            )
            .bind(agent)
            .bind(subjects)
            .bind(statuses)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Delete `subjects` of `agent` from `host_status`.
        async fn delete_host_status(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            agent: &str,
            subjects: &[&str],
        ) -> Result<(), $crate::store::StoreError> {
            if subjects.is_empty() {
                return Ok(());
            }
            sqlx::query("DELETE FROM host_status WHERE agent_id = $1 AND subject = ANY($2::text[])")
                .bind(agent)
                .bind(subjects)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Add `(subject, status, hosts)` deltas to `fleet_status`.
        async fn add_fleet_status(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            rows: &[(&str, &str, i64)],
        ) -> Result<(), $crate::store::StoreError> {
            if rows.is_empty() {
                return Ok(());
            }
            let subjects: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let statuses: Vec<&str> = rows.iter().map(|r| r.1).collect();
            let hosts: Vec<i64> = rows.iter().map(|r| r.2).collect();
            sqlx::query(
                "INSERT INTO fleet_status (subject, status, hosts) \
                 SELECT u.s, u.t, u.h FROM UNNEST($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS u(s, t, h, n) ORDER BY u.n \
                 ON CONFLICT (subject, status) DO UPDATE SET hosts = fleet_status.hosts + excluded.hosts",
            )
            .bind(subjects)
            .bind(statuses)
            .bind(hosts)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Insert transitions `(subject, from, to)` of `agent` at `sequence`, `at`.
        async fn insert_transitions(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            agent: &str,
            rows: &[(&str, Option<&str>, &str)],
            sequence: i64,
            at: i64,
        ) -> Result<(), $crate::store::StoreError> {
            if rows.is_empty() {
                return Ok(());
            }
            let subjects: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let from: Vec<Option<&str>> = rows.iter().map(|r| r.1).collect();
            let to: Vec<&str> = rows.iter().map(|r| r.2).collect();
            sqlx::query(
                "INSERT INTO transitions (agent_id, subject, from_status, to_status, sequence, at) \
                 SELECT $1, u.s, u.f, u.t, $5, $6 FROM UNNEST($2::text[], $3::text[], $4::text[]) \
                 WITH ORDINALITY AS u(s, f, t, n) ORDER BY u.n",
            )
            .bind(agent)
            .bind(subjects)
            .bind(from)
            .bind(to)
            .bind(sequence)
            .bind(at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// `(subject, at)` of `agent`'s transitions of `subjects` at or after `since`.
        async fn transition_times(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            agent: &str,
            subjects: &[String],
            since: i64,
        ) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
            use sqlx::Row as _;
            if subjects.is_empty() {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(
                "SELECT subject, at FROM transitions WHERE agent_id = $1 AND subject = ANY($2::text[]) AND at >= $3 \
                 ORDER BY subject, at",
            )
            .bind(agent)
            .bind(subjects)
            .bind(since)
            .fetch_all(&mut **tx)
            .await?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
        }

        /// Open alerts of `agent` (each unless one is open for its kind and
        /// subject); `(id, kind, subject)` of those inserted.
        async fn insert_alerts(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            agent: &str,
            rows: &[$crate::store::sets::AlertRow<'_>],
            now: i64,
            sequence: Option<i64>,
        ) -> Result<Vec<(i64, String, String)>, $crate::store::StoreError> {
            use sqlx::Row as _;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let kinds: Vec<&str> = rows.iter().map(|r| r.0).collect();
            let subjects: Vec<&str> = rows.iter().map(|r| r.1).collect();
            let severities: Vec<&str> = rows.iter().map(|r| r.2).collect();
            let baseline: Vec<i64> = rows.iter().map(|r| i64::from(r.3)).collect();
            let details: Vec<&str> = rows.iter().map(|r| r.4).collect();
            let out = sqlx::query(
                "INSERT INTO alerts (agent_id, kind, subject, severity, state, baseline, detail, opened_at, updated_at, opened_sequence) \
                 SELECT $1, u.k, u.s, u.v, 'open', u.b, u.d, $7, $7, $8 \
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[]) \
                 WITH ORDINALITY AS u(k, s, v, b, d, n) ORDER BY u.n \
                 ON CONFLICT (agent_id, kind, subject) WHERE state <> 'resolved' DO NOTHING RETURNING id, kind, subject",
            )
            .bind(agent)
            .bind(kinds)
            .bind(subjects)
            .bind(severities)
            .bind(baseline)
            .bind(details)
            .bind(now)
            .bind(sequence)
            .fetch_all(&mut **tx)
            .await?;
            out.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect()
        }

        /// Resolve alerts `ids` at `now` by statement `sequence`.
        async fn resolve_alerts(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            ids: &[i64],
            now: i64,
            sequence: Option<i64>,
        ) -> Result<(), $crate::store::StoreError> {
            if ids.is_empty() {
                return Ok(());
            }
            sqlx::query(
                "UPDATE alerts SET state = 'resolved', resolved_at = $2, updated_at = $2, resolved_sequence = $3 \
                 WHERE id = ANY($1::bigint[])",
            )
            .bind(ids)
            .bind(now)
            .bind(sequence)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Mark alerts `ids` flapping at `now`.
        async fn flag_alerts(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            ids: &[i64],
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            if ids.is_empty() {
                return Ok(());
            }
            sqlx::query("UPDATE alerts SET flapping = 1, updated_at = $2 WHERE id = ANY($1::bigint[])")
                .bind(ids)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Queue notifications, in the order given, created at `now`.
        async fn insert_outbox(
            tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
            rows: &[$crate::store::sets::OutboxInsert<'_>],
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            if rows.is_empty() {
                return Ok(());
            }
            let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
            let events: Vec<&str> = rows.iter().map(|r| r.1).collect();
            let sinks: Vec<&str> = rows.iter().map(|r| r.2).collect();
            let payloads: Vec<&str> = rows.iter().map(|r| r.3.as_str()).collect();
            sqlx::query(
                "INSERT INTO outbox (alert_id, event, sink, payload, created_at) \
                 SELECT u.a, u.e, u.s, u.p, $5 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[]) \
                 WITH ORDINALITY AS u(a, e, s, p, n) ORDER BY u.n",
            )
            .bind(ids)
            .bind(events)
            .bind(sinks)
            .bind(payloads)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }
    };
    (Sqlite) => {
        /// Upsert `(subject, status)` rows of `agent` in `host_status`, `since` = `now`.
        async fn set_host_status(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            agent: &str,
            rows: &[(&str, &str)],
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            for chunk in rows.chunks($crate::store::sets::CHUNK) {
                let values = (0..chunk.len())
                    .map(|i| format!("($1, ${}, ${}, $2)", 3 + 2 * i, 4 + 2 * i))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO host_status (agent_id, subject, status, since) VALUES {values} \
                     ON CONFLICT (agent_id, subject) DO UPDATE SET status = excluded.status, since = excluded.since"
                );
                let mut q = sqlx::query(&sql).bind(agent).bind(now);
                for (subject, status) in chunk {
                    q = q.bind(*subject).bind(*status);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Delete `subjects` of `agent` from `host_status`.
        async fn delete_host_status(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            agent: &str,
            subjects: &[&str],
        ) -> Result<(), $crate::store::StoreError> {
            for chunk in subjects.chunks($crate::store::sets::CHUNK) {
                let sql = format!(
                    "DELETE FROM host_status WHERE agent_id = $1 AND subject IN ({})",
                    $crate::store::sql::placeholders(2, chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(agent);
                for s in chunk {
                    q = q.bind(*s);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Add `(subject, status, hosts)` deltas to `fleet_status`.
        async fn add_fleet_status(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            rows: &[(&str, &str, i64)],
        ) -> Result<(), $crate::store::StoreError> {
            for chunk in rows.chunks($crate::store::sets::CHUNK) {
                let values = (0..chunk.len())
                    .map(|i| format!("(${}, ${}, ${})", 1 + 3 * i, 2 + 3 * i, 3 + 3 * i))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO fleet_status (subject, status, hosts) VALUES {values} \
                     ON CONFLICT (subject, status) DO UPDATE SET hosts = fleet_status.hosts + excluded.hosts"
                );
                let mut q = sqlx::query(&sql);
                for (subject, status, n) in chunk {
                    q = q.bind(*subject).bind(*status).bind(*n);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Insert transitions `(subject, from, to)` of `agent` at `sequence`, `at`.
        async fn insert_transitions(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            agent: &str,
            rows: &[(&str, Option<&str>, &str)],
            sequence: i64,
            at: i64,
        ) -> Result<(), $crate::store::StoreError> {
            for chunk in rows.chunks($crate::store::sets::CHUNK) {
                let values = (0..chunk.len())
                    .map(|i| {
                        let b = 4 + 3 * i;
                        format!("($1, ${}, ${}, ${}, $2, $3)", b, b + 1, b + 2)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO transitions (agent_id, subject, from_status, to_status, sequence, at) VALUES {values}"
                );
                let mut q = sqlx::query(&sql).bind(agent).bind(sequence).bind(at);
                for (subject, from, to) in chunk {
                    q = q.bind(*subject).bind(*from).bind(*to);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// `(subject, at)` of `agent`'s transitions of `subjects` at or after `since`.
        async fn transition_times(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            agent: &str,
            subjects: &[String],
            since: i64,
        ) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
            use sqlx::Row as _;
            let mut out = Vec::new();
            for chunk in subjects.chunks($crate::store::sets::CHUNK) {
                let sql = format!(
                    "SELECT subject, at FROM transitions WHERE agent_id = $1 AND at >= $2 AND subject IN ({}) \
                     ORDER BY subject, at",
                    $crate::store::sql::placeholders(3, chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(agent).bind(since);
                for s in chunk {
                    q = q.bind(s.as_str());
                }
                for r in q.fetch_all(&mut **tx).await? {
                    out.push((r.try_get(0)?, r.try_get(1)?));
                }
            }
            Ok(out)
        }

        /// Open alerts of `agent` (each unless one is open for its kind and
        /// subject); `(id, kind, subject)` of those inserted.
        async fn insert_alerts(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            agent: &str,
            rows: &[$crate::store::sets::AlertRow<'_>],
            now: i64,
            sequence: Option<i64>,
        ) -> Result<Vec<(i64, String, String)>, $crate::store::StoreError> {
            use sqlx::Row as _;
            let mut out = Vec::new();
            for chunk in rows.chunks($crate::store::sets::CHUNK) {
                let values = (0..chunk.len())
                    .map(|i| {
                        let b = 4 + 5 * i;
                        format!(
                            "($1, ${}, ${}, ${}, 'open', ${}, ${}, $2, $2, $3)",
                            b, b + 1, b + 2, b + 3, b + 4
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO alerts (agent_id, kind, subject, severity, state, baseline, detail, opened_at, updated_at, opened_sequence) \
                     VALUES {values} \
                     ON CONFLICT (agent_id, kind, subject) WHERE state <> 'resolved' DO NOTHING RETURNING id, kind, subject"
                );
                let mut q = sqlx::query(&sql).bind(agent).bind(now).bind(sequence);
                for (kind, subject, severity, baseline, detail) in chunk {
                    q = q
                        .bind(*kind)
                        .bind(*subject)
                        .bind(*severity)
                        .bind(i64::from(*baseline))
                        .bind(*detail);
                }
                for r in q.fetch_all(&mut **tx).await? {
                    out.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?));
                }
            }
            Ok(out)
        }

        /// Resolve alerts `ids` at `now` by statement `sequence`.
        async fn resolve_alerts(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            ids: &[i64],
            now: i64,
            sequence: Option<i64>,
        ) -> Result<(), $crate::store::StoreError> {
            for chunk in ids.chunks($crate::store::sets::CHUNK) {
                let sql = format!(
                    "UPDATE alerts SET state = 'resolved', resolved_at = $1, updated_at = $1, resolved_sequence = $2 \
                     WHERE id IN ({})",
                    $crate::store::sql::placeholders(3, chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(now).bind(sequence);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Mark alerts `ids` flapping at `now`.
        async fn flag_alerts(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            ids: &[i64],
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            for chunk in ids.chunks($crate::store::sets::CHUNK) {
                let sql = format!(
                    "UPDATE alerts SET flapping = 1, updated_at = $1 WHERE id IN ({})",
                    $crate::store::sql::placeholders(2, chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(now);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Queue notifications, in the order given, created at `now`.
        async fn insert_outbox(
            tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
            rows: &[$crate::store::sets::OutboxInsert<'_>],
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            for chunk in rows.chunks($crate::store::sets::CHUNK) {
                let values = (0..chunk.len())
                    .map(|i| {
                        let b = 2 + 4 * i;
                        format!("(${}, ${}, ${}, ${}, $1)", b, b + 1, b + 2, b + 3)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "INSERT INTO outbox (alert_id, event, sink, payload, created_at) VALUES {values}"
                );
                let mut q = sqlx::query(&sql).bind(now);
                for (id, event, sink, payload) in chunk {
                    q = q.bind(*id).bind(*event).bind(*sink).bind(payload.as_str());
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }
    };
}

pub(crate) use impl_set_writes;
