//! The `verify` and `verify_pinned` orchestration over all checks.

use super::alerts::check_alerts;
use super::attestations::check_attestations_with;
use super::chain::{
    check_blob_names, check_chains, check_envelope, host_of, key_owners, Link, Progress,
};
use super::manifest::{check_agents, check_manifest, digests_of, Agents, Digests};
use super::model::{BlobSource, Index, FORMAT_V1, INDEX_PATH, INDEX_PIECES, MANIFEST_PATH};
use super::report::{parse_member, Report};
use super::results::ResultsChecker;
use super::trust::TrustedKey;
use crate::digest::sha256_digest;
use crate::dsse::Envelope;
use crate::evidence::Statement;
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap};

/// The keys an auditor pins for [`verify_pinned`].
#[derive(Debug, Clone, Default)]
pub struct Pins {
    /// The collector key that must have signed the manifest (none: unpinned,
    /// which [`verify_pinned`] reports).
    pub collector: Option<TrustedKey>,
    /// Attester keys whose attestations count (empty: every attester the
    /// collector vouched for).
    pub attesters: Vec<TrustedKey>,
}

/// [`verify`], then hold the signer to the pinned keys: a manifest signed by
/// another collector key, or an attestation signed by an attester key not
/// pinned, is a failure naming both key ids; without a pinned collector key
/// the report says so (`pinned` stays false) with a warning.
pub fn verify_pinned(
    members: &BTreeMap<String, Vec<u8>>,
    pins: &Pins,
    progress: Progress<'_>,
) -> Report {
    let r = verify(members, progress);
    pin(r, members, pins)
}

/// Hold a finished report to `pins` (attestations read from `members`).
pub(super) fn pin(mut r: Report, members: &BTreeMap<String, Vec<u8>>, pins: &Pins) -> Report {
    let signer = r.collector_key_id.clone();
    match (&pins.collector, signer) {
        (_, None) => {}
        (Some(t), Some(k)) if t.matches(&k) => r.pinned = true,
        (Some(t), Some(k)) => r.fail(
            "trust",
            MANIFEST_PATH,
            format!(
                "the manifest is signed by collector key {k}, not by the trusted key {}",
                t.key_id
            ),
        ),
        (None, Some(k)) => r.warn(
            "trust",
            MANIFEST_PATH,
            format!(
                "the signer is not pinned: the manifest is signed by collector key {k}; compare it with the key the collector's operator gave you (`evident-collector key show`) and pass --trust"
            ),
        ),
    }
    if !pins.attesters.is_empty() {
        for a in &mut r.attesters {
            a.pinned = pins.attesters.iter().any(|t| t.matches(&a.key_id));
        }
        let revoked: Vec<(String, String)> = r
            .attesters
            .iter()
            .filter(|a| a.pinned)
            .filter_map(|a| Some((a.key_id.clone(), a.revoked_at?.to_rfc3339())))
            .collect();
        for (key_id, at) in revoked {
            r.warn(
                "trust",
                format!("attesters/{key_id}.json"),
                format!(
                    "the trusted attester key {key_id} was revoked by the collector at {at}: its attestations signed from then on do not count"
                ),
            );
        }
        for (path, bytes) in members.range("attestations/".to_string()..) {
            if !path.starts_with("attestations/") {
                break;
            }
            let Ok(env) = Envelope::from_json(bytes) else {
                continue;
            };
            let ids: Vec<&str> = env.key_ids().collect();
            if !ids
                .iter()
                .any(|k| pins.attesters.iter().any(|t| t.matches(k)))
            {
                r.fail(
                    "trust",
                    path,
                    format!(
                        "attestation signed by attester key {}, which is not among the trusted attester keys ({})",
                        ids.join(", "),
                        pins.attesters
                            .iter()
                            .map(|t| t.key_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
    let ok = r.failures().next().is_none();
    r.ok = ok;
    r
}

/// The index pieces of a v2 bundle in path order, concatenated; a piece
/// that does not parse fails.
fn index_pieces(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) -> Index {
    let mut out = Index::default();
    for (path, _) in members.range(INDEX_PIECES.to_string()..) {
        if !path.starts_with(INDEX_PIECES) {
            break;
        }
        if let Some(piece) = parse_member::<Index>(members, path, r) {
            out.statements.extend(piece.statements);
        }
    }
    out
}

/// Verify a whole bundle held in memory. `members` maps path → bytes.
pub fn verify(members: &BTreeMap<String, Vec<u8>>, progress: Progress<'_>) -> Report {
    let digests = digests_of(members);
    let mut v = Verifier::start(members, &digests, members);
    let total = v.statements();
    let mut done = 0u64;
    for (path, bytes) in members {
        if v.wants(path) {
            if done.is_multiple_of(256) {
                progress(done, total);
            }
            v.envelope(path, bytes);
            done += 1;
        }
    }
    progress(total, total);
    v.finish()
}

/// Verification of a bundle whose envelopes arrive one at a time, so that
/// a reader never holds more than one envelope: [`Verifier::start`] with
/// every member's digest, the members other than envelopes and blobs
/// (manifest, collector key, index, agents, attesters, attestations,
/// policies, results) and where to read blobs; then
/// [`Verifier::envelope`] for each member [`Verifier::wants`], in any
/// order; then [`Verifier::finish`] or [`Verifier::finish_pinned`].
/// Of each statement only what the chain check needs is kept.
pub struct Verifier<'a> {
    members: &'a BTreeMap<String, Vec<u8>>,
    digests: &'a Digests,
    blobs: &'a dyn BlobSource,
    r: Report,
    /// Findings of re-evaluation, reported after the chain's.
    later: Report,
    state: Option<State<'a>>,
}

/// The checks of one envelope that need only shared access to a
/// [`Verifier`] (see [`Verifier::checker`]); `Sync`, so several threads can
/// check envelopes at once.
pub struct EnvelopeChecker<'v> {
    digests: &'v Digests,
    blobs: &'v dyn BlobSource,
    agents: &'v Agents,
    key_owner: &'v HashMap<String, String>,
    index: &'v Index,
    by_path: &'v HashMap<String, Vec<usize>>,
}

/// One envelope checked by [`EnvelopeChecker::check`], for
/// [`Verifier::apply`]: per index position filed under its path, the
/// findings and the statement when it verified.
pub struct CheckedEnvelope {
    positions: Vec<(usize, Report, Option<Statement>)>,
}

impl EnvelopeChecker<'_> {
    /// Check the envelope member at `path` (`bytes`): digest, strict
    /// signature by its agent's key, statement, blobs named. Nothing is
    /// recorded until [`Verifier::apply`].
    pub fn check(&self, path: &str, bytes: &[u8]) -> CheckedEnvelope {
        let Some(positions) = self.by_path.get(path) else {
            return CheckedEnvelope {
                positions: Vec::new(),
            };
        };
        let actual = match self.digests.get(path) {
            Some((d, size)) if *size == bytes.len() as u64 => *d,
            _ => sha256_digest(bytes),
        };
        let positions = positions
            .iter()
            .filter_map(|&i| {
                let e = self.index.statements.get(i)?;
                let subject = format!("{} sequence {}", host_of(self.agents, &e.agent), e.sequence);
                let mut r = Report::default();
                let st = check_envelope(
                    bytes,
                    actual,
                    e,
                    self.agents,
                    self.key_owner,
                    &subject,
                    self.blobs,
                    &mut r,
                );
                Some((i, r, st))
            })
            .collect();
        CheckedEnvelope { positions }
    }
}

/// What a verifier holds once the manifest has verified.
struct State<'a> {
    today: NaiveDate,
    agents: Agents,
    key_owner: HashMap<String, String>,
    index: Index,
    /// Member path → positions in the index filed under it.
    by_path: HashMap<String, Vec<usize>>,
    /// Per index position: checked (with its chain link when it verified).
    links: Vec<Option<Option<Link>>>,
    results: Option<ResultsChecker<'a>>,
}

impl<'a> Verifier<'a> {
    /// Check the manifest against `digests` (every member of the bundle),
    /// the agents, the blob names and the policy files; `members` holds the
    /// bytes of every member except (possibly) envelopes and blobs.
    pub fn start(
        members: &'a BTreeMap<String, Vec<u8>>,
        digests: &'a Digests,
        blobs: &'a dyn BlobSource,
    ) -> Verifier<'a> {
        let mut r = Report::default();
        let mut later = Report::default();
        let state = check_manifest(members, digests, &mut r).map(|manifest| {
            r.collector_key_id = Some(manifest.collector_key_id.clone());
            r.created_at = Some(manifest.created_at);
            r.scope = Some(manifest.scope.clone());
            let agents = check_agents(members, &mut r);
            let index = if manifest.format == FORMAT_V1 {
                parse_member(members, INDEX_PATH, &mut r).unwrap_or_default()
            } else {
                index_pieces(members, &mut r)
            };
            check_blob_names(digests, &mut r);
            let mut by_path: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, e) in index.statements.iter().enumerate() {
                by_path.entry(e.path.clone()).or_default().push(i);
            }
            State {
                today: manifest.created_at.date_naive(),
                key_owner: key_owners(&agents),
                agents,
                links: vec![None; index.statements.len()],
                index,
                by_path,
                results: ResultsChecker::new(members, &mut later),
            }
        });
        Verifier {
            members,
            digests,
            blobs,
            r,
            later,
            state,
        }
    }

    /// How many statements the index lists.
    pub fn statements(&self) -> u64 {
        self.state
            .as_ref()
            .map_or(0, |s| s.index.statements.len() as u64)
    }

    /// Whether the member at `path` is an envelope the index files.
    pub fn wants(&self, path: &str) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.by_path.contains_key(path))
    }

    /// Check the envelope member at `path`: digest, signature, statement,
    /// its blobs, and re-evaluation against its recorded results.
    pub fn envelope(&mut self, path: &str, bytes: &[u8]) {
        let checked = self.checker().map(|c| c.check(path, bytes));
        if let Some(p) = checked {
            self.apply(p);
        }
    }

    /// The part of [`Verifier::envelope`] that reads nothing it changes
    /// (digest, strict signature, statement, blobs named): a reader may run
    /// [`EnvelopeChecker::check`] on several threads at once and hand the
    /// results to [`Verifier::apply`] in the order the envelopes came, which
    /// gives the report [`Verifier::envelope`] gives. `None` when the
    /// manifest did not verify (then nothing is wanted).
    pub fn checker(&self) -> Option<EnvelopeChecker<'_>> {
        let s = self.state.as_ref()?;
        Some(EnvelopeChecker {
            digests: self.digests,
            blobs: self.blobs,
            agents: &s.agents,
            key_owner: &s.key_owner,
            index: &s.index,
            by_path: &s.by_path,
        })
    }

    /// Record an envelope checked by [`EnvelopeChecker::check`]: its
    /// findings and chain link, then re-evaluation against its recorded
    /// results.
    pub fn apply(&mut self, checked: CheckedEnvelope) {
        let Verifier {
            members,
            blobs,
            r,
            later,
            state,
            ..
        } = self;
        let Some(s) = state.as_mut() else {
            return;
        };
        for (i, found, st) in checked.positions {
            let (Some(e), Some(slot)) = (s.index.statements.get(i), s.links.get_mut(i)) else {
                continue;
            };
            if slot.is_some() {
                continue;
            }
            r.findings.extend(found.findings);
            r.checked.envelopes += found.checked.envelopes;
            *slot = Some(st.as_ref().map(Link::of));
            if let (Some(st), Some(rc)) = (st, s.results.as_mut()) {
                let host = host_of(&s.agents, &e.agent);
                rc.check(members, *blobs, e, &host, &st, later);
            }
        }
    }

    /// The report: envelopes the index lists but no call delivered are
    /// missing; then chains, re-evaluation and attestations.
    pub fn finish(self) -> Report {
        let Verifier {
            members,
            blobs,
            mut r,
            later,
            state,
            ..
        } = self;
        let Some(s) = state else {
            r.ok = false;
            return r;
        };
        for (e, slot) in s.index.statements.iter().zip(&s.links) {
            if slot.is_none() {
                let subject = format!("{} sequence {}", host_of(&s.agents, &e.agent), e.sequence);
                r.fail(
                    "envelope",
                    subject,
                    format!("envelope {} ({}) is missing", e.path, e.envelope),
                );
            }
        }
        let links: Vec<Option<Link>> = s.links.iter().map(|l| l.flatten()).collect();
        let pruned = super::pruned::read_pruned(members, &mut r);
        check_chains(&s.index, &links, &s.agents, &pruned, &mut r);
        let enrolled = s.agents.keys().map(String::as_str).collect();
        r.checked.alerts = check_alerts(members, &s.index, &pruned, &enrolled, &mut r);
        conclude(r, later, s.results, members, blobs, &pruned, s.today)
    }

    /// [`Verifier::finish`], then hold the signer to `pins` (see [`verify_pinned`]).
    pub fn finish_pinned(self, pins: &Pins) -> Report {
        let members = self.members;
        pin(self.finish(), members, pins)
    }
}

/// The end of both verifiers (in memory and ordered): the re-evaluation's
/// findings and counts (CVE re-matches and first-seen citations included),
/// the attestations, and the verdict.
pub(super) fn conclude(
    mut r: Report,
    mut later: Report,
    results: Option<ResultsChecker<'_>>,
    members: &BTreeMap<String, Vec<u8>>,
    blobs: &dyn BlobSource,
    pruned: &super::pruned::Pruned,
    today: NaiveDate,
) -> Report {
    if let Some(rc) = results {
        r.checked.vulns_confirmed = rc.vulns.confirmed;
        let t = rc.vulns.finish(blobs, pruned, &mut later);
        r.checked.first_seen_confirmed = t.confirmed;
        r.checked.first_seen_outside = t.outside;
        r.checked.first_seen_pruned = t.pruned;
    }
    r.findings.extend(later.findings);
    r.checked.policies = later.checked.policies;
    r.checked.results_confirmed = later.checked.results_confirmed;
    r.checked.results_evaluated = later.checked.results_evaluated;
    r.checked.results_day_only = later.checked.results_day_only;
    let atts = check_attestations_with(members, blobs, today, &mut r);
    for a in atts.iter().filter(|a| !a.current) {
        r.warn(
            "attestation",
            &a.id,
            format!(
                "attestation for {} by {} expired on {}",
                a.control, a.attester, a.expires
            ),
        );
    }
    let ok = r.failures().next().is_none();
    r.ok = ok;
    r
}
