//! From a bundle's members (gathered from the store, or read from a
//! verified bundle file) to the report models of [`evident_core::report`].
//! Both sources go through these functions, so a report rendered from the
//! database and one rendered from a bundle of the same data are the same.

use evident_core::bundle::{self, Index, RecordedResults};
use evident_core::policy::ControlStatus;
use evident_core::report::{
    self, AttestationRef, EvidenceRef, HostHistory, KeyUse, Provenance, Report, Sample,
};
use evident_core::{Catalog, Envelope, Statement};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Members of a bundle: path → exact bytes.
pub type Members = BTreeMap<String, Vec<u8>>;

/// The statement index of `members` (empty when absent).
pub fn index(members: &Members) -> Index {
    bundle::read_index(members)
}

/// Per-host histories from a bundle's members. Agents whose latest
/// statements name the same machine id (the machine enrolled again, with a
/// new key) are one host with a key history.
pub fn histories(members: &Members) -> Vec<HostHistory> {
    let index = index(members);
    let mut results: HashMap<evident_core::Digest, Option<Arc<RecordedResults>>> = HashMap::new();
    let mut out: BTreeMap<String, HostHistory> = BTreeMap::new();
    for e in &index.statements {
        let r = results
            .entry(e.results)
            .or_insert_with(|| {
                members
                    .get(&bundle::results_path(&e.results))
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .map(Arc::new)
            })
            .clone();
        let Some(r) = r else { continue };
        let h = out.entry(e.agent.clone()).or_insert_with(|| {
            let record = members
                .get(&bundle::agent_path(&e.agent))
                .and_then(|b| serde_json::from_slice::<bundle::AgentEntry>(b).ok());
            HostHistory {
                agent: e.agent.clone(),
                hostname: record
                    .as_ref()
                    .map(|a| a.hostname.clone())
                    .unwrap_or_else(|| e.agent.clone()),
                interval_seconds: 0,
                statements: Vec::new(),
                keys: vec![KeyUse {
                    agent: e.agent.clone(),
                    key_id: record.map(|a| a.key_id).unwrap_or_default(),
                    first_seen: e.collected_at,
                    last_seen: e.collected_at,
                    statements: 0,
                }],
            }
        });
        h.statements.push((e.collected_at, e.sequence, r));
    }
    let mut machines: BTreeMap<String, Vec<HostHistory>> = BTreeMap::new();
    let mut hosts = Vec::new();
    for mut h in out.into_values() {
        h.statements.sort_by_key(|(_, s, _)| *s);
        for k in &mut h.keys {
            k.statements = h.statements.len();
            k.first_seen = h
                .statements
                .iter()
                .map(|s| s.0)
                .min()
                .unwrap_or(k.first_seen);
            k.last_seen = h
                .statements
                .iter()
                .map(|s| s.0)
                .max()
                .unwrap_or(k.last_seen);
        }
        let mut machine = None;
        if let Some((_, seq, _)) = h.statements.last() {
            let st = members
                .get(&bundle::envelope_path(&h.agent, *seq))
                .and_then(|b| Envelope::from_json(b).ok())
                .and_then(|env| {
                    Statement::from_bytes_with(&env.payload, |d| {
                        members.get(&bundle::blob_path(d)).map(Vec::as_slice)
                    })
                    .ok()
                });
            h.interval_seconds = st
                .as_ref()
                .map(|s| s.predicate.schedule.interval_seconds)
                .unwrap_or(86_400);
            machine = st
                .and_then(|s| s.predicate.host.machine_id)
                .filter(|m| !m.is_empty());
        }
        match machine {
            Some(m) => machines
                .entry(format!("{m}\n{}", h.hostname))
                .or_default()
                .push(h),
            None => hosts.push(h),
        }
    }
    hosts.extend(machines.into_values().flat_map(merge_enrollments));
    hosts.sort_by(|a, b| a.agent.cmp(&b.agent));
    hosts
}

/// Hosts from the histories of the agents that share a machine id and a
/// host name: an enrollment that starts after the previous one's last
/// statement continues the same host (a new key); enrollments that report
/// at the same time (cloned machines) stay separate hosts.
fn merge_enrollments(mut enrollments: Vec<HostHistory>) -> Vec<HostHistory> {
    let first = |h: &HostHistory| h.statements.iter().map(|s| s.0).min();
    let last = |h: &HostHistory| h.statements.iter().map(|s| s.0).max();
    enrollments.sort_by(|a, b| first(a).cmp(&first(b)).then(a.agent.cmp(&b.agent)));
    let mut out: Vec<HostHistory> = Vec::new();
    for h in enrollments {
        match out.last_mut() {
            Some(prev) if last(prev) < first(&h) => {
                // The later enrollment names the host; keys oldest first.
                let mut keys = std::mem::take(&mut prev.keys);
                keys.extend(h.keys.iter().cloned());
                let mut statements = std::mem::take(&mut prev.statements);
                statements.extend(h.statements.iter().cloned());
                *prev = HostHistory {
                    keys,
                    statements,
                    ..h
                };
            }
            _ => out.push(h),
        }
    }
    out
}

/// The attestations of `members` that verify, current on `now`'s date.
pub fn attestations(members: &Members, now: chrono::DateTime<chrono::Utc>) -> Vec<AttestationRef> {
    bundle::check_attestations(members, now.date_naive(), &mut bundle::Report::default())
}

/// What a report adds to the evidence.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Key id of the collector key that signs the bundles.
    pub collector_key_id: Option<String>,
    /// Sample this many hosts per control.
    pub sample: Option<usize>,
    /// Seed of the sample (default: derived from the statement index, so
    /// the same data gives the same sample).
    pub seed: Option<u64>,
}

/// What every statement in a report passed (at ingest for the database, by
/// `verify` for a bundle) before anything is rendered from it.
pub const SIGNATURES: &str = "every statement verified: strict Ed25519 DSSE signature by its agent's enrolled key, blob digests, sequence and hash chain";

/// The review report over `members` as of `now` (attestations signed
/// later are left out), with its provenance.
pub fn build_report(
    members: &Members,
    now: chrono::DateTime<chrono::Utc>,
    opts: &ReportOptions,
) -> Report {
    let mut attestations = attestations(members, now);
    attestations.retain(|a| a.signed_at <= now);
    let histories = histories(members);
    let mut r = report::build(Catalog::annex_a(), &histories, &attestations, now);
    r.provenance = provenance(members, &histories, opts);
    r.alerts = alerts(members, &histories, r.provenance.first_collected, now);
    r.vulns = super::vulns::section(members, &histories);
    r
}

/// The alerts section of the hosts reported (`None`: the evidence carries
/// no alerts member, as bundles made before alerts were exported).
fn alerts(
    members: &Members,
    histories: &[HostHistory],
    from: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<report::AlertsSection> {
    let entries = bundle::alerts::read_alerts(members, &mut bundle::Report::default())?;
    let hostnames: BTreeMap<String, String> = histories
        .iter()
        .flat_map(|h| h.keys.iter().map(|k| (k.agent.clone(), h.hostname.clone())))
        .collect();
    Some(report::alerts_section(&entries, &hostnames, from, now))
}

fn provenance(members: &Members, histories: &[HostHistory], opts: &ReportOptions) -> Provenance {
    let idx = index(members);
    let by_key: HashMap<(&str, u64), &bundle::IndexEntry> = idx
        .statements
        .iter()
        .map(|e| ((e.agent.as_str(), e.sequence), e))
        .collect();
    let mut policies = BTreeMap::new();
    let mut evidence = Vec::new();
    let mut control_hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for h in histories {
        let Some((at, seq, r)) = h.statements.last() else {
            continue;
        };
        if let Some(e) = by_key.get(&(h.agent.as_str(), *seq)) {
            evidence.push(EvidenceRef {
                agent: h.agent.clone(),
                hostname: h.hostname.clone(),
                sequence: *seq,
                collected_at: *at,
                envelope: e.envelope,
                results: e.results,
            });
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
    let sample = opts.sample.map(|n| {
        let seed = opts.seed.unwrap_or_else(|| {
            let d = evident_core::sha256_digest(&serde_json::to_vec(&idx).unwrap_or_default());
            let mut b = [0u8; 8];
            b.copy_from_slice(&d.0[..8]);
            u64::from_be_bytes(b) >> 11
        });
        Sample {
            seed,
            per_control: n,
            controls: control_hosts
                .iter()
                .map(|(c, agents)| (c.clone(), report::sample_hosts(seed, c, agents, n)))
                .collect(),
        }
    });
    let pruned = pruned_summary(members, &idx);
    Provenance {
        pruned,
        collector_key_id: opts.collector_key_id.clone(),
        policies: policies.into_values().collect(),
        statements: idx.statements.len(),
        signatures: SIGNATURES.to_string(),
        first_collected: idx.statements.iter().map(|e| e.collected_at).min(),
        last_collected: idx.statements.iter().map(|e| e.collected_at).max(),
        evidence,
        control_hosts,
        sample,
    }
}

/// What retention pruned among the hosts of the index, up to its last
/// statement (the stubs a bundle carries), with the policies applied.
fn pruned_summary(members: &Members, idx: &Index) -> Option<report::PrunedSummary> {
    use evident_core::bundle::pruned::{read_pruned, PrunedRun};
    let pruned = read_pruned(members, &mut bundle::Report::default());
    let last = idx.statements.iter().map(|e| e.collected_at).max()?;
    let agents: std::collections::BTreeSet<&str> =
        idx.statements.iter().map(|e| e.agent.as_str()).collect();
    let (mut statements, mut hosts) = (0, 0);
    let mut runs = std::collections::BTreeSet::new();
    for (agent, stubs) in &pruned.stubs {
        if !agents.contains(agent.as_str()) {
            continue;
        }
        let before = statements;
        for s in stubs.values().filter(|s| s.collected_at <= last) {
            statements += 1;
            runs.insert(s.run);
        }
        if statements > before {
            hosts += 1;
        }
    }
    if statements == 0 {
        return None;
    }
    let policies = runs
        .iter()
        .filter_map(|id| pruned.runs.get(id))
        .map(|r: &PrunedRun| {
            format!(
                "retention run {} on {}: {}",
                r.id,
                r.at.format("%Y-%m-%d"),
                r.policy
            )
        })
        .collect();
    Some(report::PrunedSummary {
        statements,
        hosts,
        policies,
    })
}

/// Keep in the index only the statements of `hosts` (host name or agent id;
/// empty: all) collected at or before `as_of`: the fleet as it stood then.
/// Names a host that matches nothing.
pub fn restrict(
    members: &mut Members,
    hosts: &[String],
    as_of: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(), String> {
    let mut idx = index(members);
    if !hosts.is_empty() {
        let mut wanted = std::collections::BTreeSet::new();
        for h in hosts {
            let mut found = false;
            for (path, bytes) in members.range("agents/".to_string()..) {
                if !path.starts_with("agents/") {
                    break;
                }
                if let Ok(a) = serde_json::from_slice::<bundle::AgentEntry>(bytes) {
                    if a.id == *h || a.hostname == *h {
                        wanted.insert(a.id);
                        found = true;
                    }
                }
            }
            if !found {
                return Err(format!("no enrolled host or agent `{h}`"));
            }
        }
        idx.statements.retain(|e| wanted.contains(&e.agent));
    }
    if let Some(t) = as_of {
        idx.statements.retain(|e| e.collected_at <= t);
    }
    bundle::set_index(members, &idx);
    Ok(())
}

/// Collection times of the first and last statement in the index.
pub fn time_range(
    members: &Members,
) -> Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
    let idx = index(members);
    let first = idx.statements.iter().map(|e| e.collected_at).min()?;
    let last = idx.statements.iter().map(|e| e.collected_at).max()?;
    Some((first, last))
}
