//! Drift and alerting end to end (issue #6): real `evident-collector serve`
//! processes on 127.0.0.1, a test webhook receiver, and a fake clock file
//! (`EVIDENT_FAKE_CLOCK_FILE`) so the time-based tests are fast and exact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_e2e::{collect, fixture_root, request, Agent, Backend, Run, Server};
use hmac::{Hmac, Mac as _};
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

/// A minimal HTTP/1.1 webhook receiver: records every request and answers
/// with the configured status after an optional delay.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(AtomicU16::new(200));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (g, st, d) = (got.clone(), status.clone(), delay_ms.clone());
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (g, st, d) = (g.clone(), st.clone(), d.clone());
                tokio::spawn(async move {
                    let _ = serve_conn(sock, g, st, d).await;
                });
            }
        });
        Receiver {
            url,
            got,
            status,
            delay_ms,
        }
    }

    /// Requests answered with 2xx.
    fn delivered(&self) -> Vec<Got> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|g| g.status < 300)
            .cloned()
            .collect()
    }

    fn all(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Got> {
        let start = Instant::now();
        while self.delivered().len() < n && start.elapsed() < within {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.delivered()
    }
}

async fn serve_conn(
    mut sock: tokio::net::TcpStream,
    got: Arc<Mutex<Vec<Got>>>,
    status: Arc<AtomicU16>,
    delay: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // Read one request: headers, then Content-Length bytes.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 8192];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut headers = BTreeMap::new();
        for line in head.lines().skip(1) {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + 4 + len {
            let mut chunk = [0u8; 8192];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end + 4..head_end + 4 + len].to_vec();
        buf.drain(..head_end + 4 + len);
        let d = delay.load(Ordering::SeqCst);
        if d > 0 {
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
        let code = status.load(Ordering::SeqCst);
        got.lock().unwrap().push(Got {
            headers,
            body,
            status: code,
        });
        let resp = format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\n\r\n");
        sock.write_all(resp.as_bytes()).await?;
    }
}

fn secret_file(dir: &Path) -> (String, String) {
    let secret = evident_e2e::random_hex(24);
    let path = dir.join("hook.secret");
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    (secret, path.display().to_string())
}

fn verify_hmac(g: &Got, secret: &str) -> Value {
    let ts = g
        .headers
        .get("x-evident-timestamp")
        .expect("timestamp header");
    let sig = g
        .headers
        .get("x-evident-signature")
        .expect("signature header");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&g.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(sig, &want, "HMAC does not verify");
    serde_json::from_slice(&g.body).unwrap()
}

fn set_sshd(root: &Path, permit_root: &str) -> Run {
    std::fs::write(
        root.join("etc/ssh/sshd_config"),
        format!("PermitRootLogin {permit_root}\nPasswordAuthentication no\nX11Forwarding no\n"),
    )
    .unwrap();
    collect(root)
}

/// Post the agent's next statement; 200 for any 2xx (201 stored, 200 duplicate).
async fn post(server_url: &str, client: &reqwest::Client, agent: &mut Agent, run: &Run) -> u16 {
    let (env, _) = agent.sign_next(run);
    let body = serde_json::to_vec(&request(&env, run, true)).unwrap();
    let code = client
        .post(format!("{server_url}/v1/evidence"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    if (200..300).contains(&code) {
        200
    } else {
        code
    }
}

async fn admin(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = server
        .client
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(&server.admin_token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

const ROOT_RULE: &str = "rule:ssh.root-login";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sshd_drift_gives_one_alert_and_one_resolution_with_valid_hmac() {
    let rx = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let (secret, secret_path) = secret_file(tmp.path());
    let extra = format!(
        "[drift]\noutbox_poll_ms = 20\n\n[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\
         secret_file = \"{secret_path}\"\nkinds = [\"drift\"]\nrules = [\"ssh.root-login\"]\n\n\
         [[sink]]\nname = \"log\"\ntype = \"log\"\n",
        rx.url
    );
    let server = Server::start_with(Backend::Sqlite, &[], &extra, &[])
        .await
        .unwrap();
    let root = fixture_root("web-1");
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    let good = set_sshd(root.path(), "no");
    let bad = set_sshd(root.path(), "yes");

    assert_eq!(
        post(&server.url, &server.client, &mut agent, &good).await,
        200
    );
    // Same compliant evidence again: no change, nothing delivered.
    assert_eq!(
        post(&server.url, &server.client, &mut agent, &good).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.all(), 0, "baseline must not be delivered as drift");

    assert_eq!(
        post(&server.url, &server.client, &mut agent, &bad).await,
        200
    );
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let opened = verify_hmac(&got[0], &secret);
    assert_eq!(opened["event"], "opened");
    assert_eq!(opened["kind"], "drift");
    assert_eq!(opened["subject"], ROOT_RULE);
    assert_eq!(opened["hostname"], "web-1");
    assert_eq!(opened["severity"], "high");
    // Still failing: no second alert.
    assert_eq!(
        post(&server.url, &server.client, &mut agent, &bad).await,
        200
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.all(), 1);

    assert_eq!(
        post(&server.url, &server.client, &mut agent, &good).await,
        200
    );
    let got = rx.wait_for(2, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.all(), 2, "exactly one alert and one resolution");
    let resolved = verify_hmac(&got[1], &secret);
    assert_eq!(resolved["event"], "resolved");
    assert_eq!(resolved["alert_id"], opened["alert_id"]);

    // The API: the alert, the host's and the control's timelines.
    let id = opened["alert_id"].as_i64().unwrap();
    let (st, a) = admin(
        &server,
        reqwest::Method::GET,
        &format!("/v1/alerts/{id}"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(a["state"], "resolved");
    assert_eq!(a["baseline"], false);
    let (st, t) = admin(
        &server,
        reqwest::Method::GET,
        &format!("/v1/hosts/{}/transitions?subject={ROOT_RULE}", agent.id),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let t = t.as_array().unwrap();
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(
        (t[0]["from"].as_str(), t[0]["to"].as_str()),
        (Some("fail"), Some("pass"))
    );
    let (st, t) = admin(
        &server,
        reqwest::Method::GET,
        "/v1/controls/A.8.2/transitions",
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert!(!t.as_array().unwrap().is_empty(), "A.8.2 timeline: {t}");

    // Acknowledge: through the API, then the CLI lists it.
    let (st, open) = admin(&server, reqwest::Method::GET, "/v1/alerts?open=true", None).await;
    assert_eq!(st, 200);
    let open = open["alerts"].as_array().unwrap().clone();
    if let Some(first) = open.first() {
        let id = first["id"].as_i64().unwrap();
        let (st, _) = admin(
            &server,
            reqwest::Method::POST,
            &format!("/v1/alerts/{id}/ack"),
            Some(serde_json::json!({"by": "alice", "reason": ""})),
        )
        .await;
        assert_eq!(st, 400, "a reason is required");
        let (st, acked) = admin(
            &server,
            reqwest::Method::POST,
            &format!("/v1/alerts/{id}/ack"),
            Some(serde_json::json!({"by": "alice", "reason": "accepted risk, ticket 7"})),
        )
        .await;
        assert_eq!(st, 200, "{acked}");
        assert_eq!(acked["state"], "acknowledged");
        assert_eq!(acked["ack_by"], "alice");
        let (st, _) = admin(
            &server,
            reqwest::Method::POST,
            &format!("/v1/alerts/{id}/ack"),
            Some(serde_json::json!({"by": "alice", "reason": "again"})),
        )
        .await;
        assert_eq!(st, 409);
        let out = server.cli(&["alerts", "--open", "--format", "json"]);
        let listed: Value = serde_json::from_str(&out).unwrap();
        assert!(listed.as_array().unwrap().iter().any(|a| a["id"] == id
            && a["state"] == "acknowledged"
            && a["ack_reason"] == "accepted risk, ticket 7"));
    }
    let table = server.cli(&["alerts", "--host", "web-1"]);
    assert!(table.contains(ROOT_RULE), "{table}");
    let timeline = server.cli(&["alerts", "timeline", "--control", "A.8.2"]);
    assert!(timeline.contains("control:A.8.2"), "{timeline}");
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_agent_gets_one_stale_alert_then_resolution() {
    let rx = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let (secret, secret_path) = secret_file(tmp.path());
    let clock = tmp.path().join("clock");
    // Near the real time: agents sign with it, and the collector refuses
    // evidence older than its maximum age or ahead of its clock.
    let t0: i64 = chrono::Utc::now().timestamp_millis();
    std::fs::write(&clock, t0.to_string()).unwrap();
    let extra = format!(
        "[drift]\nstale_factor = 2.0\nstale_check_ms = 20\noutbox_poll_ms = 20\n\n[[sink]]\nname = \"hook\"\n\
         type = \"webhook\"\nurl = \"{}\"\nsecret_file = \"{secret_path}\"\nkinds = [\"stale\"]\n",
        rx.url
    );
    let clock_s = clock.display().to_string();
    let server = Server::start_with(
        Backend::Sqlite,
        &[],
        &extra,
        &[("EVIDENT_FAKE_CLOCK_FILE", clock_s.as_str())],
    )
    .await
    .unwrap();
    let root = fixture_root("db-1");
    let mut agent = Agent::new("db-1");
    agent.interval_seconds = 60;
    agent.enroll(&server).await;
    let run = collect(root.path());
    assert_eq!(
        post(&server.url, &server.client, &mut agent, &run).await,
        200
    );

    // Exactly at the edge (interval 60 s × factor 2): not stale yet.
    std::fs::write(&clock, (t0 + 120_000).to_string()).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.all(), 0);
    // One millisecond later: one stale alert, however long it stays silent.
    std::fs::write(&clock, (t0 + 120_001).to_string()).unwrap();
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    std::fs::write(&clock, (t0 + 900_000).to_string()).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(rx.all(), 1);
    let n = verify_hmac(&got[0], &secret);
    assert_eq!(
        (n["event"].as_str(), n["kind"].as_str()),
        (Some("opened"), Some("stale"))
    );
    // RFC 3339 with milliseconds since issue #16 (was Unix ms).
    let at = chrono::DateTime::parse_from_rfc3339(n["at"].as_str().unwrap()).unwrap();
    assert_eq!(at.timestamp_millis(), t0 + 120_001);
    assert_eq!(n["hostname"], "db-1");
    let out = server.cli(&["alerts", "--open", "--format", "json"]);
    let open: Value = serde_json::from_str(&out).unwrap();
    assert!(open
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "stale"));
    // While stale, nothing of the host is reported as passing.
    let (st, host) = admin(
        &server,
        reqwest::Method::GET,
        &format!("/v1/hosts/{}", agent.id),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(host["stale"], true);
    let rules = host["rules"].as_array().unwrap();
    assert!(rules.iter().all(|r| r["status"] != "pass"));
    assert!(rules.iter().any(|r| r["status"] == "stale"));
    assert!(host["controls"]
        .as_object()
        .unwrap()
        .values()
        .all(|v| v != "satisfied"));
    let (_, controls) = admin(&server, reqwest::Method::GET, "/v1/controls", None).await;
    assert!(
        !controls.to_string().contains("\"satisfied\""),
        "{controls}"
    );

    // Evidence arriving resolves it.
    assert_eq!(
        post(&server.url, &server.client, &mut agent, &run).await,
        200
    );
    let got = rx.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 2);
    let r = verify_hmac(&got[1], &secret);
    assert_eq!(
        (r["event"].as_str(), r["kind"].as_str()),
        (Some("resolved"), Some("stale"))
    );
    assert_eq!(r["alert_id"], n["alert_id"]);
    let (_, host) = admin(
        &server,
        reqwest::Method::GET,
        &format!("/v1/hosts/{}", agent.id),
        None,
    )
    .await;
    assert_eq!(host["stale"], false);
    assert!(host["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["status"] == "pass"));
    server.finish().await;
}

/// Expected deliveries: every non-baseline drift alert's opening, and its
/// resolution when resolved.
async fn expected_events(server: &Server) -> Vec<(i64, String)> {
    let (st, page) = admin(
        server,
        reqwest::Method::GET,
        "/v1/alerts?kind=drift&limit=1000",
        None,
    )
    .await;
    assert_eq!(st, 200);
    let mut out = Vec::new();
    for a in page["alerts"].as_array().unwrap() {
        if a["baseline"] == true {
            continue;
        }
        let id = a["id"].as_i64().unwrap();
        out.push((id, "opened".to_string()));
        if a["state"] == "resolved" {
            out.push((id, "resolved".to_string()));
        }
    }
    out.sort();
    out
}

fn delivered_events(rx: &Receiver) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = rx
        .delivered()
        .iter()
        .map(|g| {
            let n: Value = serde_json::from_slice(&g.body).unwrap();
            (
                n["alert_id"].as_i64().unwrap(),
                n["event"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_deliver_each_alert_once() {
    let rx = Receiver::start().await;
    // A slow receiver keeps both replicas' dispatchers busy at once.
    rx.delay_ms.store(30, Ordering::SeqCst);
    let tmp = tempfile::tempdir().unwrap();
    let (_secret, secret_path) = secret_file(tmp.path());
    let extra = format!(
        "[drift]\noutbox_poll_ms = 10\n\n[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\
         secret_file = \"{secret_path}\"\n",
        rx.url
    );
    let Some(server) = Server::start_with(Backend::Postgres, &[], &extra, &[]).await else {
        return;
    };
    let replica = server.replica("replica");
    let root_good = fixture_root("n");
    let good = set_sshd(root_good.path(), "no");
    let bad = set_sshd(root_good.path(), "yes");
    let mut agents = Vec::new();
    for i in 0..6 {
        let mut a = Agent::new(&format!("node-{i}"));
        a.enroll(&server).await;
        agents.push(a);
    }
    // Alternate replicas; each agent goes good → bad → good.
    for (step, run) in [&good, &bad, &good].into_iter().enumerate() {
        for (i, a) in agents.iter_mut().enumerate() {
            let url = if (i + step) % 2 == 0 {
                &server.url
            } else {
                &replica.url
            };
            assert_eq!(post(url, &server.client, a, run).await, 200);
        }
    }
    let expected = expected_events(&server).await;
    assert!(expected.len() >= 12, "{expected:?}");
    rx.wait_for(expected.len(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = delivered_events(&rx);
    assert_eq!(got, expected, "each alert event delivered exactly once");
    let log = std::fs::read_to_string(&replica.log).unwrap_or_default();
    drop(replica);
    assert!(!log.contains("panicked"), "{log}");
    server.finish().await;
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

/// Ingest latencies (ms) of `n` statements alternating compliant and
/// non-compliant sshd settings (every one opens or resolves alerts).
async fn ingest_latencies(server: &Server, n: usize) -> Vec<f64> {
    let root = fixture_root("lat");
    let good = set_sshd(root.path(), "no");
    let bad = set_sshd(root.path(), "yes");
    let mut agent = Agent::new("lat");
    agent.enroll(server).await;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let run = if i % 2 == 0 { &good } else { &bad };
        let t = Instant::now();
        assert_eq!(
            post(&server.url, &server.client, &mut agent, run).await,
            200
        );
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_sink_does_not_slow_ingest_and_delivers_after_recovery() {
    const N: usize = 80;
    // Reference: no sink.
    let plain = Server::start_with(
        Backend::Sqlite,
        &[],
        "[drift]\nflap_threshold = 1000\n",
        &[],
    )
    .await
    .unwrap();
    let mut base = ingest_latencies(&plain, N).await;
    plain.finish().await;

    // A sink answering 500 (slowly) while the same load runs.
    let rx = Receiver::start().await;
    rx.status.store(500, Ordering::SeqCst);
    rx.delay_ms.store(200, Ordering::SeqCst);
    let tmp = tempfile::tempdir().unwrap();
    let (_secret, secret_path) = secret_file(tmp.path());
    let extra = format!(
        "[drift]\noutbox_poll_ms = 20\nflap_threshold = 1000\n\n[[sink]]\nname = \"hook\"\ntype = \"webhook\"\n\
         url = \"{}\"\nsecret_file = \"{secret_path}\"\nretry_initial_ms = 100\nretry_max_ms = 400\n",
        rx.url
    );
    let server = Server::start_with(Backend::Sqlite, &[], &extra, &[])
        .await
        .unwrap();
    let mut failing = ingest_latencies(&server, N).await;
    let (b50, b95) = (percentile(&mut base, 0.5), percentile(&mut base, 0.95));
    let (f50, f95) = (
        percentile(&mut failing, 0.5),
        percentile(&mut failing, 0.95),
    );
    println!(
        "ingest latency over {N} statements (ms): no sink p50 {b50:.2} p95 {b95:.2}; \
         sink failing with 500 after 200 ms p50 {f50:.2} p95 {f95:.2}"
    );
    assert!(rx.all() > 0, "the failing sink was tried");
    assert!(rx.delivered().is_empty());
    // A sink blocking ingest would add its 200 ms to every request.
    assert!(
        f50 < b50 * 3.0 + 20.0,
        "failing sink slowed ingest: p50 {f50:.2} ms vs {b50:.2} ms"
    );

    // Recovery: everything queued is delivered, once.
    rx.status.store(200, Ordering::SeqCst);
    rx.delay_ms.store(0, Ordering::SeqCst);
    let expected = expected_events(&server).await;
    assert!(expected.len() >= N - 2, "{}", expected.len());
    rx.wait_for(expected.len(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(delivered_events(&rx), expected);
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_open_no_alert_and_revoked_keys_raise_integrity_alerts() {
    let rx = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let (secret, secret_path) = secret_file(tmp.path());
    let extra = format!(
        "[drift]\noutbox_poll_ms = 20\n\n[[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\n\
         secret_file = \"{secret_path}\"\nkinds = [\"integrity\"]\n",
        rx.url
    );
    let server = Server::start_with(Backend::Sqlite, &[], &extra, &[])
        .await
        .unwrap();
    let root = fixture_root("edge-1");
    let run = collect(root.path());
    let mut agent = Agent::new("edge-1");
    agent.enroll(&server).await;
    assert_eq!(
        post(&server.url, &server.client, &mut agent, &run).await,
        200
    );
    // Six envelopes whose payload was altered after signing.
    for _ in 0..6 {
        let (env, _) = agent.sign_next(&run);
        let mut v: Value = serde_json::from_slice(&env).unwrap();
        let payload = v["payload"].as_str().unwrap().replacen("eyJ", "fyJ", 1);
        v["payload"] = Value::String(payload);
        let bad = serde_json::to_vec(&v).unwrap();
        let r = server.post(&request(&bad, &run, false)).await;
        assert_eq!(r.status().as_u16(), 401);
    }
    // Unsigned input cannot alarm (issue #14): whoever knows a key id can
    // send bad signatures. They are counted, not alerted.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.all(), 0, "{}", server.log());
    // A revoked key still sending.
    server.cli(&["agents", "revoke", &agent.id]);
    let (env, _) = agent.sign_next(&run);
    let r = server.post(&request(&env, &run, false)).await;
    assert_eq!(r.status().as_u16(), 403);
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    let n = verify_hmac(&got[0], &secret);
    assert_eq!(
        (n["kind"].as_str(), n["subject"].as_str()),
        (Some("integrity"), Some("integrity:revoked-key"))
    );
    // Sending again does not open a second alert while the first is open.
    let (env, _) = agent.sign_next(&run);
    server.post(&request(&env, &run, false)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.all(), 1);
    server.finish().await;
}
