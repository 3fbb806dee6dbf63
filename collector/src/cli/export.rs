//! `export`: one self-contained, signed evidence bundle (or OSCAL
//! assessment-results JSON) from the store `serve` writes to.

use super::common::{open_store, parse_time, runtime, DirArg};
use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use evident_collector::review::{self, ExportFilter};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A signed evidence bundle (tar + zstd) for `evident-collector verify`.
    Bundle,
    /// OSCAL 1.0.6 assessment-results JSON.
    Oscal,
}

/// `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Only these hosts (host name or agent id; repeatable).
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Only statements collected at or after this time (RFC 3339 or
    /// YYYY-MM-DD). Default: the start of the retention window
    /// (`[retention] keep_days` before now).
    #[arg(long)]
    pub since: Option<String>,
    /// Only statements collected at or before this time (RFC 3339 or YYYY-MM-DD, inclusive).
    #[arg(long)]
    pub until: Option<String>,
    /// Output file.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Bundle)]
    pub format: ExportFormat,
    /// With `--format oscal`: render from this evidence bundle instead of
    /// the database, after verifying it (requires --trust).
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub trust: super::verify::TrustArgs,
}

pub(crate) fn filter(
    hosts: &[String],
    since: Option<&str>,
    until: Option<&str>,
) -> Result<ExportFilter> {
    Ok(ExportFilter {
        hosts: hosts.to_vec(),
        since: since.map(|s| parse_time(s, false)).transpose()?,
        until: until.map(|s| parse_time(s, true)).transpose()?,
    })
}

/// The start of the retention window: the default period of `export`,
/// `report`, `soa` and OSCAL from the database.
pub(crate) fn retention_start(
    config: &evident_collector::config::Config,
) -> chrono::DateTime<chrono::Utc> {
    let now = evident_collector::clock::Clock::from_env().now_ms();
    chrono::DateTime::from_timestamp_millis(config.retention.cutoff(now)).unwrap_or_default()
}

/// `export --format oscal --bundle FILE --trust KEY`: OSCAL from a verified bundle.
fn oscal_from_bundle(args: &ExportArgs, file: &std::path::Path) -> Result<ExitCode> {
    if args.format != ExportFormat::Oscal {
        bail!("--bundle is only for --format oscal (the file is already a bundle)");
    }
    if !args.hosts.is_empty() || args.since.is_some() || args.until.is_some() {
        bail!("--host, --since and --until select from the database; a bundle is rendered whole");
    }
    let pins = args.trust.pins()?;
    match review::trust::open_for_report(file, &pins, &mut |_, _| {}, &[]) {
        Ok((members, _)) => {
            let doc = review::render::oscal::document(&members, chrono::Utc::now());
            std::fs::write(&args.output, doc)
                .with_context(|| format!("writing {}", args.output.display()))?;
            eprintln!(
                "wrote OSCAL assessment results to {}",
                args.output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(review::trust::OpenError::Failed { failures, .. }) => {
            for f in &failures {
                eprintln!("FAIL {f}");
            }
            eprintln!(
                "error: {}: the bundle does not verify ({} failing check(s)); nothing rendered",
                file.display(),
                failures.len()
            );
            Ok(ExitCode::from(1))
        }
        Err(review::trust::OpenError::File(e)) => Err(e.into()),
    }
}

fn warn_missing(missing: &[String]) {
    for m in missing {
        eprintln!(
            "warning: exported results cite policy file {m}, which this collector no longer has; verify will report the statements concerned"
        );
    }
}

/// `export`.
pub fn run(args: ExportArgs) -> Result<ExitCode> {
    if let Some(file) = &args.bundle {
        return oscal_from_bundle(&args, file);
    }
    let started = Instant::now();
    let mut filter = filter(&args.hosts, args.since.as_deref(), args.until.as_deref())?;
    let rt = runtime()?;
    let (config, store) = rt.block_on(open_store(&args.dir))?;
    if filter.since.is_none() {
        filter.since = Some(retention_start(&config));
    }
    let current = config.policy_sources(&args.dir.dir)?;
    let bar = super::progress::progress_bar(0, "reading");
    match args.format {
        ExportFormat::Oscal => {
            // Streamed from the database: one walk to prepare, a second
            // writing one observation per statement (no bundle gathered).
            let period = review::period::Period {
                hosts: filter.hosts.clone(),
                since: filter.since.map(|t| t.timestamp_millis()),
                until: filter.until.map(|t| t.timestamp_millis()),
            };
            let prepared = rt.block_on(review::oscal_period::prepare(
                &*store,
                &current,
                &period,
                chrono::Utc::now(),
            ));
            let prepared = match prepared {
                Ok(p) => p,
                Err(e) => {
                    bar.finish_and_clear();
                    rt.block_on(store.close());
                    return Err(e.into());
                }
            };
            warn_missing(&prepared.missing_policies);
            let written = super::report::emit_with(&Some(args.output.clone()), &mut |out| {
                prepared.write(
                    &mut |each| {
                        for agent in prepared.agents() {
                            let mut after = None;
                            loop {
                                let page = rt
                                    .block_on(review::oscal_period::rows(
                                        &*store, agent, &period, after,
                                    ))
                                    .map_err(std::io::Error::other)?;
                                for e in &page {
                                    each(e)?;
                                }
                                bar.inc(page.len() as u64);
                                after = page
                                    .last()
                                    .map(|e| i64::try_from(e.sequence).unwrap_or(i64::MAX));
                                if page.len() < review::oscal_period::PAGE {
                                    break;
                                }
                            }
                        }
                        Ok(())
                    },
                    out,
                )
            });
            bar.finish_and_clear();
            rt.block_on(store.close());
            written?;
            eprintln!(
                "wrote OSCAL assessment results to {}",
                args.output.display()
            );
        }
        ExportFormat::Bundle => {
            let signer = review::collector_signer(&args.dir.dir)?;
            let exported = rt.block_on(review::export::export_bundle(
                &*store,
                &current,
                &filter,
                &args.output,
                &review::export::Seal {
                    signer: &signer,
                    created_at: chrono::Utc::now(),
                    generator: concat!("evident-collector ", env!("CARGO_PKG_VERSION")),
                },
                |n| bar.inc(n),
            ));
            bar.finish_and_clear();
            rt.block_on(store.close());
            let e = exported?;
            warn_missing(&e.missing_policies);
            eprintln!(
                "wrote {} ({} members: {} envelopes from {} hosts, {} bytes) in {:.1}s",
                args.output.display(),
                e.members,
                e.envelopes,
                e.hosts,
                e.size,
                started.elapsed().as_secs_f64()
            );
            eprintln!("manifest signed by collector key {}", signer.key_id());
        }
    }
    Ok(ExitCode::SUCCESS)
}
