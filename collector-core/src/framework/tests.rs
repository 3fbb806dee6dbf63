use super::attributes::{self, Attributes};
use super::isms;
use super::*;
use crate::catalog::Catalog;
use crate::report::{AttestationRef, ControlRow, Report};
use std::collections::BTreeMap;

fn src(name: &str, text: &str) -> MappingSource {
    MappingSource {
        name: name.into(),
        bytes: text.as_bytes().to_vec(),
    }
}

fn load(extra: &[MappingSource]) -> Result<FrameworkSet, MappingErrors> {
    let mut all = embedded_sources();
    all.extend(extra.iter().cloned());
    FrameworkSet::load(&all, Catalog::annex_a())
}

fn errors(extra: &[MappingSource]) -> Vec<String> {
    match load(extra) {
        Ok(_) => panic!("loaded"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

/// The counts the provenance headers state: CSF 2.0 has 6 functions,
/// 22 categories and 106 subcategories; the SP 800-53 workbook maps 220 of
/// its 1189 controls (1189 − 969 unmapped; 171 + 49 titles) in 643
/// non-empty reference cells (Annex A pairs plus clause references).
#[test]
fn embedded_mappings_load_with_the_counts_of_their_headers() {
    let set = FrameworkSet::embedded();
    assert_eq!(set.ids(), vec!["nist-csf-2.0", "nist-sp800-53r5"]);
    let csf = set.get("nist-csf-2.0").unwrap();
    let level = |l: &str| {
        csf.requirements
            .iter()
            .filter(|r| r.level.as_deref() == Some(l))
            .count()
    };
    assert_eq!(
        (level("function"), level("category"), level("subcategory")),
        (6, 22, 106)
    );
    assert!(model::NIST_CSF_2_0.contains("Elements at all three CSF levels"));
    let sp = set.get("nist-sp800-53r5").unwrap();
    assert!(model::NIST_SP800_53R5.contains("it lists 1189 SP 800-53 Rev. 5 controls"));
    assert!(model::NIST_SP800_53R5.contains("the 969 controls with no"));
    assert!(model::NIST_SP800_53R5.contains("(171 controls)"));
    assert!(model::NIST_SP800_53R5.contains("(49 controls)"));
    assert_eq!(sp.requirements.len(), 1189 - 969);
    assert_eq!(sp.requirements.len(), 171 + 49);
    let cells: usize = sp
        .requirements
        .iter()
        .map(|r| r.annex_a.len() + r.clauses.len())
        .sum();
    assert!(model::NIST_SP800_53R5.contains("643 non-empty 'Reference Document Element' cells"));
    assert_eq!(cells, 643);
    // NIST gives no relationship: every pair is the default `intersects`.
    for f in set.frameworks() {
        for r in &f.requirements {
            for p in &r.annex_a {
                assert_eq!(p.relationship, Relationship::Intersects);
                assert!(!p.stated);
            }
        }
    }
    // Levels and clause references are kept.
    let oc3 = csf.get("GV.OC-03").unwrap();
    assert_eq!(oc3.parent.as_deref(), Some("GV.OC"));
    assert_eq!(oc3.clauses, vec!["4.2(a)", "4.2(b)"]);
    let ids: Vec<&str> = oc3.annex_a.iter().map(|p| p.control.as_str()).collect();
    assert_eq!(ids, vec!["A.5.20", "A.5.31"]);
    assert_eq!(
        csf.files[0].sha256,
        crate::sha256_digest(model::NIST_CSF_2_0.as_bytes()).to_string()
    );
    // Cross-references of a control in every framework.
    let x = set.cross_references("A.5.31");
    assert!(x["nist-csf-2.0"].contains(&"GV.OC-03".to_string()));
    assert!(x["nist-sp800-53r5"].contains(&"AC-1".to_string()));
    assert_eq!(set.all_cross_references()["A.5.31"], x);
}

const CIS: &str = "# framework: cis-controls-v8\n# title: CIS Critical Security Controls v8 (made-up fixture)\nCIS Control,CIS Safeguard,Asset Type,Security Function,Title,Relationship,ISO/IEC 27001:2022 Control\n4,4.1,Applications,Protect,Secure configuration process,Subset,A.8.9\n4,4.1,Applications,Protect,Secure configuration process,Intersects,A.8.5\n5,5.2,Users,Protect,Use unique passwords,Subset,A.5.17\n8,8.2,Network,Detect,Collect audit logs,Equivalent,A.8.15\n17,17.1,N/A,Respond,Designate incident personnel,,\n";

#[test]
fn a_cis_layout_csv_loads() {
    let set = load(&[src("cis.csv", CIS)]).unwrap();
    let cis = set.get("cis-controls-v8").unwrap();
    assert_eq!(
        cis.title,
        "CIS Critical Security Controls v8 (made-up fixture)"
    );
    let ids: Vec<&str> = cis.requirements.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["4.1", "5.2", "8.2", "17.1"]);
    let r41 = cis.get("4.1").unwrap();
    assert_eq!(r41.parent.as_deref(), Some("4"));
    assert_eq!(r41.annex_a.len(), 2);
    assert_eq!(r41.annex_a[0].relationship, Relationship::Subset);
    assert_eq!(r41.annex_a[0].from, "cis.csv:4");
    assert_eq!(r41.annex_a[1].from, "cis.csv:5");
    assert_eq!(
        cis.get("8.2").unwrap().annex_a[0].relationship,
        Relationship::Equal
    );
    assert!(cis.get("17.1").unwrap().annex_a.is_empty());
    assert_eq!(
        set.cross_references("A.8.9")["cis-controls-v8"],
        vec!["4.1"]
    );
}

#[test]
fn a_refining_file_states_relationships_of_loaded_pairs() {
    let refine = "# refines: nist-csf-2.0\nelement,control,relationship\nGV.OC-03,A.5.31,subset\n";
    let set = load(&[src("refine.csv", refine)]).unwrap();
    let csf = set.get("nist-csf-2.0").unwrap();
    let p = &csf.get("GV.OC-03").unwrap().annex_a;
    assert_eq!(p[1].control, "A.5.31");
    assert_eq!(p[1].relationship, Relationship::Subset);
    assert!(p[1].stated);
    assert_eq!(p[0].relationship, Relationship::Intersects);
    assert_eq!(csf.files.len(), 2);
    assert_eq!(csf.files[1].refines.as_deref(), Some("nist-csf-2.0"));
    // The same in TOML.
    let toml = "[framework]\nrefines = \"nist-csf-2.0\"\n\n[[requirement]]\nid = \"GV.OC-03\"\nrelationship = \"equal\"\nannex_a = [\"A.5.20\"]\n";
    let set = load(&[src("refine.toml", toml)]).unwrap();
    let p = &set
        .get("nist-csf-2.0")
        .unwrap()
        .get("GV.OC-03")
        .unwrap()
        .annex_a;
    assert_eq!(p[0].relationship, Relationship::Equal);
}

#[test]
fn bad_mapping_files_are_refused_with_file_and_line() {
    let e = errors(&[src(
        "bad.csv",
        "# framework: x\nelement,control\n1.1,A.5.1\n1.2,A.9.9\n",
    )]);
    assert_eq!(
        e,
        vec!["bad.csv:4: unknown Annex A control `A.9.9` (ids are written A.5.1 … A.8.34)"]
    );
    let e = errors(&[src(
        "dup.csv",
        "# framework: x\nelement,control,relationship\n1.1,A.5.1,subset\n1.2,A.5.2,equal\n1.1,A.5.1,subset\n",
    )]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("dup.csv:5: pair (1.1, A.5.1) is given twice (first at dup.csv:3)"),
        "{e:?}"
    );
    let e = errors(&[src(
        "rel.csv",
        "# framework: x\nelement,control,relationship\n1.1,A.5.1,overlaps\n",
    )]);
    assert_eq!(
        e,
        vec!["rel.csv:3: unknown relationship `overlaps` (equal, subset, superset, intersects)"]
    );
    let e = errors(&[src(
        "elem.csv",
        "# refines: nist-csf-2.0\nelement,control,relationship\nGV.OC-03,A.5.31,subset\nGV.XX-99,A.5.1,subset\n",
    )]);
    assert_eq!(
        e,
        vec!["elem.csv:4: unknown element `GV.XX-99` of framework `nist-csf-2.0`"]
    );
    let e = errors(&[src(
        "fw.csv",
        "# refines: cis-v9\nelement,control,relationship\n1.1,A.5.1,subset\n",
    )]);
    assert!(
        e[0].starts_with("fw.csv:1: unknown framework `cis-v9`"),
        "{e:?}"
    );
    // Two refinements of the same pair.
    let r = "# refines: nist-csf-2.0\nelement,control,relationship\nGV.OC-03,A.5.31,subset\n";
    let e = errors(&[src("a.csv", r), src("b.csv", r)]);
    assert_eq!(
        e,
        vec!["b.csv:3: pair (GV.OC-03, A.5.31) is given twice (first at a.csv:3)"]
    );
    // TOML: the line of the offending value.
    let toml = "[framework]\nid = \"t\"\ntitle = \"T\"\n\n[[requirement]]\nid = \"R1\"\nannex_a = [\n  \"A.5.1\",\n  \"A.5.99\",\n]\n\n[[requirement]]\nid = \"R1\"\nrelationship = \"sort-of\"\n";
    let e = errors(&[src("t.toml", toml)]);
    assert_eq!(
        e,
        vec![
            "t.toml:9: unknown Annex A control `A.5.99` (ids are written A.5.1 … A.8.34)",
            "t.toml:13: element `R1` is listed twice in this file",
        ]
    );
    let toml = "[framework]\nid = \"t\"\ntitle = \"T\"\n[[requirement]]\nid = \"R1\"\nrelationship = \"sort-of\"\nclauses = [\"11.2\"]\n";
    let e = errors(&[src("t.toml", toml)]);
    assert_eq!(
        e,
        vec!["t.toml:6: unknown relationship `sort-of` (equal, subset, superset, intersects)"]
    );
    let toml = "[framework]\nid = \"t\"\ntitle = \"T\"\n[[requirement]]\nid = \"R1\"\nclauses = [\"4.1\", \"11.2\"]\n";
    let e = errors(&[src("t.toml", toml)]);
    assert!(
        e[0].starts_with("t.toml:6: `11.2` is not an ISO/IEC 27001:2022 clause"),
        "{e:?}"
    );
    // A framework defined twice, a syntax error, a missing header.
    let e = errors(&[src(
        "again.csv",
        "# framework: nist-csf-2.0\nelement,control\n1,A.5.1\n",
    )]);
    assert!(
        e[0].contains("framework `nist-csf-2.0` is defined twice"),
        "{e:?}"
    );
    let e = errors(&[src(
        "s.toml",
        "[framework]\nid = \"t\"\ntitle = \"T\"\n[[requirement]\n",
    )]);
    assert!(e[0].starts_with("s.toml:4: "), "{e:?}");
    let e = errors(&[src("h.csv", "element,control\n1,A.5.1\n")]);
    assert!(
        e[0].starts_with("h.csv:1: missing a `# framework: <id>`"),
        "{e:?}"
    );
}

fn row(id: &str, status: &str) -> ControlRow {
    let c = Catalog::annex_a().get(id).unwrap();
    ControlRow {
        id: c.id.clone(),
        title: c.title.clone(),
        theme: c.theme,
        status: status.into(),
        hosts: BTreeMap::new(),
        rules: Vec::new(),
        failures: Vec::new(),
        waivers: Vec::new(),
        attestations: Vec::new(),
        oldest_evidence: None,
    }
}

fn report(statuses: &[(&str, &str)]) -> Report {
    let mut r = crate::report::build(
        Catalog::annex_a(),
        &[],
        &[],
        "2026-11-27T12:00:00Z".parse().unwrap(),
    );
    for (id, s) in statuses {
        let i = r.controls.iter().position(|c| c.id == *id).unwrap();
        r.controls[i] = row(id, s);
    }
    r
}

fn fw(text: &str) -> Framework {
    let set = FrameworkSet::load(&[src("f.csv", text)], Catalog::annex_a()).unwrap();
    set.frameworks()[0].clone()
}

/// The worked example of docs/frameworks.md.
#[test]
fn derivation_never_claims_more_than_the_weakest_evidence() {
    let f = fw("# framework: ex\nelement,control,relationship\n\
        R1,A.8.5,subset\n\
        R2,A.8.5,intersects\n\
        R3,A.8.5,subset\nR3,A.8.9,intersects\n\
        R4,A.8.5,equal\nR4,A.8.15,intersects\n\
        R5,A.5.1,intersects\n\
        R6,,\n\
        R7,A.7.4,equal\n\
        R8,A.8.8,superset\n");
    let r = report(&[
        ("A.8.5", "satisfied"),
        ("A.8.9", "no-evidence"),
        ("A.8.15", "partial"),
        ("A.5.1", "not-automated"),
        ("A.7.4", "not-applicable"),
        ("A.8.8", "attested"),
    ]);
    let out = derive(&f, &r, &[]);
    let st: Vec<(&str, &str)> = out
        .requirements
        .iter()
        .map(|r| (r.id.as_str(), r.status.as_str()))
        .collect();
    assert_eq!(
        st,
        vec![
            ("R1", "satisfied"),
            ("R2", "supported"),
            ("R3", "supported"),
            ("R4", "not-satisfied"),
            ("R5", "no-evidence"),
            ("R6", "no-evidence"),
            ("R7", "not-applicable"),
            ("R8", "supported"),
        ]
    );
    assert_eq!(out.gaps, vec!["R5", "R6"]);
    assert_eq!(out.counts["supported"], 3);
    assert!(out.requirements[1].reason.contains("supports only"));
    assert!(out.requirements[2].reason.contains("no evidence for A.8.9"));
    assert!(out.requirements[3]
        .reason
        .contains("failing evidence on A.8.15"));
}

fn att(control: &str, signed: &str, expires: &str, docs: bool) -> AttestationRef {
    AttestationRef {
        id: format!("sha256:{control}{signed}"),
        control: control.into(),
        statement: "done".into(),
        attester: "ciso".into(),
        signed_at: signed.parse().unwrap(),
        expires: expires.parse().unwrap(),
        evidence: if docs {
            vec![("doc.pdf".into(), "sha256:00".into())]
        } else {
            Vec::new()
        },
        current: true,
    }
}

#[test]
fn isms_checklist_present_expired_missing_and_clause_support() {
    let now = "2026-11-27T12:00:00Z".parse().unwrap();
    let mut old = att("9.2", "2025-10-01T00:00:00Z", "2027-12-31", true);
    old.id = "sha256:old".into();
    let mut expired = att("5.2", "2026-01-01T00:00:00Z", "2026-06-30", true);
    expired.current = false;
    let rows = isms::checklist(
        &[
            att("4.3", "2026-02-01T00:00:00Z", "2027-02-01", true),
            old,
            expired,
            att("8.2", "2026-03-01T00:00:00Z", "2027-03-01", true),
        ],
        now,
    );
    assert_eq!(rows.len(), isms::CHECKLIST.len());
    let get = |id: &str| rows.iter().find(|r| r.id == id).unwrap();
    assert_eq!(get("4.3").status, "present");
    assert_eq!(get("4.3").current.as_ref().unwrap().attester, "ciso");
    // Signed more than a year ago: the yearly internal audit is due again.
    assert_eq!(get("9.2").status, "expired");
    assert_eq!(get("5.2").status, "expired");
    assert_eq!(get("9.3").status, "missing");
    assert_eq!(get("8.2").status, "present");
    assert!(isms::evidences("6.1.2", "6.1"));
    assert!(!isms::evidences("6.1.2", "6.1.1"));
    assert!(!isms::evidences("10.2", "1"));
    // A clause-only requirement is supported (never satisfied) by a document.
    let f = fw("# framework: ex\nelement,control,clause\nC1,,8.2\nC2,,9.3\n");
    let out = derive(&f, &report(&[]), &rows);
    assert_eq!(out.requirements[0].status, "supported");
    assert_eq!(out.requirements[0].documents, vec!["8.2"]);
    assert_eq!(out.requirements[1].status, "no-evidence");
}

fn attributes_text(skip: Option<&str>, extra: &str) -> String {
    let mut t = String::new();
    for (i, c) in Catalog::annex_a().controls().iter().enumerate() {
        if Some(c.id.as_str()) == skip {
            continue;
        }
        // Made-up values (not ISO's table): the schema is what is tested.
        let ty = ["#Preventive", "#Detective", "#Corrective"][i % 3];
        t.push_str(&format!(
            "[[control]]\nid = \"{}\"\ncontrol_type = [\"{ty}\"]\nproperties = [\"#Availability\"]\nconcepts = [\"#Protect\"]\ncapabilities = [\"#Governance\"]\ndomains = [\"#Protection\"]\n\n",
            c.id
        ));
    }
    t.push_str(extra);
    t
}

#[test]
fn attribute_files_are_validated() {
    let a = Attributes::parse("a.toml", &attributes_text(None, ""), Catalog::annex_a()).unwrap();
    assert!(a.has("A.5.2", "#Detective"));
    assert!(!a.has("A.5.1", "#Detective"));
    assert_eq!(a.values("A.5.3", "control_type"), vec!["#Corrective"]);
    assert_eq!(attributes::canonical("detective"), Some("#Detective"));
    assert_eq!(attributes::type_of("#Availability"), Some("properties"));
    let e = Attributes::parse(
        "a.toml",
        &attributes_text(Some("A.8.34"), ""),
        Catalog::annex_a(),
    )
    .unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e[0].to_string()
            .contains("missing 1 of the 93 Annex A controls: A.8.34"),
        "{}",
        e[0]
    );
    let extra = "[[control]]\nid = \"A.8.35\"\ncontrol_type = [\"#Preventive\"]\n";
    let text = attributes_text(None, extra);
    let line = text.lines().count() - 1;
    let e = Attributes::parse("a.toml", &text, Catalog::annex_a()).unwrap_err();
    assert_eq!(
        e[0].to_string(),
        format!("a.toml:{line}: unknown Annex A control `A.8.35` (ids are written A.5.1 … A.8.34)")
    );
    let text = attributes_text(None, "").replacen("#Availability", "#Durability", 1);
    let e = Attributes::parse("a.toml", &text, Catalog::annex_a()).unwrap_err();
    assert!(
        e[0].to_string()
            .starts_with("a.toml:4: unknown properties value `#Durability`"),
        "{}",
        e[0]
    );
    let dup = attributes_text(
        None,
        attributes_text(None, "").split("\n\n").next().unwrap(),
    );
    let e = Attributes::parse("a.toml", &dup, Catalog::annex_a()).unwrap_err();
    assert!(
        e[0].to_string().contains("element `A.5.1` is listed twice"),
        "{}",
        e[0]
    );
}
