//! Checks of envelopes, blobs and each host's sequence and hash chain.

use super::manifest::Agents;
use super::model::{blob_path, Index, IndexEntry};
use super::pruned::{Bridge, Pruned, PrunedTally};
use super::report::Report;
use crate::digest::sha256_digest;
use crate::dsse::Envelope;
use crate::evidence::{Statement, PAYLOAD_TYPE};
use std::collections::{BTreeMap, HashMap};

/// Progress callback: (statements done, statements total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

pub(super) fn check_blob_names(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) {
    for (path, bytes) in members.range("blobs/".to_string()..) {
        let Some(name) = path.strip_prefix("blobs/") else {
            break;
        };
        let actual = sha256_digest(bytes);
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

fn host_of(agents: &Agents, agent: &str) -> String {
    match agents.get(agent) {
        Some((a, _)) => format!("host {} (agent {agent})", a.hostname),
        None => format!("agent {agent}"),
    }
}

pub(super) fn check_envelopes(
    members: &BTreeMap<String, Vec<u8>>,
    index: &Index,
    agents: &Agents,
    r: &mut Report,
    progress: Progress<'_>,
) -> Vec<Option<Statement>> {
    let total = index.statements.len() as u64;
    let mut out = Vec::with_capacity(index.statements.len());
    let mut key_owner: HashMap<String, String> = HashMap::new();
    for (id, (a, _)) in agents {
        key_owner.insert(a.key_id.clone(), id.clone());
    }
    for (i, e) in index.statements.iter().enumerate() {
        if i % 256 == 0 {
            progress(i as u64, total);
        }
        let subject = format!("{} sequence {}", host_of(agents, &e.agent), e.sequence);
        out.push(check_envelope(members, e, agents, &key_owner, &subject, r));
    }
    progress(total, total);
    out
}

fn check_envelope(
    members: &BTreeMap<String, Vec<u8>>,
    e: &IndexEntry,
    agents: &Agents,
    key_owner: &HashMap<String, String>,
    subject: &str,
    r: &mut Report,
) -> Option<Statement> {
    let Some(bytes) = members.get(&e.path) else {
        r.fail(
            "envelope",
            subject,
            format!("envelope {} ({}) is missing", e.path, e.envelope),
        );
        return None;
    };
    let actual = sha256_digest(bytes);
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
    let st = match Statement::from_bytes_with(payload, |d| {
        members.get(&blob_path(d)).map(Vec::as_slice)
    }) {
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
            if !members.contains_key(&blob_path(&d)) {
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
    statements: &[Option<Statement>],
    agents: &Agents,
    pruned: &Pruned,
    r: &mut Report,
) {
    type Chain<'a> = Vec<(u64, &'a IndexEntry, Option<&'a Statement>)>;
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
            let [(s0, e0, _), (s1, e1, st1)] = pair else {
                continue;
            };
            // Statements pruned by retention: their chain stubs must link.
            if *s1 > s0 + 1 {
                let end = st1.map(|st| st.predicate.previous);
                match pruned.bridge(agent, s0 + 1, s1 - 1, e0.envelope, end) {
                    Bridge::Linked => {
                        tally.add(pruned, agent, s0 + 1, s1 - 1);
                        continue;
                    }
                    Bridge::Broken(why) => {
                        r.fail("chain", format!("{host} sequences {s0}..={s1}"), why);
                        continue;
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
            } else if *s1 > s0 + 1 {
                let (from, to) = (s0 + 1, s1 - 1);
                let declared = st1
                    .and_then(|st| st.predicate.gap)
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
                if st1.predicate.previous != Some(e0.envelope) {
                    r.fail(
                        "chain",
                        format!("{host} sequences {s0}..={s1}"),
                        format!(
                            "sequence {s1} names previous {} but sequence {s0} is {}",
                            st1.predicate
                                .previous
                                .map(|d| d.to_string())
                                .unwrap_or_else(|| "(none)".into()),
                            e0.envelope
                        ),
                    );
                }
            }
        }
        tally.report(pruned, &host, r);
    }
}
