//! Statements per ingested run on both stores (issues #10, #15): a host's
//! first statement, a run that changes every status and the run that
//! changes them back each cost the same number of SQL statements whether
//! the evaluation has 10 subjects or 300 (the drift and status writes are
//! one statement per table, `store/sets.rs`), and write every row.
//!
//! Statements are counted from sqlx's own per-statement log events (target
//! `sqlx::query`, one per statement executed, on any thread: SQLite runs
//! them on its worker thread), through a global subscriber. This file is
//! its own test binary with one test, so nothing else runs statements
//! while it counts. PostgreSQL: a fresh database on
//! EVIDENT_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
//! the test fails when the server cannot be reached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_collector::store::drift::{AlertQuery, DriftEval, DriftInput, DriftSettings};
use evident_collector::store::{self, EnrollOutcome, IngestItem, NewAgent, NewToken, Store};
use evident_core::wire::AgentStatus;
use evident_core::{sha256_digest, Digest};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;

/// Statements executed so far (sqlx log events).
static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

struct CountStatements;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn settings() -> Arc<DriftSettings> {
    Arc::new(DriftSettings {
        sinks: vec!["hook".into(), "log".into()],
        flap_window_ms: 1_000_000,
        flap_threshold: 10,
    })
}

/// `n` rule subjects and `n` control subjects, all passing or all failing.
fn statuses(n: usize, passing: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let (rule, control) = if passing {
            ("pass", "satisfied")
        } else {
            ("fail", "not-satisfied")
        };
        out.push((format!("rule:r{i:03}"), rule.to_string()));
        out.push((format!("control:C.{i:03}"), control.to_string()));
    }
    out
}

fn run(agent: &str, seq: i64, previous: Option<Digest>, st: &[(String, String)]) -> IngestItem {
    let body = st
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let envelope =
        format!("{{\"agent\":\"{agent}\",\"seq\":{seq},\"body\":\"{body}\"}}").into_bytes();
    let results = format!("{{\"results\":\"{body}\"}}").into_bytes();
    let blob = format!("blob {agent} {seq}").into_bytes();
    IngestItem {
        agent_id: agent.into(),
        sequence: seq,
        previous,
        declared_gap: None,
        envelope_digest: sha256_digest(&envelope),
        envelope: Arc::new(envelope),
        collected_at: 1000 + seq,
        received_at: 10_000 * seq,
        blobs: vec![(sha256_digest(&blob), Arc::new(blob))],
        results_digest: sha256_digest(&results),
        results: Some(Arc::new(results)),
        drift: Some(Arc::new(DriftInput {
            eval: Arc::new(DriftEval {
                statuses: st.iter().cloned().collect(),
                severities: st.iter().map(|(k, _)| (k.clone(), "high".into())).collect(),
                remediation: Default::default(),
            }),
            interval_seconds: 60,
            settings: settings(),
        })),
        vuln: None,
    }
}

async fn enrol(store: &dyn Store, id: &str, key: u8) {
    let secret = format!("secret-{id}");
    store
        .create_token(&NewToken {
            id: format!("tok-{id}"),
            hash: sha256_digest(secret.as_bytes()).0,
            created_at: 1,
            expires_at: None,
            max_uses: None,
        })
        .await
        .unwrap();
    let out = store
        .enroll(
            &sha256_digest(secret.as_bytes()).0,
            &NewAgent {
                id: id.into(),
                key_id: hex::encode([key; 32]),
                public_key: vec![key; 32],
                hostname: format!("host-{id}"),
                agent_version: "0.1.0".into(),
                status: AgentStatus::Active,
                now: 10,
            },
        )
        .await
        .unwrap();
    assert!(matches!(out, EnrollOutcome::Enrolled(_)));
}

/// Statements one `ingest_batch` of `item` executes (the writer's retry
/// path, `ingest_one`, for a batch of one).
async fn counted(store: &dyn Store, item: &IngestItem) -> usize {
    let before = STATEMENTS.load(Ordering::SeqCst);
    let out = store
        .ingest_batch(std::slice::from_ref(item))
        .await
        .unwrap()
        .outcomes;
    assert!(
        matches!(out[..], [store::IngestOutcome::Stored { .. }]),
        "{out:?}"
    );
    STATEMENTS.load(Ordering::SeqCst) - before
}

/// First run, every status changing, every status back: statements of each.
async fn three_runs(store: &dyn Store, agent: &str, key: u8, n: usize) -> [usize; 3] {
    enrol(store, agent, key).await;
    let (good, bad) = (statuses(n, true), statuses(n, false));
    let r1 = run(agent, 1, None, &good);
    let r2 = run(agent, 2, Some(r1.envelope_digest), &bad);
    let r3 = run(agent, 3, Some(r2.envelope_digest), &good);
    let counts = [
        counted(store, &r1).await,
        counted(store, &r2).await,
        counted(store, &r3).await,
    ];
    // Every row is written: 2n transitions each way, 2n drift alerts opened
    // and resolved, one outbox row per sink and event.
    let t = store.transitions(Some(agent), None, 10_000).await.unwrap();
    assert_eq!(t.len(), 4 * n);
    let alerts = store
        .list_alerts(&AlertQuery {
            host: Some(agent.into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(alerts.iter().filter(|a| !a.baseline).count(), 2 * n);
    assert!(alerts.iter().all(|a| a.baseline || a.state == "resolved"));
    let statuses = store.drift_statuses(agent).await.unwrap().unwrap();
    assert_eq!(statuses.len(), 2 * n);
    counts
}

async fn check(store: &dyn Store, name: &str) -> [usize; 3] {
    let small = three_runs(store, "small", 1, 5).await;
    let large = three_runs(store, "large", 2, 150).await;
    assert_eq!(
        small, large,
        "{name}: statements per run (first, all changed, all back) with 10 and 300 subjects"
    );
    // A bounded number: the run's own rows, the drift reads and one write
    // per table (row at a time, 300 subjects took > 600).
    assert!(large.iter().all(|n| *n <= 20), "{name}: {large:?}");
    // Fleet counts kept by the same writes: both hosts passing.
    let fleet = store.fleet_status().await.unwrap();
    assert!(fleet
        .iter()
        .any(|(s, st, n)| s == "rule:r000" && st == "pass" && *n == 2));
    assert!(fleet
        .iter()
        .all(|(_, st, _)| st == "pass" || st == "satisfied"));
    large
}

async fn sqlite() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = store::open(&url, 4, Duration::from_secs(5)).await.unwrap();
    (store, dir)
}

async fn postgres_check() -> [usize; 3] {
    let url = std::env::var("EVIDENT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = PgConnectOptions::from_str(&url).unwrap();
    let mut conn = admin.connect().await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at {url} is unreachable: {e} \
             (start it, or point EVIDENT_TEST_DATABASE_URL at one)"
        )
    });
    let name = format!("evident_test_rt_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let test_url = admin.clone().database(&name).to_url_lossy().to_string();
    let store = store::open(&test_url, 4, Duration::from_secs(5))
        .await
        .unwrap();
    let counts = check(&*store, "postgres").await;
    store.close().await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    counts
}

#[test]
fn a_run_costs_statements_independent_of_the_rule_count() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(CountStatements))
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (store, _dir) = sqlite().await;
        let lite = check(&*store, "sqlite").await;
        store.close().await;
        let pg = postgres_check().await;
        // Printed for the record (cargo test -- --nocapture).
        println!(
            "statements per run (first, all changed, all back): sqlite {lite:?}, postgres {pg:?}"
        );
    });
}
