//! The read side: hosts, latest results, fleet-wide control counts, rule
//! history, evidence by digest, integrity events, CVEs per host and fleet. Pagination is by cursor:
//! every list answer has `items` and `next` (pass it back as `after`/`before`).

use super::ingest::StoredResults;
use super::App;
use crate::store::{AgentRecord, IntegrityEvent};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use evident_core::evidence::{Parsed, PAYLOAD_TYPE};
use evident_core::{Digest, Envelope};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Why a query could not be answered; `crate::error` maps each to its HTTP status and body.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Malformed or invalid input (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// Nothing by that id (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// Stored data unreadable or the writer gone (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// The database failed (HTTP 503).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A page of items with the cursor of the next page.
#[derive(Debug, Serialize)]
pub struct Page<T, C> {
    /// The items.
    pub items: Vec<T>,
    /// Cursor for the next page (`None`: last page).
    pub next: Option<C>,
}

/// Parsed results kept, least recently used evicted first.
const PARSED_CAP: usize = 4096;

/// Parsed-results cache (bounded LRU: evicts, never clears wholesale).
pub struct Query {
    parsed: Mutex<lru::LruCache<Digest, Arc<StoredResults>>>,
}

impl Default for Query {
    fn default() -> Query {
        let cap = std::num::NonZeroUsize::new(PARSED_CAP).unwrap_or(std::num::NonZeroUsize::MIN);
        Query {
            parsed: Mutex::new(lru::LruCache::new(cap)),
        }
    }
}

/// Most items one page may hold.
pub const MAX_LIMIT: i64 = 1000;

fn clamp(limit: Option<i64>) -> i64 {
    limit.unwrap_or(100).clamp(1, MAX_LIMIT)
}

impl Query {
    /// The parsed results stored under `digest`.
    pub async fn results(
        &self,
        app: &App,
        digest: &Digest,
    ) -> Result<Arc<StoredResults>, QueryError> {
        if let Some(r) = self
            .parsed
            .lock()
            .ok()
            .and_then(|mut m| m.get(digest).cloned())
        {
            return Ok(r);
        }
        let bytes = app
            .store
            .results(digest)
            .await?
            .ok_or_else(|| QueryError::NotFound(format!("results {digest}")))?;
        let parsed: StoredResults = serde_json::from_slice(&bytes).map_err(|e| {
            QueryError::Unavailable(format!("stored results {digest} unreadable: {e}"))
        })?;
        let parsed = Arc::new(parsed);
        if let Ok(mut m) = self.parsed.lock() {
            m.put(*digest, parsed.clone());
        }
        Ok(parsed)
    }
}

/// `GET /v1/hosts`.
pub async fn hosts(
    app: &App,
    after: Option<String>,
    limit: Option<i64>,
) -> Result<Page<AgentRecord, String>, QueryError> {
    let limit = clamp(limit);
    let items = app.store.list_agents(after.as_deref(), limit).await?;
    let next = if items.len() as i64 == limit {
        items.last().map(|a| a.id.clone())
    } else {
        None
    };
    Ok(Page { items, next })
}

/// One rule's latest result on a host.
#[derive(Debug, Serialize)]
pub struct HostRule {
    /// Rule id.
    pub id: String,
    /// Status.
    pub status: String,
    /// Controls.
    pub controls: Vec<String>,
    /// Severity.
    pub severity: String,
    /// Message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `GET /v1/hosts/{id}`.
#[derive(Debug, Serialize)]
pub struct HostDetail {
    /// The agent.
    pub host: AgentRecord,
    /// Latest results per rule.
    pub rules: Vec<HostRule>,
    /// Latest status per control (controls some rule covers).
    pub controls: BTreeMap<String, String>,
    /// Rule status counts.
    pub summary: BTreeMap<String, usize>,
    /// The host is silent beyond its schedule (open `stale` alert): its
    /// passing results are reported as `stale`, never as passing.
    pub stale: bool,
}

/// Agent ids with an open `stale` alert (issue #6).
async fn stale_agents(
    app: &App,
    host: Option<&str>,
) -> Result<std::collections::HashSet<String>, QueryError> {
    let q = crate::store::drift::AlertQuery {
        open_only: true,
        host: host.map(str::to_string),
        kind: Some("stale".into()),
        after: None,
        limit: 1_000_000,
    };
    Ok(app
        .store
        .list_alerts(&q)
        .await?
        .into_iter()
        .map(|a| a.agent_id)
        .collect())
}

/// What a status is reported as when the evidence is stale.
fn if_stale(stale: bool, status: &str) -> String {
    match status {
        "pass" | "satisfied" if stale => "stale".into(),
        s => s.into(),
    }
}

/// `GET /v1/hosts/{id}`.
pub async fn host(app: &App, id: &str) -> Result<HostDetail, QueryError> {
    let host = app
        .store
        .agent(id)
        .await?
        .ok_or_else(|| QueryError::NotFound(format!("no host {id}")))?;
    let stale = stale_agents(app, Some(id)).await?.contains(&host.id);
    let (rules, controls, summary) = match &host.latest_results {
        None => (Vec::new(), BTreeMap::new(), BTreeMap::new()),
        Some(d) => {
            let r = app.query.results(app, d).await?;
            (
                r.rules
                    .iter()
                    .map(|x| HostRule {
                        id: x.id.clone(),
                        status: if_stale(stale, x.status.as_str()),
                        controls: x.controls.clone(),
                        severity: x.severity.as_str().into(),
                        message: x.message.clone(),
                    })
                    .collect(),
                r.controls
                    .iter()
                    .filter(|c| !c.rules.is_empty())
                    .map(|c| (c.id.clone(), if_stale(stale, c.status.as_str())))
                    .collect(),
                r.summary
                    .rules
                    .iter()
                    .fold(BTreeMap::new(), |mut m, (k, v)| {
                        *m.entry(if_stale(stale, k.as_str())).or_default() += *v;
                        m
                    }),
            )
        }
    };
    Ok(HostDetail {
        host,
        rules,
        controls,
        summary,
        stale,
    })
}

/// One control across the fleet.
#[derive(Debug, Serialize)]
pub struct ControlCounts {
    /// Control id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Hosts per status.
    pub hosts: BTreeMap<String, u64>,
}

/// `GET /v1/controls`: per control, how many hosts are in each status
/// (latest evidence of active agents; controls no rule covers are left out).
/// The counts come from the table ingest maintains (`fleet_status`), not a
/// recount; the passing statuses of stale hosts (open `stale` alerts) are
/// reported as `stale`, counted by one grouped query.
pub async fn controls(app: &App) -> Result<Vec<ControlCounts>, QueryError> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (subject, status, hosts) in app.store.fleet_status().await? {
        let Some(id) = subject.strip_prefix("control:") else {
            continue;
        };
        if status == "not-automated" {
            continue;
        }
        *counts
            .entry(id.to_string())
            .or_default()
            .entry(status)
            .or_default() += u64::try_from(hosts).unwrap_or(0);
    }
    for (subject, status, hosts) in app.store.stale_passing_counts().await? {
        let Some(id) = subject.strip_prefix("control:") else {
            continue;
        };
        let shown = if_stale(true, &status);
        let moved = u64::try_from(hosts).unwrap_or(0);
        if let Some(per) = counts.get_mut(id) {
            if let Some(n) = per.get_mut(&status) {
                let moved = moved.min(*n);
                *n -= moved;
                *per.entry(shown).or_default() += moved;
            }
        }
    }
    let catalog = evident_core::Catalog::annex_a();
    let mut items: Vec<ControlCounts> = counts
        .into_iter()
        .map(|(id, mut hosts)| {
            hosts.retain(|_, n| *n > 0);
            ControlCounts {
                title: catalog
                    .controls()
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.title.clone())
                    .unwrap_or_default(),
                id,
                hosts,
            }
        })
        .filter(|c| !c.hosts.is_empty())
        .collect();
    items.sort_by_key(|c| {
        catalog
            .controls()
            .iter()
            .position(|x| x.id == c.id)
            .unwrap_or(usize::MAX)
    });
    Ok(items)
}

/// One point of a rule's history.
#[derive(Debug, Serialize)]
pub struct HistoryPoint {
    /// Sequence of the statement.
    pub sequence: i64,
    /// Collection time, Unix ms.
    pub collected_at: i64,
    /// Envelope digest.
    pub envelope_digest: Digest,
    /// Status (absent when the rule was not evaluated then).
    pub status: Option<String>,
    /// Message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `GET /v1/hosts/{id}/rules/{rule}`: newest first.
pub async fn rule_history(
    app: &App,
    host: &str,
    rule: &str,
    before: Option<i64>,
    limit: Option<i64>,
) -> Result<Page<HistoryPoint, i64>, QueryError> {
    let limit = clamp(limit);
    if app.store.agent(host).await?.is_none() {
        return Err(QueryError::NotFound(format!("no host {host}")));
    }
    let rows = app.store.statements(host, before, limit).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let r = app.query.results(app, &row.results).await?;
        let rr = r.rules.iter().find(|x| x.id == rule);
        items.push(HistoryPoint {
            sequence: row.sequence,
            collected_at: row.collected_at,
            envelope_digest: row.digest,
            status: rr.map(|x| x.status.as_str().to_string()),
            message: rr.and_then(|x| x.message.clone()),
        });
    }
    let next = if rows.len() as i64 == limit {
        rows.last().map(|r| r.sequence)
    } else {
        None
    };
    Ok(Page { items, next })
}

/// `GET /v1/evidence/{digest}`: the envelope and blobs exactly as received.
#[derive(Debug, Serialize)]
pub struct EvidenceDoc {
    /// Agent.
    pub agent_id: String,
    /// Sequence.
    pub sequence: i64,
    /// Unix ms.
    pub received_at: i64,
    /// Envelope digest.
    pub envelope_digest: Digest,
    /// Base64 of the exact envelope bytes.
    pub envelope: String,
    /// Digest → base64 of the exact blob bytes.
    pub blobs: BTreeMap<Digest, String>,
    /// Digest of the stored evaluation results.
    pub results_digest: Digest,
}

/// `GET /v1/evidence/{digest}`.
pub async fn evidence(app: &App, digest: &str) -> Result<EvidenceDoc, QueryError> {
    let d: Digest = digest
        .parse()
        .map_err(|e: evident_core::digest::DigestParseError| QueryError::Invalid(e.to_string()))?;
    let (row, envelope) = app
        .store
        .statement(&d)
        .await?
        .ok_or_else(|| QueryError::NotFound(format!("no evidence {d}")))?;
    let env = Envelope::from_json(&envelope)
        .map_err(|e| QueryError::Unavailable(format!("stored envelope unreadable: {e}")))?;
    let refs = if env.payload_type == PAYLOAD_TYPE {
        // Probe blobs of a full statement; the content blob of an unchanged v2 run.
        Parsed::from_bytes(&env.payload)
            .map(|p| p.direct_blobs())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let blobs = app.store.blobs(&refs).await?;
    Ok(EvidenceDoc {
        agent_id: row.agent_id,
        sequence: row.sequence,
        received_at: row.received_at,
        envelope_digest: row.digest,
        envelope: B64.encode(&envelope),
        blobs: blobs.into_iter().map(|(d, b)| (d, B64.encode(b))).collect(),
        results_digest: row.results,
    })
}

/// `GET /v1/integrity-events`.
pub async fn integrity_events(
    app: &App,
    agent: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
) -> Result<Page<IntegrityEvent, i64>, QueryError> {
    let limit = clamp(limit);
    let items = app
        .store
        .integrity_events(agent.as_deref(), after, limit)
        .await?;
    let next = if items.len() as i64 == limit {
        items.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Page { items, next })
}

/// What `/metrics` reads from the database: fleet counts from
/// `fleet_status` (no recount), open alerts and the outbox.
pub async fn metrics_snapshot(app: &App) -> Result<crate::metrics::Snapshot, QueryError> {
    let controls = control_host_counts(app).await?;
    let g = app.store.alert_gauges().await?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let now = app.clock.now_ms();
    Ok(crate::metrics::Snapshot {
        controls,
        control_ids: evident_core::Catalog::annex_a()
            .controls()
            .iter()
            .map(|c| c.id.clone())
            .collect(),
        stale_hosts: g
            .open
            .iter()
            .filter(|(kind, _, _)| kind == "stale")
            .map(|(_, _, c)| n(*c))
            .sum(),
        open_alerts: g.open.into_iter().map(|(k, s, c)| (k, s, n(c))).collect(),
        outbox_depth: n(g.outbox_depth),
        outbox_oldest_age_seconds: g
            .outbox_oldest
            .map(|t| (now.saturating_sub(t)).max(0) as f64 / 1000.0)
            .unwrap_or(0.0),
        outbox_failed: n(g.outbox_failed),
    })
}

/// Per (control, status) host counts for `/metrics`.
pub async fn control_host_counts(app: &App) -> Result<Vec<(String, String, u64)>, QueryError> {
    Ok(controls(app)
        .await?
        .into_iter()
        .flat_map(|c| c.hosts.into_iter().map(move |(s, n)| (c.id.clone(), s, n)))
        .collect())
}
/// `GET /v1/hosts/{id}/vulns`: the host's latest known inventory matched
/// against the snapshot in force, as the policies read it (first seen and
/// age, CVE waivers applied), plus the raw match.
pub async fn host_vulns(app: &App, id: &str) -> Result<serde_json::Value, QueryError> {
    use super::vuln::{match_agent, with_view};
    let host = app
        .store
        .agent(id)
        .await?
        .ok_or_else(|| QueryError::NotFound(format!("no host {id}")))?;
    let snap = app.vuln.current(&*app.store).await.map_err(vuln_err)?;
    let Some(snap) = snap else {
        return Ok(serde_json::json!({"snapshot": null, "host": host.id,
            "note": "no vulnerability feed snapshot is imported (evident-collector feed import FILE)"}));
    };
    let mut found: Vec<_> = match_agent(&*app.store, &host, &snap.index)
        .await
        .map_err(|e| QueryError::Unavailable(e.to_string()))?
        .into_iter()
        .collect();
    with_view(
        &*app.store,
        &snap.digest.to_string(),
        snap.index.format,
        app.policies.waivers(),
        &mut found,
    )
    .await
    .map_err(|e| QueryError::Unavailable(e.to_string()))?;
    let resolved: Vec<_> = app
        .store
        .vuln_first_seen(Some(&host.id), true)
        .await?
        .into_iter()
        .filter(|r| r.resolved.is_some())
        .collect();
    Ok(serde_json::json!({
        "snapshot": snap.basis,
        "host": found.first(),
        "resolved": resolved,
    }))
}

/// `GET /v1/vulns`: the (CVE, source package) pairs open on the most active
/// hosts (from the per-host state the ingest and re-match keep). Waivers
/// are policy and are not applied to that state: `hosts` counts every
/// active host where the pair matches, waived or not, and the answer says
/// so (`waivers_applied: false`); a host's waived CVEs are in
/// `GET /v1/hosts/{id}/vulns`.
pub async fn fleet_vulns(app: &App, limit: Option<i64>) -> Result<serde_json::Value, QueryError> {
    let snap = app.vuln.current(&*app.store).await.map_err(vuln_err)?;
    let items = app.store.vuln_fleet(clamp(limit)).await?;
    Ok(serde_json::json!({
        "snapshot": snap.map(|s| s.basis.clone()),
        "waivers_applied": false,
        "note": FLEET_VULNS_NOTE,
        "items": items,
    }))
}

/// What `GET /v1/vulns` counts (waivers are not applied there).
pub const FLEET_VULNS_NOTE: &str =
    "hosts counts every active host where the (CVE, source package) \
     matches, waived or not: waivers are not applied here; GET /v1/hosts/{id}/vulns shows a host's \
     waived CVEs";

fn vuln_err(e: super::vuln_state::VulnStateError) -> QueryError {
    match e {
        super::vuln_state::VulnStateError::Store(e) => QueryError::Store(e),
        e => QueryError::Unavailable(e.to_string()),
    }
}
