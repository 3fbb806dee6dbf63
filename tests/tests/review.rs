//! End-to-end: evidence review with the real binaries. Evidence is posted to
//! a running collector, `export` writes the bundle, `verify` checks it; every
//! tampering case of issue #7 must make `verify` fail and name the problem.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_core::bundle::{self, Index, Scope};
use evident_e2e::{bin, collect, fixture_root, request, Agent, Backend, Server};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A server with two hosts that each posted `n` chained statements.
async fn populated(backend: Backend, n: usize) -> Option<(Server, Agent, Agent)> {
    let server = Server::start(backend, &[]).await?;
    let mut agents = Vec::new();
    for name in ["web-1", "db-1"] {
        let root = fixture_root(name);
        let run = collect(root.path());
        let mut agent = Agent::new(name);
        agent.enroll(&server).await;
        for i in 0..n {
            let (env, _) = agent.sign_next(&run);
            let r = server.post(&request(&env, &run, i == 0)).await;
            assert_eq!(
                r.status().as_u16(),
                201,
                "{}",
                r.text().await.unwrap_or_default()
            );
        }
        agents.push(agent);
    }
    let b = agents.pop().unwrap();
    let a = agents.pop().unwrap();
    Some((server, a, b))
}

fn export(server: &Server, extra: &[&str]) -> PathBuf {
    let out = server.dir.path().join("evidence.bundle");
    let o = out.to_string_lossy().into_owned();
    let mut args = vec!["export", "-o", o.as_str()];
    args.extend_from_slice(extra);
    server.cli(&args);
    out
}

/// `verify FILE --trust KEY [ARGS]` → (exit code, stdout), KEY being the
/// key id of the collector whose data directory holds FILE (the auditor's
/// pinned key, obtained out of band).
fn verify(file: &Path, args: &[&str]) -> (i32, String) {
    let dir = file.parent().unwrap();
    let key_id = evident_collector::review::collector_signer(dir)
        .unwrap()
        .key_id()
        .to_string();
    let mut all = vec!["--trust", key_id.as_str()];
    all.extend_from_slice(args);
    verify_raw(file, &all)
}

/// `verify FILE [ARGS]` → (exit code, stdout + stderr).
fn verify_raw(file: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin("evident-collector"))
        .arg("verify")
        .arg(file)
        .args(args)
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

fn assert_fails(file: &Path, needles: &[&str]) -> String {
    let (code, out) = verify(file, &[]);
    assert_eq!(code, 1, "verify should fail:\n{out}");
    assert!(out.contains("FAILED"), "{out}");
    for n in needles {
        assert!(out.contains(n), "verify output should name `{n}`:\n{out}");
    }
    out
}

/// Rewrite a bundle; with `reseal`, sign a fresh manifest with the
/// collector's own key (an insider holding the key), so that only the
/// deeper checks can catch the change.
fn rewrite(
    server: &Server,
    file: &Path,
    reseal: bool,
    edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
) -> PathBuf {
    let mut members = evident_collector::review::read_bundle(file).unwrap();
    edit(&mut members);
    if reseal {
        let signer = evident_collector::review::collector_signer(server.dir.path()).unwrap();
        bundle::seal(
            &mut members,
            &signer,
            chrono::Utc::now(),
            "test",
            Scope::default(),
        );
    }
    let out = file.with_file_name(format!("tampered-{}.bundle", evident_e2e::random_hex(4)));
    evident_collector::review::write_bundle(&out, &members).unwrap();
    out
}

fn index(members: &BTreeMap<String, Vec<u8>>) -> Index {
    bundle::read_index(members)
}

fn set_index(members: &mut BTreeMap<String, Vec<u8>>, index: &Index) {
    bundle::set_index(members, index);
}

async fn export_then_verify_passes(backend: Backend) {
    let Some((server, a, _b)) = populated(backend, 4).await else {
        return;
    };
    // `init` made the bundle-signing key (private, 0600), before any export.
    let key = server.dir.path().join("collector.key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let file = export(&server, &[]);
    let (code, out) = verify(&file, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("manifest signed by collector key {key_id}")),
        "{out}"
    );
    assert!(out.contains("OK: the bundle holds"), "{out}");
    assert!(out.contains("8 envelopes"), "{out}");
    assert!(
        out.contains("8 results confirmed by re-evaluation"),
        "{out}"
    );
    let (code, json) = verify(&file, &["--format", "json"]);
    assert_eq!(code, 0, "{json}");
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["checked"]["hosts"], 2);
    // A host filter exports only that host.
    let file = export(&server, &["--host", "web-1"]);
    let members = evident_collector::review::read_bundle(&file).unwrap();
    assert!(index(&members).statements.iter().all(|e| e.agent == a.id));
    assert_eq!(verify(&file, &[]).0, 0);
    // A time window in the future exports no statements but still verifies.
    let file = export(&server, &["--since", "2999-01-01"]);
    let members = evident_collector::review::read_bundle(&file).unwrap();
    assert!(index(&members).statements.is_empty());
    assert_eq!(verify(&file, &[]).0, 0);
    server.finish().await;
}

async fn flipping_one_byte_anywhere_fails(backend: Backend) {
    let Some((server, _a, _b)) = populated(backend, 3).await else {
        return;
    };
    let file = export(&server, &[]);
    let bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    for pos in [0, 5, n / 7, n / 3, n / 2, 2 * n / 3, n - 5, n - 1] {
        let mut b = bytes.clone();
        b[pos] ^= 0x01;
        let f = file.with_file_name(format!("flipped-{pos}.bundle"));
        std::fs::write(&f, &b).unwrap();
        let out = assert_fails(&f, &["[file]", "damaged"]);
        assert!(out.contains(&f.display().to_string()), "{out}");
    }
    server.finish().await;
}

async fn deleting_an_envelope_from_the_middle_of_a_chain_fails(backend: Backend) {
    let Some((server, a, _b)) = populated(backend, 5).await else {
        return;
    };
    let file = export(&server, &[]);
    let path = bundle::envelope_path(&a.id, 3);
    let delete = |m: &mut BTreeMap<String, Vec<u8>>| {
        m.remove(&path);
        let mut idx = index(m);
        idx.statements.retain(|e| e.path != path);
        set_index(m, &idx);
    };
    // Without the collector's key: the manifest names the missing member.
    let f = rewrite(&server, &file, false, delete);
    assert_fails(
        &f,
        &[&format!(
            "[member] {path}: listed in the manifest but missing"
        )],
    );
    // Even re-signed with the collector's key, the chain names host and range.
    let f = rewrite(&server, &file, true, delete);
    assert_fails(
        &f,
        &[&format!(
            "[gap] host web-1 (agent {}) sequences 3..=3",
            a.id
        )],
    );
    server.finish().await;
}

async fn swapping_in_an_envelope_from_another_host_fails(backend: Backend) {
    let Some((server, a, b)) = populated(backend, 3).await else {
        return;
    };
    let file = export(&server, &[]);
    let target = bundle::envelope_path(&a.id, 2);
    let source = bundle::envelope_path(&b.id, 2);
    let swap = |m: &mut BTreeMap<String, Vec<u8>>| {
        let other = m[&source].clone();
        m.insert(target.clone(), other);
    };
    let f = rewrite(&server, &file, false, swap);
    assert_fails(
        &f,
        &[&format!(
            "[member] {target}: content does not match the manifest"
        )],
    );
    // Re-signed, and with the index pointing at the swapped-in envelope.
    let f = rewrite(&server, &file, true, |m| {
        swap(m);
        let mut idx = index(m);
        for e in &mut idx.statements {
            if e.path == target {
                e.envelope = evident_core::sha256_digest(&m[&target]);
            }
        }
        set_index(m, &idx);
    });
    assert_fails(
        &f,
        &[
            &format!("[envelope] host web-1 (agent {}) sequence 2", a.id),
            &format!("signed by the key of host db-1 (agent {})", b.id),
        ],
    );
    server.finish().await;
}

async fn replacing_a_policy_file_fails(backend: Backend) {
    let Some((server, _a, _b)) = populated(backend, 2).await else {
        return;
    };
    let file = export(&server, &[]);
    let members = evident_collector::review::read_bundle(&file).unwrap();
    let policy = members
        .keys()
        .find(|k| k.starts_with("policies/") && k.ends_with("linux-baseline.toml"))
        .unwrap()
        .clone();
    let replace = |m: &mut BTreeMap<String, Vec<u8>>| {
        let text = String::from_utf8(m[&policy].clone()).unwrap();
        let text = text.replacen("severity = \"high\"", "severity = \"low\"", 1);
        m.insert(policy.clone(), text.into_bytes());
    };
    let f = rewrite(&server, &file, false, replace);
    assert_fails(
        &f,
        &[&format!(
            "[member] {policy}: content does not match the manifest"
        )],
    );
    let f = rewrite(&server, &file, true, replace);
    assert_fails(
        &f,
        &[
            "[policy] bundled:linux-baseline.toml",
            "does not match its recorded digest",
        ],
    );
    server.finish().await;
}

async fn post_next(server: &Server, agent: &mut Agent, run: &evident_e2e::Run, blobs: bool) {
    let (env, _) = agent.sign_next(run);
    let r = server.post(&request(&env, run, blobs)).await;
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
}

/// Results recorded before and after a policy change: the bundle carries
/// both versions of the file, and each statement is re-evaluated with the
/// version its results cite.
async fn results_before_and_after_a_policy_change_verify(backend: Backend) {
    let policies = tempfile::tempdir().unwrap();
    let policy = policies.path().join("linux-baseline.toml");
    let original = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/linux-baseline.toml"),
    )
    .unwrap();
    std::fs::write(&policy, &original).unwrap();
    let paths = format!("[{:?}]", policies.path().display().to_string());
    let Some(mut server) = Server::start(backend, &[("policy_paths", &paths)]).await else {
        return;
    };
    let root = fixture_root("web-1");
    let run = collect(root.path());
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    post_next(&server, &mut agent, &run, true).await;
    post_next(&server, &mut agent, &run, false).await;
    // The policy changes: a new version, one rule's severity lowered.
    let changed = original
        .replacen("version = \"2026.1\"", "version = \"2026.2\"", 1)
        .replacen("severity = \"high\"", "severity = \"low\"", 1);
    assert_ne!(changed, original);
    std::fs::write(&policy, &changed).unwrap();
    server.restart();
    post_next(&server, &mut agent, &run, false).await;
    post_next(&server, &mut agent, &run, false).await;

    let file = export(&server, &[]);
    let (code, out) = verify(&file, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("4 results confirmed by re-evaluation"),
        "{out}"
    );
    let members = evident_collector::review::read_bundle(&file).unwrap();
    let files: Vec<bundle::PolicyFileEntry> =
        serde_json::from_slice(&members[bundle::POLICY_INDEX_PATH]).unwrap();
    assert_eq!(files.len(), 2, "both versions are exported: {files:?}");
    let digests: Vec<_> = files.iter().map(|f| f.sha256).collect();
    assert!(digests.contains(&evident_core::sha256_digest(original.as_bytes())));
    assert!(digests.contains(&evident_core::sha256_digest(changed.as_bytes())));
    for f in &files {
        assert_eq!(f.name, policy.display().to_string());
    }
    // The results of the first two statements cite the first version.
    let idx = index(&members);
    let first = idx.statements.iter().map(|e| e.sequence).min().unwrap();
    let cited = |seq: u64| -> String {
        let e = idx
            .statements
            .iter()
            .find(|e| e.sequence == first + seq)
            .unwrap();
        let r: bundle::RecordedResults =
            serde_json::from_slice(&members[&bundle::results_path(&e.results)]).unwrap();
        r.policies[0].version.clone()
    };
    assert_eq!(cited(0), "2026.1");
    assert_eq!(cited(3), "2026.2");

    // Without the first version (an export of only the files configured
    // now), the statements recorded with it cannot be confirmed.
    let old = files
        .iter()
        .find(|f| f.sha256 == evident_core::sha256_digest(original.as_bytes()))
        .unwrap()
        .clone();
    let f = rewrite(&server, &file, true, |m| {
        m.remove(&old.path);
        let kept: Vec<_> = files.iter().filter(|f| f.path != old.path).collect();
        m.insert(
            bundle::POLICY_INDEX_PATH.into(),
            serde_json::to_vec(&kept).unwrap(),
        );
    });
    let out = assert_fails(
        &f,
        &[
            &format!("agent {} sequence {first}", agent.id),
            &format!("agent {} sequence {}", agent.id, first + 1),
            "which the bundle does not include",
        ],
    );
    assert!(!out.contains(&format!("sequence {}:", first + 2)), "{out}");
    server.finish().await;
}

async fn unlisted_and_missing_members_are_named(backend: Backend) {
    let Some((server, _a, _b)) = populated(backend, 2).await else {
        return;
    };
    let file = export(&server, &[]);
    let f = rewrite(&server, &file, false, |m| {
        m.insert("notes.txt".into(), b"trust me".to_vec());
    });
    assert_fails(
        &f,
        &["[member] notes.txt: present in the bundle but not listed"],
    );
    let f = rewrite(&server, &file, false, |m| {
        m.remove(bundle::MANIFEST_PATH);
    });
    assert_fails(
        &f,
        &["[manifest] manifest.dsse.json: the signed manifest is missing"],
    );
    let (code, out) = verify(&server.dir.path().join("nonexistent.bundle"), &[]);
    assert_eq!(code, 1, "{out}");
    server.finish().await;
}

fn cli_out(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin("evident-collector"))
        .args(args)
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

async fn reports_soa_attestations_and_oscal(backend: Backend) {
    let Some((server, _a, _b)) = populated(backend, 3).await else {
        return;
    };
    let dir = server.dir.path();
    // A person's key, registered with the collector, signs an attestation.
    let key = dir.join("ciso.key");
    let k = key.to_string_lossy().into_owned();
    let out = evident_e2e::collector(&["attester", "keygen", "-o", &k]);
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("public key:"))
        .unwrap()
        .trim()
        .to_string();
    let doc = dir.join("training-2026.pdf");
    std::fs::write(&doc, b"%PDF-1.4 attendance list").unwrap();
    let d = doc.to_string_lossy().into_owned();
    let attest = [
        "attest",
        "--control",
        "A.6.3",
        "--statement",
        "Security awareness training completed by all staff",
        "--evidence",
        &d,
        "--key",
        &k,
        "--expires",
        "2099-12-31",
    ];
    // Not registered yet: refused, naming the fingerprint.
    let dd = dir.to_string_lossy().into_owned();
    let mut unregistered: Vec<&str> = attest.to_vec();
    unregistered.extend(["--dir", &dd]);
    if let Some(pg) = &server.pg {
        unregistered.extend(["--database", &pg.url]);
    }
    let (code, out) = cli_out(&unregistered);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is not registered"), "{out}");
    server.cli(&[
        "attester",
        "add",
        "--name",
        "ciso@example.com",
        "--public-key",
        &public,
    ]);
    let out = server.cli(&attest);
    assert!(
        out.contains("for A.6.3 by ciso@example.com stored"),
        "{out}"
    );

    // Report: 93 controls, the attested control, both hosts.
    let json = server.cli(&["report", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["controls"].as_array().unwrap().len(), 93);
    assert_eq!(v["hosts"].as_array().unwrap().len(), 2);
    let a63 = v["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "A.6.3")
        .unwrap();
    assert_eq!(a63["status"], "attested", "{a63}");
    assert!(v["hosts"][0]["fresh"].as_bool().unwrap());
    let md = server.cli(&["report"]);
    assert!(
        md.contains("| A.8.5 |") && md.contains("## Hosts") && md.contains("web-1"),
        "{md}"
    );
    let csv = server.cli(&["report", "--format", "csv", "--host", "web-1"]);
    assert_eq!(csv.lines().count(), 94, "{csv}");
    let html_path = dir.join("report.html");
    let h = html_path.to_string_lossy().into_owned();
    server.cli(&["report", "--format", "html", "-o", &h]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    // Self-contained: no script and nothing loaded from elsewhere (remediation
    // text may name a repository URL; it is text, never an attribute).
    assert!(!html.contains("<script"));
    for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(external), "{external} in the HTML report");
    }

    // Statement of Applicability with an exclusion.
    let soa = dir.join("soa.toml");
    std::fs::write(
        &soa,
        "[[exclude]]\ncontrol = \"A.7.4\"\njustification = \"No premises: cloud hosting only\"\n",
    )
    .unwrap();
    let s = soa.to_string_lossy().into_owned();
    let rows: serde_json::Value =
        serde_json::from_str(&server.cli(&["soa", "--soa", &s, "--format", "json"])).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 93);
    let a74 = rows.iter().find(|r| r["id"] == "A.7.4").unwrap();
    assert_eq!(a74["applicable"], false);
    assert_eq!(a74["justification"], "No premises: cloud hosting only");
    let a63 = rows.iter().find(|r| r["id"] == "A.6.3").unwrap();
    assert_eq!(a63["implementation"], "attested");
    assert!(a63["evidence"][0]
        .as_str()
        .unwrap()
        .contains("ciso@example.com"));
    for fmt in ["markdown", "html", "csv"] {
        assert!(server
            .cli(&["soa", "--soa", &s, "--format", fmt])
            .contains("A.7.4"));
    }

    // The attestation travels in the bundle and is verified there.
    let file = export(&server, &[]);
    let members = evident_collector::review::read_bundle(&file).unwrap();
    let att = members
        .keys()
        .find(|k| k.starts_with("attestations/"))
        .unwrap()
        .clone();
    assert!(members.keys().any(|k| k.starts_with("attesters/")));
    assert_eq!(verify(&file, &[]).0, 0);
    let f = rewrite(&server, &file, true, |m| {
        let text = String::from_utf8(m[&att].clone()).unwrap();
        // Any change to the signed payload breaks the attester's signature.
        let pos = text.find("\"payload\":\"").unwrap() + 12;
        let mut bytes = text.into_bytes();
        bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
        m.insert(att.clone(), bytes);
    });
    assert_fails(&f, &[&format!("[attestation] {att}")]);

    // Revoking the attester: its next attestation is refused; the bundle
    // records the revocation, and the attestation signed before it still
    // verifies.
    let fingerprint = evident_collector::review::read_bundle(&file)
        .unwrap()
        .keys()
        .find_map(|k| {
            k.strip_prefix("attesters/")
                .and_then(|k| k.strip_suffix(".json"))
                .map(String::from)
        })
        .unwrap();
    let out = server.cli(&["attester", "revoke", &fingerprint]);
    assert!(out.contains("revoked"), "{out}");
    assert!(server.cli(&["attester", "list"]).contains("(revoked "));
    let mut again: Vec<&str> = attest.to_vec();
    again.extend(["--dir", &dd]);
    if let Some(pg) = &server.pg {
        again.extend(["--database", &pg.url]);
    }
    let (code, out) = cli_out(&again);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("was revoked"), "{out}");
    let revoked = export(&server, &[]);
    let members = evident_collector::review::read_bundle(&revoked).unwrap();
    let entry: bundle::AttesterEntry =
        serde_json::from_slice(&members[&bundle::attester_path(&fingerprint)]).unwrap();
    assert!(entry.revoked_at.is_some(), "{entry:?}");
    assert_eq!(verify(&revoked, &[]).0, 0);
    // An insider backdating the revocation before the signature: verify fails.
    let backdated = rewrite(&server, &revoked, true, |m| {
        let path = bundle::attester_path(&fingerprint);
        let mut e: bundle::AttesterEntry = serde_json::from_slice(&m[&path]).unwrap();
        e.revoked_at = Some("2000-01-01T00:00:00Z".parse().unwrap());
        m.insert(path, serde_json::to_vec(&e).unwrap());
    });
    assert_fails(&backdated, &["was revoked at 2000-01-01"]);

    // OSCAL: deterministic and valid against the official schema.
    let o1 = dir.join("a.oscal.json");
    let o2 = dir.join("b.oscal.json");
    for o in [&o1, &o2] {
        let p = o.to_string_lossy().into_owned();
        server.cli(&["export", "--format", "oscal", "-o", &p]);
    }
    let doc = std::fs::read(&o1).unwrap();
    assert_eq!(
        doc,
        std::fs::read(&o2).unwrap(),
        "OSCAL output must be deterministic"
    );
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/oscal/oscal_assessment-results_schema-1.0.6.json");
    let schema: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .take(20)
        .collect();
    assert!(
        errors.is_empty(),
        "OSCAL output is invalid:\n{}",
        errors.join("\n")
    );
    let result = &doc["assessment-results"]["results"][0];
    assert_eq!(result["findings"].as_array().unwrap().len(), 93);
    // 6 statements + 1 attestation.
    assert_eq!(result["observations"].as_array().unwrap().len(), 7);
    assert!(result["observations"][0]["collected"].is_string());
    assert!(result["observations"][0]["expires"].is_string());
    // It resolves: import-ap names a back-matter resource that exists, and
    // every subject an observation names is defined.
    let ar = &doc["assessment-results"];
    let href = ar["import-ap"]["href"].as_str().unwrap();
    let plan = ar["back-matter"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| format!("#{}", r["uuid"].as_str().unwrap()) == href)
        .expect("import-ap resolves to a back-matter resource");
    assert!(!plan["rlinks"].as_array().unwrap().is_empty(), "{plan}");
    let defined: Vec<&str> = result["local-definitions"]["inventory-items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(defined.len(), 2);
    for o in result["observations"].as_array().unwrap() {
        for subject in o["subjects"].as_array().into_iter().flatten() {
            assert!(
                defined.contains(&subject["subject-uuid"].as_str().unwrap()),
                "{o}"
            );
        }
    }
    // Findings tell not assessed (not automated) from not satisfied.
    let reason = |control: &str| {
        result["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["target"]["target-id"] == control.to_lowercase())
            .map(|f| {
                f["target"]["status"]["reason"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .unwrap()
    };
    assert_eq!(reason("A.6.3"), "attested");
    assert_eq!(reason("A.5.1"), "not-assessed");
    server.finish().await;
}

/// Issue 13 acceptance: the signer is pinned, and every report renders from
/// the verified bundle exactly as from the database.
async fn pinned_signer_and_reports_from_the_bundle(backend: Backend) {
    let Some((server, _a, _b)) = populated(backend, 3).await else {
        return;
    };
    let Some((other, _c, _d)) = populated(backend, 2).await else {
        return;
    };
    let dir = server.dir.path();
    // `key show` prints the PEM with its key id on a comment line.
    let pem = server.cli(&["key", "show"]);
    let key_id = evident_collector::review::collector_signer(dir)
        .unwrap()
        .key_id()
        .to_string();
    assert!(
        pem.starts_with(&format!("# key id {key_id}\n-----BEGIN PUBLIC KEY-----\n")),
        "{pem}"
    );
    let pem_path = dir.join("collector-a.pem");
    std::fs::write(&pem_path, &pem).unwrap();
    let trust_a = pem_path.to_string_lossy().into_owned();
    let other_pem = other.dir.path().join("collector-b.pem");
    std::fs::write(&other_pem, other.cli(&["key", "show"])).unwrap();
    let trust_b = other_pem.to_string_lossy().into_owned();
    let other_id = evident_collector::review::collector_signer(other.dir.path())
        .unwrap()
        .key_id()
        .to_string();

    let file = export(&server, &[]);
    // Unpinned: everything is checked, the key id is printed, exit 1.
    let (code, out) = verify_raw(&file, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("NOT PINNED") && out.contains(&key_id), "{out}");
    assert!(
        out.contains("6 results confirmed by re-evaluation"),
        "{out}"
    );
    // Pinned by the PEM file or by the bare key id.
    let (code, out) = verify_raw(&file, &["--trust", &trust_a]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("signer pinned") && out.contains("OK: the bundle holds"),
        "{out}"
    );
    assert_eq!(verify_raw(&file, &["--trust", &key_id]).0, 0);
    // A bundle from the second collector fails against the first key,
    // naming both key ids, and passes with its own.
    let file_b = export(&other, &[]);
    let (code, out) = verify_raw(&file_b, &["--trust", &trust_a]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAILED") && out.contains(&key_id) && out.contains(&other_id),
        "{out}"
    );
    assert_eq!(verify_raw(&file_b, &["--trust", &trust_b]).0, 0);
    // A trust anchor that is not a key is an error (2), not a pass.
    let (code, out) = verify_raw(&file, &["--trust", "not-a-key"]);
    assert_eq!(code, 2, "{out}");

    // Reports from the verified bundle equal the database's, byte for byte.
    let (_, json) = verify_raw(&file, &["--trust", &key_id, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let as_of = v["created_at"].as_str().unwrap().to_string();
    let f = file.to_string_lossy().into_owned();
    let soa = dir.join("soa.toml");
    std::fs::write(
        &soa,
        "[[exclude]]\ncontrol = \"A.7.4\"\njustification = \"Cloud hosting only\"\n",
    )
    .unwrap();
    let s = soa.to_string_lossy().into_owned();
    for fmt in ["markdown", "html", "json", "csv"] {
        let db = server.cli(&["report", "--format", fmt, "--as-of", &as_of]);
        let from_bundle = server.cli(&[
            "report", "--format", fmt, "--bundle", &f, "--trust", &trust_a, "--as-of", &as_of,
        ]);
        assert!(!db.is_empty());
        assert_eq!(db, from_bundle, "report --format {fmt}");
        let db = server.cli(&["soa", "--soa", &s, "--format", fmt, "--as-of", &as_of]);
        let from_bundle = server.cli(&[
            "soa", "--soa", &s, "--format", fmt, "--bundle", &f, "--trust", &trust_a, "--as-of",
            &as_of,
        ]);
        assert!(db.contains("A.7.4"));
        assert_eq!(db, from_bundle, "soa --format {fmt}");
    }
    // What an auditor needs: signer, policies with digests, the evidence
    // each result rests on, failing rules with values found, a sample.
    let json = server.cli(&[
        "report", "--format", "json", "--as-of", &as_of, "--sample", "1",
    ]);
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let p = &r["provenance"];
    assert_eq!(p["collector_key_id"], key_id.as_str(), "{p}");
    assert_eq!(p["statements"], 6, "{p}");
    let pol = &p["policies"][0];
    assert!(pol["id"].is_string() && pol["version"].is_string(), "{p}");
    assert!(
        pol["sha256"].as_str().unwrap().starts_with("sha256:"),
        "{p}"
    );
    assert_eq!(p["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(p["evidence"][0]["sequence"], 3, "{p}");
    let seed = p["sample"]["seed"].as_u64().unwrap();
    assert!(
        p["sample"]["controls"]["A.8.5"].as_array().unwrap().len() == 1,
        "{p}"
    );
    let again = server.cli(&[
        "report",
        "--format",
        "json",
        "--bundle",
        &f,
        "--trust",
        &trust_a,
        "--as-of",
        &as_of,
        "--sample",
        "1",
        "--seed",
        &seed.to_string(),
    ]);
    assert_eq!(
        json, again,
        "the printed seed draws the same sample from the bundle"
    );
    let md = server.cli(&["report", "--as-of", &as_of]);
    assert!(
        md.contains("## Failing rules") && md.contains(&format!("collector key id: `{key_id}`")),
        "{md}"
    );
    let html = server.cli(&["report", "--format", "html", "--as-of", &as_of]);
    assert!(
        html.contains("Evidence provenance") && html.contains("Not automated ("),
        "{html}"
    );
    // Without --as-of a bundle reports as of its creation time.
    let from_bundle = server.cli(&[
        "report", "--format", "json", "--bundle", &f, "--trust", &key_id,
    ]);
    let r: serde_json::Value = serde_json::from_str(&from_bundle).unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(r["generated_at"].as_str().unwrap()).unwrap(),
        chrono::DateTime::parse_from_rfc3339(&as_of).unwrap()
    );
    let o_db = dir.join("db.oscal.json").to_string_lossy().into_owned();
    let o_bundle = dir.join("bundle.oscal.json").to_string_lossy().into_owned();
    server.cli(&["export", "--format", "oscal", "-o", &o_db]);
    server.cli(&[
        "export", "--format", "oscal", "-o", &o_bundle, "--bundle", &f, "--trust", &trust_a,
    ]);
    assert_eq!(
        std::fs::read(&o_db).unwrap(),
        std::fs::read(&o_bundle).unwrap()
    );

    // Bad input. A bundle signed by another collector renders nothing.
    let fb = file_b.to_string_lossy().into_owned();
    let (code, out) = cli_out(&["report", "--bundle", &fb, "--trust", &trust_a]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[trust]") && out.contains("nothing rendered"),
        "{out}"
    );
    assert!(!out.contains("# Evident review report"), "{out}");
    // A tampered bundle names the failing check.
    let tampered = rewrite(&server, &file, true, |m| {
        let p = m
            .keys()
            .find(|k| k.starts_with("results/"))
            .unwrap()
            .clone();
        m.get_mut(&p).unwrap().push(b' ');
    });
    let t = tampered.to_string_lossy().into_owned();
    let (code, out) = cli_out(&["report", "--bundle", &t, "--trust", &trust_a]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL [results]"), "{out}");
    // Empty, truncated and non-bundle files get a clear error.
    let empty = dir.join("empty.bundle");
    std::fs::write(&empty, b"").unwrap();
    let truncated = dir.join("truncated.bundle");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    for bad in [&empty, &truncated, &pem_path] {
        let b = bad.to_string_lossy().into_owned();
        let (code, out) = cli_out(&["report", "--bundle", &b, "--trust", &trust_a]);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("damaged or not an Evident bundle"), "{out}");
    }
    // --as-of outside the evidence says so.
    let (code, out) = cli_out(&[
        "report",
        "--bundle",
        &f,
        "--trust",
        &trust_a,
        "--as-of",
        "2000-01-01",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("before the first evidence"), "{out}");
    let (code, out) = cli_out(&[
        "report",
        "--bundle",
        &f,
        "--trust",
        &trust_a,
        "--as-of",
        "2999-01-01",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("after the end of the evidence"), "{out}");
    other.finish().await;
    server.finish().await;
}

/// `verify` streams the file (two walks, one member at a time): its report
/// is the one the in-memory verification gives, for an intact bundle, for
/// one written in another member order, and for tampered ones.
async fn streaming_verify_matches_in_memory(backend: Backend) {
    let Some((server, a, _b)) = populated(backend, 4).await else {
        return;
    };
    let file = export(&server, &[]);
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let pins = bundle::Pins {
        collector: Some(evident_core::bundle::trust::parse_trust(&key_id).unwrap()),
        attesters: vec![],
    };
    let both = |f: &Path| {
        let streamed = evident_collector::review::verify_file(f, &pins, &mut |_, _| {}).unwrap();
        let members = evident_collector::review::read_bundle(f).unwrap();
        let in_memory = bundle::verify_pinned(&members, &pins, &mut |_, _| {});
        assert_eq!(streamed, in_memory, "{}", f.display());
        streamed
    };
    let r = both(&file);
    assert!(r.ok && r.pinned, "{:?}", r.findings);
    assert_eq!(r.checked.envelopes, 8);
    assert_eq!(r.checked.results_confirmed, 8);
    // Format v2: the manifest and the index in pieces, no `index.json`.
    let members = evident_collector::review::read_bundle(&file).unwrap();
    assert!(!members.contains_key(bundle::INDEX_PATH));
    assert!(members.contains_key(&bundle::manifest_piece_path(0)));
    assert!(members.contains_key(&bundle::index_piece_path(0)));
    assert_eq!(index(&members).statements.len(), 8);
    // A bundle of format v1, as collectors before v2 wrote them, verifies.
    let mut old = members.clone();
    let idx = index(&old);
    old.retain(|k, _| {
        !k.starts_with(bundle::INDEX_PIECES) && !k.starts_with(bundle::MANIFEST_PIECES)
    });
    old.insert(bundle::INDEX_PATH.into(), serde_json::to_vec(&idx).unwrap());
    let signer = evident_collector::review::collector_signer(server.dir.path()).unwrap();
    bundle::seal_v1(
        &mut old,
        &signer,
        chrono::Utc::now(),
        "test",
        Scope::default(),
    );
    let v1 = file.with_file_name("v1.bundle");
    evident_collector::review::write_bundle(&v1, &old).unwrap();
    let r = both(&v1);
    assert!(r.ok && r.pinned, "{:?}", r.findings);
    assert_eq!(r.checked.results_confirmed, 8);
    // Members in reverse order (index and manifest first, envelopes last).
    let members = evident_collector::review::read_bundle(&file).unwrap();
    let reversed = file.with_file_name("reversed.bundle");
    evident_collector::review::bundle_file::write_bundle_in_order(
        &reversed,
        members
            .iter()
            .rev()
            .map(|(k, v)| (k.as_str(), v.as_slice())),
    )
    .unwrap();
    let r = both(&reversed);
    assert!(r.ok && r.pinned, "{:?}", r.findings);
    assert_eq!(r.checked.results_confirmed, 8);
    // Tampered (resealed by an insider): a missing envelope, an altered
    // result, a blob removed.
    let path = bundle::envelope_path(&a.id, 2);
    let gap = rewrite(&server, &file, true, |m| {
        m.remove(&path);
    });
    let r = both(&gap);
    assert!(!r.ok);
    assert!(
        r.findings
            .iter()
            .any(|f| f.kind == "envelope" && f.message.contains("is missing")),
        "{:?}",
        r.findings
    );
    let altered = rewrite(&server, &file, true, |m| {
        let p = m
            .keys()
            .find(|k| k.starts_with("results/"))
            .unwrap()
            .clone();
        m.get_mut(&p).unwrap().push(b' ');
    });
    assert!(!both(&altered).ok);
    let no_blob = rewrite(&server, &file, true, |m| {
        let p = m.keys().find(|k| k.starts_with("blobs/")).unwrap().clone();
        m.remove(&p);
    });
    let r = both(&no_blob);
    assert!(
        r.findings.iter().any(|f| f.kind == "blob"),
        "{:?}",
        r.findings
    );
    server.finish().await;
}

/// `report --compare` from the database and from the bundle, and one
/// machine enrolled twice (same machine id, new key) reported as one host.
async fn compare_dates_and_a_machine_enrolled_twice(backend: Backend) {
    let Some(server) = Server::start(backend, &[]).await else {
        return;
    };
    let root = fixture_root("web-1");
    let run = collect(root.path());
    let mut first = Agent::new("web-1");
    first.enroll(&server).await;
    post_next(&server, &mut first, &run, true).await;
    post_next(&server, &mut first, &run, false).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let t1 = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The same machine (same machine id) enrolled again with a new key; its
    // sshd now accepts root logins.
    std::fs::write(
        root.path().join("etc/ssh/sshd_config"),
        "PermitRootLogin yes\nPasswordAuthentication no\nX11Forwarding no\n",
    )
    .unwrap();
    let run2 = collect(root.path());
    let mut second = Agent::new("web-1");
    second.enroll(&server).await;
    post_next(&server, &mut second, &run2, true).await;
    post_next(&server, &mut second, &run2, false).await;
    let file = export(&server, &[]);
    let (code, json) = verify(&file, &["--format", "json"]);
    assert_eq!(code, 0, "{json}");
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let t2 = v["created_at"].as_str().unwrap().to_string();
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let f = file.to_string_lossy().into_owned();
    let bundle_args = ["--bundle", f.as_str(), "--trust", key_id.as_str()];
    for fmt in ["json", "markdown", "html"] {
        let db = server.cli(&["report", "--format", fmt, "--compare", &t1, &t2]);
        let mut args = vec!["report", "--format", fmt, "--compare", &t1, &t2];
        args.extend_from_slice(&bundle_args);
        assert_eq!(db, server.cli(&args), "report --compare --format {fmt}");
        if fmt == "markdown" {
            assert!(
                db.contains("### ssh.root-login") && db.contains("Newly failing"),
                "{db}"
            );
        }
        // One host, its key history in every format.
        let db = server.cli(&["report", "--format", fmt, "--as-of", &t2]);
        let mut args = vec!["report", "--format", fmt, "--as-of", &t2];
        args.extend_from_slice(&bundle_args);
        assert_eq!(db, server.cli(&args), "report --format {fmt}");
        if fmt != "json" {
            assert!(db.contains("enrolled more than once"), "{db}");
            assert!(db.contains(&first.id) && db.contains(&second.id), "{db}");
        }
    }
    let c: serde_json::Value =
        serde_json::from_str(&server.cli(&["report", "--format", "json", "--compare", &t1, &t2]))
            .unwrap();
    let rule = c["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "ssh.root-login")
        .unwrap_or_else(|| panic!("{c}"));
    let host = &rule["newly_failing"][0];
    assert_eq!(host["hostname"], "web-1", "{c}");
    assert_eq!(host["before"]["status"], "pass", "{c}");
    assert_eq!(host["after"]["status"], "fail", "{c}");
    assert_eq!(host["after"]["sequence"], 2, "{c}");
    assert!(
        c["hosts_added"].as_array().unwrap().is_empty(),
        "one host, not a new one: {c}"
    );
    let a85 = c["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == "A.8.5")
        .unwrap();
    assert_eq!(a85["newly_failing"], 1, "{c}");
    let r: serde_json::Value =
        serde_json::from_str(&server.cli(&["report", "--format", "json", "--as-of", &t2])).unwrap();
    let hosts = r["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 1, "{r}");
    let keys = hosts[0]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{r}");
    assert_eq!(keys[0]["key_id"], first.signer.key_id(), "{r}");
    assert_eq!(keys[1]["key_id"], second.signer.key_id(), "{r}");
    assert_eq!(keys[0]["statements"], 2, "{r}");
    assert_eq!(hosts[0]["statements"], 4, "{r}");
    // CSV has no comparison form; dates outside the evidence are refused.
    let (code, out) = cli_out(&[
        "report",
        "--format",
        "csv",
        "--compare",
        &t1,
        &t2,
        "--bundle",
        &f,
        "--trust",
        &key_id,
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not csv"), "{out}");
    let (code, out) = cli_out(&[
        "report",
        "--compare",
        "2000-01-01",
        &t2,
        "--bundle",
        &f,
        "--trust",
        &key_id,
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("before the first evidence"), "{out}");
    server.finish().await;
}

/// The alerts of the period travel in the bundle (`alerts.json`, covered by
/// the signed manifest): opened, acknowledged with the reason, resolved,
/// each citing the statements that opened and resolved it; `verify` holds
/// the cited statements to the bundle; the reports show them, the same from
/// the database and from the bundle; a bundle without the member (made
/// before alerts were exported) still verifies.
async fn alerts_in_the_bundle_and_the_report(backend: Backend) {
    let Some(server) = Server::start(backend, &[]).await else {
        return;
    };
    let root = fixture_root("web-1");
    let good = collect(root.path());
    let sshd = root.path().join("etc/ssh/sshd_config");
    let original = std::fs::read_to_string(&sshd).unwrap();
    std::fs::write(
        &sshd,
        "PermitRootLogin yes\nPasswordAuthentication no\nX11Forwarding no\n",
    )
    .unwrap();
    let bad = collect(root.path());
    std::fs::write(&sshd, original).unwrap();
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    post_next(&server, &mut agent, &good, true).await; // 1: baseline
    post_next(&server, &mut agent, &good, false).await; // 2
    post_next(&server, &mut agent, &bad, true).await; // 3: root login opens a drift alert
    let list: serde_json::Value =
        serde_json::from_str(&server.cli(&["alerts", "--format", "json"])).unwrap();
    let drift = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["subject"] == "rule:ssh.root-login")
        .unwrap_or_else(|| panic!("{list}"))
        .clone();
    let id = drift["id"].as_i64().unwrap().to_string();
    server.cli(&[
        "alerts",
        "ack",
        &id,
        "--reason",
        "CHG-42 <planned>",
        "--by",
        "ops",
    ]);
    post_next(&server, &mut agent, &good, false).await; // 4: fixed, resolves it

    let file = export(&server, &[]);
    let (code, json) = verify(&file, &["--format", "json"]);
    assert_eq!(code, 0, "{json}");
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let checked = v["checked"]["alerts"].as_u64().unwrap();
    assert!(checked >= 2, "{v}");
    let (code, out) = verify(&file, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{checked} alerts")), "{out}");
    let as_of = v["created_at"].as_str().unwrap().to_string();

    // The member: acknowledged with its reason, opened by sequence 3 and
    // resolved by sequence 4, with their envelope digests.
    let members = evident_collector::review::read_bundle(&file).unwrap();
    let alerts: Vec<bundle::alerts::AlertEntry> =
        serde_json::from_slice(&members[bundle::alerts::ALERTS_PATH]).unwrap();
    let a = alerts
        .iter()
        .find(|a| a.subject == "rule:ssh.root-login")
        .unwrap();
    let idx = index(&members);
    let digest_of = |seq: u64| {
        idx.statements
            .iter()
            .find(|e| e.sequence == seq)
            .unwrap()
            .envelope
    };
    assert_eq!(a.opened_by.unwrap().sequence, 3);
    assert_eq!(a.opened_by.unwrap().envelope, digest_of(3));
    assert_eq!(a.resolved_by.unwrap().sequence, 4);
    assert_eq!(a.resolved_by.unwrap().envelope, digest_of(4));
    let ack = a.acknowledged.as_ref().unwrap();
    assert_eq!(
        (ack.by.as_str(), ack.reason.as_str()),
        ("ops", "CHG-42 <planned>")
    );

    // Reports: the same bytes from the database and from the bundle.
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let f = file.to_string_lossy().into_owned();
    for fmt in ["json", "markdown", "html", "csv"] {
        let db = server.cli(&["report", "--format", fmt, "--as-of", &as_of]);
        let from_bundle = server.cli(&[
            "report", "--format", fmt, "--as-of", &as_of, "--bundle", &f, "--trust", &key_id,
        ]);
        assert_eq!(db, from_bundle, "report --format {fmt}");
    }
    let r: serde_json::Value = serde_json::from_str(&server.cli(&[
        "report", "--format", "json", "--as-of", &as_of, "--bundle", &f, "--trust", &key_id,
    ]))
    .unwrap();
    let section = &r["alerts"];
    assert!(section["resolved"].as_u64().unwrap() >= 1, "{section}");
    let row = section["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["subject"] == "rule:ssh.root-login")
        .unwrap();
    assert_eq!(row["state"], "resolved", "{row}");
    assert_eq!(row["acknowledged"]["reason"], "CHG-42 <planned>", "{row}");
    assert_eq!(row["resolved_by"]["sequence"], 4, "{row}");
    assert!(row["resolve_seconds"].as_i64().unwrap() >= 0, "{row}");
    let md = server.cli(&["report", "--as-of", &as_of]);
    assert!(
        md.contains("## Alerts") && md.contains("CHG-42 &lt;planned&gt;"),
        "{md}"
    );
    let html = server.cli(&["report", "--format", "html", "--as-of", &as_of]);
    assert!(
        html.contains("open at the end of the period)</h2>"),
        "{html}"
    );
    assert!(html.contains("CHG-42 &lt;planned&gt;"), "{html}");

    // An insider re-signing the bundle cannot cite a statement it lacks,
    // nor swap a cited digest.
    let cite = |edit: fn(&mut bundle::alerts::AlertEntry)| {
        rewrite(&server, &file, true, |m| {
            let mut list: Vec<bundle::alerts::AlertEntry> =
                serde_json::from_slice(&m[bundle::alerts::ALERTS_PATH]).unwrap();
            for a in list
                .iter_mut()
                .filter(|a| a.subject == "rule:ssh.root-login")
            {
                edit(a);
            }
            m.insert(
                bundle::alerts::ALERTS_PATH.into(),
                serde_json::to_vec(&list).unwrap(),
            );
        })
    };
    let missing = cite(|a| a.resolved_by.as_mut().unwrap().sequence = 99);
    assert_fails(
        &missing,
        &[
            "[alerts]",
            "sequence 99",
            "neither an envelope nor a chain stub",
        ],
    );
    let swapped = cite(|a| {
        let other = a.resolved_by.unwrap().envelope;
        a.opened_by.as_mut().unwrap().envelope = other;
    });
    assert_fails(&swapped, &["[alerts]", "opened by sequence 3 cited as"]);
    // A bundle made before alerts were exported verifies, and its report
    // has no alerts section.
    let old = rewrite(&server, &file, true, |m| {
        m.remove(bundle::alerts::ALERTS_PATH);
    });
    let (code, out) = verify(&old, &[]);
    assert_eq!(code, 0, "{out}");
    let o = old.to_string_lossy().into_owned();
    let md = server.cli(&["report", "--bundle", &o, "--trust", &key_id]);
    assert!(
        md.contains("# Evident review report") && !md.contains("## Alerts"),
        "{md}"
    );
    server.finish().await;
}

mod sqlite {
    use evident_e2e::Backend::Sqlite;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn export_then_verify_passes() {
        super::export_then_verify_passes(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flipping_one_byte_anywhere_fails() {
        super::flipping_one_byte_anywhere_fails(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deleting_an_envelope_from_the_middle_of_a_chain_fails() {
        super::deleting_an_envelope_from_the_middle_of_a_chain_fails(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn swapping_in_an_envelope_from_another_host_fails() {
        super::swapping_in_an_envelope_from_another_host_fails(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replacing_a_policy_file_fails() {
        super::replacing_a_policy_file_fails(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn results_before_and_after_a_policy_change_verify() {
        super::results_before_and_after_a_policy_change_verify(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reports_soa_attestations_and_oscal() {
        super::reports_soa_attestations_and_oscal(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unlisted_and_missing_members_are_named() {
        super::unlisted_and_missing_members_are_named(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pinned_signer_and_reports_from_the_bundle() {
        super::pinned_signer_and_reports_from_the_bundle(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streaming_verify_matches_in_memory() {
        super::streaming_verify_matches_in_memory(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compare_dates_and_a_machine_enrolled_twice() {
        super::compare_dates_and_a_machine_enrolled_twice(Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alerts_in_the_bundle_and_the_report() {
        super::alerts_in_the_bundle_and_the_report(Sqlite).await;
    }
}

mod postgres {
    use evident_e2e::Backend::Postgres;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn export_then_verify_passes() {
        super::export_then_verify_passes(Postgres).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reports_soa_attestations_and_oscal() {
        super::reports_soa_attestations_and_oscal(Postgres).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pinned_signer_and_reports_from_the_bundle() {
        super::pinned_signer_and_reports_from_the_bundle(Postgres).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn results_before_and_after_a_policy_change_verify() {
        super::results_before_and_after_a_policy_change_verify(Postgres).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streaming_verify_matches_in_memory() {
        super::streaming_verify_matches_in_memory(Postgres).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn compare_dates_and_a_machine_enrolled_twice() {
        super::compare_dates_and_a_machine_enrolled_twice(Postgres).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alerts_in_the_bundle_and_the_report() {
        super::alerts_in_the_bundle_and_the_report(Postgres).await;
    }
}
