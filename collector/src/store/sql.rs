//! The SQL both stores share. SQLite and PostgreSQL accept the same
//! statements here (`$N` parameters, `ON CONFLICT DO NOTHING`; the generated
//! multi-row and `IN` lists take each backend's cheapest form, [`Positional`]);
//! what differs is passed in: the database type, how a write transaction and an
//! ingest batch's transaction begin (SQLite: the batch's statement journals in
//! memory), and the row lock taken on an agent during ingest (`FOR UPDATE` on
//! PostgreSQL, where several replicas may write; SQLite has one writer).
//!
//! Why this file is longer than ~700 lines: it is the body of one macro,
//! expanded once per backend, with one `impl` block per storage sub-trait
//! (`Store`, `TokenStore`, `AgentStore`, `EvidenceStore`, `ReviewStore`).
//! Each block is short; they share the macro's imports and column lists, and
//! `macro_rules!` bodies cannot be split across files without exporting every
//! helper, so the SQL of both backends stays in one place that changes together.

/// Placeholders `$start, …` for `n` values (numbered: for statements that
/// take other parameters too, on either backend).
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 4);
    push_list::<sqlx::Postgres>(&mut out, start, n, ",");
    out
}

/// How a backend writes the parameters of a statement whose parameters
/// are all positional and bound in order (the multi-row writes and the
/// `IN` lists below).
pub(crate) trait Positional {
    /// Append the `i`-th parameter (1-based) to `out`.
    fn push(out: &mut String, i: usize);
}

/// SQLite: anonymous `?`, numbered in order by SQLite itself. With `$N`
/// its parser looks each name up in a list of the names so far, and
/// sqlx's binding asks SQLite for each parameter's name (another walk of
/// that list): both quadratic in the parameters, which a batch's multi-row
/// insert has hundreds of. Anonymous parameters keep no name list.
impl Positional for sqlx::Sqlite {
    fn push(out: &mut String, _i: usize) {
        out.push('?');
    }
}

/// PostgreSQL: `$N`.
impl Positional for sqlx::Postgres {
    fn push(out: &mut String, i: usize) {
        use std::fmt::Write as _;
        let _ = write!(out, "${i}");
    }
}

/// Append parameters `first` … `first + n - 1`, separated by `sep`.
fn push_list<DB: Positional>(out: &mut String, first: usize, n: usize, sep: &str) {
    for i in first..first + n {
        if i > first {
            out.push_str(sep);
        }
        DB::push(out, i);
    }
}

/// An `IN (…)` list for `chunk`: placeholders for the next power of two of
/// its length and the values to bind, the last repeated to fill it (an `IN`
/// list does not care). A batch's lookups then take one of a few statement
/// texts whatever its size, so each backend's prepared-statement cache
/// keeps them instead of parsing and planning every batch's text. The
/// statement must have no other parameters.
pub(crate) fn in_list<DB: Positional, T>(chunk: &[T]) -> (String, impl Iterator<Item = &T>) {
    let size = chunk.len().max(1).next_power_of_two();
    let fill = std::iter::repeat_n(chunk.last(), size - chunk.len()).flatten();
    let mut ph = String::with_capacity(size * 4);
    push_list::<DB>(&mut ph, 1, size, ",");
    (ph, chunk.iter().chain(fill))
}

/// `rows` tuples of `cols` placeholders for a multi-row `VALUES`:
/// `($1, $2),($3, $4)` (PostgreSQL), `(?, ?),(?, ?)` (SQLite). The
/// statement must have no other parameters.
pub(crate) fn value_rows<DB: Positional>(rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * (cols * 5 + 3));
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        push_list::<DB>(&mut out, r * cols + 1, cols, ", ");
        out.push(')');
    }
    out
}

macro_rules! impl_store {
    ($ty:ty, $db:ty, begin = $begin:expr, ingest_begin = $ingest_begin:expr, lock = $lock:literal) => {
        use $crate::store::sql::placeholders;
        use $crate::store::{
            digest_from, status_from, AgentRecord, EnrollOutcome, IngestItem, IngestOutcome,
            IntegrityEvent, NewAgent, NewToken, StatementRow, Store, StoreError, TokenInfo,
            AgentStore, EvidenceStore, ReviewStore, TokenStore,
        };
        use evident_core::wire::AgentStatus;
        use evident_core::Digest;
        use sqlx::Row as _;
        use std::collections::BTreeMap;

        const AGENT_COLS: &str = "id, key_id, public_key, hostname, agent_version, status, \
             enrolled_at, last_sequence, last_digest, last_seen, latest_results, latest_collected_at";

        fn agent_from_row(row: &<$db as sqlx::Database>::Row) -> Result<AgentRecord, StoreError> {
            let status: String = row.try_get(5)?;
            let opt_digest = |i: usize| -> Result<Option<Digest>, StoreError> {
                let v: Option<Vec<u8>> = row.try_get(i)?;
                v.map(|b| digest_from(&b)).transpose()
            };
            Ok(AgentRecord {
                id: row.try_get(0)?,
                key_id: row.try_get(1)?,
                public_key: row.try_get(2)?,
                hostname: row.try_get(3)?,
                agent_version: row.try_get(4)?,
                status: status_from(&status)?,
                enrolled_at: row.try_get(6)?,
                last_sequence: row.try_get(7)?,
                last_digest: opt_digest(8)?,
                last_seen: row.try_get(9)?,
                latest_results: opt_digest(10)?,
                latest_collected_at: row.try_get(11)?,
            })
        }

        fn statement_from_row(
            row: &<$db as sqlx::Database>::Row,
        ) -> Result<StatementRow, StoreError> {
            let digest: Vec<u8> = row.try_get(2)?;
            let results: Vec<u8> = row.try_get(5)?;
            Ok(StatementRow {
                agent_id: row.try_get(0)?,
                sequence: row.try_get(1)?,
                digest: digest_from(&digest)?,
                collected_at: row.try_get(3)?,
                received_at: row.try_get(4)?,
                results: digest_from(&results)?,
            })
        }

        /// A statement row (columns as [`statement_from_row`]) with its
        /// envelope unpacked from columns 6 (form), 7 (bytes) and 8 (the
        /// form-3 template joined from `envelope_templates`, else NULL).
        fn statement_with_envelope(
            row: &<$db as sqlx::Database>::Row,
        ) -> Result<(StatementRow, Vec<u8>), StoreError> {
            let st = statement_from_row(row)?;
            let template: Option<Vec<u8>> = row.try_get(8)?;
            let bytes = $crate::store::unpack_row(
                row.try_get(6)?,
                row.try_get(7)?,
                template.as_deref(),
                st.sequence,
                st.collected_at,
                &st.digest,
            )?;
            Ok((st, bytes))
        }

        /// How `envelope` is stored in a statement row: (form, bytes,
        /// template id). Form 3 when `packed`, its cut by
        /// [`template::pack`]($crate::store::template::pack) with the
        /// template's digest, is there (it renders the exact bytes back;
        /// the template is inserted once, found by digest; `templates`
        /// holds ids within the transaction, see [`find_templates`]), else
        /// [`pack_envelope`]($crate::store::pack_envelope).
        async fn stored_form(
            tx: &mut sqlx::Transaction<'static, $db>,
            envelope: &[u8],
            packed: Option<($crate::store::template::Packed, Digest)>,
            templates: &mut std::collections::HashMap<Digest, i64>,
        ) -> Result<(i64, Vec<u8>, Option<i64>), StoreError> {
            let Some((p, digest)) = packed else {
                let (form, data) = $crate::store::pack_envelope(envelope);
                return Ok((form, data, None));
            };
            if let Some(id) = templates.get(&digest) {
                return Ok(($crate::store::template::FORM_TEMPLATE, p.data, Some(*id)));
            }
            let found = sqlx::query("SELECT id FROM envelope_templates WHERE template_digest = $1")
                .bind(digest.0.as_slice())
                .fetch_optional(&mut **tx)
                .await?;
            let id: i64 = match found {
                Some(r) => r.try_get(0)?,
                None => {
                    let inserted = sqlx::query(
                        "INSERT INTO envelope_templates (template_digest, template) VALUES ($1, $2) \
                         ON CONFLICT (template_digest) DO NOTHING RETURNING id",
                    )
                    .bind(digest.0.as_slice())
                    .bind(p.template.to_bytes())
                    .fetch_optional(&mut **tx)
                    .await?;
                    match inserted {
                        Some(r) => r.try_get(0)?,
                        None => sqlx::query("SELECT id FROM envelope_templates WHERE template_digest = $1")
                            .bind(digest.0.as_slice())
                            .fetch_one(&mut **tx)
                            .await?
                            .try_get(0)?,
                    }
                }
            };
            templates.insert(digest, id);
            Ok(($crate::store::template::FORM_TEMPLATE, p.data, Some(id)))
        }

        /// Read into `templates` the ids of those of `digests` stored, with
        /// one query per chunk (a batch of unchanged runs names one stored
        /// template per host: one round trip for all of them, not one each).
        async fn find_templates(
            tx: &mut sqlx::Transaction<'static, $db>,
            digests: &[Digest],
            templates: &mut std::collections::HashMap<Digest, i64>,
        ) -> Result<(), StoreError> {
            let wanted: Vec<&Digest> = digests
                .iter()
                .filter(|d| !templates.contains_key(*d))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            for chunk in wanted.chunks(512) {
                let (ph, values) = $crate::store::sql::in_list::<$db, _>(chunk);
                let sql = format!(
                    "SELECT template_digest, id FROM envelope_templates WHERE template_digest IN ({ph})"
                );
                let mut q = sqlx::query(&sql);
                for d in values {
                    q = q.bind(d.0.as_slice());
                }
                for r in q.fetch_all(&mut **tx).await? {
                    let d = $crate::store::digest_from(&r.try_get::<Vec<u8>, _>(0)?)?;
                    templates.insert(d, r.try_get(1)?);
                }
            }
            Ok(())
        }

        async fn insert_event(
            tx: &mut sqlx::Transaction<'static, $db>,
            agent_id: &str,
            kind: &str,
            sequence: i64,
            detail: &str,
            digest: Option<&Digest>,
            at: i64,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO integrity_events (agent_id, kind, sequence, detail, envelope_digest, at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(agent_id)
            .bind(kind)
            .bind(sequence)
            .bind(detail)
            .bind(digest.map(|d| d.0.to_vec()))
            .bind(at)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        async fn ingest_one(
            tx: &mut sqlx::Transaction<'static, $db>,
            item: &IngestItem,
            fleet: &mut crate::store::fleet::FleetStatusDelta,
        ) -> Result<IngestOutcome, StoreError> {
            // One round trip: the agent (locked) and whether the envelope or
            // its sequence is already stored (or was, before retention
            // pruned it to a chain stub).
            let agent = sqlx::query(concat!(
                "SELECT status, last_sequence, last_digest, \
                 COALESCE((SELECT s.digest FROM statements s WHERE s.digest = $2), \
                 (SELECT c.digest FROM chain_stubs c WHERE c.agent_id = $1 AND c.sequence = $3 AND c.digest = $2)), \
                 COALESCE((SELECT s.digest FROM statements s WHERE s.agent_id = $1 AND s.sequence = $3), \
                 (SELECT c.digest FROM chain_stubs c WHERE c.agent_id = $1 AND c.sequence = $3)) \
                 FROM agents WHERE id = $1",
                $lock
            ))
            .bind(&item.agent_id)
            .bind(item.envelope_digest.0.as_slice())
            .bind(item.sequence)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(agent) = agent else {
                return Ok(IngestOutcome::Refused(None));
            };
            let status = status_from(&agent.try_get::<String, _>(0)?)?;
            if status != AgentStatus::Active {
                return Ok(IngestOutcome::Refused(Some(status)));
            }
            let last_sequence: Option<i64> = agent.try_get(1)?;
            let last_digest: Option<Vec<u8>> = agent.try_get(2)?;
            if agent.try_get::<Option<Vec<u8>>, _>(3)?.is_some() {
                return Ok(IngestOutcome::Duplicate);
            }
            if let Some(existing) = agent.try_get::<Option<Vec<u8>>, _>(4)? {
                let existing = digest_from(&existing)?;
                insert_event(
                    tx,
                    &item.agent_id,
                    "conflict",
                    item.sequence,
                    &format!(
                        "sequence {} already holds envelope {existing}; refused {} (cloned host or key?)",
                        item.sequence, item.envelope_digest
                    ),
                    Some(&item.envelope_digest),
                    item.received_at,
                )
                .await?;
                drift_on_conflict(tx, item).await?;
                return Ok(IngestOutcome::Conflict { existing });
            }

            let mut events = Vec::new();
            if let Some(last) = last_sequence {
                if item.sequence > last.saturating_add(1) {
                    let detail = match item.declared_gap {
                        Some(g) => format!(
                            "sequences {} to {} missing (agent declared {} to {} dropped)",
                            last + 1,
                            item.sequence - 1,
                            g.from,
                            g.to
                        ),
                        None => format!("sequences {} to {} missing", last + 1, item.sequence - 1),
                    };
                    insert_event(
                        tx,
                        &item.agent_id,
                        "gap",
                        item.sequence,
                        &detail,
                        Some(&item.envelope_digest),
                        item.received_at,
                    )
                    .await?;
                    events.push("gap".to_string());
                } else if item.sequence == last.saturating_add(1) {
                    let expected = last_digest.as_deref().map(digest_from).transpose()?;
                    if expected.is_some() && item.previous != expected {
                        let detail = format!(
                            "previous is {} but the envelope stored for sequence {last} is {}",
                            item.previous.map(|d| d.to_string()).unwrap_or_else(|| "absent".into()),
                            expected.map(|d| d.to_string()).unwrap_or_default()
                        );
                        insert_event(
                            tx,
                            &item.agent_id,
                            "chain",
                            item.sequence,
                            &detail,
                            Some(&item.envelope_digest),
                            item.received_at,
                        )
                        .await?;
                        events.push("chain".to_string());
                    }
                } else {
                    insert_event(
                        tx,
                        &item.agent_id,
                        "out-of-order",
                        item.sequence,
                        &format!("sequence {} arrived after {last}", item.sequence),
                        Some(&item.envelope_digest),
                        item.received_at,
                    )
                    .await?;
                    events.push("out-of-order".to_string());
                }
            }

            // New blobs in one statement per 200 (not one round trip each).
            let blobs: Vec<(&[u8], &[u8], Option<&str>)> = item
                .blobs
                .iter()
                .map(|(d, b)| (d.0.as_slice(), b.as_slice(), Some(item.agent_id.as_str())))
                .collect();
            insert_blobs(tx, &blobs).await?;
            if let Some(results) = &item.results {
                sqlx::query(
                    "INSERT INTO results (digest, data) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(item.results_digest.0.as_slice())
                .bind(results.as_slice())
                .execute(&mut **tx)
                .await?;
            }
            insert_statement_rows(tx, &[item]).await?;
            let newest = last_sequence.is_none_or(|last| item.sequence > last);
            drift_on_ingest(tx, item, &events, newest, fleet).await?;
            vuln_on_ingest(tx, item, newest).await?;
            if newest {
                sqlx::query(
                    "UPDATE agents SET last_sequence = $2, last_digest = $3, last_seen = $4, \
                     latest_results = $5, latest_collected_at = $6 WHERE id = $1",
                )
                .bind(&item.agent_id)
                .bind(item.sequence)
                .bind(item.envelope_digest.0.as_slice())
                .bind(item.received_at)
                .bind(item.results_digest.0.as_slice())
                .bind(item.collected_at)
                .execute(&mut **tx)
                .await?;
            } else {
                sqlx::query("UPDATE agents SET last_seen = $2 WHERE id = $1")
                    .bind(&item.agent_id)
                    .bind(item.received_at)
                    .execute(&mut **tx)
                    .await?;
            }
            Ok(IngestOutcome::Stored { events })
        }

        #[async_trait::async_trait]
        impl Store for $ty {
            fn kind(&self) -> &'static str {
                Self::KIND
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(&self.write).await?;
                Ok(())
            }

            async fn storage_bytes(&self) -> Result<u64, StoreError> {
                self.storage_bytes_impl().await
            }

            async fn refresh_statistics(&self) -> Result<usize, StoreError> {
                self.refresh_statistics_impl().await
            }

            async fn close(&self) {
                self.write.close().await;
                self.read.close().await;
            }
        }

        #[async_trait::async_trait]
        impl TokenStore for $ty {
            async fn create_token(&self, t: &NewToken) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO enroll_tokens (id, token_hash, created_at, expires_at, max_uses) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.id)
                .bind(t.hash.as_slice())
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.max_uses)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, created_at, expires_at, max_uses, uses, revoked FROM enroll_tokens \
                     ORDER BY created_at DESC, id",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(TokenInfo {
                            id: r.try_get(0)?,
                            created_at: r.try_get(1)?,
                            expires_at: r.try_get(2)?,
                            max_uses: r.try_get(3)?,
                            uses: r.try_get(4)?,
                            revoked: r.try_get::<i64, _>(5)? != 0,
                        })
                    })
                    .collect()
            }

            async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
                let r = sqlx::query("UPDATE enroll_tokens SET revoked = 1 WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected() > 0)
            }
        }

        #[async_trait::async_trait]
        impl AgentStore for $ty {
            async fn enroll(
                &self,
                token_hash: &[u8; 32],
                a: &NewAgent,
            ) -> Result<EnrollOutcome, StoreError> {
                let mut tx = self.write.begin_with($begin).await?;
                let token = sqlx::query(concat!(
                    "SELECT id, expires_at, max_uses, uses, revoked FROM enroll_tokens WHERE token_hash = $1",
                    $lock
                ))
                .bind(token_hash.as_slice())
                .fetch_optional(&mut *tx)
                .await?;
                let Some(token) = token else {
                    return Ok(EnrollOutcome::BadToken);
                };
                let token_id: String = token.try_get(0)?;
                let expires_at: Option<i64> = token.try_get(1)?;
                let max_uses: Option<i64> = token.try_get(2)?;
                let uses: i64 = token.try_get(3)?;
                let revoked = token.try_get::<i64, _>(4)? != 0;
                if revoked {
                    return Ok(EnrollOutcome::BadToken);
                }
                let existing = sqlx::query(&format!(
                    "SELECT {AGENT_COLS} FROM agents WHERE key_id = $1"
                ))
                .bind(&a.key_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(row) = existing {
                    // Same key again: idempotent, no use consumed.
                    let agent = agent_from_row(&row)?;
                    tx.commit().await?;
                    return Ok(EnrollOutcome::Enrolled(Box::new(agent)));
                }
                if expires_at.is_some_and(|e| e <= a.now) || max_uses.is_some_and(|m| uses >= m) {
                    return Ok(EnrollOutcome::BadToken);
                }
                sqlx::query("UPDATE enroll_tokens SET uses = uses + 1 WHERE id = $1")
                    .bind(&token_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO agents (id, key_id, public_key, hostname, agent_version, status, token_id, enrolled_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&a.id)
                .bind(&a.key_id)
                .bind(a.public_key.as_slice())
                .bind(&a.hostname)
                .bind(&a.agent_version)
                .bind(a.status.as_str())
                .bind(&token_id)
                .bind(a.now)
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query(&format!("SELECT {AGENT_COLS} FROM agents WHERE id = $1"))
                    .bind(&a.id)
                    .fetch_one(&mut *tx)
                    .await?;
                let agent = agent_from_row(&row)?;
                tx.commit().await?;
                Ok(EnrollOutcome::Enrolled(Box::new(agent)))
            }

            async fn agent_by_key(&self, key_id: &str) -> Result<Option<AgentRecord>, StoreError> {
                let row = sqlx::query(&format!("SELECT {AGENT_COLS} FROM agents WHERE key_id = $1"))
                    .bind(key_id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(agent_from_row).transpose()
            }

            async fn agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
                let row = sqlx::query(&format!("SELECT {AGENT_COLS} FROM agents WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?;
                row.as_ref().map(agent_from_row).transpose()
            }

            async fn list_agents(
                &self,
                after: Option<&str>,
                limit: i64,
            ) -> Result<Vec<AgentRecord>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {AGENT_COLS} FROM agents WHERE id > $1 ORDER BY id LIMIT $2"
                ))
                .bind(after.unwrap_or(""))
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(agent_from_row).collect()
            }

            async fn set_agent_status(
                &self,
                id: &str,
                status: AgentStatus,
            ) -> Result<bool, StoreError> {
                let mut tx = self.write.begin_with($begin).await?;
                let before = sqlx::query(concat!("SELECT status FROM agents WHERE id = $1", $lock))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(before) = before else {
                    return Ok(false);
                };
                let was_active = before.try_get::<String, _>(0)? == AgentStatus::Active.as_str();
                sqlx::query("UPDATE agents SET status = $2 WHERE id = $1")
                    .bind(id)
                    .bind(status.as_str())
                    .execute(&mut *tx)
                    .await?;
                // An agent entering or leaving `active` joins or leaves the
                // fleet counts with its latest statuses.
                let now_active = status == AgentStatus::Active;
                if was_active != now_active {
                    let row = sqlx::query("SELECT statuses FROM drift_state WHERE agent_id = $1")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(r) = row {
                        let text: String = r.try_get(0)?;
                        let map: evident_core::drift::StatusMap = serde_json::from_str(&text)
                            .map_err(|e| StoreError::Corrupt(format!("drift state: {e}")))?;
                        let mut fleet = crate::store::fleet::FleetStatusDelta::default();
                        if now_active {
                            fleet.apply(None, Some(&map));
                        } else {
                            fleet.apply(Some(&map), None);
                        }
                        fleet_write(&mut tx, &fleet).await?;
                    }
                    // And its open CVEs the vulnerability fleet counts.
                    vuln_on_status(&mut tx, id, now_active).await?;
                }
                tx.commit().await?;
                Ok(true)
            }
        }

        #[async_trait::async_trait]
        impl EvidenceStore for $ty {
            async fn missing_blobs(&self, digests: &[Digest]) -> Result<Vec<Digest>, StoreError> {
                let mut present = std::collections::HashSet::new();
                for chunk in digests.chunks(500) {
                    let sql = format!(
                        "SELECT digest FROM blobs WHERE digest IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for d in chunk {
                        q = q.bind(d.0.as_slice());
                    }
                    for row in q.fetch_all(&self.read).await? {
                        present.insert(digest_from(&row.try_get::<Vec<u8>, _>(0)?)?);
                    }
                }
                Ok(digests.iter().filter(|d| !present.contains(d)).copied().collect())
            }

            async fn blobs(
                &self,
                digests: &[Digest],
            ) -> Result<BTreeMap<Digest, Vec<u8>>, StoreError> {
                let mut out = BTreeMap::new();
                for chunk in digests.chunks(500) {
                    let sql = format!(
                        "SELECT digest, encoding, data, base FROM blobs WHERE digest IN ({})",
                        placeholders(1, chunk.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for d in chunk {
                        q = q.bind(d.0.as_slice());
                    }
                    // Deltas wait for their bases (whole blobs, read below).
                    let mut deltas: Vec<(Digest, Vec<u8>, Digest)> = Vec::new();
                    for row in q.fetch_all(&self.read).await? {
                        // Raw bytes, checked against the digest (any encoding).
                        let digest = digest_from(&row.try_get::<Vec<u8>, _>(0)?)?;
                        let encoding: i64 = row.try_get(1)?;
                        let data: Vec<u8> = row.try_get(2)?;
                        if encoding == $crate::store::blob::DELTA {
                            let base = row.try_get::<Option<Vec<u8>>, _>(3)?.ok_or_else(|| {
                                StoreError::Corrupt(format!("blob {digest}: delta without a base"))
                            })?;
                            deltas.push((digest, data, digest_from(&base)?));
                            continue;
                        }
                        let data = $crate::store::blob::unpack(&digest, encoding, data, None)?;
                        out.insert(digest, data);
                    }
                    if deltas.is_empty() {
                        continue;
                    }
                    let mut bases: Vec<Digest> = deltas.iter().map(|(_, _, b)| *b).collect();
                    bases.sort_unstable();
                    bases.dedup();
                    let sql = format!(
                        "SELECT digest, encoding, data FROM blobs WHERE digest IN ({})",
                        placeholders(1, bases.len())
                    );
                    let mut q = sqlx::query(&sql);
                    for d in &bases {
                        q = q.bind(d.0.as_slice());
                    }
                    let mut whole: BTreeMap<Digest, Vec<u8>> = BTreeMap::new();
                    for row in q.fetch_all(&self.read).await? {
                        let digest = digest_from(&row.try_get::<Vec<u8>, _>(0)?)?;
                        let data = $crate::store::blob::unpack_base(
                            &digest,
                            row.try_get(1)?,
                            row.try_get(2)?,
                        )?;
                        whole.insert(digest, data);
                    }
                    for (digest, data, base) in deltas {
                        let b = whole.get(&base).ok_or_else(|| {
                            StoreError::Corrupt(format!("blob {digest}: its base {base} is missing"))
                        })?;
                        let data = $crate::store::blob::unpack(
                            &digest,
                            $crate::store::blob::DELTA,
                            data,
                            Some(b),
                        )?;
                        out.insert(digest, data);
                    }
                }
                Ok(out)
            }

            async fn ingest_batch(
                &self,
                items: &[IngestItem],
            ) -> Result<crate::store::Batched, StoreError> {
                let mut tx = self.write.begin_with($ingest_begin).await?;
                // The plain next runs of their hosts at once (`store/batch.rs`);
                // the others (and a batch of one: the writer's retry) one by one.
                let fast = if items.len() > 1 {
                    ingest_fast(&mut tx, items).await?
                } else {
                    vec![None; items.len()]
                };
                let bulk = fast.iter().filter(|f| f.is_some()).count();
                let mut out = Vec::with_capacity(items.len());
                let mut fleet = crate::store::fleet::FleetStatusDelta::default();
                for (item, done) in items.iter().zip(fast) {
                    out.push(match done {
                        Some(outcome) => outcome,
                        None => ingest_one(&mut tx, item, &mut fleet).await?,
                    });
                }
                fleet_write(&mut tx, &fleet).await?;
                tx.commit().await?;
                Ok(crate::store::Batched { outcomes: out, bulk })
            }

            async fn statements(
                &self,
                agent_id: &str,
                before: Option<i64>,
                limit: i64,
            ) -> Result<Vec<StatementRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT agent_id, sequence, digest, collected_at, received_at, results \
                     FROM statements WHERE agent_id = $1 AND sequence < $2 ORDER BY sequence DESC LIMIT $3",
                )
                .bind(agent_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(statement_from_row).collect()
            }

            async fn statement(
                &self,
                digest: &Digest,
            ) -> Result<Option<(StatementRow, Vec<u8>)>, StoreError> {
                let row = sqlx::query(
                    "SELECT agent_id, sequence, digest, collected_at, received_at, results, envelope_form, envelope, \
                     envelope_templates.template FROM statements LEFT JOIN envelope_templates ON envelope_templates.id = statements.template_id WHERE digest = $1",
                )
                .bind(digest.0.as_slice())
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(statement_with_envelope).transpose()
            }

            async fn results(&self, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError> {
                let row = sqlx::query("SELECT data FROM results WHERE digest = $1")
                    .bind(digest.0.as_slice())
                    .fetch_optional(&self.read)
                    .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            }

            async fn integrity_events(
                &self,
                agent_id: Option<&str>,
                after: Option<i64>,
                limit: i64,
            ) -> Result<Vec<IntegrityEvent>, StoreError> {
                // One statement per filter shape, so each uses its index.
                let sql = format!(
                    "SELECT id, agent_id, kind, sequence, detail, envelope_digest, at FROM integrity_events \
                     WHERE id > $1{} ORDER BY id LIMIT $2",
                    if agent_id.is_some() { " AND agent_id = $3" } else { "" }
                );
                let mut q = sqlx::query(&sql).bind(after.unwrap_or(0)).bind(limit);
                if let Some(a) = agent_id {
                    q = q.bind(a);
                }
                let rows = q.fetch_all(&self.read).await?;
                rows.iter()
                    .map(|r| {
                        let d: Option<Vec<u8>> = r.try_get(5)?;
                        Ok(IntegrityEvent {
                            id: r.try_get(0)?,
                            agent_id: r.try_get(1)?,
                            kind: r.try_get(2)?,
                            sequence: r.try_get(3)?,
                            detail: r.try_get(4)?,
                            envelope_digest: d.map(|b| digest_from(&b)).transpose()?,
                            at: r.try_get(6)?,
                        })
                    })
                    .collect()
            }

            async fn latest_results(&self) -> Result<Vec<(String, Digest)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, latest_results FROM agents \
                     WHERE status = 'active' AND latest_results IS NOT NULL ORDER BY id",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            r.try_get(0)?,
                            digest_from(&r.try_get::<Vec<u8>, _>(1)?)?,
                        ))
                    })
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl ReviewStore for $ty {
            async fn keep_policy_files(
                &self,
                files: &[$crate::store::PolicyFileRecord],
            ) -> Result<(), StoreError> {
                let mut tx = self.write.begin_with($begin).await?;
                for f in files {
                    sqlx::query(
                        "INSERT INTO policy_files (digest, name, kind, data, first_loaded_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest) DO NOTHING",
                    )
                    .bind(f.digest.0.as_slice())
                    .bind(&f.name)
                    .bind(&f.kind)
                    .bind(f.data.as_slice())
                    .bind(f.first_loaded_at)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn policy_files(
                &self,
                digests: &[Digest],
            ) -> Result<Vec<$crate::store::PolicyFileRecord>, StoreError> {
                let mut out = Vec::with_capacity(digests.len());
                for d in digests {
                    let row = sqlx::query(
                        "SELECT digest, name, kind, data, first_loaded_at FROM policy_files WHERE digest = $1",
                    )
                    .bind(d.0.as_slice())
                    .fetch_optional(&self.read)
                    .await?;
                    if let Some(r) = row {
                        out.push($crate::store::PolicyFileRecord {
                            digest: digest_from(&r.try_get::<Vec<u8>, _>(0)?)?,
                            name: r.try_get(1)?,
                            kind: r.try_get(2)?,
                            data: r.try_get(3)?,
                            first_loaded_at: r.try_get(4)?,
                        });
                    }
                }
                Ok(out)
            }

            async fn export_statements(
                &self,
                agent_id: &str,
                after: Option<i64>,
                since: Option<i64>,
                until: Option<i64>,
                limit: i64,
            ) -> Result<Vec<(StatementRow, Vec<u8>)>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT agent_id, sequence, digest, collected_at, received_at, results, envelope_form, envelope, \
                     envelope_templates.template FROM statements LEFT JOIN envelope_templates ON envelope_templates.id = statements.template_id WHERE {} ORDER BY sequence LIMIT $5",
                    $crate::store::PERIOD_WHERE
                ))
                .bind(agent_id)
                .bind(after.unwrap_or(i64::MIN))
                .bind(since.unwrap_or(i64::MIN))
                .bind(until.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(statement_with_envelope).collect()
            }

            async fn statement_rows(
                &self,
                agent_id: &str,
                after: Option<i64>,
                since: Option<i64>,
                until: Option<i64>,
                limit: i64,
            ) -> Result<Vec<StatementRow>, StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT agent_id, sequence, digest, collected_at, received_at, results \
                     FROM statements WHERE {} ORDER BY sequence LIMIT $5",
                    $crate::store::PERIOD_WHERE
                ))
                .bind(agent_id)
                .bind(after.unwrap_or(i64::MIN))
                .bind(since.unwrap_or(i64::MIN))
                .bind(until.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(statement_from_row).collect()
            }

            async fn last_statement(
                &self,
                agent_id: &str,
                since: Option<i64>,
                until: Option<i64>,
            ) -> Result<Option<(StatementRow, Vec<u8>)>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT agent_id, sequence, digest, collected_at, received_at, results, envelope_form, envelope, \
                     envelope_templates.template FROM statements LEFT JOIN envelope_templates ON envelope_templates.id = statements.template_id WHERE {} ORDER BY sequence DESC LIMIT $5",
                    $crate::store::PERIOD_WHERE
                ))
                .bind(agent_id)
                .bind(i64::MIN)
                .bind(since.unwrap_or(i64::MIN))
                .bind(until.unwrap_or(i64::MAX))
                .bind(1i64)
                .fetch_optional(&self.read)
                .await?;
                row.as_ref().map(statement_with_envelope).transpose()
            }

            async fn statement_span(
                &self,
                agent_id: &str,
                since: Option<i64>,
                until: Option<i64>,
            ) -> Result<Option<$crate::store::StatementSpan>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT COUNT(*), MIN(collected_at), MAX(collected_at) FROM statements \
                     WHERE {}",
                    $crate::store::PERIOD_WHERE
                ))
                .bind(agent_id)
                .bind(i64::MIN)
                .bind(since.unwrap_or(i64::MIN))
                .bind(until.unwrap_or(i64::MAX))
                .fetch_one(&self.read)
                .await?;
                let count: i64 = row.try_get(0)?;
                let first: Option<i64> = row.try_get(1)?;
                let last: Option<i64> = row.try_get(2)?;
                Ok(match (first, last) {
                    (Some(first), Some(last)) if count > 0 => Some($crate::store::StatementSpan {
                        statements: u64::try_from(count).unwrap_or_default(),
                        first_collected: first,
                        last_collected: last,
                    }),
                    _ => None,
                })
            }

            async fn add_attester(
                &self,
                a: &$crate::store::AttesterRecord,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO attesters (key_id, name, public_key, registered_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (key_id) DO UPDATE SET name = excluded.name",
                )
                .bind(&a.key_id)
                .bind(&a.name)
                .bind(a.public_key.as_slice())
                .bind(a.registered_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn attesters(&self) -> Result<Vec<$crate::store::AttesterRecord>, StoreError> {
                let rows = sqlx::query(
                    "SELECT key_id, name, public_key, registered_at, revoked_at FROM attesters ORDER BY key_id",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::AttesterRecord {
                            key_id: r.try_get(0)?,
                            name: r.try_get(1)?,
                            public_key: r.try_get(2)?,
                            registered_at: r.try_get(3)?,
                            revoked_at: r.try_get(4)?,
                        })
                    })
                    .collect()
            }

            async fn revoke_attester(&self, key_id: &str, at: i64) -> Result<bool, StoreError> {
                let found = sqlx::query("SELECT 1 FROM attesters WHERE key_id = $1")
                    .bind(key_id)
                    .fetch_optional(&self.write)
                    .await?
                    .is_some();
                sqlx::query(
                    "UPDATE attesters SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL",
                )
                .bind(key_id)
                .bind(at)
                .execute(&self.write)
                .await?;
                Ok(found)
            }

            async fn add_attestation(
                &self,
                a: &$crate::store::NewAttestation,
                documents: &[(Digest, Vec<u8>)],
            ) -> Result<(), StoreError> {
                let mut tx = self.write.begin_with($begin).await?;
                let docs: Vec<(&[u8], &[u8], Option<&str>)> = documents
                    .iter()
                    .map(|(d, b)| (d.0.as_slice(), b.as_slice(), None))
                    .collect();
                insert_blobs(&mut tx, &docs).await?;
                sqlx::query(
                    "INSERT INTO attestations (digest, control, attester_key_id, expires, created_at, envelope) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(a.digest.0.as_slice())
                .bind(&a.control)
                .bind(&a.attester_key_id)
                .bind(&a.expires)
                .bind(a.created_at)
                .bind(a.envelope.as_slice())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn attestations_for(
                &self,
                controls: &[String],
                expires_from: &str,
            ) -> Result<Vec<$crate::store::NewAttestation>, StoreError> {
                let mut out = Vec::new();
                for chunk in controls.chunks(500) {
                    let sql = format!(
                        "SELECT digest, control, attester_key_id, expires, created_at, envelope \
                         FROM attestations WHERE control IN ({}) AND expires >= $1 ORDER BY created_at, digest",
                        placeholders(2, chunk.len())
                    );
                    let mut q = sqlx::query(&sql).bind(expires_from);
                    for c in chunk {
                        q = q.bind(c);
                    }
                    for r in q.fetch_all(&self.read).await? {
                        out.push($crate::store::NewAttestation {
                            digest: digest_from(&r.try_get::<Vec<u8>, _>(0)?)?,
                            control: r.try_get(1)?,
                            attester_key_id: r.try_get(2)?,
                            expires: r.try_get(3)?,
                            created_at: r.try_get(4)?,
                            envelope: r.try_get(5)?,
                        });
                    }
                }
                out.sort_by(|a, b| (a.created_at, a.digest).cmp(&(b.created_at, b.digest)));
                Ok(out)
            }

            async fn attestations(&self) -> Result<Vec<$crate::store::NewAttestation>, StoreError> {
                let rows = sqlx::query(
                    "SELECT digest, control, attester_key_id, expires, created_at, envelope \
                     FROM attestations ORDER BY created_at, digest",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::NewAttestation {
                            digest: digest_from(&r.try_get::<Vec<u8>, _>(0)?)?,
                            control: r.try_get(1)?,
                            attester_key_id: r.try_get(2)?,
                            expires: r.try_get(3)?,
                            created_at: r.try_get(4)?,
                            envelope: r.try_get(5)?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_lists_take_a_power_of_two_filled_with_the_last_value() {
        let (ph, v) = in_list::<sqlx::Postgres, _>(&["a", "b", "c"]);
        assert_eq!(ph, "$1,$2,$3,$4");
        assert_eq!(v.copied().collect::<Vec<_>>(), ["a", "b", "c", "c"]);
        let (ph, v) = in_list::<sqlx::Sqlite, _>(&["a", "b", "c"]);
        assert_eq!(ph, "?,?,?,?");
        assert_eq!(v.count(), 4);
        let (ph, v) = in_list::<sqlx::Postgres, _>(&["a"]);
        assert_eq!((ph.as_str(), v.count()), ("$1", 1));
        let (ph, v) = in_list::<sqlx::Postgres, _>(&[1; 64]);
        assert_eq!((ph.matches('$').count(), v.count()), (64, 64));
        let (ph, v) = in_list::<sqlx::Sqlite, _>(&[1; 65]);
        assert_eq!((ph.matches('?').count(), v.count()), (128, 128));
        let (_, v) = in_list::<sqlx::Sqlite, u8>(&[]);
        assert_eq!(v.count(), 0);
    }

    #[test]
    fn value_rows_number_every_parameter_in_order() {
        assert_eq!(
            value_rows::<sqlx::Postgres>(2, 3),
            "($1, $2, $3),($4, $5, $6)"
        );
        assert_eq!(value_rows::<sqlx::Sqlite>(2, 2), "(?, ?),(?, ?)");
        assert_eq!(value_rows::<sqlx::Sqlite>(0, 2), "");
    }
}
