//! Evidence-review benchmark: fills a fresh collector data directory with
//! `--hosts` enrolled agents × `--statements` chained, signed statements
//! each (real probe output from a fixture root, evaluated with the bundled
//! policies, stored through the collector's `Store` exactly as ingest
//! stores them), then times `evident-collector export` and
//! `evident-collector verify` as subprocesses.
//!
//! `cargo build --release -p evident-collector -p evident-e2e &&
//!  target/release/evident-review-bench --hosts 1000 --statements 100`

use anyhow::{bail, Context as _, Result};
use clap::Parser;
use evident_collector::store::drift::{DriftEval, DriftInput, DriftSettings};
use evident_collector::store::{self, IngestItem, IngestOutcome, NewAgent, NewToken};
use evident_core::bundle::RecordedResults;
use evident_core::{evaluate, sha256_digest, Evidence, Statement};
use evident_e2e::{bin, collect, fixture_root, Agent};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Export + verify benchmark")]
struct Args {
    /// Enrolled hosts.
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// Statements per host.
    #[arg(long, default_value_t = 100)]
    statements: u64,
    /// Keep the data directory and bundle here instead of a temp dir.
    #[arg(long)]
    keep: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.keep.clone().unwrap_or_else(|| tmp.path().join("data"));
    let d = dir.to_string_lossy().into_owned();
    let init = Command::new(bin("evident-collector"))
        .args(["init", "--dir", &d])
        .output()?;
    if !init.status.success() {
        bail!("init failed: {}", String::from_utf8_lossy(&init.stderr));
    }
    let rt = tokio::runtime::Runtime::new()?;
    let fill = Instant::now();
    let sources = evident_policies::read_sources(&[], None)?;
    let policies = sources.load()?;
    rt.block_on(async {
        let url = format!("sqlite://{}", dir.join("evident.db").display());
        let st = store::open(&url, 2, Duration::from_secs(30)).await?;
        st.create_token(&NewToken {
            id: "bench".into(),
            hash: [7u8; 32],
            created_at: 0,
            expires_at: None,
            max_uses: None,
        })
        .await?;
        // As `serve` does before evaluating: keep the policy files.
        st.keep_policy_files(&evident_collector::review::policy_records(&sources, 0))
            .await?;
        let settings = Arc::new(DriftSettings {
            sinks: Vec::new(),
            flap_window_ms: 6 * 3_600_000,
            flap_threshold: 4,
        });
        let root = fixture_root("bench-host");
        let run = collect(root.path());
        let results_cache = std::collections::HashMap::<
            String,
            (evident_core::Digest, Arc<Vec<u8>>, Arc<DriftEval>),
        >::new();
        let mut results_cache = results_cache;
        for h in 0..args.hosts {
            let mut agent = Agent::new(&format!("host-{h:04}"));
            agent.id = format!("agt_bench{h:06}");
            let key = agent.signer.verifying_key();
            st.enroll(
                &[7u8; 32],
                &NewAgent {
                    id: agent.id.clone(),
                    key_id: agent.signer.key_id().to_string(),
                    public_key: key.as_bytes().to_vec(),
                    hostname: agent.hostname.clone(),
                    agent_version: "0.1.0-bench".into(),
                    status: evident_core::wire::AgentStatus::Active,
                    now: 0,
                },
            )
            .await?;
            let mut items = Vec::new();
            for _ in 0..args.statements {
                let (env, digest) = agent.sign_next(&run);
                let parsed = evident_core::Envelope::from_json(&env)?;
                let statement = Statement::from_bytes(&parsed.payload)?;
                let day = format!(
                    "{}{}",
                    agent.hostname,
                    statement.predicate.collected_at.date_naive()
                );
                let (rd, rbytes, eval) = match results_cache.get(&day) {
                    Some(r) => r.clone(),
                    None => {
                        let ev = Evidence::from_statement(&statement, |d| {
                            run.blobs.get(d).map(Vec::as_slice)
                        })?;
                        let rec = RecordedResults::from_evaluation(evaluate(&policies, &ev));
                        let bytes = serde_json::to_vec(&rec)?;
                        let (statuses, severities) =
                            evident_core::drift::statuses(&rec.rules, &rec.controls);
                        let eval = Arc::new(DriftEval {
                            statuses,
                            severities,
                            remediation: Default::default(),
                        });
                        let r = (sha256_digest(&bytes), Arc::new(bytes), eval);
                        results_cache.insert(day, r.clone());
                        r
                    }
                };
                items.push(IngestItem {
                    agent_id: agent.id.clone(),
                    sequence: i64::try_from(statement.predicate.sequence)?,
                    previous: statement.predicate.previous,
                    declared_gap: None,
                    envelope_digest: digest,
                    envelope: Arc::new(env),
                    collected_at: statement.predicate.collected_at.timestamp_millis(),
                    received_at: statement.predicate.collected_at.timestamp_millis(),
                    // Every host ran on the same fixture: one copy of the blobs.
                    blobs: if h == 0 && items.is_empty() {
                        run.blobs
                            .iter()
                            .map(|(d, b)| (*d, Arc::new(b.clone())))
                            .collect()
                    } else {
                        Vec::new()
                    },
                    results_digest: rd,
                    results: Some(rbytes),
                    // As ingest does: a host's first statement opens its
                    // baseline alert, so the bundle carries the fleet's alerts.
                    drift: Some(Arc::new(DriftInput {
                        eval,
                        interval_seconds: 86_400,
                        settings: settings.clone(),
                    })),
                    vuln: None,
                });
            }
            for o in st.ingest_batch(&items).await?.outcomes {
                if !matches!(o, IngestOutcome::Stored { .. }) {
                    bail!("not stored: {o:?}");
                }
            }
        }
        st.close().await;
        Ok::<_, anyhow::Error>(())
    })?;
    let statements = args.hosts as u64 * args.statements;
    eprintln!(
        "filled {} hosts × {} statements in {:.1}s",
        args.hosts,
        args.statements,
        fill.elapsed().as_secs_f64()
    );
    let db_bytes = std::fs::metadata(dir.join("evident.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    let bundle = dir.join("evidence.bundle");
    let b = bundle.to_string_lossy().into_owned();
    let key_id = evident_collector::review::collector_signer(&dir)?
        .key_id()
        .to_string();
    let export = timed(&["export", "--dir", &d, "-o", &b])?;
    let size = std::fs::metadata(&bundle)?.len();
    let verify = timed(&["verify", &b, "--trust", &key_id])?;
    let report_html = dir.join("report.html");
    let h = report_html.to_string_lossy().into_owned();
    let render = timed(&[
        "report", "--bundle", &b, "--trust", &key_id, "--format", "html", "-o", &h,
    ])?;
    let raw = raw_verify_throughput(&bundle)?;
    println!("hosts: {}, statements: {statements}", args.hosts);
    println!("database: {:.1} MB", db_bytes as f64 / 1e6);
    println!("bundle: {:.1} MB", size as f64 / 1e6);
    for (name, m) in [
        ("export", &export),
        ("verify --trust", &verify),
        ("report --bundle (html)", &render),
    ] {
        println!(
            "{name}: {:.1} s ({:.0} statements/s), peak RSS {:.0} MiB",
            m.seconds,
            statements as f64 / m.seconds,
            m.peak_rss_kib as f64 / 1024.0
        );
    }
    println!(
        "raw strict verify (one core, envelope parse + Ed25519 verify_strict): {raw:.0} envelopes/s; verify reaches {:.0} %",
        statements as f64 / verify.seconds / raw * 100.0
    );
    for line in verify
        .stdout
        .lines()
        .filter(|l| l.starts_with("checked") || l.starts_with("OK"))
    {
        println!("  {line}");
    }
    Ok(())
}

/// A timed subprocess run.
struct Measured {
    seconds: f64,
    peak_rss_kib: u64,
    stdout: String,
}

/// Run `evident-collector ARGS` under `/usr/bin/time -v`: wall time and
/// peak RSS (fails when the command fails).
fn timed(args: &[&str]) -> Result<Measured> {
    let t = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin("evident-collector"))
        .args(args)
        .output()
        .context("running /usr/bin/time -v evident-collector (install `time`)")?;
    let seconds = t.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "{} failed:\n{}\n{}",
            args.first().copied().unwrap_or_default(),
            stdout.lines().take(20).collect::<Vec<_>>().join("\n"),
            stderr
        );
    }
    let peak_rss_kib = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .context("no peak RSS in the /usr/bin/time -v output")?;
    Ok(Measured {
        seconds,
        peak_rss_kib,
        stdout,
    })
}

/// Raw strict-verify throughput on this machine: parse each envelope of the
/// bundle and check its Ed25519 signature strictly, nothing else (one core).
fn raw_verify_throughput(bundle: &std::path::Path) -> Result<f64> {
    use base64::Engine as _;
    let members = evident_collector::review::read_bundle(bundle)?;
    let mut keys = std::collections::HashMap::new();
    for (path, bytes) in members.range("agents/".to_string()..) {
        if !path.starts_with("agents/") {
            break;
        }
        let a: evident_core::bundle::AgentEntry = serde_json::from_slice(bytes)?;
        let raw = base64::engine::general_purpose::STANDARD.decode(a.public_key.as_bytes())?;
        keys.insert(a.id.clone(), evident_core::dsse::parse_public_key(&raw)?);
    }
    let envelopes: Vec<(&String, &Vec<u8>)> = members
        .range("envelopes/".to_string()..)
        .take_while(|(p, _)| p.starts_with("envelopes/"))
        .collect();
    let t = Instant::now();
    let mut n = 0u64;
    for (path, bytes) in &envelopes {
        let agent = path.split('/').nth(1).unwrap_or_default();
        let key = keys.get(agent).context("envelope of an unknown agent")?;
        let env = evident_core::Envelope::from_json(bytes)?;
        env.verify(key, evident_core::evidence::PAYLOAD_TYPE)?;
        n += 1;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64().max(1e-9))
}
