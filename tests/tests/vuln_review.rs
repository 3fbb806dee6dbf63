//! End-to-end acceptance of issue #18 (items 5 and 6): a real agent scans a
//! fixture root whose dpkg status holds a vulnerable package; the collector
//! matches it against an imported Debian tracker feed; the collector's test
//! clock ages the first sighting past 14 days so the patch-SLA rule fails; a
//! CVE waiver makes it pass; an OSV snapshot is matched next. The export
//! carries the snapshot subsets, and an offline `verify --trust` re-matches
//! every result (and fails once a subset is tampered with, naming host,
//! sequence and CVE); `verify --feed` checks a subset against the full feed.
//! Reports from the database and from the bundle are byte-identical and
//! show the CVE with its first sighting, fix and waiver; OSCAL stays valid.
//! Both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_core::bundle::{self, Scope};
use evident_core::vuln::subset::{subset_path, SnapshotSubset};
use evident_e2e::{bin, collect, fixture_root, request, Agent, Backend, Server};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const CVE: &str = "CVE-2026-24061";
const RULE: &str = "vulns.fixable-high-sla";
const DAY_MS: i64 = 86_400_000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// Move the collector's fake clock atomically (a reader never sees a
/// half-written file, which it would take for no fake time at all).
fn set_clock(clock: &Path, t: i64) {
    let tmp = clock.with_extension("tmp");
    std::fs::write(&tmp, t.to_string()).unwrap();
    std::fs::rename(&tmp, clock).unwrap();
}

fn ms(t: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(t).unwrap()
}

/// `evident-collector ARGS` with the server's directory and clock; (exit
/// code, stdout + stderr).
fn run(server: &Server, args: &[&str]) -> (i32, String) {
    let o = server.cli_output(args);
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

/// `evident-collector ARGS` with the server's directory and clock; (exit
/// code, stdout) — what a report writes, without the log on stderr.
fn run_stdout(server: &Server, args: &[&str]) -> (i32, String) {
    let o = server.cli_output(args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// `verify FILE --trust KEY ARGS` (no data directory: the auditor's side).
fn verify(server: &Server, file: &Path, args: &[&str]) -> (i32, String) {
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let out = Command::new(bin("evident-collector"))
        .arg("verify")
        .arg(file)
        .args(["--trust", &key_id])
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

/// Rewrite a bundle and sign a fresh manifest with the collector's own key
/// (an insider holding it), so only the deeper checks can catch the change.
fn tamper(
    server: &Server,
    file: &Path,
    edit: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
) -> PathBuf {
    let mut members = evident_collector::review::read_bundle(file).unwrap();
    edit(&mut members);
    let signer = evident_collector::review::collector_signer(server.dir.path()).unwrap();
    bundle::seal(
        &mut members,
        &signer,
        chrono::Utc::now(),
        "test",
        Scope::default(),
    );
    let out = file.with_file_name(format!("tampered-{}.bundle", evident_e2e::random_hex(4)));
    evident_collector::review::write_bundle(&out, &members).unwrap();
    out
}

async fn rule_status(server: &Server, agent: &str, rule: &str) -> String {
    let (st, host) = server.get(&format!("/v1/hosts/{agent}")).await;
    assert_eq!(st, 200, "{host}");
    host["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == rule)
        .unwrap_or_else(|| panic!("rule {rule} in {host}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn post_at(server: &Server, agent: &mut Agent, run: &evident_e2e::Run, at: i64) {
    let (env, _) = agent.sign_next_at(run, ms(at));
    let r = server.post(&request(&env, run, true)).await;
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
}

async fn cve_evidence_is_reproducible_offline(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    // The history lies in the past (16 days ago until yesterday), so that
    // exports and reports, made now, cover all of it.
    let t0 = chrono::Utc::now().timestamp_millis() - 16 * DAY_MS;
    set_clock(&clock, t0);
    let clock_s = clock.display().to_string();
    let policies = tmp.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::copy(
        repo().join("policies/linux-baseline.toml"),
        policies.join("linux-baseline.toml"),
    )
    .unwrap();
    let paths = format!("[{:?}]", policies.display().to_string());
    let env = [("EVIDENT_FAKE_CLOCK_FILE", clock_s.as_str())];
    let mut server = Server::start_with(backend, &[("policy_paths", &paths)], "", &env)
        .await
        .expect("the collector starts");
    server.set_env(&env);

    // The Debian tracker fixture is the snapshot in force.
    let tracker = repo().join("tests/fixtures/vuln/debian-tracker.json");
    let (code, out) = run(&server, &["feed", "import", &tracker.to_string_lossy()]);
    assert_eq!(code, 0, "{out}");
    // The collector re-reads the snapshot in force every few seconds.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;

    // A real agent scan of a Debian 12 root whose dpkg status holds
    // inetutils 2:2.4-2+deb12u3 (CVE-2026-24061, high, fixed in deb12u4).
    let root = fixture_root("web-1");
    copy_dir(
        &repo().join("agent/tests/fixtures/packages/debian12-weak"),
        root.path(),
    );
    let scan = collect(root.path());
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    post_at(&server, &mut agent, &scan, t0).await;
    assert_eq!(rule_status(&server, &agent.id, RULE).await, "pass");

    // Fifteen days later, same inventory: the fixable high CVE is older
    // than the 14-day SLA.
    let t1 = t0 + 15 * DAY_MS;
    set_clock(&clock, t1);
    post_at(&server, &mut agent, &scan, t1).await;
    assert_eq!(rule_status(&server, &agent.id, RULE).await, "fail");

    // A CVE waiver ("not affected here") makes the rule pass.
    let expires = ms(t1 + 60 * DAY_MS).format("%Y-%m-%d").to_string();
    std::fs::write(
        policies.join("waivers.toml"),
        format!(
            "[[waiver]]\ncve = \"{CVE}\"\nhosts = [\"web-*\"]\njustification = \"telnetd is not enabled; the package goes in the next image\"\napprover = \"ciso@example.com\"\nexpires = {expires}\n"
        ),
    )
    .unwrap();
    server.restart();
    let t2 = t1 + 3_600_000;
    set_clock(&clock, t2);
    post_at(&server, &mut agent, &scan, t2).await;
    assert_eq!(rule_status(&server, &agent.id, RULE).await, "pass");

    // An OSV snapshot (the same CVE filed under debian:12) is matched next.
    let osv = repo().join("tests/fixtures/vuln/osv");
    let (code, out) = run(&server, &["feed", "import", &osv.to_string_lossy()]);
    assert_eq!(code, 0, "{out}");
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let t3 = t2 + 3_600_000;
    set_clock(&clock, t3);
    post_at(&server, &mut agent, &scan, t3).await;
    assert_eq!(rule_status(&server, &agent.id, RULE).await, "pass");

    // Export: one subset member per cited snapshot, covered by the manifest.
    let file = server.dir.path().join("evidence.bundle");
    let (code, out) = run(&server, &["export", "-o", &file.to_string_lossy()]);
    assert_eq!(code, 0, "{out}");
    let members = evident_collector::review::read_bundle(&file).unwrap();
    let subsets: Vec<SnapshotSubset> = members
        .iter()
        .filter(|(p, _)| p.starts_with("vulns/"))
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    assert_eq!(subsets.len(), 2, "a tracker and an OSV subset");
    let tracker_subset = subsets
        .iter()
        .find(|s| s.index.format.as_str() == "debian-tracker")
        .unwrap()
        .clone();
    let bw = evident_core::vuln::Release::new("debian", "bookworm");
    let bookworm = &tracker_subset.index.releases[&bw].packages;
    assert!(bookworm.contains_key("inetutils"), "{bookworm:?}");
    assert!(tracker_subset.wanted[&bw].contains("inetutils"));
    assert!(
        bookworm
            .keys()
            .all(|k| tracker_subset.wanted[&bw].contains(k)),
        "only the packages the inventory holds"
    );

    // Offline verify re-matches every result against the subsets.
    let (code, out) = verify(&server, &file, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("4 vulnerability results re-matched offline"),
        "{out}"
    );
    assert!(!out.contains("0 first-seen citations"), "{out}");

    // `--feed`: the tracker equals its subset; another feed is not cited.
    let (code, out) = verify(&server, &file, &["--feed", &tracker.to_string_lossy()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("equals the feed"), "{out}");
    let other = tmp.path().join("other.json");
    std::fs::write(
        &other,
        br#"{"zlib": {"CVE-1": {"releases": {"bookworm": {"status": "open", "urgency": "low"}}}}}"#,
    )
    .unwrap();
    let (code, out) = verify(&server, &file, &["--feed", &other.to_string_lossy()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("not a snapshot the bundle's results cite"),
        "{out}"
    );

    // Exported from after the first sighting (statement 1, at t0): the
    // results of the period cite it as first seen, before the bundle's
    // period. verify passes and says how many citations it could not
    // re-check, and why.
    let later = server.dir.path().join("later.bundle");
    let since = ms(t1 - 3_600_000).to_rfc3339();
    let (code, out) = run(
        &server,
        &["export", "--since", &since, "-o", &later.to_string_lossy()],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = verify(&server, &later, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("3 vulnerability results re-matched offline"),
        "{out}"
    );
    assert!(
        out.contains("first-seen citations point before the bundle's period or to pruned statements and were not re-checked")
            && out.contains("; 0 at chain stubs"),
        "{out}"
    );
    let (_, json) = verify(&server, &later, &["--format", "json"]);
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    let outside = v["checked"]["first_seen_outside"].as_u64().unwrap();
    assert!(outside >= 1, "{json}");
    assert_eq!(v["checked"]["first_seen_pruned"], 0, "{json}");
    assert_eq!(v["checked"]["first_seen_confirmed"], 0, "{json}");
    assert!(
        out.contains(&format!("{outside} first-seen citations point before")),
        "{out}"
    );
    // The whole history: every citation inside, none said to be outside.
    let (_, json) = verify(&server, &file, &["--format", "json"]);
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["checked"]["first_seen_outside"], 0, "{json}");

    // Tampering with the subset (an insider re-signing the manifest): the
    // CVE's entry removed, so the recorded failure and first sighting no
    // longer re-match. verify names host, sequence and CVE.
    let path = subset_path(&tracker_subset.snapshot);
    let tampered = tamper(&server, &file, |m| {
        let mut s: SnapshotSubset = serde_json::from_slice(&m[&path]).unwrap();
        s.index
            .releases
            .get_mut(&bw)
            .unwrap()
            .packages
            .remove("inetutils");
        m.insert(path.clone(), serde_json::to_vec(&s).unwrap());
    });
    let (code, out) = verify(&server, &tampered, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(
        out.contains("host web-1") && out.contains("sequence 2") && out.contains(CVE),
        "{out}"
    );
    // The subset missing altogether.
    let removed = tamper(&server, &file, |m| {
        m.remove(&path);
    });
    let (code, out) = verify(&server, &removed, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("does not include") && out.contains("host web-1"),
        "{out}"
    );

    // Reports from the database and from the verified bundle: the same
    // bytes, with the CVE, its first sighting, fix and waiver.
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let (_, json) = verify(&server, &file, &["--format", "json"]);
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    let as_of = v["created_at"].as_str().unwrap().to_string();
    let f = file.to_string_lossy().into_owned();
    for fmt in ["markdown", "html", "json"] {
        let (code, db) = run_stdout(&server, &["report", "--format", fmt, "--as-of", &as_of]);
        assert_eq!(code, 0, "{db}");
        let (code, from_bundle) = run_stdout(
            &server,
            &[
                "report", "--format", fmt, "--bundle", &f, "--trust", &key_id, "--as-of", &as_of,
            ],
        );
        assert_eq!(code, 0, "{from_bundle}");
        assert!(db.contains(CVE), "report --format {fmt}:\n{db}");
        assert_eq!(db, from_bundle, "report --format {fmt}");
    }
    let (_, json) = run_stdout(&server, &["report", "--format", "json", "--as-of", &as_of]);
    let r: Value = serde_json::from_str(&json).unwrap();
    let host = &r["vulns"]["hosts"][0];
    assert_eq!(host["hostname"], "web-1");
    let row = host["cves"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cve"] == CVE)
        .unwrap();
    assert_eq!(row["fixed_version"], "2:2.4-2+deb12u4");
    assert_eq!(row["waived"]["approver"], "ciso@example.com");
    let first_seen = chrono::DateTime::parse_from_rfc3339(row["first_seen"].as_str().unwrap())
        .unwrap()
        .timestamp_millis();
    assert_eq!(
        first_seen / 1000,
        t0 / 1000,
        "first seen: the first statement"
    );
    assert_eq!(r["vulns"]["fleet"][0]["cve"], CVE);
    let md = run(
        &server,
        &["report", "--format", "markdown", "--as-of", &as_of],
    )
    .1;
    assert!(md.contains("CVEs affecting the most hosts"), "{md}");
    assert!(md.contains("waived until"), "{md}");

    // OSCAL: one observation and one finding per host × CVE, valid.
    let oscal = tmp.path().join("a.oscal.json");
    let (code, out) = run(
        &server,
        &[
            "export",
            "--format",
            "oscal",
            "-o",
            &oscal.to_string_lossy(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&oscal).unwrap()).unwrap();
    let schema_path =
        repo().join("tests/fixtures/oscal/oscal_assessment-results_schema-1.0.6.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(&schema_path).unwrap()).unwrap();
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
    let cve_finding = result["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["title"] == format!("{CVE} on web-1"))
        .expect("a finding per host × CVE");
    assert_eq!(cve_finding["target"]["status"]["state"], "satisfied");
    assert_eq!(cve_finding["target"]["status"]["reason"], "waived");
    assert!(result["observations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["title"] == format!("{CVE} in inetutils on web-1")));
    if backend == Backend::Sqlite {
        console_pages(&server, &agent.id).await;
    }
    server.finish().await;
}

/// The console in a real browser: the host page's CVE section and the
/// fleet page `/vulns` (only the console's own script on either).
async fn console_pages(server: &Server, agent: &str) {
    use evident_e2e::webdriver::Driver;
    let url = server.url.clone();
    let driver = Driver::start().await;
    let key = std::fs::read_to_string(server.dir.path().join("server.key")).unwrap();
    let spki = evident_collector::tls::spki_pin(&key).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let b = driver.browser(&spki, profile.path()).await;
    b.goto(&format!("{url}/signin")).await;
    let field = b.find("#token").await;
    b.send_keys(&field, &server.admin_token).await;
    let button = b.find("form.signin button").await;
    b.click(&button).await;
    for _ in 0..150 {
        if b.current_url().await == format!("{url}/") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.goto(&format!("{url}/hosts/{agent}")).await;
    let row = b.find(&format!("#cve-{CVE}")).await;
    let text = b.text(&row).await;
    assert!(
        text.contains("waived")
            && text.contains("2:2.4-2+deb12u4")
            && text.contains("ciso@example.com"),
        "{text}"
    );
    b.goto(&format!("{url}/vulns")).await;
    assert!(b.title().await.starts_with("Vulnerabilities"));
    let src = b.source().await;
    assert!(src.contains(CVE) && src.contains("inetutils"), "{src}");
    // Read from the stored state: the waived CVE still counts on the fleet
    // page (one host), and the page says waivers are not applied there.
    let row = b.find(&format!("#cve-{CVE}-inetutils")).await;
    let text = b.text(&row).await;
    assert!(
        text.split_whitespace().any(|w| w == "1") && !text.contains("waived"),
        "{text}"
    );
    assert!(
        src.contains("Waivers are not applied on this page"),
        "{src}"
    );
    assert!(
        src.contains("web-1") && !src.contains("Next hosts"),
        "{src}"
    );
    let scripts = b
        .execute(
            "return Array.from(document.scripts).map(s => s.src);",
            serde_json::json!([]),
        )
        .await;
    assert_eq!(scripts.as_array().unwrap().len(), 1, "{scripts}");
    b.close().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cve_evidence_is_reproducible_offline() {
        super::cve_evidence_is_reproducible_offline(evident_e2e::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cve_evidence_is_reproducible_offline() {
        super::cve_evidence_is_reproducible_offline(evident_e2e::Backend::Postgres).await;
    }
}
