//! The report's vulnerability section (issue #18) from the evidence: for
//! each host's latest statement whose results were matched against a
//! snapshot (`RecordedResults.vulns`), the `vulns` data recomputed by the
//! core's one function (`vuln::basis::vulns_entry`, as ingest and `verify`
//! compute it) from the statement's inventory, the snapshot (a bundle's
//! subset member, or the stored snapshot) and the recorded first-seen
//! times, with the CVE waivers of the policy files the results cite.
//! A bundle's subset matches exactly as the full snapshot does, so a
//! report from the database and one from a bundle of the same data agree.

use evident_core::bundle::{self, load_recorded_set, RecordedResults};
use evident_core::policy::waiver::Waiver;
use evident_core::report::vulns::{self, HostCves, SnapshotRef, VulnSection};
use evident_core::report::HostHistory;
use evident_core::vuln::basis::{vulns_entry, VulnBasis};
use evident_core::vuln::index::SnapshotIndex;
use evident_core::vuln::subset::{subset_path, SnapshotSubset};
use evident_core::{Digest, Envelope, Evidence, Statement};
use std::collections::{BTreeMap, HashMap};

/// The snapshot a basis names, as the section cites it.
pub fn snapshot_ref(b: &VulnBasis) -> SnapshotRef {
    SnapshotRef {
        digest: b.snapshot.to_string(),
        format: b.format.clone(),
        source: b.source.clone(),
        imported_at: b.imported_at.clone(),
    }
}

/// The policy and waivers files a result cites, as a cache key.
fn citation(r: &RecordedResults) -> Vec<Digest> {
    let mut cited: Vec<Digest> = r.policies.iter().map(|p| p.sha256).collect();
    cited.extend(r.waivers.as_ref().map(|w| w.sha256));
    cited
}

/// The CVE waivers of the files `r` cites (none when they do not load:
/// `verify` reports that).
pub fn waivers_of(files: &HashMap<Digest, &[u8]>, r: &RecordedResults) -> Vec<Waiver> {
    if r.waivers.is_none() {
        return Vec::new();
    }
    load_recorded_set(files, &r.policies, r.waivers.as_ref())
        .map(|s| s.waivers().to_vec())
        .unwrap_or_default()
}

/// One host's rows: `st` (sequence `sequence`) with its blobs, matched
/// against `index` as `basis` says. `None` when its evidence cannot be
/// rebuilt (a failing bundle never gets here).
#[allow(clippy::too_many_arguments)]
pub fn host_rows<'a>(
    agent: &str,
    hostname: &str,
    sequence: u64,
    st: &Statement,
    blob: impl Fn(&Digest) -> Option<&'a [u8]>,
    basis: &VulnBasis,
    index: &SnapshotIndex,
    waivers: &[Waiver],
) -> Option<HostCves> {
    let evidence = Evidence::from_statement(st, blob).ok()?;
    let entry = vulns_entry(&evidence, index, basis);
    let data = entry.data.unwrap_or_else(|| {
        serde_json::json!({
            "snapshot": basis.snapshot.to_string(),
            "note": entry.reason.unwrap_or_default(),
        })
    });
    Some(vulns::host_cves(
        agent,
        hostname,
        sequence,
        evidence.collected_at,
        &data,
        waivers,
    ))
}

/// The section over the hosts of `histories` from a bundle's members
/// (their latest statements; `None` when none was matched).
pub fn section(
    members: &BTreeMap<String, Vec<u8>>,
    histories: &[HostHistory],
) -> Option<VulnSection> {
    let files = bundle::policy_files(members, &mut bundle::Report::default()).unwrap_or_default();
    let mut subsets: HashMap<Digest, Option<SnapshotSubset>> = HashMap::new();
    let mut hosts = Vec::new();
    let mut snapshots = Vec::new();
    let mut waiver_cache: HashMap<Vec<Digest>, Vec<Waiver>> = HashMap::new();
    for h in histories {
        let Some((_, seq, r)) = h.statements.last() else {
            continue;
        };
        let Some(basis) = &r.vulns else { continue };
        let subset = subsets.entry(basis.snapshot).or_insert_with(|| {
            members
                .get(&subset_path(&basis.snapshot))
                .and_then(|b| serde_json::from_slice(b).ok())
        });
        let Some(subset) = subset.as_ref() else {
            continue;
        };
        let blob = |d: &Digest| members.get(&bundle::blob_path(d)).map(Vec::as_slice);
        let Some(st) = members
            .get(&bundle::envelope_path(&h.agent, *seq))
            .and_then(|b| Envelope::from_json(b).ok())
            .and_then(|env| Statement::from_bytes_with(&env.payload, blob).ok())
        else {
            continue;
        };
        let waivers = waiver_cache
            .entry(citation(r))
            .or_insert_with(|| waivers_of(&files, r));
        if let Some(row) = host_rows(
            &h.agent,
            &h.hostname,
            *seq,
            &st,
            blob,
            basis,
            &subset.index,
            waivers,
        ) {
            hosts.push(row);
            snapshots.push(snapshot_ref(basis));
        }
    }
    if hosts.is_empty() {
        return None;
    }
    Some(vulns::section(hosts, snapshots))
}

/// A host whose latest results were matched, as the database report finds
/// it: (agent, host name, sequence, envelope digest, results).
pub type StoredHost = (String, String, u64, Digest, std::sync::Arc<RecordedResults>);

/// The section from the database: each host's latest statement and blobs
/// from the store, matched against the stored snapshot its results cite
/// (one snapshot in memory at a time), with the waivers of the kept policy
/// files they cite. The same rows [`section`] gives over an export.
pub async fn section_from_store(
    store: &dyn crate::store::Store,
    mut hosts: Vec<StoredHost>,
) -> Result<Option<VulnSection>, super::ReviewError> {
    use evident_core::evidence::Parsed;
    hosts.retain(|h| h.4.vulns.is_some());
    hosts.sort_by_key(|h| h.4.vulns.as_ref().map(|b| b.snapshot));
    let mut loaded: Option<(Digest, Option<SnapshotIndex>)> = None;
    let mut rows = Vec::new();
    let mut snapshots = Vec::new();
    let mut waiver_cache: HashMap<Vec<Digest>, Vec<Waiver>> = HashMap::new();
    for (agent, hostname, seq, digest, r) in hosts {
        let Some(basis) = &r.vulns else { continue };
        if loaded.as_ref().map(|l| l.0) != Some(basis.snapshot) {
            // One snapshot in memory at a time.
            drop(loaded.take());
            let index =
                crate::service::vuln::load_snapshot(store, Some(&basis.snapshot.to_string()))
                    .await
                    .map_err(|e| super::ReviewError::Invalid(e.to_string()))?
                    .map(|(_, ix)| ix);
            loaded = Some((basis.snapshot, index));
        }
        let Some((_, Some(index))) = &loaded else {
            continue;
        };
        let Some((_, env)) = store.statement(&digest).await? else {
            continue;
        };
        let Ok(env) = Envelope::from_json(&env) else {
            continue;
        };
        let Ok(parsed) = Parsed::from_bytes(&env.payload) else {
            continue;
        };
        let mut blobs = store.blobs(&parsed.direct_blobs()).await?;
        let Ok(st) = Statement::from_bytes_with(&env.payload, |d| blobs.get(d).map(Vec::as_slice))
        else {
            continue;
        };
        let probe_blobs: Vec<Digest> = st.blob_digests();
        blobs.extend(store.blobs(&probe_blobs).await?);
        let cited = citation(&r);
        if !waiver_cache.contains_key(&cited) {
            let kept = store.policy_files(&cited).await?;
            let files: HashMap<Digest, &[u8]> =
                kept.iter().map(|f| (f.digest, f.data.as_slice())).collect();
            waiver_cache.insert(cited.clone(), waivers_of(&files, &r));
        }
        let waivers = waiver_cache.get(&cited).cloned().unwrap_or_default();
        if let Some(row) = host_rows(
            &agent,
            &hostname,
            seq,
            &st,
            |d| blobs.get(d).map(Vec::as_slice),
            basis,
            index,
            &waivers,
        ) {
            rows.push(row);
            snapshots.push(snapshot_ref(basis));
        }
    }
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(vulns::section(rows, snapshots)))
}

/// `verify --feed`: compare each snapshot subset in the bundle file at
/// `bundle` whose digest is the feed's with the full feed an auditor
/// supplies (its index `full`, digest `digest`). Returns the number of
/// subsets compared and one failure per difference; a feed no subset
/// cites is a failure naming the snapshots the bundle does cite.
pub fn check_feed(
    bundle: &std::path::Path,
    digest: &Digest,
    full: &SnapshotIndex,
) -> Result<(usize, Vec<evident_core::bundle::Finding>), super::ReviewError> {
    use evident_core::bundle::{Finding, Severity};
    let mut compared = 0;
    let mut cited = Vec::new();
    let mut out = Vec::new();
    let fail = |subject: String, message: String| Finding {
        severity: Severity::Failure,
        kind: "vulns".into(),
        subject,
        message,
    };
    super::bundle_file::walk(bundle, &mut |name, entry, size| {
        if !name.starts_with("vulns/") {
            return Ok(());
        }
        let data = super::bundle_file::read_member(bundle, &name, entry, size)?;
        let subset: SnapshotSubset = match serde_json::from_slice(&data) {
            Ok(s) => s,
            Err(e) => {
                out.push(fail(name, format!("not a snapshot subset: {e}")));
                return Ok(());
            }
        };
        cited.push(subset.snapshot.to_string());
        if subset.snapshot != *digest {
            return Ok(());
        }
        compared += 1;
        for m in subset.check_feed(digest, full) {
            out.push(fail(
                name.clone(),
                format!("differs from the feed supplied: {m}"),
            ));
        }
        Ok(())
    })?;
    if compared == 0 {
        out.push(fail(
            "feed".into(),
            format!(
                "the feed supplied ({digest}) is not a snapshot the bundle's results cite ({})",
                if cited.is_empty() {
                    "they cite none".to_string()
                } else {
                    cited.join(", ")
                }
            ),
        ));
    }
    Ok((compared, out))
}
