//! Re-evaluation of recorded results with the policy files they cite.

use super::model::{
    attestation_path, results_path, BlobSource, IndexEntry, PolicyFileEntry, RecordedResults,
    POLICY_INDEX_PATH,
};
use super::report::{parse_member, Report};
use super::vulns::{compare_open, open_pairs, vulns_key, OpenPairs, VulnChecker};
use crate::catalog::Catalog;
use crate::digest::{sha256_digest, Digest};
use crate::dsse::Envelope;
use crate::evidence::{Evidence, Statement};
use crate::policy::{
    evaluate_with, AttestationInput, PolicyRef, PolicySet, PolicySource, RuleResult, SourceRef,
};
use crate::vuln::basis::{inventory_of, with_vulns, VulnBasis, VULNS};
use crate::vuln::subset::SnapshotSubset;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Check the bundle's policy files (`policies/index.json`): every listed
/// file is present and matches its digest. Returns the files by digest.
pub fn policy_files<'a>(
    members: &'a BTreeMap<String, Vec<u8>>,
    r: &mut Report,
) -> Option<HashMap<Digest, &'a [u8]>> {
    let files: Vec<PolicyFileEntry> = parse_member(members, POLICY_INDEX_PATH, r)?;
    let mut out = HashMap::new();
    for f in &files {
        let Some(bytes) = members.get(&f.path) else {
            r.fail(
                "policy",
                &f.name,
                format!("policy file {} is missing", f.path),
            );
            continue;
        };
        let actual = sha256_digest(bytes);
        if actual != f.sha256 {
            r.fail(
                "policy",
                &f.name,
                format!(
                    "{} does not match its recorded digest {} (found {actual})",
                    f.path, f.sha256
                ),
            );
            continue;
        }
        out.insert(actual, bytes.as_slice());
    }
    r.checked.policies = out.len();
    Some(out)
}

/// Build the policy set a result was recorded with, from the bundle's files:
/// the cited policies in their recorded order under their recorded names,
/// then the cited waivers.
pub fn load_recorded_set(
    files: &HashMap<Digest, &[u8]>,
    policies: &[PolicyRef],
    waivers: Option<&SourceRef>,
) -> Result<PolicySet, String> {
    let mut sources = Vec::with_capacity(policies.len());
    for p in policies {
        let bytes = files.get(&p.sha256).ok_or_else(|| {
            format!(
                "policy `{}` ({}) {} is not in the bundle",
                p.id, p.source, p.sha256
            )
        })?;
        sources.push(PolicySource::new(p.source.clone(), bytes.to_vec()));
    }
    let set = PolicySet::load(&sources, Catalog::annex_a())
        .map_err(|e| format!("policies do not load: {e}"))?;
    match waivers {
        None => Ok(set),
        Some(w) => {
            let bytes = files
                .get(&w.sha256)
                .ok_or_else(|| format!("waivers {} {} are not in the bundle", w.name, w.sha256))?;
            set.with_waivers(&w.name, bytes)
                .map_err(|e| format!("waivers {} do not load: {e}", w.name))
        }
    }
}

/// Which files a recorded result was computed with: its key in the set cache.
fn citation_key(recorded: &RecordedResults) -> Digest {
    #[derive(Serialize)]
    struct Key<'a> {
        policies: Vec<(&'a str, &'a Digest)>,
        waivers: Option<(&'a str, &'a Digest)>,
    }
    let k = Key {
        policies: recorded
            .policies
            .iter()
            .map(|p| (p.source.as_str(), &p.sha256))
            .collect(),
        waivers: recorded
            .waivers
            .as_ref()
            .map(|w| (w.name.as_str(), &w.sha256)),
    };
    sha256_digest(&serde_json::to_vec(&k).unwrap_or_default())
}

/// A policy set loaded from the bundle for one combination of cited files.
struct LoadedSet {
    set: PolicySet,
    keys: crate::policy::EvalKeys,
}

/// Re-evaluates statements one at a time against the results recorded for
/// them, caching what statements share: parsed results by digest, policy
/// sets by the files they cite (results recorded before and after a policy
/// change cite different files, and each is re-evaluated with its own),
/// recomputed results by (policy set, evaluation key, attestations).
/// Most entries each cache of [`ResultsChecker`] holds before it starts
/// again (entries are parsed results, tens of KB each).
const CACHE_ENTRIES: usize = 128;

pub(super) struct ResultsChecker<'a> {
    files: HashMap<Digest, &'a [u8]>,
    recorded_cache: HashMap<Digest, Option<RecordedResults>>,
    sets: HashMap<Digest, Result<LoadedSet, String>>,
    reported_sets: BTreeSet<Digest>,
    eval_cache: HashMap<(Digest, Digest, Digest), Recomputed>,
    /// Re-evaluations by (policy set, day-free key): an unchanged host's
    /// next day takes its previous day's results when the rules reading the
    /// day give the same results (see [`crate::policy::EvalKeys::day_free_key`]).
    day_free_cache: HashMap<(Digest, Digest), Recomputed>,
    /// Re-matching of vulnerability results and first-seen citations.
    pub(super) vulns: VulnChecker,
}

/// A re-evaluation: the results, and for a vulnerability result the
/// (CVE, source package) pairs re-matched; or the kind and message of why
/// it could not run.
type Recomputed = Result<(RecordedResults, Option<OpenPairs>), (&'static str, String)>;

impl<'a> ResultsChecker<'a> {
    /// Check the bundle's policy files; `None` (reported) when the policy
    /// index is missing or malformed, and then no result is re-evaluated.
    pub(super) fn new(
        members: &'a BTreeMap<String, Vec<u8>>,
        r: &mut Report,
    ) -> Option<ResultsChecker<'a>> {
        let files = policy_files(members, r)?;
        Some(ResultsChecker {
            files,
            recorded_cache: HashMap::new(),
            sets: HashMap::new(),
            reported_sets: BTreeSet::new(),
            eval_cache: HashMap::new(),
            day_free_cache: HashMap::new(),
            vulns: VulnChecker::new(members),
        })
    }

    /// Re-evaluate `st` (filed as `e`) and compare with its recorded results.
    pub(super) fn check(
        &mut self,
        members: &BTreeMap<String, Vec<u8>>,
        blobs: &dyn BlobSource,
        e: &IndexEntry,
        host: &str,
        st: &Statement,
        r: &mut Report,
    ) {
        let subject = format!("agent {} sequence {}", e.agent, e.sequence);
        // Bounded: a bundle of millions of statements must not keep every
        // distinct result; a reader going host by host reuses the latest.
        if self.recorded_cache.len() >= CACHE_ENTRIES
            && !self.recorded_cache.contains_key(&e.results)
        {
            self.recorded_cache.clear();
        }
        let recorded = self.recorded_cache.entry(e.results).or_insert_with(|| {
            members
                .get(&results_path(&e.results))
                .filter(|b| sha256_digest(b) == e.results)
                .and_then(|b| serde_json::from_slice(b).ok())
        });
        let Some(recorded) = recorded.as_ref() else {
            r.fail(
                "results",
                &subject,
                format!(
                    "recorded results {} are missing, altered or malformed",
                    e.results
                ),
            );
            return;
        };
        let files = &self.files;
        let mut cited_missing = false;
        for p in &recorded.policies {
            if !files.contains_key(&p.sha256) {
                r.fail(
                    "policy",
                    &subject,
                    format!(
                        "results were recorded with policy `{}` ({}) {}, which the bundle does not include",
                        p.id, p.source, p.sha256
                    ),
                );
                cited_missing = true;
            }
        }
        if let Some(w) = &recorded.waivers {
            if !files.contains_key(&w.sha256) {
                r.fail(
                    "policy",
                    &subject,
                    format!("results were recorded with waivers {} {}, which the bundle does not include", w.name, w.sha256),
                );
                cited_missing = true;
            }
        }
        if cited_missing {
            return;
        }
        self.vulns.note(e, host, st, recorded);
        let vulns = match &recorded.vulns {
            None => None,
            Some(basis) => match self.vulns.subset(members, basis) {
                Ok(subset) => Some((basis, subset)),
                Err(msg) => {
                    let at = format!("{host} sequence {}", e.sequence);
                    self.vulns.report_subset(basis, &e.agent, &at, &msg, r);
                    return;
                }
            },
        };
        let set_key = citation_key(recorded);
        let loaded = self.sets.entry(set_key).or_insert_with(|| {
            load_recorded_set(files, &recorded.policies, recorded.waivers.as_ref()).map(|set| {
                LoadedSet {
                    keys: crate::policy::EvalKeys::new(&set),
                    set,
                }
            })
        });
        let loaded = match loaded {
            Ok(l) => l,
            Err(msg) => {
                // Once per combination of files, naming the first statement.
                if self.reported_sets.insert(set_key) {
                    r.fail("policy", &subject, msg.clone());
                }
                return;
            }
        };
        // Hybrid controls cite the attestation that completed them; re-evaluate
        // with exactly those (their signatures are checked by check_attestations).
        let attestations = match cited_attestations(members, recorded) {
            Ok(a) => a,
            Err(msg) => {
                r.fail("attestation", &subject, msg);
                return;
            }
        };
        let att_key = sha256_digest(
            attestations
                .iter()
                .flat_map(|a| a.digest.0)
                .chain(vulns_key(recorded, st).map(|d| d.0).into_iter().flatten())
                .collect::<Vec<u8>>()
                .as_slice(),
        );
        // Keyed with the attestations: whether one counts depends on the
        // collection day, so the key then carries the day (an unchanged
        // host's later statement must not take an evaluation made while
        // the attestation was current).
        let key = (set_key, loaded.keys.key_with(st, &attestations), att_key);
        if self.eval_cache.len() >= CACHE_ENTRIES && !self.eval_cache.contains_key(&key) {
            self.eval_cache.clear();
        }
        let recomputed = match self.eval_cache.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                if self.day_free_cache.len() >= CACHE_ENTRIES {
                    self.day_free_cache.clear();
                }
                v.insert(recompute(
                    Recompute {
                        set_key,
                        loaded,
                        st,
                        blobs,
                        vulns: vulns.as_ref().map(|(b, s)| (*b, &**s)),
                        attestations: &attestations,
                        recorded,
                    },
                    &mut self.day_free_cache,
                    r,
                ))
            }
        };
        let at = format!("{host} sequence {}", e.sequence);
        match recomputed {
            Err((kind, msg)) if *kind == "vulns" => r.fail(kind, &at, msg.clone()),
            Err((kind, msg)) => r.fail(kind, &subject, msg.clone()),
            Ok((again, open)) => {
                let cves = match (&recorded.vulns, open) {
                    (Some(basis), Some(open)) => Some(compare_open(basis, open)),
                    _ => None,
                };
                let same = again == recorded;
                match cves {
                    Some(Err(msg)) => {
                        let rules = if same {
                            String::new()
                        } else {
                            format!("; {}", describe_difference(recorded, again))
                        };
                        r.fail("vulns", &at, format!("{msg}{rules}"));
                    }
                    Some(Ok(())) if same => {
                        r.checked.results_confirmed += 1;
                        self.vulns.confirmed += 1;
                    }
                    Some(Ok(())) => r.fail(
                        "vulns",
                        &at,
                        format!(
                            "{} (the same CVEs re-match against snapshot {})",
                            describe_difference(recorded, again),
                            recorded
                                .vulns
                                .as_ref()
                                .map(|b| b.snapshot.to_string())
                                .unwrap_or_default()
                        ),
                    ),
                    None if same => r.checked.results_confirmed += 1,
                    None => r.fail("results", &subject, describe_difference(recorded, again)),
                }
            }
        }
    }
}

/// What [`recompute`] re-evaluates.
struct Recompute<'r> {
    set_key: Digest,
    loaded: &'r LoadedSet,
    st: &'r Statement,
    blobs: &'r dyn BlobSource,
    vulns: Option<(&'r VulnBasis, &'r SnapshotSubset)>,
    attestations: &'r [AttestationInput],
    recorded: &'r RecordedResults,
}

/// The evidence of `st` from its blobs (only a statement that no earlier
/// one shares its key reads them).
fn evidence_of(st: &Statement, blobs: &dyn BlobSource) -> Result<Evidence, (&'static str, String)> {
    let fetched: HashMap<Digest, Cow<'_, [u8]>> = st
        .predicate
        .probes
        .iter()
        .filter_map(|p| p.digest)
        .filter_map(|d| blobs.blob(&d).map(|b| (d, b)))
        .collect();
    Evidence::from_statement(st, |d| fetched.get(d).map(|b| b.as_ref()))
        .map_err(|err| ("blob", err.to_string()))
}

/// Re-evaluate a statement whose key missed. Without attestations or a
/// vulnerability basis, first the rules reading the day alone (on only the
/// probes they read): when their results give a day-free key already
/// evaluated, that evaluation is taken (equal day-free keys, equal results:
/// the collector's own ingest relies on the same). Otherwise in full, kept
/// under its day-free key too. Counted in the report.
fn recompute(
    c: Recompute<'_>,
    day_free: &mut HashMap<(Digest, Digest), Recomputed>,
    r: &mut Report,
) -> Recomputed {
    let keys = &c.loaded.keys;
    let plain = c.attestations.is_empty() && c.vulns.is_none();
    let mut day_free_key = None;
    if plain {
        if let Some(day_st) = keys.day_statement(c.st) {
            // A blob error surfaces in the full evaluation below.
            if let Ok(ev) = evidence_of(&day_st, c.blobs) {
                let day = keys.day_results(&c.loaded.set, &ev);
                day_free_key = keys.day_free_key(c.st, &[], &day);
                if let Some(hit) = day_free_key.and_then(|k| day_free.get(&(c.set_key, k))) {
                    r.checked.results_day_only += 1;
                    return hit.clone();
                }
            }
        }
    }
    r.checked.results_evaluated += 1;
    let again = (|| {
        let mut evidence = evidence_of(c.st, c.blobs)?;
        let mut open = None;
        if let Some((basis, subset)) = c.vulns {
            if let Ok(inv) = inventory_of(&evidence) {
                subset.covers(&inv).map_err(|m| ("vulns", m))?;
            }
            evidence = with_vulns(evidence, &subset.index, basis);
            open = Some(open_pairs(
                evidence.probes.get(VULNS).and_then(|p| p.data.as_ref()),
            ));
        }
        let mut again = RecordedResults::from_evaluation(evaluate_with(
            &c.loaded.set,
            &evidence,
            c.attestations,
        ));
        again.vulns = c.recorded.vulns.clone();
        Ok((again, open))
    })();
    if plain {
        if let Ok((results, _)) = &again {
            let key = day_free_key.or_else(|| keys.day_free_key(c.st, &[], &results.rules));
            if let Some(k) = key {
                day_free.insert((c.set_key, k), again.clone());
            }
        }
    }
    again
}

/// The attestations a recorded result cites (one per hybrid control it
/// counted), read from the bundle.
fn cited_attestations(
    members: &BTreeMap<String, Vec<u8>>,
    recorded: &RecordedResults,
) -> Result<Vec<AttestationInput>, String> {
    let mut digests: Vec<Digest> = recorded
        .controls
        .iter()
        .filter_map(|c| c.attestation)
        .collect();
    digests.sort();
    digests.dedup();
    digests
        .into_iter()
        .map(|d| {
            let bytes = members.get(&attestation_path(&d)).ok_or_else(|| {
                format!("results cite attestation {d}, which the bundle does not include")
            })?;
            let att = Envelope::from_json(bytes)
                .map_err(|e| e.to_string())
                .and_then(|env| {
                    serde_json::from_slice::<crate::attestation::Attestation>(&env.payload)
                        .map_err(|e| e.to_string())
                })
                .map_err(|e| format!("attestation {d} cited by results is unreadable: {e}"))?;
            Ok(AttestationInput::new(d, &att))
        })
        .collect()
}

fn describe_difference(recorded: &RecordedResults, again: &RecordedResults) -> String {
    if recorded.policies != again.policies {
        let cite = |v: &[PolicyRef]| {
            v.iter()
                .map(|p| format!("{} {}", p.source, p.sha256))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return format!(
            "re-evaluation used different policies: recorded [{}], bundle [{}]",
            cite(&recorded.policies),
            cite(&again.policies)
        );
    }
    let rec: BTreeMap<&str, &RuleResult> =
        recorded.rules.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut diffs = Vec::new();
    for a in &again.rules {
        match rec.get(a.id.as_str()) {
            None => diffs.push(format!("rule {} not recorded", a.id)),
            Some(x) if *x != a => diffs.push(format!(
                "rule {}: recorded {}, re-evaluated {}",
                a.id,
                x.status.as_str(),
                a.status.as_str()
            )),
            Some(_) => {}
        }
    }
    if diffs.is_empty() {
        diffs.push("control roll-up or summary differs".into());
    }
    format!(
        "recorded results differ from re-evaluation: {}",
        diffs.join("; ")
    )
}
