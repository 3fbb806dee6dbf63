//! Gathering a bundle's members from the store: enrolled agents, their
//! statements (paged by host and sequence), blobs, results, attestations
//! the policy files the exported results cite, and the alerts of the
//! period with the statements they rest on.

use super::error::ReviewError;
use super::model::Members;
use crate::store::retention::ChainStub;
use crate::store::Store;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use evident_core::bundle::alerts::{Acknowledgement, AlertEntry, StatementRef, ALERTS_PATH};
use evident_core::bundle::pruned::{stubs_path, ChainStubEntry, PrunedRun, PRUNED_RUNS_PATH};
use evident_core::bundle::{
    self, agent_path, blob_path, envelope_path, results_path, AgentEntry, Index, IndexEntry,
    PolicyFileEntry, PolicyKind, Scope,
};
use evident_core::evidence::{Content, Parsed};
use evident_core::vuln::basis::rfc3339_ms;
use evident_core::vuln::subset::{subset_path, Needs, SnapshotSubset};
use evident_core::vuln::Inventory;
use evident_core::Digest;
use evident_policies::Sources;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The files a recorded result cites (the rest of the results is not read).
#[derive(serde::Deserialize)]
struct Cited {
    policies: Vec<evident_core::policy::PolicyRef>,
    #[serde(default)]
    waivers: Option<evident_core::policy::SourceRef>,
    /// The vulnerability snapshot matched against (issue #18).
    #[serde(default)]
    vulns: Option<evident_core::vuln::basis::VulnBasis>,
}

/// A bundle's members, and what could not be included.
#[derive(Debug, Default)]
pub struct Gathered {
    /// Path → exact bytes.
    pub members: BTreeMap<String, Vec<u8>>,
    /// Policy files cited by exported results that neither the store nor the
    /// current configuration holds (results recorded before the collector
    /// kept policy files); `verify` will name the statements concerned.
    pub missing_policies: Vec<String>,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    /// Host names or agent ids (empty: all).
    pub hosts: Vec<String>,
    /// Collected at or after.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Collected at or before.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

fn ms_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Gather the members of a bundle from the store (everything except the
/// signed manifest and the collector key, which [`bundle::seal`] adds). The
/// policy files are those the exported results cite, from the store's kept
/// files (else `current`, the files configured now, when a digest matches).
pub async fn gather(
    store: &dyn Store,
    current: &Sources,
    filter: &ExportFilter,
    progress: impl FnMut(u64),
) -> Result<Gathered, ReviewError> {
    let mut sink = MembersSink::default();
    let missing_policies = gather_into(store, current, filter, &mut sink, progress).await?;
    Ok(Gathered {
        members: sink.members,
        missing_policies,
    })
}

/// Where gathered members go: a map in memory, or a bundle file written
/// as they come ([`super::export::BundleSink`]).
pub trait Sink: Send {
    /// One member.
    fn put(&mut self, path: String, bytes: Vec<u8>) -> Result<(), ReviewError>;
    /// One entry of the statement index (its pieces), in index order.
    fn index_entry(&mut self, entry: &IndexEntry) -> Result<(), ReviewError>;
    /// The index is complete: write it.
    fn finish_index(&mut self) -> Result<(), ReviewError>;
}

/// Members gathered into memory.
#[derive(Debug, Default)]
pub struct MembersSink {
    /// Path → exact bytes.
    pub members: Members,
    index: Index,
}

impl Sink for MembersSink {
    fn put(&mut self, path: String, bytes: Vec<u8>) -> Result<(), ReviewError> {
        self.members.insert(path, bytes);
        Ok(())
    }

    fn index_entry(&mut self, entry: &IndexEntry) -> Result<(), ReviewError> {
        self.index.statements.push(entry.clone());
        Ok(())
    }

    fn finish_index(&mut self) -> Result<(), ReviewError> {
        bundle::set_index(&mut self.members, &self.index);
        Ok(())
    }
}

/// Gather the members of a bundle from the store into `sink`, as
/// [`gather`]; the policy files cited that could not be included.
pub async fn gather_into(
    store: &dyn Store,
    current: &Sources,
    filter: &ExportFilter,
    sink: &mut dyn Sink,
    mut progress: impl FnMut(u64),
) -> Result<Vec<String>, ReviewError> {
    let mut blobs: BTreeSet<Digest> = BTreeSet::new();
    // Contents named by unchanged v2 runs (their probe blobs go in too).
    let mut contents: BTreeSet<Digest> = BTreeSet::new();
    let mut results: BTreeSet<Digest> = BTreeSet::new();
    // The packages blobs of the exported statements: what the snapshot
    // subsets are cut for.
    let mut packages: BTreeSet<Digest> = BTreeSet::new();
    let mut after: Option<String> = None;
    let mut matched_hosts = BTreeSet::new();
    // Retention runs cited by the exported chain stubs.
    let mut runs: BTreeSet<i64> = BTreeSet::new();
    // The alerts of the period, with the statements they rest on.
    let mut alerts: Vec<AlertEntry> = Vec::new();
    loop {
        let page = store.list_agents(after.as_deref(), 500).await?;
        for a in &page {
            if !filter.hosts.is_empty()
                && !filter.hosts.iter().any(|h| *h == a.hostname || *h == a.id)
            {
                continue;
            }
            matched_hosts.insert(a.hostname.clone());
            matched_hosts.insert(a.id.clone());
            let record = AgentEntry {
                id: a.id.clone(),
                key_id: a.key_id.clone(),
                public_key: B64.encode(&a.public_key),
                hostname: a.hostname.clone(),
                agent_version: a.agent_version.clone(),
                status: a.status.as_str().to_string(),
                enrolled_at: ms_time(a.enrolled_at),
            };
            sink.put(
                agent_path(&a.id),
                serde_json::to_vec_pretty(&record).unwrap_or_default(),
            )?;
            let mut after_seq = None;
            // This host's exported statements (sequence → envelope), which
            // its alerts may cite.
            let mut exported: HashMap<u64, Digest> = HashMap::new();
            loop {
                let rows = store
                    .export_statements(
                        &a.id,
                        after_seq,
                        filter.since.map(|t| t.timestamp_millis()),
                        filter.until.map(|t| t.timestamp_millis()),
                        1000,
                    )
                    .await?;
                let page_len = rows.len();
                after_seq = rows.last().map(|(r, _)| r.sequence);
                for (row, bytes) in rows {
                    let sequence = u64::try_from(row.sequence).unwrap_or_default();
                    let path = envelope_path(&a.id, sequence);
                    if let Ok(env) = evident_core::Envelope::from_json(&bytes) {
                        if let Ok(p) = Parsed::from_bytes(&env.payload) {
                            match &p {
                                Parsed::Unchanged(u) => {
                                    contents.insert(u.content);
                                }
                                Parsed::Full(st) => packages.extend(
                                    st.predicate
                                        .probes
                                        .iter()
                                        .filter(|e| e.id == "packages")
                                        .filter_map(|e| e.digest),
                                ),
                            }
                            blobs.extend(p.direct_blobs());
                        }
                    }
                    results.insert(row.results);
                    exported.insert(sequence, row.digest);
                    sink.index_entry(&IndexEntry {
                        agent: a.id.clone(),
                        sequence,
                        envelope: row.digest,
                        path: path.clone(),
                        collected_at: ms_time(row.collected_at),
                        received_at: ms_time(row.received_at),
                        results: row.results,
                    })?;
                    sink.put(path, bytes)?;
                    progress(1);
                }
                if page_len < 1000 {
                    break;
                }
            }
            let stubs = pruned_stubs(store, &a.id, filter, sink, &mut runs).await?;
            exported.extend(stubs);
            alerts.extend(period_alerts(store, &a.id, filter, &exported).await?);
        }
        if page.len() < 500 {
            break;
        }
        after = page.last().map(|a| a.id.clone());
    }
    for h in &filter.hosts {
        if !matched_hosts.contains(h) {
            return Err(ReviewError::Invalid(format!(
                "no enrolled host or agent `{h}`"
            )));
        }
    }
    alerts.sort_by_key(|a| a.id);
    sink.put(
        ALERTS_PATH.to_string(),
        serde_json::to_vec_pretty(&alerts).unwrap_or_default(),
    )?;
    if !runs.is_empty() {
        let ids: Vec<i64> = runs.into_iter().collect();
        let list: Vec<PrunedRun> = store
            .prune_runs(&ids)
            .await?
            .into_iter()
            .map(|r| PrunedRun {
                id: r.id,
                at: ms_time(r.started_at),
                keep_days: r.keep_days,
                cutoff: ms_time(r.cutoff),
                policy: r.policy,
            })
            .collect();
        sink.put(
            PRUNED_RUNS_PATH.to_string(),
            serde_json::to_vec_pretty(&list).unwrap_or_default(),
        )?;
    }
    attestation_members(store, sink, &mut blobs).await?;
    blobs.extend(content_blobs(store, &contents, &mut packages).await?);
    let wanted: Vec<Digest> = blobs.into_iter().collect();
    let mut needs = Needs::default();
    for chunk in wanted.chunks(2000) {
        for (d, data) in store.blobs(chunk).await? {
            if packages.contains(&d) {
                if let Ok(inv) = serde_json::from_slice::<serde_json::Value>(&data)
                    .map_err(|e| e.to_string())
                    .and_then(|v| Inventory::from_probe(&v))
                {
                    needs.add(&inv);
                }
            }
            sink.put(blob_path(&d), data)?;
        }
    }
    drop(packages);
    // Snapshots cited by the exported results.
    let mut snapshots: BTreeSet<Digest> = BTreeSet::new();
    // Policy files cited by the exported results: digest → (name, kind).
    let mut cited: BTreeMap<Digest, (String, PolicyKind)> = BTreeMap::new();
    for d in results {
        if let Some(data) = store.results(&d).await? {
            if let Ok(c) = serde_json::from_slice::<Cited>(&data) {
                for p in c.policies {
                    cited
                        .entry(p.sha256)
                        .or_insert((p.source, PolicyKind::Policy));
                }
                if let Some(w) = c.waivers {
                    cited
                        .entry(w.sha256)
                        .or_insert((w.name, PolicyKind::Waivers));
                }
                if let Some(v) = c.vulns {
                    snapshots.insert(v.snapshot);
                }
            }
            sink.put(results_path(&d), data)?;
        }
    }
    let mut missing_policies = snapshot_subsets(store, &snapshots, &needs, sink).await?;
    let PolicyFiles {
        entries: files,
        members,
        missing,
    } = policy_files(store, current, cited).await?;
    missing_policies.extend(missing);
    for (path, data) in members {
        sink.put(path, data)?;
    }
    sink.put(
        bundle::POLICY_INDEX_PATH.to_string(),
        serde_json::to_vec_pretty(&files).unwrap_or_default(),
    )?;
    sink.finish_index()?;
    Ok(missing_policies)
}

/// The policy files of a bundle.
pub(crate) struct PolicyFiles {
    /// The policy index.
    pub entries: Vec<PolicyFileEntry>,
    /// Their members: path, bytes.
    pub members: Vec<(String, Vec<u8>)>,
    /// The files cited and found nowhere (name and digest).
    pub missing: Vec<String>,
}

/// The policy files `cited` (digest → name, kind) names: from the store's
/// kept files, else `current` when a digest matches.
pub(crate) async fn policy_files(
    store: &dyn Store,
    current: &Sources,
    cited: BTreeMap<Digest, (String, PolicyKind)>,
) -> Result<PolicyFiles, ReviewError> {
    let mut missing_policies = Vec::new();
    let mut members = Vec::new();
    let wanted: Vec<Digest> = cited.keys().copied().collect();
    let mut found: BTreeMap<Digest, Vec<u8>> = store
        .policy_files(&wanted)
        .await?
        .into_iter()
        .map(|f| (f.digest, f.data))
        .collect();
    for s in current.policies.iter().chain(current.waivers.iter()) {
        let d = evident_core::sha256_digest(&s.bytes);
        if cited.contains_key(&d) {
            found.entry(d).or_insert_with(|| s.bytes.clone());
        }
    }
    let mut files = Vec::new();
    for (digest, (name, kind)) in cited {
        let Some(bytes) = found.remove(&digest) else {
            missing_policies.push(format!("{name} {digest}"));
            continue;
        };
        let base = name
            .rsplit(['/', ':'])
            .next()
            .filter(|b| !b.is_empty())
            .unwrap_or("policy.toml");
        // The index holds the full digest; 16 hex digits keep names short.
        let hex = digest.hex();
        let path = format!("policies/{}-{base}", hex.get(..16).unwrap_or(&hex));
        files.push(PolicyFileEntry {
            name,
            path: path.clone(),
            sha256: digest,
            kind,
        });
        members.push((path, bytes));
    }
    Ok(PolicyFiles {
        entries: files,
        members,
        missing: missing_policies,
    })
}

/// The policy files the results `digests` cite (each results row read
/// once, not kept), as [`gather_into`] finds them.
pub(crate) async fn cited_by(
    store: &dyn Store,
    digests: &BTreeSet<Digest>,
) -> Result<BTreeMap<Digest, (String, PolicyKind)>, ReviewError> {
    let mut cited: BTreeMap<Digest, (String, PolicyKind)> = BTreeMap::new();
    for d in digests {
        if let Some(data) = store.results(d).await? {
            if let Ok(c) = serde_json::from_slice::<Cited>(&data) {
                for p in c.policies {
                    cited
                        .entry(p.sha256)
                        .or_insert((p.source, PolicyKind::Policy));
                }
                if let Some(w) = c.waivers {
                    cited
                        .entry(w.sha256)
                        .or_insert((w.name, PolicyKind::Waivers));
                }
            }
        }
    }
    Ok(cited)
}

/// The attesters and attestations (and, into `blobs`, the documents the
/// attestations cite).
async fn attestation_members(
    store: &dyn Store,
    sink: &mut dyn Sink,
    blobs: &mut BTreeSet<Digest>,
) -> Result<(), ReviewError> {
    for a in store.attesters().await? {
        let entry = bundle::AttesterEntry {
            key_id: a.key_id.clone(),
            name: a.name.clone(),
            public_key: B64.encode(&a.public_key),
            registered_at: Some(ms_time(a.registered_at)),
            revoked_at: a.revoked_at.map(ms_time),
        };
        sink.put(
            bundle::attester_path(&a.key_id),
            serde_json::to_vec_pretty(&entry).unwrap_or_default(),
        )?;
    }
    for att in store.attestations().await? {
        if let Ok(env) = evident_core::Envelope::from_json(&att.envelope) {
            if let Ok(parsed) =
                serde_json::from_slice::<evident_core::attestation::Attestation>(&env.payload)
            {
                blobs.extend(parsed.evidence.iter().map(|d| d.sha256));
            }
        }
        sink.put(bundle::attestation_path(&att.digest), att.envelope)?;
    }
    Ok(())
}

/// What a report from the database reads besides statements: attesters,
/// attestations and the documents they cite.
pub async fn gather_attestations(store: &dyn Store) -> Result<Members, ReviewError> {
    let mut sink = MembersSink::default();
    let mut blobs = BTreeSet::new();
    attestation_members(store, &mut sink, &mut blobs).await?;
    let mut members = sink.members;
    let wanted: Vec<Digest> = blobs.into_iter().collect();
    for chunk in wanted.chunks(2000) {
        for (d, data) in store.blobs(chunk).await? {
            members.insert(blob_path(&d), data);
        }
    }
    Ok(members)
}

/// The chain stubs of statements retention pruned from `agent`'s history
/// within the export's period (`pruned/stubs/<agent>.json`), noting the
/// runs they cite.
async fn pruned_stubs(
    store: &dyn Store,
    agent: &str,
    filter: &ExportFilter,
    sink: &mut dyn Sink,
    runs: &mut BTreeSet<i64>,
) -> Result<Vec<(u64, Digest)>, ReviewError> {
    let stubs: Vec<ChainStubEntry> = chain_stubs(store, agent, filter)
        .await?
        .into_iter()
        .map(|s| {
            runs.insert(s.prune_run);
            ChainStubEntry {
                sequence: u64::try_from(s.sequence).unwrap_or_default(),
                envelope: s.digest,
                previous: s.previous,
                collected_at: ms_time(s.collected_at),
                run: s.prune_run,
            }
        })
        .collect();
    let out = stubs.iter().map(|s| (s.sequence, s.envelope)).collect();
    if !stubs.is_empty() {
        sink.put(
            stubs_path(agent),
            serde_json::to_vec(&stubs).unwrap_or_default(),
        )?;
    }
    Ok(out)
}

/// Every chain stub of `agent` within `filter`'s period, page by page.
async fn chain_stubs(
    store: &dyn Store,
    agent: &str,
    filter: &ExportFilter,
) -> Result<Vec<ChainStub>, ReviewError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .chain_stubs(
                agent,
                after,
                filter.since.map(|t| t.timestamp_millis()),
                filter.until.map(|t| t.timestamp_millis()),
                5000,
            )
            .await?;
        after = page.last().map(|s| s.sequence);
        let done = page.len() < 5000;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// The chain stubs of `agent` within `filter`'s period: sequence →
/// envelope digest, as an export of that period carries them.
pub(super) async fn stub_links(
    store: &dyn Store,
    agent: &str,
    filter: &ExportFilter,
) -> Result<Vec<(u64, Digest)>, ReviewError> {
    Ok(chain_stubs(store, agent, filter)
        .await?
        .into_iter()
        .map(|s| (u64::try_from(s.sequence).unwrap_or_default(), s.digest))
        .collect())
}

/// The alerts of `agent` open at some time within the export's period; a
/// statement that opened or resolved one is cited when the export holds it
/// (`exported`: sequence → envelope digest, kept or pruned).
pub(super) async fn period_alerts(
    store: &dyn Store,
    agent: &str,
    filter: &ExportFilter,
    exported: &HashMap<u64, Digest>,
) -> Result<Vec<AlertEntry>, ReviewError> {
    let cite = |seq: Option<i64>| {
        let sequence = u64::try_from(seq?).ok()?;
        let envelope = *exported.get(&sequence)?;
        Some(StatementRef { sequence, envelope })
    };
    let rows = store
        .period_alerts(
            agent,
            filter.since.map(|t| t.timestamp_millis()),
            filter.until.map(|t| t.timestamp_millis()),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|p| {
            let a = p.record;
            let acknowledged = match (a.ack_by, a.ack_reason, a.ack_at) {
                (Some(by), reason, Some(at)) => Some(Acknowledgement {
                    by,
                    reason: reason.unwrap_or_default(),
                    at: ms_time(at),
                }),
                _ => None,
            };
            AlertEntry {
                id: a.id,
                agent: a.agent_id,
                kind: a.kind,
                subject: a.subject,
                severity: a.severity,
                baseline: a.baseline,
                flapping: a.flapping,
                detail: a.detail,
                opened_at: ms_time(a.opened_at),
                opened_by: cite(p.opened_sequence),
                acknowledged,
                resolved_at: a.resolved_at.map(ms_time),
                resolved_by: a.resolved_at.and(cite(p.resolved_sequence)),
            }
        })
        .collect())
}

/// Build the scope recorded in the manifest.
pub fn scope(filter: &ExportFilter) -> Scope {
    Scope {
        hosts: filter.hosts.clone(),
        since: filter.since,
        until: filter.until,
    }
}

/// The probe blobs the contents of unchanged v2 runs name (a window may
/// start after the full statement that carried them).
async fn content_blobs(
    store: &dyn Store,
    contents: &BTreeSet<Digest>,
    packages: &mut BTreeSet<Digest>,
) -> Result<BTreeSet<Digest>, ReviewError> {
    let mut out = BTreeSet::new();
    let wanted: Vec<Digest> = contents.iter().copied().collect();
    for chunk in wanted.chunks(500) {
        for (d, data) in store.blobs(chunk).await? {
            if let Ok(c) = Content::from_blob(&d, &data) {
                out.extend(c.probes.iter().filter_map(|p| p.digest));
                packages.extend(
                    c.probes
                        .iter()
                        .filter(|p| p.id == "packages")
                        .filter_map(|p| p.digest),
                );
            }
        }
    }
    Ok(out)
}

/// One member per vulnerability snapshot the exported results cite
/// (`vulns/<hex>.json`): its entries for the (release, source package)
/// pairs the exported inventories look up (issue #18). One snapshot is in
/// memory at a time. A snapshot the store no longer holds is returned as
/// missing (`verify` then names the results citing it).
async fn snapshot_subsets(
    store: &dyn Store,
    snapshots: &BTreeSet<Digest>,
    needs: &Needs,
    sink: &mut dyn Sink,
) -> Result<Vec<String>, ReviewError> {
    let mut missing = Vec::new();
    for d in snapshots {
        let loaded = crate::service::vuln::load_snapshot(store, Some(&d.to_string()))
            .await
            .map_err(|e| ReviewError::Invalid(e.to_string()))?;
        let Some((info, full)) = loaded else {
            missing.push(format!("vulnerability snapshot {d}"));
            continue;
        };
        let subset = SnapshotSubset::extract(
            &full,
            needs,
            *d,
            &info.source,
            &rfc3339_ms(ms_time(info.imported_at)),
        );
        drop(full);
        sink.put(
            subset_path(d),
            serde_json::to_vec(&subset).unwrap_or_default(),
        )?;
    }
    Ok(missing)
}
