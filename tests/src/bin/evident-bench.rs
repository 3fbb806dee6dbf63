//! Load benchmark of the collector: starts the real `evident-collector serve`
//! (found next to this binary) on 127.0.0.1 with a fresh data directory,
//! enrolls many fake agents, signs realistic bundles from real probe output
//! (fixture root), posts them over HTTPS with many keep-alive connections,
//! and reports bundles/s, p50/p99 latency, the raw Ed25519 verification rate
//! of this machine, and database bytes added per unchanged bundle.
//!
//! `cargo build --release -p evident-collector -p evident-e2e &&
//!  target/release/evident-bench --backend sqlite`

use anyhow::{bail, Result};
use clap::Parser;
use evident_collector::store;
use evident_core::dsse::parse_public_key;
use evident_core::Envelope;
use evident_e2e::{collect, fixture_root, request, Agent, Backend, Server};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Collector load benchmark")]
struct Args {
    /// sqlite or postgres.
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Fake agents.
    #[arg(long, default_value_t = 500)]
    agents: usize,
    /// Bundles per agent (the first carries all blobs; the rest are unchanged runs).
    #[arg(long, default_value_t = 41)]
    bundles: usize,
    /// Concurrent HTTPS connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Collector config lines `KEY=VALUE` (repeatable), e.g.
    /// `sqlite_synchronous="normal"` to compare durability settings.
    #[arg(long = "config")]
    config: Vec<String>,
}

fn verify_rate(agent: &Agent, run: &evident_e2e::Run) -> f64 {
    let env =
        Envelope::from_json(&agent.sign_at(run, 1, None)).unwrap_or_else(|_| std::process::exit(2));
    let key = agent.signer.verifying_key();
    let key = parse_public_key(key.as_bytes()).unwrap_or(key);
    evident_e2e::strict_verify_rate(&env, &key)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted
        .get(i)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

async fn post_all(
    server: &Arc<Server>,
    work: Vec<Vec<Vec<u8>>>,
    connections: usize,
) -> Result<(Duration, Vec<Duration>)> {
    let work = Arc::new(work);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let server = server.clone();
        let work = work.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(bodies) = work.get(i) else { break };
                for body in bodies {
                    let t = Instant::now();
                    let r = server.post_raw(body.clone()).await;
                    let s = r.status().as_u16();
                    let _ = r.bytes().await;
                    if s != 201 && s != 200 {
                        return Err(anyhow::anyhow!("status {s}"));
                    }
                    lat.push(t.elapsed());
                }
            }
            Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    all.sort();
    Ok((elapsed, all))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let backend = match args.backend.as_str() {
        "sqlite" => Backend::Sqlite,
        "postgres" => Backend::Postgres,
        other => bail!("unknown backend {other}"),
    };
    if args.bundles < 2 {
        bail!("--bundles must be at least 2");
    }
    let root = fixture_root("bench-host");
    let run = collect(root.path());
    let blob_bytes: usize = run.blobs.values().map(Vec::len).sum();

    let probe_agent = Agent::new("probe");
    let rate = verify_rate(&probe_agent, &run);

    // 500 agents enroll from one address: lift the per-address limit.
    let mut edits: Vec<(&str, &str)> = vec![("limits.enroll_attempts_per_minute", "1000000")];
    edits.extend(args.config.iter().filter_map(|kv| kv.split_once('=')));
    let Some(server) = Server::start(backend, &edits).await else {
        bail!("PostgreSQL unreachable");
    };
    let server = Arc::new(server);
    let db_url = match &server.pg {
        Some(pg) => pg.url.clone(),
        None => format!(
            "sqlite://{}",
            server.dir.path().join("evident.db").display()
        ),
    };

    // Enroll and pre-sign everything (signing is the agents' cost, not the collector's).
    let mut first = Vec::new();
    let mut rest = Vec::new();
    let mut statement_bytes = 0usize;
    for i in 0..args.agents {
        let mut agent = Agent::new(&format!("bench-{i:05}"));
        agent.enroll(&server).await;
        let (env, _) = agent.sign_next(&run);
        first.push(vec![serde_json::to_vec(&request(&env, &run, true))?]);
        let mut bodies = Vec::new();
        for _ in 1..args.bundles {
            let (env, _) = agent.sign_next(&run);
            statement_bytes = env.len();
            bodies.push(serde_json::to_vec(&request(&env, &run, false))?);
        }
        rest.push(bodies);
    }
    let unchanged: usize = rest.iter().map(Vec::len).sum();
    let body_bytes = rest
        .first()
        .and_then(|b| b.first())
        .map(Vec::len)
        .unwrap_or(0);

    let (t_first, _) = post_all(&server, first, args.connections).await?;
    let db = store::open(&db_url, 2, Duration::from_secs(10)).await?;
    let before = db.storage_bytes().await?;
    let (elapsed, lat) = post_all(&server, rest, args.connections).await?;
    let after = db.storage_bytes().await?;
    db.close().await;

    let rate_unchanged = unchanged as f64 / elapsed.as_secs_f64();
    println!(
        "## Collector load benchmark ({}{})",
        args.backend,
        if args.config.is_empty() {
            String::new()
        } else {
            format!(", {}", args.config.join(" "))
        }
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
    println!("| raw Ed25519 verify_strict of one envelope (1 core) | {rate:.0} /s |");
    println!(
        "| agents × bundles | {} × {} (first with {} blobs, {} bytes of probe data) |",
        args.agents,
        args.bundles,
        run.blobs.len(),
        blob_bytes
    );
    println!("| concurrent HTTPS connections | {} |", args.connections);
    println!(
        "| first bundles (all blobs) | {} in {:.2} s |",
        args.agents,
        t_first.as_secs_f64()
    );
    println!("| unchanged bundles, end to end | **{rate_unchanged:.0} bundles/s** ({unchanged} in {:.2} s) |", elapsed.as_secs_f64());
    println!(
        "| latency p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0)
    );
    println!(
        "| envelope / request body per unchanged bundle | {statement_bytes} / {body_bytes} bytes |"
    );
    println!(
        "| database bytes added per unchanged bundle | **{:.0} bytes** ({} → {} bytes) |",
        after.saturating_sub(before) as f64 / unchanged as f64,
        before,
        after
    );
    if let Ok(server) = Arc::try_unwrap(server) {
        server.finish().await;
    }
    Ok(())
}
