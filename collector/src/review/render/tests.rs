//! Tests of the HTML report's auditor sections, on a report built from a
//! real evaluation: failing rules first (severity order, hosts failing the
//! same way share a row, values found and remediation shown), the hosts
//! table folded for a large fleet, evidence per control, attestations with
//! their documents' digests, and the alerts section.

use super::{report, Format};
use evident_core::bundle::alerts::{Acknowledgement, AlertEntry, StatementRef};
use evident_core::bundle::RecordedResults;
use evident_core::policy::{evaluate, PolicySet, PolicySource};
use evident_core::report::{
    self as model, alerts_section, AttestationRef, EvidenceRef, HostHistory, KeyUse,
};
use evident_core::{sha256_digest, Catalog, Evidence};
use std::collections::BTreeMap;
use std::sync::Arc;

const POLICY: &str = r#"
[policy]
id = "html-test"
version = "1.0"
title = "HTML test"

[[rule]]
id = "ssh.root-login"
title = "No root login"
controls = ["A.8.5"]
severity = "high"
requires = ["sshd"]
check = 'sshd.permitrootlogin == "no"'
remediation = "Set PermitRootLogin no"

[[rule]]
id = "ssh.x11"
title = "No X11 forwarding"
controls = ["A.8.9"]
severity = "low"
requires = ["sshd"]
check = 'sshd.x11forwarding == "no"'
remediation = "Set X11Forwarding no"
"#;

fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

/// Results of one host whose sshd says `root` and `x11`.
fn results(set: &PolicySet, root: &str, x11: &str) -> Arc<RecordedResults> {
    let evidence: Evidence = serde_json::from_value(serde_json::json!({
        "host": {"hostname": "h", "os_family": "linux", "os_id": "debian", "os_version": "12", "arch": "x86_64"},
        "collected_at": "2026-11-01T00:00:00Z",
        "probes": {"sshd": {"version": 1, "status": "ok", "data": {"permitrootlogin": root, "x11forwarding": x11}}}
    }))
    .unwrap();
    Arc::new(RecordedResults::from_evaluation(evaluate(set, &evidence)))
}

/// `n` hosts: every one lets root log in (high); every third also forwards
/// X11 (low); with their evidence, an attestation with a document, and two
/// alerts (one acknowledged, one resolved).
fn fleet(n: usize) -> model::Report {
    let set = PolicySet::load(
        &[PolicySource::new("html-test.toml", POLICY)],
        Catalog::annex_a(),
    )
    .unwrap();
    let bad = results(&set, "yes", "yes");
    let half = results(&set, "yes", "no");
    let at = t("2026-11-01T00:00:00Z");
    let hosts: Vec<HostHistory> = (0..n)
        .map(|i| HostHistory {
            agent: format!("agent-{i:02}"),
            hostname: format!("web-{i:02}"),
            interval_seconds: 86_400,
            statements: vec![(
                at,
                7,
                if i % 3 == 0 {
                    bad.clone()
                } else {
                    half.clone()
                },
            )],
            keys: vec![KeyUse {
                agent: format!("agent-{i:02}"),
                key_id: format!("{i:064x}"),
                first_seen: at,
                last_seen: at,
                statements: 1,
            }],
        })
        .collect();
    let doc = sha256_digest(b"restore-test.pdf");
    let att = AttestationRef {
        id: sha256_digest(b"attestation").to_string(),
        control: "A.5.1".into(),
        statement: "Policies approved".into(),
        attester: "Jane CISO (0123456789abcdef)".into(),
        signed_at: at,
        expires: "2027-06-30".parse().unwrap(),
        evidence: vec![("policy-set.pdf".into(), doc.to_string())],
        current: true,
    };
    let now = t("2026-11-02T00:00:00Z");
    let mut r = model::build(Catalog::annex_a(), &hosts, &[att], now);
    for h in &hosts {
        let envelope = sha256_digest(h.agent.as_bytes());
        r.provenance.evidence.push(EvidenceRef {
            agent: h.agent.clone(),
            hostname: h.hostname.clone(),
            sequence: 7,
            collected_at: at,
            envelope,
            results: sha256_digest(b"results"),
        });
        for c in ["A.8.5", "A.8.9"] {
            r.provenance
                .control_hosts
                .entry(c.to_string())
                .or_default()
                .push(h.agent.clone());
        }
    }
    let cite = |agent: &str| StatementRef {
        sequence: 7,
        envelope: sha256_digest(agent.as_bytes()),
    };
    let alerts = [
        AlertEntry {
            id: 1,
            agent: "agent-00".into(),
            kind: "drift".into(),
            subject: "rule:ssh.root-login".into(),
            severity: "high".into(),
            baseline: false,
            flapping: false,
            detail: "ssh.root-login: pass → fail".into(),
            opened_at: at,
            opened_by: Some(cite("agent-00")),
            acknowledged: Some(Acknowledgement {
                by: "ops-token".into(),
                reason: "change CHG-42 <planned>".into(),
                at: t("2026-11-01T06:00:00Z"),
            }),
            resolved_at: None,
            resolved_by: None,
        },
        AlertEntry {
            id: 2,
            agent: "agent-01".into(),
            kind: "drift".into(),
            subject: "rule:ssh.x11".into(),
            severity: "low".into(),
            baseline: false,
            flapping: false,
            detail: "ssh.x11: pass → fail".into(),
            opened_at: t("2026-10-30T00:00:00Z"),
            opened_by: None,
            acknowledged: None,
            resolved_at: Some(at),
            resolved_by: Some(cite("agent-01")),
        },
    ];
    let names: BTreeMap<String, String> = hosts
        .iter()
        .map(|h| (h.agent.clone(), h.hostname.clone()))
        .collect();
    r.alerts = Some(alerts_section(&alerts, &names, Some(at), now));
    r
}

fn html(r: &model::Report) -> String {
    String::from_utf8(report(r, Format::Html).unwrap()).unwrap()
}

fn at(hay: &str, needle: &str) -> usize {
    hay.find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the HTML"))
}

#[test]
fn failing_rules_come_first_in_severity_order_with_values_and_remediation() {
    let page = html(&fleet(30));
    let failing = at(
        &page,
        "<h2>Failing rules (40 failing, 0 undecided, on 30 host(s))</h2>",
    );
    // Before the hosts table and the controls.
    assert!(failing < at(&page, "Hosts (30)"));
    assert!(failing < at(&page, "<h2>Controls with automated evidence"));
    // The high rule's row before the low one's; hosts failing the same way
    // share a row (30 hosts, 10 named, the rest counted).
    let high = at(&page, "<td class=\"sev-high\">high</td><td>ssh.root-login");
    let low = at(&page, "<td class=\"sev-low\">low</td><td>ssh.x11");
    assert!(failing < high && high < low);
    let row = &page[high..low];
    assert!(
        row.contains("<b>30</b>") && row.contains("… 20 more"),
        "{row}"
    );
    assert!(row.contains("Set PermitRootLogin no"), "{row}");
    // The values the check looked at.
    assert!(row.contains("yes"), "{row}");
    assert!(page[low..].contains("<b>10</b>"));
}

#[test]
fn the_hosts_table_folds_for_a_large_fleet_and_stays_open_for_a_small_one() {
    let big = html(&fleet(30));
    assert!(big.contains("<details><summary><h2 style=\"display:inline\">Hosts (30)</h2>"));
    let small = html(&fleet(3));
    assert!(small.contains("<details open><summary><h2 style=\"display:inline\">Hosts (3)</h2>"));
    // A host's failing rules are a count with the worst severity, not a list.
    assert!(small.contains("2 <span class=\"small\">(worst: high; see failing rules above)</span>"));
}

#[test]
fn evidence_per_control_names_each_statement_and_counts_the_rest() {
    let page = html(&fleet(30));
    let section = &page[at(&page, "<h2>Evidence per control</h2>")..at(&page, "<h2>Evidence</h2>")];
    // Both automated controls, 30 hosts each, five shown with sequence and
    // envelope digest (shortened, the full digest in the tooltip).
    for c in ["A.8.5", "A.8.9"] {
        assert!(
            section.contains(&format!("<tr><td>{c}</td><td>30</td>")),
            "{c}"
        );
    }
    let d = sha256_digest(b"agent-00");
    assert!(section.contains(&format!(
        "web-00 · 7 · 2026-11-01 00:00 UTC · <code title=\"{d}\">{}…</code>",
        &d.hex()[..16]
    )));
    assert_eq!(section.matches("… 25 more").count(), 2);
    // The Evidence table lists every host's statement as verified.
    let table = &page[at(&page, "<h2>Evidence</h2>")..];
    assert_eq!(table.matches("<td>verified</td>").count(), 30);
}

#[test]
fn attestations_show_who_until_when_and_their_documents_digests() {
    let page = html(&fleet(3));
    let doc = sha256_digest(b"restore-test.pdf");
    let att = sha256_digest(b"attestation");
    let row = &page[at(&page, "<tr><td>A.5.1</td>")..];
    let row = &row[..at(row, "</tr>")];
    assert!(
        row.contains("attested by Jane CISO (0123456789abcdef) until 2027-06-30"),
        "{row}"
    );
    assert!(
        row.contains(&format!("attestation <code title=\"{att}\">")),
        "{row}"
    );
    assert!(
        row.contains(&format!(
            "documents: policy-set.pdf <code title=\"{doc}\">{}…</code>",
            &doc.hex()[..16]
        )),
        "{row}"
    );
}

#[test]
fn alerts_show_what_is_open_at_the_end_with_acknowledgements_and_cited_statements() {
    let page = html(&fleet(3));
    let start = at(&page, "<h2>Alerts (1 open at the end of the period)</h2>");
    // After the failing rules, before the hosts table.
    assert!(at(&page, "<h2>Failing rules") < start && start < at(&page, "Hosts (3)"));
    let section = &page[start..at(&page, "Hosts (3)")];
    assert!(
        section
            .contains("1 opened and 1 resolved in the period; 1 open at its end (1 acknowledged)"),
        "{section}"
    );
    // The open one first, its reason escaped, the statement that opened it.
    let open = at(section, "rule:ssh.root-login");
    let resolved = at(section, "rule:ssh.x11");
    assert!(open < resolved);
    assert!(
        section.contains("change CHG-42 &lt;planned&gt;"),
        "{section}"
    );
    let opened_by = sha256_digest(b"agent-00");
    assert!(section.contains(&format!("seq 7 <code title=\"{opened_by}\">")));
    // The resolved one: when, after how long, by which statement.
    assert!(
        section.contains("2026-11-01 00:00 UTC<div class=\"small\">after 2d · seq 7"),
        "{section}"
    );
}

/// Host rows that fail to read back from `fail_at` on.
#[derive(Debug)]
struct Broken(Vec<model::HostRow>, usize);

impl model::HostRowSource for Broken {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, index: usize) -> Result<model::HostRow, String> {
        if index >= self.1 {
            return Err("the temporary file is gone".into());
        }
        Ok(self.0[index].clone())
    }
}

#[test]
fn spilled_host_rows_render_exactly_as_held_ones_in_every_format() {
    let held = fleet(30);
    let mut spill = crate::review::spill::HostSpill::new().unwrap();
    // Pushed in reverse: the spill orders them as the report does.
    for row in held.hosts.held().unwrap().iter().rev() {
        spill.push(row).unwrap();
    }
    let mut spilled = held.clone();
    spilled.hosts = model::HostRows::Source(Arc::new(spill.finish().unwrap()));
    assert!(spilled.hosts.held().is_none());
    for format in [Format::Markdown, Format::Html, Format::Json, Format::Csv] {
        let a = report(&held, format).unwrap();
        let b = report(&spilled, format).unwrap();
        assert!(a.len() > 1000);
        assert!(a == b, "{format:?} differs");
    }
    // The Markdown failing-rules table, sorted across the fleet by
    // severity, rule and host, comes out of its spool in that order.
    let md = String::from_utf8(report(&spilled, Format::Markdown).unwrap()).unwrap();
    let table = &md[md.find("## Failing rules").unwrap()..md.find("## Time to remediate").unwrap()];
    let rules: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("| high") || l.starts_with("| low"))
        .map(|l| l.split(" | ").nth(1).unwrap())
        .collect();
    assert_eq!(rules.len(), 40);
    assert!(rules[..30].iter().all(|r| *r == "ssh.root-login"));
    assert!(rules[30..].iter().all(|r| *r == "ssh.x11"));
}

#[test]
fn a_host_row_that_cannot_be_read_is_an_error_not_a_shorter_report() {
    let held = fleet(5);
    let rows = held.hosts.held().unwrap().to_vec();
    let mut broken = held.clone();
    broken.hosts = model::HostRows::Source(Arc::new(Broken(rows, 3)));
    for format in [Format::Markdown, Format::Html, Format::Json] {
        let err = report(&broken, format).unwrap_err().to_string();
        assert!(
            err.contains("host row 3") && err.contains("gone"),
            "{format:?}: {err}"
        );
    }
}

#[test]
fn the_oscal_document_id_streamed_is_the_uuid_of_the_joined_digests() {
    use super::oscal::DocId;
    let ds: Vec<_> = (0..3u8).map(|i| sha256_digest(&[i])).collect();
    let joined = ds
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let ns = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, b"https://evident.dev/oscal/v1");
    let want = uuid::Uuid::new_v5(&ns, format!("assessment-results\n{joined}").as_bytes());
    let mut id = DocId::default();
    for d in &ds {
        id.add(d);
    }
    assert_eq!(id.finish(), want.to_string());
    let empty = uuid::Uuid::new_v5(&ns, b"assessment-results\n");
    assert_eq!(DocId::default().finish(), empty.to_string());
}

#[test]
fn oscal_observations_streamed_one_at_a_time_are_the_pretty_printed_document() {
    use super::oscal::{write, OscalHost, Parts};
    use evident_core::bundle::IndexEntry;
    let r = fleet(4);
    let at = t("2026-11-01T00:00:00Z");
    let entries: Vec<IndexEntry> = (0..4)
        .flat_map(|h| {
            (1..=3u64).map(move |seq| IndexEntry {
                agent: format!("agent-{h:02}"),
                sequence: seq,
                envelope: sha256_digest(format!("{h} {seq}").as_bytes()),
                path: format!("envelopes/agent-{h:02}/{seq}.json"),
                collected_at: at,
                received_at: at,
                results: sha256_digest(b"r"),
            })
        })
        .collect();
    let hosts = (0..3)
        .map(|h| {
            (
                format!("agent-{h:02}"),
                OscalHost {
                    hostname: format!("web <{h}>"),
                    interval: 3600,
                },
            )
        })
        .collect();
    let atts = r.controls[0].attestations.clone();
    let parts = Parts {
        report: &r,
        hosts,
        covering: BTreeMap::from([(
            "A.8.5".to_string(),
            ["agent-00".to_string()].into_iter().collect(),
        )]),
        latest: BTreeMap::from([("agent-00".to_string(), entries[2].envelope)]),
        attestations: &atts,
        policies: &[],
        first: Some(at),
        now: at,
        statements: entries.len(),
        doc_id: "00000000-0000-5000-8000-000000000000".into(),
    };
    let mut out = Vec::new();
    write(
        &parts,
        &mut |each| entries.iter().try_for_each(&mut *each),
        &mut out,
    )
    .unwrap();
    // Parsed and printed whole, the document is the same bytes.
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let mut again = serde_json::to_vec_pretty(&doc).unwrap();
    again.push(b'\n');
    assert!(again == out, "{}", String::from_utf8_lossy(&out));
    let obs = doc["assessment-results"]["results"][0]["observations"]
        .as_array()
        .unwrap();
    assert_eq!(obs.len(), 12 + atts.len());
    // The fourth agent is no host of the map: titled by its agent id.
    assert_eq!(obs[0]["title"], "Evidence from web <0>, sequence 1");
    assert_eq!(obs[9]["title"], "Evidence from agent-03, sequence 1");
    // A source that fails mid-way fails the document.
    let err = write(
        &parts,
        &mut |each| {
            each(&entries[0])?;
            Err(std::io::Error::other("store gone"))
        },
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("store gone"));
}
