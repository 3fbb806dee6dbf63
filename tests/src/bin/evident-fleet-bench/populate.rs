//! `populate`: write a large signed history straight into a collector's
//! store (no HTTP), to measure read paths (`report`, `export`, `verify`,
//! the API) at 1 M and 10 M statements.
//!
//! The target is a directory made by `evident-collector init` (SQLite or
//! PostgreSQL, from its `config.toml`). The policies are the collector's
//! own and their files are kept as `serve` keeps them, so every stored
//! result cites a stored file and an export verifies. Every statement is
//! signed by its host's key and chained (sequence, previous digest), and
//! its results are a real evaluation of its evidence, shared by content
//! across the fleet through the collector's own key
//! ([`EvalKeys`]: evaluated once per distinct key, as `serve`'s cache does).
//!
//! Hosts advance together, `--chunk` runs at a time: a batch holds
//! `batch / chunk` hosts × `chunk` consecutive runs each, signed and
//! evaluated on every core while the previous batch is written through
//! [`BulkStore::append_batch`](evident_collector::store::BulkStore): runs
//! that only extend their chain with unchanged results are bulk-inserted,
//! every other run goes through the writer's own `ingest_one` (drift,
//! transitions, alerts, fleet and host status), so the store is what
//! `serve` would have written. `--slow` writes through `ingest_batch`
//! instead (one run at a time, the writer's path) for comparison. Memory
//! holds one batch in flight per side.

use crate::fleet::{Host, SignedRun, Spec, Template};
use crate::ingest::enroll;
use anyhow::Result;
use evident_collector::config::Config;
use evident_collector::store::drift::{DriftEval, DriftInput, DriftSettings};
use evident_collector::store::{self, IngestItem, IngestOutcome, Store};
use evident_core::bundle::RecordedResults;
use evident_core::policy::EvalKeys;
use evident_core::{evaluate, sha256_digest, Digest, Evidence, PolicySet};
use std::collections::{BTreeMap, HashMap};
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
    #[arg(long, default_value_t = 4800)]
    batch: usize,
    /// Consecutive runs of one host per batch.
    #[arg(long, default_value_t = 48)]
    chunk: usize,
    /// Collection time of the last run (RFC 3339; default: now).
    #[arg(long)]
    end: Option<chrono::DateTime<chrono::Utc>>,
    /// Agent ids `agt-<index>` instead of random ones (reproducible stores).
    #[arg(long)]
    fixed_ids: bool,
    /// Write one run at a time through `ingest_batch` (the writer's path),
    /// not the bulk path: slower, for comparison.
    #[arg(long)]
    slow: bool,
    #[command(flatten)]
    fleet: crate::FleetArgs,
}

/// One evaluation, shared by every run with the same [`EvalKeys`] key.
struct Eval {
    digest: Digest,
    drift: Arc<DriftEval>,
    /// Its results bytes, until they are handed to the store (then only
    /// the digest is kept: a year of a fleet holds one evaluation per host
    /// and day, ~100 KB of results each).
    bytes: Mutex<Option<Arc<Vec<u8>>>>,
}

struct Ctx<'a> {
    t: &'a Template,
    spec: &'a Spec,
    policies: &'a PolicySet,
    keys: EvalKeys,
    drift: Arc<DriftSettings>,
    /// Evaluations by key (bounded: cleared at 50,000, then re-evaluated;
    /// each host also keeps its current one).
    evals: Mutex<HashMap<Digest, Arc<Eval>>>,
}

/// A host and its last evaluation (key, result).
type Slot = (Host, Option<(Digest, Arc<Eval>)>);

fn evaluate_run(ctx: &Ctx, host: &Host, run: &SignedRun) -> Result<Eval> {
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
        digest: sha256_digest(&bytes),
        bytes: Mutex::new(Some(Arc::new(bytes))),
        drift: Arc::new(DriftEval {
            statuses,
            severities,
            remediation: evident_core::drift::remediations(&results.rules),
        }),
    })
}

fn eval_for(ctx: &Ctx, slot: &mut Slot, run: &SignedRun) -> Result<Arc<Eval>> {
    let key = ctx.keys.key(&run.statement);
    if let Some((k, e)) = &slot.1 {
        if *k == key {
            return Ok(e.clone());
        }
    }
    let cached = ctx
        .evals
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .get(&key)
        .cloned();
    let e = match cached {
        Some(e) => e,
        None => {
            let e = Arc::new(evaluate_run(ctx, &slot.0, run)?);
            let mut map = ctx.evals.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if map.len() >= 50_000 {
                map.clear();
            }
            map.entry(key).or_insert(e).clone()
        }
    };
    slot.1 = Some((key, e.clone()));
    Ok(e)
}

fn item(ctx: &Ctx, slot: &mut Slot) -> Result<IngestItem> {
    let run = slot.0.next(ctx.t, ctx.spec);
    let eval = eval_for(ctx, slot, &run)?;
    let p = &run.statement.predicate;
    let collected_at = p.collected_at.timestamp_millis();
    let results = eval
        .bytes
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .take();
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
        results,
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
    let spec = args.fleet.spec(runs, args.hosts, args.end);
    let started = Instant::now();
    let hosts = enroll(&*db, args.hosts, args.fixed_ids).await?;
    let enroll_s = started.elapsed().as_secs_f64();
    let before = db.storage_bytes().await?;

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<IngestItem>>(2);
    let chunk = args.chunk.max(1);
    let hosts_per_batch = (args.batch / chunk).max(1);
    let producer = std::thread::spawn(move || -> Result<()> {
        let ctx = Ctx {
            t: &t,
            spec: &spec,
            policies: &policies,
            keys: EvalKeys::new(&policies),
            drift,
            evals: Mutex::new(HashMap::new()),
        };
        let mut slots: Vec<Slot> = hosts.into_iter().map(|h| (h, None)).collect();
        let mut done = 0u64;
        while done < runs {
            let n = chunk.min(usize::try_from(runs - done).unwrap_or(chunk));
            for group in slots.chunks_mut(hosts_per_batch) {
                let per_host = crate::par_map(group, |s| {
                    (0..n).map(|_| item(&ctx, s)).collect::<Result<Vec<_>>>()
                });
                let mut items = Vec::with_capacity(group.len() * n);
                for h in per_host {
                    items.extend(h?);
                }
                if tx.blocking_send(items).is_err() {
                    return Ok(());
                }
            }
            done += n as u64;
        }
        Ok(())
    });
    let start = Instant::now();
    let (mut written, mut last_report) = (0u64, Instant::now());
    let total = runs * args.hosts as u64;
    while let Some(items) = rx.recv().await {
        let n = items.len() as u64;
        let outcomes = if args.slow {
            db.ingest_batch(&items).await?.outcomes
        } else {
            db.append_batch(&items).await?
        };
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
    db.refresh_statistics().await?;
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
