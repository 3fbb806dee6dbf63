//! End-to-end (issue #18): a host whose dpkg status holds vulnerable
//! packages posts its evidence to a running collector; the tracker fixture
//! is imported with `feed import`; `vulns` names the open CVEs per host with
//! their fixes and the fleet view; a truncated feed is refused and the
//! previous snapshot stays in force. Both backends.
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

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn feed_import_then_vulns() {
        super::feed_import_then_vulns(evident_e2e::Backend::Sqlite).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn feed_import_then_vulns() {
        super::feed_import_then_vulns(evident_e2e::Backend::Postgres).await;
    }
}
