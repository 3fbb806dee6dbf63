//! End-to-end (issue #18): a host whose dpkg status holds vulnerable
//! packages posts its evidence to a running collector; the tracker fixture
//! is imported with `feed import`; `vulns` names the open CVEs per host with
//! their fixes and the fleet view; a truncated feed is refused and the
//! previous snapshot stays in force. Then the collector decides the
//! `vulns.*` rules at ingest: first seen survives unchanged runs and resets
//! after a fix and a reinstall, a CVE waiver takes the CVE out, a new
//! snapshot is re-matched in the background and re-evaluates. Both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_e2e::{collect, fixture_root, request, Agent, Backend, Server};
use std::path::{Path, PathBuf};

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

async fn feed_import_then_vulns(backend: Backend) {
    let server = Server::start(backend, &[])
        .await
        .expect("the collector starts");
    // A Debian 12 host whose dpkg status holds old inetutils, openssh, …
    let root = fixture_root("web-1");
    copy_dir(
        &repo().join("agent/tests/fixtures/packages/debian12-weak"),
        root.path(),
    );
    let run = collect(root.path());
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    let (env, _) = agent.sign_next(&run);
    let r = server.post(&request(&env, &run, true)).await;
    assert_eq!(
        r.status().as_u16(),
        201,
        "{}",
        r.text().await.unwrap_or_default()
    );

    // No snapshot yet: `vulns` says so (exit 2).
    let o = server.cli_output(&["vulns"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no vulnerability feed snapshot"));

    let tracker = repo().join("tests/fixtures/vuln/debian-tracker.json");
    let out = server.cli(&["feed", "import", &tracker.to_string_lossy()]);
    assert!(out.contains("22 entries, 15 CVEs"), "{out}");

    // A fixable CVE is open: exit 1, and the JSON names it with its fix.
    let o = server.cli_output(&["vulns", "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let host = &v["hosts"][0];
    assert_eq!(host["hostname"], "web-1");
    assert_eq!(host["release"], "debian:bookworm");
    let findings = host["findings"].as_array().unwrap();
    let telnet = findings
        .iter()
        .find(|f| f["cve"] == "CVE-2026-24061")
        .expect("the telnetd CVE is matched through its source package inetutils");
    assert_eq!(telnet["source"], "inetutils");
    assert_eq!(telnet["installed"], "2:2.4-2+deb12u3");
    assert_eq!(telnet["fixed_version"], "2:2.4-2+deb12u4");
    assert_eq!(telnet["urgency"], "high");
    assert!(
        !findings.iter().any(|f| f["cve"] == "CVE-2024-6387"),
        "openssh deb12u9 is past the regreSSHion fix"
    );
    assert_eq!(v["fleet"][0]["hosts"], 1);
    let table = String::from_utf8_lossy(&server.cli_output(&["vulns"]).stdout).into_owned();
    assert!(table.contains("CVEs affecting the most hosts"), "{table}");

    // A truncated feed is refused; the snapshot in force does not change.
    let bytes = std::fs::read(&tracker).unwrap();
    let bad = server.dir.path().join("truncated.json");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let o = server.cli_output(&["feed", "import", &bad.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("previous snapshot stays in force") && err.contains("truncated at line"),
        "{err}"
    );
    let list: serde_json::Value =
        serde_json::from_str(&server.cli(&["feed", "list", "--format", "json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["in_force"], true);

    // The OSV directory covers the same release under `debian:12`.
    let osv = repo().join("tests/fixtures/vuln/osv");
    server.cli(&["feed", "import", &osv.to_string_lossy()]);
    let o = server.cli_output(&["vulns", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["hosts"][0]["release"], "debian:12");
    assert_eq!(v["hosts"][0]["findings"][0]["cve"], "CVE-2026-24061");
    server.finish().await;
}

/// Post `run` signed at `at`; panics unless stored.
async fn post_at(
    server: &Server,
    agent: &mut Agent,
    run: &evident_e2e::Run,
    at: chrono::DateTime<chrono::Utc>,
) -> evident_core::Digest {
    let (env, d) = agent.sign_next_at(run, at);
    let r = server.post(&request(&env, run, true)).await;
    let code = r.status().as_u16();
    assert!(
        code == 201 || code == 200,
        "{code} {}",
        r.text().await.unwrap_or_default()
    );
    d
}

async fn rule(server: &Server, agent: &str, id: &str) -> String {
    let (code, v) = server.get(&format!("/v1/hosts/{agent}")).await;
    assert_eq!(code, 200, "{v}");
    v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("rule {id} in {v}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn host_vulns(server: &Server, agent: &str) -> serde_json::Value {
    let (code, v) = server.get(&format!("/v1/hosts/{agent}/vulns")).await;
    assert_eq!(code, 200, "{v}");
    v
}

fn open_cve<'a>(v: &'a serde_json::Value, cve: &str) -> Option<&'a serde_json::Value> {
    v["host"]["vulns"]["open"]
        .as_array()
        .and_then(|o| o.iter().find(|f| f["cve"] == cve))
}

/// Wait until the collector has read the snapshot in force (it re-reads it
/// every 5 s).
async fn wait_snapshot(server: &Server, agent: &str, digest: &str) {
    for _ in 0..100 {
        if host_vulns(server, agent).await["snapshot"]["snapshot"] == digest {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the collector never took snapshot {digest}");
}

/// Change `from` to `to` in one dpkg status stanza (version and `Source:`).
fn set_version(root: &Path, package: &str, from: &str, to: &str) {
    let p = root.join("var/lib/dpkg/status");
    let text = std::fs::read_to_string(&p).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Package: ") {
            inside = name == package;
        }
        if inside {
            out.push_str(&line.replace(from, to));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    assert_ne!(out, text, "{package} {from} not found");
    std::fs::write(&p, out).unwrap();
}

async fn ingest_decides_vulns_rules(backend: Backend) {
    const TELNET: &str = "CVE-2026-24061";
    let policies = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo().join("policies/linux-baseline.toml"),
        policies.path().join("linux-baseline.toml"),
    )
    .unwrap();
    let paths = format!("[\"{}\"]", policies.path().display());
    let mut server = Server::start(backend, &[("policy_paths", paths.as_str())])
        .await
        .expect("the collector starts");
    let root = fixture_root("web-1");
    copy_dir(
        &repo().join("agent/tests/fixtures/packages/debian12-weak"),
        root.path(),
    );
    let run = collect(root.path());
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    let now = chrono::Utc::now();
    let day = chrono::Duration::days(1);

    // No snapshot: the vulns rules are no-evidence.
    post_at(&server, &mut agent, &run, now - day * 20).await;
    assert_eq!(
        rule(&server, &agent.id, "vulns.fixable-high-sla").await,
        "no-evidence"
    );

    let tracker = repo().join("tests/fixtures/vuln/debian-tracker.json");
    server.cli(&["feed", "import", &tracker.to_string_lossy()]);
    let list: serde_json::Value =
        serde_json::from_str(&server.cli(&["feed", "list", "--format", "json"])).unwrap();
    let first_snapshot = list[0]["digest"].as_str().unwrap().to_string();
    wait_snapshot(&server, &agent.id, &first_snapshot).await;

    // Same inventory 10 days later: the background re-match dated the
    // telnetd CVE to the first statement holding the affected version
    // (20 days ago), so 10 days on it is 10 days old…
    let v = host_vulns(&server, &agent.id).await;
    let telnet = open_cve(&v, TELNET).expect("the re-match opened it");
    assert_eq!(telnet["fix_available"], true);
    post_at(&server, &mut agent, &run, now - day * 10).await;
    assert_eq!(
        rule(&server, &agent.id, "vulns.fixable-high-sla").await,
        "pass"
    );
    // …and on an unchanged run today, 20 days old: past the 14-day SLA.
    post_at(&server, &mut agent, &run, now).await;
    assert_eq!(
        rule(&server, &agent.id, "vulns.fixable-high-sla").await,
        "fail"
    );
    let v = host_vulns(&server, &agent.id).await;
    let telnet = open_cve(&v, TELNET).unwrap();
    assert_eq!(telnet["age_days"], 20, "{telnet}");
    assert_eq!(v["snapshot"]["snapshot"], first_snapshot.as_str());
    let first_seen = telnet["first_seen"].as_str().unwrap().to_string();
    // The fleet view counts it.
    let (_, fleet) = server.get("/v1/vulns").await;
    assert!(
        fleet["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["cve"] == TELNET && i["hosts"] == 1),
        "{fleet}"
    );
    // It counts waived hosts too, and says so.
    assert_eq!(fleet["waivers_applied"], false, "{fleet}");
    assert!(
        fleet["note"].as_str().unwrap().contains("waived or not"),
        "{fleet}"
    );
    // The CLI lists it with its age; a fixable CVE is open: exit 1.
    let o = server.cli_output(&["vulns", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let cli: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(cli["hosts"][0]["vulns"]["open"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["cve"] == TELNET && f["age_days"] == 20));

    // Fixed: resolved at that statement; reinstalled: first seen anew.
    for p in ["inetutils-telnetd", "telnetd"] {
        set_version(root.path(), p, "2:2.4-2+deb12u3", "2:2.4-2+deb12u4");
    }
    let fixed = collect(root.path());
    let d_fix = post_at(
        &server,
        &mut agent,
        &fixed,
        now + chrono::Duration::seconds(1),
    )
    .await;
    let v = host_vulns(&server, &agent.id).await;
    assert!(open_cve(&v, TELNET).is_none(), "{v}");
    let resolved = v["resolved"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cve"] == TELNET)
        .expect("resolved");
    assert_eq!(resolved["resolved"]["digest"], d_fix.to_string());
    for p in ["inetutils-telnetd", "telnetd"] {
        set_version(root.path(), p, "2:2.4-2+deb12u4", "2:2.4-2+deb12u3");
    }
    let again = collect(root.path());
    post_at(
        &server,
        &mut agent,
        &again,
        now + chrono::Duration::seconds(2),
    )
    .await;
    let v = host_vulns(&server, &agent.id).await;
    let telnet = open_cve(&v, TELNET).expect("open again");
    assert_ne!(telnet["first_seen"].as_str().unwrap(), first_seen);
    assert_eq!(telnet["age_days"], 0);

    // CVE waivers for every fixable high CVE: the SLA rule passes, the
    // CVEs are listed as waived, and `vulns` exits 0 when only waived or
    // unfixed CVEs remain.
    let fixable: Vec<String> = v["host"]["vulns"]["open"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["fix_available"] == true)
        .map(|f| f["cve"].as_str().unwrap().to_string())
        .collect();
    assert!(fixable.contains(&TELNET.to_string()));
    let waivers: String = fixable
        .iter()
        .map(|c| format!("[[waiver]]\ncve = \"{c}\"\njustification = \"not exposed\"\napprover = \"ciso@example.com\"\nexpires = 2099-01-01\n\n"))
        .collect();
    std::fs::write(policies.path().join("waivers.toml"), waivers).unwrap();
    server.restart();
    post_at(
        &server,
        &mut agent,
        &again,
        now + chrono::Duration::seconds(3),
    )
    .await;
    assert_eq!(
        rule(&server, &agent.id, "vulns.fixable-high-sla").await,
        "pass"
    );
    assert_eq!(rule(&server, &agent.id, "vulns.fixable-sla").await, "pass");
    let o = server.cli_output(&["vulns", "--format", "json"]);
    let cli: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let w = &cli["hosts"][0]["vulns"]["waived"];
    assert!(
        w.as_array()
            .unwrap()
            .iter()
            .any(|x| x["cve"] == TELNET && x["expires"] == "2099-01-01"),
        "{w}"
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    std::fs::remove_file(policies.path().join("waivers.toml")).unwrap();
    server.restart();

    // A new snapshot without the telnetd CVE: the background re-match
    // resolves it at the host's latest statement, and the next statement
    // is evaluated against the new snapshot.
    let mut feed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&tracker).unwrap()).unwrap();
    feed["inetutils"].as_object_mut().unwrap().remove(TELNET);
    let newer = server.dir.path().join("tracker-2.json");
    std::fs::write(&newer, serde_json::to_vec(&feed).unwrap()).unwrap();
    server.cli(&["feed", "import", &newer.to_string_lossy()]);
    let list: serde_json::Value =
        serde_json::from_str(&server.cli(&["feed", "list", "--format", "json"])).unwrap();
    let second = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["in_force"] == true)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(second, first_snapshot);
    wait_snapshot(&server, &agent.id, &second).await;
    let mut resolved = false;
    for _ in 0..100 {
        let v = host_vulns(&server, &agent.id).await;
        if v["resolved"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cve"] == TELNET && r["resolved"]["sequence"] == 6)
        {
            resolved = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        resolved,
        "the re-match resolves the CVE the new snapshot dropped"
    );
    post_at(
        &server,
        &mut agent,
        &again,
        now + chrono::Duration::seconds(4),
    )
    .await;
    let v = host_vulns(&server, &agent.id).await;
    assert!(open_cve(&v, TELNET).is_none());
    server.finish().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn feed_import_then_vulns() {
        super::feed_import_then_vulns(evident_e2e::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ingest_decides_vulns_rules() {
        super::ingest_decides_vulns_rules(evident_e2e::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn feed_import_then_vulns() {
        super::feed_import_then_vulns(evident_e2e::Backend::Postgres).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ingest_decides_vulns_rules() {
        super::ingest_decides_vulns_rules(evident_e2e::Backend::Postgres).await;
    }
}
