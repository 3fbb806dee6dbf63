//! The writer's batch at once: most runs a collector receives are the
//! next statement of an active host whose results equal its drift state
//! (an unchanged run). For those, `ingest_fast` reads what the per-item
//! path would read with one query per batch instead of several per item
//! (agents, duplicates, drift state, open stale alerts) and writes blobs,
//! results, statement rows and agent heads with multi-row statements: a
//! batch of N such runs costs ~8 round trips instead of ~5 N (what bounds
//! PostgreSQL, a network round trip each). Every other item (a host's first
//! statement, a gap, a chain break, a duplicate, a conflict, changed results,
//! a stale alert to resolve, several items of one host in a batch, a
//! vulnerability state change: an inventory the host did not hold, a CVE
//! opened or resolved) goes
//! through the per-item `ingest_one` in the same transaction, which decides
//! everything as before. `insert_statement_rows` is the one statement-row
//! INSERT both paths use.
//!
//! Safe by construction: a fast item is stored exactly as `ingest_one`
//! would store it (same rows; no event, no drift change, which is what
//! `ingest_one` decides for it; of its vulnerability update, which every
//! run with a package inventory carries, only the open pairs' last-seen
//! statement, as `vuln_apply_tx` writes it for an inventory already
//! held); every agent of the batch is locked first, in id order
//! (PostgreSQL); and if anything fails the writer retries the items one by
//! one, and a batch of one never takes this path.
//!
//! Statement texts: the lookups' `IN` lists are padded to a power of two
//! ([`in_list`](crate::store::sql::in_list)), so they take a few texts that
//! stay prepared; the multi-row writes, whose text changes with every
//! batch's size, are not kept prepared (`persistent(false)`) so that they do
//! not push those out of the connection's statement cache.

macro_rules! impl_ingest_batch {
    ($db:ty, lock = $lock:literal, drift_head = $drift_head:literal) => {
        /// Insert the statement rows of `items` (multi-row, chunked), each
        /// envelope in its smallest stored form (`stored_form`: a
        /// template reference where re-rendering gives the exact bytes).
        async fn insert_statement_rows(
            tx: &mut sqlx::Transaction<'static, $db>,
            items: &[&$crate::store::IngestItem],
        ) -> Result<(), $crate::store::StoreError> {
            let mut templates = std::collections::HashMap::new();
            for chunk in items.chunks(100) {
                let cut: Vec<Option<($crate::store::template::Packed, evident_core::Digest)>> = chunk
                    .iter()
                    .map(|item| {
                        $crate::store::template::pack(&item.envelope, item.sequence, item.collected_at)
                            .map(|p| {
                                let d = p.template.digest();
                                (p, d)
                            })
                    })
                    .collect();
                let digests: Vec<evident_core::Digest> =
                    cut.iter().flatten().map(|(_, d)| *d).collect();
                find_templates(tx, &digests, &mut templates).await?;
                let mut packed = Vec::with_capacity(chunk.len());
                for (item, cut) in chunk.iter().zip(cut) {
                    packed.push(stored_form(tx, &item.envelope, cut, &mut templates).await?);
                }
                let values = $crate::store::sql::value_rows::<$db>(chunk.len(), 9);
                let sql = format!(
                    "INSERT INTO statements (agent_id, sequence, digest, collected_at, received_at, results, envelope_form, envelope, template_id) \
                     VALUES {values}"
                );
                let mut q = sqlx::query(&sql).persistent(false);
                for (item, (form, data, template)) in chunk.iter().zip(packed) {
                    q = q
                        .bind(item.agent_id.as_str())
                        .bind(item.sequence)
                        .bind(item.envelope_digest.0.as_slice())
                        .bind(item.collected_at)
                        .bind(item.received_at)
                        .bind(item.results_digest.0.as_slice())
                        .bind(form)
                        .bind(data)
                        .bind(template);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// `INSERT INTO blobs … ON CONFLICT DO NOTHING` for (digest, raw
        /// bytes, sending agent) rows, chunked, each in its stored encoding
        /// ([`blob::pack`]($crate::store::blob::pack): zstd where that pays).
        /// A large blob an agent sent ([`blob::DELTA_MIN`]($crate::store::blob::DELTA_MIN))
        /// goes through [`insert_owned_blob`]: a delta against the agent's last
        /// whole blob of its kind when that pays. Rows are taken in order (an
        /// agent's later blob is compared with its earlier one).
        /// Every writer of `blobs` goes through here.
        async fn insert_blobs<'a>(
            tx: &mut sqlx::Transaction<'static, $db>,
            rows: &[(&[u8], &[u8], Option<&'a str>)],
        ) -> Result<(), $crate::store::StoreError> {
            let owned_by = |(_, data, owner): &&(&[u8], &[u8], Option<&'a str>)| {
                owner.filter(|_| data.len() >= $crate::store::blob::DELTA_MIN)
            };
            let plain: Vec<_> = rows.iter().filter(|r| owned_by(r).is_none()).collect();
            for chunk in plain.chunks(200) {
                let values = $crate::store::sql::value_rows::<$db>(chunk.len(), 3);
                let sql = format!(
                    "INSERT INTO blobs (digest, encoding, data) VALUES {values} ON CONFLICT DO NOTHING"
                );
                let packed: Vec<(i64, std::borrow::Cow<'_, [u8]>)> = chunk
                    .iter()
                    .map(|(_, data, _)| $crate::store::blob::pack(data))
                    .collect();
                let mut q = sqlx::query(&sql).persistent(false);
                for ((digest, _, _), (encoding, data)) in chunk.iter().zip(&packed) {
                    q = q.bind(*digest).bind(*encoding).bind(data.as_ref());
                }
                q.execute(&mut **tx).await?;
            }
            for (r, agent) in rows.iter().filter_map(|r| Some((r, owned_by(&r)?))) {
                insert_owned_blob(tx, r.0, r.1, agent).await?;
            }
            Ok(())
        }

        /// One large blob `agent` sent: skipped when stored; else a
        /// [`DELTA`]($crate::store::blob::DELTA) against the agent's base of
        /// its [`kind`]($crate::store::blob::kind) when that is at most a
        /// quarter of the blob compressed alone, or stored whole and made
        /// the agent's base of its kind. A base that does not read back
        /// (damaged) is an error: nothing is written against it.
        async fn insert_owned_blob(
            tx: &mut sqlx::Transaction<'static, $db>,
            digest: &[u8],
            data: &[u8],
            agent: &str,
        ) -> Result<(), $crate::store::StoreError> {
            use $crate::store::blob;
            use sqlx::Row as _;
            let stored = sqlx::query("SELECT 1 FROM blobs WHERE digest = $1")
                .bind(digest)
                .fetch_optional(&mut **tx)
                .await?;
            if stored.is_some() {
                return Ok(());
            }
            let kind = blob::kind(data);
            let base = sqlx::query(
                "SELECT b.digest, b.encoding, b.data FROM blob_bases k \
                 JOIN blobs b ON b.digest = k.digest WHERE k.agent_id = $1 AND k.kind = $2",
            )
            .bind(agent)
            .bind(kind)
            .fetch_optional(&mut **tx)
            .await?;
            let base = match base {
                Some(row) => {
                    let d = $crate::store::digest_from(&row.try_get::<Vec<u8>, _>(0)?)?;
                    Some((d, blob::unpack_base(&d, row.try_get(1)?, row.try_get(2)?)?))
                }
                None => None,
            };
            let (encoding, alone) = blob::pack(data);
            if let Some((base_digest, base)) = &base {
                if let Some(delta) = blob::pack_against(data, base, alone.len()) {
                    sqlx::query(
                        "INSERT INTO blobs (digest, encoding, data, base) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(digest)
                    .bind(blob::DELTA)
                    .bind(delta)
                    .bind(base_digest.0.as_slice())
                    .execute(&mut **tx)
                    .await?;
                    return Ok(());
                }
            }
            sqlx::query("INSERT INTO blobs (digest, encoding, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                .bind(digest)
                .bind(encoding)
                .bind(alone.as_ref())
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO blob_bases (agent_id, kind, digest) VALUES ($1, $2, $3) \
                 ON CONFLICT (agent_id, kind) DO UPDATE SET digest = excluded.digest",
            )
            .bind(agent)
            .bind(kind)
            .bind(digest)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// `INSERT INTO table (digest, data) … ON CONFLICT DO NOTHING` for
        /// content-addressed rows, chunked.
        async fn insert_content(
            tx: &mut sqlx::Transaction<'static, $db>,
            table: &str,
            rows: &[(&evident_core::Digest, &[u8])],
        ) -> Result<(), $crate::store::StoreError> {
            for chunk in rows.chunks(200) {
                let values = $crate::store::sql::value_rows::<$db>(chunk.len(), 2);
                let sql =
                    format!("INSERT INTO {table} (digest, data) VALUES {values} ON CONFLICT DO NOTHING");
                let mut q = sqlx::query(&sql).persistent(false);
                for (digest, data) in chunk {
                    q = q.bind(digest.0.as_slice()).bind(*data);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Store the items of `items` that are the plain next run of their
        /// host (see the module); None for each item left to `ingest_one`.
        async fn ingest_fast(
            tx: &mut sqlx::Transaction<'static, $db>,
            items: &[$crate::store::IngestItem],
        ) -> Result<Vec<Option<$crate::store::IngestOutcome>>, $crate::store::StoreError> {
            use sqlx::Row as _;
            use std::collections::{BTreeMap, HashSet};
            /// What decides whether an agent's run is plain.
            struct Head {
                status: String,
                last: Option<i64>,
                digest: Option<Vec<u8>>,
                /// Results digest and interval of its drift state.
                drift: Option<(Vec<u8>, i64)>,
                open_stale: bool,
                /// The packages digest of the inventory it holds.
                held: Option<Vec<u8>>,
            }
            let mut count: BTreeMap<&str, usize> = BTreeMap::new();
            for it in items {
                *count.entry(it.agent_id.as_str()).or_default() += 1;
            }
            let ids: Vec<&str> = count.keys().copied().collect();

            // Every agent of the batch, locked in id order, with all the
            // state that decides whether its run is plain, in one query:
            // its head, its drift state, its open stale alerts and the
            // inventory it holds (its newest `vuln_inventories` row). The
            // drift head comes from `drift_head` (SQLite: the index of
            // migration 180, named because the planner would take the
            // primary key and read the row's `statuses` overflow pages).
            let mut heads: BTreeMap<String, Head> = BTreeMap::new();
            for chunk in ids.chunks(512) {
                let (ph, values) = $crate::store::sql::in_list::<$db, _>(chunk);
                let sql = format!(
                    "SELECT a.id, a.status, a.last_sequence, a.last_digest, \
                     (SELECT d.results FROM drift_state d{drift} WHERE d.agent_id = a.id), \
                     (SELECT d.interval_seconds FROM drift_state d{drift} WHERE d.agent_id = a.id), \
                     (SELECT COUNT(*) FROM alerts l WHERE l.agent_id = a.id AND l.kind = 'stale' \
                      AND l.state <> 'resolved'), \
                     (SELECT v.packages FROM vuln_inventories v WHERE v.agent_id = a.id \
                      ORDER BY v.first_sequence DESC LIMIT 1) \
                     FROM agents a WHERE a.id IN ({ph}) ORDER BY a.id{}",
                    $lock,
                    drift = $drift_head
                );
                let mut q = sqlx::query(&sql);
                for id in values {
                    q = q.bind(*id);
                }
                for r in q.fetch_all(&mut **tx).await? {
                    let results: Option<Vec<u8>> = r.try_get(4)?;
                    let interval: Option<i64> = r.try_get(5)?;
                    heads.insert(
                        r.try_get(0)?,
                        Head {
                            status: r.try_get(1)?,
                            last: r.try_get(2)?,
                            digest: r.try_get(3)?,
                            drift: results.zip(interval),
                            open_stale: r.try_get::<i64, _>(6)? > 0,
                            held: r.try_get(7)?,
                        },
                    );
                }
            }

            // Plain: the next statement of an active host, chained; results
            // equal to its drift state (same interval) and no open stale
            // alert, so drift changes nothing; the inventory it names the
            // one the host holds, else `ingest_one` records the new one.
            //
            // No lookup of the candidates' digests among the stored
            // statements: a candidate is its agent's only item in the batch
            // and the next sequence after the highest stored (or pruned to a
            // chain stub), and the digest covers the whole envelope, whose
            // payload names the sequence and whose signature the agent's
            // key, so no stored envelope can have it. Were one to, the
            // `statements.digest` unique constraint fails the batch and the
            // writer retries its items one by one through `ingest_one`,
            // which answers `Duplicate`.
            let cand: Vec<bool> = items
                .iter()
                .map(|it| {
                    let Some(h) = heads.get(&it.agent_id) else {
                        return false;
                    };
                    // A CVE opened or resolved is written by `ingest_one`.
                    let vuln_quiet = it.vuln.as_deref().is_none_or(|u| {
                        u.new.is_empty()
                            && u.gone.is_empty()
                            && u.packages.is_none_or(|p| {
                                h.held.as_deref() == Some(p.0.as_slice())
                            })
                    });
                    let chained = h.status == "active"
                        && h.last.is_some_and(|l| it.sequence == l.saturating_add(1))
                        && h.digest.as_deref().is_none_or(|d| {
                            it.previous.is_some_and(|p| p.0.as_slice() == d)
                        });
                    let drift_quiet = it.drift.as_ref().is_none_or(|d| {
                        let interval = i64::try_from(d.interval_seconds).unwrap_or(i64::MAX);
                        !h.open_stale
                            && h.drift.as_ref().is_some_and(|(results, iv)| {
                                results.as_slice() == it.results_digest.0.as_slice()
                                    && *iv == interval
                            })
                    });
                    count.get(it.agent_id.as_str()) == Some(&1) && vuln_quiet && chained && drift_quiet
                })
                .collect();

            let fast: Vec<&$crate::store::IngestItem> = items
                .iter()
                .zip(&cand)
                .filter(|(_, c)| **c)
                .map(|(it, _)| it)
                .collect();
            if fast.is_empty() {
                return Ok(vec![None; items.len()]);
            }
            let mut seen = HashSet::new();
            let blobs: Vec<(&[u8], &[u8], Option<&str>)> = fast
                .iter()
                .flat_map(|it| it.blobs.iter().map(move |b| (it, b)))
                .filter(|(_, (d, _))| seen.insert(*d))
                .map(|(it, (d, b))| (d.0.as_slice(), b.as_slice(), Some(it.agent_id.as_str())))
                .collect();
            insert_blobs(tx, &blobs).await?;
            let mut seen = HashSet::new();
            let results: Vec<(&evident_core::Digest, &[u8])> = fast
                .iter()
                .filter_map(|it| it.results.as_ref().map(|r| (&it.results_digest, r.as_slice())))
                .filter(|(d, _)| seen.insert(*d))
                .collect();
            insert_content(tx, "results", &results).await?;
            insert_statement_rows(tx, &fast).await?;
            for chunk in fast.chunks(100) {
                let values = $crate::store::sql::value_rows::<$db>(chunk.len(), 6);
                let sql = format!(
                    "UPDATE agents SET last_sequence = v.column2, last_digest = v.column3, \
                     last_seen = v.column4, latest_results = v.column5, latest_collected_at = v.column6 \
                     FROM (VALUES {values}) AS v WHERE agents.id = v.column1"
                );
                let mut q = sqlx::query(&sql).persistent(false);
                for it in chunk {
                    q = q
                        .bind(it.agent_id.as_str())
                        .bind(it.sequence)
                        .bind(it.envelope_digest.0.as_slice())
                        .bind(it.received_at)
                        .bind(it.results_digest.0.as_slice())
                        .bind(it.collected_at);
                }
                q.execute(&mut **tx).await?;
            }
            // The open pairs' last-seen statement moves to this one.
            let refresh: Vec<&$crate::store::VulnUpdate> = fast
                .iter()
                .filter_map(|it| it.vuln.as_deref())
                .filter(|u| u.refresh_last)
                .collect();
            for chunk in refresh.chunks(100) {
                let values = $crate::store::sql::value_rows::<$db>(chunk.len(), 3);
                let sql = format!(
                    "UPDATE vuln_first_seen SET last_sequence = v.column2, last_at = v.column3 \
                     FROM (VALUES {values}) AS v WHERE vuln_first_seen.agent_id = v.column1 \
                     AND vuln_first_seen.resolved_sequence IS NULL \
                     AND vuln_first_seen.last_sequence < v.column2"
                );
                let mut q = sqlx::query(&sql).persistent(false);
                for u in chunk {
                    q = q
                        .bind(u.agent_id.as_str())
                        .bind(u.statement.sequence)
                        .bind(u.statement.at);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(cand
                .iter()
                .map(|c| c.then(|| $crate::store::IngestOutcome::Stored { events: Vec::new() }))
                .collect())
        }
    };
}

pub(crate) use impl_ingest_batch;
