//! End-to-end tests of the agent daemon (issue #5): the real `evident-agent
//! run` against the real `evident-collector serve` on 127.0.0.1, probing a
//! fixture root with a per-second cron schedule.
//!
//! - collector down while the agent collects, then back: every statement
//!   arrives once, sequences contiguous;
//! - SIGKILL during collection and delivery, repeatedly: no spool file is
//!   ever corrupt and nothing spooled is lost;
//! - spool cap reached during an outage: the cap holds, the collector shows
//!   exactly the dropped range and a statement declares it;
//! - a proxy that answers 503 or drops the connection after the collector
//!   committed: the agent retries, the collector deduplicates;
//! - a revoked key (403) stops delivery with a clear error and keeps the spool.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use evident_core::evidence::Statement;
use evident_core::Envelope;
use evident_e2e::{bin, client, collector, fixture_root};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A collector data directory with a fixed port, so it can be stopped and restarted.
struct Collector {
    dir: tempfile::TempDir,
    port: u16,
    plain_http: bool,
    child: Option<Child>,
    http: reqwest::Client,
    admin_token: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

impl Collector {
    fn init(plain_http: bool) -> Collector {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let d = dir.path().to_string_lossy().into_owned();
        collector(&["init", "--dir", &d]);
        let http = if plain_http {
            reqwest::Client::new()
        } else {
            client(&dir.path().join("ca.pem"))
        };
        let admin_token = std::fs::read_to_string(dir.path().join("admin.token"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let mut c = Collector {
            dir,
            port: free_port(),
            plain_http,
            child: None,
            http,
            admin_token,
        };
        c.start();
        c
    }

    fn url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .unwrap_or_else(|e| panic!("log: {e}"));
        let mut cmd = Command::new(bin("evident-collector"));
        cmd.args(["serve", "--dir"])
            .arg(self.dir.path())
            .args(["--listen", &format!("127.0.0.1:{}", self.port)]);
        if self.plain_http {
            cmd.arg("--plain-http");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("serve: {e}"));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        assert!(
            line.starts_with("listening on"),
            "serve did not start: {line:?}\n{}",
            std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
        );
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.url()))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    async fn post(&self, path: &str) -> u16 {
        self.http
            .post(format!("{}{path}", self.url()))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// Every stored statement of `agent`: sequence → envelope digest.
    async fn statements(&self, agent: &str) -> Vec<(u64, String)> {
        let mut out = Vec::new();
        let mut before: Option<i64> = None;
        loop {
            let q = match before {
                Some(b) => format!("/v1/hosts/{agent}/rules/none?limit=100&before={b}"),
                None => format!("/v1/hosts/{agent}/rules/none?limit=100"),
            };
            let page = self.get(&q).await;
            for item in page["items"].as_array().cloned().unwrap_or_default() {
                out.push((
                    item["sequence"].as_u64().unwrap_or(0),
                    item["envelope_digest"].as_str().unwrap_or("").to_string(),
                ));
            }
            match page["next"].as_i64() {
                Some(n) => before = Some(n),
                None => break,
            }
        }
        out.sort();
        out
    }

    /// The statement stored under `digest`.
    async fn statement(&self, digest: &str) -> Statement {
        let doc = self.get(&format!("/v1/evidence/{digest}")).await;
        let env = B64
            .decode(doc["envelope"].as_str().unwrap_or(""))
            .unwrap_or_default();
        let env = Envelope::from_json(&env).unwrap_or_else(|e| panic!("envelope: {e}"));
        // An unchanged (v2) run comes with its content blob.
        let blobs: std::collections::BTreeMap<String, Vec<u8>> = doc["blobs"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            B64.decode(v.as_str().unwrap_or("")).unwrap_or_default(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Statement::from_bytes_with(&env.payload, |d| {
            blobs.get(&d.to_string()).map(Vec::as_slice)
        })
        .unwrap_or_else(|e| panic!("statement: {e}"))
    }

    async fn events(&self, agent: &str) -> Vec<Value> {
        let page = self
            .get(&format!("/v1/integrity-events?agent={agent}&limit=500"))
            .await;
        page["items"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// An agent: its config, state directory, fixture root and process.
struct AgentProc {
    dir: tempfile::TempDir,
    _root: tempfile::TempDir,
    config: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl AgentProc {
    fn new(collector_url: &str, collector_dir: &Path, extra: &str) -> AgentProc {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let root = fixture_root("agent-e2e");
        let allow_http = if collector_url.starts_with("http://") {
            "allow_http = true\n"
        } else {
            ""
        };
        let text = format!(
            "collector = \"{collector_url}\"\n{allow_http}ca_file = \"{}\"\nstate_dir = \"state\"\n\
             enroll_token_file = \"{}\"\nroot = \"{}\"\n{extra}",
            collector_dir.join("ca.pem").display(),
            collector_dir.join("enroll.token").display(),
            root.path().display()
        );
        let text = if text.contains("[schedule]") {
            text
        } else {
            format!("{text}\n[schedule]\ndefault = \"* * * * * *\"\njitter_seconds = 0\n")
        };
        let text = if text.contains("[delivery]") {
            text
        } else {
            format!("{text}\n[delivery]\nbackoff_initial_ms = 100\nbackoff_max_seconds = 1\ntimeout_seconds = 5\n")
        };
        let config = dir.path().join("agent.toml");
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("config: {e}"));
        AgentProc {
            dir,
            _root: root,
            config,
            child: None,
            starts: 0,
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("agent.log"))
            .unwrap_or_else(|e| panic!("log: {e}"));
        let child = Command::new(bin("evident-agent"))
            .args(["run", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("agent: {e}"));
        self.child = Some(child);
        self.starts += 1;
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stop(&mut self) {
        // A stop sent in the first milliseconds after exec, before the agent
        // has installed its SIGTERM handler, would hit the default action.
        // Wait until this start has logged "agent running" (logged after the
        // handler is installed), as a service manager's stop would.
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.log().matches("agent running").count() < self.starts && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(st)) = c.try_wait() {
                    assert!(st.success(), "agent exited with {st}:\n{}", self.log());
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            panic!("agent did not stop on SIGTERM:\n{}", self.log());
        }
    }

    fn status(&self) -> Value {
        let out = Command::new(bin("evident-agent"))
            .args(["status", "--format", "json", "--config"])
            .arg(&self.config)
            .output()
            .unwrap_or_else(|e| panic!("status: {e}"));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    async fn wait_for(&self, what: &str, secs: u64, cond: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status();
            if cond(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; status {s:#}\nlog:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// After a stop: start, wait for an empty spool and stop again, until a
    /// stop leaves the spool empty (a stop lets the current run finish,
    /// which may spool one more statement: it is not lost, only not yet
    /// sent). Returns the final status.
    async fn drain(&mut self) -> Value {
        for _ in 0..5 {
            if n(&self.status(), "spool_depth") == 0 {
                break;
            }
            self.start();
            self.wait_for("final drain", 30, |s| n(s, "spool_depth") == 0)
                .await;
            self.stop();
        }
        let s = self.status();
        assert_eq!(n(&s, "spool_depth"), 0, "the spool did not drain: {s:#}");
        s
    }

    /// Every spool file decodes; returns their sequences.
    fn check_spool(&self) -> BTreeSet<u64> {
        let mut seqs = BTreeSet::new();
        let dir = self.state_dir().join("spool");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(seq) = name.strip_suffix(".spool") else {
                continue;
            };
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            let item = evident_agent::spool::decode(&bytes)
                .unwrap_or_else(|err| panic!("spool file {name} is corrupt: {err}"));
            assert_eq!(seq.parse::<u64>().ok(), Some(item.sequence));
            seqs.insert(item.sequence);
        }
        let corrupt = dir.join("corrupt");
        assert!(
            std::fs::read_dir(&corrupt).map(|r| r.count()).unwrap_or(0) == 0,
            "corrupt spool files found"
        );
        seqs
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

fn agent_id(s: &Value) -> String {
    s["agent_id"].as_str().unwrap_or("").to_string()
}

fn assert_contiguous(stored: &[(u64, String)], upto: u64) {
    let seqs: Vec<u64> = stored.iter().map(|s| s.0).collect();
    let expected: Vec<u64> = (1..=upto).collect();
    assert_eq!(
        seqs, expected,
        "stored sequences are not exactly 1..={upto}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_then_recovery_delivers_every_statement_once() {
    let mut col = Collector::init(false);
    let mut agent = AgentProc::new(&col.url(), col.dir.path(), "");
    agent.start();
    agent
        .wait_for("two deliveries", 30, |s| n(s, "delivered_total") >= 2)
        .await;
    col.stop();
    let before = n(&agent.status(), "last_run_sequence");
    // The agent keeps collecting every second while the collector is down.
    let s = agent
        .wait_for("five runs during the outage", 30, |s| {
            n(s, "last_run_sequence") >= before + 5 && n(s, "spool_depth") >= 4
        })
        .await;
    assert!(s["last_error"].as_str().unwrap_or("").contains("delivery"));
    col.start();
    agent
        .wait_for("the spool to drain", 60, |s| {
            n(s, "spool_depth") == 0 && n(s, "last_delivered_sequence") >= before + 5
        })
        .await;
    agent.stop();
    // Deliver what the last second may have spooled.
    let s = agent.drain().await;
    let id = agent_id(&s);
    let last = n(&s, "last_run_sequence");
    let stored = col.statements(&id).await;
    assert_contiguous(&stored, last);
    let digests: BTreeSet<&String> = stored.iter().map(|s| &s.1).collect();
    assert_eq!(digests.len(), stored.len(), "a statement was stored twice");
    // The chain is whole: no gap, chain or conflict events.
    let events = col.events(&id).await;
    assert!(events.is_empty(), "integrity events: {events:#?}");
    assert_eq!(s["dropped"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_collection_and_delivery_loses_nothing_spooled() {
    let mut col = Collector::init(false);
    let mut agent = AgentProc::new(&col.url(), col.dir.path(), "");
    let mut ever_spooled = BTreeSet::new();
    let mut rng = 7u64;
    for round in 0..12 {
        // Collector down in some rounds so statements pile up in the spool.
        if round % 4 == 1 {
            col.stop();
        }
        if round % 4 == 3 {
            col.start();
        }
        agent.start();
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ms = 400 + (rng >> 33) % 1600;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        agent.kill9();
        ever_spooled.extend(agent.check_spool());
    }
    if col.child.is_none() {
        col.start();
    }
    agent.start();
    agent
        .wait_for("the spool to drain after the kills", 60, |s| {
            n(s, "spool_depth") == 0 && n(s, "delivered_total") > 0
        })
        .await;
    agent.stop();
    ever_spooled.extend(agent.check_spool());
    let s = agent.drain().await;
    assert_eq!(n(&s, "corrupt_files"), 0, "{s:#}");
    let id = agent_id(&s);
    let stored = col.statements(&id).await;
    let stored_seqs: BTreeSet<u64> = stored.iter().map(|s| s.0).collect();
    let lost: Vec<&u64> = ever_spooled.difference(&stored_seqs).collect();
    assert!(lost.is_empty(), "spooled but never stored: {lost:?}");
    // A sequence reserved but never spooled (killed between) is declared as a gap.
    let last = n(&s, "last_run_sequence");
    let missing: BTreeSet<u64> = (1..=last).filter(|q| !stored_seqs.contains(q)).collect();
    let mut declared = BTreeSet::new();
    for (_, digest) in &stored {
        if let Some(g) = col.statement(digest).await.predicate.gap {
            declared.extend(g.from..=g.to);
        }
    }
    let undeclared: Vec<&u64> = missing.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "missing and undeclared: {undeclared:?}\nstored: {stored_seqs:?}\ndeclared: {declared:?}\nstatus: {s:#}\nevents: {:#?}\nlog:\n{}",
        col.events(&id).await,
        agent.log()
    );
    assert!(stored.len() >= 5, "too few statements: {}", stored.len());
    assert!(agent.starts >= 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_cap_holds_and_the_collector_shows_the_lost_range() {
    let mut col = Collector::init(false);
    let cap = 65_536u64;
    let mut agent = AgentProc::new(
        &col.url(),
        col.dir.path(),
        &format!("[spool]\nmax_bytes = {cap}\n"),
    );
    agent.start();
    agent
        .wait_for("two deliveries", 30, |s| n(s, "delivered_total") >= 2)
        .await;
    col.stop();
    let start = n(&agent.status(), "last_run_sequence");
    let mut max_bytes_seen = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = agent.status();
        max_bytes_seen = max_bytes_seen.max(n(&s, "spool_bytes"));
        if !s["dropped"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .is_empty()
            && n(&s, "last_run_sequence") >= start + 12
        {
            break;
        }
        assert!(Instant::now() < deadline, "nothing dropped: {s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A spool file appears before the oldest is dropped: the cap may be
    // exceeded by at most one statement for an instant, never lastingly.
    let s = agent.status();
    assert!(n(&s, "spool_bytes") <= cap, "spool over its cap: {s:#}");
    let one = n(&s, "spool_bytes") / n(&s, "spool_depth").max(1);
    assert!(
        max_bytes_seen <= cap + 2 * one,
        "spool grew to {max_bytes_seen}"
    );
    col.start();
    let after = n(&agent.status(), "last_run_sequence");
    agent
        .wait_for("drain and a statement declaring the gap", 60, |s| {
            n(s, "spool_depth") <= 1
                && s["pending_gap"].is_null()
                && n(s, "last_delivered_sequence") > after
        })
        .await;
    agent.stop();
    let s = agent.status();
    let dropped = s["dropped"].as_array().cloned().unwrap_or_default();
    assert_eq!(dropped.len(), 1, "{s:#}");
    let (from, to) = (
        dropped[0][0].as_u64().unwrap_or(0),
        dropped[0][1].as_u64().unwrap_or(0),
    );
    assert!(from > 2 && to >= from, "{s:#}");
    let id = agent_id(&s);
    let stored = col.statements(&id).await;
    let seqs: BTreeSet<u64> = stored.iter().map(|s| s.0).collect();
    let last = *seqs.iter().next_back().unwrap_or(&0);
    let missing: Vec<u64> = (1..=last).filter(|q| !seqs.contains(q)).collect();
    assert_eq!(
        missing,
        (from..=to).collect::<Vec<_>>(),
        "missing at the collector"
    );
    // The collector recorded exactly that range as a gap ...
    let events = col.events(&id).await;
    let wanted = format!("sequences {from} to {to} missing");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "gap" && e["detail"].as_str().unwrap_or("").contains(&wanted)),
        "no gap event `{wanted}`: {events:#?}"
    );
    // ... and a statement signed after the drops declares exactly it.
    let mut declared = Vec::new();
    for (_, d) in &stored {
        if let Some(g) = col.statement(d).await.predicate.gap {
            declared.push((g.from, g.to));
        }
    }
    assert!(
        declared.contains(&(from, to)),
        "declared gaps: {declared:?}"
    );
}

/// A one-request-per-connection HTTP proxy that forwards to `upstream` and,
/// for evidence requests, answers 503 or drops the connection after the
/// upstream has answered (committed), in turns.
fn faulty_proxy(upstream: u16) -> (u16, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let faults_503 = Arc::new(AtomicUsize::new(0));
    let faults_drop = Arc::new(AtomicUsize::new(0));
    let (f5, fd) = (faults_503.clone(), faults_drop.clone());
    std::thread::spawn(move || {
        let mut count = 0usize;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let Some((head, body)) = read_request(&mut conn) else {
                continue;
            };
            let evidence = head.starts_with("POST /v1/evidence");
            let Some(response) = forward(upstream, &head, &body) else {
                continue;
            };
            if evidence {
                count += 1;
                match count % 3 {
                    1 => {
                        f5.fetch_add(1, Ordering::SeqCst);
                        let _ = conn.write_all(
                            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        );
                        continue;
                    }
                    2 => {
                        fd.fetch_add(1, Ordering::SeqCst);
                        drop(conn);
                        continue;
                    }
                    _ => {}
                }
            }
            let _ = conn.write_all(&response);
        }
    });
    (port, faults_503, faults_drop)
}

fn read_request(conn: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let k = conn.read(&mut chunk).ok()?;
        if k == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..k]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let k = conn.read(&mut chunk).ok()?;
        if k == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..k]);
    }
    Some((head, body))
}

fn forward(upstream: u16, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    let mut new_head: String = head
        .trim_end()
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    new_head.push_str("connection: close\r\n\r\n");
    up.write_all(new_head.as_bytes()).ok()?;
    up.write_all(body).ok()?;
    let mut resp = Vec::new();
    up.read_to_end(&mut resp).ok()?;
    Some(resp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_after_503_and_dropped_connections_are_deduplicated() {
    let col = Collector::init(true);
    let (proxy, f503, fdrop) = faulty_proxy(col.port);
    let mut agent = AgentProc::new(&format!("http://127.0.0.1:{proxy}"), col.dir.path(), "");
    agent.start();
    agent
        .wait_for("eight deliveries through the faulty proxy", 60, |s| {
            n(s, "delivered_total") >= 8
        })
        .await;
    agent.stop();
    let s = agent.drain().await;
    assert!(f503.load(Ordering::SeqCst) >= 2 && fdrop.load(Ordering::SeqCst) >= 2);
    let id = agent_id(&s);
    let stored = col.statements(&id).await;
    assert_contiguous(&stored, n(&s, "last_run_sequence"));
    // Every fault came after the collector committed: the retries were duplicates.
    let log = agent.log();
    assert!(
        log.contains("status=\"duplicate\""),
        "no duplicate acknowledged:\n{log}"
    );
    // The agent itself saw the injected failures (not only the proxy's counters).
    assert!(log.matches("503").count() >= 2, "{log}");
    assert!(col.events(&id).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_stops_delivery_and_keeps_the_spool() {
    let col = Collector::init(false);
    let mut agent = AgentProc::new(&col.url(), col.dir.path(), "");
    agent.start();
    let s = agent
        .wait_for("a delivery", 30, |s| n(s, "delivered_total") >= 1)
        .await;
    let id = agent_id(&s);
    let code = col.post(&format!("/v1/admin/agents/{id}/revoke")).await;
    assert!((200..300).contains(&code), "revoke answered {code}");
    let s = agent
        .wait_for("delivery to stop", 30, |s| {
            !s["delivery_stopped"].is_null() && n(s, "spool_depth") >= 3
        })
        .await;
    agent.stop();
    assert!(
        s["delivery_stopped"].as_str().unwrap_or("").contains("403"),
        "{s:#}"
    );
    assert!(agent.log().contains("DELIVERY STOPPED"));
    // `status` reports it and exits 1; the spool is intact.
    let out = Command::new(bin("evident-agent"))
        .args(["status", "--config"])
        .arg(&agent.config)
        .output()
        .unwrap_or_else(|e| panic!("status: {e}"));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("STOPPED"), "{text}");
    let spooled = agent.check_spool();
    assert!(spooled.len() >= 3);
}

/// Each run is a separate worker process: a probe on a slower schedule
/// (here yearly) is collected by the first run only, and every later
/// statement carries that result unchanged (kept in `probes.json`), while
/// the other probes are collected every second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slower_probes_carry_their_last_result_across_runs() {
    let col = Collector::init(false);
    let mut agent = AgentProc::new(
        &col.url(),
        col.dir.path(),
        "[schedule]\ndefault = \"* * * * * *\"\njitter_seconds = 0\n\
         [schedule.probes]\npackages = \"0 0 0 1 1 *\"\n",
    );
    agent.start();
    let s = agent
        .wait_for("four deliveries", 30, |s| n(s, "delivered_total") >= 4)
        .await;
    agent.stop();
    let id = agent_id(&s);
    let stored = col.statements(&id).await;
    assert!(stored.len() >= 4, "{stored:?}");
    let mut first_packages = None;
    let mut sshd_runs = BTreeSet::new();
    for (_, digest) in &stored {
        let st = col.statement(digest).await;
        let probes = &st.predicate.probes;
        assert_eq!(probes.len(), evident_agent::probes::REGISTRY.len());
        let mut packages = probes.iter().find(|p| p.id == "packages").unwrap().clone();
        // An unchanged (v2) run does not re-send durations.
        packages.duration_us = 0;
        match &first_packages {
            None => first_packages = Some(packages),
            // Carried, not collected again: the very same entry.
            Some(first) => assert_eq!(&packages, first),
        }
        let sshd = probes.iter().find(|p| p.id == "sshd").unwrap();
        sshd_runs.insert(sshd.duration_us);
    }
    // sshd was collected afresh in (almost) every run.
    assert!(sshd_runs.len() >= 2, "{sshd_runs:?}");
    assert!(agent.state_dir().join("probes.json").is_file());
}

/// The service process only schedules; its workers die with it. The
/// collector here is a black hole (accepts connections, never answers), so
/// the first worker hangs in enrollment for up to `timeout_seconds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_die_with_the_supervisor() {
    let col = Collector::init(false);
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://127.0.0.1:{}", hole.local_addr().unwrap().port());
    let mut agent = AgentProc::new(
        &url,
        col.dir.path(),
        "[delivery]\nbackoff_initial_ms = 100\nbackoff_max_seconds = 1\ntimeout_seconds = 30\n",
    );
    agent.start();
    let pid = agent.child.as_ref().map(|c| c.id()).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    // A child seen between fork and exec still shows the supervisor's own
    // command line: wait for the worker's.
    let (worker, cmdline) = loop {
        let found = children_of(pid).into_iter().find_map(|w| {
            let cmdline = std::fs::read(format!("/proc/{w}/cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline.contains("worker").then_some((w, cmdline))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no worker seen:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(cmdline.contains("--recover"), "{cmdline}");
    // The worker is stuck waiting for the collector (30 s timeout); the
    // supervisor is killed: the worker must go at once, not in 30 s.
    std::thread::sleep(Duration::from_millis(300));
    assert!(is_running(worker), "the worker should still be waiting");
    agent.kill9();
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_running(worker) {
        assert!(
            Instant::now() < deadline,
            "worker {worker} outlived the supervisor"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(hole);
}

/// Children of `pid` (from /proc/*/stat).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) && is_running(child) {
            out.push(child);
        }
    }
    out
}

/// Exists and is not a zombie (a dead child not yet reaped by its parent).
fn is_running(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    matches!(state, Some(s) if s != "Z" && s != "X")
}

/// Issue #14: "one flipped byte in an agent spool file: quarantined, but
/// the lost sequence is never declared". Now the next statement declares
/// it as a gap and the collector records the gap as declared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_spool_file_is_declared_as_a_gap() {
    let mut col = Collector::init(false);
    let mut agent = AgentProc::new(&col.url(), col.dir.path(), "");
    agent.start();
    agent
        .wait_for("two deliveries", 30, |s| n(s, "delivered_total") >= 2)
        .await;
    col.stop();
    agent
        .wait_for("three spooled statements", 30, |s| n(s, "spool_depth") >= 3)
        .await;
    agent.stop();
    let spooled = agent.check_spool();
    let victim = *spooled.iter().next().unwrap_or(&0);
    let path = agent
        .state_dir()
        .join("spool")
        .join(format!("{victim:020}.spool"));
    assert!(path.exists(), "{} missing", path.display());
    let mut bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
    col.start();
    agent.start();
    let s = agent
        .wait_for("the gap declared and delivered", 60, |s| {
            n(s, "corrupt_files") >= 1
                && s["pending_gap"].is_null()
                && n(s, "last_delivered_sequence") > victim + 1
        })
        .await;
    agent.stop();
    let id = agent_id(&s);
    let stored = col.statements(&id).await;
    assert!(
        !stored.iter().any(|(q, _)| *q == victim),
        "the corrupt statement cannot have been delivered"
    );
    let mut declared = Vec::new();
    for (_, d) in &stored {
        if let Some(g) = col.statement(d).await.predicate.gap {
            declared.push((g.from, g.to));
        }
    }
    assert!(
        declared.iter().any(|(f, t)| *f <= victim && victim <= *t),
        "sequence {victim} never declared; declared gaps: {declared:?}"
    );
    let events = col.events(&id).await;
    let wanted = format!("sequences {victim} to {victim} missing");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "gap" && e["detail"].as_str().unwrap_or("").contains(&wanted)),
        "no gap event `{wanted}`: {events:#?}"
    );
}

/// A tmpfs mounted for a test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap_or_else(|e| panic!("{e}"));
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap_or_else(|e| panic!("mount: {e}"));
        assert!(
            st.success(),
            "mounting a tmpfs at {} failed: this test needs root (CAP_SYS_ADMIN) to simulate a full disk",
            at.display()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Issue #14: "agent restarted while its disk is full: exits and stays
/// down". Now the service stays up, retries with backoff, `status` says the
/// disk is full, and it delivers again once there is room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_the_service_alive_with_backoff() {
    let col = Collector::init(false);
    let mut agent = AgentProc::new(&col.url(), col.dir.path(), "");
    let _fs = Tmpfs::mount(&agent.state_dir(), "4m");
    agent.start();
    agent
        .wait_for("two deliveries", 30, |s| n(s, "delivered_total") >= 2)
        .await;
    agent.stop();
    // Fill the disk.
    let filler = agent.state_dir().join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).unwrap_or_else(|e| panic!("{e}"));
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    let before = n(&agent.status(), "delivered_total");
    agent.start();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let alive = agent
        .child
        .as_mut()
        .map(|c| matches!(c.try_wait(), Ok(None)))
        .unwrap_or(false);
    assert!(alive, "the service exited on a full disk:\n{}", agent.log());
    let out = Command::new(bin("evident-agent"))
        .args(["status", "--config"])
        .arg(&agent.config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("FULL"), "{text}");
    assert_ne!(out.status.code(), Some(0), "status must not read healthy");
    // Room again: it delivers without a restart.
    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("{e}"));
    agent
        .wait_for("deliveries after the disk has room", 60, |s| {
            n(s, "delivered_total") > before
        })
        .await;
    agent.stop();
}
