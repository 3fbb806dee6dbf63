//! Helpers shared by the end-to-end tests and the load benchmark: locating
//! the built binaries, running `evident-collector init` + `serve` on
//! 127.0.0.1, fresh PostgreSQL databases, and agents that sign statements
//! made from real probe output.
//!
//! Why this file is longer than ~700 lines: it is the one harness every
//! e2e test and bench shares (server, PostgreSQL, signing agent); splitting
//! it would make each test import from several places for one setup.

pub mod webdriver;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use evident_agent::hostroot::HostRoot;
use evident_agent::probes;
use evident_core::evidence::{
    AgentInfo, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule, Statement, PAYLOAD_TYPE,
};
use evident_core::wire::{EnrollRequest, EnrollResponse, IngestRequest};
use evident_core::{sha256_digest, Digest, Signer};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};
use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

/// A built binary of the workspace (`target/<profile>/<name>`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (`cargo build -p evident-collector` or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// Which database a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite under the data directory.
    Sqlite,
    /// A fresh PostgreSQL database.
    Postgres,
}

/// A fresh PostgreSQL database, dropped by [`PgDb::drop_now`].
#[derive(Debug)]
pub struct PgDb {
    /// Connection options of the admin database.
    pub admin: PgConnectOptions,
    /// The database name.
    pub name: String,
    /// URL of the fresh database.
    pub url: String,
}

/// Base URL of the test PostgreSQL server.
pub fn pg_base_url() -> String {
    std::env::var("EVIDENT_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

impl PgDb {
    /// Create a fresh database. A PostgreSQL test that cannot reach its
    /// server or create its database FAILS (panics naming the URL and the
    /// error), in CI or not: it never passes without running.
    pub async fn create() -> PgDb {
        let base = pg_base_url();
        let admin = PgConnectOptions::from_str(&base).unwrap_or_else(|e| {
            panic!("EVIDENT_TEST_DATABASE_URL `{base}` is not a PostgreSQL URL: {e}")
        });
        let mut conn = admin.connect().await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {base} is unreachable: {e} \
                 (start it, or point EVIDENT_TEST_DATABASE_URL at one)"
            )
        });
        let name = format!("evident_e2e_{}", random_hex(6));
        if let Err(e) = sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
        {
            panic!("CREATE DATABASE {name} on {base} failed: {e}");
        }
        conn.close().await.ok();
        let url = admin.clone().database(&name).to_url_lossy().to_string();
        PgDb { admin, name, url }
    }

    /// Run SQL on the admin database.
    pub async fn admin_exec(&self, sql: &str) {
        if let Ok(mut conn) = self.admin.connect().await {
            let _ = sqlx::raw_sql(sql).execute(&mut conn).await;
            conn.close().await.ok();
        }
    }

    /// Drop the database.
    pub async fn drop_now(&self) {
        self.admin_exec(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

/// Random hex.
pub fn random_hex(n: usize) -> String {
    use rand_core::RngCore as _;
    let mut b = vec![0u8; n];
    rand_core::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A running `evident-collector serve`.
pub struct Server {
    /// Data directory (kept alive with the server).
    pub dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// A client trusting only `DIR/ca.pem`.
    pub client: reqwest::Client,
    /// The admin token.
    pub admin_token: String,
    /// The first enrollment token.
    pub enroll_token: String,
    /// The PostgreSQL database, if any.
    pub pg: Option<PgDb>,
    child: Option<Child>,
    stderr_log: PathBuf,
    env: Vec<(String, String)>,
}

/// Run `evident-collector ARGS`, panicking with its output when it fails.
pub fn collector(args: &[&str]) -> String {
    let out = Command::new(bin("evident-collector"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running evident-collector: {e}"));
    assert!(
        out.status.success(),
        "evident-collector {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `evident-collector ARGS` with `env`, panicking with its output when it fails.
pub fn collector_env(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(bin("evident-collector"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running evident-collector: {e}"));
    assert!(
        out.status.success(),
        "evident-collector {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Server {
    /// `init` into a temp dir, apply `config_edits` (TOML lines appended
    /// after removing the same keys), then `serve` on 127.0.0.1:0.
    /// Always `Some`: an unreachable PostgreSQL fails the test (see
    /// [`PgDb::create`]); the `Option` remains for existing callers.
    pub async fn start(backend: Backend, config_edits: &[(&str, &str)]) -> Option<Server> {
        Server::start_with(backend, config_edits, "", &[]).await
    }

    /// Like [`Server::start`], then append `extra_toml` (tables such as
    /// `[drift]` or `[[sink]]`) to the config and run `serve` with `env`.
    pub async fn start_with(
        backend: Backend,
        config_edits: &[(&str, &str)],
        extra_toml: &str,
        env: &[(&str, &str)],
    ) -> Option<Server> {
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDb::create().await),
        };
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let d = dir.path().to_string_lossy().into_owned();
        let mut args = vec!["init", "--dir", d.as_str()];
        if let Some(pg) = &pg {
            args.push("--database");
            args.push(pg.url.as_str());
        }
        collector_env(&args, env);
        if !config_edits.is_empty() {
            let path = dir.path().join("config.toml");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut lines: Vec<String> = text
                .lines()
                .filter(|l| {
                    !config_edits
                        .iter()
                        .any(|(k, _)| l.starts_with(&format!("{k} =")))
                })
                .map(str::to_string)
                .collect();
            for (k, v) in config_edits {
                lines.push(format!("{k} = {v}"));
            }
            std::fs::write(&path, lines.join("\n")).unwrap_or_default();
        }
        if !extra_toml.is_empty() {
            let path = dir.path().join("config.toml");
            let mut text = std::fs::read_to_string(&path).unwrap_or_default();
            text.push('\n');
            text.push_str(extra_toml);
            std::fs::write(&path, text).unwrap_or_default();
        }
        let mut server = Server {
            url: String::new(),
            client: client(&dir.path().join("ca.pem")),
            admin_token: read_trim(&dir.path().join("admin.token")),
            enroll_token: read_trim(&dir.path().join("enroll.token")),
            stderr_log: dir.path().join("serve.log"),
            dir,
            pg,
            child: None,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        server.spawn();
        Some(server)
    }

    fn spawn(&mut self) {
        if let Err(log) = self.try_spawn() {
            panic!("serve did not start:\n{log}");
        }
    }

    /// Start `serve`; Err(its log) when it exits instead of listening.
    pub fn try_spawn(&mut self) -> Result<(), String> {
        let log =
            std::fs::File::create(&self.stderr_log).unwrap_or_else(|e| panic!("serve log: {e}"));
        let mut child = Command::new(bin("evident-collector"))
            .args(["serve", "--dir"])
            .arg(self.dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning serve: {e}"));
        let stdout = child.stdout.take();
        let mut line = String::new();
        if let Some(out) = stdout {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{line}{}",
                std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
            ));
        };
        self.url = addr.to_string();
        self.child = Some(child);
        Ok(())
    }

    /// What `serve` wrote to stderr (its log) so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// The environment of the next [`Server::try_spawn`].
    pub fn set_env(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// SIGKILL the server (a crash) and wait for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Run `evident-collector ARGS --dir DIR [--database URL]`; the raw output.
    pub fn cli_output(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(bin("evident-collector"));
        cmd.args(args).arg("--dir").arg(self.dir.path());
        if let Some(pg) = &self.pg {
            cmd.args(["--database", &pg.url]);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap_or_else(|e| panic!("running evident-collector: {e}"))
    }

    /// `GET path` with `token` (None: no Authorization header); (status, body text).
    pub async fn get_as(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.client.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.text().await.unwrap_or_default())
    }

    /// Another `serve` process on the same data directory and database
    /// (a replica), with the same environment; its log is `DIR/NAME.log`.
    pub fn replica(&self, name: &str) -> Replica {
        let log_path = self.dir.path().join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("replica log: {e}"));
        let mut child = Command::new(bin("evident-collector"))
            .args(["serve", "--dir"])
            .arg(self.dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning replica: {e}"));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!(
                "replica did not start: {line:?}\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        };
        Replica {
            url: addr.to_string(),
            child,
            log: log_path,
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Send SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Stop (SIGTERM) and start `serve` again on the same directory and
    /// database (it then listens on a new port).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Run `evident-collector` subcommand against this server's data dir.
    pub fn cli(&self, args: &[&str]) -> String {
        let d = self.dir.path().to_string_lossy().into_owned();
        let mut all: Vec<&str> = args.to_vec();
        all.push("--dir");
        all.push(&d);
        if let Some(pg) = &self.pg {
            all.push("--database");
            all.push(&pg.url);
        }
        collector(&all)
    }

    /// `POST /v1/enroll`.
    pub async fn enroll(&self, agent: &Agent, token: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/enroll", self.url))
            .json(&EnrollRequest {
                token: token.into(),
                public_key: B64.encode(agent.signer.verifying_key().as_bytes()),
                hostname: agent.hostname.clone(),
                agent_version: "0.1.0-test".into(),
                machine_id: agent.machine_id.clone(),
            })
            .send()
            .await
            .unwrap_or_else(|e| panic!("enroll: {e}"))
    }

    /// `POST /v1/evidence` with a raw body.
    pub async fn post_raw(&self, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/evidence", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("post: {e}"))
    }

    /// `POST /v1/evidence`.
    pub async fn post(&self, req: &IngestRequest) -> reqwest::Response {
        self.post_raw(serde_json::to_vec(req).unwrap_or_default())
            .await
    }

    /// `GET path` with the admin token; (status, JSON).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Clean up (stop the server, drop the database).
    pub async fn finish(mut self) {
        self.stop();
        if let Some(pg) = &self.pg {
            pg.drop_now().await;
        }
    }
}

/// A second `serve` process (see [`Server::replica`]); killed on drop.
pub struct Replica {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    /// Its log file.
    pub log: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The configuration of an agent of `server`: its URL and CA file, the
/// rest defaults (for building the agent's own HTTP client).
pub fn agent_config(server: &Server) -> evident_agent::config::Config {
    let text = format!(
        "collector = {:?}\nca_file = {:?}\n",
        server.url,
        server.dir.path().join("ca.pem")
    );
    evident_agent::config::Config::parse(&text)
        .unwrap_or_else(|e| panic!("agent configuration for {}: {e}", server.url))
}

/// A reqwest client trusting only the CA in `ca_pem` (rustls with ring).
pub fn client(ca_pem: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca_pem).unwrap_or_default();
    let tls = evident_collector::tls::client_config(&pem)
        .unwrap_or_else(|e| panic!("CA {}: {e}", ca_pem.display()));
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .pool_max_idle_per_host(256)
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

/// A fixture root: a few /etc files a small Debian host would have.
pub fn fixture_root(hostname: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let files: &[(&str, String)] = &[
        ("etc/hostname", format!("{hostname}\n")),
        ("etc/machine-id", format!("{}\n", random_hex(16))),
        (
            "etc/os-release",
            "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n".into(),
        ),
        (
            "etc/ssh/sshd_config",
            "PermitRootLogin no\nPasswordAuthentication no\nX11Forwarding no\n".into(),
        ),
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n".into(),
        ),
        ("etc/group", "root:x:0:\nsudo:x:27:alice\n".into()),
        (
            "etc/shadow",
            "root:*:19000:0:99999:7:::\nalice:$6$x$y:19000:0:90:7:::\n".into(),
        ),
        (
            "etc/login.defs",
            "PASS_MAX_DAYS 90\nPASS_MIN_DAYS 1\nUMASK 027\n".into(),
        ),
        ("etc/sysctl.conf", "kernel.randomize_va_space = 2\n".into()),
        (
            "etc/chrony/chrony.conf",
            "pool 2.debian.pool.ntp.org iburst\n".into(),
        ),
    ];
    for (path, text) in files {
        let p = dir.path().join(path);
        if let Some(parent) = p.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(p, text);
    }
    dir
}

/// One run's probe output: statement entries and the blobs they name.
#[derive(Debug, Clone)]
pub struct Run {
    /// Host facts.
    pub host: HostFacts,
    /// Probe entries.
    pub probes: Vec<ProbeEntry>,
    /// Blob digest → exact bytes.
    pub blobs: BTreeMap<Digest, Vec<u8>>,
}

/// Run every registered probe over `root` (real probe code, fixture files).
pub fn collect(root: &Path) -> Run {
    let root = HostRoot::offline(root);
    let mut probes_out = Vec::new();
    let mut blobs = BTreeMap::new();
    let mut host = None;
    for p in probes::REGISTRY {
        let out = probes::run(p, &root);
        let digest = match (&out.status, &out.data) {
            (ProbeStatus::Ok, Some(data)) => {
                if out.probe == "host" {
                    host = Some(HostFacts::from_host_probe(data));
                }
                let bytes = serde_json::to_vec(data).unwrap_or_default();
                let d = sha256_digest(&bytes);
                blobs.insert(d, bytes);
                Some(d)
            }
            _ => None,
        };
        probes_out.push(ProbeEntry {
            id: out.probe,
            version: out.version,
            status: if digest.is_some() || out.status != ProbeStatus::Ok {
                out.status
            } else {
                ProbeStatus::Error
            },
            duration_us: out.duration_us,
            digest,
            reason: out.reason.or_else(|| {
                (out.status == ProbeStatus::Ok && digest.is_none()).then(|| "no data".to_string())
            }),
        });
    }
    Run {
        host: host.unwrap_or_else(|| HostFacts {
            hostname: "unknown".into(),
            os_family: "linux".into(),
            ..HostFacts::default()
        }),
        probes: probes_out,
        blobs,
    }
}

/// An agent: a key, an id once enrolled, its sequence and chain.
pub struct Agent {
    /// Signing key.
    pub signer: Signer,
    /// Host name.
    pub hostname: String,
    /// Assigned at enrollment.
    pub id: String,
    /// Next sequence number.
    pub next_sequence: u64,
    /// Digest of the last envelope.
    pub previous: Option<Digest>,
    /// Schedule interval written into statements (seconds).
    pub interval_seconds: u64,
    /// Machine id sent at enrollment (None: not sent).
    pub machine_id: Option<String>,
    /// Collection time written into statements (None: now).
    pub collected_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Agent {
    /// A new agent with a random key.
    pub fn new(hostname: &str) -> Agent {
        use rand_core::RngCore as _;
        let mut seed = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut seed);
        Agent {
            signer: Signer::from_seed(&seed),
            hostname: hostname.into(),
            id: String::new(),
            next_sequence: 1,
            previous: None,
            interval_seconds: 900,
            machine_id: None,
            collected_at: None,
        }
    }

    /// Enroll with `server`, keeping the id.
    pub async fn enroll(&mut self, server: &Server) -> EnrollResponse {
        let r = server.enroll(self, &server.enroll_token).await;
        assert_eq!(r.status().as_u16(), 200, "enroll failed");
        let resp: EnrollResponse = r.json().await.unwrap_or_else(|e| panic!("enroll: {e}"));
        self.id = resp.agent_id.clone();
        resp
    }

    /// Sign the next statement over `run`; returns the exact envelope bytes
    /// and advances sequence and chain.
    pub fn sign_next(&mut self, run: &Run) -> (Vec<u8>, Digest) {
        let env = self.sign_at(run, self.next_sequence, self.previous);
        let d = sha256_digest(&env);
        self.next_sequence += 1;
        self.previous = Some(d);
        (env, d)
    }

    /// Like [`Agent::sign_next`], collected at `at` instead of now.
    pub fn sign_next_at(
        &mut self,
        run: &Run,
        at: chrono::DateTime<chrono::Utc>,
    ) -> (Vec<u8>, Digest) {
        let env = self.sign_collected(run, self.next_sequence, self.previous, at);
        let d = sha256_digest(&env);
        self.next_sequence += 1;
        self.previous = Some(d);
        (env, d)
    }

    /// Sign a statement with an explicit sequence and previous digest.
    pub fn sign_at(&self, run: &Run, sequence: u64, previous: Option<Digest>) -> Vec<u8> {
        self.sign_collected(
            run,
            sequence,
            previous,
            self.collected_at.unwrap_or_else(chrono::Utc::now),
        )
    }

    /// Sign a statement with an explicit sequence, previous digest and
    /// collection time.
    pub fn sign_collected(
        &self,
        run: &Run,
        sequence: u64,
        previous: Option<Digest>,
        collected_at: chrono::DateTime<chrono::Utc>,
    ) -> Vec<u8> {
        let predicate = Predicate {
            agent: AgentInfo {
                id: self.id.clone(),
                version: "0.1.0-test".into(),
            },
            host: HostFacts {
                hostname: self.hostname.clone(),
                ..run.host.clone()
            },
            sequence,
            previous,
            gap: None,
            collected_at,
            schedule: Schedule {
                cron: "0 */15 * * * *".into(),
                interval_seconds: self.interval_seconds,
            },
            probes: run.probes.clone(),
        };
        let payload = Statement::new(predicate).to_bytes();
        self.signer.sign_envelope(PAYLOAD_TYPE, payload).to_json()
    }
}

/// An ingest request carrying `envelope` and all of `run`'s blobs (or none).
pub fn request(envelope: &[u8], run: &Run, with_blobs: bool) -> IngestRequest {
    if with_blobs {
        IngestRequest::new(envelope, run.blobs.iter().map(|(d, b)| (d, b.as_slice())))
    } else {
        IngestRequest::new(envelope, std::iter::empty())
    }
}

/// Strict DSSE verifications of `env` under `key` per second on one core,
/// measured for two seconds: the "raw verify" the benchmarks compare
/// end-to-end throughput against.
pub fn strict_verify_rate(
    env: &evident_core::dsse::Envelope,
    key: &ed25519_dalek::VerifyingKey,
) -> f64 {
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            let _ = env.verify(key, evident_core::evidence::PAYLOAD_TYPE);
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}
