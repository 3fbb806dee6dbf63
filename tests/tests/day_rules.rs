//! End-to-end: a run unchanged but for its collection day. The bundled
//! policy reads `collected_day` (`packages.recently-updated`), so a new day
//! is a new evaluation key; the collector then evaluates only the rules
//! that read the day and finds every other result under the day-free key
//! (`evident_ingest_day_rules_only_total` counts it). When those rules'
//! results change, the run is evaluated in full. `export` + `verify
//! --trust` re-evaluates every stored statement with the bundle's policies:
//! the results recorded through the day-free key are those of a full
//! evaluation, and `verify` itself re-evaluates only the day rules of the
//! next day's run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use evident_agent::probes::packages::PackagesFacts;
use evident_core::evidence::ProbeStatus;
use evident_core::sha256_digest;
use evident_core::wire::IngestResponse;
use evident_e2e::{bin, collect, fixture_root, request, Agent, Backend, Run, Server};
use std::process::Command;

async fn metric(server: &Server, name: &str) -> u64 {
    let (s, text) = server
        .get_as("/metrics", Some(server.admin_token.as_str()))
        .await;
    assert_eq!(s, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
}

/// `run` with a `packages` probe whose last upgrade was at `last_update`.
fn with_last_update(mut run: Run, last_update: DateTime<Utc>) -> Run {
    let facts = PackagesFacts {
        installed_count: 1,
        installed_names: vec!["bash".into()],
        last_update: Some(last_update.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        last_update_source: "apt-history".into(),
        ..Default::default()
    };
    let blob = serde_json::to_vec(&facts).unwrap();
    let digest = sha256_digest(&blob);
    let entry = run
        .probes
        .iter_mut()
        .find(|p| p.id == "packages")
        .expect("a packages probe entry");
    if let Some(old) = entry.digest {
        run.blobs.remove(&old);
    }
    entry.status = ProbeStatus::Ok;
    entry.reason = None;
    entry.digest = Some(digest);
    run.blobs.insert(digest, blob);
    run
}

async fn post(server: &Server, agent: &mut Agent, run: &Run, at: DateTime<Utc>) -> IngestResponse {
    let (env, _) = agent.sign_next_at(run, at);
    // Like the agent after its first run: no blob the collector holds.
    let first = agent.next_sequence == 2;
    let r = server.post(&request(&env, run, first)).await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn a_new_day_evaluates_only_the_day_rules(backend: Backend) {
    let mut server = Server::start(backend, &[]).await.expect("server");
    let counter = "evident_ingest_day_rules_only_total";
    let read = "evident_ingest_day_blobs_read_total";
    // Three days back at 00:00 UTC (inside the default maximum age).
    let day0 = (Utc::now() - Duration::days(3))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    // Upgraded 29 days before day0 + 10 h: recent (≤ 30 days before the
    // collection day's start) on day0 and day0 + 1, not on day0 + 2.
    let run = with_last_update(
        collect(fixture_root("day-host").path()),
        day0 - Duration::days(29) + Duration::hours(10),
    );
    let mut agent = Agent::new("day-host");
    agent.enroll(&server).await;

    let first = post(&server, &mut agent, &run, day0 + Duration::hours(23)).await;
    assert_eq!(metric(&server, counter).await, 0);
    // Next day, unchanged: only the day rules evaluated, same results.
    let crossed = post(&server, &mut agent, &run, day0 + Duration::hours(24)).await;
    assert_eq!(metric(&server, counter).await, 1);
    assert_eq!(crossed.summary, first.summary);
    // What the day rules read of the `packages` blob was kept when the first
    // run was evaluated in full: the blob is not read back.
    assert_eq!(metric(&server, read).await, 0);
    // Same day again: the day's key answers at once.
    let again = post(&server, &mut agent, &run, day0 + Duration::hours(25)).await;
    assert_eq!(metric(&server, counter).await, 1);
    assert_eq!(again.summary, first.summary);
    // A restarted collector keeps nothing in memory (and its counters start
    // at 0): the same day's next run finds no results to reuse, so it is
    // evaluated in full, and working out its day-free key read the blob
    // back from the store; the results are the same.
    server.restart();
    let restarted = post(&server, &mut agent, &run, day0 + Duration::hours(36)).await;
    assert_eq!(restarted.summary, first.summary);
    assert_eq!(metric(&server, counter).await, 0);
    // One per blob of a probe the day rules read (`packages`, `malware`, …).
    let read_back = metric(&server, read).await;
    assert!(read_back >= 1, "{read_back}");
    // Another day, and the upgrade is now older than 30 days: the day rule
    // turns, so nothing is reused and the run is evaluated in full; what
    // the day rule reads was kept again, so no blob is read for it.
    let turned = post(&server, &mut agent, &run, day0 + Duration::hours(48)).await;
    assert_eq!(metric(&server, counter).await, 0);
    assert_eq!(metric(&server, read).await, read_back);
    let count = |r: &IngestResponse, s: &str| r.summary.get(s).copied().unwrap_or(0);
    assert_eq!(count(&turned, "fail"), count(&first, "fail") + 1);
    assert_eq!(count(&turned, "pass") + 1, count(&first, "pass"));

    // Every recorded result is what a full evaluation gives.
    let out = server.dir.path().join("days.bundle");
    server.cli(&["export", "-o", &out.to_string_lossy()]);
    let key_id = evident_collector::review::collector_signer(server.dir.path())
        .unwrap()
        .key_id()
        .to_string();
    let v = Command::new(bin("evident-collector"))
        .arg("verify")
        .arg(&out)
        .args(["--trust", &key_id])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&v.stdout).into_owned() + &String::from_utf8_lossy(&v.stderr);
    assert_eq!(v.status.code(), Some(0), "{text}");
    // `verify` re-evaluates the same way: the first day and the turned one
    // in full, the next day's first run only on its day rules (its results
    // then come from the day before), the same day's second run by its key.
    assert!(
        text.contains("re-evaluations: 2 in full, 1 of the day-reading rules only"),
        "{text}"
    );
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_day_evaluates_only_the_day_rules_sqlite() {
    a_new_day_evaluates_only_the_day_rules(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_day_evaluates_only_the_day_rules_postgres() {
    a_new_day_evaluates_only_the_day_rules(Backend::Postgres).await;
}

/// Evaluation converts only the fields the bundled rules read of each probe
/// (`policy/fields.rs`: the package inventory, most of the `packages` blob,
/// is never converted), and gives exactly the results of converting every
/// field, on a compliant host and on one failing several rules.
#[test]
fn converting_only_the_fields_read_gives_the_same_results() {
    use evident_agent::hostroot::HostRoot;
    use evident_core::bundle::RecordedResults;
    use evident_core::policy::RuleStatus;
    let projected = evident_policies::bundled_set().unwrap();
    let fields = projected.fields_converted("packages").expect("projected");
    assert!(fields.contains("last_update"), "{fields:?}");
    assert!(!fields.contains("inventory"), "{fields:?}");
    let whole = evident_policies::bundled_set()
        .unwrap()
        .project_fields(false);
    assert!(whole.fields_converted("packages").is_none());
    let now = "2026-11-20T10:00:00Z".parse().unwrap();
    for (name, sshd) in [
        ("proj-a", "PermitRootLogin no\nPasswordAuthentication no\n"),
        (
            "proj-b",
            "PermitRootLogin yes\nPasswordAuthentication yes\n",
        ),
    ] {
        let root = fixture_root(name);
        std::fs::write(root.path().join("etc/ssh/sshd_config"), sshd).unwrap();
        let (evidence, a) =
            evident_agent::scan::scan(&projected, &HostRoot::offline(root.path()), now).unwrap();
        let statuses: std::collections::BTreeSet<RuleStatus> =
            a.rules.iter().map(|r| r.status).collect();
        assert!(
            statuses.contains(&RuleStatus::Pass) && statuses.contains(&RuleStatus::Fail),
            "{statuses:?}"
        );
        let b = evident_core::policy::evaluate(&whole, &evidence);
        assert_eq!(
            RecordedResults::from_evaluation(a),
            RecordedResults::from_evaluation(b),
            "{name}"
        );
    }
}
