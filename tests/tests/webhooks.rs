//! Webhook deliveries end to end (issue #16): a real `evident-collector
//! serve`, a receiver on 127.0.0.1 that verifies the Standard Webhooks
//! signature with its own implementation of the scheme, RFC 3339 times,
//! remediation and the link back, and bounded retries (a final 4xx, attempts
//! running out, `Retry-After`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use evident_e2e::{collect, fixture_root, request, Agent, Backend, Run, Server};
use hmac::{Hmac, Mac as _};
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One request the receiver got, and when.
#[derive(Debug, Clone)]
struct Got {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    at: Instant,
}

/// What the receiver answers: status and optional `Retry-After`.
type Answer = Arc<Mutex<(u16, Option<String>)>>;

/// A minimal HTTP/1.1 receiver recording every request.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    answer: Answer,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let answer: Answer = Arc::new(Mutex::new((200, None)));
        let (g, a) = (got.clone(), answer.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (g, a) = (g.clone(), a.clone());
                tokio::spawn(async move {
                    let _ = serve_conn(sock, g, a).await;
                });
            }
        });
        Receiver { url, got, answer }
    }

    fn answer(&self, status: u16, retry_after: Option<&str>) {
        *self.answer.lock().unwrap() = (status, retry_after.map(str::to_string));
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize, within: Duration) -> Vec<Got> {
        let start = Instant::now();
        while self.got().len() < n && start.elapsed() < within {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.got()
    }
}

async fn serve_conn(
    mut sock: tokio::net::TcpStream,
    got: Arc<Mutex<Vec<Got>>>,
    answer: Answer,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
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
        let (code, retry_after) = answer.lock().unwrap().clone();
        got.lock().unwrap().push(Got {
            headers,
            body,
            at: Instant::now(),
        });
        let extra = retry_after
            .map(|r| format!("retry-after: {r}\r\n"))
            .unwrap_or_default();
        let resp = format!("HTTP/1.1 {code} X\r\n{extra}content-length: 0\r\n\r\n");
        sock.write_all(resp.as_bytes()).await?;
    }
}

/// The receiver's side of https://www.standardwebhooks.com/, written from
/// the specification (not the collector's code): the key is the base64
/// after `whsec_`; the signed content is `id.timestamp.body`; the header
/// holds space-separated `v1,<base64>` signatures; the timestamp must be
/// within five minutes of now.
fn verify_standard(g: &Got, whsec: &str) -> Value {
    let id = g.headers.get("webhook-id").expect("webhook-id");
    let ts = g
        .headers
        .get("webhook-timestamp")
        .expect("webhook-timestamp");
    let sigs = g
        .headers
        .get("webhook-signature")
        .expect("webhook-signature");
    let now = chrono::Utc::now().timestamp();
    let ts_n: i64 = ts.parse().expect("integer timestamp");
    assert!(
        (now - ts_n).abs() < 300,
        "timestamp {ts} too far from {now}"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(whsec.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&g.body);
    let want = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert!(
        sigs.split(' ')
            .filter_map(|s| s.strip_prefix("v1,"))
            .any(|s| s == want),
        "no v1 signature verifies: {sigs}"
    );
    serde_json::from_slice(&g.body).unwrap()
}

/// Evident's own header, still sent: HMAC-SHA256 of `timestamp.body`
/// keyed with the secret file's text.
fn verify_evident(g: &Got, secret: &str) {
    let ts = g.headers.get("x-evident-timestamp").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&g.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(g.headers.get("x-evident-signature"), Some(&want));
}

fn whsec_file(dir: &Path) -> (String, String) {
    let raw: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    let path = dir.join("hook.secret");
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    (secret, path.display().to_string())
}

fn rand_byte() -> u8 {
    u8::from_str_radix(&evident_e2e::random_hex(1)[..2], 16).unwrap()
}

fn set_sshd(root: &Path, permit_root: &str) -> Run {
    std::fs::write(
        root.join("etc/ssh/sshd_config"),
        format!("PermitRootLogin {permit_root}\nPasswordAuthentication no\nX11Forwarding no\n"),
    )
    .unwrap();
    collect(root)
}

async fn post(server: &Server, agent: &mut Agent, run: &Run) {
    let (env, _) = agent.sign_next(run);
    let body = serde_json::to_vec(&request(&env, run, true)).unwrap();
    let code = server
        .client
        .post(format!("{}/v1/evidence", server.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    assert!((200..300).contains(&code), "ingest answered {code}");
}

async fn metrics(server: &Server) -> String {
    let (s, text) = server
        .get_as("/metrics", Some(server.admin_token.as_str()))
        .await;
    assert_eq!(s, 200, "{text}");
    text
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{series} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{series} missing from /metrics:\n{text}"))
}

const PUBLIC_URL: &str = "https://collector.example:8443";

async fn start(rx: &Receiver, sink_extra: &str) -> (Server, String, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let (secret, secret_path) = whsec_file(tmp.path());
    let extra = format!(
        "[drift]\noutbox_poll_ms = 20\nflap_threshold = 1000\n\n\
         [[sink]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\nsecret_file = \"{secret_path}\"\n\
         rules = [\"ssh.root-login\"]\n{sink_extra}",
        rx.url
    );
    // `public_url` is a top-level key: an edit, before the appended tables.
    let public = format!("\"{PUBLIC_URL}\"");
    let server = Server::start_with(Backend::Sqlite, &[("public_url", &public)], &extra, &[])
        .await
        .unwrap();
    (server, secret, tmp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_carries_rfc3339_times_remediation_a_link_and_both_signatures() {
    let rx = Receiver::start().await;
    let (server, secret, _tmp) = start(&rx, "").await;
    let root = fixture_root("web-1");
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    post(&server, &mut agent, &set_sshd(root.path(), "no")).await;
    post(&server, &mut agent, &set_sshd(root.path(), "yes")).await;
    let got = rx.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let body = verify_standard(&got[0], &secret);
    verify_evident(&got[0], &secret);
    assert_eq!(body["type"], "alert.opened");
    assert_eq!(body["subject"], "rule:ssh.root-login");
    // The delivery id is the header's.
    assert_eq!(
        body["delivery_id"].as_str(),
        got[0].headers.get("webhook-id").map(String::as_str)
    );
    // RFC 3339, not Unix milliseconds.
    let at = body["at"].as_str().expect("at is a string");
    chrono::DateTime::parse_from_rfc3339(at).unwrap();
    let id = body["alert_id"].as_i64().unwrap();
    assert_eq!(body["url"], format!("{PUBLIC_URL}/alerts/{id}"));
    assert_eq!(body["api_url"], format!("{PUBLIC_URL}/v1/alerts/{id}"));
    let fix = body["remediation"].as_array().unwrap();
    assert_eq!(fix.len(), 1, "{body}");
    assert_eq!(fix[0]["rule"], "ssh.root-login");
    assert!(
        fix[0]["text"].as_str().unwrap().contains("PermitRootLogin"),
        "{body}"
    );
    // A tampered body does not verify (the check can fail).
    let mut bad = got[0].clone();
    bad.body.push(b' ');
    assert!(std::panic::catch_unwind(|| verify_standard(&bad, &secret)).is_err());
    let m = metrics(&server).await;
    assert_eq!(
        sample(
            &m,
            "evident_alert_deliveries_total{sink=\"hook\",outcome=\"delivered\"}"
        ),
        1.0
    );
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_on_a_final_4xx_and_when_attempts_run_out_and_honour_retry_after() {
    let rx = Receiver::start().await;
    let (server, secret, _tmp) = start(
        &rx,
        "retry_initial_ms = 50\nretry_max_ms = 100\nmax_attempts = 3\n",
    )
    .await;
    let root = fixture_root("web-1");
    let mut agent = Agent::new("web-1");
    agent.enroll(&server).await;
    let good = set_sshd(root.path(), "no");
    let bad = set_sshd(root.path(), "yes");
    post(&server, &mut agent, &good).await;

    // 400: final after one attempt.
    rx.answer(400, None);
    post(&server, &mut agent, &bad).await;
    rx.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(rx.got().len(), 1, "a 400 is not retried");

    // 503: retried, three attempts in all, then given up.
    rx.answer(503, None);
    post(&server, &mut agent, &good).await;
    rx.wait_for(4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let got = rx.got();
    assert_eq!(got.len(), 4, "max_attempts = 3 stops the retries");
    // One delivery id across the retries of one notification.
    let ids: Vec<&str> = got[1..]
        .iter()
        .map(|g| g.headers["webhook-id"].as_str())
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_ne!(got[0].headers["webhook-id"], ids[0]);
    let m = metrics(&server).await;
    assert_eq!(
        sample(
            &m,
            "evident_alert_deliveries_total{sink=\"hook\",outcome=\"failed\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(
            &m,
            "evident_alert_deliveries_total{sink=\"hook\",outcome=\"retried\"}"
        ),
        2.0
    );
    assert_eq!(sample(&m, "evident_alert_outbox_failed"), 2.0);
    assert_eq!(sample(&m, "evident_alert_outbox_depth"), 0.0);

    // 429 with Retry-After: 1 → the next attempt waits a second (the
    // backoff alone would be 50 ms), then 200 delivers it.
    rx.answer(429, Some("1"));
    post(&server, &mut agent, &bad).await;
    rx.wait_for(5, Duration::from_secs(10)).await;
    rx.answer(200, None);
    let got = rx.wait_for(6, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 6);
    let waited = got[5].at.duration_since(got[4].at);
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}");
    let body = verify_standard(&got[5], &secret);
    assert_eq!(body["event"], "opened");
    let m = metrics(&server).await;
    assert_eq!(
        sample(
            &m,
            "evident_alert_deliveries_total{sink=\"hook\",outcome=\"delivered\"}"
        ),
        1.0
    );
    server.finish().await;
}
