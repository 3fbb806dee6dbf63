//! End-to-end: one evidence base, every framework (issue #17). A weak and a
//! hardened host (laid out from the agent's fixture roots) post evidence;
//! `report --framework` derives NIST CSF 2.0, SP 800-53 and a user's CIS
//! mapping from it; `isms` and `soa` show documented information attested
//! by digest; a verified bundle renders byte for byte what the database
//! does; bad mapping files are refused with file and line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_e2e::{bin, collect, request, Agent, Backend, Server};
use std::path::{Path, PathBuf};
use std::process::Command;

fn agent_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures")
}

fn mapping_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mappings")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            copy_tree(&e.path(), &dest);
        } else if ty.is_symlink() {
            let _ = std::fs::remove_file(&dest);
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A host root laid out from fixture roots, with its own host name.
fn root(name: &str, parts: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for p in parts {
        copy_tree(&agent_fixtures().join(p), dir.path());
    }
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/hostname"), format!("{name}\n")).unwrap();
    dir
}

const WEAK: &[&str] = &[
    "packages/debian12-weak",
    "accounts/debian12-weak",
    "network/weak",
    "logging/weak",
    "sshd/weak-legacy",
];
const HARDENED: &[&str] = &[
    "packages/debian12",
    "accounts/debian12",
    "kernel",
    "scheduled-jobs/debian",
    "sshd/debian12-hardened",
];

fn cli_out(server: &Server, args: &[&str]) -> (i32, String) {
    let d = server.dir.path().to_string_lossy().into_owned();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--dir", &d]);
    if let Some(pg) = &server.pg {
        all.extend(["--database", &pg.url]);
    }
    let out = Command::new(bin("evident-collector"))
        .args(&all)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn json(server: &Server, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    serde_json::from_str(&server.cli(&all)).unwrap()
}

fn requirement<'a>(r: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    r["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["id"] == id)
        .unwrap_or_else(|| panic!("{id} missing"))
}

async fn one_evidence_base_every_framework(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    for (name, parts) in [("weak-1", WEAK), ("hardened-1", HARDENED)] {
        let r = root(name, parts);
        let run = collect(r.path());
        let mut agent = Agent::new(name);
        agent.enroll(&server).await;
        let (env, _) = agent.sign_next(&run);
        let resp = server.post(&request(&env, &run, true)).await;
        assert_eq!(resp.status().as_u16(), 201);
    }
    let dir = server.dir.path();
    let maps = mapping_fixtures().to_string_lossy().into_owned();

    // NIST CSF 2.0 from the database, per host.
    let weak = json(
        &server,
        &["report", "--framework", "nist-csf-2.0", "--host", "weak-1"],
    );
    let hard = json(
        &server,
        &[
            "report",
            "--framework",
            "nist-csf-2.0",
            "--host",
            "hardened-1",
        ],
    );
    assert_eq!(weak["requirements"].as_array().unwrap().len(), 134);
    assert_eq!(weak["files"][0]["name"], "embedded:nist-csf-2.0.toml");
    // NIST's pairs are `intersects`: evidence supports, never satisfies.
    assert!(
        weak["counts"].get("satisfied").is_none(),
        "{}",
        weak["counts"]
    );
    assert!(
        hard["counts"].get("satisfied").is_none(),
        "{}",
        hard["counts"]
    );
    let aa03_weak = requirement(&weak, "PR.AA-03");
    let aa03_hard = requirement(&hard, "PR.AA-03");
    assert_eq!(aa03_weak["status"], "not-satisfied", "{aa03_weak}");
    assert_eq!(aa03_hard["status"], "supported", "{aa03_hard}");
    assert!(
        aa03_hard["reason"]
            .as_str()
            .unwrap()
            .contains("supports only"),
        "{aa03_hard}"
    );
    // Gap analysis: requirements with no evidence at all.
    let gaps: Vec<&str> = weak["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(gaps.contains(&"GV.OC-01"), "{gaps:?}");
    let md = server.cli(&["report", "--framework", "nist-csf-2.0", "--host", "weak-1"]);
    assert!(
        md.contains("## Derivation rule")
            && md.contains("## Gaps: no automated or attested evidence"),
        "{md}"
    );
    assert!(md.contains("| PR.AA-03 | subcategory |"), "{md}");
    // For the record (issue #17 acceptance): both renderings on disk.
    if let Ok(out) = std::env::var("EVIDENT_FRAMEWORKS_OUT") {
        let hard_md = server.cli(&[
            "report",
            "--framework",
            "nist-csf-2.0",
            "--host",
            "hardened-1",
        ]);
        std::fs::write(format!("{out}/csf-weak.md"), &md).unwrap();
        std::fs::write(format!("{out}/csf-hardened.md"), hard_md).unwrap();
    }
    let csv = server.cli(&[
        "report",
        "--framework",
        "nist-sp800-53r5",
        "--format",
        "csv",
    ]);
    assert_eq!(csv.lines().count(), 221, "{csv}");
    let html = server.cli(&["report", "--framework", "nist-csf-2.0", "--format", "html"]);
    assert!(html.starts_with("<!DOCTYPE html>") && !html.contains("<script"));
    let (code, out) = cli_out(&server, &["report", "--framework", "cis-controls-v8"]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("unknown framework `cis-controls-v8` (loaded: nist-csf-2.0, nist-sp800-53r5)"),
        "{out}"
    );

    // A user's CIS-layout CSV and a refinement of NIST's pairs.
    let cis = json(
        &server,
        &[
            "report",
            "--framework",
            "cis-controls-v8",
            "--mappings",
            &maps,
        ],
    );
    assert_eq!(cis["requirements"].as_array().unwrap().len(), 9);
    let refined = json(
        &server,
        &[
            "report",
            "--framework",
            "nist-csf-2.0",
            "--mappings",
            &maps,
            "--host",
            "hardened-1",
        ],
    );
    let aa03 = requirement(&refined, "PR.AA-03");
    let a85 = aa03["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["control"] == "A.8.5")
        .unwrap();
    assert_eq!(a85["relationship"], "subset");
    assert_eq!(a85["stated"], true);
    assert_eq!(refined["files"].as_array().unwrap().len(), 2);

    // ISMS documented information: attested by digest, with expiry.
    let key = dir.join("ciso.key");
    let k = key.to_string_lossy().into_owned();
    let out = evident_e2e::collector(&["attester", "keygen", "-o", &k]);
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("public key:"))
        .unwrap()
        .trim()
        .to_string();
    server.cli(&[
        "attester",
        "add",
        "--name",
        "ciso@example.com",
        "--public-key",
        &public,
    ]);
    let doc = dir.join("risk-assessment-2026.pdf");
    std::fs::write(&doc, b"%PDF-1.4 risk register").unwrap();
    let d = doc.to_string_lossy().into_owned();
    let (code, out) = cli_out(
        &server,
        &[
            "attest",
            "--control",
            "9.3",
            "--statement",
            "Management review held",
            "--key",
            &k,
            "--expires",
            "2099-12-31",
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("must reference the document"), "{out}");
    let out = server.cli(&[
        "attest",
        "--control",
        "8.2",
        "--statement",
        "Risk assessment redone and approved",
        "--evidence",
        &d,
        "--key",
        &k,
        "--expires",
        "2099-12-31",
    ]);
    assert!(out.contains("for 8.2 by ciso@example.com stored"), "{out}");
    let isms = json(&server, &["isms"]);
    let items = isms["items"].as_array().unwrap();
    let item = |id: &str| items.iter().find(|i| i["id"] == id).unwrap();
    assert_eq!(item("8.2")["status"], "present");
    assert_eq!(
        item("8.2")["current"]["evidence"][0][0],
        "risk-assessment-2026.pdf"
    );
    assert_eq!(item("9.3")["status"], "missing");
    // Clause-mapped requirements are supported (only) by the document.
    let csf = json(
        &server,
        &["report", "--framework", "nist-csf-2.0", "--host", "weak-1"],
    );
    let oc01 = requirement(&csf, "GV.OC-01");
    assert_eq!(oc01["status"], "supported", "{oc01}");
    assert_eq!(oc01["documents"][0], "8.2");

    // The SoA: cross-references in every loaded framework, and the checklist.
    let soa = json(&server, &["soa", "--mappings", &maps]);
    let a85 = soa
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "A.8.5")
        .unwrap();
    let x = &a85["cross_references"];
    assert_eq!(
        x["cis-controls-v8"],
        serde_json::json!(["4.1", "6.3"]),
        "{x}"
    );
    assert!(
        x["nist-csf-2.0"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "PR.AA-03"),
        "{x}"
    );
    assert!(x["nist-sp800-53r5"].as_array().is_some(), "{x}");
    let md = server.cli(&["soa"]);
    assert!(
        md.contains("## ISMS documented information (clauses 4–10)"),
        "{md}"
    );
    assert!(
        md.contains("| 8.2 | Risk assessment results (redone yearly) | present | ciso@example.com"),
        "{md}"
    );

    // The collector config's mapping_paths count like --mappings.
    let cfg = dir.join("config.toml");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = format!("mapping_paths = [\"{maps}\"]\n{text}");
    std::fs::write(&cfg, text).unwrap();
    let via_config = server.cli(&[
        "report",
        "--framework",
        "cis-controls-v8",
        "--format",
        "csv",
    ]);
    assert_eq!(via_config.lines().count(), 10, "{via_config}");

    // From a verified bundle: byte for byte what the database renders.
    let file = dir.join("evidence.bundle");
    let f = file.to_string_lossy().into_owned();
    server.cli(&["export", "-o", &f]);
    let key_id = evident_collector::review::collector_signer(dir)
        .unwrap()
        .key_id()
        .to_string();
    let (_, vj) = {
        let out = Command::new(bin("evident-collector"))
            .args(["verify", &f, "--trust", &key_id, "--format", "json"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let v: serde_json::Value = serde_json::from_str(vj.trim()).unwrap();
    let as_of = v["created_at"].as_str().unwrap().to_string();
    for fmt in ["markdown", "html", "json", "csv"] {
        for fwk in ["nist-csf-2.0", "cis-controls-v8"] {
            let db = server.cli(&[
                "report",
                "--framework",
                fwk,
                "--mappings",
                &maps,
                "--format",
                fmt,
                "--as-of",
                &as_of,
            ]);
            let from_bundle = server.cli(&[
                "report",
                "--framework",
                fwk,
                "--mappings",
                &maps,
                "--format",
                fmt,
                "--as-of",
                &as_of,
                "--bundle",
                &f,
                "--trust",
                &key_id,
            ]);
            assert!(!db.is_empty());
            assert_eq!(db, from_bundle, "report --framework {fwk} --format {fmt}");
        }
        let db = server.cli(&["isms", "--format", fmt, "--as-of", &as_of]);
        let from_bundle = server.cli(&[
            "isms", "--format", fmt, "--as-of", &as_of, "--bundle", &f, "--trust", &key_id,
        ]);
        assert_eq!(db, from_bundle, "isms --format {fmt}");
    }
    // Without the mapping, the bundle cannot render the CIS report: the
    // mappings are taken at review time, never guessed.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg).unwrap().replacen(
            &format!("mapping_paths = [\"{maps}\"]\n"),
            "",
            1,
        ),
    )
    .unwrap();
    let (code, out) = cli_out(
        &server,
        &[
            "report",
            "--framework",
            "cis-controls-v8",
            "--bundle",
            &f,
            "--trust",
            &key_id,
        ],
    );
    assert_eq!(code, 2, "{out}");

    // Bad mapping files are refused with file and line.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(
        bad.path().join("cis.csv"),
        "# framework: cis\nCIS Safeguard,Relationship,ISO/IEC 27001:2022 Control\n1.1,Subset,A.5.1\n1.2,Overlaps,A.5.2\n1.3,Subset,A.9.1\n",
    )
    .unwrap();
    let b = bad.path().to_string_lossy().into_owned();
    let (code, out) = cli_out(&server, &["report", "--framework", "cis", "--mappings", &b]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("cis.csv:4: unknown relationship `Overlaps`"),
        "{out}"
    );
    assert!(
        out.contains("cis.csv:5: unknown Annex A control `A.9.1`"),
        "{out}"
    );
}

/// The ISO/IEC 27002 attribute overlay: a user's file (made-up values,
/// generated here), filtering and grouping; a file missing a control is
/// refused.
async fn attributes_filter_and_group(backend: Backend) {
    let server = Server::start(backend, &[]).await.unwrap();
    let r = root("hardened-1", HARDENED);
    let run = collect(r.path());
    let mut agent = Agent::new("hardened-1");
    agent.enroll(&server).await;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    let mut text = String::new();
    for (i, c) in evident_core::Catalog::annex_a()
        .controls()
        .iter()
        .enumerate()
    {
        let ty = if c.id.starts_with("A.8.") && i % 2 == 0 {
            "#Detective"
        } else {
            "#Preventive"
        };
        text.push_str(&format!("[[control]]\nid = \"{}\"\ncontrol_type = [\"{ty}\"]\nproperties = [\"#Integrity\"]\nconcepts = [\"#Protect\"]\ncapabilities = [\"#Secure_configuration\"]\ndomains = [\"#Protection\"]\n\n", c.id));
    }
    let path = server.dir.path().join("attributes.toml");
    std::fs::write(&path, &text).unwrap();
    let p = path.to_string_lossy().into_owned();
    let detective = json(
        &server,
        &["report", "--attributes", &p, "--attribute", "#Detective"],
    );
    let ids: Vec<&str> = detective["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|i| i.starts_with("A.8.")),
        "{ids:?}"
    );
    let groups = json(
        &server,
        &["report", "--attributes", &p, "--group-by", "control_type"],
    );
    let g = groups.as_array().unwrap();
    assert_eq!(g.len(), 3);
    assert_eq!(g[1]["value"], "#Detective");
    assert_eq!(g[1]["controls"].as_array().unwrap().len(), ids.len());
    assert_eq!(g[2]["controls"].as_array().unwrap().len(), 0);
    // Missing control: refused, naming it.
    assert!(text.starts_with("[[control]]\nid = \"A.5.1\"\n"));
    std::fs::write(&path, text.split_once("\n\n").unwrap().1).unwrap();
    let (code, out) = cli_out(
        &server,
        &["report", "--attributes", &p, "--attribute", "#Detective"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("missing 1 of the 93 Annex A controls: A.5.1"),
        "{out}"
    );
}

mod sqlite {
    use evident_e2e::Backend::Sqlite;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_evidence_base_every_framework() {
        super::one_evidence_base_every_framework(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attributes_filter_and_group() {
        super::attributes_filter_and_group(Sqlite).await;
    }
}

mod postgres {
    use evident_e2e::Backend::Postgres;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_evidence_base_every_framework() {
        super::one_evidence_base_every_framework(Postgres).await;
    }
}
