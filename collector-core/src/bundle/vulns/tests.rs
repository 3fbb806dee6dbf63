//! Tests of the offline re-match and the first-seen checks.

use super::super::*;
use crate::catalog::Catalog;
use crate::digest::sha256_digest;
use crate::dsse::{self, Envelope};
use crate::evidence::{
    AgentInfo, Evidence, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule, Statement,
    PAYLOAD_TYPE,
};
use crate::policy::{evaluate, PolicySet, PolicySource};
use crate::vuln::basis::{rfc3339_ms, with_vulns, FirstSeenRef, VulnBasis};
use crate::vuln::feed::parse_debian_tracker;
use crate::vuln::subset::{subset_path, Needs, SnapshotSubset};
use crate::vuln::{Inventory, Release};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::collections::BTreeMap;

const POLICY: &str = r#"
[policy]
id = "vulns"
version = "1"
title = "Patch SLA"

[[rule]]
id = "vulns.sla"
title = "No fixable CVE open for more than 14 days"
controls = ["A.8.8"]
severity = "high"
requires = ["vulns"]
known_when = 'vulns.matched'
check = '!vulns.open.exists(v, v.fix_available && v.age_days > 14)'
"#;

const TRACKER: &str = r#"{
  "inetutils": {"CVE-2026-24061": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "2:2.4-2+deb12u4", "urgency": "high"}}}},
  "zlib": {"CVE-2023-45853": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}}
}"#;

const PACKAGES: &str = r#"{"manager": "dpkg", "inventory_collected": true, "os_id": "debian",
  "os_version_id": "12", "os_codename": "bookworm", "kernel_running": null,
  "inventory": [{"name": "inetutils-telnetd", "version": "2:2.4-2+deb12u3", "arch": "amd64",
                 "source": "inetutils", "source_version": "2:2.4-2+deb12u3"},
                {"name": "bash", "version": "5.2.15-2+b2", "arch": "amd64",
                 "source": "bash", "source_version": "5.2.15-2"}]}"#;

struct Built {
    members: BTreeMap<String, Vec<u8>>,
    snapshot: Digest,
}

fn signer() -> dsse::Signer {
    dsse::Signer::from_seed(&[7u8; 32])
}

fn sign(seq: u64, at: &str, previous: Option<Digest>) -> (Vec<u8>, Statement) {
    let predicate = Predicate {
        agent: AgentInfo {
            id: "agt_w".into(),
            version: "0.1.0".into(),
        },
        host: HostFacts {
            hostname: "web-1".into(),
            os_family: "linux".into(),
            ..HostFacts::default()
        },
        sequence: seq,
        previous,
        gap: None,
        collected_at: at.parse().unwrap(),
        schedule: Schedule {
            cron: "0 0 * * * *".into(),
            interval_seconds: 86_400,
        },
        probes: vec![ProbeEntry {
            id: "packages".into(),
            version: 3,
            status: ProbeStatus::Ok,
            duration_us: 1,
            digest: Some(sha256_digest(PACKAGES.as_bytes())),
            reason: None,
        }],
    };
    let env = signer()
        .sign_envelope(PAYLOAD_TYPE, Statement::new(predicate).to_bytes())
        .to_json();
    let st = Statement::from_bytes(&Envelope::from_json(&env).unwrap().payload).unwrap();
    (env, st)
}

/// One host, two statements 19 days apart, both matched against the
/// tracker with the CVE first seen in the first; sealed.
fn build() -> Built {
    let full = parse_debian_tracker(TRACKER.as_bytes(), "t.json").unwrap();
    let snapshot = sha256_digest(TRACKER.as_bytes());
    let set = PolicySet::load(&[PolicySource::new("v.toml", POLICY)], Catalog::annex_a()).unwrap();
    let mut members = BTreeMap::new();
    let mut index = Index::default();
    let (env1, st1) = sign(1, "2026-11-01T08:00:00Z", None);
    let d1 = sha256_digest(&env1);
    let (env2, st2) = sign(2, "2026-11-20T08:00:00Z", Some(d1));
    let first = FirstSeenRef {
        cve: "CVE-2026-24061".into(),
        source_package: "inetutils".into(),
        at: rfc3339_ms(st1.predicate.collected_at),
        sequence: 1,
        statement: d1,
    };
    for (seq, env, st) in [(1, env1, st1), (2, env2, st2)] {
        let basis = VulnBasis {
            snapshot,
            source: "t.json".into(),
            format: "debian-tracker".into(),
            imported_at: "2026-10-01T00:00:00.000Z".into(),
            first_seen: vec![first.clone()],
        };
        let ev = Evidence::from_statement(&st, |_| Some(PACKAGES.as_bytes())).unwrap();
        let ev = with_vulns(ev, &full, &basis);
        let mut rec = RecordedResults::from_evaluation(evaluate(&set, &ev));
        rec.vulns = Some(basis);
        let bytes = serde_json::to_vec(&rec).unwrap();
        let rd = sha256_digest(&bytes);
        members.insert(results_path(&rd), bytes);
        crate::bundle::tests::file_statement(&mut members, &mut index, "agt_w", seq, env, &st, rd);
    }
    members.insert(
        blob_path(&sha256_digest(PACKAGES.as_bytes())),
        PACKAGES.as_bytes().to_vec(),
    );
    let mut needs = Needs::default();
    needs.add(&Inventory::from_probe(&serde_json::from_str(PACKAGES).unwrap()).unwrap());
    let subset = SnapshotSubset::extract(&full, &needs, snapshot, "t.json", "x");
    members.insert(subset_path(&snapshot), serde_json::to_vec(&subset).unwrap());
    members.insert(
        agent_path("agt_w"),
        serde_json::to_vec(&AgentEntry {
            id: "agt_w".into(),
            key_id: signer().key_id().to_string(),
            public_key: B64.encode(signer().verifying_key().as_bytes()),
            hostname: "web-1".into(),
            agent_version: "0.1.0".into(),
            status: "active".into(),
            enrolled_at: "2026-10-01T00:00:00Z".parse().unwrap(),
        })
        .unwrap(),
    );
    members.insert("policies/000-v.toml".into(), POLICY.as_bytes().to_vec());
    members.insert(
        POLICY_INDEX_PATH.into(),
        serde_json::to_vec(&vec![PolicyFileEntry {
            name: "v.toml".into(),
            path: "policies/000-v.toml".into(),
            sha256: sha256_digest(POLICY.as_bytes()),
            kind: PolicyKind::Policy,
        }])
        .unwrap(),
    );
    set_index(&mut members, &index);
    reseal(&mut members);
    Built { members, snapshot }
}

fn reseal(members: &mut BTreeMap<String, Vec<u8>>) {
    seal(
        members,
        &dsse::Signer::from_seed(&[99u8; 32]),
        "2026-11-21T00:00:00Z".parse().unwrap(),
        "test",
        Scope::default(),
    );
}

fn failures(r: &Report) -> Vec<String> {
    r.failures()
        .map(|f| format!("[{}] {}: {}", f.kind, f.subject, f.message))
        .collect()
}

fn edit_subset(b: &mut Built, f: impl FnOnce(&mut SnapshotSubset)) {
    let path = subset_path(&b.snapshot);
    let mut s: SnapshotSubset = serde_json::from_slice(&b.members[&path]).unwrap();
    f(&mut s);
    b.members.insert(path, serde_json::to_vec(&s).unwrap());
    reseal(&mut b.members);
}

fn edit_results(b: &mut Built, seq: u64, f: impl Fn(&mut RecordedResults)) {
    let mut index = read_index(&b.members);
    let e = index
        .statements
        .iter_mut()
        .find(|e| e.sequence == seq)
        .unwrap();
    let mut rec: RecordedResults =
        serde_json::from_slice(&b.members[&results_path(&e.results)]).unwrap();
    f(&mut rec);
    let bytes = serde_json::to_vec(&rec).unwrap();
    e.results = sha256_digest(&bytes);
    b.members.insert(results_path(&e.results), bytes);
    set_index(&mut b.members, &index);
    reseal(&mut b.members);
}

#[test]
fn vulnerability_results_re_match_offline_and_first_seen_is_confirmed() {
    let b = build();
    let r = verify(&b.members, &mut |_, _| {});
    assert!(r.ok, "{:?}", failures(&r));
    assert_eq!(r.checked.results_confirmed, 2);
    assert_eq!(r.checked.vulns_confirmed, 2);
    assert_eq!(r.checked.first_seen_confirmed, 1);
    // The second statement's rule really failed (19 days > 14).
    let index = read_index(&b.members);
    let rec: RecordedResults =
        serde_json::from_slice(&b.members[&results_path(&index.statements[1].results)]).unwrap();
    assert_eq!(rec.rules[0].status, crate::policy::RuleStatus::Fail);
}

#[test]
fn a_tampered_or_missing_subset_fails_naming_host_sequence_and_cve() {
    let bw = Release::new("debian", "bookworm");
    let mut b = build();
    edit_subset(&mut b, |s| {
        s.index
            .releases
            .get_mut(&bw)
            .unwrap()
            .packages
            .remove("inetutils");
    });
    let r = verify(&b.members, &mut |_, _| {});
    let f = failures(&r);
    assert!(!r.ok);
    assert!(
        f.iter()
            .any(|m| m.contains("host web-1 (agent agt_w) sequence 2")
                && m.contains("CVE-2026-24061 in inetutils")
                && m.contains("recorded fail, re-evaluated pass")),
        "{f:#?}"
    );
    assert!(
        f.iter().any(|m| m.contains("sequence 1")
            && m.contains("cited as first seen")
            && m.contains("does not match that CVE")),
        "{f:#?}"
    );
    // The package dropped from `wanted` too: the subset does not cover it.
    let mut b = build();
    edit_subset(&mut b, |s| {
        s.index
            .releases
            .get_mut(&bw)
            .unwrap()
            .packages
            .remove("inetutils");
        s.wanted.get_mut(&bw).unwrap().remove("inetutils");
    });
    let f = failures(&verify(&b.members, &mut |_, _| {}));
    assert!(
        f.iter()
            .any(|m| m.contains("does not cover") && m.contains("inetutils")),
        "{f:#?}"
    );
    // Entries smuggled in for a package nobody looked up.
    let mut b = build();
    edit_subset(&mut b, |s| {
        s.wanted.get_mut(&bw).unwrap().remove("inetutils");
    });
    let f = failures(&verify(&b.members, &mut |_, _| {}));
    assert!(
        f.iter().any(|m| m.contains("does not list as looked up")),
        "{f:#?}"
    );
    // No subset at all: once per host, naming the snapshot.
    let mut b = build();
    b.members.remove(&subset_path(&b.snapshot));
    reseal(&mut b.members);
    let f = failures(&verify(&b.members, &mut |_, _| {}));
    assert_eq!(f.len(), 1, "{f:#?}");
    assert!(
        f[0].contains("does not include") && f[0].contains("web-1"),
        "{f:#?}"
    );
}

#[test]
fn a_forged_first_sighting_fails() {
    // Backdated (the age would pass a stricter SLA): the cited time is
    // not the cited statement's collection time.
    let mut b = build();
    edit_results(&mut b, 2, |r| {
        if let Some(v) = r.vulns.as_mut() {
            v.first_seen[0].at = "2026-10-01T08:00:00.000Z".into();
        }
    });
    let f = failures(&verify(&b.members, &mut |_, _| {}));
    assert!(
        f.iter()
            .any(|m| m.contains("cited as first seen at 2026-10-01")),
        "{f:#?}"
    );
    // Another statement's digest at the cited sequence.
    let mut b = build();
    edit_results(&mut b, 2, |r| {
        if let Some(v) = r.vulns.as_mut() {
            v.first_seen[0].statement = sha256_digest(b"forged");
        }
    });
    let f = failures(&verify(&b.members, &mut |_, _| {}));
    assert!(
        f.iter()
            .any(|m| m.contains("but the bundle's statement at that sequence is")),
        "{f:#?}"
    );
    // A CVE recorded open that the inventory does not match.
    let mut b = build();
    edit_results(&mut b, 2, |r| {
        if let Some(v) = r.vulns.as_mut() {
            let mut extra = v.first_seen[0].clone();
            extra.cve = "CVE-2023-45853".into();
            extra.source_package = "zlib".into();
            v.first_seen.push(extra);
        }
    });
    let f = failures(&verify(&b.members, &mut |_, _| {}));
    assert!(
        f.iter()
            .any(|m| m.contains("recorded open but not re-matched: CVE-2023-45853 in zlib")),
        "{f:#?}"
    );
}

/// Export after the first sighting: statement 1 is out of the bundle,
/// left as nothing (before the period) or as a chain stub (`stub`).
fn without_the_first_sighting(stub: Option<Digest>) -> Built {
    let mut b = build();
    let mut index = read_index(&b.members);
    let first = index.statements.remove(0);
    assert_eq!(first.sequence, 1);
    b.members.remove(&first.path);
    if first.results != index.statements[0].results {
        b.members.remove(&results_path(&first.results));
    }
    if let Some(envelope) = stub {
        use super::super::pruned::{stubs_path, ChainStubEntry, PrunedRun, PRUNED_RUNS_PATH};
        let at: chrono::DateTime<chrono::Utc> = "2026-11-15T00:00:00Z".parse().unwrap();
        let run = PrunedRun {
            id: 1,
            at,
            keep_days: 7,
            cutoff: at,
            policy: "keep 7 days".into(),
        };
        let stub = ChainStubEntry {
            sequence: 1,
            envelope,
            previous: None,
            collected_at: first.collected_at,
            run: 1,
        };
        b.members.insert(
            PRUNED_RUNS_PATH.into(),
            serde_json::to_vec(&vec![run]).unwrap(),
        );
        b.members.insert(
            stubs_path("agt_w"),
            serde_json::to_vec(&vec![stub]).unwrap(),
        );
    }
    set_index(&mut b.members, &index);
    reseal(&mut b.members);
    b
}

#[test]
fn first_seen_citations_outside_the_bundle_are_counted_and_said() {
    use super::super::tests::{general_report, ordered_report};
    let d1 = read_index(&build().members).statements[0].envelope;
    // Before the period: nothing to check, counted and said.
    let b = without_the_first_sighting(None);
    let r = general_report(&b.members);
    assert!(r.ok, "{:?}", failures(&r));
    assert_eq!(r.checked.vulns_confirmed, 1);
    assert_eq!(r.checked.first_seen_confirmed, 0);
    assert_eq!(
        (r.checked.first_seen_outside, r.checked.first_seen_pruned),
        (1, 0)
    );
    let note = r.checked.first_seen_outside_note().unwrap();
    assert!(
        note.starts_with("1 first-seen citations point before the bundle's period or to pruned statements and were not re-checked (1 before the period; 0 at chain stubs"),
        "{note}"
    );
    assert_eq!(ordered_report(&b.members), r, "the ordered verifier agrees");
    // Pruned to a chain stub: counted as such, digest and time checked.
    let b = without_the_first_sighting(Some(d1));
    let r = general_report(&b.members);
    assert!(r.ok, "{:?}", failures(&r));
    assert_eq!(
        (r.checked.first_seen_outside, r.checked.first_seen_pruned),
        (1, 1)
    );
    assert_eq!(ordered_report(&b.members), r, "the ordered verifier agrees");
    // A stub of another statement at the cited sequence fails.
    let b = without_the_first_sighting(Some(sha256_digest(b"another")));
    let r = general_report(&b.members);
    let f = failures(&r);
    assert!(
        f.iter().any(|m| m.contains("sequence 1")
            && m.contains("but the bundle's chain stub of pruned sequence 1 is")),
        "{f:#?}"
    );
    assert_eq!(ordered_report(&b.members), r, "the ordered verifier agrees");
    // Inside the bundle: none outside, no note.
    let r = general_report(&build().members);
    assert_eq!(r.checked.first_seen_outside, 0);
    assert!(r.checked.first_seen_outside_note().is_none());
}
