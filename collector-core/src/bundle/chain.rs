//! Checks of envelopes, blobs and each host's sequence and hash chain.

use super::manifest::{Agents, Digests};
use super::model::{BlobSource, Index, IndexEntry};
use super::pruned::{Bridge, Pruned, PrunedTally};
use super::report::Report;
use crate::digest::Digest;
use crate::dsse::Envelope;
use crate::evidence::{Content, EvidenceError, Parsed, SequenceRange, Statement, PAYLOAD_TYPE};
use std::collections::{BTreeMap, HashMap};

/// Progress callback: (statements done, statements total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

pub(super) fn check_blob_names(digests: &Digests, r: &mut Report) {
    for (path, (actual, _)) in digests.range("blobs/".to_string()..) {
        let Some(name) = path.strip_prefix("blobs/") else {
            break;
        };
        if actual.hex() != name {
            r.fail(
                "blob",
                path,
                format!("blob does not match its digest sha256:{name} (content is {actual})"),
            );
        } else {
            r.checked.blobs += 1;
        }
    }
}

pub(super) fn host_of(agents: &Agents, agent: &str) -> String {
    match agents.get(agent) {
        Some((a, _)) => format!("host {} (agent {agent})", a.hostname),
        None => format!("agent {agent}"),
    }
}

/// The agents' key ids → agent id (to name who really signed an envelope).
pub(super) fn key_owners(agents: &Agents) -> HashMap<String, String> {
    agents
        .iter()
        .map(|(id, (a, _))| (a.key_id.clone(), id.clone()))
        .collect()
}

/// What the chain check keeps of a statement once it is checked.
#[derive(Debug, Clone, Copy)]
pub(super) struct Link {
    pub previous: Option<Digest>,
    pub gap: Option<SequenceRange>,
}

impl Link {
    pub(super) fn of(st: &Statement) -> Link {
        Link {
            previous: st.predicate.previous,
            gap: st.predicate.gap,
        }
    }
}

/// Check one envelope (`bytes`, whose sha256 is `actual`) filed as `e`:
/// digest, strict signature by its agent's key, statement, blobs named.
#[allow(clippy::too_many_arguments)]
pub(super) fn check_envelope(
    bytes: &[u8],
    actual: Digest,
    e: &IndexEntry,
    agents: &Agents,
    key_owner: &HashMap<String, String>,
    subject: &str,
    blobs: &dyn BlobSource,
    r: &mut Report,
) -> Option<Statement> {
    if actual != e.envelope {
        r.fail(
            "envelope",
            subject,
            format!(
                "{} is not the envelope the collector stored ({} expected, found {actual})",
                e.path, e.envelope
            ),
        );
    }
    let Some((_, key)) = agents.get(&e.agent) else {
        r.fail(
            "envelope",
            subject,
            format!("no enrollment record for agent {}", e.agent),
        );
        return None;
    };
    let env = match Envelope::from_json(bytes) {
        Ok(env) => env,
        Err(err) => {
            r.fail("envelope", subject, format!("{}: {err}", e.path));
            return None;
        }
    };
    let payload = match env.verify(key, PAYLOAD_TYPE) {
        Ok(p) => p,
        Err(err) => {
            let signer = env
                .key_ids()
                .find_map(|k| key_owner.get(k))
                .map(|other| format!(" (it is signed by the key of {})", host_of(agents, other)))
                .unwrap_or_default();
            r.fail(
                "envelope",
                subject,
                format!(
                    "{}: signature by agent {}'s key does not verify: {err}{signer}",
                    e.path, e.agent
                ),
            );
            return None;
        }
    };
    // v1 and full v2 statements as they are; an unchanged v2 run resolves
    // against its content blob, which must be in the bundle.
    let resolved = match Parsed::from_bytes(payload) {
        Ok(Parsed::Full(st)) => Ok(*st),
        Ok(Parsed::Unchanged(u)) => match blobs.blob(&u.content) {
            None => Err(EvidenceError::Unresolved(u.content)),
            Some(b) => Content::from_blob(&u.content, &b).map(|c| u.resolve(&c)),
        },
        Err(err) => Err(err),
    };
    let st = match resolved {
        Ok(s) => s,
        Err(err) => {
            r.fail("envelope", subject, format!("{}: {err}", e.path));
            return None;
        }
    };
    if st.predicate.agent.id != e.agent || st.predicate.sequence != e.sequence {
        r.fail(
            "envelope",
            subject,
            format!(
                "{}: statement says agent {} sequence {}, filed as agent {} sequence {}",
                e.path, st.predicate.agent.id, st.predicate.sequence, e.agent, e.sequence
            ),
        );
        return None;
    }
    for p in &st.predicate.probes {
        if let Some(d) = p.digest {
            if !blobs.has_blob(&d) {
                r.fail(
                    "blob",
                    subject,
                    format!("blob {d} of probe `{}` is missing from the bundle", p.id),
                );
            }
        }
    }
    r.checked.envelopes += 1;
    Some(st)
}

pub(super) fn check_chains(
    index: &Index,
    statements: &[Option<Link>],
    agents: &Agents,
    pruned: &Pruned,
    r: &mut Report,
) {
    type Chain<'a> = Vec<(u64, &'a IndexEntry, Option<&'a Link>)>;
    let mut by_agent: BTreeMap<&str, Chain<'_>> = BTreeMap::new();
    for (e, st) in index.statements.iter().zip(statements) {
        by_agent
            .entry(e.agent.as_str())
            .or_default()
            .push((e.sequence, e, st.as_ref()));
    }
    for (agent, mut list) in by_agent {
        list.sort_by_key(|(s, _, _)| *s);
        let host = host_of(agents, agent);
        let mut tally = PrunedTally::default();
        for pair in list.windows(2) {
            let [(_, e0, _), (_, e1, st1)] = pair else {
                continue;
            };
            check_pair(&host, e0, e1, *st1, pruned, &mut tally, r);
        }
        tally.report(pruned, &host, r);
    }
}

/// Check that `e1` follows `e0` (same agent, `e1.sequence >= e0.sequence`)
/// in the chain: a fork, a gap (declared by `st1` or bridged by the chain
/// stubs of statements retention pruned, counted in `tally`) or a chain
/// break.
pub(super) fn check_pair(
    host: &str,
    e0: &IndexEntry,
    e1: &IndexEntry,
    st1: Option<&Link>,
    pruned: &Pruned,
    tally: &mut PrunedTally,
    r: &mut Report,
) {
    let (s0, s1) = (e0.sequence, e1.sequence);
    let agent = e1.agent.as_str();
    // Statements pruned by retention: their chain stubs must link.
    if s1 > s0 + 1 {
        let end = st1.map(|st| st.previous);
        match pruned.bridge(agent, s0 + 1, s1 - 1, e0.envelope, end) {
            Bridge::Linked => {
                tally.add(pruned, agent, s0 + 1, s1 - 1);
                return;
            }
            Bridge::Broken(why) => {
                r.fail("chain", format!("{host} sequences {s0}..={s1}"), why);
                return;
            }
            Bridge::None => {}
        }
    }
    if s1 == s0 {
        r.fail(
            "fork",
            format!("{host} sequence {s1}"),
            format!(
                "two envelopes claim sequence {s1}: {} and {}",
                e0.envelope, e1.envelope
            ),
        );
    } else if s1 > s0 + 1 {
        let (from, to) = (s0 + 1, s1 - 1);
        let declared = st1
            .and_then(|st| st.gap)
            .is_some_and(|g| g.from <= from && g.to >= to);
        let subject = format!("{host} sequences {from}..={to}");
        if declared {
            r.warn(
                "gap",
                subject,
                "the agent declared these runs dropped (spool overflow)",
            );
        } else {
            r.fail(
                "gap",
                subject,
                format!("missing from the chain: sequence {s1} follows {s0}"),
            );
        }
    } else if let Some(st1) = st1 {
        if st1.previous != Some(e0.envelope) {
            r.fail(
                "chain",
                format!("{host} sequences {s0}..={s1}"),
                format!(
                    "sequence {s1} names previous {} but sequence {s0} is {}",
                    st1.previous
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "(none)".into()),
                    e0.envelope
                ),
            );
        }
    }
}
