//! OSCAL 1.0.6 assessment-results JSON: one observation per evidence
//! statement (and per attestation), one finding per Annex A control. Written
//! with the statement observations streamed ([`write`]), from a bundle's
//! members ([`document`]) or from the database (`review::oscal_period`). Every UUID is a UUIDv5 of stable content and every time
//! comes from the evidence, so the same input gives the same bytes.

use crate::review::model::{self, Members};
use chrono::{DateTime, SecondsFormat, Utc};
use evident_core::bundle::{IndexEntry, PolicyFileEntry};
use evident_core::report;
use evident_core::{Catalog, Digest};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

fn ns() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://evident.dev/oscal/v1")
}

fn id(parts: &[&str]) -> String {
    Uuid::new_v5(&ns(), parts.join("\n").as_bytes()).to_string()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A host as OSCAL names it (by the agent id of its latest enrollment).
#[derive(Debug, Clone)]
pub struct OscalHost {
    /// Host name.
    pub hostname: String,
    /// Schedule interval of its latest statement (observations expire
    /// after two).
    pub interval: u64,
}

/// What the document says besides one observation per statement: built
/// from a bundle's members ([`document`]) or from the database
/// (`review::oscal_period`), so both give the same bytes.
pub struct Parts<'a> {
    /// The report as of `now`: findings per control, CVE items.
    pub report: &'a report::Report,
    /// Hosts by agent id (agents of earlier enrollments of a host are not
    /// keys: their statements are titled with the agent id).
    pub hosts: BTreeMap<String, OscalHost>,
    /// Per control, the agents whose latest results evidence it.
    pub covering: BTreeMap<String, BTreeSet<String>>,
    /// Per agent, the envelope of its latest statement.
    pub latest: BTreeMap<String, Digest>,
    /// The attestations (current or not) as of `now`.
    pub attestations: &'a [report::AttestationRef],
    /// The policy files the results cite.
    pub policies: &'a [PolicyFileEntry],
    /// First collection time.
    pub first: Option<DateTime<Utc>>,
    /// The last collection time (the document's time).
    pub now: DateTime<Utc>,
    /// Statements cited.
    pub statements: usize,
    /// The document's uuid ([`DocId`] over the statements in index order).
    pub doc_id: String,
}

/// The document's uuid: a UUIDv5 of every envelope digest in index order,
/// fed one at a time (the same value as hashing them joined by commas).
pub struct DocId {
    sha1: sha1_smol::Sha1,
    first: bool,
}

impl Default for DocId {
    fn default() -> Self {
        let mut sha1 = sha1_smol::Sha1::new();
        sha1.update(ns().as_bytes());
        sha1.update(b"assessment-results\n");
        DocId { sha1, first: true }
    }
}

impl DocId {
    /// The next statement's envelope digest.
    pub fn add(&mut self, envelope: &Digest) {
        if !self.first {
            self.sha1.update(b",");
        }
        self.first = false;
        self.sha1.update(envelope.to_string().as_bytes());
    }

    /// The uuid.
    pub fn finish(self) -> String {
        let hash = self.sha1.digest().bytes();
        let mut b = [0u8; 16];
        b.copy_from_slice(&hash[..16]);
        uuid::Builder::from_sha1_bytes(b).into_uuid().to_string()
    }
}

/// The OSCAL document for `members`. `fallback_now` is used only when the
/// bundle holds no evidence at all.
pub fn document(members: &Members, fallback_now: DateTime<Utc>) -> Vec<u8> {
    let index = model::index(members);
    let histories = model::histories(members);
    let first = index.statements.iter().map(|e| e.collected_at).min();
    let last = index.statements.iter().map(|e| e.collected_at).max();
    let now = last.unwrap_or(fallback_now);
    let atts = model::attestations(members, now);
    let mut rep = report::build(Catalog::annex_a(), &histories, &atts, now);
    rep.vulns = crate::review::vulns::section(members, &histories);
    let mut covering: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for h in &histories {
        if let Some((_, _, r)) = h.statements.last() {
            for x in r
                .controls
                .iter()
                .filter(|x| x.status.as_str() != "not-automated")
            {
                covering
                    .entry(x.id.clone())
                    .or_default()
                    .insert(h.agent.clone());
            }
        }
    }
    let mut latest: BTreeMap<String, (u64, Digest)> = BTreeMap::new();
    let mut doc_id = DocId::default();
    for e in &index.statements {
        doc_id.add(&e.envelope);
        let slot = latest.entry(e.agent.clone()).or_insert((0, e.envelope));
        if e.sequence >= slot.0 {
            *slot = (e.sequence, e.envelope);
        }
    }
    let policies: Vec<PolicyFileEntry> = members
        .get(evident_core::bundle::POLICY_INDEX_PATH)
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let parts = Parts {
        report: &rep,
        hosts: histories
            .iter()
            .map(|h| {
                (
                    h.agent.clone(),
                    OscalHost {
                        hostname: h.hostname.clone(),
                        interval: h.interval_seconds,
                    },
                )
            })
            .collect(),
        covering,
        latest: latest.into_iter().map(|(a, (_, d))| (a, d)).collect(),
        attestations: &atts,
        policies: &policies,
        first,
        now,
        statements: index.statements.len(),
        doc_id: doc_id.finish(),
    };
    let mut out = Vec::new();
    // Writing to memory fails only if an entry does, and those are in memory.
    let _ = write(
        &parts,
        &mut |each| index.statements.iter().try_for_each(&mut *each),
        &mut out,
    );
    out
}

/// Statements in index order, handed one at a time to the callback.
pub type Statements<'s> =
    dyn FnMut(&mut dyn FnMut(&IndexEntry) -> std::io::Result<()>) -> std::io::Result<()> + 's;

/// Where the statement observations go in the pretty-printed skeleton.
const OBSERVATIONS_MARK: &str = "\"__evident_statement_observations__\"";
/// Indentation of the observations inside the document.
const OBSERVATION_INDENT: &str = "          ";

/// Write the OSCAL document of `parts` to `out`, the statement
/// observations one at a time as `statements` hands them over (memory holds
/// one observation, not the period's).
pub fn write(
    parts: &Parts<'_>,
    statements: &mut Statements<'_>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let now = parts.now;
    let rep = parts.report;
    let latest_obs: BTreeMap<&str, String> = parts
        .latest
        .iter()
        .map(|(a, d)| (a.as_str(), id(&["observation", &d.to_string()])))
        .collect();
    // Observations after the statements': attestations, then CVEs.
    let mut observations = Vec::new();
    let mut att_obs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for a in parts.attestations {
        let uuid = id(&["attestation", &a.id]);
        let mut o = json!({
            "uuid": uuid,
            "title": format!("Attestation for {} by {}", a.control, a.attester),
            "description": a.statement,
            "methods": ["EXAMINE"],
            "relevant-evidence": a.evidence.iter().map(|(name, d)| json!({
                "href": format!("#blobs/{}", d.trim_start_matches("sha256:")),
                "description": format!("{name} ({d})")
            })).collect::<Vec<_>>(),
            "collected": ts(a.signed_at),
            "expires": ts(a.expires.and_hms_opt(23, 59, 59).map(|t| t.and_utc()).unwrap_or(a.signed_at))
        });
        // The schema wants at least one item, or no array.
        if a.evidence.is_empty() {
            if let Some(map) = o.as_object_mut() {
                map.remove("relevant-evidence");
            }
        }
        observations.push(o);
        if a.current {
            att_obs.entry(a.control.as_str()).or_default().push(uuid);
        }
    }

    let mut findings = Vec::new();
    let none = BTreeSet::new();
    for c in &rep.controls {
        let (satisfied, reason) = finding_state(&c.status);
        let covering = parts.covering.get(&c.id).unwrap_or(&none);
        let mut related: Vec<Value> = covering
            .iter()
            .filter_map(|a| latest_obs.get(a.as_str()))
            .map(|u| json!({"observation-uuid": u}))
            .collect();
        related.extend(
            att_obs
                .get(c.id.as_str())
                .into_iter()
                .flatten()
                .map(|u| json!({"observation-uuid": u})),
        );
        let mut finding = json!({
            "uuid": id(&["finding", &c.id]),
            "title": format!("{} {}", c.id, c.title),
            "description": format!(
                "Control {} is {} across {} host(s){}.",
                c.id,
                c.status,
                c.hosts.values().sum::<usize>(),
                if c.failures.is_empty() { String::new() } else {
                    format!("; failing: {}", c.failures.iter().map(|f| format!("{} on {}", f.rule, f.host)).collect::<Vec<_>>().join(", "))
                }
            ),
            "props": [{"name": "evident-status", "ns": "https://evident.dev/oscal", "value": c.status}],
            "target": {
                "type": "objective-id",
                "target-id": c.id.to_lowercase(),
                "title": c.title,
                "status": {"state": if satisfied { "satisfied" } else { "not-satisfied" }, "reason": reason}
            }
        });
        if !related.is_empty() {
            if let Some(map) = finding.as_object_mut() {
                map.insert("related-observations".into(), Value::Array(related));
            }
        }
        findings.push(finding);
    }

    if let Some(v) = &rep.vulns {
        cve_items(v, &mut observations, &mut findings);
    }

    // Every subject an observation names, defined.
    let inventory: Vec<Value> = parts
        .hosts
        .iter()
        .map(|(agent, h)| {
            json!({
                "uuid": id(&["host", agent]),
                "description": format!("Host {} (Evident agent {})", h.hostname, agent),
                "props": [
                    {"name": "hostname", "ns": "https://evident.dev/oscal", "value": h.hostname},
                    {"name": "agent-id", "ns": "https://evident.dev/oscal", "value": agent}
                ]
            })
        })
        .collect();
    // The assessment plan import-ap points at: the policy files, by digest.
    let plan_uuid = id(&["assessment-plan"]);
    let policies = parts.policies;
    let mut plan = json!({
        "uuid": plan_uuid,
        "title": "Evident assessment plan",
        "description": format!(
            "Every evidence statement is evaluated against the Evident policy files below (TOML rules with CEL checks, each mapped to ISO/IEC 27001:2022 Annex A controls); each result cites the files by sha256. {} policy file(s).",
            policies.len()
        )
    });
    if !policies.is_empty() {
        if let Some(map) = plan.as_object_mut() {
            map.insert(
                "rlinks".into(),
                policies
                    .iter()
                    .map(|p| {
                        json!({
                            "href": format!("#{}", p.path),
                            "media-type": "application/toml",
                            "hashes": [{"algorithm": "SHA-256", "value": p.sha256.hex()}]
                        })
                    })
                    .collect(),
            );
        }
    }
    let mut result = json!({
        "uuid": id(&["result", &parts.doc_id]),
        "title": "Evident automated assessment of ISO/IEC 27001:2022 Annex A controls",
        "description": format!("{} hosts, {} signed evidence statements, {} attestations.", parts.hosts.len(), parts.statements, parts.attestations.len()),
        "start": ts(parts.first.unwrap_or(now)),
        "end": ts(now),
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
        "findings": findings
    });
    if !inventory.is_empty() {
        if let Some(map) = result.as_object_mut() {
            map.insert(
                "local-definitions".into(),
                json!({"inventory-items": inventory}),
            );
        }
    }
    let any_observation = parts.statements > 0 || !observations.is_empty();
    if any_observation {
        if let Some(map) = result.as_object_mut() {
            map.insert(
                "observations".into(),
                json!([OBSERVATIONS_MARK.trim_matches('"')]),
            );
        }
    }
    let doc = json!({
        "assessment-results": {
            "uuid": parts.doc_id,
            "metadata": {
                "title": "Evident assessment results",
                "last-modified": ts(now),
                "version": env!("CARGO_PKG_VERSION"),
                "oscal-version": "1.0.6"
            },
            "import-ap": {"href": format!("#{plan_uuid}"), "remarks": "Automated assessment by Evident policies (TOML + CEL) over signed evidence; the plan is the back-matter resource of that uuid."},
            "results": [result],
            "back-matter": {"resources": [plan]}
        }
    });
    let skeleton = serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?;
    let mark = format!("{OBSERVATION_INDENT}{OBSERVATIONS_MARK}");
    let Some((head, tail)) = skeleton.split_once(&mark).filter(|_| any_observation) else {
        out.write_all(skeleton.as_bytes())?;
        return out.write_all(b"\n");
    };
    out.write_all(head.as_bytes())?;
    // Each observation pretty-printed on its own and indented to its place:
    // the bytes serde_json gives for the whole document.
    let mut sep = "";
    let mut one = |o: &Value, out: &mut dyn std::io::Write| -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(o).map_err(std::io::Error::other)?;
        out.write_all(sep.as_bytes())?;
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(OBSERVATION_INDENT.as_bytes())?;
            out.write_all(line.as_bytes())?;
        }
        sep = ",\n";
        Ok(())
    };
    statements(&mut |e| one(&statement_observation(parts, e), out))?;
    for o in &observations {
        one(o, out)?;
    }
    out.write_all(tail.as_bytes())?;
    out.write_all(b"\n")
}

/// The observation of one evidence statement.
fn statement_observation(parts: &Parts<'_>, e: &IndexEntry) -> Value {
    let uuid = id(&["observation", &e.envelope.to_string()]);
    let host = parts.hosts.get(&e.agent);
    let hostname = host.map_or(e.agent.as_str(), |h| h.hostname.as_str());
    let interval = host.map_or(86_400, |h| h.interval);
    let expires = e.collected_at
        + chrono::Duration::seconds(
            i64::try_from(interval.saturating_mul(2)).unwrap_or(i64::MAX / 4_000),
        );
    json!({
        "uuid": uuid,
        "title": format!("Evidence from {hostname}, sequence {}", e.sequence),
        "description": format!(
            "Signed evidence statement (DSSE, Ed25519) from agent {} on host {hostname}, sequence {}, evaluated against the recorded policies.",
            e.agent, e.sequence
        ),
        "props": [
            {"name": "envelope-digest", "ns": "https://evident.dev/oscal", "value": e.envelope.to_string()},
            {"name": "results-digest", "ns": "https://evident.dev/oscal", "value": e.results.to_string()}
        ],
        "methods": ["TEST"],
        "subjects": [{
            "subject-uuid": id(&["host", &e.agent]),
            "type": "inventory-item",
            "title": hostname
        }],
        "relevant-evidence": [{
            "href": format!("#{}", e.path),
            "description": format!("DSSE envelope {}", e.envelope)
        }],
        "collected": ts(e.collected_at),
        "expires": ts(expires)
    })
}

/// OSCAL target state and reason for an Evident control status: OSCAL has
/// only `satisfied` and `not-satisfied`; the reason tells not assessed,
/// not applicable, partially evidenced and not satisfied apart.
fn finding_state(status: &str) -> (bool, &'static str) {
    match status {
        "satisfied" => (true, "pass"),
        "waived" => (true, "waived"),
        report::ATTESTED => (true, "attested"),
        "not-satisfied" => (false, "fail"),
        "partial" => (false, "partial"),
        "partially-evidenced" => (false, "partially-evidenced"),
        "not-applicable" => (false, "not-applicable"),
        "no-evidence" => (false, "not-assessed"),
        "not-automated" => (false, "not-assessed"),
        _ => (false, "other"),
    }
}

/// Per host × CVE (issue #18): an observation of the CVE on the host (its
/// package, installed and fixed versions, status, urgency, first seen and
/// waiver) resting on the host's latest statement, and a finding against
/// A.8.8: not satisfied while open, satisfied (reason `waived`) under a
/// current CVE waiver.
fn cve_items(
    v: &report::vulns::VulnSection,
    observations: &mut Vec<Value>,
    findings: &mut Vec<Value>,
) {
    let prop = |name: &str, value: &str| json!({"name": name, "ns": "https://evident.dev/oscal", "value": value});
    for h in &v.hosts {
        for c in &h.cves {
            let obs = id(&[
                "cve-observation",
                &h.agent,
                &h.sequence.to_string(),
                &c.cve,
                &c.source,
            ]);
            let mut props = vec![
                prop("cve", &c.cve),
                prop("source-package", &c.source),
                prop("installed-version", &c.installed),
                prop("distribution-status", &c.status),
                prop("urgency", &c.urgency),
                prop("first-seen", &c.first_seen),
                prop("snapshot-digest", &h.snapshot),
            ];
            if let Some(f) = &c.fixed_version {
                props.push(prop("fixed-version", f));
            }
            if let Some(w) = &c.waived {
                props.push(prop("waiver-approver", &w.approver));
                props.push(prop("waiver-expires", &w.expires.to_string()));
            }
            // OSCAL values are non-empty and not padded.
            props.retain(|p| {
                p["value"]
                    .as_str()
                    .is_some_and(|v| !v.is_empty() && v.trim() == v)
            });
            let mut o = json!({
                "uuid": obs.clone(),
                "title": format!("{} in {} on {}", c.cve, c.source, h.hostname),
                "description": format!(
                    "{} affects {} {} ({}) on {}, first seen {} ({} days before the evidence); {}.",
                    c.cve,
                    c.source,
                    c.installed,
                    c.packages.join(", "),
                    h.hostname,
                    c.first_seen,
                    c.age_days,
                    match &c.fixed_version {
                        Some(f) => format!("fixed in {f}"),
                        None => "no fix yet".to_string(),
                    }
                ),
                "props": props,
                "methods": ["TEST"],
                "subjects": [{
                    "subject-uuid": id(&["host", &h.agent]),
                    "type": "inventory-item",
                    "title": h.hostname
                }],
                "collected": ts(h.collected_at)
            });
            if let Some(map) = o.as_object_mut() {
                map.insert(
                    "relevant-evidence".into(),
                    json!([{
                        "href": format!("#{}", evident_core::bundle::envelope_path(&h.agent, h.sequence)),
                        "description": "the host's latest evidence statement, whose packages inventory was matched"
                    }]),
                );
            }
            observations.push(o);
            let (state, reason) = match &c.waived {
                Some(_) => ("satisfied", "waived"),
                None => ("not-satisfied", "fail"),
            };
            findings.push(json!({
                "uuid": id(&["cve-finding", &h.agent, &c.cve, &c.source]),
                "title": format!("{} on {}", c.cve, h.hostname),
                "description": match &c.waived {
                    Some(w) => format!(
                        "{} on {} is waived until {} (approved by {}): {}",
                        c.cve, h.hostname, w.expires, w.approver, w.justification
                    ),
                    None => format!(
                        "{} is open on {} since {} ({}).",
                        c.cve,
                        h.hostname,
                        c.first_seen,
                        if c.fix_available() { "a fix is available" } else { "no fix yet" }
                    ),
                },
                "props": [prop("cve", &c.cve), prop("urgency", &c.urgency)],
                "target": {
                    "type": "objective-id",
                    "target-id": "a.8.8",
                    "title": "A.8.8 Management of technical vulnerabilities",
                    "status": {"state": state, "reason": reason}
                },
                "related-observations": [{"observation-uuid": obs}]
            }));
        }
    }
}
