//! `ingest`: the collector under a fleet's load, end to end over HTTPS.
//!
//! Starts the real `evident-collector serve`, enrolls the fleet straight
//! into its store (enrollment is not what is measured), then plays rounds:
//! in every round each host, in round-robin order, sends its next run as
//! the real agent does — gzip body, only the blobs the collector lacks
//! from this host's previous run, and a NEW TLS connection through a client
//! the agent's own code builds for each run (`Shipper::new`: no session
//! resumption, HTTP/1.1, as a worker process, new for each run, connects)
//! unless `--keep-alive`. A round is signed and compressed before it
//! is posted (that is the agents' cost), so memory holds one round.
//! Round 0 (every host's first run, all blobs) is reported separately.
//! After the rounds, as many `GET /livez` as there are hosts, each on a new
//! connection made the same way: `serve`'s CPU for those is the transport's
//! share of a run (TCP, the TLS handshake, HTTP), printed beside the runs'.

use crate::fleet::{Host, SignedRun, Spec, Template};
use anyhow::{anyhow, bail, Context as _, Result};
use evident_collector::store::{self, EnrollOutcome, NewAgent, NewToken, Store};
use evident_core::dsse::key_id;
use evident_core::wire::{AgentStatus, IngestRequest};
use evident_core::Envelope;
use evident_e2e::{Backend, Server};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `ingest`.
#[derive(clap::Args)]
pub struct IngestArgs {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Hosts in the fleet (more than any collector cache: 1000, 10000, 50000).
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Runs per host (round 0, the first run, is reported apart).
    #[arg(long, default_value_t = 4)]
    rounds: u64,
    /// Concurrent agents sending.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Reuse connections (keep-alive) instead of one TLS handshake per run.
    #[arg(long)]
    keep_alive: bool,
    /// The modelled history ends about this time (RFC 3339; default: now).
    /// Runs are on the hour from `end` − rounds × interval, so this says
    /// whether, and in which round, every host crosses 00:00 UTC (a new
    /// collection day) together.
    #[arg(long)]
    end: Option<chrono::DateTime<chrono::Utc>>,
    /// The collector's ingest writer linger (`batch_linger_ms`; default:
    /// the collector's own default).
    #[arg(long)]
    batch_linger_ms: Option<u64>,
    #[command(flatten)]
    fleet: crate::FleetArgs,
}

/// Enroll `n` hosts straight into `db` (one token, active agents; agent
/// ids `agt-<index>` with `fixed_ids`, else random).
pub async fn enroll(db: &dyn Store, n: usize, fixed_ids: bool) -> Result<Vec<Host>> {
    let secret = evident_e2e::random_hex(16);
    let hash = evident_collector::service::secret_hash(&secret);
    let now = chrono::Utc::now().timestamp_millis();
    db.create_token(&NewToken {
        id: format!("bench-{}", evident_e2e::random_hex(4)),
        hash,
        created_at: now,
        expires_at: None,
        max_uses: None,
    })
    .await?;
    let mut hosts = Vec::with_capacity(n);
    for i in 0..n {
        let mut h = Host::new(i);
        let key = h.signer.verifying_key();
        let agent = NewAgent {
            id: if fixed_ids {
                format!("agt-{i:08}")
            } else {
                format!("agt-{}", evident_e2e::random_hex(8))
            },
            key_id: key_id(&key),
            public_key: key.as_bytes().to_vec(),
            hostname: h.hostname.clone(),
            agent_version: "0.1.0-bench".into(),
            status: AgentStatus::Active,
            now,
        };
        match db.enroll(&hash, &agent).await? {
            EnrollOutcome::Enrolled(rec) => h.agent_id = rec.id,
            EnrollOutcome::BadToken => bail!("the bench's enrollment token was refused"),
        }
        hosts.push(h);
    }
    Ok(hosts)
}

/// Sign every host's next run on all cores.
pub fn sign_round<T: Send>(
    hosts: &mut [Host],
    t: &Template,
    spec: &Spec,
    f: impl Fn(SignedRun) -> T + Sync,
) -> Vec<T> {
    crate::par_map(hosts, |h| f(h.next(t, spec)))
}

/// Gzip with the agent's own function (its level).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    evident_agent::shipper::gzip(data).unwrap_or_default()
}

fn body(run: SignedRun) -> Vec<u8> {
    let req = IngestRequest::new(
        &run.envelope,
        run.new_blobs.iter().map(|(d, b)| (d, b.as_slice())),
    );
    gzip(&serde_json::to_vec(&req).unwrap_or_default())
}

struct Poster {
    url: String,
    /// The agent's configuration (collector URL, `ca_file`): each run's
    /// client is built from it by the agent's own code.
    agent: evident_agent::config::Config,
    shared: reqwest::Client,
    keep_alive: bool,
}

impl Poster {
    /// A new run's client: the agent's (`Shipper::new`, as a worker
    /// process builds it: the CA read from `ca_file`, a fresh rustls
    /// configuration without resumption, its ALPN and HTTP version), or
    /// the shared keep-alive client with `--keep-alive`.
    fn client(&self) -> Result<reqwest::Client> {
        if self.keep_alive {
            return Ok(self.shared.clone());
        }
        Ok(evident_agent::shipper::Shipper::new(&self.agent)?
            .http()
            .clone())
    }

    /// `n` requests of `GET /livez` (the process answers: no store, no
    /// body), each on a connection made as a run's is, with `connections`
    /// concurrent senders; elapsed. What `serve` spends on them is the
    /// transport's share of a run: TCP, the TLS handshake, HTTP.
    async fn floor(self: &Arc<Self>, n: usize, connections: usize) -> Result<Duration> {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (me, next) = (self.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let r = me.client()?.get(format!("{}/livez", me.url)).send().await?;
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    if status != 200 {
                        return Err(anyhow!("GET /livez: status {status}"));
                    }
                }
                Ok::<_, anyhow::Error>(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok(start.elapsed())
    }

    /// Post every body with `connections` concurrent senders; (elapsed, latencies in ms).
    async fn round(
        self: &Arc<Self>,
        bodies: Vec<Vec<u8>>,
        connections: usize,
    ) -> Result<(Duration, Vec<f32>)> {
        let bodies = Arc::new(bodies);
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (me, bodies, next) = (self.clone(), bodies.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(b) = bodies.get(i) else { break };
                    let t = Instant::now();
                    let r = me
                        .client()?
                        .post(format!("{}/v1/evidence", me.url))
                        .header("content-type", "application/json")
                        .header("content-encoding", "gzip")
                        .body(b.clone())
                        .send()
                        .await?;
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    if status != 201 && status != 200 {
                        return Err(anyhow!("status {status}: {text}"));
                    }
                    lat.push(t.elapsed().as_secs_f32() * 1000.0);
                }
                Ok::<_, anyhow::Error>(lat)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        Ok((start.elapsed(), all))
    }
}

/// Strict verifications of one unchanged envelope per second (one core).
pub fn verify_rate(run: &SignedRun, host: &Host) -> f64 {
    let Ok(env) = Envelope::from_json(&run.envelope) else {
        return 0.0;
    };
    evident_e2e::strict_verify_rate(&env, &host.signer.verifying_key())
}

/// This machine's raw rate, on an unchanged run of a host outside the fleet.
fn raw_rate(t: &Template, spec: &Spec) -> f64 {
    let mut h = Host::new(usize::MAX);
    let _ = h.next(t, spec);
    let r = h.next(t, spec);
    verify_rate(&r, &h)
}

/// CPU seconds (user + system) `pid` has used, from `/proc/PID/stat`.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

/// The counter `name` from the server's `/metrics` (0 when absent).
async fn counter(server: &Server, name: &str) -> u64 {
    let (_, text) = server
        .get_as("/metrics", Some(server.admin_token.as_str()))
        .await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Later runs the writer stored in bulk.
const BULK: &str = "evident_commit_bulk_items_total";
/// The writer's transactions (group commits).
const BATCHES: &str = "evident_commit_batches_total";
/// Later runs evaluated on their day-reading rules alone.
const DAY_ONLY: &str = "evident_ingest_day_rules_only_total";
/// Blobs read back from the store for those.
const DAY_READ: &str = "evident_ingest_day_blobs_read_total";

/// Kernel clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The PostgreSQL backends serving this database (the collector's pool).
async fn pg_backends(url: &str) -> Vec<u32> {
    let Ok(pool) = sqlx::PgPool::connect(url).await else {
        return Vec::new();
    };
    let rows: Vec<(i32,)> = sqlx::query_as(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    pool.close().await;
    rows.into_iter()
        .filter_map(|(p,)| u32::try_from(p).ok())
        .collect()
}

/// CPU seconds of the processes that serve: `serve` and its PostgreSQL backends.
struct CpuMeter {
    server: Option<u32>,
    pg: Vec<u32>,
}

impl CpuMeter {
    /// (serve, PostgreSQL backends, this process) CPU seconds so far.
    fn read(&self) -> (f64, f64, f64) {
        let server = self.server.and_then(cpu_seconds).unwrap_or(0.0);
        let pg = self.pg.iter().filter_map(|p| cpu_seconds(*p)).sum();
        let me = cpu_seconds(std::process::id()).unwrap_or(0.0);
        (server, pg, me)
    }
}

fn pct(sorted: &[f32], p: f64) -> f32 {
    let i = ((sorted.len().max(1) - 1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

/// Run the `ingest` bench and print its Markdown table.
pub async fn run(args: IngestArgs) -> Result<()> {
    let backend = match args.backend.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => bail!("unknown backend {other}"),
    };
    if args.rounds < 2 {
        bail!("--rounds must be at least 2 (round 0 is every host's first run)");
    }
    let t = Template::new(args.fleet.packages);
    let spec = args.fleet.spec(args.rounds, args.agents, args.end);
    // The raw rate, sampled before, beside every round and after them.
    let mut raws = vec![raw_rate(&t, &spec)];
    // The modelled history ends about now but may span more than the
    // collector's default maximum evidence age (30 days).
    let linger = args.batch_linger_ms.map(|ms| ms.to_string());
    let edits: Vec<(&str, &str)> = linger
        .as_deref()
        .map(|ms| ("batch_linger_ms", ms))
        .into_iter()
        .collect();
    let server = Server::start_with(
        backend,
        &edits,
        "[limits]\nmax_evidence_age_seconds = 315360000\n",
        &[],
    )
    .await
    .context("PostgreSQL unreachable")?;
    let db_url = match &server.pg {
        Some(pg) => pg.url.clone(),
        None => format!(
            "sqlite://{}",
            server.dir.path().join("evident.db").display()
        ),
    };
    let db = store::open(&db_url, 2, Duration::from_secs(30)).await?;
    let started = Instant::now();
    let mut hosts = enroll(&*db, args.agents, false).await?;
    let enroll_s = started.elapsed().as_secs_f64();
    let poster = Arc::new(Poster {
        url: server.url.clone(),
        agent: evident_e2e::agent_config(&server),
        shared: server.client.clone(),
        keep_alive: args.keep_alive,
    });

    let first = sign_round(&mut hosts, &t, &spec, body);
    let first_bytes: usize = first.iter().map(Vec::len).sum();
    let (t_first, mut lat_first) = poster.round(first, args.connections).await?;
    lat_first.sort_by(f32::total_cmp);

    let before = db.storage_bytes().await?;
    let bulk_before = counter(&server, BULK).await;
    let batches_before = counter(&server, BATCHES).await;
    let day_before = counter(&server, DAY_ONLY).await;
    let read_before = counter(&server, DAY_READ).await;
    let meter = CpuMeter {
        server: server.pid(),
        pg: match &server.pg {
            Some(pg) => pg_backends(&pg.url).await,
            None => Vec::new(),
        },
    };
    let (mut elapsed, mut lat, mut wire, mut n) = (Duration::ZERO, Vec::new(), 0usize, 0usize);
    let mut changed = 0usize;
    let (mut cpu_server, mut cpu_pg, mut cpu_client) = (0.0, 0.0, 0.0);
    let mut per_round = Vec::new();
    // Serving CPU seconds and runs of the rounds that cross midnight UTC
    // (every host's day rules turn) and of the others.
    let (mut turn, mut plain) = ((0.0, 0usize), (0.0, 0usize));
    for round in 1..args.rounds {
        let bodies = sign_round(&mut hosts, &t, &spec, |r| {
            let c = !r.unchanged && !r.new_blobs.is_empty();
            (body(r), c)
        });
        changed += bodies.iter().filter(|(_, c)| *c).count();
        let bodies: Vec<Vec<u8>> = bodies.into_iter().map(|(b, _)| b).collect();
        wire += bodies.iter().map(Vec::len).sum::<usize>();
        n += bodies.len();
        let count = bodies.len();
        // On stderr, so a profiler can be attached to `serve` for the later
        // rounds only.
        eprintln!(
            "round {round}: posting {count} runs (serve pid {:?})",
            meter.server
        );
        // The raw rate beside every round: this VM's speed drifts by
        // ±10 % within minutes, and the ratios divide by it.
        raws.push(raw_rate(&t, &spec));
        let c0 = meter.read();
        let (e, l) = poster.round(bodies, args.connections).await?;
        let c1 = meter.read();
        cpu_server += c1.0 - c0.0;
        cpu_pg += c1.1 - c0.1;
        cpu_client += c1.2 - c0.2;
        let at = Host::collected_at(&spec, round);
        let serving_round = (c1.0 - c0.0) + (c1.1 - c0.1);
        let bucket = if at.date_naive() != Host::collected_at(&spec, round - 1).date_naive() {
            &mut turn
        } else {
            &mut plain
        };
        bucket.0 += serving_round;
        bucket.1 += count;
        per_round.push(format!(
            "{:.0} ({}, serve {:.0} µs/run)",
            count as f64 / e.as_secs_f64(),
            at.format("%d %H:%M"),
            (c1.0 - c0.0) * 1e6 / count.max(1) as f64
        ));
        elapsed += e;
        lat.extend(l);
    }
    // The transport alone, as many requests as a round has runs.
    let c0 = meter.read();
    let floor_elapsed = poster.floor(args.agents, args.connections).await?;
    let c1 = meter.read();
    let floor_serve = (c1.0 - c0.0) / args.agents.max(1) as f64;
    let floor_client = (c1.2 - c0.2) / args.agents.max(1) as f64;
    raws.push(raw_rate(&t, &spec));
    let (raw_min, raw_max) = raws
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    // The ratios divide by the mean of every sample, taken before, between
    // and after the rounds.
    let rate = raws.iter().sum::<f64>() / raws.len() as f64;
    let after = db.storage_bytes().await?;
    let bulk = counter(&server, BULK).await.saturating_sub(bulk_before);
    let batches = counter(&server, BATCHES)
        .await
        .saturating_sub(batches_before);
    let day_only = counter(&server, DAY_ONLY).await.saturating_sub(day_before);
    let day_read = counter(&server, DAY_READ).await.saturating_sub(read_before);
    db.close().await;
    lat.sort_by(f32::total_cmp);
    let tput = n as f64 / elapsed.as_secs_f64();
    let days = (args.rounds * spec.interval_s) as f64 / 86_400.0;

    println!(
        "## Fleet ingest benchmark ({}, {} hosts)",
        args.backend, args.agents
    );
    println!();
    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| machine | {} cores, client and server on the same host |",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    println!(
        "| raw Ed25519 verify_strict of one envelope (1 core), {} samples: before the rounds, beside each, after | {} /s; mean {rate:.0} /s, {raw_min:.0}–{raw_max:.0} (ratios below divide by the mean) |",
        raws.len(),
        raws.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    println!(
        "| fleet | {} hosts × {} runs, round-robin, every {} s ({days:.1} days of history), updates every {} runs, {} packages per host |",
        args.agents, args.rounds, spec.interval_s, spec.churn_every, args.fleet.packages
    );
    println!(
        "| connections | {} concurrent agents, {} |",
        args.connections,
        if args.keep_alive {
            "keep-alive"
        } else {
            "new TLS connection per run (like the agent)"
        }
    );
    println!(
        "| first runs (all blobs) | {} in {:.2} s ({:.0} /s, p50 {:.1} ms, p99 {:.1} ms, {:.0} B gzip each) |",
        args.agents,
        t_first.as_secs_f64(),
        args.agents as f64 / t_first.as_secs_f64(),
        pct(&lat_first, 0.5),
        pct(&lat_first, 0.99),
        first_bytes as f64 / args.agents.max(1) as f64
    );
    println!(
        "| later runs, end to end | **{tput:.0} runs/s** ({n} in {:.2} s; {changed} carried a changed blob) |",
        elapsed.as_secs_f64()
    );
    println!("| ratio to raw verify | **{:.3}** |", tput / rate);
    println!(
        "| later rounds, runs/s each (collected at, UTC day and time; serve CPU per run) | {} |",
        per_round.join(" · ")
    );
    let per_run = |s: f64| s * 1e6 / n.max(1) as f64;
    let serving = cpu_server + cpu_pg;
    println!(
        "| CPU per later run: serve / PostgreSQL backends / bench client | {:.0} / {:.0} / {:.0} µs (client share of all CPU {:.0} %) |",
        per_run(cpu_server),
        per_run(cpu_pg),
        per_run(cpu_client),
        100.0 * cpu_client / (serving + cpu_client).max(1e-9)
    );
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as f64)
        .unwrap_or(1.0);
    let server_bound = n as f64 / serving.max(1e-9) * cores;
    println!(
        "| server-bound throughput (runs per serving CPU second × {cores} cores) / ratio to raw verify | {server_bound:.0} runs/s / **{:.3}** |",
        server_bound / rate
    );
    if turn.1 > 0 && plain.1 > 0 {
        // A fleet's day: one run per host crosses midnight, the others do not.
        let per_day = (86_400 / spec.interval_s.max(1)).max(1) as f64;
        let (t, o) = (turn.0 / turn.1 as f64, plain.0 / plain.1 as f64);
        let mix = (t + (per_day - 1.0) * o) / per_day;
        let bound = cores / mix.max(1e-12);
        println!(
            "| serving CPU per run: crossing midnight / not; a day's mix (1 run in {per_day:.0}) → server-bound / ratio | {:.0} / {:.0} µs; {:.0} µs → {bound:.0} runs/s / **{:.3}** |",
            t * 1e6,
            o * 1e6,
            mix * 1e6,
            bound / rate
        );
    }
    println!(
        "| transport alone: `GET /livez`, one per new TLS connection, {} requests in {:.2} s; serve / bench client CPU per request | {:.0} / {:.0} µs (that is {:.0} % of serve's CPU per later run) |",
        args.agents,
        floor_elapsed.as_secs_f64(),
        floor_serve * 1e6,
        floor_client * 1e6,
        100.0 * floor_serve / (cpu_server / n.max(1) as f64).max(1e-12)
    );
    println!(
        "| latency p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    println!(
        "| later runs the writer stored in bulk (`evident_commit_bulk_items_total`) | {bulk} of {n} ({:.0} %) |",
        100.0 * bulk as f64 / n.max(1) as f64
    );
    println!(
        "| the writer's transactions for the later runs (`evident_commit_batches_total`), mean runs in each | {batches}, {:.1} |",
        n as f64 / batches.max(1) as f64
    );
    println!(
        "| later runs evaluated on the day-reading rules alone (`evident_ingest_day_rules_only_total`); blobs they read back from the store | {day_only} of {n} ({:.0} %); {day_read} |",
        100.0 * day_only as f64 / n.max(1) as f64
    );
    println!(
        "| request body on the wire (gzip), mean of later runs | {:.0} B |",
        wire as f64 / n.max(1) as f64
    );
    println!(
        "| database bytes added per later run | **{:.0} B** ({before} → {after}) |",
        after.saturating_sub(before) as f64 / n.max(1) as f64
    );
    println!("| enrollment (straight into the store) | {enroll_s:.1} s |");
    server.finish().await;
    Ok(())
}
