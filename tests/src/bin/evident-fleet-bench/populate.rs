//! `populate`: write a large signed history straight into a collector's
//! store (no HTTP), to measure read paths (`report`, `export`, `verify`,
//! the API) at 1 M and 10 M statements.
//!
//! The target is a directory made by `evident-collector init` (SQLite or
//! PostgreSQL, from its `config.toml`). The policies are the collector's
//! own and their files are kept as `serve` keeps them, so every stored
//! result cites a stored file and an export verifies. Every statement is
//! signed by its host's key and chained (sequence, previous digest), and
//! its results are a real evaluation of its evidence (once per host per
//! distinct evidence and day, as the collector's cache does). Hosts go
//! round-robin; signing and evaluation run on every core while the
//! previous batch is written through the store's own `ingest_batch` (the
//! writer's path: drift, transitions and alerts included). Memory holds
//! one batch in flight per side.

use crate::fleet::{Host, SignedRun, Spec, Template};
use crate::ingest::enroll;
use anyhow::{Context as _, Result};
use evident_collector::config::Config;
use evident_collector::store::drift::{DriftEval, DriftInput, DriftSettings};
use evident_collector::store::{self, IngestItem, IngestOutcome, Store};
use evident_core::bundle::RecordedResults;
use evident_core::{evaluate, sha256_digest, Digest, Evidence, PolicySet};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Options of `populate`.
#[derive(clap::Args)]
pub struct PopulateArgs {
    /// A directory made by `evident-collector init` (its database is filled).
    #[arg(long)]
    dir: PathBuf,
    /// Hosts in the fleet.
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// Statements to write in total (runs per host = statements / hosts).
    #[arg(long, default_value_t = 1_000_000)]
    statements: u64,
    /// Statements per store transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    #[command(flatten)]
    fleet: crate::FleetArgs,
}

/// One host's last evaluation (the collector caches by evidence and day).
struct Eval {
    key: [u8; 32],
    digest: Digest,
    bytes: Arc<Vec<u8>>,
    drift: Arc<DriftEval>,
}

struct Ctx<'a> {
    t: &'a Template,
    spec: &'a Spec,
    policies: &'a PolicySet,
    drift: Arc<DriftSettings>,
    /// Results digests already handed to the store (bounded).
    results: Mutex<HashSet<Digest>>,
}

fn evaluate_run(ctx: &Ctx, host: &Host, run: &SignedRun) -> Result<Eval> {
    let p = &run.statement.predicate;
    let mut key_src: Vec<u8> = p.collected_at.date_naive().to_string().into_bytes();
    for e in &p.probes {
        key_src.extend_from_slice(e.id.as_bytes());
        if let Some(d) = e.digest {
            key_src.extend_from_slice(&d.0);
        }
    }
    let key = sha256_digest(&key_src).0;
    let own: BTreeMap<Digest, Vec<u8>> = host.current_blobs(ctx.t, ctx.spec).into_iter().collect();
    let evidence = Evidence::from_statement(&run.statement, |d| {
        own.get(d).or_else(|| ctx.t.blobs.get(d)).map(Vec::as_slice)
    })?;
    let e = evaluate(ctx.policies, &evidence);
    let results = RecordedResults {
        policies: e.policies,
        waivers: e.waivers,
        controls: e.controls,
        rules: e.rules,
        expired_waivers: e.expired_waivers,
        summary: e.summary,
        vulns: None,
    };
    let bytes = serde_json::to_vec(&results)?;
    let (statuses, severities) = evident_core::drift::statuses(&results.rules, &results.controls);
    Ok(Eval {
        key,
        digest: sha256_digest(&bytes),
        bytes: Arc::new(bytes),
        drift: Arc::new(DriftEval {
            statuses,
            severities,
            remediation: Default::default(),
        }),
    })
}

fn item(ctx: &Ctx, slot: &mut (Host, Option<Eval>)) -> Result<IngestItem> {
    let run = slot.0.next(ctx.t, ctx.spec);
    let p = &run.statement.predicate;
    let mut key_src: Vec<u8> = p.collected_at.date_naive().to_string().into_bytes();
    for e in &p.probes {
        key_src.extend_from_slice(e.id.as_bytes());
        if let Some(d) = e.digest {
            key_src.extend_from_slice(&d.0);
        }
    }
    let key = sha256_digest(&key_src).0;
    if slot.1.as_ref().map(|e| e.key) != Some(key) {
        slot.1 = Some(evaluate_run(ctx, &slot.0, &run)?);
    }
    let eval = slot.1.as_ref().context("no evaluation")?;
    let new_results = {
        let mut seen = ctx
            .results
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        if seen.len() > 1_000_000 {
            seen.clear();
        }
        seen.insert(eval.digest)
    };
    let collected_at = p.collected_at.timestamp_millis();
    Ok(IngestItem {
        agent_id: slot.0.agent_id.clone(),
        sequence: i64::try_from(p.sequence)?,
        previous: p.previous,
        declared_gap: None,
        envelope_digest: run.digest,
        collected_at,
        received_at: collected_at + 1500,
        blobs: run
            .new_blobs
            .into_iter()
            .chain(run.content)
            .map(|(d, b)| (d, Arc::new(b)))
            .collect(),
        results_digest: eval.digest,
        results: new_results.then(|| eval.bytes.clone()),
        drift: Some(Arc::new(DriftInput {
            eval: eval.drift.clone(),
            interval_seconds: ctx.spec.interval_s,
            settings: ctx.drift.clone(),
        })),
        vuln: None,
        envelope: Arc::new(run.envelope),
    })
}

/// Fill the store and print what it took.
pub async fn run(args: PopulateArgs) -> Result<()> {
    let config = Config::load(&args.dir)?;
    config.validate()?;
    let sources = config.policy_sources(&args.dir)?;
    let policies = sources.load()?;
    let url = config.database_url(&args.dir);
    let db: Arc<dyn Store> = store::open(&url, 4, Duration::from_secs(60)).await?;
    db.keep_policy_files(&evident_collector::review::policy_records(
        &sources,
        chrono::Utc::now().timestamp_millis(),
    ))
    .await?;
    let drift = evident_collector::alerting::Alerting::new(
        &args.dir,
        &config.drift,
        &config.sinks,
        std::sync::Arc::new(evident_collector::metrics::Metrics::default()),
        config.public_url.clone(),
    )?
    .settings
    .clone();
    let runs = (args.statements / args.hosts.max(1) as u64).max(1);
    let t = Template::new(args.fleet.packages);
    let spec = args.fleet.spec(runs, args.hosts);
    let started = Instant::now();
    let hosts = enroll(&*db, args.hosts).await?;
    let enroll_s = started.elapsed().as_secs_f64();
    let before = db.storage_bytes().await?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<IngestItem>>(2);
    let batch = args.batch.max(1);
    let producer = std::thread::spawn(move || -> Result<()> {
        let ctx = Ctx {
            t: &t,
            spec: &spec,
            policies: &policies,
            drift,
            results: Mutex::new(HashSet::new()),
        };
        let mut slots: Vec<(Host, Option<Eval>)> = hosts.into_iter().map(|h| (h, None)).collect();
        for _ in 0..runs {
            for chunk in slots.chunks_mut(batch) {
                let items = crate::par_map(chunk, |s| item(&ctx, s));
                let items = items.into_iter().collect::<Result<Vec<_>>>()?;
                if tx.blocking_send(items).is_err() {
                    return Ok(());
                }
            }
        }
        Ok(())
    });
    let start = Instant::now();
    let (mut written, mut last_report) = (0u64, Instant::now());
    let total = runs * args.hosts as u64;
    while let Some(items) = rx.recv().await {
        let n = items.len() as u64;
        let outcomes = db.ingest_batch(&items).await?;
        if let Some(bad) = outcomes
            .iter()
            .find(|o| !matches!(o, IngestOutcome::Stored { .. }))
        {
            anyhow::bail!("the store did not take a statement: {bad:?}");
        }
        written += n;
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "{written}/{total} statements, {:.0} /s",
                written as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the signing thread panicked"))??;
    let elapsed = start.elapsed().as_secs_f64();
    let after = db.storage_bytes().await?;
    db.close().await;
    println!("## Populate ({} hosts × {runs} runs)", args.hosts);
    println!();
    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| database | {} |",
        evident_collector::server::redact_url(&url)
    );
    println!(
        "| statements written | {written} in {elapsed:.1} s ({:.0} /s) |",
        written as f64 / elapsed
    );
    println!(
        "| database bytes | {before} → {after} ({:.0} B per statement) |",
        after.saturating_sub(before) as f64 / written.max(1) as f64
    );
    println!("| enrollment | {enroll_s:.1} s |");
    Ok(())
}
