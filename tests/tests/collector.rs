//! End-to-end: the real `evident-collector` binary on 127.0.0.1 with
//! generated certificates, real probe output signed by test agents, on
//! SQLite and on PostgreSQL. Every row of the issue's bad-input table is a
//! test here.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers called from generated #[test]s

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use evident_core::wire::{IngestRequest, IngestResponse};
use evident_core::{sha256_digest, Signer};
use evident_e2e::{collect, fixture_root, request, Agent, Backend, Server};
use serde_json::Value;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(evident_e2e::Backend::Sqlite).await; }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(evident_e2e::Backend::Postgres).await; }
        )* }
    };
}

on_both!(
    enroll_ingest_and_query,
    body_over_limit_is_413_before_parsing,
    malformed_bodies_are_400_with_reason,
    bad_signature_is_401_and_nothing_is_stored,
    tampered_blob_is_400_and_nothing_is_stored,
    missing_blob_is_422_with_the_list,
    unknown_unapproved_and_revoked_keys_are_403,
    admin_token_missing_or_wrong_is_401,
    replay_is_acknowledged_and_stored_once,
    same_sequence_other_content_is_409_and_an_integrity_event,
    sequence_gap_is_recorded,
    database_unavailable_is_503_and_nothing_acknowledged,
    enrollment_refuses_weak_keys_and_bad_tokens,
    graceful_shutdown_exits_cleanly,
);

async fn start(backend: Backend) -> Option<Server> {
    Server::start(backend, &[]).await
}

async fn enrolled(server: &Server, name: &str) -> (Agent, evident_e2e::Run, tempfile::TempDir) {
    let root = fixture_root(name);
    let run = collect(root.path());
    let mut agent = Agent::new(name);
    agent.enroll(server).await;
    (agent, run, root)
}

async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn stored_count(server: &Server, agent: &Agent) -> usize {
    // Every stored statement appears in any rule's history (status null when absent).
    let (_, v) = server
        .get(&format!("/v1/hosts/{}/rules/x?limit=1000", agent.id))
        .await;
    v["items"].as_array().map(Vec::len).unwrap_or(0)
}

async fn enroll_ingest_and_query(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    assert!(agent.id.starts_with("agt_"));
    // Enrolling the same key again is idempotent.
    let again = server.enroll(&agent, &server.enroll_token).await;
    let (s, v) = status_and_json(again).await;
    assert_eq!(s, 200);
    assert_eq!(v["agent_id"], agent.id.as_str());

    // First run: statement + all blobs → 201 stored.
    let (env1, d1) = agent.sign_next(&run);
    let (s, v) = status_and_json(server.post(&request(&env1, &run, true)).await).await;
    assert_eq!(s, 201, "{v}");
    let resp: IngestResponse = serde_json::from_value(v).unwrap();
    assert_eq!(resp.envelope_digest, d1);
    assert_eq!(resp.sequence, 1);
    let mut expected: Vec<_> = run.blobs.keys().copied().collect();
    expected.sort();
    assert_eq!(resp.known_blobs, expected);
    assert!(!resp.summary.is_empty());

    // Unchanged run: only the statement.
    let (env2, d2) = agent.sign_next(&run);
    let (s, v) = status_and_json(server.post(&request(&env2, &run, false)).await).await;
    assert_eq!(s, 201, "{v}");

    // Query API.
    let (s, hosts) = server.get("/v1/hosts").await;
    assert_eq!(s, 200);
    assert_eq!(hosts["items"][0]["id"], agent.id.as_str());
    assert_eq!(hosts["items"][0]["last_sequence"], 2);
    let (s, host) = server.get(&format!("/v1/hosts/{}", agent.id)).await;
    assert_eq!(s, 200);
    let rules = host["rules"].as_array().unwrap();
    assert!(!rules.is_empty(), "{host}");
    assert!(host["controls"].as_object().is_some());
    // By id, not by position.
    let rule_id = "ssh.root-login".to_string();
    assert!(
        rules.iter().any(|r| r["id"] == rule_id.as_str()),
        "{rule_id} not in {host}"
    );
    let (s, history) = server
        .get(&format!("/v1/hosts/{}/rules/{rule_id}?limit=1", agent.id))
        .await;
    assert_eq!(s, 200);
    assert_eq!(history["items"][0]["sequence"], 2);
    assert_eq!(history["next"], 2);
    let (_, older) = server
        .get(&format!("/v1/hosts/{}/rules/{rule_id}?before=2", agent.id))
        .await;
    assert_eq!(older["items"][0]["sequence"], 1);
    let (s, controls) = server.get("/v1/controls").await;
    assert_eq!(s, 200);
    let items = controls["items"].as_array().unwrap();
    assert!(!items.is_empty());
    let total: u64 = items[0]["hosts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 1);
    // Evidence by digest: envelope and blobs exactly as received.
    let (s, ev) = server.get(&format!("/v1/evidence/{d1}")).await;
    assert_eq!(s, 200);
    assert_eq!(B64.decode(ev["envelope"].as_str().unwrap()).unwrap(), env1);
    for (d, bytes) in &run.blobs {
        let got = B64
            .decode(ev["blobs"][d.to_string()].as_str().unwrap())
            .unwrap();
        assert_eq!(&got, bytes);
    }
    let (s, _) = server.get(&format!("/v1/evidence/{d2}")).await;
    assert_eq!(s, 200);
    let (s, _) = server
        .get(&format!("/v1/evidence/{}", sha256_digest(b"nothing")))
        .await;
    assert_eq!(s, 404);
    let (s, events) = server.get("/v1/integrity-events").await;
    assert_eq!(s, 200);
    assert_eq!(events["items"].as_array().unwrap().len(), 0);

    // Health (no token) and metrics (the metrics scope; admin has every scope).
    let h = server
        .client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status().as_u16(), 200);
    let m = server
        .client
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("evident_ingest_total{outcome=\"stored\"} 2"),
        "{m}"
    );
    assert!(m.contains("evident_ingest_duration_seconds_count 2"));
    assert!(m.contains("evident_control_hosts{control=\"A."), "{m}");

    // Offline CLI views of the same data.
    let agents = server.cli(&["agents", "list"]);
    assert!(agents.contains(&agent.id), "{agents}");
    server.finish().await;
}

async fn body_over_limit_is_413_before_parsing(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let body = vec![b'x'; 4 * 1024 * 1024 + 1];
    let (s, v) = status_and_json(server.post_raw(body).await).await;
    assert_eq!(s, 413);
    assert!(v["error"].as_str().unwrap().contains("limit"));
    // Just under the limit but garbage: parsed, so 400.
    let (s, _) = status_and_json(server.post_raw(vec![b'x'; 1024]).await).await;
    assert_eq!(s, 400);
    assert!(server.log().contains("status=413"));
    server.finish().await;
}

async fn malformed_bodies_are_400_with_reason(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let (agent, run, _root) = enrolled(&server, "web-1").await;
    // Not JSON.
    let (s, v) = status_and_json(server.post_raw(b"{not json".to_vec()).await).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("JSON"), "{v}");
    // JSON, but the envelope is not a DSSE envelope.
    let req = IngestRequest::new(b"{\"hello\":1}", std::iter::empty());
    let (s, v) = status_and_json(server.post(&req).await).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("DSSE"), "{v}");
    // Envelope not base64.
    let (s, _) = status_and_json(server.post_raw(br#"{"envelope":"%%%"}"#.to_vec()).await).await;
    assert_eq!(s, 400);
    // Wrong payloadType (validly signed).
    let payload = b"{}".to_vec();
    let env = agent.signer.sign_envelope("text/plain", payload).to_json();
    let (s, v) = status_and_json(server.post(&request(&env, &run, false)).await).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("payloadType"), "{v}");
    assert!(server.log().contains("request refused"));
    server.finish().await;
}

async fn bad_signature_is_401_and_nothing_is_stored(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, d) = agent.sign_next(&run);
    let mut parsed = evident_core::Envelope::from_json(&env).unwrap();
    parsed.signatures[0].sig[0] ^= 1;
    let tampered = parsed.to_json();
    let (s, v) = status_and_json(server.post(&request(&tampered, &run, true)).await).await;
    assert_eq!(s, 401, "{v}");
    // Payload changed after signing.
    let mut parsed = evident_core::Envelope::from_json(&env).unwrap();
    parsed.payload = parsed.payload.replace_first(b"web-1", b"web-2");
    let (s, _) = status_and_json(server.post(&request(&parsed.to_json(), &run, true)).await).await;
    assert_eq!(s, 401);
    let (s, _) = server.get(&format!("/v1/evidence/{d}")).await;
    assert_eq!(s, 404);
    let (_, host) = server.get(&format!("/v1/hosts/{}", agent.id)).await;
    assert!(host["host"]["last_sequence"].is_null());
    let m = server
        .client
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&server.admin_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("evident_verification_failures_total 2"), "{m}");
    server.finish().await;
}

trait ReplaceFirst {
    fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
}
impl ReplaceFirst for Vec<u8> {
    fn replace_first(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let pos = self
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern present");
        let mut out = self[..pos].to_vec();
        out.extend_from_slice(to);
        out.extend_from_slice(&self[pos + from.len()..]);
        out
    }
}

async fn tampered_blob_is_400_and_nothing_is_stored(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, d) = agent.sign_next(&run);
    let mut req = request(&env, &run, true);
    let first = req.blobs.keys().next().unwrap().clone();
    req.blobs.insert(first, B64.encode(b"{\"tampered\":true}"));
    let (s, v) = status_and_json(server.post(&req).await).await;
    assert_eq!(s, 400);
    assert!(
        v["error"].as_str().unwrap().contains("does not match"),
        "{v}"
    );
    let (s, _) = server.get(&format!("/v1/evidence/{d}")).await;
    assert_eq!(s, 404);
    // The untampered request then goes through.
    let (s, _) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 201);
    server.finish().await;
}

async fn missing_blob_is_422_with_the_list(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, d) = agent.sign_next(&run);
    let mut req = request(&env, &run, true);
    let dropped = req.blobs.keys().next().unwrap().clone();
    req.blobs.remove(&dropped);
    let (s, v) = status_and_json(server.post(&req).await).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["missing_blobs"], serde_json::json!([dropped]));
    let (s, _) = server.get(&format!("/v1/evidence/{d}")).await;
    assert_eq!(s, 404);
    server.finish().await;
}

async fn unknown_unapproved_and_revoked_keys_are_403(backend: Backend) {
    let Some(server) = Server::start(backend, &[("require_approval", "true")]).await else {
        return;
    };
    let root = fixture_root("web-1");
    let run = collect(root.path());
    // Unknown key.
    let mut stranger = Agent::new("stranger");
    stranger.id = "agt_nobody".into();
    let (env, _) = stranger.sign_next(&run);
    let (s, v) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 403, "{v}");
    // Enrolled but not approved.
    let mut agent = Agent::new("web-1");
    let resp = agent.enroll(&server).await;
    assert_eq!(resp.status, evident_core::wire::AgentStatus::Pending);
    let (env, _) = agent.sign_next(&run);
    let (s, v) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("approval"));
    // Approved: accepted.
    server.cli(&["agents", "approve", &agent.id]);
    let (s, v) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 201, "{v}");
    // Revoked: refused at once (the writer re-checks inside the transaction).
    server.cli(&["agents", "revoke", &agent.id]);
    let (env2, d2) = agent.sign_next(&run);
    let (s, v) = status_and_json(server.post(&request(&env2, &run, false)).await).await;
    assert_eq!(s, 403, "{v}");
    let (s, _) = server.get(&format!("/v1/evidence/{d2}")).await;
    assert_eq!(s, 404);
    // And after: the collector forgot its cached lookup (renewed by the
    // stored run above), so the next run is refused before evaluation.
    let (env3, _) = agent.sign_next(&run);
    let (s, v) = status_and_json(server.post(&request(&env3, &run, false)).await).await;
    assert_eq!(s, 403, "{v}");
    assert!(v["error"].as_str().unwrap().contains("revoked"), "{v}");
    server.finish().await;
}

async fn admin_token_missing_or_wrong_is_401(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    for path in [
        "/v1/hosts",
        "/v1/controls",
        "/v1/integrity-events",
        "/v1/admin/tokens",
    ] {
        let r = server
            .client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let r = server
            .client
            .get(format!("{}{path}", server.url))
            .bearer_auth("wrong-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    let (s, _) = server.get("/v1/hosts").await;
    assert_eq!(s, 200);
    let log = server.log();
    assert!(log.contains("status=401"));
    assert!(
        !log.contains("wrong-token"),
        "a presented token leaked into the log"
    );
    assert!(!log.contains(&server.admin_token));
    server.finish().await;
}

async fn replay_is_acknowledged_and_stored_once(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, d) = agent.sign_next(&run);
    let req = request(&env, &run, true);
    let (s, v) = status_and_json(server.post(&req).await).await;
    assert_eq!(s, 201);
    assert_eq!(v["status"], "stored");
    for _ in 0..3 {
        let (s, v) = status_and_json(server.post(&req).await).await;
        assert_eq!(s, 200);
        assert_eq!(v["status"], "duplicate");
        assert_eq!(v["envelope_digest"], d.to_string());
    }
    assert_eq!(stored_count(&server, &agent).await, 1);
    server.finish().await;
}

async fn same_sequence_other_content_is_409_and_an_integrity_event(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, d) = agent.sign_next(&run);
    let (s, _) = status_and_json(server.post(&request(&env, &run, true)).await).await;
    assert_eq!(s, 201);
    // A cloned host: same key, same sequence, different statement.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let clone = agent.sign_at(&run, 1, None);
    assert_ne!(clone, env);
    let (s, v) = status_and_json(server.post(&request(&clone, &run, false)).await).await;
    assert_eq!(s, 409, "{v}");
    let (_, events) = server.get("/v1/integrity-events").await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["kind"], "conflict");
    assert_eq!(items[0]["agent_id"], agent.id.as_str());
    assert_eq!(
        items[0]["envelope_digest"],
        sha256_digest(&clone).to_string()
    );
    let (_, ev) = server.get(&format!("/v1/evidence/{d}")).await;
    assert_eq!(B64.decode(ev["envelope"].as_str().unwrap()).unwrap(), env);
    assert_eq!(stored_count(&server, &agent).await, 1);
    server.finish().await;
}

async fn sequence_gap_is_recorded(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    agent.next_sequence = 5;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, false))
            .await
            .status()
            .as_u16(),
        201
    );
    let (_, events) = server
        .get(&format!("/v1/integrity-events?agent={}", agent.id))
        .await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["kind"], "gap");
    assert_eq!(items[0]["detail"], "sequences 2 to 4 missing", "{events}");
    server.finish().await;
}

async fn database_unavailable_is_503_and_nothing_acknowledged(backend: Backend) {
    let Some(server) = Server::start(backend, &[("database_timeout_ms", "300")]).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env1, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env1, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    let (env2, d2) = agent.sign_next(&run);
    let req2 = request(&env2, &run, false);

    match backend {
        Backend::Sqlite => {
            // Another process holds the write lock longer than the collector waits.
            use sqlx::Connection as _;
            let url = format!(
                "sqlite://{}",
                server.dir.path().join("evident.db").display()
            );
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("BEGIN EXCLUSIVE")
                .execute(&mut conn)
                .await
                .unwrap();
            let (s, v) = status_and_json(server.post(&req2).await).await;
            assert_eq!(s, 503, "{v}");
            sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.unwrap();
            conn.close().await.ok();
        }
        Backend::Postgres => {
            let pg = server.pg.as_ref().unwrap();
            pg.admin_exec(&format!(
                "ALTER DATABASE {0} ALLOW_CONNECTIONS false; \
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{0}'",
                pg.name
            ))
            .await;
            let (s, v) = status_and_json(server.post(&req2).await).await;
            assert_eq!(s, 503, "{v}");
            let h = server
                .client
                .get(format!("{}/healthz", server.url))
                .send()
                .await
                .unwrap();
            assert_eq!(h.status().as_u16(), 503);
            pg.admin_exec(&format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS true",
                pg.name
            ))
            .await;
        }
    }
    // Nothing was acknowledged, so the agent resends and it is stored now.
    let mut last = 0;
    for _ in 0..20 {
        last = server.post(&req2).await.status().as_u16();
        if last == 201 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(last, 201);
    let (s, _) = server.get(&format!("/v1/evidence/{d2}")).await;
    assert_eq!(s, 200);
    server.finish().await;
}

async fn enrollment_refuses_weak_keys_and_bad_tokens(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    let post = |body: Value| {
        let c = server.client.clone();
        let url = format!("{}/v1/enroll", server.url);
        async move { status_and_json(c.post(url).json(&body).send().await.unwrap()).await }
    };
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let (s, v) = post(serde_json::json!({"token": server.enroll_token, "public_key": B64.encode(identity), "hostname": "h", "agent_version": "1"})).await;
    assert_eq!(s, 400);
    assert!(v["error"].as_str().unwrap().contains("weak"), "{v}");
    let good = Signer::from_seed(&[3u8; 32]);
    let key = B64.encode(good.verifying_key().as_bytes());
    let (s, _) = post(serde_json::json!({"token": "evt_nope", "public_key": key, "hostname": "h", "agent_version": "1"})).await;
    assert_eq!(s, 403);
    let (s, _) = post(serde_json::json!({"token": server.enroll_token})).await;
    assert_eq!(s, 400);
    // Token lifecycle through the CLI: create (one use), use, used up, revoke.
    let t = server.cli(&["token", "create", "--uses", "1", "--expires", "1h"]);
    let t = t.trim().to_string();
    let (s, _) = post(
        serde_json::json!({"token": t, "public_key": key, "hostname": "h", "agent_version": "1"}),
    )
    .await;
    assert_eq!(s, 200);
    let other = B64.encode(Signer::from_seed(&[4u8; 32]).verifying_key().as_bytes());
    let (s, _) = post(
        serde_json::json!({"token": t, "public_key": other, "hostname": "h", "agent_version": "1"}),
    )
    .await;
    assert_eq!(s, 403);
    let list = server.cli(&["token", "list"]);
    assert!(list.contains("used-up"), "{list}");
    let first_id = list
        .lines()
        .find(|l| l.contains("valid"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    server.cli(&["token", "revoke", &first_id]);
    let (s, _) = post(serde_json::json!({"token": server.enroll_token, "public_key": other, "hostname": "h", "agent_version": "1"})).await;
    assert_eq!(s, 403);
    server.finish().await;
}

async fn graceful_shutdown_exits_cleanly(backend: Backend) {
    let Some(mut server) = start(backend).await else {
        return;
    };
    let (mut agent, run, _root) = enrolled(&server, "web-1").await;
    let (env, _) = agent.sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );
    let status = server.stop().unwrap();
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(server.log().contains("stopped"));
    server.finish().await;
}

/// The agent's uploads take HTTP/1.1 (issue 10): a worker sends its few
/// requests one after the other on one new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_uploads_over_http_1_1() {
    // One upload per new connection: HTTP/2's preface, SETTINGS and
    // flow-control frames would cost the collector CPU on every run, so
    // the agent's client offers `http/1.1` alone, though the server offers h2.
    let server = Server::start(Backend::Sqlite, &[]).await.unwrap();
    let shipper =
        evident_agent::shipper::Shipper::new(&evident_e2e::agent_config(&server)).unwrap();
    let resp = shipper
        .http()
        .get(format!("{}/livez", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    // The browser-facing server still offers h2 to clients that ask.
    let h2 = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(
                &std::fs::read(server.dir.path().join("ca.pem")).unwrap(),
            )
            .unwrap(),
        )
        .tls_built_in_root_certs(false)
        .build()
        .unwrap()
        .get(format!("{}/livez", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    server.finish().await;
}

/// A new agent connection costs the collector less (issue 10): the server
/// picks a SHA-256 suite though rustls clients list SHA-384 first, and
/// issues no session tickets — agents upload from a new process and never
/// resume — so a client that would resume makes a full handshake every
/// time, having read a whole response (where tickets would have arrived).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_connections_get_a_sha256_suite_and_no_tickets() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let server = Server::start(Backend::Sqlite, &[]).await.unwrap();
    let addr: std::net::SocketAddr = server.url.trim_start_matches("https://").parse().unwrap();
    let pem = std::fs::read(server.dir.path().join("ca.pem")).unwrap();
    // One client configuration for both connections: its session cache
    // would hold the first connection's tickets.
    let config = std::sync::Arc::new(evident_collector::tls::client_config(&pem).unwrap());
    assert_eq!(
        config.crypto_provider().cipher_suites[0].suite(),
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
    );
    let connector = tokio_rustls::TlsConnector::from(config);
    for round in 0..2 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let (_, conn) = tls.get_ref();
        assert_eq!(
            conn.negotiated_cipher_suite().unwrap().suite(),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            "connection {round}"
        );
        assert_eq!(
            conn.handshake_kind(),
            Some(rustls::HandshakeKind::Full),
            "connection {round}"
        );
        tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response).await;
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "connection {round}: {text}"
        );
    }
    server.finish().await;
}
