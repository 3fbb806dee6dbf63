//! `report` and `soa` from the database, host by host: the same report
//! [`super::model::build_report`] gives over gathered members, without
//! gathering them. Two walks over the period (each agent's statement rows,
//! never their envelopes, except each agent's latest): the first counts
//! and reads each agent's latest statement (its machine id, to join the
//! enrollments of one machine, and its schedule); the second builds one
//! host's history at a time and hands it to
//! [`evident_core::report::ReportBuilder`], whose host rows go straight to
//! a temporary file ([`super::spill`]). Memory holds one host's history,
//! one summary per agent, a bounded cache of recorded results and the
//! report's fleet-wide parts (per control and rule), whatever the period's
//! length; per host, only a row's place in the temporary file.

use super::error::{io, ReviewError};
use super::gather::{self, ExportFilter};
use super::model::{ReportOptions, SIGNATURES};
use super::spill::HostSpill;
use crate::store::{AgentRecord, StatementRow, StatementSpan, Store};
use evident_core::bundle::alerts::AlertEntry;
use evident_core::bundle::{envelope_path, IndexEntry, RecordedResults};
use evident_core::policy::ControlStatus;
use evident_core::report::{
    self, AttestationRef, EvidenceRef, HostHistory, HostRows, KeyUse, Provenance, PrunedSummary,
    Report, ReportBuilder, Sample,
};
use evident_core::{Catalog, Digest, Envelope, Statement};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Rows read per query.
const PAGE: i64 = 5000;
/// Recorded results kept parsed (most recently used); a host's history
/// mostly repeats a few.
const RESULTS_CACHE: usize = 1024;

/// The period and hosts to report on.
#[derive(Debug, Clone, Default)]
pub struct Period {
    /// Host names or agent ids (empty: all).
    pub hosts: Vec<String>,
    /// Collected at or after (unix ms).
    pub since: Option<i64>,
    /// Collected at or before (unix ms): the period's end, or the `--as-of`
    /// time when earlier.
    pub until: Option<i64>,
}

fn ms_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// An agent with statements in the period.
struct Enrollment {
    agent: AgentRecord,
    span: StatementSpan,
    /// Machine id named by its latest statement in the period.
    machine: Option<String>,
    interval_seconds: u64,
}

/// One host of the report: its enrollments, oldest first; the host is
/// named by the last.
struct Plan {
    enrollments: Vec<usize>,
    first: i64,
    last: i64,
}

/// The enrolled agents matching `hosts` (all when empty), by agent id; a
/// name that matches none is an error.
pub async fn agents(store: &dyn Store, hosts: &[String]) -> Result<Vec<AgentRecord>, ReviewError> {
    let mut out = Vec::new();
    let mut matched = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list_agents(after.as_deref(), 500).await?;
        for a in &page {
            if !hosts.is_empty() && !hosts.iter().any(|h| *h == a.hostname || *h == a.id) {
                continue;
            }
            matched.insert(a.hostname.clone());
            matched.insert(a.id.clone());
            out.push(a.clone());
        }
        if page.len() < 500 {
            break;
        }
        after = page.last().map(|a| a.id.clone());
    }
    for h in hosts {
        if !matched.contains(h) {
            return Err(ReviewError::Invalid(format!(
                "no enrolled host or agent `{h}`"
            )));
        }
    }
    Ok(out)
}

/// Collection times of the first and last statement of `hosts` within the
/// period (None: no statement).
pub async fn time_range(
    store: &dyn Store,
    period: &Period,
) -> Result<Option<(i64, i64)>, ReviewError> {
    let mut range: Option<(i64, i64)> = None;
    for a in agents(store, &period.hosts).await? {
        if let Some(s) = store
            .statement_span(&a.id, period.since, period.until)
            .await?
        {
            range = Some(match range {
                None => (s.first_collected, s.last_collected),
                Some((f, l)) => (f.min(s.first_collected), l.max(s.last_collected)),
            });
        }
    }
    Ok(range)
}

/// The machine id and schedule interval of the statement `bytes`.
async fn identity(store: &dyn Store, bytes: &[u8]) -> Result<(Option<String>, u64), ReviewError> {
    let Ok(env) = Envelope::from_json(bytes) else {
        return Ok((None, 86_400));
    };
    let Ok(parsed) = evident_core::evidence::Parsed::from_bytes(&env.payload) else {
        return Ok((None, 86_400));
    };
    let blobs = match &parsed {
        evident_core::evidence::Parsed::Unchanged(u) => store.blobs(&[u.content]).await?,
        evident_core::evidence::Parsed::Full(_) => BTreeMap::new(),
    };
    let st = Statement::from_bytes_with(&env.payload, |d| blobs.get(d).map(Vec::as_slice)).ok();
    let interval = st
        .as_ref()
        .map(|s| s.predicate.schedule.interval_seconds)
        .unwrap_or(86_400);
    let machine = st
        .and_then(|s| s.predicate.host.machine_id)
        .filter(|m| !m.is_empty());
    Ok((machine, interval))
}

/// Recorded results by digest, parsed once while recently used.
struct ResultsCache {
    lru: lru::LruCache<Digest, Option<Arc<RecordedResults>>>,
}

impl ResultsCache {
    fn new() -> Self {
        ResultsCache {
            lru: lru::LruCache::new(NonZeroUsize::new(RESULTS_CACHE).unwrap_or(NonZeroUsize::MIN)),
        }
    }

    async fn get(
        &mut self,
        store: &dyn Store,
        d: &Digest,
    ) -> Result<Option<Arc<RecordedResults>>, ReviewError> {
        if let Some(r) = self.lru.get(d) {
            return Ok(r.clone());
        }
        let r = store
            .results(d)
            .await?
            .and_then(|b| serde_json::from_slice::<RecordedResults>(&b).ok())
            .map(Arc::new);
        self.lru.put(*d, r.clone());
        Ok(r)
    }
}

/// Every statement row of `agent` within the period, page by page.
async fn each_row(
    store: &dyn Store,
    agent: &str,
    period: &Period,
    mut f: impl FnMut(&StatementRow),
) -> Result<(), ReviewError> {
    let mut after = None;
    loop {
        let rows = store
            .statement_rows(agent, after, period.since, period.until, PAGE)
            .await?;
        for r in &rows {
            f(r);
        }
        after = rows.last().map(|r| r.sequence);
        if rows.len() < PAGE as usize {
            return Ok(());
        }
    }
}

/// The agents' enrollments grouped into hosts, in the order of the report
/// built from members: agents whose latest statements name the same
/// machine id and host name are one host when one enrollment starts after
/// the previous one's last statement; the rest are one host each.
fn plan(enrollments: &[Enrollment]) -> Vec<Plan> {
    let mut machines: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut plans = Vec::new();
    for (i, e) in enrollments.iter().enumerate() {
        match &e.machine {
            Some(m) => machines
                .entry(format!("{m}\n{}", e.agent.hostname))
                .or_default()
                .push(i),
            None => plans.push(Plan {
                enrollments: vec![i],
                first: e.span.first_collected,
                last: e.span.last_collected,
            }),
        }
    }
    for mut group in machines.into_values() {
        group.sort_by(|a, b| {
            let (a, b) = (&enrollments[*a], &enrollments[*b]);
            a.span
                .first_collected
                .cmp(&b.span.first_collected)
                .then(a.agent.id.cmp(&b.agent.id))
        });
        let mut out: Vec<Plan> = Vec::new();
        for i in group {
            let e = &enrollments[i];
            match out.last_mut() {
                Some(prev) if prev.last < e.span.first_collected => {
                    prev.enrollments.push(i);
                    prev.first = prev.first.min(e.span.first_collected);
                    prev.last = prev.last.max(e.span.last_collected);
                }
                _ => out.push(Plan {
                    enrollments: vec![i],
                    first: e.span.first_collected,
                    last: e.span.last_collected,
                }),
            }
        }
        plans.extend(out);
    }
    let name = |p: &Plan| {
        p.enrollments
            .last()
            .map(|i| enrollments[*i].agent.id.clone())
            .unwrap_or_default()
    };
    plans.sort_by_key(name);
    plans
}

/// The review report over the period as of `now`, host by host.
pub async fn build_report(
    store: &dyn Store,
    period: &Period,
    attestations: &[AttestationRef],
    now: chrono::DateTime<chrono::Utc>,
    opts: &ReportOptions,
) -> Result<Report, ReviewError> {
    Ok(build_report_hosts(store, period, attestations, now, opts)
        .await?
        .0)
}

/// Each host of a report, by the agent id of its latest enrollment: host
/// name and the schedule interval of its latest statement.
pub type HostNames = BTreeMap<String, (String, u64)>;

/// [`build_report`], with each host's name and interval.
pub async fn build_report_hosts(
    store: &dyn Store,
    period: &Period,
    attestations: &[AttestationRef],
    now: chrono::DateTime<chrono::Utc>,
    opts: &ReportOptions,
) -> Result<(Report, HostNames), ReviewError> {
    let mut names = HostNames::new();
    // Walk 1: each agent's count, time span and latest statement.
    let mut enrollments = Vec::new();
    let mut latest: BTreeMap<String, StatementRow> = BTreeMap::new();
    for a in agents(store, &period.hosts).await? {
        let Some(span) = store
            .statement_span(&a.id, period.since, period.until)
            .await?
        else {
            continue;
        };
        let Some((row, bytes)) = store
            .last_statement(&a.id, period.since, period.until)
            .await?
        else {
            continue;
        };
        let (machine, interval_seconds) = identity(store, &bytes).await?;
        latest.insert(a.id.clone(), row);
        enrollments.push(Enrollment {
            agent: a,
            span,
            machine,
            interval_seconds,
        });
    }
    let first_collected = enrollments.iter().map(|e| e.span.first_collected).min();
    let last_collected = enrollments.iter().map(|e| e.span.last_collected).max();
    let statements: u64 = enrollments.iter().map(|e| e.span.statements).sum();

    // Walk 2: one host at a time.
    let mut builder = ReportBuilder::new(Catalog::annex_a(), now);
    // Host rows go to a temporary file as they are made (the report reads
    // them back one at a time when it is rendered).
    let tmp = std::path::Path::new("temporary file of the report's host rows");
    let mut spill = HostSpill::new().map_err(io(tmp))?;
    let mut cache = ResultsCache::new();
    let mut policies = BTreeMap::new();
    let mut evidence = Vec::new();
    let mut control_hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // The alerts of the period, as an export of it carries them.
    let filter = ExportFilter {
        hosts: period.hosts.clone(),
        since: period.since.map(ms_time),
        until: period.until.map(ms_time),
    };
    let mut alerts: Vec<AlertEntry> = Vec::new();
    let mut hostnames: BTreeMap<String, String> = BTreeMap::new();
    // Hosts whose latest results were matched against a snapshot.
    let mut matched: Vec<super::vulns::StoredHost> = Vec::new();
    for p in plan(&enrollments) {
        let mut h: Option<HostHistory> = None;
        for i in &p.enrollments {
            let e = &enrollments[*i];
            let mut rows = Vec::new();
            // The statements an export of the period holds (kept or
            // pruned), which this enrollment's alerts may cite.
            let mut exported: HashMap<u64, Digest> = HashMap::new();
            each_row(store, &e.agent.id, period, |r| {
                exported.insert(u64::try_from(r.sequence).unwrap_or_default(), r.digest);
                rows.push((r.collected_at, r.sequence, r.results))
            })
            .await?;
            exported.extend(gather::stub_links(store, &e.agent.id, &filter).await?);
            alerts.extend(gather::period_alerts(store, &e.agent.id, &filter, &exported).await?);
            let mut list = Vec::with_capacity(rows.len());
            for (at, seq, results) in rows {
                if let Some(r) = cache.get(store, &results).await? {
                    list.push((ms_time(at), u64::try_from(seq).unwrap_or_default(), r));
                }
            }
            if list.is_empty() {
                continue;
            }
            let key = KeyUse {
                agent: e.agent.id.clone(),
                key_id: e.agent.key_id.clone(),
                first_seen: list.iter().map(|s| s.0).min().unwrap_or_default(),
                last_seen: list.iter().map(|s| s.0).max().unwrap_or_default(),
                statements: list.len(),
            };
            let next = HostHistory {
                agent: e.agent.id.clone(),
                hostname: e.agent.hostname.clone(),
                interval_seconds: e.interval_seconds,
                statements: list,
                keys: vec![key],
            };
            h = Some(match h.take() {
                None => next,
                Some(mut prev) => {
                    prev.keys.extend(next.keys);
                    prev.statements.extend(next.statements);
                    HostHistory {
                        keys: prev.keys,
                        statements: prev.statements,
                        ..next
                    }
                }
            });
        }
        let Some(h) = h else { continue };
        names.insert(h.agent.clone(), (h.hostname.clone(), h.interval_seconds));
        for k in &h.keys {
            hostnames.insert(k.agent.clone(), h.hostname.clone());
        }
        builder.add_host(&h);
        for row in builder.take_rows() {
            spill.push(&row).map_err(io(tmp))?;
        }
        let Some((at, seq, r)) = h.statements.last() else {
            continue;
        };
        if let Some(row) = latest
            .get(&h.agent)
            .filter(|row| u64::try_from(row.sequence).ok() == Some(*seq))
        {
            evidence.push(EvidenceRef {
                agent: h.agent.clone(),
                hostname: h.hostname.clone(),
                sequence: *seq,
                collected_at: *at,
                envelope: row.digest,
                results: row.results,
            });
            if r.vulns.is_some() {
                matched.push((
                    h.agent.clone(),
                    h.hostname.clone(),
                    *seq,
                    row.digest,
                    r.clone(),
                ));
            }
        }
        for p in &r.policies {
            policies
                .entry((p.id.clone(), p.version.clone(), p.sha256))
                .or_insert_with(|| p.clone());
        }
        for c in &r.controls {
            if c.status != ControlStatus::NotAutomated {
                control_hosts
                    .entry(c.id.clone())
                    .or_default()
                    .push(h.agent.clone());
            }
        }
    }
    let mut r = builder.finish(attestations);
    r.hosts = HostRows::Source(Arc::new(spill.finish().map_err(io(tmp))?));
    let sample = match opts.sample {
        None => None,
        Some(n) => {
            let seed = match opts.seed {
                Some(s) => s,
                None => index_seed(store, &enrollments, period).await?,
            };
            Some(Sample {
                seed,
                per_control: n,
                controls: control_hosts
                    .iter()
                    .map(|(c, agents)| (c.clone(), report::sample_hosts(seed, c, agents, n)))
                    .collect(),
            })
        }
    };
    let pruned = match last_collected {
        Some(last) => pruned_summary(store, &enrollments, period, last).await?,
        None => None,
    };
    alerts.sort_by_key(|a| a.id);
    r.alerts = Some(report::alerts_section(
        &alerts,
        &hostnames,
        first_collected.map(ms_time),
        now,
    ));
    r.vulns = super::vulns::section_from_store(store, matched).await?;
    r.provenance = Provenance {
        pruned,
        collector_key_id: opts.collector_key_id.clone(),
        policies: policies.into_values().collect(),
        statements: usize::try_from(statements).unwrap_or(usize::MAX),
        signatures: SIGNATURES.to_string(),
        first_collected: first_collected.map(ms_time),
        last_collected: last_collected.map(ms_time),
        evidence,
        control_hosts,
        sample,
    };
    Ok((r, names))
}

/// The default sample seed: from the sha256 of the statement index a
/// bundle of the same data holds (`index.json`), hashed as it is written,
/// entry by entry.
async fn index_seed(
    store: &dyn Store,
    enrollments: &[Enrollment],
    period: &Period,
) -> Result<u64, ReviewError> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"{\"statements\":[");
    let mut first = true;
    for e in enrollments {
        let mut buf = Vec::new();
        each_row(store, &e.agent.id, period, |r| {
            let sequence = u64::try_from(r.sequence).unwrap_or_default();
            let entry = IndexEntry {
                agent: e.agent.id.clone(),
                sequence,
                envelope: r.digest,
                path: envelope_path(&e.agent.id, sequence),
                collected_at: ms_time(r.collected_at),
                received_at: ms_time(r.received_at),
                results: r.results,
            };
            if !first {
                buf.push(b',');
            }
            first = false;
            if serde_json::to_writer(&mut buf, &entry).is_ok() {
                h.update(&buf);
            }
            buf.clear();
        })
        .await?;
    }
    h.update(b"]}");
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    Ok(u64::from_be_bytes(b) >> 11)
}

/// What retention pruned among the agents reported on, up to the period's
/// last statement, with the policies applied.
async fn pruned_summary(
    store: &dyn Store,
    enrollments: &[Enrollment],
    period: &Period,
    last: i64,
) -> Result<Option<PrunedSummary>, ReviewError> {
    let (mut statements, mut hosts) = (0usize, 0usize);
    let mut runs = BTreeSet::new();
    for e in enrollments {
        let before = statements;
        let mut after = None;
        loop {
            // Stubs of the period (as an export of it holds), counted up
            // to its last statement.
            let page = store
                .chain_stubs(&e.agent.id, after, period.since, None, PAGE)
                .await?;
            for s in page.iter().filter(|s| s.collected_at <= last) {
                statements += 1;
                runs.insert(s.prune_run);
            }
            after = page.last().map(|s| s.sequence);
            if page.len() < PAGE as usize {
                break;
            }
        }
        if statements > before {
            hosts += 1;
        }
    }
    if statements == 0 {
        return Ok(None);
    }
    let ids: Vec<i64> = runs.into_iter().collect();
    let mut found = store.prune_runs(&ids).await?;
    found.sort_by_key(|r| r.id);
    let policies = found
        .iter()
        .map(|r| {
            format!(
                "retention run {} on {}: {}",
                r.id,
                ms_time(r.started_at).format("%Y-%m-%d"),
                r.policy
            )
        })
        .collect();
    Ok(Some(PrunedSummary {
        statements,
        hosts,
        policies,
    }))
}
