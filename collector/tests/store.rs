//! One store test suite, run against SQLite (temp dir) and PostgreSQL (a
//! fresh database per test on EVIDENT_TEST_DATABASE_URL, default
//! postgres://postgres@127.0.0.1:5432/test). A PostgreSQL test that cannot
//! reach the server fails, in CI or not: it never passes without running.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use evident_collector::store::{
    self, EnrollOutcome, IngestItem, IngestOutcome, NewAgent, NewToken, Store,
};
use evident_core::evidence::SequenceRange;
use evident_core::wire::AgentStatus;
use evident_core::{sha256_digest, Digest};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

struct Db {
    store: Arc<dyn Store>,
    url: String,
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
        url,
        _dir: Some(dir),
        pg: None,
    }
}

/// A fresh PostgreSQL database; panics (fails the test) when unreachable.
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
        url: test_url,
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
                super::$name(&*db.store, &db.url).await;
                db.cleanup().await;
            }
        )* }
        mod postgres_store { $(
            #[tokio::test]
            async fn $name() {
                let db = super::postgres().await;
                super::$name(&*db.store, &db.url).await;
                db.cleanup().await;
            }
        )* }
    };
}

on_both!(
    vuln_snapshots_by_digest_newest_in_force,
    vuln_fleet_counts_are_the_group_by_of_the_open_state,
    enrollment_tokens_and_idempotence,
    ingest_dedup_conflict_gap_and_chain,
    refused_agents_store_nothing,
    batches_are_atomic_per_agent_order,
    queries_and_pagination,
    drift_transitions_alerts_and_outbox,
    stale_flapping_and_integrity_alerts,
    policy_files_are_kept_by_digest,
    console_matrix_pages_in_index_order,
    console_alert_pages_filters_and_counts,
    console_sessions_expire_in_batches,
    console_trend_backfills_from_history,
    a_batch_stores_what_items_one_by_one_store,
    unchanged_inventories_go_in_bulk,
    results_known_by_digest_drive_drift_from_the_stored_results,
    every_envelope_form_reads_back_identical_bytes,
    every_blob_encoding_reads_back_identical_bytes,
    a_hosts_changed_inventory_is_stored_as_a_delta,
    stale_hosts_passing_controls_are_counted_in_one_query,
);

/// `/v1/controls` reports the passing controls of stale hosts as `stale`
/// from one grouped query (it read every stale host one by one: 3.5 s for
/// a fleet of 10,000 stale hosts).
async fn stale_hosts_passing_controls_are_counted_in_one_query(store: &dyn Store, _url: &str) {
    let s = settings(2);
    for (id, key) in [("s1", 61u8), ("s2", 62)] {
        enrolled(store, id, key).await;
        let st: &[(&str, &str)] = &[
            ("control:A.8.5", "satisfied"),
            ("control:A.8.2", "not-satisfied"),
            ("rule:r", "pass"),
        ];
        one(store, &drift_item(id, 1, None, st, &s)).await;
    }
    assert!(store.stale_passing_counts().await.unwrap().is_empty());
    assert_eq!(
        store
            .open_stale(999_999_999, 2.0, &s.sinks)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.stale_passing_counts().await.unwrap(),
        vec![("control:A.8.5".to_string(), "satisfied".to_string(), 2)]
    );
}

async fn policy_files_are_kept_by_digest(store: &dyn Store, _url: &str) {
    store.refresh_statistics().await.unwrap();
    use evident_collector::store::PolicyFileRecord;
    let file = |name: &str, data: &[u8], at: i64| PolicyFileRecord {
        digest: sha256_digest(data),
        name: name.into(),
        kind: "policy".into(),
        data: data.to_vec(),
        first_loaded_at: at,
    };
    let v1 = file(
        "/etc/evident/policies/base.toml",
        b"[policy]\nversion = \"1\"\n",
        1_000,
    );
    let v2 = file(
        "/etc/evident/policies/base.toml",
        b"[policy]\nversion = \"2\"\n",
        2_000,
    );
    store
        .keep_policy_files(std::slice::from_ref(&v1))
        .await
        .unwrap();
    // A restart with the same file, and a later one with a changed file:
    // the first load of each version is kept, nothing is replaced.
    let renamed = PolicyFileRecord {
        name: "elsewhere.toml".into(),
        first_loaded_at: 3_000,
        ..v1.clone()
    };
    store
        .keep_policy_files(&[renamed, v2.clone()])
        .await
        .unwrap();
    let missing = sha256_digest(b"never loaded");
    let mut got = store
        .policy_files(&[v2.digest, missing, v1.digest])
        .await
        .unwrap();
    got.sort_by_key(|f| f.first_loaded_at);
    assert_eq!(got, vec![v1, v2]);
    assert!(store.policy_files(&[]).await.unwrap().is_empty());
}

fn token(id: &str, secret: &str, expires_at: Option<i64>, max_uses: Option<i64>) -> NewToken {
    NewToken {
        id: id.into(),
        hash: sha256_digest(secret.as_bytes()).0,
        created_at: 1,
        expires_at,
        max_uses,
    }
}

fn agent(id: &str, key: u8, now: i64) -> NewAgent {
    NewAgent {
        id: id.into(),
        key_id: hex::encode([key; 32]),
        public_key: vec![key; 32],
        hostname: format!("host-{id}"),
        agent_version: "0.1.0".into(),
        status: AgentStatus::Active,
        now,
    }
}

async fn enrolled(store: &dyn Store, id: &str, key: u8) {
    let secret = format!("secret-{id}");
    store
        .create_token(&token(&format!("tok-{id}"), &secret, None, None))
        .await
        .unwrap();
    let out = store
        .enroll(&sha256_digest(secret.as_bytes()).0, &agent(id, key, 10))
        .await
        .unwrap();
    assert!(matches!(out, EnrollOutcome::Enrolled(_)));
}

fn item(agent_id: &str, seq: i64, body: &str, previous: Option<Digest>, blob: &[u8]) -> IngestItem {
    let envelope =
        format!("{{\"agent\":\"{agent_id}\",\"seq\":{seq},\"body\":\"{body}\"}}").into_bytes();
    let results = format!("{{\"results\":\"{body}\"}}").into_bytes();
    IngestItem {
        agent_id: agent_id.into(),
        sequence: seq,
        previous,
        declared_gap: None,
        envelope_digest: sha256_digest(&envelope),
        envelope: Arc::new(envelope),
        collected_at: 1000 + seq,
        received_at: 2000 + seq,
        blobs: vec![(sha256_digest(blob), Arc::new(blob.to_vec()))],
        results_digest: sha256_digest(&results),
        results: Some(Arc::new(results)),
        drift: None,
        vuln: None,
    }
}

async fn one(store: &dyn Store, it: &IngestItem) -> IngestOutcome {
    store
        .ingest_batch(std::slice::from_ref(it))
        .await
        .unwrap()
        .outcomes
        .pop()
        .unwrap()
}

async fn enrollment_tokens_and_idempotence(store: &dyn Store, _url: &str) {
    store.ping().await.unwrap();
    store
        .create_token(&token("t1", "one-use", None, Some(1)))
        .await
        .unwrap();
    store
        .create_token(&token("t2", "expired", Some(5), None))
        .await
        .unwrap();
    store
        .create_token(&token("t3", "revoked", None, None))
        .await
        .unwrap();
    assert!(store.revoke_token("t3").await.unwrap());
    assert!(!store.revoke_token("nope").await.unwrap());
    let h = |s: &str| sha256_digest(s.as_bytes()).0;

    let EnrollOutcome::Enrolled(a) = store
        .enroll(&h("one-use"), &agent("a1", 1, 10))
        .await
        .unwrap()
    else {
        panic!("first enrollment refused")
    };
    assert_eq!(a.id, "a1");
    assert_eq!(a.status, AgentStatus::Active);
    // Same key again: same agent, no use consumed (the token is used up now).
    let EnrollOutcome::Enrolled(again) = store
        .enroll(&h("one-use"), &agent("other-id", 1, 11))
        .await
        .unwrap()
    else {
        panic!("re-enrollment refused")
    };
    assert_eq!(again.id, "a1");
    // A new key with the used-up token, an expired, a revoked and an unknown token.
    for secret in ["one-use", "expired", "revoked", "unknown"] {
        assert_eq!(
            store.enroll(&h(secret), &agent("a2", 2, 10)).await.unwrap(),
            EnrollOutcome::BadToken,
            "{secret}"
        );
    }
    let tokens = store.list_tokens().await.unwrap();
    assert_eq!(tokens.len(), 3);
    let t1 = tokens.iter().find(|t| t.id == "t1").unwrap();
    assert_eq!(t1.uses, 1);
    assert!(tokens.iter().find(|t| t.id == "t3").unwrap().revoked);
    assert_eq!(
        store
            .agent_by_key(&hex::encode([1u8; 32]))
            .await
            .unwrap()
            .unwrap()
            .id,
        "a1"
    );
    assert!(store
        .set_agent_status("a1", AgentStatus::Revoked)
        .await
        .unwrap());
    assert!(!store
        .set_agent_status("zz", AgentStatus::Revoked)
        .await
        .unwrap());
    assert_eq!(
        store.agent("a1").await.unwrap().unwrap().status,
        AgentStatus::Revoked
    );
}

async fn ingest_dedup_conflict_gap_and_chain(store: &dyn Store, _url: &str) {
    enrolled(store, "a1", 1).await;
    let i1 = item("a1", 1, "x", None, b"blob-1");
    let blob = sha256_digest(b"blob-1");
    assert_eq!(store.missing_blobs(&[blob]).await.unwrap(), vec![blob]);
    assert_eq!(
        one(store, &i1).await,
        IngestOutcome::Stored { events: vec![] }
    );
    assert!(store.missing_blobs(&[blob]).await.unwrap().is_empty());
    // Replay: stored once.
    assert_eq!(one(store, &i1).await, IngestOutcome::Duplicate);
    // Same sequence, different envelope: conflict + integrity event.
    let clone = item("a1", 1, "clone", None, b"blob-1");
    assert_eq!(
        one(store, &clone).await,
        IngestOutcome::Conflict {
            existing: i1.envelope_digest
        }
    );
    // Chain continues.
    let i2 = item("a1", 2, "x", Some(i1.envelope_digest), b"blob-1");
    assert_eq!(
        one(store, &i2).await,
        IngestOutcome::Stored { events: vec![] }
    );
    // Gap: 3 and 4 missing.
    let mut i5 = item("a1", 5, "x", Some(sha256_digest(b"whatever")), b"blob-1");
    i5.declared_gap = Some(SequenceRange { from: 3, to: 4 });
    assert_eq!(
        one(store, &i5).await,
        IngestOutcome::Stored {
            events: vec!["gap".into()]
        }
    );
    // Broken chain.
    let i6 = item("a1", 6, "x", Some(i1.envelope_digest), b"blob-1");
    assert_eq!(
        one(store, &i6).await,
        IngestOutcome::Stored {
            events: vec!["chain".into()]
        }
    );
    // Late arrival of a missing sequence.
    let i3 = item("a1", 3, "x", Some(i2.envelope_digest), b"blob-1");
    assert_eq!(
        one(store, &i3).await,
        IngestOutcome::Stored {
            events: vec!["out-of-order".into()]
        }
    );
    let events = store.integrity_events(Some("a1"), None, 100).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["conflict", "gap", "chain", "out-of-order"]);
    assert_eq!(events[0].envelope_digest, Some(clone.envelope_digest));
    assert!(
        events[1].detail.starts_with("sequences 3 to 4 missing"),
        "{}",
        events[1].detail
    );
    // Paging through events.
    let first = store.integrity_events(None, None, 2).await.unwrap();
    let rest = store
        .integrity_events(None, Some(first[1].id), 10)
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 4);
    // The latest pointer follows the highest sequence.
    let a = store.agent("a1").await.unwrap().unwrap();
    assert_eq!(a.last_sequence, Some(6));
    assert_eq!(a.last_digest, Some(i6.envelope_digest));
    // The blob is stored once.
    assert_eq!(store.blobs(&[blob]).await.unwrap().len(), 1);
    // Envelope bytes come back unchanged.
    let (row, bytes) = store.statement(&i2.envelope_digest).await.unwrap().unwrap();
    assert_eq!(row.sequence, 2);
    assert_eq!(bytes, *i2.envelope);
    assert!(store
        .statement(&sha256_digest(b"no"))
        .await
        .unwrap()
        .is_none());
}

async fn refused_agents_store_nothing(store: &dyn Store, _url: &str) {
    enrolled(store, "a1", 1).await;
    store
        .set_agent_status("a1", AgentStatus::Revoked)
        .await
        .unwrap();
    let i1 = item("a1", 1, "x", None, b"blob-r");
    assert_eq!(
        one(store, &i1).await,
        IngestOutcome::Refused(Some(AgentStatus::Revoked))
    );
    let ghost = item("ghost", 1, "x", None, b"blob-r");
    assert_eq!(one(store, &ghost).await, IngestOutcome::Refused(None));
    assert_eq!(
        store
            .missing_blobs(&[sha256_digest(b"blob-r")])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store.statements("a1", None, 10).await.unwrap().is_empty());
}

async fn batches_are_atomic_per_agent_order(store: &dyn Store, _url: &str) {
    enrolled(store, "a1", 1).await;
    enrolled(store, "a2", 2).await;
    let a1 = item("a1", 1, "x", None, b"shared");
    let a1b = item("a1", 2, "x", Some(a1.envelope_digest), b"shared");
    let a2 = item("a2", 1, "y", None, b"shared");
    let out = store
        .ingest_batch(&[a1.clone(), a1b.clone(), a2.clone(), a1.clone()])
        .await
        .unwrap()
        .outcomes;
    assert_eq!(
        out,
        vec![
            IngestOutcome::Stored { events: vec![] },
            IngestOutcome::Stored { events: vec![] },
            IngestOutcome::Stored { events: vec![] },
            IngestOutcome::Duplicate,
        ]
    );
    assert_eq!(store.statements("a1", None, 10).await.unwrap().len(), 2);
    let latest = store.latest_results().await.unwrap();
    assert_eq!(latest.len(), 2);
}

async fn queries_and_pagination(store: &dyn Store, _url: &str) {
    for (i, id) in ["a1", "a2", "a3"].iter().enumerate() {
        enrolled(store, id, u8::try_from(i + 1).unwrap()).await;
    }
    let page1 = store.list_agents(None, 2).await.unwrap();
    assert_eq!(page1.len(), 2);
    let page2 = store.list_agents(Some(&page1[1].id), 2).await.unwrap();
    assert_eq!(page2.len(), 1);
    assert_eq!(page2[0].id, "a3");

    let mut prev = None;
    for seq in 1..=5 {
        let it = item("a1", seq, "same", prev, b"b");
        prev = Some(it.envelope_digest);
        one(store, &it).await;
    }
    let newest = store.statements("a1", None, 2).await.unwrap();
    assert_eq!(
        newest.iter().map(|s| s.sequence).collect::<Vec<_>>(),
        [5, 4]
    );
    let older = store.statements("a1", Some(4), 10).await.unwrap();
    assert_eq!(
        older.iter().map(|s| s.sequence).collect::<Vec<_>>(),
        [3, 2, 1]
    );
    let r = store.results(&newest[0].results).await.unwrap().unwrap();
    assert_eq!(r, b"{\"results\":\"same\"}");
    assert!(store.storage_bytes().await.unwrap() > 0);
}

fn drift_item(
    agent_id: &str,
    seq: i64,
    previous: Option<Digest>,
    statuses: &[(&str, &str)],
    settings: &Arc<evident_collector::store::drift::DriftSettings>,
) -> IngestItem {
    use evident_collector::store::drift::{DriftEval, DriftInput};
    let body = statuses
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut it = item(agent_id, seq, &format!("{seq}:{body}"), previous, b"blob");
    let results = format!("{{\"results\":\"{body}\"}}").into_bytes();
    it.results_digest = sha256_digest(&results);
    it.results = Some(Arc::new(results));
    it.received_at = 10_000 * seq;
    it.drift = Some(Arc::new(DriftInput {
        eval: Arc::new(DriftEval {
            statuses: statuses
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            severities: statuses
                .iter()
                .map(|(k, _)| (k.to_string(), "high".to_string()))
                .collect(),
            remediation: Default::default(),
        }),
        interval_seconds: 60,
        settings: settings.clone(),
    }));
    it
}

fn settings(threshold: u32) -> Arc<evident_collector::store::drift::DriftSettings> {
    Arc::new(evident_collector::store::drift::DriftSettings {
        sinks: vec!["hook".into(), "log".into()],
        flap_window_ms: 1_000_000,
        flap_threshold: threshold,
    })
}

async fn drift_transitions_alerts_and_outbox(store: &dyn Store, _url: &str) {
    use evident_collector::store::drift::AlertQuery;
    enrolled(store, "d1", 11).await;
    let s = settings(10);
    let good = [
        ("rule:r", "pass"),
        ("control:A.8.5", "satisfied"),
        ("rule:x", "fail"),
    ];
    let bad = [
        ("rule:r", "fail"),
        ("control:A.8.5", "not-satisfied"),
        ("rule:x", "fail"),
    ];
    let i1 = drift_item("d1", 1, None, &good, &s);
    assert!(matches!(
        one(store, &i1).await,
        IngestOutcome::Stored { .. }
    ));
    // First statement: a baseline alert for what fails, nothing to deliver.
    let all = store
        .list_alerts(&AlertQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    // One summary for the host (issue 10), not one alert per failing rule.
    assert!(all[0].baseline && all[0].subject == "baseline" && all[0].state == "open");
    assert!(all[0].detail.contains("rule:x (fail)"), "{}", all[0].detail);
    assert_eq!(all[0].hostname, "host-d1");
    assert_eq!(store.outbox_pending().await.unwrap(), 0);
    // pass → fail: two drift alerts, one outbox row per sink each.
    let i2 = drift_item("d1", 2, Some(i1.envelope_digest), &bad, &s);
    one(store, &i2).await;
    let open = store
        .list_alerts(&AlertQuery {
            open_only: true,
            kind: Some("drift".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 3);
    assert_eq!(open.iter().filter(|a| !a.baseline).count(), 2);
    assert_eq!(store.outbox_pending().await.unwrap(), 4);
    // Timeline of the host and of the control.
    // The first statement wrote no transitions; the second two.
    let t = store.transitions(Some("d1"), None, 100).await.unwrap();
    assert_eq!(t.len(), 2);
    let t = store
        .transitions(None, Some("control:A.8.5"), 100)
        .await
        .unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].from.as_deref(), t[0].to.as_str()),
        (Some("satisfied"), "not-satisfied")
    );
    // Back to compliant: both resolved, two more notifications per sink.
    let i3 = drift_item("d1", 3, Some(i2.envelope_digest), &good, &s);
    one(store, &i3).await;
    let open = store
        .list_alerts(&AlertQuery {
            open_only: true,
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(store.outbox_pending().await.unwrap(), 8);
    // Claims are exclusive until the lease expires or a retry is scheduled.
    let c = store.claim_outbox(50_000, 10_000, 100).await.unwrap();
    assert_eq!(c.len(), 8);
    assert!(c.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(c[0].attempts, 1);
    let body: serde_json::Value = serde_json::from_str(&c[0].payload).unwrap();
    assert_eq!(body["event"], "opened");
    assert_eq!(body["kind"], "drift");
    assert!(store
        .claim_outbox(50_001, 10_000, 100)
        .await
        .unwrap()
        .is_empty());
    let g = store.alert_gauges().await.unwrap();
    assert_eq!((g.outbox_depth, g.outbox_failed), (8, 0));
    assert!(g.outbox_oldest.is_some());
    assert!(
        g.open.iter().all(|(k, _, n)| k == "drift" && *n > 0),
        "{g:?}"
    );
    // Released (an earlier row of its sink is being retried): due again,
    // the claim's attempt not counted.
    store.outbox_release(c[1].id, 50_500).await.unwrap();
    let back = store.claim_outbox(50_500, 10_000, 100).await.unwrap();
    assert_eq!((back.len(), back[0].id, back[0].attempts), (1, c[1].id, 1));
    // Given up: finished (not pending, never claimed again) and counted.
    store
        .outbox_failed(c[2].id, 50_600, "HTTP 400")
        .await
        .unwrap();
    let g = store.alert_gauges().await.unwrap();
    assert_eq!((g.outbox_depth, g.outbox_failed), (7, 1));
    for r in c[1..].iter().filter(|r| r.id != c[2].id) {
        store.outbox_delivered(r.id, 50_002).await.unwrap();
    }
    store
        .outbox_retry(c[0].id, 55_000, "HTTP 500")
        .await
        .unwrap();
    assert!(store
        .claim_outbox(54_999, 10_000, 100)
        .await
        .unwrap()
        .is_empty());
    let again = store.claim_outbox(55_000, 10_000, 100).await.unwrap();
    assert_eq!((again.len(), again[0].attempts), (1, 2));
    store.outbox_delivered(again[0].id, 55_001).await.unwrap();
    assert_eq!(store.outbox_pending().await.unwrap(), 0);
    // Acknowledge.
    let id = open[0].id;
    assert!(store
        .ack_alert(id, "alice", "known, ticket 42", 60_000)
        .await
        .unwrap());
    assert!(!store.ack_alert(id, "alice", "again", 60_001).await.unwrap());
    let a = store.alert(id).await.unwrap().unwrap();
    assert_eq!(
        (
            a.state.as_str(),
            a.ack_by.as_deref(),
            a.ack_reason.as_deref()
        ),
        ("acknowledged", Some("alice"), Some("known, ticket 42"))
    );
    assert!(!store.ack_alert(999_999, "a", "b", 1).await.unwrap());
}

async fn stale_flapping_and_integrity_alerts(store: &dyn Store, _url: &str) {
    use evident_collector::store::drift::AlertQuery;
    enrolled(store, "f1", 12).await;
    let s = settings(2);
    let pass = [("rule:f", "pass")];
    let fail = [("rule:f", "fail")];
    let mut prev: Option<Digest> = None;
    for seq in 1..=7 {
        let st: &[(&str, &str)] = if seq % 2 == 0 { &fail } else { &pass };
        let it = drift_item("f1", seq, prev, st, &s);
        one(store, &it).await;
        prev = Some(it.envelope_digest);
    }
    // Six transitions, threshold 2: the first alert resolves normally; the
    // second stays open, marked flapping, however often the rule flips.
    let alerts = store
        .list_alerts(&AlertQuery {
            host: Some("f1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts[0].flapping);
    assert_eq!(alerts[0].state, "open");
    assert_eq!(alerts[1].state, "resolved");
    // opened, resolved, opened: three events for each of the two sinks.
    assert_eq!(store.outbox_pending().await.unwrap(), 6);
    // Stale: the last statement was received at 70 000 with a 60 s interval.
    assert!(store
        .open_stale(70_000 + 120_000, 2.0, &s.sinks)
        .await
        .unwrap()
        .is_empty());
    let ids = store
        .open_stale(70_000 + 120_001, 2.0, &s.sinks)
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert!(store
        .open_stale(999_999, 2.0, &s.sinks)
        .await
        .unwrap()
        .is_empty());
    let stale = store.alert(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (stale.kind.as_str(), stale.state.as_str()),
        ("stale", "open")
    );
    // A sequence gap: evidence arriving resolves the stale alert; the gap opens an integrity alert.
    let it = drift_item("f1", 9, prev, &pass, &s);
    let out = one(store, &it).await;
    assert!(
        matches!(out, IngestOutcome::Stored { ref events } if events == &vec!["gap".to_string()])
    );
    assert_eq!(
        store.alert(ids[0]).await.unwrap().unwrap().state,
        "resolved"
    );
    let integ = store
        .list_alerts(&AlertQuery {
            kind: Some("integrity".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(integ.len(), 1);
    assert_eq!(integ[0].subject, "integrity:gap");
    // Same sequence, other content: a conflict alert.
    let other = drift_item("f1", 9, prev, &fail, &s);
    assert!(matches!(
        one(store, &other).await,
        IngestOutcome::Conflict { .. }
    ));
    let integ = store
        .list_alerts(&AlertQuery {
            kind: Some("integrity".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(integ.len(), 2);
    // Still flapping within the window: not resolved by the passing statement.
    assert_eq!(
        store.alert(alerts[0].id).await.unwrap().unwrap().state,
        "open"
    );
    // stale opened + resolved, gap, conflict: four more events per sink.
    assert_eq!(store.outbox_pending().await.unwrap(), 14);
}

/// Feed snapshots (issue #18): the tracker fixture, an OSV directory and the
/// same records as an `all.zip` are read by the real loaders and stored by
/// digest; the newest import is in force, older ones are kept; a truncated
/// feed is refused before the store is touched.
async fn vuln_snapshots_by_digest_newest_in_force(store: &dyn Store, _url: &str) {
    use evident_collector::service::vuln::{load_snapshot, read_feed, store_snapshot};
    use evident_core::vuln::index::{FeedFormat, Release};
    use std::io::Write as _;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/vuln");
    assert!(load_snapshot(store, None).await.unwrap().is_none());

    let tracker = read_feed(
        &fixtures.join("debian-tracker.json"),
        FeedFormat::DebianTracker,
    )
    .unwrap();
    let bytes = std::fs::read(fixtures.join("debian-tracker.json")).unwrap();
    assert_eq!(tracker.digest, sha256_digest(&bytes).to_string());
    let t = store_snapshot(store, &tracker, "tracker.json", 1_000)
        .await
        .unwrap();
    assert_eq!((t.entries, t.cves), (22, 15));

    let osv_dir = read_feed(&fixtures.join("osv"), FeedFormat::Osv).unwrap();
    let stats = osv_dir.osv.clone().unwrap();
    assert_eq!((stats.records, stats.skipped_affected), (4, 1));
    let bw12 = Release::new("debian", "12");
    assert_eq!(
        osv_dir.index.releases[&bw12].packages["openssh"][0]
            .fixed
            .as_deref(),
        Some("1:9.2p1-2+deb12u3")
    );

    // The same records zipped (deflate), as osv.dev publishes all.zip.
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("all.zip");
    let mut zw = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut names: Vec<_> = std::fs::read_dir(fixtures.join("osv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in &names {
        zw.start_file(p.file_name().unwrap().to_string_lossy(), opts)
            .unwrap();
        zw.write_all(&std::fs::read(p).unwrap()).unwrap();
    }
    zw.finish().unwrap();
    let osv_zip = read_feed(&zip_path, FeedFormat::Osv).unwrap();
    assert_eq!(osv_zip.index, osv_dir.index);
    let z = store_snapshot(store, &osv_zip, "all.zip", 2_000)
        .await
        .unwrap();

    // A truncated zip and a truncated tracker are refused.
    let data = std::fs::read(&zip_path).unwrap();
    std::fs::write(tmp.path().join("bad.zip"), &data[..data.len() / 2]).unwrap();
    assert!(read_feed(&tmp.path().join("bad.zip"), FeedFormat::Osv).is_err());
    std::fs::write(tmp.path().join("bad.json"), &bytes[..bytes.len() - 10]).unwrap();
    let e = read_feed(&tmp.path().join("bad.json"), FeedFormat::DebianTracker).unwrap_err();
    assert!(e.to_string().contains("truncated at line"), "{e}");

    let (info, index) = load_snapshot(store, None).await.unwrap().unwrap();
    assert_eq!(info.digest, z.digest);
    assert_eq!(index, osv_zip.index);
    let (old, old_index) = load_snapshot(store, Some(&t.digest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.format, "debian-tracker");
    assert_eq!(old_index, tracker.index);
    // Importing the first again makes it the one in force; nothing is duplicated.
    store_snapshot(store, &tracker, "tracker.json", 3_000)
        .await
        .unwrap();
    let all = store.vuln_snapshots().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].digest, t.digest);
    assert_eq!(all[0].imported_at, 3_000);
}

/// The matrix (issue 15): by a rule, failing first then by agent id, hosts
/// without a status of the rule last; by host name both ways; every page
/// reached forwards and backwards from a cursor.
async fn console_matrix_pages_in_index_order(store: &dyn Store, _url: &str) {
    use evident_collector::store::console_pages::{MatrixKey, MatrixOrder, MISSING_RANK};
    let s = settings(10);
    for (i, (id, st)) in [
        ("a1", "pass"),
        ("a2", "fail"),
        ("a3", "error"),
        ("a4", "fail"),
        ("a5", ""),
    ]
    .iter()
    .enumerate()
    {
        enrolled(store, id, 40 + i as u8).await;
        if !st.is_empty() {
            one(store, &drift_item(id, 1, None, &[("rule:r", st)], &s)).await;
        }
    }
    let ids = |v: &[MatrixKey]| v.iter().map(|k| k.agent_id.clone()).collect::<Vec<_>>();
    let rule = MatrixOrder::Rule { subject: "rule:r" };
    let p1 = store.matrix_page(rule, None, 2).await.unwrap();
    assert_eq!(ids(&p1), ["a2", "a4"]);
    assert_eq!(p1[0].hostname, "host-a2");
    let p2 = store
        .matrix_page(rule, Some((&p1[1], false)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&p2), ["a3", "a1"]);
    assert_eq!((p2[0].rank, p2[1].rank), (1, 5));
    let p3 = store
        .matrix_page(rule, Some((&p2[1], false)), 2)
        .await
        .unwrap();
    assert_eq!(
        ids(&p3),
        ["a5"],
        "the host without a status of the rule comes last"
    );
    assert_eq!(p3[0].rank, MISSING_RANK);
    assert!(store
        .matrix_page(rule, Some((&p3[0], false)), 2)
        .await
        .unwrap()
        .is_empty());
    let back = store
        .matrix_page(rule, Some((&p3[0], true)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&back), ["a3", "a1"]);
    let back = store
        .matrix_page(rule, Some((&back[0], true)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&back), ["a2", "a4"]);
    // A page spanning both parts.
    let mid = store
        .matrix_page(rule, Some((&p2[0], false)), 5)
        .await
        .unwrap();
    assert_eq!(ids(&mid), ["a1", "a5"]);
    let mid = store
        .matrix_page(rule, Some((&p3[0], true)), 3)
        .await
        .unwrap();
    assert_eq!(ids(&mid), ["a4", "a3", "a1"]);

    let asc = MatrixOrder::Host { desc: false };
    let h1 = store.matrix_page(asc, None, 2).await.unwrap();
    assert_eq!(ids(&h1), ["a1", "a2"]);
    let h2 = store
        .matrix_page(asc, Some((&h1[1], false)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&h2), ["a3", "a4"]);
    let h0 = store
        .matrix_page(asc, Some((&h2[0], true)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&h0), ["a1", "a2"]);
    let desc = MatrixOrder::Host { desc: true };
    let d1 = store.matrix_page(desc, None, 2).await.unwrap();
    assert_eq!(ids(&d1), ["a5", "a4"]);
    let d2 = store
        .matrix_page(desc, Some((&d1[1], false)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&d2), ["a3", "a2"]);
    let d0 = store
        .matrix_page(desc, Some((&d2[0], true)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&d0), ["a5", "a4"]);
    // A revoked host is not listed.
    store
        .set_agent_status("a4", AgentStatus::Revoked)
        .await
        .unwrap();
    let p = store.matrix_page(rule, None, 10).await.unwrap();
    assert_eq!(ids(&p), ["a2", "a3", "a1", "a5"]);
}

/// The alerts page (issue 15): pages by id both ways with the filters
/// kept, counts per filter.
async fn console_alert_pages_filters_and_counts(store: &dyn Store, _url: &str) {
    use evident_collector::store::console_pages::{AlertCursor, AlertFilter};
    use evident_collector::store::drift::AlertQuery;
    let s = settings(10);
    let good = [("rule:r", "pass"), ("control:A.8.5", "satisfied")];
    let bad = [("rule:r", "fail"), ("control:A.8.5", "not-satisfied")];
    for (i, id) in ["c1", "c2", "c3"].iter().enumerate() {
        enrolled(store, id, 60 + i as u8).await;
        let i1 = drift_item(id, 1, None, &good, &s);
        one(store, &i1).await;
        one(
            store,
            &drift_item(id, 2, Some(i1.envelope_digest), &bad, &s),
        )
        .await;
    }
    let all = store
        .list_alerts(&AlertQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 6, "two drift alerts per host");
    assert!(store.ack_alert(all[0].id, "me", "known", 5).await.unwrap());
    let open = AlertFilter {
        state: Some("open".into()),
        ..Default::default()
    };
    assert_eq!(store.alerts_count(&open).await.unwrap(), 5);
    let acked = AlertFilter {
        state: Some("acknowledged".into()),
        ..Default::default()
    };
    assert_eq!(store.alerts_count(&acked).await.unwrap(), 1);
    assert_eq!(
        store.alerts_count(&AlertFilter::default()).await.unwrap(),
        6
    );
    let by_host = AlertFilter {
        host: Some("host-c2".into()),
        kind: Some("drift".into()),
        ..open.clone()
    };
    assert_eq!(store.alerts_count(&by_host).await.unwrap(), 2);
    let none = AlertFilter {
        kind: Some("stale".into()),
        ..Default::default()
    };
    assert_eq!(store.alerts_count(&none).await.unwrap(), 0);
    assert_eq!(store.alert_kinds().await.unwrap(), ["drift"]);
    // Open alerts two at a time, newest first, then back.
    let mut pages = Vec::new();
    let mut at = None;
    loop {
        let page = store.alerts_page(&open, at, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.iter().all(|a| a.state == "open"));
        at = Some(AlertCursor::Older(page.last().unwrap().id));
        pages.push(page.iter().map(|a| a.id).collect::<Vec<_>>());
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let flat: Vec<i64> = pages.concat();
    let want: Vec<i64> = all
        .iter()
        .filter(|a| a.id != all[0].id)
        .map(|a| a.id)
        .collect();
    assert_eq!(flat, want, "every open alert once, newest first");
    let newer = store
        .alerts_page(&open, Some(AlertCursor::Newer(pages[2][0])), 2)
        .await
        .unwrap();
    assert_eq!(newer.iter().map(|a| a.id).collect::<Vec<_>>(), pages[1]);
    let host_page = store.alerts_page(&by_host, None, 10).await.unwrap();
    assert_eq!(host_page.len(), 2);
    assert!(host_page.iter().all(|a| a.agent_id == "c2"));
}

/// Expired sessions go in batches; unexpired ones stay (issue 15).
async fn console_sessions_expire_in_batches(store: &dyn Store, _url: &str) {
    use evident_collector::store::console::SessionRecord;
    let rec = |expires_at| SessionRecord {
        scope: "auditor".into(),
        actor: "t".into(),
        csrf: "c".into(),
        created_at: 1,
        expires_at,
    };
    for i in 0u32..1100 {
        let h = sha256_digest(&i.to_be_bytes()).0;
        store.create_session(&h, &rec(100)).await.unwrap();
    }
    let keep = sha256_digest(b"keep").0;
    store.create_session(&keep, &rec(1000)).await.unwrap();
    assert_eq!(
        store.expire_sessions(500, 500).await.unwrap(),
        500,
        "one batch"
    );
    let n = evident_collector::console::housekeeping::expire_sessions(store, 500)
        .await
        .unwrap();
    assert_eq!(n, 600);
    assert!(store.session(&keep, 500).await.unwrap().is_some());
    assert_eq!(store.expire_sessions(500, 500).await.unwrap(), 0);
    assert_eq!(
        evident_collector::console::housekeeping::expire_sessions(store, 1000)
            .await
            .unwrap(),
        1
    );
}

/// The trend backfill (issue 15) rebuilds each past day from the hosts'
/// results as of that day, skips days that have a trend, and resumes.
async fn console_trend_backfills_from_history(store: &dyn Store, _url: &str) {
    const DAY: i64 = 86_400_000;
    let at = |day: i64, id: &str, seq: i64, prev: Option<Digest>, status: &str| {
        let results =
            format!("{{\"controls\":[{{\"id\":\"A.8.5\",\"status\":\"{status}\"}}],\"rules\":[]}}")
                .into_bytes();
        let mut it = item(id, seq, &format!("{id}-{seq}-{status}"), prev, b"blob");
        it.collected_at = day * DAY + 3_600_000;
        it.received_at = it.collected_at;
        it.results_digest = sha256_digest(&results);
        it.results = Some(Arc::new(results));
        it
    };
    enrolled(store, "b1", 80).await;
    enrolled(store, "b2", 81).await;
    let x1 = at(20_000, "b1", 1, None, "satisfied");
    one(store, &x1).await;
    one(store, &at(20_000, "b2", 1, None, "not-satisfied")).await;
    one(
        store,
        &at(20_002, "b1", 2, Some(x1.envelope_digest), "not-satisfied"),
    )
    .await;
    let day = |d: i64| evident_collector::console::trend::day(d * DAY);
    // Day 20,003 already has a (live) trend: it is kept as it is.
    store
        .backfill_trend_day(
            &day(20_003),
            &[("control:A.8.5".into(), "satisfied".into(), 7)],
        )
        .await
        .unwrap();
    let now = 20_004 * DAY + 5;
    let n = evident_collector::console::backfill::run(store, now)
        .await
        .unwrap();
    assert_eq!(
        n, 3,
        "days 20,000 to 20,002; the day before any evidence ends it"
    );
    let points = store
        .trend(Some("control:A.8.5"), &day(19_990))
        .await
        .unwrap();
    let got: Vec<(String, String, i64)> = points
        .into_iter()
        .map(|p| (p.day, p.status, p.hosts))
        .collect();
    let want = vec![
        (day(20_000), "not-satisfied".to_string(), 1),
        (day(20_000), "satisfied".to_string(), 1),
        (day(20_001), "not-satisfied".to_string(), 1),
        (day(20_001), "satisfied".to_string(), 1),
        (day(20_002), "not-satisfied".to_string(), 2),
        (day(20_003), "satisfied".to_string(), 7),
    ];
    assert_eq!(got, want);
    assert_eq!(
        evident_collector::console::backfill::run(store, now)
            .await
            .unwrap(),
        0,
        "resumed: nothing left to do"
    );
}

/// The writer's batch path (`store/batch.rs`): plain next runs go in bulk,
/// everything else one by one, with the same outcomes and rows as items
/// ingested one at a time.
async fn a_batch_stores_what_items_one_by_one_store(store: &dyn Store, _url: &str) {
    let s = settings(10);
    let good = [("rule:r", "pass"), ("control:A.8.5", "satisfied")];
    let bad = [("rule:r", "fail"), ("control:A.8.5", "not-satisfied")];
    // Two fleets with the same history: "o" one item at a time, "b" batched.
    let mut outcomes = Vec::new();
    for fleet in ["o", "b"] {
        let ids: Vec<String> = (1..=5).map(|i| format!("{fleet}{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let key = u8::try_from(i + 1).unwrap() + if fleet == "o" { 0 } else { 100 };
            enrolled(store, id, key).await;
        }
        let first: Vec<IngestItem> = ids
            .iter()
            .map(|id| drift_item(id, 1, None, &good, &s))
            .collect();
        for it in &first {
            one(store, it).await;
        }
        let mut batch = vec![
            // Plain next runs (fast), one carrying a new blob.
            drift_item(&ids[0], 2, Some(first[0].envelope_digest), &good, &s),
            drift_item(&ids[1], 2, Some(first[1].envelope_digest), &good, &s),
            // A gap (integrity event).
            drift_item(&ids[2], 4, Some(first[2].envelope_digest), &good, &s),
            // Changed results (transitions, alerts).
            drift_item(&ids[3], 2, Some(first[3].envelope_digest), &bad, &s),
            // A retry of a stored run (duplicate) and a broken chain.
            first[4].clone(),
        ];
        batch[1]
            .blobs
            .push((sha256_digest(b"new-blob"), Arc::new(b"new-blob".to_vec())));
        // drift_item's bodies repeat across fleets: make envelopes distinct.
        for it in &mut batch {
            let env = [it.envelope.as_slice(), fleet.as_bytes()].concat();
            it.envelope_digest = sha256_digest(&env);
            it.envelope = Arc::new(env);
        }
        batch[4] = first[4].clone();
        let chain = drift_item(&ids[4], 2, Some(Digest([9; 32])), &good, &s);
        let got = if fleet == "o" {
            let mut v = Vec::new();
            for it in batch.iter().chain([&chain]) {
                v.push(one(store, it).await);
            }
            v
        } else {
            let mut all = batch.clone();
            all.push(chain);
            let done = store.ingest_batch(&all).await.unwrap();
            // The two plain next runs went in bulk, the rest one by one.
            assert_eq!(done.bulk, 2);
            done.outcomes
        };
        outcomes.push(got);
        let a = store.agent(&ids[0]).await.unwrap().unwrap();
        assert_eq!(a.last_sequence, Some(2));
        assert_eq!(a.last_digest, Some(batch[0].envelope_digest));
        assert_eq!(a.latest_results, Some(batch[0].results_digest));
        assert_eq!(a.last_seen, Some(batch[0].received_at));
        let st = store.statements(&ids[1], None, 10).await.unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].digest, batch[1].envelope_digest);
        assert_eq!(st[0].results, batch[1].results_digest);
        assert_eq!(
            store
                .statement(&batch[1].envelope_digest)
                .await
                .unwrap()
                .map(|x| x.1),
            Some(batch[1].envelope.to_vec())
        );
        assert!(store
            .missing_blobs(&[sha256_digest(b"new-blob")])
            .await
            .unwrap()
            .is_empty());
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(
        outcomes[1],
        vec![
            IngestOutcome::Stored { events: vec![] },
            IngestOutcome::Stored { events: vec![] },
            IngestOutcome::Stored {
                events: vec!["gap".into()]
            },
            IngestOutcome::Stored { events: vec![] },
            IngestOutcome::Duplicate,
            IngestOutcome::Stored {
                events: vec!["chain".into()]
            },
        ]
    );
    // Same transitions and alerts on both fleets.
    for (o, b) in [("o3", "b3"), ("o4", "b4"), ("o1", "b1")] {
        let t = |id: &'static str| async move {
            store
                .transitions(Some(id), None, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|t| (t.subject, t.from, t.to, t.sequence))
                .collect::<Vec<_>>()
        };
        assert_eq!(t(o).await, t(b).await, "{o} vs {b}");
        assert_eq!(
            store.drift_statuses(o).await.unwrap(),
            store.drift_statuses(b).await.unwrap()
        );
    }
    assert_eq!(
        store
            .transitions(Some("b4"), None, 100)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .integrity_events(Some("b3"), None, 10)
            .await
            .unwrap()
            .len(),
        store
            .integrity_events(Some("o3"), None, 10)
            .await
            .unwrap()
            .len()
    );
}

/// Every run of a host with a package inventory carries a vulnerability
/// update. One that names the inventory the host already holds and opens
/// or resolves nothing goes in bulk (with the open pairs' last-seen moved
/// to it); a changed inventory goes one by one. Both leave the rows
/// ingesting one at a time leaves.
async fn unchanged_inventories_go_in_bulk(store: &dyn Store, _url: &str) {
    use evident_collector::store::vuln::{NewFirstSeen, StatementRef, VulnUpdate};
    let s = settings(10);
    let good = [("rule:r", "pass"), ("control:A.8.5", "satisfied")];
    let packages = |tag: &str| Some(sha256_digest(tag.as_bytes()));
    let vuln = |it: &IngestItem, p: Option<Digest>, refresh: bool, new: Vec<NewFirstSeen>| {
        Some(Arc::new(VulnUpdate {
            agent_id: it.agent_id.clone(),
            statement: StatementRef {
                sequence: it.sequence,
                digest: it.envelope_digest,
                at: it.collected_at,
            },
            packages: p,
            refresh_last: refresh,
            new,
            gone: Vec::new(),
        }))
    };
    for fleet in ["o", "b"] {
        let ids: Vec<String> = (1..=3).map(|i| format!("v{fleet}{i}")).collect();
        for (i, id) in ids.iter().enumerate() {
            let key = u8::try_from(i + 1).unwrap() + if fleet == "o" { 40 } else { 140 };
            enrolled(store, id, key).await;
        }
        let mut first = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let mut it = drift_item(id, 1, None, &good, &s);
            let env = [it.envelope.as_slice(), fleet.as_bytes()].concat();
            it.envelope_digest = sha256_digest(&env);
            it.envelope = Arc::new(env);
            let sref = StatementRef {
                sequence: 1,
                digest: it.envelope_digest,
                at: it.collected_at,
            };
            // The first host has a CVE open.
            let new = if i == 0 {
                vec![NewFirstSeen {
                    cve: "CVE-2026-0001".into(),
                    source: "openssl".into(),
                    first: sref,
                }]
            } else {
                Vec::new()
            };
            it.vuln = vuln(&it, packages(id), false, new);
            assert_eq!(
                one(store, &it).await,
                IngestOutcome::Stored { events: vec![] }
            );
            first.push(it);
        }
        let mut next = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let mut it = drift_item(id, 2, Some(first[i].envelope_digest), &good, &s);
            let env = [it.envelope.as_slice(), fleet.as_bytes()].concat();
            it.envelope_digest = sha256_digest(&env);
            it.envelope = Arc::new(env);
            // Host 1: same inventory, its CVE still open; host 2: same
            // inventory; host 3: a package update.
            let p = if i == 2 {
                packages(&format!("{id}-updated"))
            } else {
                packages(id)
            };
            it.vuln = vuln(&it, p, i == 0, Vec::new());
            next.push(it);
        }
        let outcomes = if fleet == "o" {
            let mut v = Vec::new();
            for it in &next {
                v.push(one(store, it).await);
            }
            v
        } else {
            let done = store.ingest_batch(&next).await.unwrap();
            assert_eq!(done.bulk, 2, "{:?}", done.outcomes);
            done.outcomes
        };
        assert_eq!(outcomes, vec![IngestOutcome::Stored { events: vec![] }; 3]);
        let open = store.vuln_first_seen(Some(&ids[0]), false).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].last_sequence, open[0].last_at),
            (2, next[0].collected_at)
        );
        let mut history = Vec::new();
        for id in &ids {
            let h = store.vuln_inventory_history(id, 100, 10).await.unwrap();
            history.push(
                h.into_iter()
                    .map(|r| (r.first_sequence, r.packages))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(history[0], vec![(1, packages(&ids[0]).unwrap())]);
        assert_eq!(history[1], vec![(1, packages(&ids[1]).unwrap())]);
        assert_eq!(
            history[2],
            vec![
                (2, packages(&format!("{}-updated", ids[2])).unwrap()),
                (1, packages(&ids[2]).unwrap())
            ]
        );
        for (i, id) in ids.iter().enumerate() {
            let a = store.agent(id).await.unwrap().unwrap();
            assert_eq!(a.last_sequence, Some(2));
            assert_eq!(a.last_digest, Some(next[i].envelope_digest));
        }
    }
}

/// Ingest may know an evaluation only by the digest of results already
/// stored (no statuses): when the host's drift state differs, the writer
/// derives the statuses from the stored results.
async fn results_known_by_digest_drive_drift_from_the_stored_results(
    store: &dyn Store,
    _url: &str,
) {
    use evident_collector::store::drift::DriftEval;
    let s = settings(10);
    enrolled(store, "k1", 51).await;
    let i1 = drift_item("k1", 1, None, &[("rule:r", "pass")], &s);
    one(store, &i1).await;
    let failing = serde_json::json!({
        "policies": [], "controls": [],
        "rules": [{"id": "r", "policy": "p", "title": "R", "controls": ["A.8.5"],
                   "severity": "high", "status": "fail"}],
        "summary": {"rules": {"fail": 1}, "controls": {}}
    });
    let bytes = serde_json::to_vec(&failing).unwrap();
    let mut i2 = drift_item("k1", 2, Some(i1.envelope_digest), &[], &s);
    i2.results_digest = sha256_digest(&bytes);
    i2.results = Some(Arc::new(bytes));
    let mut d = (**i2.drift.as_ref().unwrap()).clone();
    d.eval = Arc::new(DriftEval::default());
    i2.drift = Some(Arc::new(d));
    // In a batch (with another host's run) and alone: both derive.
    enrolled(store, "k2", 52).await;
    let j1 = drift_item("k2", 1, None, &[("rule:r", "pass")], &s);
    one(store, &j1).await;
    let out = store.ingest_batch(&[i2.clone()]).await.unwrap().outcomes;
    assert_eq!(out, vec![IngestOutcome::Stored { events: vec![] }]);
    let t = store.transitions(Some("k1"), None, 10).await.unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].from.as_deref(), t[0].to.as_str()),
        (Some("pass"), "fail")
    );
    assert_eq!(
        store
            .drift_statuses("k1")
            .await
            .unwrap()
            .unwrap()
            .get("rule:r")
            .map(String::as_str),
        Some("fail")
    );
    // A second run with the same results (known by digest only) changes nothing.
    let mut i3 = i2.clone();
    i3.sequence = 3;
    i3.previous = Some(i2.envelope_digest);
    let env = b"k1-3".to_vec();
    i3.envelope_digest = sha256_digest(&env);
    i3.envelope = Arc::new(env);
    i3.results = None;
    let mut j2 = drift_item("k2", 2, Some(j1.envelope_digest), &[("rule:r", "pass")], &s);
    j2.results_digest = j1.results_digest;
    let out = store.ingest_batch(&[i3, j2]).await.unwrap().outcomes;
    assert_eq!(out, vec![IngestOutcome::Stored { events: vec![] }; 2]);
    assert_eq!(
        store.transitions(Some("k1"), None, 10).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.transitions(Some("k2"), None, 10).await.unwrap().len(),
        0
    );
    assert_eq!(
        store.agent("k1").await.unwrap().unwrap().last_sequence,
        Some(3)
    );
}

/// The statement rows' storage forms, counted (raw SQL on either backend).
async fn forms(url: &str) -> Vec<(i64, i64)> {
    let sql = "SELECT envelope_form, COUNT(*) FROM statements GROUP BY envelope_form ORDER BY envelope_form";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let r = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        r
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let r = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        r
    }
}

/// Run `sql` on the store's database.
async fn exec(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// Every storage form — 0 (as received), 1 (header + payload), 2 (zstd
/// with the frozen dictionary), 3 (template + fields, migration 90) — is
/// written by the paths that write it (`ingest_batch`, `append_batch`, or,
/// for form 1, a row as a pre-change store holds it) and every reader
/// gives back exactly the signed bytes.
async fn every_envelope_form_reads_back_identical_bytes(store: &dyn Store, url: &str) {
    use base64::Engine as _;
    use evident_core::evidence::{AgentInfo, Predicate, Schedule, Statement, PAYLOAD_TYPE};
    enrolled(store, "f1", 7).await;
    let signer = evident_core::Signer::from_seed(&[9u8; 32]);
    let base = chrono::DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let statement = |seq: u64, previous: Option<Digest>, gap: Option<SequenceRange>, v2: bool| {
        let p = Predicate {
            agent: AgentInfo {
                id: "f1".into(),
                version: "0.1.0".into(),
            },
            host: Default::default(),
            sequence: seq,
            previous,
            gap,
            // Hourly, with nanoseconds from the third run on.
            collected_at: base
                + chrono::Duration::hours(seq as i64)
                + chrono::Duration::nanoseconds(if seq > 2 {
                    123_456_789 * seq as i64 % 1_000_000_000
                } else {
                    0
                }),
            schedule: Schedule {
                cron: "0 0 * * * *".into(),
                interval_seconds: 3600,
            },
            probes: Vec::new(),
        };
        if v2 {
            Statement::new_v2(p)
        } else {
            Statement::new(p)
        }
    };
    let mut previous = None;
    let mut envelopes: Vec<Vec<u8>> = Vec::new();
    let mut items = Vec::new();
    for seq in 1..=9u64 {
        let st = statement(
            seq,
            previous,
            (seq == 6).then_some(SequenceRange { from: 1, to: 1 }),
            seq != 5,
        );
        let payload = match seq {
            1 | 5 => st.to_bytes(),
            _ => st.to_unchanged_bytes(),
        };
        let mut env = signer.sign_envelope(PAYLOAD_TYPE, payload).to_json();
        if seq == 4 {
            // Not canonical JSON: kept as received (form 0).
            env = String::from_utf8(env)
                .unwrap()
                .replace(",\"", ", \"")
                .into_bytes();
        }
        let digest = sha256_digest(&env);
        let results = b"{}".to_vec();
        items.push(IngestItem {
            agent_id: "f1".into(),
            sequence: seq as i64,
            previous,
            declared_gap: None,
            envelope_digest: digest,
            envelope: Arc::new(env.clone()),
            collected_at: st.predicate.collected_at.timestamp_millis(),
            received_at: 1,
            blobs: Vec::new(),
            results_digest: sha256_digest(&results),
            results: Some(Arc::new(results)),
            drift: None,
            vuln: None,
        });
        envelopes.push(env);
        previous = Some(digest);
    }
    // The first five through the writer's path, the rest in bulk.
    for it in &items[..5] {
        assert!(matches!(one(store, it).await, IngestOutcome::Stored { .. }));
    }
    let out = store.append_batch(&items[5..]).await.unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, IngestOutcome::Stored { .. })),
        "{out:?}"
    );
    // Run 2 as a store written before migration 90 holds it when its
    // compressed form was not smaller: form 1 (signature header + payload).
    let env2 = evident_core::Envelope::from_json(&envelopes[1]).unwrap();
    let sig = base64::engine::general_purpose::STANDARD.encode(&env2.signatures[0].sig);
    let mut form1 =
        serde_json::to_vec(&(&env2.payload_type, vec![(&env2.signatures[0].keyid, sig)])).unwrap();
    form1.push(b'\n');
    form1.extend_from_slice(&env2.payload);
    let hex1 = hex::encode(&form1);
    let blob = if url.starts_with("sqlite:") {
        format!("X'{hex1}'")
    } else {
        format!("'\\x{hex1}'::bytea")
    };
    exec(url, &format!("UPDATE statements SET envelope_form = 1, template_id = NULL, envelope = {blob} WHERE agent_id = 'f1' AND sequence = 2")).await;
    let counts = forms(url).await;
    for form in 0..=3 {
        assert!(
            counts.iter().any(|(f, n)| *f == form && *n > 0),
            "form {form} missing: {counts:?}"
        );
    }
    // Unchanged runs with a previous digest and no gap are form 3: runs 3, 7, 8, 9.
    assert!(counts.contains(&(3, 4)), "{counts:?}");
    // Every reader: by digest, the export pages, the latest.
    for (i, env) in envelopes.iter().enumerate() {
        let (row, bytes) = store.statement(&sha256_digest(env)).await.unwrap().unwrap();
        assert_eq!(row.sequence, i as i64 + 1);
        assert_eq!(&bytes, env, "sequence {}", i + 1);
    }
    let mut exported = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .export_statements("f1", after, None, None, 4)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.sequence);
        exported.extend(page.into_iter().map(|(_, b)| b));
    }
    assert_eq!(exported, envelopes);
    let (_, latest) = store
        .last_statement("f1", None, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&latest, envelopes.last().unwrap());
    // A damaged form-3 row is an error naming the envelope, never other bytes.
    exec(
        url,
        "UPDATE statements SET sequence = 99 WHERE agent_id = 'f1' AND sequence = 9",
    )
    .await;
    let err = store
        .statement(&sha256_digest(&envelopes[8]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not match") || err.to_string().contains("form 3"),
        "{err}"
    );
}

/// The blobs rows' encodings, counted (raw SQL on either backend).
async fn encodings(url: &str) -> Vec<(i64, i64)> {
    let sql = "SELECT encoding, COUNT(*) FROM blobs GROUP BY encoding ORDER BY encoding";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let r = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        r
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let r = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        r
    }
}

/// `bytes` as an SQL literal of either backend.
fn bytes_literal(url: &str, bytes: &[u8]) -> String {
    if url.starts_with("sqlite:") {
        format!("X'{}'", hex::encode(bytes))
    } else {
        format!("'\\x{}'::bytea", hex::encode(bytes))
    }
}

/// One number of a query of either backend.
async fn scalar(url: &str, sql: &str) -> i64 {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

/// A package inventory as the `packages` probe reports it (name, version,
/// architecture, source package), the packages at `bumped` upgraded.
fn inventory_blob(n: usize, salt: &str, bumped: &[usize]) -> Vec<u8> {
    let pkgs: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let v = if bumped.contains(&i) {
                "3.1-2+deb12u2"
            } else {
                "3.0-7"
            };
            serde_json::json!({
                "name": format!("{salt}lib{}-{i}", ["ssl", "curl", "xml2", "pam"][i % 4]),
                "version": format!("{}:{v}", i % 3),
                "arch": if i % 5 == 0 { "all" } else { "amd64" },
                "source": format!("src-{}", i % 97),
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"manager": "dpkg", "inventory": pkgs})).unwrap()
}

/// A host's large blob that differs little from its previous one is
/// stored as a delta against the host's last whole blob of its kind
/// (migration 160), by the writer's per-item path, its batch and the bulk
/// path; a blob unlike the base is stored whole and becomes the next base;
/// every blob reads back as the exact bytes of its digest; a damaged or
/// missing base makes its deltas `Corrupt`, never other bytes.
async fn a_hosts_changed_inventory_is_stored_as_a_delta(store: &dyn Store, url: &str) {
    use evident_collector::store::StoreError;
    enrolled(store, "d1", 31).await;
    enrolled(store, "d2", 32).await;
    let weeks: Vec<Vec<u8>> = [&[][..], &[3, 40], &[3, 40, 200, 201]]
        .iter()
        .map(|b| inventory_blob(700, "", b))
        .collect();
    let other = inventory_blob(700, "x-", &[]);
    let other_next = inventory_blob(700, "x-", &[9]);
    // Week 0 through the per-item path: whole (the host's first).
    let first = item("d1", 1, "a", None, &weeks[0]);
    assert!(matches!(
        one(store, &first).await,
        IngestOutcome::Stored { .. }
    ));
    let d2 = item("d2", 1, "a", None, b"d2-blob");
    assert!(matches!(
        one(store, &d2).await,
        IngestOutcome::Stored { .. }
    ));
    // Week 1 through the writer's batch, week 2 through the bulk path.
    let batch = [
        item("d1", 2, "b", Some(first.envelope_digest), &weeks[1]),
        item("d2", 2, "b", Some(d2.envelope_digest), b"d2-blob"),
    ];
    let out = store.ingest_batch(&batch).await.unwrap().outcomes;
    assert!(
        out.iter()
            .all(|o| matches!(o, IngestOutcome::Stored { .. })),
        "{out:?}"
    );
    let bulk = [item(
        "d1",
        3,
        "c",
        Some(batch[0].envelope_digest),
        &weeks[2],
    )];
    let out = store.append_batch(&bulk).await.unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, IngestOutcome::Stored { .. })),
        "{out:?}"
    );
    // Then an inventory unlike week 0 (whole, the new base) and a small
    // change of it (a delta against it, not against week 0).
    let r4 = item("d1", 4, "d", Some(bulk[0].envelope_digest), &other);
    assert!(matches!(
        one(store, &r4).await,
        IngestOutcome::Stored { .. }
    ));
    let r5 = item("d1", 5, "e", Some(r4.envelope_digest), &other_next);
    assert!(matches!(
        one(store, &r5).await,
        IngestOutcome::Stored { .. }
    ));

    let base_of = |b: &[u8]| {
        format!(
            "SELECT COUNT(*) FROM blobs WHERE encoding = 2 AND digest = {} AND base = {}",
            bytes_literal(url, &sha256_digest(b).0),
            "{}"
        )
    };
    for (blob, base) in [
        (&weeks[1], &weeks[0]),
        (&weeks[2], &weeks[0]),
        (&other_next, &other),
    ] {
        let sql = base_of(blob).replace("{}", &bytes_literal(url, &sha256_digest(base).0));
        assert_eq!(scalar(url, &sql).await, 1, "{sql}");
    }
    // Whole: week 0 and `other` (zstd), "d2-blob" (raw).
    assert_eq!(encodings(url).await, vec![(0, 1), (1, 2), (2, 3)]);
    // A delta costs a small part of the blob compressed alone.
    let len = |b: &[u8]| {
        format!(
            "SELECT CAST(length(data) AS BIGINT) FROM blobs WHERE digest = {}",
            bytes_literal(url, &sha256_digest(b).0)
        )
    };
    let whole = scalar(url, &len(&weeks[0])).await;
    let delta = scalar(url, &len(&weeks[1])).await;
    assert!(delta * 20 < whole, "delta {delta} B, whole {whole} B");
    // Every blob reads back exactly, in one call and one at a time.
    let all: Vec<&Vec<u8>> = weeks.iter().chain([&other, &other_next]).collect();
    let digests: Vec<Digest> = all.iter().map(|b| sha256_digest(b)).collect();
    let got = store.blobs(&digests).await.unwrap();
    assert_eq!(got.len(), all.len());
    for b in &all {
        assert_eq!(got.get(&sha256_digest(b)), Some(*b));
        let one = store.blobs(&[sha256_digest(b)]).await.unwrap();
        assert_eq!(one.get(&sha256_digest(b)), Some(*b));
    }
    // A damaged base: its deltas are corrupt (the base's digest check).
    let w0 = sha256_digest(&weeks[0]);
    exec(
        url,
        &format!(
            "UPDATE blobs SET encoding = 0, data = {} WHERE digest = {}",
            bytes_literal(url, &inventory_blob(700, "", &[1])),
            bytes_literal(url, &w0.0)
        ),
    )
    .await;
    let w1 = sha256_digest(&weeks[1]);
    let err = store.blobs(&[w1]).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains(&w0.to_string()), "{err}");
    // A missing base: corrupt, naming the delta and its base.
    exec(
        url,
        &format!(
            "DELETE FROM blobs WHERE digest = {}",
            bytes_literal(url, &w0.0)
        ),
    )
    .await;
    let err = store.blobs(&[w1]).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("is missing"), "{err}");
    // The unrelated blobs still read.
    let d = sha256_digest(&other_next);
    assert_eq!(store.blobs(&[d]).await.unwrap().get(&d), Some(&other_next));
}

/// A package list as the `packages` probe reports it: compresses well.
fn package_blob(n: usize, salt: &str) -> Vec<u8> {
    let names: Vec<String> = (0..n)
        .map(|i| format!("lib{}-{salt}{i}", ["ssl", "curl", "xml2", "pam"][i % 4]))
        .collect();
    serde_json::to_vec(&serde_json::json!({"manager": "dpkg", "installed_names": names})).unwrap()
}

/// Blobs are stored compressed where that pays (migration 150) by every
/// writer — the writer's per-item path, its batch, the bulk path and
/// attestation documents — and read back as the exact bytes of their
/// digest; small blobs and rows of a store written before the change stay
/// raw and read as before; a damaged compressed row and a decompression
/// bomb are `Corrupt`, never other bytes.
async fn every_blob_encoding_reads_back_identical_bytes(store: &dyn Store, url: &str) {
    use evident_collector::store::{NewAttestation, StoreError};
    enrolled(store, "z1", 21).await;
    enrolled(store, "z2", 22).await;
    let big: Vec<Vec<u8>> = (0..4)
        .map(|i| package_blob(600, &format!("v{i}-")))
        .collect();
    let small = b"{\"status\":\"ok\"}".to_vec();
    // The per-item path (a batch of one) with a big and a small blob.
    let mut first = item("z1", 1, "a", None, &big[0]);
    first
        .blobs
        .push((sha256_digest(&small), Arc::new(small.clone())));
    assert!(matches!(
        one(store, &first).await,
        IngestOutcome::Stored { .. }
    ));
    let second = item("z2", 1, "a", None, b"z2-blob");
    assert!(matches!(
        one(store, &second).await,
        IngestOutcome::Stored { .. }
    ));
    // The writer's batch: plain next runs take the multi-row path.
    let batch = [
        item("z1", 2, "b", Some(first.envelope_digest), &big[1]),
        item("z2", 2, "b", Some(second.envelope_digest), b"z2-blob"),
    ];
    let out = store.ingest_batch(&batch).await.unwrap().outcomes;
    assert!(
        out.iter()
            .all(|o| matches!(o, IngestOutcome::Stored { .. })),
        "{out:?}"
    );
    // The bulk path.
    let bulk = [item("z1", 3, "c", Some(batch[0].envelope_digest), &big[2])];
    let out = store.append_batch(&bulk).await.unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, IngestOutcome::Stored { .. })),
        "{out:?}"
    );
    // Attestation documents.
    let att = NewAttestation {
        digest: sha256_digest(b"att"),
        control: "A.5.1".into(),
        attester_key_id: "k".into(),
        expires: "2027-01-01".into(),
        created_at: 1,
        envelope: b"att".to_vec(),
    };
    store
        .add_attestation(&att, &[(sha256_digest(&big[3]), big[3].clone())])
        .await
        .unwrap();
    // A row as a store written before migration 150 holds it (no encoding
    // named: the column's default) reads back as before.
    let old = package_blob(300, "old-");
    let old_digest = sha256_digest(&old);
    exec(
        url,
        &format!(
            "INSERT INTO blobs (digest, data) VALUES ({}, {})",
            bytes_literal(url, &old_digest.0),
            bytes_literal(url, &old)
        ),
    )
    .await;
    // Four big blobs compressed; the small ones, "z2-blob" and the old row raw.
    assert_eq!(encodings(url).await, vec![(0, 3), (1, 4)]);
    let mut wanted: Vec<(Digest, Vec<u8>)> =
        big.iter().map(|b| (sha256_digest(b), b.clone())).collect();
    wanted.push((sha256_digest(&small), small.clone()));
    wanted.push((sha256_digest(b"z2-blob"), b"z2-blob".to_vec()));
    wanted.push((old_digest, old.clone()));
    let digests: Vec<Digest> = wanted.iter().map(|(d, _)| *d).collect();
    let got = store.blobs(&digests).await.unwrap();
    assert_eq!(got.len(), wanted.len());
    for (d, b) in &wanted {
        assert_eq!(got.get(d), Some(b), "{d}");
    }
    assert!(store.missing_blobs(&digests).await.unwrap().is_empty());
    // Compressed rows are smaller than the blobs they hold.
    let stored_len = |d: &Digest| {
        let (url, d) = (url.to_string(), *d);
        async move {
            let sql = format!(
                "SELECT length(data) FROM blobs WHERE digest = {}",
                bytes_literal(&url, &d.0)
            );
            if url.starts_with("sqlite:") {
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                let (n,): (i64,) = sqlx::query_as(&sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            } else {
                let pool = sqlx::PgPool::connect(&url).await.unwrap();
                let (n,): (i32,) = sqlx::query_as(&sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                i64::from(n)
            }
        }
    };
    let n = stored_len(&sha256_digest(&big[0])).await;
    assert!(n * 3 < big[0].len() as i64, "{n} of {}", big[0].len());
    // A damaged compressed row: an error naming the blob, never other bytes.
    let d1 = sha256_digest(&big[1]);
    let sql = if url.starts_with("sqlite:") {
        format!(
            "UPDATE blobs SET data = substr(data, 1, 40) || \
             (CASE WHEN substr(data, 41, 1) = X'00' THEN X'FF' ELSE X'00' END) || substr(data, 42) \
             WHERE digest = {}",
            bytes_literal(url, &d1.0)
        )
    } else {
        format!(
            "UPDATE blobs SET data = set_byte(data, 40, get_byte(data, 40) # 255) WHERE digest = {}",
            bytes_literal(url, &d1.0)
        )
    };
    exec(url, &sql).await;
    let err = store.blobs(&[d1]).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains(&d1.to_string()), "{err}");
    // A raw row altered: also corrupt.
    exec(
        url,
        &format!(
            "UPDATE blobs SET data = {} WHERE digest = {}",
            bytes_literal(url, b"other bytes"),
            bytes_literal(url, &old_digest.0)
        ),
    )
    .await;
    let err = store.blobs(&[old_digest]).await.unwrap_err();
    assert!(
        err.to_string().contains("does not match its digest"),
        "{err}"
    );
    // A decompression bomb: a small frame of more zeros than any blob may
    // hold is refused before anything is inflated.
    let bomb = {
        use std::io::Write as _;
        let size = evident_collector::limits::MAX_BLOB_BYTES + 1;
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        enc.include_contentsize(true).unwrap();
        enc.set_pledged_src_size(Some(size as u64)).unwrap();
        let zeros = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(zeros.len());
            enc.write_all(&zeros[..n]).unwrap();
            left -= n;
        }
        enc.finish().unwrap()
    };
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let bomb_digest = sha256_digest(b"bomb");
    exec(
        url,
        &format!(
            "INSERT INTO blobs (digest, encoding, data) VALUES ({}, 1, {})",
            bytes_literal(url, &bomb_digest.0),
            bytes_literal(url, &bomb)
        ),
    )
    .await;
    let err = store.blobs(&[bomb_digest]).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("more than the"), "{err}");
    // The intact compressed rows still read.
    let d0 = sha256_digest(&big[0]);
    assert_eq!(store.blobs(&[d0]).await.unwrap().get(&d0), Some(&big[0]));
}

/// The fleet view the SQL `GROUP BY` over the open `vuln_first_seen` rows
/// of active hosts gives (what `vuln_fleet` computed before migration 140).
async fn fleet_group_by(url: &str) -> Vec<(String, String, i64, i64)> {
    let sql = "SELECT f.cve, f.source, COUNT(*), MIN(f.first_at) FROM vuln_first_seen f \
               JOIN agents a ON a.id = f.agent_id AND a.status = 'active' \
               WHERE f.resolved_sequence IS NULL GROUP BY f.cve, f.source \
               ORDER BY COUNT(*) DESC, f.cve, f.source";
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let r = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        r
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let r = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        r
    }
}

/// `vuln_fleet` (the maintained counts) is the `GROUP BY`, and is `want`.
async fn assert_fleet(store: &dyn Store, url: &str, want: &[(&str, &str, i64, i64)], when: &str) {
    let got: Vec<(String, String, i64, i64)> = store
        .vuln_fleet(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.cve, f.source, f.hosts, f.first_seen))
        .collect();
    assert_eq!(got, fleet_group_by(url).await, "{when}: counts vs GROUP BY");
    let want: Vec<(String, String, i64, i64)> = want
        .iter()
        .map(|(c, s, h, f)| (c.to_string(), s.to_string(), *h, *f))
        .collect();
    assert_eq!(got, want, "{when}");
}

/// A vulnerability state change as `agent`'s statement `seq`: pairs opened
/// (CVE, source, first seen at) and resolved.
fn vuln_update(
    agent: &str,
    statement: evident_collector::store::vuln::StatementRef,
    new: &[(&str, &str, i64)],
    gone: &[(&str, &str)],
) -> evident_collector::store::vuln::VulnUpdate {
    use evident_collector::store::vuln::{NewFirstSeen, StatementRef, VulnUpdate};
    VulnUpdate {
        agent_id: agent.into(),
        statement,
        packages: Some(sha256_digest(agent.as_bytes())),
        refresh_last: true,
        new: new
            .iter()
            .map(|(cve, source, at)| NewFirstSeen {
                cve: (*cve).into(),
                source: (*source).into(),
                first: StatementRef {
                    at: *at,
                    ..statement
                },
            })
            .collect(),
        gone: gone
            .iter()
            .map(|(c, s)| ((*c).to_string(), (*s).to_string()))
            .collect(),
    }
}

/// The per (CVE, source package) counts of open hosts (migration 140) kept
/// by ingest, the re-match and agent status changes equal the `GROUP BY`
/// over the open rows of active hosts at every step, earliest first
/// sighting included (read again when the earliest is resolved or its host
/// leaves); and the migration backfills them from existing rows.
async fn vuln_fleet_counts_are_the_group_by_of_the_open_state(store: &dyn Store, url: &str) {
    use evident_collector::store::vuln::StatementRef;
    for (id, key) in [("h1", 21), ("h2", 22), ("h3", 23)] {
        enrolled(store, id, key).await;
    }
    let mut heads: std::collections::BTreeMap<&str, (i64, Digest)> = Default::default();
    let mut statement = |agent: &'static str| {
        let (seq, prev) = heads
            .get(agent)
            .map_or((1, None), |(s, d)| (s + 1, Some(*d)));
        let it = item(agent, seq, &format!("v{seq}"), prev, agent.as_bytes());
        heads.insert(agent, (seq, it.envelope_digest));
        let st = StatementRef {
            sequence: seq,
            digest: it.envelope_digest,
            at: it.collected_at,
        };
        (it, st)
    };
    // Ingest: CVE-A on three hosts, CVE-B on two, CVE-C on one.
    type Opened<'a> = &'a [(&'a str, &'a str, i64)];
    let plan: [(&str, Opened); 3] = [
        (
            "h1",
            &[("CVE-A", "openssl", 100), ("CVE-B", "openssl", 100)],
        ),
        ("h2", &[("CVE-A", "openssl", 50), ("CVE-C", "zlib", 60)]),
        ("h3", &[("CVE-A", "openssl", 70), ("CVE-B", "openssl", 80)]),
    ];
    for (agent, new) in plan {
        let (mut it, st) = statement(agent);
        it.vuln = Some(Arc::new(vuln_update(agent, st, new, &[])));
        assert!(matches!(
            one(store, &it).await,
            IngestOutcome::Stored { .. }
        ));
    }
    assert_fleet(
        store,
        url,
        &[
            ("CVE-A", "openssl", 3, 50),
            ("CVE-B", "openssl", 2, 80),
            ("CVE-C", "zlib", 1, 60),
        ],
        "after ingest",
    )
    .await;

    // Resolutions at ingest: the earliest CVE-A (h2's) goes, so its
    // earliest is read again; a pair sent as new while open changes nothing.
    let (mut it, st) = statement("h2");
    it.vuln = Some(Arc::new(vuln_update(
        "h2",
        st,
        &[],
        &[("CVE-A", "openssl")],
    )));
    one(store, &it).await;
    let (mut it, st) = statement("h1");
    it.vuln = Some(Arc::new(vuln_update(
        "h1",
        st,
        &[("CVE-A", "openssl", 999)],
        &[("CVE-B", "openssl")],
    )));
    one(store, &it).await;
    assert_fleet(
        store,
        url,
        &[
            ("CVE-A", "openssl", 2, 70),
            ("CVE-B", "openssl", 1, 80),
            ("CVE-C", "zlib", 1, 60),
        ],
        "after resolutions",
    )
    .await;

    // A re-match at each host's latest statement: CVE-C left on no host
    // has no row.
    let at = |agent: &str| {
        let (seq, digest) = heads[agent];
        StatementRef {
            sequence: seq,
            digest,
            at: 1000 + seq,
        }
    };
    store
        .vuln_apply(&[
            vuln_update("h1", at("h1"), &[("CVE-D", "curl", 200)], &[]),
            vuln_update(
                "h2",
                at("h2"),
                &[("CVE-B", "openssl", 40)],
                &[("CVE-C", "zlib")],
            ),
            vuln_update("h3", at("h3"), &[], &[("CVE-A", "openssl")]),
        ])
        .await
        .unwrap();
    assert_fleet(
        store,
        url,
        &[
            ("CVE-B", "openssl", 2, 40),
            ("CVE-A", "openssl", 1, 100),
            ("CVE-D", "curl", 1, 200),
        ],
        "after a re-match",
    )
    .await;

    // A revoked host leaves the counts; a re-match touching it changes none.
    assert!(store
        .set_agent_status("h2", AgentStatus::Revoked)
        .await
        .unwrap());
    assert_fleet(
        store,
        url,
        &[
            ("CVE-A", "openssl", 1, 100),
            ("CVE-B", "openssl", 1, 80),
            ("CVE-D", "curl", 1, 200),
        ],
        "after revoking h2",
    )
    .await;
    store
        .vuln_apply(&[vuln_update("h2", at("h2"), &[("CVE-E", "curl", 10)], &[])])
        .await
        .unwrap();
    assert_fleet(
        store,
        url,
        &[
            ("CVE-A", "openssl", 1, 100),
            ("CVE-B", "openssl", 1, 80),
            ("CVE-D", "curl", 1, 200),
        ],
        "after a re-match of the revoked host",
    )
    .await;
    // Back to active (the store allows any change): its open pairs rejoin.
    assert!(store
        .set_agent_status("h2", AgentStatus::Active)
        .await
        .unwrap());
    assert_fleet(
        store,
        url,
        &[
            ("CVE-B", "openssl", 2, 40),
            ("CVE-A", "openssl", 1, 100),
            ("CVE-D", "curl", 1, 200),
            ("CVE-E", "curl", 1, 10),
        ],
        "after reactivating h2",
    )
    .await;

    // The migration backfills the counts from the rows already stored.
    exec(
        url,
        "DROP INDEX vuln_first_seen_open; DROP TABLE vuln_fleet_counts; \
         DELETE FROM evident_migrations WHERE version = 140",
    )
    .await;
    let again = store::open(url, 2, Duration::from_secs(5)).await.unwrap();
    assert_fleet(
        &*again,
        url,
        &[
            ("CVE-B", "openssl", 2, 40),
            ("CVE-A", "openssl", 1, 100),
            ("CVE-D", "curl", 1, 200),
            ("CVE-E", "curl", 1, 10),
        ],
        "backfilled by migration 140",
    )
    .await;
    again.close().await;
}

/// PostgreSQL: `refresh_statistics` analyzes a table once it has grown by
/// 50 rows + 10 % since its last `ANALYZE`, and never records an empty
/// table as empty (that turned a prepared lookup's generic plan into a
/// sequential scan of a table that then grew to 50,000 rows: session 12).
#[tokio::test]
async fn postgres_statistics_follow_growth_and_skip_empty_tables() {
    let db = postgres().await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let reltuples = |table: &'static str| {
        let pool = pool.clone();
        async move {
            let (n,): (f64,) =
                sqlx::query_as("SELECT reltuples::float8 FROM pg_class WHERE relname = $1")
                    .bind(table)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            n
        }
    };
    // Pending counts reach the statistics views when the backend that
    // made them goes idle; force it rather than wait.
    let flush = "SELECT pg_stat_force_next_flush()";
    sqlx::query(flush).execute(&pool).await.unwrap();
    db.store.refresh_statistics().await.unwrap();
    // Still "never analyzed" (-1), not "empty" (0).
    assert_eq!(reltuples("envelope_templates").await, -1.0);
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query(
        "INSERT INTO envelope_templates (template_digest, template) \
         SELECT sha256(i::text::bytea), '\\x00'::bytea FROM generate_series(1, 200) i",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(flush).execute(&mut *conn).await.unwrap();
    drop(conn);
    let analyzed = db.store.refresh_statistics().await.unwrap();
    assert!(analyzed >= 1, "{analyzed} tables analyzed");
    assert_eq!(reltuples("envelope_templates").await, 200.0);
    // Nothing changed since: nothing is due.
    sqlx::query(flush).execute(&pool).await.unwrap();
    assert_eq!(db.store.refresh_statistics().await.unwrap(), 0);
    pool.close().await;
    db.cleanup().await;
}
