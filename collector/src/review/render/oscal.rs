//! OSCAL 1.0.6 assessment-results JSON from a bundle's members: one
//! observation per evidence statement (and per attestation), one finding per
//! Annex A control. Every UUID is a UUIDv5 of stable content and every time
//! comes from the evidence, so the same input gives the same bytes.

use crate::review::model::{self, Members};
use chrono::{DateTime, SecondsFormat, Utc};
use evident_core::report;
use evident_core::Catalog;
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

/// The OSCAL document for `members`. `fallback_now` is used only when the
/// bundle holds no evidence at all.
pub fn document(members: &Members, fallback_now: DateTime<Utc>) -> Vec<u8> {
    let index = model::index(members);
    let hosts = model::histories(members);
    let first = index.statements.iter().map(|e| e.collected_at).min();
    let last = index.statements.iter().map(|e| e.collected_at).max();
    let now = last.unwrap_or(fallback_now);
    let atts = model::attestations(members, now);
    let rep = report::build(Catalog::annex_a(), &hosts, &atts, now);
    let hostnames: BTreeMap<&str, &str> = hosts
        .iter()
        .map(|h| (h.agent.as_str(), h.hostname.as_str()))
        .collect();
    let intervals: BTreeMap<&str, u64> = hosts
        .iter()
        .map(|h| (h.agent.as_str(), h.interval_seconds))
        .collect();

    let mut observations = Vec::new();
    // Observation uuids of each host's latest statement, for the findings.
    let mut latest_obs: BTreeMap<&str, (u64, String)> = BTreeMap::new();
    for e in &index.statements {
        let uuid = id(&["observation", &e.envelope.to_string()]);
        let hostname = hostnames.get(e.agent.as_str()).copied().unwrap_or(&e.agent);
        let interval = intervals.get(e.agent.as_str()).copied().unwrap_or(86_400);
        let expires = e.collected_at
            + chrono::Duration::seconds(
                i64::try_from(interval.saturating_mul(2)).unwrap_or(i64::MAX / 4_000),
            );
        observations.push(json!({
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
        }));
        let slot = latest_obs
            .entry(e.agent.as_str())
            .or_insert((0, String::new()));
        if e.sequence >= slot.0 {
            *slot = (e.sequence, uuid);
        }
    }
    let mut att_obs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for a in &atts {
        let uuid = id(&["attestation", &a.id]);
        observations.push(json!({
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
        }));
        if a.current {
            att_obs.entry(a.control.as_str()).or_default().push(uuid);
        }
    }
    // Drop empty relevant-evidence arrays (the schema wants at least one item).
    for o in &mut observations {
        if let Some(map) = o.as_object_mut() {
            if map
                .get("relevant-evidence")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                map.remove("relevant-evidence");
            }
        }
    }

    let mut findings = Vec::new();
    for c in &rep.controls {
        let (satisfied, reason) = finding_state(&c.status);
        let covering: BTreeSet<&str> = hosts
            .iter()
            .filter(|h| {
                h.statements.last().is_some_and(|(_, _, r)| {
                    r.controls
                        .iter()
                        .any(|x| x.id == c.id && x.status.as_str() != "not-automated")
                })
            })
            .map(|h| h.agent.as_str())
            .collect();
        let mut related: Vec<Value> = covering
            .iter()
            .filter_map(|a| latest_obs.get(a))
            .map(|(_, u)| json!({"observation-uuid": u}))
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

    if let Some(v) = crate::review::vulns::section(members, &hosts) {
        cve_items(&v, &mut observations, &mut findings);
    }

    let doc_id = id(&[
        "assessment-results",
        &index
            .statements
            .iter()
            .map(|e| e.envelope.to_string())
            .collect::<Vec<_>>()
            .join(","),
    ]);
    // Every subject an observation names, defined.
    let inventory: Vec<Value> = hosts
        .iter()
        .map(|h| {
            json!({
                "uuid": id(&["host", &h.agent]),
                "description": format!("Host {} (Evident agent {})", h.hostname, h.agent),
                "props": [
                    {"name": "hostname", "ns": "https://evident.dev/oscal", "value": h.hostname},
                    {"name": "agent-id", "ns": "https://evident.dev/oscal", "value": h.agent}
                ]
            })
        })
        .collect();
    // The assessment plan import-ap points at: the policy files, by digest.
    let plan_uuid = id(&["assessment-plan"]);
    let policies: Vec<evident_core::bundle::PolicyFileEntry> = members
        .get(evident_core::bundle::POLICY_INDEX_PATH)
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
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
        "uuid": id(&["result", &doc_id]),
        "title": "Evident automated assessment of ISO/IEC 27001:2022 Annex A controls",
        "description": format!("{} hosts, {} signed evidence statements, {} attestations.", hosts.len(), index.statements.len(), atts.len()),
        "start": ts(first.unwrap_or(now)),
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
    if !observations.is_empty() {
        if let Some(map) = result.as_object_mut() {
            map.insert("observations".into(), Value::Array(observations));
        }
    }
    let doc = json!({
        "assessment-results": {
            "uuid": doc_id,
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
    let mut out = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    out.push(b'\n');
    out
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
