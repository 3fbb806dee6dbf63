//! Re-evaluation of recorded results with the policy files they cite.

use super::model::{
    attestation_path, results_path, BlobSource, IndexEntry, PolicyFileEntry, RecordedResults,
    POLICY_INDEX_PATH,
};
use super::parallel::{Parallel, Serial};
use super::report::{parse_member, Report};
use super::vulns::{compare_open, open_pairs, vulns_key, OpenPairs, VulnChecker};
use crate::catalog::Catalog;
use crate::digest::{sha256_digest, Digest};
use crate::dsse::Envelope;
use crate::evidence::{Evidence, Statement};
use crate::policy::{
    evaluate_with, AttestationInput, PolicyRef, PolicySet, PolicySource, RuleResult, SourceRef,
};
use crate::vuln::basis::{inventory_of, with_vulns, VULNS};
use crate::vuln::subset::SnapshotSubset;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

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

/// Most entries each cache of [`ResultsChecker`] holds before it starts
/// again (entries are parsed results, tens of KB each). This crate's own
/// tests use tiny caches, so that every one of them verifies across
/// restarts (and batches across them give the same report).
const CACHE_ENTRIES: usize = if cfg!(test) { 3 } else { 128 };

/// A re-evaluation: the results, and for a vulnerability result the
/// (CVE, source package) pairs re-matched; or the kind and message of why
/// it could not run.
type Recomputed = Result<(RecordedResults, Option<OpenPairs>), (&'static str, String)>;

/// The key of a re-evaluation: (policy set, evaluation key, attestations
/// and vulnerability basis).
type EvalKey = (Digest, Digest, Digest);

/// Re-evaluates statements against the results recorded for them, a batch
/// at a time, caching what statements share: parsed results by digest,
/// policy sets by the files they cite (results recorded before and after a
/// policy change cite different files, and each is re-evaluated with its
/// own), re-evaluations by (policy set, evaluation key, attestations).
///
/// A batch ([`ResultsChecker::check_batch`]) goes in three steps: the
/// statements in order, each looked up in the caches (what misses becomes
/// a job); the jobs' evaluations, which are pure and may run on several
/// threads ([`Parallel`]); then the statements in order again, compared
/// with their re-evaluations. The caches see the same lookups and inserts,
/// in the same order, as if each statement were checked alone: the report
/// (findings, their order, the counts) does not depend on the batches.
pub(super) struct ResultsChecker<'a> {
    files: HashMap<Digest, &'a [u8]>,
    recorded_cache: HashMap<Digest, Option<Arc<RecordedResults>>>,
    sets: HashMap<Digest, Result<Arc<LoadedSet>, String>>,
    reported_sets: BTreeSet<Digest>,
    eval_cache: HashMap<EvalKey, Arc<Recomputed>>,
    /// Re-evaluations by (policy set, day-free key): an unchanged host's
    /// next day takes its previous day's results when the rules reading the
    /// day give the same results (see [`crate::policy::EvalKeys::day_free_key`]).
    day_free_cache: HashMap<(Digest, Digest), Arc<Recomputed>>,
    /// Re-matching of vulnerability results and first-seen citations.
    pub(super) vulns: VulnChecker,
}

/// One statement to check: its index entry, host name and statement.
pub(super) struct ResultItem<'s> {
    pub(super) e: &'s IndexEntry,
    pub(super) host: &'s str,
    pub(super) st: &'s Statement,
}

/// A re-evaluation no cache held: what it evaluates.
struct Job<'s> {
    st: &'s Statement,
    set_key: Digest,
    loaded: Arc<LoadedSet>,
    attestations: Vec<AttestationInput>,
    subset: Option<Arc<SnapshotSubset>>,
    recorded: Arc<RecordedResults>,
}

impl Job<'_> {
    /// Neither attestations nor a vulnerability basis: the day-free cache
    /// applies.
    fn plain(&self) -> bool {
        self.attestations.is_empty() && self.subset.is_none()
    }
}

/// Where a statement's re-evaluation comes from.
enum Source {
    /// A cache held it.
    Cached(Arc<Recomputed>),
    /// The job of that index.
    Job(usize),
}

/// A statement of the batch after the first step.
struct Looked {
    /// Findings of the lookup (missing results, policies, attestations).
    found: Report,
    /// The recorded results and where the re-evaluation comes from; `None`
    /// when the lookup failed (and said why in `found`).
    compare: Option<(Arc<RecordedResults>, Source)>,
}

/// How a job is resolved once the day-free keys are known.
enum Resolution {
    /// The day-free cache held an evaluation of the same day-free key.
    Cached(Arc<Recomputed>),
    /// An earlier job of the batch with the same day-free key.
    Follows(usize),
    /// Evaluated in full.
    Evaluate,
}

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
        self.check_batch(members, blobs, &[ResultItem { e, host, st }], r, &Serial);
    }

    /// Re-evaluate `items` and compare each with its recorded results, the
    /// evaluations on `par`; findings in the order of `items`.
    pub(super) fn check_batch(
        &mut self,
        members: &BTreeMap<String, Vec<u8>>,
        blobs: &dyn BlobSource,
        items: &[ResultItem<'_>],
        r: &mut Report,
        par: &impl Parallel,
    ) {
        // 1. Lookups, in order; what no cache holds becomes a job. `pending`
        // stands for the cache entries the jobs will fill: counted as the
        // cache's, cleared with it.
        let mut jobs: Vec<Job> = Vec::new();
        let mut pending: HashMap<EvalKey, usize> = HashMap::new();
        let looked: Vec<Looked> = items
            .iter()
            .map(|item| {
                let mut found = Report::default();
                let compare = self.look_up(members, item, &mut found).map(|(key, job)| {
                    let recorded = job.recorded.clone();
                    if let Some(hit) = self.eval_cache.get(&key) {
                        return (recorded, Source::Cached(hit.clone()));
                    }
                    if let Some(j) = pending.get(&key) {
                        return (recorded, Source::Job(*j));
                    }
                    if self.eval_cache.len() + pending.len() >= CACHE_ENTRIES {
                        self.eval_cache.clear();
                        pending.clear();
                    }
                    let j = jobs.len();
                    jobs.push(job);
                    pending.insert(key, j);
                    (recorded, Source::Job(j))
                });
                Looked { found, compare }
            })
            .collect();
        // 2. The jobs: day-free keys (pure, parallel), which of them an
        // earlier evaluation answers (in order), the rest evaluated in full
        // (pure, parallel).
        let day_keys: Vec<Option<Digest>> = par.map(jobs.len(), |j| {
            jobs.get(j).and_then(|job| day_free_key(job, blobs))
        });
        let mut day_pending: HashMap<(Digest, Digest), usize> = HashMap::new();
        let mut resolution = Vec::with_capacity(jobs.len());
        for (j, (job, day_key)) in jobs.iter().zip(&day_keys).enumerate() {
            if self.day_free_cache.len() + day_pending.len() >= CACHE_ENTRIES {
                self.day_free_cache.clear();
                day_pending.clear();
            }
            let Some(k) = day_key.map(|k| (job.set_key, k)) else {
                r.checked.results_evaluated += 1;
                resolution.push(Resolution::Evaluate);
                continue;
            };
            if let Some(hit) = self.day_free_cache.get(&k) {
                r.checked.results_day_only += 1;
                resolution.push(Resolution::Cached(hit.clone()));
            } else if let Some(leader) = day_pending.get(&k) {
                r.checked.results_day_only += 1;
                resolution.push(Resolution::Follows(*leader));
            } else {
                r.checked.results_evaluated += 1;
                day_pending.insert(k, j);
                resolution.push(Resolution::Evaluate);
            }
        }
        let evaluate: Vec<usize> = resolution
            .iter()
            .enumerate()
            .filter(|(_, res)| matches!(res, Resolution::Evaluate))
            .map(|(j, _)| j)
            .collect();
        let mut evaluated = par
            .map(evaluate.len(), |n| {
                evaluate
                    .get(n)
                    .and_then(|j| jobs.get(*j))
                    .map(|job| evaluate_job(job, blobs))
            })
            .into_iter();
        let mut results: Vec<Arc<Recomputed>> = Vec::with_capacity(jobs.len());
        for res in resolution {
            let value = match res {
                Resolution::Cached(v) => v,
                Resolution::Follows(leader) => match results.get(leader) {
                    Some(v) => v.clone(),
                    None => Arc::new(Err(("results", "re-evaluation was lost".into()))),
                },
                Resolution::Evaluate => Arc::new(
                    evaluated
                        .next()
                        .flatten()
                        .unwrap_or_else(|| Err(("results", "re-evaluation was lost".into()))),
                ),
            };
            results.push(value);
        }
        // The caches as checking each statement alone leaves them.
        for (k, j) in day_pending {
            if let Some(v) = results.get(j) {
                self.day_free_cache.insert(k, v.clone());
            }
        }
        for (k, j) in pending {
            if let Some(v) = results.get(j) {
                self.eval_cache.insert(k, v.clone());
            }
        }
        // 3. Comparisons, in order.
        for (item, l) in items.iter().zip(looked) {
            r.findings.extend(l.found.findings);
            let Some((recorded, source)) = l.compare else {
                continue;
            };
            let recomputed = match &source {
                Source::Cached(v) => v,
                Source::Job(j) => match results.get(*j) {
                    Some(v) => v,
                    None => continue,
                },
            };
            self.compare(item, &recorded, recomputed, r);
        }
    }

    /// The first step for one statement: its recorded results, cited
    /// files, policy set and attestations, and its evaluation key with the
    /// job that would evaluate it. `None` when something is missing (said
    /// in `r`).
    fn look_up<'s>(
        &mut self,
        members: &BTreeMap<String, Vec<u8>>,
        item: &ResultItem<'s>,
        r: &mut Report,
    ) -> Option<(EvalKey, Job<'s>)> {
        let ResultItem { e, host, st } = *item;
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
                .map(Arc::new)
        });
        let Some(recorded) = recorded.clone() else {
            r.fail(
                "results",
                &subject,
                format!(
                    "recorded results {} are missing, altered or malformed",
                    e.results
                ),
            );
            return None;
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
            return None;
        }
        self.vulns.note(e, host, st, &recorded);
        let subset = match &recorded.vulns {
            None => None,
            Some(basis) => match self.vulns.subset(members, basis) {
                Ok(subset) => Some(subset),
                Err(msg) => {
                    let at = format!("{host} sequence {}", e.sequence);
                    self.vulns.report_subset(basis, &e.agent, &at, &msg, r);
                    return None;
                }
            },
        };
        let set_key = citation_key(&recorded);
        let loaded = self.sets.entry(set_key).or_insert_with(|| {
            load_recorded_set(files, &recorded.policies, recorded.waivers.as_ref()).map(|set| {
                Arc::new(LoadedSet {
                    keys: crate::policy::EvalKeys::new(&set),
                    set,
                })
            })
        });
        let loaded = match loaded {
            Ok(l) => l.clone(),
            Err(msg) => {
                // Once per combination of files, naming the first statement.
                if self.reported_sets.insert(set_key) {
                    r.fail("policy", &subject, msg.clone());
                }
                return None;
            }
        };
        // Hybrid controls cite the attestation that completed them; re-evaluate
        // with exactly those (their signatures are checked by check_attestations).
        let attestations = match cited_attestations(members, &recorded) {
            Ok(a) => a,
            Err(msg) => {
                r.fail("attestation", &subject, msg);
                return None;
            }
        };
        let att_key = sha256_digest(
            attestations
                .iter()
                .flat_map(|a| a.digest.0)
                .chain(vulns_key(&recorded, st).map(|d| d.0).into_iter().flatten())
                .collect::<Vec<u8>>()
                .as_slice(),
        );
        // Keyed with the attestations: whether one counts depends on the
        // collection day, so the key then carries the day (an unchanged
        // host's later statement must not take an evaluation made while
        // the attestation was current).
        let key = (set_key, loaded.keys.key_with(st, &attestations), att_key);
        let job = Job {
            st,
            set_key,
            loaded,
            attestations,
            subset,
            recorded,
        };
        Some((key, job))
    }

    /// Compare `item`'s recorded results with its re-evaluation.
    fn compare(
        &mut self,
        item: &ResultItem<'_>,
        recorded: &RecordedResults,
        recomputed: &Recomputed,
        r: &mut Report,
    ) {
        let e = item.e;
        let subject = format!("agent {} sequence {}", e.agent, e.sequence);
        let at = format!("{} sequence {}", item.host, e.sequence);
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

/// The evidence of `st` from its blobs (only a statement that no earlier
/// one shares its key reads them); with `set`, each probe's blob parsed
/// only as far as the set's expressions read it (the same results, see
/// `PolicySet::fields_converted`).
fn evidence_of(
    st: &Statement,
    blobs: &dyn BlobSource,
    set: Option<&PolicySet>,
) -> Result<Evidence, (&'static str, String)> {
    let fetched: HashMap<Digest, Cow<'_, [u8]>> = st
        .predicate
        .probes
        .iter()
        .filter_map(|p| p.digest)
        .filter_map(|d| blobs.blob(&d).map(|b| (d, b)))
        .collect();
    Evidence::from_statement_projected(
        st,
        |d| fetched.get(d).map(|b| b.as_ref()),
        |probe| set.and_then(|s| s.fields_converted(&crate::policy::probe_variable(probe))),
    )
    .map_err(|err| ("blob", err.to_string()))
}

/// The day-free key of a job without attestations or a vulnerability
/// basis: the rules reading the day evaluated alone (on only the probes
/// they read). Equal day-free keys, equal results (the collector's own
/// ingest relies on the same), so a job whose day-free key was evaluated
/// takes that evaluation. `None` when the set cannot key the day apart or
/// the day's probes do not read (the full evaluation then says why).
fn day_free_key(job: &Job<'_>, blobs: &dyn BlobSource) -> Option<Digest> {
    if !job.plain() {
        return None;
    }
    let st = job.st;
    let keys = &job.loaded.keys;
    let day_st = keys.day_statement(st)?;
    let ev = evidence_of(&day_st, blobs, Some(&job.loaded.set)).ok()?;
    let day = keys.day_results(&job.loaded.set, &ev);
    keys.day_free_key(st, &[], &day)
}

/// Evaluate a job in full (with its vulnerability basis re-matched).
fn evaluate_job(job: &Job<'_>, blobs: &dyn BlobSource) -> Recomputed {
    // A vulnerability basis re-matches the whole package inventory.
    let projected = job.subset.is_none().then_some(&job.loaded.set);
    let mut evidence = evidence_of(job.st, blobs, projected)?;
    let mut open = None;
    if let (Some(basis), Some(subset)) = (&job.recorded.vulns, &job.subset) {
        if let Ok(inv) = inventory_of(&evidence) {
            subset.covers(&inv).map_err(|m| ("vulns", m))?;
        }
        evidence = with_vulns(evidence, &subset.index, basis);
        open = Some(open_pairs(
            evidence.probes.get(VULNS).and_then(|p| p.data.as_ref()),
        ));
    }
    let mut again = RecordedResults::from_evaluation(evaluate_with(
        &job.loaded.set,
        &evidence,
        &job.attestations,
    ));
    again.vulns = job.recorded.vulns.clone();
    Ok((again, open))
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
