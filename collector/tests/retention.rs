//! Retention on both stores (issue 10): what a pass prunes and keeps, the
//! chain stubs it leaves, the recorded run, dry runs, idempotence, and the
//! event tables (open alerts protect what they cite, and so does the
//! vulnerability first-seen state). SQLite in a temp dir
//! and PostgreSQL (a fresh database on EVIDENT_TEST_DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/test; unreachable fails the test).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_collector::service::retention::{run_pass, RetentionConfig};
use evident_collector::store::{
    self, EnrollOutcome, IngestItem, IngestOutcome, NewAgent, NewToken, Store,
};
use evident_core::evidence::{
    AgentInfo, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule, Statement, PAYLOAD_TYPE,
};
use evident_core::wire::AgentStatus;
use evident_core::{sha256_digest, Digest, Signer};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

struct Db {
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(PgConnectOptions, String)>,
}

impl Db {
    async fn cleanup(self) {
        self.store.close().await;
        if let Some((admin, name)) = self.pg {
            let mut conn = admin.connect().await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.ok();
        }
    }
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = store::open(&url, 4, Duration::from_secs(5)).await.unwrap();
    Db {
        store,
        _dir: Some(dir),
        pg: None,
    }
}

async fn postgres() -> Db {
    let url = std::env::var("EVIDENT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = PgConnectOptions::from_str(&url).unwrap();
    let mut conn = admin.connect().await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at {url} is unreachable: {e} \
             (start it, or point EVIDENT_TEST_DATABASE_URL at one)"
        )
    });
    let name = format!("evident_test_{}", hex::encode(rand_bytes()));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    let test_url = admin.clone().database(&name).to_url_lossy().to_string();
    let store = store::open(&test_url, 4, Duration::from_secs(5))
        .await
        .unwrap();
    Db {
        store,
        _dir: None,
        pg: Some((admin, name)),
    }
}

fn rand_bytes() -> [u8; 6] {
    use rand_core::RngCore as _;
    let mut b = [0u8; 6];
    rand_core::OsRng.fill_bytes(&mut b);
    b
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store { $(
            #[tokio::test]
            async fn $name() {
                let db = super::sqlite().await;
                super::$name(&*db.store).await;
                db.cleanup().await;
            }
        )* }
        mod postgres_store { $(
            #[tokio::test]
            async fn $name() {
                let db = super::postgres().await;
                super::$name(&*db.store).await;
                db.cleanup().await;
            }
        )* }
    };
}

on_both!(
    a_pass_prunes_unchanged_runs_to_linked_stubs,
    open_alerts_keep_what_they_cite,
    fleet_counts_follow_ingest_and_agent_status,
    ingest_reads_only_current_attestations_of_its_controls,
    period_queries_return_exactly_the_period_with_a_clock_set_back,
    vulnerability_state_first_seen_resolved_and_kept_by_retention,
);

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2024-10-04T00:00:00Z.
const D0: i64 = 20_000 * DAY;

async fn enrolled(store: &dyn Store, id: &str, key: u8) {
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

/// A real signed statement: `content` picks the probe data, `results`
/// the recorded results.
fn signed(
    agent: &str,
    seq: i64,
    at: i64,
    content: &str,
    results: &str,
    previous: Option<Digest>,
) -> IngestItem {
    let blob = format!("{{\"v\":\"{content}\"}}").into_bytes();
    let predicate = Predicate {
        agent: AgentInfo {
            id: agent.into(),
            version: "0.1.0".into(),
        },
        host: HostFacts {
            hostname: format!("host-{agent}"),
            os_family: "linux".into(),
            ..HostFacts::default()
        },
        sequence: u64::try_from(seq).unwrap(),
        previous,
        gap: None,
        collected_at: chrono::DateTime::from_timestamp_millis(at).unwrap(),
        schedule: Schedule {
            cron: "0 0 * * * *".into(),
            interval_seconds: 3600,
        },
        probes: vec![ProbeEntry {
            id: "sshd".into(),
            version: 1,
            status: ProbeStatus::Ok,
            duration_us: u64::try_from(seq).unwrap(),
            digest: Some(sha256_digest(&blob)),
            reason: None,
        }],
    };
    let envelope = Signer::from_seed(&[7; 32])
        .sign_envelope(PAYLOAD_TYPE, Statement::new(predicate).to_bytes())
        .to_json();
    let results = format!("{{\"results\":\"{results}\"}}").into_bytes();
    IngestItem {
        agent_id: agent.into(),
        sequence: seq,
        previous,
        declared_gap: None,
        envelope_digest: sha256_digest(&envelope),
        envelope: Arc::new(envelope),
        collected_at: at,
        received_at: at + 1000,
        blobs: vec![(sha256_digest(&blob), Arc::new(blob))],
        results_digest: sha256_digest(&results),
        results: Some(Arc::new(results)),
        drift: None,
        vuln: None,
    }
}

async fn sequences(store: &dyn Store, agent: &str) -> Vec<i64> {
    let mut s: Vec<i64> = store
        .statements(agent, None, 1000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.sequence)
        .collect();
    s.reverse();
    s
}

async fn a_pass_prunes_unchanged_runs_to_linked_stubs(store: &dyn Store) {
    enrolled(store, "r1", 1).await;
    // (sequence, collected at, content, results)
    let plan: &[(i64, i64, &str, &str)] = &[
        (1, D0 + HOUR, "a", "x"),            // first: kept
        (2, D0 + 2 * HOUR, "a", "x"),        // unchanged: pruned
        (3, D0 + 3 * HOUR, "a", "x"),        // unchanged: pruned
        (4, D0 + 4 * HOUR, "b", "x"),        // content changed: kept
        (5, D0 + 5 * HOUR, "b", "y"),        // results changed: kept
        (6, D0 + 6 * HOUR, "b", "y"),        // unchanged: pruned
        (7, D0 + 7 * HOUR, "b", "y"),        // carries a chain event: kept
        (8, D0 + 8 * HOUR, "b", "y"),        // unchanged: pruned
        (9, D0 + DAY + HOUR, "b", "y"),      // first of its day: kept
        (10, D0 + DAY + 2 * HOUR, "b", "y"), // unchanged: pruned
        (11, D0 + DAY + 3 * HOUR, "b", "y"), // before a sequence gap: kept
        (13, D0 + DAY + 4 * HOUR, "b", "y"), // after the gap, the head: kept
    ];
    let mut previous = None;
    let mut items = Vec::new();
    for (seq, at, content, results) in plan {
        let named = if *seq == 7 {
            Some(sha256_digest(b"not the previous envelope"))
        } else {
            previous
        };
        let it = signed("r1", *seq, *at, content, results, named);
        let out = store
            .ingest_batch(std::slice::from_ref(&it))
            .await
            .unwrap()
            .outcomes;
        assert!(matches!(out[0], IngestOutcome::Stored { .. }), "{out:?}");
        previous = Some(it.envelope_digest);
        items.push(it);
    }
    let all: Vec<i64> = plan.iter().map(|p| p.0).collect();
    assert_eq!(sequences(store, "r1").await, all);
    let cfg = RetentionConfig {
        keep_days: 400,
        batch: 2,
        ..RetentionConfig::default()
    };
    // Inside the window nothing is considered.
    let now_inside = D0 + 300 * DAY;
    let r = run_pass(store, &cfg, now_inside, false, &|| false)
        .await
        .unwrap();
    assert_eq!((r.considered, r.pruned), (0, 0));
    assert_eq!(sequences(store, "r1").await, all);

    let now = D0 + 402 * DAY;
    // A dry run says what would go and changes nothing.
    let dry = run_pass(store, &cfg, now, true, &|| false).await.unwrap();
    assert_eq!(dry.run, None);
    assert_eq!((dry.considered, dry.pruned), (11, 5));
    assert_eq!(dry.events.integrity_events, 0, "marks not advanced yet");
    assert_eq!(sequences(store, "r1").await, all);
    assert!(store
        .chain_stubs("r1", None, None, None, 100)
        .await
        .unwrap()
        .is_empty());

    let r = run_pass(store, &cfg, now, false, &|| false).await.unwrap();
    let run = r.run.unwrap();
    assert_eq!((r.considered, r.pruned), (11, 5));
    assert_eq!(sequences(store, "r1").await, vec![1, 4, 5, 7, 9, 11, 13]);
    // The chain event of 7 went (its statement was considered); the gap
    // event of 13 (the head, not considered) stays.
    assert_eq!(r.events.integrity_events, 1);
    let left = store.integrity_events(Some("r1"), None, 10).await.unwrap();
    assert_eq!(
        left.iter()
            .map(|e| (e.kind.as_str(), e.sequence))
            .collect::<Vec<_>>(),
        vec![("gap", 13)]
    );
    // One stub per pruned statement: its digest and the previous it named.
    let stubs = store
        .chain_stubs("r1", None, None, None, 100)
        .await
        .unwrap();
    assert_eq!(
        stubs.iter().map(|s| s.sequence).collect::<Vec<_>>(),
        vec![2, 3, 6, 8, 10]
    );
    for s in &stubs {
        let it = items.iter().find(|i| i.sequence == s.sequence).unwrap();
        assert_eq!(s.digest, it.envelope_digest);
        assert_eq!(s.previous, it.previous);
        assert_eq!(s.collected_at, it.collected_at);
        assert_eq!(s.prune_run, run);
    }
    // Filtered by collection time, like an export's period.
    let day2 = store
        .chain_stubs("r1", None, Some(D0 + DAY), None, 100)
        .await
        .unwrap();
    assert_eq!(
        day2.iter().map(|s| s.sequence).collect::<Vec<_>>(),
        vec![10]
    );
    // The run is recorded with its policy and counts.
    let runs = store.prune_runs(&[run]).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].statements, 5);
    assert_eq!(runs[0].keep_days, 400);
    assert_eq!(runs[0].cutoff, now - 400 * DAY);
    assert_eq!(runs[0].finished_at, Some(now));
    assert!(runs[0].policy.contains("400 days"), "{}", runs[0].policy);
    // A second pass has nothing left to consider.
    let again = run_pass(store, &cfg, now + HOUR, false, &|| false)
        .await
        .unwrap();
    assert_eq!((again.considered, again.pruned), (0, 0));
    // A pruned statement sent again is a duplicate, another envelope at
    // its sequence a conflict: pruning frees no sequence.
    let again = store
        .ingest_batch(std::slice::from_ref(&items[1]))
        .await
        .unwrap()
        .outcomes;
    assert_eq!(again[0], IngestOutcome::Duplicate);
    let other = signed("r1", 2, D0 + 2 * HOUR, "z", "x", items[0].previous);
    let out = store
        .ingest_batch(std::slice::from_ref(&other))
        .await
        .unwrap()
        .outcomes;
    assert_eq!(
        out[0],
        IngestOutcome::Conflict {
            existing: items[1].envelope_digest
        }
    );
    // Kept statements still read back exactly.
    let (row, bytes) = store
        .statement(&items[3].envelope_digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.sequence, 4);
    assert_eq!(bytes, *items[3].envelope);
}

async fn open_alerts_keep_what_they_cite(store: &dyn Store) {
    use evident_collector::store::drift::{AlertQuery, DriftEval, DriftInput, DriftSettings};
    enrolled(store, "r2", 2).await;
    let settings = Arc::new(DriftSettings {
        sinks: vec!["log".into()],
        flap_window_ms: 1,
        flap_threshold: 100,
    });
    let mut previous = None;
    for (seq, status) in [(1, "pass"), (2, "fail"), (3, "fail")] {
        let mut it = signed("r2", seq, D0 + seq * HOUR, "a", status, previous);
        it.drift = Some(Arc::new(DriftInput {
            eval: Arc::new(DriftEval {
                statuses: [("rule:r".to_string(), status.to_string())].into(),
                severities: [("rule:r".to_string(), "high".to_string())].into(),
                remediation: Default::default(),
            }),
            interval_seconds: 3600,
            settings: settings.clone(),
        }));
        store.ingest_batch(std::slice::from_ref(&it)).await.unwrap();
        previous = Some(it.envelope_digest);
    }
    let open = store
        .list_alerts(&AlertQuery {
            open_only: true,
            limit: 10,
            ..AlertQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let transitions_before = store
        .transitions(Some("r2"), None, 100)
        .await
        .unwrap()
        .len();
    assert_eq!(transitions_before, 1, "pass → fail");
    let cfg = RetentionConfig {
        keep_days: 400,
        ..RetentionConfig::default()
    };
    let r = run_pass(store, &cfg, D0 + 500 * DAY, false, &|| false)
        .await
        .unwrap();
    // The open alert, its undelivered notification and the transitions of
    // its subject stay; so do the statements (results changed, head).
    assert_eq!(r.events.alerts, 0);
    assert_eq!(r.events.outbox, 0);
    assert_eq!(r.events.transitions, 0);
    assert_eq!(r.pruned, 0);
    assert_eq!(
        store
            .transitions(Some("r2"), None, 100)
            .await
            .unwrap()
            .len(),
        transitions_before
    );
    assert_eq!(sequences(store, "r2").await, vec![1, 2, 3]);
}

async fn fleet_counts_follow_ingest_and_agent_status(store: &dyn Store) {
    use evident_collector::store::drift::{DriftEval, DriftInput, DriftSettings};
    let settings = Arc::new(DriftSettings {
        sinks: vec![],
        flap_window_ms: 1,
        flap_threshold: 100,
    });
    let post = |agent: &'static str, seq: i64, control: &'static str, previous| {
        let mut it = signed(agent, seq, D0 + seq * HOUR, "a", control, previous);
        it.drift = Some(Arc::new(DriftInput {
            eval: Arc::new(DriftEval {
                statuses: [
                    ("control:A.8.5".to_string(), control.to_string()),
                    ("rule:r".to_string(), "pass".to_string()),
                ]
                .into(),
                severities: Default::default(),
                remediation: Default::default(),
            }),
            interval_seconds: 3600,
            settings: settings.clone(),
        }));
        it
    };
    // Control rows (what /v1/controls and /metrics read); rule rows are
    // counted too (the console's matrix and control pages read them).
    let counts = |v: Vec<(String, String, i64)>| -> Vec<(String, i64)> {
        v.into_iter()
            .filter(|(subject, _, _)| subject.starts_with("control:"))
            .map(|(subject, status, n)| (format!("{subject}={status}"), n))
            .collect()
    };
    let rule_counts = |v: Vec<(String, String, i64)>| -> Vec<(String, i64)> {
        v.into_iter()
            .filter(|(subject, _, _)| subject.starts_with("rule:"))
            .map(|(subject, status, n)| (format!("{subject}={status}"), n))
            .collect()
    };
    enrolled(store, "f1", 3).await;
    enrolled(store, "f2", 4).await;
    assert!(store.fleet_status().await.unwrap().is_empty());
    let a1 = post("f1", 1, "satisfied", None);
    let b1 = post("f2", 1, "satisfied", None);
    store.ingest_batch(&[a1.clone(), b1.clone()]).await.unwrap();
    assert_eq!(
        counts(store.fleet_status().await.unwrap()),
        vec![("control:A.8.5=satisfied".to_string(), 2)]
    );
    assert_eq!(
        rule_counts(store.fleet_status().await.unwrap()),
        vec![("rule:r=pass".to_string(), 2)]
    );
    // f1 changes: its control's count moves.
    let a2 = post("f1", 2, "not-satisfied", Some(a1.envelope_digest));
    store.ingest_batch(std::slice::from_ref(&a2)).await.unwrap();
    assert_eq!(
        counts(store.fleet_status().await.unwrap()),
        vec![
            ("control:A.8.5=not-satisfied".to_string(), 1),
            ("control:A.8.5=satisfied".to_string(), 1)
        ]
    );
    // One batch moving both hosts, f1 twice (back and forth): the writer
    // sums the moves of its transaction and writes them once
    // (`store/fleet.rs`); the counts are those of the hosts' newest runs.
    let a3 = post("f1", 3, "satisfied", Some(a2.envelope_digest));
    let a4 = post("f1", 4, "not-satisfied", Some(a3.envelope_digest));
    let b2 = post("f2", 2, "not-satisfied", Some(b1.envelope_digest));
    store.ingest_batch(&[a3, b2, a4]).await.unwrap();
    assert_eq!(
        counts(store.fleet_status().await.unwrap()),
        vec![("control:A.8.5=not-satisfied".to_string(), 2)]
    );
    assert_eq!(
        rule_counts(store.fleet_status().await.unwrap()),
        vec![("rule:r=pass".to_string(), 2)]
    );
    // A revoked agent leaves the counts; approved again, it is back.
    assert!(store
        .set_agent_status("f2", AgentStatus::Revoked)
        .await
        .unwrap());
    assert_eq!(
        counts(store.fleet_status().await.unwrap()),
        vec![("control:A.8.5=not-satisfied".to_string(), 1)]
    );
    assert!(store
        .set_agent_status("f2", AgentStatus::Active)
        .await
        .unwrap());
    assert_eq!(
        counts(store.fleet_status().await.unwrap()),
        vec![("control:A.8.5=not-satisfied".to_string(), 2)]
    );
    assert!(!store
        .set_agent_status("nobody", AgentStatus::Active)
        .await
        .unwrap());
    let st = store.drift_statuses("f1").await.unwrap().unwrap();
    assert_eq!(st["control:A.8.5"], "not-satisfied");
    assert_eq!(store.drift_statuses("nobody").await.unwrap(), None);
}

async fn ingest_reads_only_current_attestations_of_its_controls(store: &dyn Store) {
    use evident_collector::store::NewAttestation;
    let att = |control: &str, expires: &str, at: i64| NewAttestation {
        digest: sha256_digest(format!("{control}{expires}").as_bytes()),
        control: control.into(),
        attester_key_id: "k".into(),
        expires: expires.into(),
        created_at: at,
        envelope: format!("{control} until {expires}").into_bytes(),
    };
    for a in [
        att("A.5.1", "2026-01-10", 3),
        att("A.5.1", "2025-01-01", 1),
        att("A.6.3", "2026-05-01", 2),
        att("A.5.2", "2027-01-01", 4),
    ] {
        store.add_attestation(&a, &[]).await.unwrap();
    }
    let got = store
        .attestations_for(&["A.5.1".into(), "A.5.2".into()], "2025-06-01")
        .await
        .unwrap();
    assert_eq!(
        got.iter()
            .map(|a| (a.control.as_str(), a.expires.as_str()))
            .collect::<Vec<_>>(),
        vec![("A.5.1", "2026-01-10"), ("A.5.2", "2027-01-01")]
    );
    assert!(store
        .attestations_for(&[], "2025-06-01")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.attestations().await.unwrap().len(), 4);
}

/// Period queries (`export`/`report --since/--until`) go through the time
/// index `statement_days`: exactly the statements collected within the
/// period, also when a host's clock went back across a day boundary, and
/// after retention pruned some of them.
async fn period_queries_return_exactly_the_period_with_a_clock_set_back(store: &dyn Store) {
    enrolled(store, "p1", 31).await;
    enrolled(store, "p2", 32).await;
    // p1: hourly over 5 days, except that sequences 50–52 carry times of
    // the day before (a clock set back); p2: one run a day.
    let mut times = Vec::new();
    let mut previous = None;
    let mut items = Vec::new();
    for seq in 1..=120i64 {
        let mut at = D0 + (seq - 1) * HOUR;
        if (50..=52).contains(&seq) {
            at -= DAY;
        }
        times.push((seq, at));
        let it = signed("p1", seq, at, "same", "r", previous);
        previous = Some(it.envelope_digest);
        items.push(it);
    }
    store.ingest_batch(&items).await.unwrap();
    let mut previous = None;
    for seq in 1..=5i64 {
        let it = signed("p2", seq, D0 + (seq - 1) * DAY, "same", "r", previous);
        previous = Some(it.envelope_digest);
        store.ingest_batch(&[it]).await.unwrap();
    }
    let read = |since: Option<i64>, until: Option<i64>| async move {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let rows = store
                .statement_rows("p1", after, since, until, 7)
                .await
                .unwrap();
            out.extend(rows.iter().map(|r| r.sequence));
            after = rows.last().map(|r| r.sequence);
            if rows.len() < 7 {
                return out;
            }
        }
    };
    let expect = |since: i64, until: i64| -> Vec<i64> {
        times
            .iter()
            .filter(|(_, at)| *at >= since && *at <= until)
            .map(|(s, _)| *s)
            .collect()
    };
    for (since, until) in [
        (D0, D0 + 5 * DAY),
        (D0 + DAY, D0 + DAY + 3 * HOUR),
        (D0 + DAY + 2 * HOUR, D0 + 2 * DAY - 1),
        (D0 + 3 * DAY, D0 + 3 * DAY + 30 * HOUR),
        (D0 - 10 * DAY, D0 - 1),
        (D0 + 4 * DAY + 23 * HOUR + 1, D0 + 9 * DAY),
    ] {
        let got = read(Some(since), Some(until)).await;
        assert_eq!(got, expect(since, until), "period {since}..={until}");
        let span = store
            .statement_span("p1", Some(since), Some(until))
            .await
            .unwrap();
        let want = expect(since, until);
        assert_eq!(
            span.map(|s| s.statements),
            (!want.is_empty()).then_some(want.len() as u64)
        );
        let last = store
            .last_statement("p1", Some(since), Some(until))
            .await
            .unwrap();
        assert_eq!(last.map(|(r, _)| r.sequence), want.last().copied());
    }
    // The clock set back: sequences 50–52 belong to the earlier day.
    let day1 = read(Some(D0 + DAY), Some(D0 + 2 * DAY - 1)).await;
    assert!(day1.contains(&50) && day1.contains(&52) && !day1.contains(&49));
    // Unbounded: everything; the other agent's rows never mix in.
    assert_eq!(read(None, None).await.len(), 120);
    let envelopes = store
        .export_statements("p2", None, Some(D0 + DAY), Some(D0 + 3 * DAY), 100)
        .await
        .unwrap();
    assert_eq!(
        envelopes
            .iter()
            .map(|(r, _)| r.sequence)
            .collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
}

/// The per-host vulnerability state the ingest transaction keeps (issue
/// 18): inventory history rows on change only, first seen kept while open,
/// resolved when gone, a reinstall opening anew; the fleet view; and
/// retention keeping every statement the rows cite.
async fn vulnerability_state_first_seen_resolved_and_kept_by_retention(store: &dyn Store) {
    use evident_collector::store::vuln::{NewFirstSeen, StatementRef, VulnUpdate};
    enrolled(store, "v1", 9).await;
    let inv_a = sha256_digest(b"inventory a");
    let inv_b = sha256_digest(b"inventory b");
    // (sequence, inventory, new pairs, gone pairs, refresh)
    type Step<'a> = (i64, Digest, &'a [(&'a str, i64)], &'a [&'a str], bool);
    let plan: &[Step] = &[
        (1, inv_a, &[], &[], false),            // no snapshot yet
        (2, inv_a, &[("CVE-1", 1)], &[], true), // opened, dated to 1
        (3, inv_a, &[], &[], true),             // unchanged: pruned later
        (4, inv_a, &[], &[], true),             // unchanged: pruned later
        (5, inv_b, &[], &["CVE-1"], false),     // fixed: resolved at 5
        (6, inv_b, &[], &[], false),            // unchanged: pruned later
        (7, inv_a, &[("CVE-1", 7)], &[], true), // reinstalled: anew
        (8, inv_a, &[], &[], true),             // head
    ];
    let mut previous = None;
    let mut digests = std::collections::BTreeMap::new();
    for (seq, inv, new, gone, refresh) in plan {
        let at = D0 + seq * HOUR;
        let mut it = signed("v1", *seq, at, "a", "x", previous);
        let statement = StatementRef {
            sequence: *seq,
            digest: it.envelope_digest,
            at,
        };
        digests.insert(*seq, statement);
        it.vuln = Some(Arc::new(VulnUpdate {
            agent_id: "v1".into(),
            statement,
            packages: Some(*inv),
            refresh_last: *refresh,
            new: new
                .iter()
                .map(|(cve, first)| NewFirstSeen {
                    cve: (*cve).into(),
                    source: "openssl".into(),
                    first: digests[first],
                })
                .collect(),
            gone: gone
                .iter()
                .map(|c| ((*c).to_string(), "openssl".to_string()))
                .collect(),
        }));
        store.ingest_batch(std::slice::from_ref(&it)).await.unwrap();
        previous = Some(it.envelope_digest);
        if *seq == 4 {
            let open = store.vuln_first_seen(Some("v1"), false).await.unwrap();
            assert_eq!(open.len(), 1);
            assert_eq!(
                open[0].first, digests[&1],
                "first seen survives unchanged runs"
            );
            assert_eq!((open[0].last_sequence, open[0].last_at), (4, D0 + 4 * HOUR));
            let fleet = store.vuln_fleet(10).await.unwrap();
            assert_eq!((fleet[0].cve.as_str(), fleet[0].hosts), ("CVE-1", 1));
        }
        if *seq == 5 {
            assert!(store
                .vuln_first_seen(Some("v1"), false)
                .await
                .unwrap()
                .is_empty());
            let all = store.vuln_first_seen(Some("v1"), true).await.unwrap();
            assert_eq!(all[0].resolved, Some(digests[&5]));
            assert!(store.vuln_fleet(10).await.unwrap().is_empty());
        }
    }
    let all = store.vuln_first_seen(Some("v1"), true).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].first, digests[&7], "a reinstall starts anew");
    assert_eq!(all[0].resolved, None);
    // Inventory history: a row per change only, newest first.
    let h = store.vuln_inventory_history("v1", 100, 10).await.unwrap();
    let rows: Vec<(i64, Digest)> = h.iter().map(|r| (r.first_sequence, r.packages)).collect();
    assert_eq!(rows, vec![(7, inv_a), (5, inv_b), (1, inv_a)]);
    let latest = store.vuln_latest_inventories(None, 10).await.unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(
        (latest[0].packages, latest[0].statement),
        (inv_a, digests[&8])
    );
    // A re-match resolving at the latest statement (same as last seen).
    store
        .vuln_apply(&[VulnUpdate {
            agent_id: "v1".into(),
            statement: digests[&8],
            packages: None,
            refresh_last: false,
            new: vec![],
            gone: vec![("CVE-1".into(), "openssl".into())],
        }])
        .await
        .unwrap();
    let all = store.vuln_first_seen(Some("v1"), true).await.unwrap();
    assert_eq!(all[0].resolved, Some(digests[&8]));

    // Retention far past the window: the statements the state cites (1, 5,
    // 7; 8 is the head) are kept although nothing else changed there.
    let cfg = RetentionConfig {
        keep_days: 400,
        ..RetentionConfig::default()
    };
    run_pass(store, &cfg, D0 + 500 * DAY, false, &|| false)
        .await
        .unwrap();
    assert_eq!(sequences(store, "v1").await, vec![1, 5, 7, 8]);
}
