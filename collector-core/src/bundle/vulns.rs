//! Offline re-match of vulnerability results (issue #18): results recorded
//! with a `vulns` basis are re-evaluated with the `vulns` data rebuilt by
//! the core's one function (`vuln::basis::with_vulns`) from the statement's
//! inventory, the bundle's snapshot subset (`vulns/<hex>.json`) and the
//! recorded first-seen times; and every first-seen citation that falls
//! inside the bundle is checked: the statement is there with that digest
//! and collection time, and its own inventory matched that CVE in that
//! source package against the same snapshot.
//!
//! Memory: the subsets (parsed once each), one entry per distinct
//! citation and one per cited statement, not per statement.

use super::model::{BlobSource, IndexEntry, RecordedResults};
use super::pruned::Pruned;
use super::report::Report;
use crate::digest::{sha256_digest, Digest};
use crate::evidence::Statement;
use crate::vuln::basis::{FirstSeenRef, VulnBasis};
use crate::vuln::subset::{subset_path, SnapshotSubset};
use crate::vuln::{match_host, Inventory};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// A first-seen citation to check at the end: the citing host's agent, the
/// citation and the snapshot it was matched against.
type Pending = (String, FirstSeenRef, Digest);

/// A cited statement as it verified: envelope digest, collection time, the
/// digest of its packages blob.
type CitedStatement = (Digest, DateTime<Utc>, Option<Digest>);

/// What re-matching keeps between statements.
pub(super) struct VulnChecker {
    subsets: HashMap<Digest, Result<Arc<SnapshotSubset>, String>>,
    /// (snapshot, agent) pairs whose missing subset was reported.
    reported: HashSet<(Digest, String)>,
    /// Sequences some result cites as a first sighting (of some host).
    cited: HashSet<u64>,
    /// The bundle's statements at those sequences as they verified:
    /// (agent, sequence) → (envelope digest, collected at, the digest of
    /// their packages blob). One entry per cited sequence and host, not
    /// per statement: what lets a reader that holds no index (the ordered
    /// verifier) check the citations at the end.
    cited_inventories: HashMap<(String, u64), CitedStatement>,
    /// Citations to check once every statement was seen, with the host
    /// name of the citing agent.
    pending: BTreeMap<Pending, String>,
    /// Statements whose re-matched results were confirmed.
    pub(super) confirmed: usize,
}

/// The digest of a statement's packages blob.
pub(super) fn packages_digest(st: &Statement) -> Option<Digest> {
    st.predicate
        .probes
        .iter()
        .find(|p| p.id == "packages")
        .and_then(|p| p.digest)
}

impl VulnChecker {
    /// Collect the statements the bundle's results cite as first sightings.
    pub(super) fn new(members: &BTreeMap<String, Vec<u8>>) -> VulnChecker {
        #[derive(serde::Deserialize)]
        struct Cites {
            #[serde(default)]
            vulns: Option<VulnBasis>,
        }
        let mut cited = HashSet::new();
        for (path, bytes) in members.range("results/".to_string()..) {
            if !path.starts_with("results/") {
                break;
            }
            if let Ok(Cites { vulns: Some(b) }) = serde_json::from_slice::<Cites>(bytes) {
                cited.extend(b.first_seen.iter().map(|f| f.sequence));
            }
        }
        VulnChecker {
            subsets: HashMap::new(),
            reported: HashSet::new(),
            cited,
            cited_inventories: HashMap::new(),
            pending: BTreeMap::new(),
            confirmed: 0,
        }
    }

    /// The bundle's subset of the snapshot `basis` names, checked: present,
    /// well-formed, of that snapshot and format. `Err` says why not.
    pub(super) fn subset(
        &mut self,
        members: &BTreeMap<String, Vec<u8>>,
        basis: &VulnBasis,
    ) -> Result<Arc<SnapshotSubset>, String> {
        self.subsets
            .entry(basis.snapshot)
            .or_insert_with(|| load_subset(members, basis))
            .clone()
    }

    /// Report a missing or unusable subset once per snapshot and host.
    pub(super) fn report_subset(
        &mut self,
        basis: &VulnBasis,
        agent: &str,
        subject: &str,
        msg: &str,
        r: &mut Report,
    ) {
        if self.reported.insert((basis.snapshot, agent.to_string())) {
            r.fail("vulns", subject, msg);
        }
    }

    /// Note what a verified statement (filed as `e`, of host `host`) means
    /// for first-seen checks: it may be cited, and its results may cite.
    pub(super) fn note(
        &mut self,
        e: &IndexEntry,
        host: &str,
        st: &Statement,
        recorded: &RecordedResults,
    ) {
        if self.cited.contains(&e.sequence) {
            self.cited_inventories.insert(
                (e.agent.clone(), e.sequence),
                (e.envelope, e.collected_at, packages_digest(st)),
            );
        }
        if let Some(b) = &recorded.vulns {
            for f in &b.first_seen {
                self.pending
                    .entry((e.agent.clone(), f.clone(), b.snapshot))
                    .or_insert_with(|| host.to_string());
            }
        }
    }

    /// Check every first-seen citation that falls inside the bundle, and
    /// count those that do not: a cited sequence the bundle holds no
    /// statement of for that host was pruned to a chain stub (its digest
    /// and collection time are checked against the stub; the inventory is
    /// gone) or lies before the bundle's period (nothing to check).
    pub(super) fn finish(
        self,
        blobs: &dyn BlobSource,
        pruned: &Pruned,
        r: &mut Report,
    ) -> FirstSeenTally {
        let mut matches: HashMap<(Digest, Digest), Option<OpenPairs>> = HashMap::new();
        let mut tally = FirstSeenTally::default();
        // Distinct citations outside (one per host, sequence and pair,
        // whatever the snapshots that cite it).
        let mut outside: HashSet<(&str, u64, &str, &str)> = HashSet::new();
        for ((agent, f, snapshot), host) in &self.pending {
            let subject = format!("{host} sequence {}", f.sequence);
            let Some((envelope, collected_at, pkg)) =
                self.cited_inventories.get(&(agent.clone(), f.sequence))
            else {
                let key = (
                    agent.as_str(),
                    f.sequence,
                    f.cve.as_str(),
                    f.source_package.as_str(),
                );
                if !outside.insert(key) {
                    continue;
                }
                tally.outside += 1;
                let stub = pruned.stubs.get(agent).and_then(|s| s.get(&f.sequence));
                let Some(stub) = stub else {
                    continue; // before the bundle's period
                };
                tally.pruned += 1;
                if stub.envelope != f.statement {
                    r.fail(
                        "vulns",
                        &subject,
                        format!(
                            "{} in {} is cited as first seen in statement {}, but the bundle's chain stub of pruned sequence {} is {}",
                            f.cve, f.source_package, f.statement, f.sequence, stub.envelope
                        ),
                    );
                } else if cited_at(f) != Some(stub.collected_at) {
                    r.fail(
                        "vulns",
                        &subject,
                        format!(
                            "{} in {} is cited as first seen at {}, but the chain stub of that pruned statement says it was collected at {}",
                            f.cve,
                            f.source_package,
                            f.at,
                            crate::vuln::basis::rfc3339_ms(stub.collected_at)
                        ),
                    );
                }
                continue;
            };
            if *envelope != f.statement {
                r.fail(
                    "vulns",
                    &subject,
                    format!(
                        "{} in {} is cited as first seen in statement {}, but the bundle's statement at that sequence is {}",
                        f.cve, f.source_package, f.statement, envelope
                    ),
                );
                continue;
            }
            if cited_at(f) != Some(*collected_at) {
                r.fail(
                    "vulns",
                    &subject,
                    format!(
                        "{} in {} is cited as first seen at {}, but that statement was collected at {}",
                        f.cve,
                        f.source_package,
                        f.at,
                        crate::vuln::basis::rfc3339_ms(*collected_at)
                    ),
                );
                continue;
            }
            // A cited statement without an inventory cannot have matched.
            let Some(pkg) = pkg else {
                r.fail(
                    "vulns",
                    &subject,
                    format!(
                        "{} in {} is cited as first seen in a statement without a packages inventory",
                        f.cve, f.source_package
                    ),
                );
                continue;
            };
            let Some(Ok(subset)) = self.subsets.get(snapshot) else {
                continue; // reported with the citing statement
            };
            let found = matches.entry((*pkg, *snapshot)).or_insert_with(|| {
                let inv = blobs
                    .blob(pkg)
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|v| Inventory::from_probe(&v).ok())?;
                subset.covers(&inv).ok()?;
                Some(
                    match_host(&inv, &subset.index)
                        .findings
                        .into_iter()
                        .map(|x| (x.cve, x.source))
                        .collect(),
                )
            });
            match found {
                None => r.fail(
                    "vulns",
                    &subject,
                    format!(
                        "{} in {}: the inventory of the statement cited as first seen cannot be re-matched against snapshot {snapshot}",
                        f.cve, f.source_package
                    ),
                ),
                Some(set) if set.contains(&(f.cve.clone(), f.source_package.clone())) => {
                    tally.confirmed += 1;
                }
                Some(_) => r.fail(
                    "vulns",
                    &subject,
                    format!(
                        "{} in {} is cited as first seen in this statement, but its inventory does not match that CVE against snapshot {snapshot}",
                        f.cve, f.source_package
                    ),
                ),
            }
        }
        tally
    }
}

/// What [`VulnChecker::finish`] found of the first-seen citations.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct FirstSeenTally {
    /// Inside the bundle and confirmed.
    pub(super) confirmed: usize,
    /// Not inside the bundle (distinct citations): before its period or
    /// pruned; not re-checked.
    pub(super) outside: usize,
    /// Of `outside`, those at a chain stub of a pruned statement.
    pub(super) pruned: usize,
}

/// A citation's collection time, parsed (`None`: not a time).
fn cited_at(f: &FirstSeenRef) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&f.at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn load_subset(
    members: &BTreeMap<String, Vec<u8>>,
    basis: &VulnBasis,
) -> Result<Arc<SnapshotSubset>, String> {
    let path = subset_path(&basis.snapshot);
    let bytes = members.get(&path).ok_or_else(|| {
        format!(
            "results were matched against vulnerability snapshot {}, whose subset {path} the bundle does not include",
            basis.snapshot
        )
    })?;
    let s: SnapshotSubset = serde_json::from_slice(bytes)
        .map_err(|e| format!("{path} is not a snapshot subset: {e}"))?;
    if s.snapshot != basis.snapshot {
        return Err(format!(
            "{path} holds snapshot {}, not {}",
            s.snapshot, basis.snapshot
        ));
    }
    if s.format().as_str() != basis.format {
        return Err(format!(
            "{path} is a {} snapshot; the results cite a {} one",
            s.format().as_str(),
            basis.format
        ));
    }
    let problems = s.consistency();
    if let Some(p) = problems.first() {
        return Err(format!("{path} {p}"));
    }
    Ok(Arc::new(s))
}

/// A digest of what the `vulns` data of a statement depends on besides the
/// policy set: the basis, the statement's inventory and the age of each
/// first sighting at its collection time (`age_days`; a policy that reads
/// no `collected_at` still depends on it through them).
pub(super) fn vulns_key(recorded: &RecordedResults, st: &Statement) -> Option<Digest> {
    let b = recorded.vulns.as_ref()?;
    let mut bytes = serde_json::to_vec(b).unwrap_or_default();
    if let Some(d) = packages_digest(st) {
        bytes.extend_from_slice(&d.0);
    }
    let at = st.predicate.collected_at;
    for f in &b.first_seen {
        let seen = DateTime::parse_from_rfc3339(&f.at)
            .map(|t| t.with_timezone(&Utc).min(at))
            .unwrap_or(at);
        bytes.extend_from_slice(&(at - seen).num_days().to_le_bytes());
    }
    Some(sha256_digest(&bytes))
}

/// The (CVE, source package) pairs of a rebuilt `vulns` entry (before CVE
/// waivers, which evaluation applies).
pub(super) type OpenPairs = BTreeSet<(String, String)>;

/// The open pairs of `data` (the `vulns` data; none when unsupported).
pub(super) fn open_pairs(data: Option<&serde_json::Value>) -> OpenPairs {
    let text = |f: &serde_json::Value, k: &str| {
        f.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    data.and_then(|d| d.get("open"))
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| (text(f, "cve"), text(f, "source")))
        .collect()
}

/// The recorded first-seen list names exactly the open findings of the
/// evaluation (one per pair): compare it with the pairs re-matched, naming
/// every CVE recorded but not re-matched and re-matched but not recorded.
pub(super) fn compare_open(basis: &VulnBasis, open: &OpenPairs) -> Result<(), String> {
    let recorded: OpenPairs = basis
        .first_seen
        .iter()
        .map(|f| (f.cve.clone(), f.source_package.clone()))
        .collect();
    if recorded == *open {
        return Ok(());
    }
    let mut parts = Vec::new();
    let name = |set: Vec<&(String, String)>| {
        let n = set.len();
        let mut shown: Vec<String> = set
            .into_iter()
            .take(8)
            .map(|(c, s)| format!("{c} in {s}"))
            .collect();
        if n > 8 {
            shown.push(format!("{} more", n - 8));
        }
        shown.join(", ")
    };
    let lost: Vec<&(String, String)> = recorded.difference(open).collect();
    if !lost.is_empty() {
        parts.push(format!("recorded open but not re-matched: {}", name(lost)));
    }
    let new: Vec<&(String, String)> = open.difference(&recorded).collect();
    if !new.is_empty() {
        parts.push(format!("re-matched but not recorded open: {}", name(new)));
    }
    Err(format!(
        "the offline re-match against snapshot {} differs from the recorded one: {}",
        basis.snapshot,
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests;
