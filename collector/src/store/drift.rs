//! Storage for drift and alerting: transitions, alerts and the delivery
//! outbox. [`AlertStore`] is a supertrait of [`Store`](super::Store), so
//! every store implements it; the SQL is shared by both backends through
//! [`impl_drift_store!`]. Transitions, alert changes and outbox rows are
//! written inside the ingest transaction (see `drift_on_ingest`), each
//! table's rows of a run in one statement (`store/sets.rs`).
//!
//! Why this file is longer than ~700 lines: the `AlertStore` trait and its
//! record types (~220 lines) sit beside the one macro that implements them
//! for both backends; the decisions themselves are in `evident_core::drift`,
//! and what remains here is SQL that must stay together to stay identical
//! on SQLite and PostgreSQL.

use super::StoreError;
use async_trait::async_trait;
use evident_core::drift::StatusMap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The statuses of one evaluation (cached with it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftEval {
    /// `rule:ID` / `control:ID` → status.
    pub statuses: StatusMap,
    /// Subject → severity.
    pub severities: BTreeMap<String, String>,
    /// Failing subject → how to fix its failing rules (see
    /// `evident_core::drift::remediations`).
    pub remediation: BTreeMap<String, Vec<evident_core::drift::Remediation>>,
}

impl DriftEval {
    /// The statuses of stored results (what ingest caches with an evaluation).
    pub fn from_results(results: &evident_core::bundle::RecordedResults) -> DriftEval {
        let (statuses, severities) =
            evident_core::drift::statuses(&results.rules, &results.controls);
        DriftEval {
            statuses,
            severities,
            remediation: evident_core::drift::remediations(&results.rules),
        }
    }
}

/// Settings the store needs to open alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriftSettings {
    /// Names of the configured sinks (one outbox row per sink and event).
    pub sinks: Vec<String>,
    /// Flapping window, ms.
    pub flap_window_ms: i64,
    /// Flapping threshold.
    pub flap_threshold: u32,
}

/// What an ingested statement brings for drift detection.
#[derive(Debug, Clone)]
pub struct DriftInput {
    /// The evaluation's statuses. Empty (no status at all: no evaluation
    /// has none, every evaluation rolls up the 93 controls) when ingest
    /// knows only the digest of results already stored: the writer then
    /// derives them from the stored results, and only if the host's drift
    /// state differs (an unchanged run's results equal it).
    pub eval: Arc<DriftEval>,
    /// The agent's schedule interval, seconds.
    pub interval_seconds: u64,
    /// Settings.
    pub settings: Arc<DriftSettings>,
}

/// An alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertRecord {
    /// Id.
    pub id: i64,
    /// Agent.
    pub agent_id: String,
    /// Host name of the agent.
    pub hostname: String,
    /// `drift`, `stale` or `integrity`.
    pub kind: String,
    /// `rule:ID`, `control:ID`, `host` or `integrity:KIND`.
    pub subject: String,
    /// low, medium, high, critical.
    pub severity: String,
    /// open, acknowledged, resolved.
    pub state: String,
    /// Found on the host's first statement, not a change.
    pub baseline: bool,
    /// Collapsed flapping.
    pub flapping: bool,
    /// For a person.
    pub detail: String,
    /// Unix ms.
    pub opened_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Unix ms.
    pub resolved_at: Option<i64>,
    /// Who acknowledged it.
    pub ack_by: Option<String>,
    /// Why.
    pub ack_reason: Option<String>,
    /// Unix ms.
    pub ack_at: Option<i64>,
}

/// Every alert kind: `drift` (status changes, the baseline summary,
/// flapping), `stale` (silent hosts) and `integrity` (chain, sequence and
/// signature events).
pub const ALERT_KINDS: [&str; 3] = ["drift", "stale", "integrity"];

/// Which alerts to list.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    /// Only open or acknowledged ones.
    pub open_only: bool,
    /// Only this agent id or host name.
    pub host: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Ids above this.
    pub after: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransitionRow {
    /// Id.
    pub id: i64,
    /// Agent.
    pub agent_id: String,
    /// Subject.
    pub subject: String,
    /// Previous status.
    pub from: Option<String>,
    /// New status.
    pub to: String,
    /// Statement sequence.
    pub sequence: i64,
    /// Unix ms.
    pub at: i64,
}

/// A notification to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Id.
    pub id: i64,
    /// Alert.
    pub alert_id: i64,
    /// `opened` or `resolved`.
    pub event: String,
    /// Sink name.
    pub sink: String,
    /// JSON body.
    pub payload: String,
    /// Attempts so far, including this one.
    pub attempts: i64,
    /// When it was queued, Unix ms.
    pub created_at: i64,
}

/// An alert to raise outside ingest (stale hosts, refused keys).
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// Agent.
    pub agent_id: String,
    /// Kind.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Severity.
    pub severity: String,
    /// Detail.
    pub detail: String,
    /// Unix ms.
    pub now: i64,
}

/// An alert of an export's period, with the statements that opened and
/// resolved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodAlert {
    /// The alert as it stands.
    pub record: AlertRecord,
    /// Sequence of the statement whose evaluation opened it.
    pub opened_sequence: Option<i64>,
    /// Sequence of the statement whose evaluation resolved it.
    pub resolved_sequence: Option<i64>,
}

/// Drift and alerting storage.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Alerts, newest first.
    async fn list_alerts(&self, q: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError>;

    /// The alerts of `agent_id` open at some time within `since..=until`
    /// (Unix ms; None: unbounded): opened by `until` and not resolved
    /// before `since`, oldest first.
    async fn period_alerts(
        &self,
        agent_id: &str,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Vec<PeriodAlert>, StoreError>;
    /// One alert.
    async fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError>;
    /// Acknowledge an open alert; false when unknown or not open.
    async fn ack_alert(
        &self,
        id: i64,
        by: &str,
        reason: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Transitions, newest first, for an agent and/or a subject.
    async fn transitions(
        &self,
        agent_id: Option<&str>,
        subject: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TransitionRow>, StoreError>;
    /// Open an alert (if none is open for its host, kind and subject) and
    /// queue its notification; the new id, or None when one was open.
    async fn raise_alert(&self, a: &NewAlert, sinks: &[String]) -> Result<Option<i64>, StoreError>;
    /// Open `stale` alerts for active hosts silent longer than their interval
    /// times `factor` at `now`; the ids opened.
    async fn open_stale(
        &self,
        now: i64,
        factor: f64,
        sinks: &[String],
    ) -> Result<Vec<i64>, StoreError>;
    /// Claim up to `limit` due notifications for `lease_ms` (skipping rows
    /// another replica holds).
    async fn claim_outbox(
        &self,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// Mark a notification delivered.
    async fn outbox_delivered(&self, id: i64, now: i64) -> Result<(), StoreError>;
    /// Schedule another attempt.
    async fn outbox_retry(&self, id: i64, at: i64, error: &str) -> Result<(), StoreError>;
    /// Put a claimed notification back untried (an earlier one of its
    /// sink failed): due at `at`, the claim's attempt not counted.
    async fn outbox_release(&self, id: i64, at: i64) -> Result<(), StoreError>;
    /// Give up on a notification: it counts as finished (`delivered_at`)
    /// and failed (`failed_at`), with the last error.
    async fn outbox_failed(&self, id: i64, now: i64, error: &str) -> Result<(), StoreError>;
    /// Notifications not delivered yet.
    async fn outbox_pending(&self) -> Result<i64, StoreError>;
    /// What `/metrics` shows of alerts and the outbox.
    async fn alert_gauges(&self) -> Result<AlertGauges, StoreError>;
    /// Fleet counts: (control subject, status, active hosts whose latest
    /// evaluation has it), maintained at ingest (no recount).
    async fn fleet_status(&self) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// Of the active hosts with an open `stale` alert: (control subject,
    /// passing status, hosts) from `host_status`, in one grouped query
    /// (fleet counts report these as `stale`).
    async fn stale_passing_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// The statuses of an agent's latest evaluation.
    async fn drift_statuses(&self, agent_id: &str) -> Result<Option<StatusMap>, StoreError>;
}

/// Alert and outbox gauges for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertGauges {
    /// Not resolved alerts: (kind, severity, count).
    pub open: Vec<(String, String, i64)>,
    /// Notifications waiting for delivery.
    pub outbox_depth: i64,
    /// `created_at` (Unix ms) of the oldest waiting notification.
    pub outbox_oldest: Option<i64>,
    /// Notifications given up on.
    pub outbox_failed: i64,
}

/// The JSON a notification is stored as in the outbox (sinks render
/// their own bodies from it; see `alerting::payload`).
#[derive(Debug, Clone, Serialize)]
pub struct Notification<'a> {
    /// Alert id.
    pub alert_id: i64,
    /// `opened` or `resolved`.
    pub event: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Agent.
    pub agent_id: &'a str,
    /// Host name.
    pub hostname: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Severity.
    pub severity: &'a str,
    /// Detail.
    pub detail: &'a str,
    /// Unix ms.
    pub at: i64,
    /// How to fix the failing rules behind the alert (empty when none).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub remediation: &'a [evident_core::drift::Remediation],
}

macro_rules! impl_drift_store {
    ($ty:ty, $db:ty, begin = $begin:expr, skip_locked = $skip:literal) => {
        use $crate::store::drift::{
            AlertGauges, AlertQuery, AlertRecord, AlertStore, DriftEval, NewAlert, Notification, OutboxRow, PeriodAlert,
            TransitionRow,
        };

        const ALERT_COLS: &str = "a.id, a.agent_id, COALESCE(g.hostname, ''), a.kind, a.subject, a.severity, \
             a.state, a.baseline, a.flapping, a.detail, a.opened_at, a.updated_at, a.resolved_at, \
             a.ack_by, a.ack_reason, a.ack_at";

        fn alert_from_row(r: &<$db as sqlx::Database>::Row) -> Result<AlertRecord, StoreError> {
            Ok(AlertRecord {
                id: r.try_get(0)?,
                agent_id: r.try_get(1)?,
                hostname: r.try_get(2)?,
                kind: r.try_get(3)?,
                subject: r.try_get(4)?,
                severity: r.try_get(5)?,
                state: r.try_get(6)?,
                baseline: r.try_get::<i64, _>(7)? != 0,
                flapping: r.try_get::<i64, _>(8)? != 0,
                detail: r.try_get(9)?,
                opened_at: r.try_get(10)?,
                updated_at: r.try_get(11)?,
                resolved_at: r.try_get(12)?,
                ack_by: r.try_get(13)?,
                ack_reason: r.try_get(14)?,
                ack_at: r.try_get(15)?,
            })
        }

        async fn drift_hostname(
            tx: &mut sqlx::Transaction<'static, $db>,
            agent_id: &str,
        ) -> Result<String, StoreError> {
            let row = sqlx::query("SELECT hostname FROM agents WHERE id = $1")
                .bind(agent_id)
                .fetch_optional(&mut **tx)
                .await?;
            Ok(match row {
                Some(r) => r.try_get(0)?,
                None => String::new(),
            })
        }

        /// The outbox payload of `event` of alert `id`.
        #[allow(clippy::too_many_arguments)]
        fn drift_payload(
            id: i64,
            event: &str,
            kind: &str,
            agent_id: &str,
            hostname: &str,
            subject: &str,
            severity: &str,
            detail: &str,
            remediation: &[evident_core::drift::Remediation],
            now: i64,
        ) -> Result<String, StoreError> {
            serde_json::to_string(&Notification {
                alert_id: id,
                event,
                kind,
                agent_id,
                hostname,
                subject,
                severity,
                detail,
                at: now,
                remediation,
            })
            .map_err(|e| StoreError::Corrupt(e.to_string()))
        }

        /// Queue `event` of alert `id` for every sink (one statement).
        #[allow(clippy::too_many_arguments)]
        async fn drift_enqueue(
            tx: &mut sqlx::Transaction<'static, $db>,
            sinks: &[String],
            id: i64,
            event: &str,
            kind: &str,
            agent_id: &str,
            hostname: &str,
            subject: &str,
            severity: &str,
            detail: &str,
            remediation: &[evident_core::drift::Remediation],
            now: i64,
        ) -> Result<(), StoreError> {
            if sinks.is_empty() {
                return Ok(());
            }
            let payload = drift_payload(id, event, kind, agent_id, hostname, subject, severity, detail, remediation, now)?;
            let rows: Vec<$crate::store::sets::OutboxInsert<'_>> =
                sinks.iter().map(|sink| (id, event, sink.as_str(), payload.clone())).collect();
            insert_outbox(tx, &rows, now).await
        }

        /// Insert an alert unless one is open for (agent, kind, subject).
        #[allow(clippy::too_many_arguments)]
        async fn drift_open(
            tx: &mut sqlx::Transaction<'static, $db>,
            agent_id: &str,
            kind: &str,
            subject: &str,
            severity: &str,
            baseline: bool,
            detail: &str,
            now: i64,
            sequence: Option<i64>,
        ) -> Result<Option<i64>, StoreError> {
            let row = sqlx::query(
                "INSERT INTO alerts (agent_id, kind, subject, severity, state, baseline, detail, opened_at, updated_at, opened_sequence) \
                 VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $7, $8) \
                 ON CONFLICT (agent_id, kind, subject) WHERE state <> 'resolved' DO NOTHING RETURNING id",
            )
            .bind(agent_id)
            .bind(kind)
            .bind(subject)
            .bind(severity)
            .bind(i64::from(baseline))
            .bind(detail)
            .bind(now)
            .bind(sequence)
            .fetch_optional(&mut **tx)
            .await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        }

        /// The host's alerts of `kind` not resolved.
        async fn drift_open_alerts(
            tx: &mut sqlx::Transaction<'static, $db>,
            agent_id: &str,
            kind: &str,
        ) -> Result<Vec<evident_core::drift::OpenAlert>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, subject, severity, baseline, flapping FROM alerts \
                 WHERE agent_id = $1 AND kind = $2 AND state <> 'resolved' ORDER BY id",
            )
            .bind(agent_id)
            .bind(kind)
            .fetch_all(&mut **tx)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(evident_core::drift::OpenAlert {
                        id: r.try_get(0)?,
                        subject: r.try_get(1)?,
                        severity: r.try_get(2)?,
                        baseline: r.try_get::<i64, _>(3)? != 0,
                        flapping: r.try_get::<i64, _>(4)? != 0,
                    })
                })
                .collect()
        }

        /// Apply alert operations decided by `evident_core::drift`, queueing
        /// notifications for the configured sinks; `sequence` is the
        /// statement whose evaluation decided them (None: no statement).
        /// One statement per kind of operation (`store/sets.rs`): the
        /// operations of one decision touch distinct alerts (an alert is
        /// opened only for a subject without one, resolved or marked only
        /// when open), so flags, then resolutions, then openings give the
        /// rows applying them in order gives; new alerts get their ids and
        /// notifications their outbox rows in the operations' order.
        #[allow(clippy::too_many_arguments)]
        async fn drift_apply(
            tx: &mut sqlx::Transaction<'static, $db>,
            sinks: &[String],
            agent: &str,
            ops: &[evident_core::drift::AlertOp],
            now: i64,
            sequence: Option<i64>,
            host: &mut Option<String>,
            remediation: Option<&std::collections::BTreeMap<String, Vec<evident_core::drift::Remediation>>>,
        ) -> Result<(), StoreError> {
            use evident_core::drift::AlertOp;
            if ops.is_empty() {
                return Ok(());
            }
            let mut flags = Vec::new();
            let mut resolves = Vec::new();
            let mut opens: Vec<$crate::store::sets::AlertRow<'_>> = Vec::new();
            for op in ops {
                match op {
                    AlertOp::MarkFlapping { id } => flags.push(*id),
                    AlertOp::Resolve { id, .. } => resolves.push(*id),
                    AlertOp::Open(a) => opens.push((a.kind, &a.subject, &a.severity, a.baseline, &a.detail)),
                }
            }
            flag_alerts(tx, &flags, now).await?;
            resolve_alerts(tx, &resolves, now, sequence).await?;
            // (kind, subject) → id of the alert this statement inserted
            // (none when one was open already).
            let mut opened: std::collections::HashMap<(String, String), i64> =
                insert_alerts(tx, agent, &opens, now, sequence)
                    .await?
                    .into_iter()
                    .map(|(id, kind, subject)| ((kind, subject), id))
                    .collect();
            let mut events = Vec::new();
            for op in ops {
                match op {
                    AlertOp::MarkFlapping { .. } => {}
                    AlertOp::Open(a) => {
                        // The first operation for a key took the row.
                        let id = opened.remove(&(a.kind.to_string(), a.subject.clone()));
                        if let Some(id) = id.filter(|_| a.notify) {
                            events.push((id, "opened", a.kind, &a.subject, &a.severity, &a.detail));
                        }
                    }
                    AlertOp::Resolve { id, kind, subject, severity, detail, notify } => {
                        if *notify {
                            events.push((*id, "resolved", *kind, subject, severity, detail));
                        }
                    }
                }
            }
            if events.is_empty() || sinks.is_empty() {
                return Ok(());
            }
            let h = match host.as_ref() {
                Some(h) => h.clone(),
                None => drift_hostname(tx, agent).await?,
            };
            *host = Some(h.clone());
            let mut rows: Vec<$crate::store::sets::OutboxInsert<'_>> = Vec::new();
            for (id, event, kind, subject, severity, detail) in events {
                // Remediation only for an alert opened on a failing subject.
                let fix = match (event, remediation.and_then(|m| m.get(subject.as_str()))) {
                    ("opened", Some(f)) => f.as_slice(),
                    _ => &[],
                };
                let payload = drift_payload(id, event, kind, agent, &h, subject, severity, detail, fix, now)?;
                for sink in sinks {
                    rows.push((id, event, sink.as_str(), payload.clone()));
                }
            }
            insert_outbox(tx, &rows, now).await
        }

        /// Inside the ingest transaction, for a stored statement: raise
        /// integrity alerts for `events`; when it is the agent's newest,
        /// first resolve a stale alert and afterwards record transitions and
        /// apply the drift decision (`evident_core::drift::decide`).
        async fn drift_on_ingest(
            tx: &mut sqlx::Transaction<'static, $db>,
            item: &IngestItem,
            events: &[String],
            newest: bool,
            fleet: &mut $crate::store::fleet::FleetStatusDelta,
        ) -> Result<(), StoreError> {
            use evident_core::drift::{decide, history_needed, integrity_alert, on_arrival, DriftContext, StatusMap};
            let Some(d) = &item.drift else {
                return Ok(());
            };
            let now = item.received_at;
            let sinks = &d.settings.sinks;
            let agent = item.agent_id.as_str();
            let mut host: Option<String> = None;
            if newest {
                let stale = drift_open_alerts(tx, agent, "stale").await?;
                drift_apply(tx, sinks, agent, &on_arrival(&stale), now, Some(item.sequence), &mut host, None).await?;
            }
            let integrity: Vec<_> = events
                .iter()
                .map(|e| evident_core::drift::AlertOp::Open(integrity_alert(e, item.sequence)))
                .collect();
            drift_apply(tx, sinks, agent, &integrity, now, Some(item.sequence), &mut host, None).await?;
            if !newest {
                return Ok(());
            }
            let prev = sqlx::query(
                "SELECT results, statuses, interval_seconds FROM drift_state WHERE agent_id = $1",
            )
            .bind(agent)
            .fetch_optional(&mut **tx)
            .await?;
            let interval = i64::try_from(d.interval_seconds).unwrap_or(i64::MAX);
            let prev_map: Option<StatusMap> = match &prev {
                Some(r) => {
                    let results: Vec<u8> = r.try_get(0)?;
                    let iv: i64 = r.try_get(2)?;
                    if results.as_slice() == item.results_digest.0.as_slice() && iv == interval {
                        return Ok(());
                    }
                    let text: String = r.try_get(1)?;
                    Some(serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("drift state: {e}")))?)
                }
                None => None,
            };
            let derived;
            let eval: &DriftEval = if d.eval.statuses.is_empty() {
                derived = drift_eval_stored(tx, &item.results_digest).await?;
                &derived
            } else {
                &d.eval
            };
            let window = d.settings.flap_window_ms;
            // A host's first statement has no alerts to look at.
            let open = if prev_map.is_some() {
                drift_open_alerts(tx, agent, "drift").await?
            } else {
                Vec::new()
            };
            // The recent transition times of every subject the decision
            // needs, in one query.
            let needed = history_needed(prev_map.as_ref(), &eval.statuses, &open);
            let mut history: BTreeMap<String, Vec<i64>> =
                needed.iter().map(|s| (s.clone(), Vec::new())).collect();
            for (subject, at) in transition_times(tx, agent, &needed, now.saturating_sub(window)).await? {
                history.entry(subject).or_default().push(at);
            }
            let decision = decide(&DriftContext {
                prev: prev_map.as_ref(),
                next: &eval.statuses,
                severities: &eval.severities,
                open: &open,
                history: &history,
                now,
                flap_window_ms: window,
                flap_threshold: d.settings.flap_threshold,
            });
            let changes: Vec<(&str, Option<&str>, &str)> = decision
                .transitions
                .iter()
                .map(|c| (c.subject.as_str(), c.from.as_deref(), c.to.as_str()))
                .collect();
            insert_transitions(tx, agent, &changes, item.sequence, now).await?;
            drift_apply(tx, sinks, agent, &decision.alerts, now, Some(item.sequence), &mut host, Some(&eval.remediation)).await?;
            fleet.apply(prev_map.as_ref(), Some(&eval.statuses));
            host_status_apply(tx, agent, prev_map.as_ref(), &eval.statuses, now).await?;
            let statuses = serde_json::to_string(&eval.statuses).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query(
                "INSERT INTO drift_state (agent_id, results, statuses, interval_seconds, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (agent_id) DO UPDATE SET results = excluded.results, statuses = excluded.statuses, \
                 interval_seconds = excluded.interval_seconds, updated_at = excluded.updated_at",
            )
            .bind(agent)
            .bind(item.results_digest.0.as_slice())
            .bind(statuses)
            .bind(interval)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// The statuses of stored results (an ingest item that carried only their digest).
        async fn drift_eval_stored(
            tx: &mut sqlx::Transaction<'static, $db>,
            digest: &evident_core::Digest,
        ) -> Result<DriftEval, StoreError> {
            let row = sqlx::query("SELECT data FROM results WHERE digest = $1")
                .bind(digest.0.as_slice())
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("results {digest} are not stored")))?;
            let data: Vec<u8> = row.try_get(0)?;
            let results: evident_core::bundle::RecordedResults = serde_json::from_slice(&data)
                .map_err(|e| StoreError::Corrupt(format!("results {digest}: {e}")))?;
            Ok(DriftEval::from_results(&results))
        }

        /// Write the summed fleet count moves of a transaction
        /// (`store/fleet.rs`), once, just before it commits.
        async fn fleet_write(
            tx: &mut sqlx::Transaction<'static, $db>,
            fleet: &$crate::store::fleet::FleetStatusDelta,
        ) -> Result<(), StoreError> {
            add_fleet_status(tx, &fleet.rows()).await
        }

        /// Keep `host_status` (the console's per host × subject latest
        /// status, migration 50) in step: only subjects whose status changed
        /// are written, subjects gone from the evaluation are deleted.
        async fn host_status_apply(
            tx: &mut sqlx::Transaction<'static, $db>,
            agent: &str,
            prev: Option<&evident_core::drift::StatusMap>,
            next: &evident_core::drift::StatusMap,
            now: i64,
        ) -> Result<(), StoreError> {
            let changed: Vec<(&str, &str)> = next
                .iter()
                .filter(|(subject, status)| prev.and_then(|p| p.get(*subject)) != Some(*status))
                .map(|(subject, status)| (subject.as_str(), status.as_str()))
                .collect();
            set_host_status(tx, agent, &changed, now).await?;
            let gone: Vec<&str> = prev
                .into_iter()
                .flat_map(|p| p.keys())
                .filter(|subject| !next.contains_key(*subject))
                .map(String::as_str)
                .collect();
            delete_host_status(tx, agent, &gone).await
        }

        /// Same sequence, different envelope: an integrity alert.
        async fn drift_on_conflict(
            tx: &mut sqlx::Transaction<'static, $db>,
            item: &IngestItem,
        ) -> Result<(), StoreError> {
            if let Some(d) = &item.drift {
                let mut host = None;
                let op = evident_core::drift::AlertOp::Open(evident_core::drift::integrity_alert("conflict", item.sequence));
                drift_apply(tx, &d.settings.sinks, &item.agent_id, &[op], item.received_at, None, &mut host, None).await?;
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl AlertStore for $ty {
            async fn list_alerts(&self, q: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError> {
                // One statement per filter shape, so each uses its index
                // (a host filter goes through agents(id) / agents(hostname)
                // and alerts(agent_id, id)).
                let mut filter = String::new();
                if q.open_only {
                    filter.push_str(" AND a.state <> 'resolved'");
                }
                let mut n = 2;
                if q.host.is_some() {
                    n += 1;
                    filter.push_str(&format!(
                        " AND a.agent_id IN (SELECT id FROM agents WHERE id = ${n} \
                         UNION SELECT id FROM agents WHERE hostname = ${n})"
                    ));
                }
                if q.kind.is_some() {
                    n += 1;
                    filter.push_str(&format!(" AND a.kind = ${n}"));
                }
                let sql = format!(
                    "SELECT {ALERT_COLS} FROM alerts a LEFT JOIN agents g ON g.id = a.agent_id \
                     WHERE a.id < $1{filter} ORDER BY a.id DESC LIMIT $2"
                );
                let mut query = sqlx::query(&sql)
                    .bind(q.after.unwrap_or(i64::MAX))
                    .bind(q.limit);
                if let Some(h) = q.host.as_deref() {
                    query = query.bind(h);
                }
                if let Some(k) = q.kind.as_deref() {
                    query = query.bind(k);
                }
                let rows = query.fetch_all(&self.read).await?;
                rows.iter().map(alert_from_row).collect()
            }

            async fn period_alerts(
                &self,
                agent_id: &str,
                since: Option<i64>,
                until: Option<i64>,
            ) -> Result<Vec<PeriodAlert>, StoreError> {
                let sql = format!(
                    "SELECT {ALERT_COLS}, a.opened_sequence, a.resolved_sequence FROM alerts a \
                     LEFT JOIN agents g ON g.id = a.agent_id \
                     WHERE a.agent_id = $1 AND a.opened_at <= $3 AND (a.resolved_at IS NULL OR a.resolved_at >= $2) \
                     ORDER BY a.id"
                );
                let rows = sqlx::query(&sql)
                    .bind(agent_id)
                    .bind(since.unwrap_or(i64::MIN))
                    .bind(until.unwrap_or(i64::MAX))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(PeriodAlert {
                            record: alert_from_row(r)?,
                            opened_sequence: r.try_get(16)?,
                            resolved_sequence: r.try_get(17)?,
                        })
                    })
                    .collect()
            }

            async fn alert(&self, id: i64) -> Result<Option<AlertRecord>, StoreError> {
                let sql = format!(
                    "SELECT {ALERT_COLS} FROM alerts a LEFT JOIN agents g ON g.id = a.agent_id WHERE a.id = $1"
                );
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.read).await?;
                row.as_ref().map(alert_from_row).transpose()
            }

            async fn ack_alert(
                &self,
                id: i64,
                by: &str,
                reason: &str,
                now: i64,
            ) -> Result<bool, StoreError> {
                let r = sqlx::query(
                    "UPDATE alerts SET state = 'acknowledged', ack_by = $2, ack_reason = $3, ack_at = $4, updated_at = $4 \
                     WHERE id = $1 AND state = 'open'",
                )
                .bind(id)
                .bind(by)
                .bind(reason)
                .bind(now)
                .execute(&self.write)
                .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn transitions(
                &self,
                agent_id: Option<&str>,
                subject: Option<&str>,
                limit: i64,
            ) -> Result<Vec<TransitionRow>, StoreError> {
                // One statement per filter shape, so each uses its index.
                let filter = match (agent_id, subject) {
                    (Some(_), Some(_)) => "WHERE agent_id = $2 AND subject = $3",
                    (Some(_), None) => "WHERE agent_id = $2",
                    (None, Some(_)) => "WHERE subject = $2",
                    (None, None) => "",
                };
                let sql = format!(
                    "SELECT id, agent_id, subject, from_status, to_status, sequence, at FROM transitions \
                     {filter} ORDER BY id DESC LIMIT $1"
                );
                let mut q = sqlx::query(&sql).bind(limit);
                for v in [agent_id, subject].into_iter().flatten() {
                    q = q.bind(v);
                }
                let rows = q.fetch_all(&self.read).await?;
                rows.iter()
                    .map(|r| {
                        Ok(TransitionRow {
                            id: r.try_get(0)?,
                            agent_id: r.try_get(1)?,
                            subject: r.try_get(2)?,
                            from: r.try_get(3)?,
                            to: r.try_get(4)?,
                            sequence: r.try_get(5)?,
                            at: r.try_get(6)?,
                        })
                    })
                    .collect()
            }

            async fn raise_alert(
                &self,
                a: &NewAlert,
                sinks: &[String],
            ) -> Result<Option<i64>, StoreError> {
                let mut tx = self.write.begin_with($begin).await?;
                let id = drift_open(&mut tx, &a.agent_id, &a.kind, &a.subject, &a.severity, false, &a.detail, a.now, None).await?;
                if let Some(id) = id {
                    let h = drift_hostname(&mut tx, &a.agent_id).await?;
                    drift_enqueue(&mut tx, sinks, id, "opened", &a.kind, &a.agent_id, &h, &a.subject, &a.severity, &a.detail, &[], a.now).await?;
                }
                tx.commit().await?;
                Ok(id)
            }

            async fn open_stale(
                &self,
                now: i64,
                factor: f64,
                sinks: &[String],
            ) -> Result<Vec<i64>, StoreError> {
                let rows = sqlx::query(
                    "SELECT a.id, a.last_seen, d.interval_seconds FROM agents a JOIN drift_state d ON d.agent_id = a.id \
                     WHERE a.status = 'active' AND a.last_seen IS NOT NULL AND NOT EXISTS \
                     (SELECT 1 FROM alerts x WHERE x.agent_id = a.id AND x.kind = 'stale' AND x.state <> 'resolved')",
                )
                .fetch_all(&self.read)
                .await?;
                let mut opened = Vec::new();
                for r in &rows {
                    let id: String = r.try_get(0)?;
                    let last: i64 = r.try_get(1)?;
                    let iv: i64 = r.try_get(2)?;
                    let iv = u64::try_from(iv).unwrap_or(0);
                    if !evident_core::drift::is_stale(now, last, iv, factor) {
                        continue;
                    }
                    let detail = format!(
                        "no evidence for {} s (schedule every {iv} s, stale after {:.0} s)",
                        (now - last) / 1000,
                        iv as f64 * factor
                    );
                    let a = NewAlert {
                        agent_id: id,
                        kind: "stale".into(),
                        subject: "host".into(),
                        severity: "high".into(),
                        detail,
                        now,
                    };
                    if let Some(n) = self.raise_alert(&a, sinks).await? {
                        opened.push(n);
                    }
                }
                Ok(opened)
            }

            async fn claim_outbox(
                &self,
                now: i64,
                lease_ms: i64,
                limit: i64,
            ) -> Result<Vec<OutboxRow>, StoreError> {
                let rows = sqlx::query(concat!(
                    "UPDATE outbox SET locked_until = $2, attempts = attempts + 1 WHERE id IN \
                     (SELECT id FROM outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 AND locked_until <= $1 \
                     ORDER BY id LIMIT $3",
                    $skip,
                    ") RETURNING id, alert_id, event, sink, payload, attempts, created_at"
                ))
                .bind(now)
                .bind(now.saturating_add(lease_ms))
                .bind(limit)
                .fetch_all(&self.write)
                .await?;
                let mut out = rows
                    .iter()
                    .map(|r| {
                        Ok(OutboxRow {
                            id: r.try_get(0)?,
                            alert_id: r.try_get(1)?,
                            event: r.try_get(2)?,
                            sink: r.try_get(3)?,
                            payload: r.try_get(4)?,
                            attempts: r.try_get(5)?,
                            created_at: r.try_get(6)?,
                        })
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                out.sort_by_key(|r| r.id);
                Ok(out)
            }

            async fn outbox_delivered(&self, id: i64, now: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE outbox SET delivered_at = $2, last_error = NULL WHERE id = $1")
                    .bind(id)
                    .bind(now)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn outbox_retry(&self, id: i64, at: i64, error: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET next_attempt_at = $2, locked_until = 0, last_error = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(at)
                .bind(error.chars().take(500).collect::<String>())
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn outbox_release(&self, id: i64, at: i64) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET next_attempt_at = $2, locked_until = 0, attempts = attempts - 1 WHERE id = $1 AND attempts > 0",
                )
                .bind(id)
                .bind(at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn outbox_failed(&self, id: i64, now: i64, error: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE outbox SET delivered_at = $2, failed_at = $2, locked_until = 0, last_error = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .bind(error.chars().take(500).collect::<String>())
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn alert_gauges(&self) -> Result<AlertGauges, StoreError> {
                let rows = sqlx::query(
                    "SELECT kind, severity, COUNT(*) FROM alerts WHERE state <> 'resolved' GROUP BY kind, severity ORDER BY kind, severity",
                )
                .fetch_all(&self.read)
                .await?;
                let open = rows
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                let depth = sqlx::query("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE delivered_at IS NULL")
                    .fetch_one(&self.read)
                    .await?;
                let failed = sqlx::query("SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL")
                    .fetch_one(&self.read)
                    .await?;
                Ok(AlertGauges {
                    open,
                    outbox_depth: depth.try_get(0)?,
                    outbox_oldest: depth.try_get(1)?,
                    outbox_failed: failed.try_get(0)?,
                })
            }

            async fn outbox_pending(&self) -> Result<i64, StoreError> {
                let r = sqlx::query("SELECT COUNT(*) FROM outbox WHERE delivered_at IS NULL")
                    .fetch_one(&self.read)
                    .await?;
                Ok(r.try_get(0)?)
            }

            async fn fleet_status(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT subject, status, hosts FROM fleet_status WHERE hosts > 0 ORDER BY subject, status",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect()
            }

            async fn stale_passing_counts(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT h.subject, h.status, COUNT(*) FROM host_status h \
                     JOIN agents g ON g.id = h.agent_id AND g.status = 'active' \
                     WHERE h.agent_id IN (SELECT agent_id FROM alerts WHERE kind = 'stale' AND state <> 'resolved') \
                     AND h.subject LIKE 'control:%' AND h.status IN ('pass', 'satisfied') \
                     GROUP BY h.subject, h.status ORDER BY h.subject, h.status",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                    .collect()
            }

            async fn drift_statuses(
                &self,
                agent_id: &str,
            ) -> Result<Option<evident_core::drift::StatusMap>, StoreError> {
                let row = sqlx::query("SELECT statuses FROM drift_state WHERE agent_id = $1")
                    .bind(agent_id)
                    .fetch_optional(&self.read)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(r) => {
                        let text: String = r.try_get(0)?;
                        serde_json::from_str(&text)
                            .map(Some)
                            .map_err(|e| StoreError::Corrupt(format!("drift state: {e}")))
                    }
                }
            }
        }
    };
}

pub(crate) use impl_drift_store;
