//! `evident-fleet-bench ingest` (issue 10) on a small fleet: the real
//! `serve` takes every later run of every host over a new TLS connection,
//! the writer stores the plain next runs in bulk, and the bench measures
//! the transport alone (`GET /livez`, one per new connection) beside the
//! runs, so its table says how much of a run's cost is TCP + TLS + HTTP.
//! On both backends.
#![allow(clippy::unwrap_used)] // test helpers called from the #[test]s

use evident_e2e::bin;
use std::process::Command;

/// The value cell of the table row that starts with `label`.
fn row<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix("| ")?.strip_prefix(label))
        .unwrap_or_else(|| panic!("no row `{label}` in:\n{report}"))
}

fn bench(backend: &str) {
    let out = Command::new(bin("evident-fleet-bench"))
        .args([
            "ingest",
            "--backend",
            backend,
            "--agents",
            "12",
            "--rounds",
            "3",
            "--connections",
            "4",
            "--packages",
            "60",
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ingest bench failed: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 12 hosts × 2 later rounds, every one answered 201/200.
    assert!(
        row(&report, "later runs, end to end").contains("(24 in "),
        "{report}"
    );
    // Every later run is the plain next run of its host: stored in bulk,
    // unless the batch held it alone (the writer's per-item path).
    let bulk = row(&report, "later runs the writer stored in bulk");
    assert!(bulk.contains(" of 24 "), "{report}");
    // The transport round: as many requests as hosts, all answered 200.
    let floor = row(&report, "transport alone");
    assert!(floor.contains("12 requests in "), "{report}");
    assert!(floor.contains("% of serve's CPU per later run"), "{report}");
    // The raw rate before the rounds, beside each of the two, and after;
    // the ratios divide by their mean.
    let raw = row(&report, "raw Ed25519 verify_strict");
    assert!(raw.contains("4 samples"), "{report}");
    assert!(raw.contains("/s; mean "), "{report}");
    // The writer's transactions for the 24 later runs: at least one, at most
    // one per run.
    let batches = row(&report, "the writer's transactions");
    let count: usize = batches
        .rsplit('|')
        .nth(1)
        .and_then(|v| v.trim().split(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!((1..=24).contains(&count), "{report}");
}

#[test]
fn ingest_bench_measures_runs_and_the_transport_sqlite() {
    bench("sqlite");
}

#[test]
fn ingest_bench_measures_runs_and_the_transport_postgres() {
    bench("postgres");
}
