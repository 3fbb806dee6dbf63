//! Where `report`, `soa` and `export --format oscal` read from: the
//! collector's database (`--dir`), or a bundle file verified against the
//! pinned key first (`--bundle FILE --trust KEY`). Both give the same
//! members, restricted the same way (`--host`, `--as-of`), so the same data
//! renders to the same bytes.

use super::common::{open_store, parse_time, runtime, DirArg};
use super::export::filter;
use super::progress::progress_bar;
use super::verify::TrustArgs;
use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use clap::Args;
use evident_collector::config::Config;
use evident_collector::review::{self, model, trust::OpenError, Members};
use std::path::PathBuf;

/// Source arguments.
#[derive(Args, Debug, Clone)]
pub struct SourceArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Render from this evidence bundle instead of the database, after
    /// verifying it (requires --trust).
    #[arg(long, value_name = "FILE", requires = "trust")]
    pub bundle: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// The fleet as it stood at this time (RFC 3339 or YYYY-MM-DD, end of
    /// day): only evidence collected by then. Default: now for the
    /// database, the bundle's creation time for a bundle.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// From the database: only evidence collected at or after this time
    /// (RFC 3339 or YYYY-MM-DD; default: the start of the retention window).
    #[arg(long, conflicts_with = "bundle")]
    pub since: Option<String>,
    /// From the database: only evidence collected at or before this time
    /// (RFC 3339 or YYYY-MM-DD, inclusive).
    #[arg(long, conflicts_with = "bundle")]
    pub until: Option<String>,
    /// Sample this many hosts per control (reproducible; the seed is printed).
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Seed of the sample (default: derived from the evidence, so the same
    /// data gives the same sample).
    #[arg(long, requires = "sample")]
    pub seed: Option<u64>,
}

/// What was read.
pub struct Loaded {
    /// Members, restricted to the hosts and time asked for.
    pub members: Members,
    /// The time the report is as of.
    pub now: DateTime<Utc>,
    /// The configuration, when read from a data directory.
    pub config: Option<Config>,
    /// Key id of the collector key that signs (signed) the bundles.
    pub collector_key_id: Option<String>,
}

/// Read the members from the database or the verified bundle.
pub fn load(src: &SourceArgs, hosts: &[String]) -> Result<Loaded> {
    let as_of = src
        .as_of
        .as_deref()
        .map(|s| parse_time(s, true))
        .transpose()?;
    let (mut members, end, config, collector_key_id) = match &src.bundle {
        Some(file) => {
            let pins = src.trust.pins()?;
            let bar = progress_bar(0, "verifying");
            let opened = review::trust::open_verified(file, &pins, &mut |d, t| {
                bar.set_length(t);
                bar.set_position(d);
            });
            bar.finish_and_clear();
            match opened {
                Ok((members, report)) => {
                    let end = report.created_at.unwrap_or_else(Utc::now);
                    (members, end, None, report.collector_key_id)
                }
                Err(OpenError::Failed { failures, .. }) => {
                    for f in &failures {
                        eprintln!("FAIL {f}");
                    }
                    return Err(Failed(format!(
                        "{}: the bundle does not verify ({} failing check(s)); nothing rendered",
                        file.display(),
                        failures.len()
                    ))
                    .into());
                }
                Err(OpenError::File(e)) => bail!("{e}"),
            }
        }
        None => {
            let mut f = filter(hosts, src.since.as_deref(), src.until.as_deref())?;
            let rt = runtime()?;
            let (config, members) = rt.block_on(async {
                let (config, store) = open_store(&src.dir).await?;
                if f.since.is_none() {
                    f.since = Some(super::export::retention_start(&config));
                }
                let current = config.policy_sources(&src.dir.dir)?;
                let members = review::gather(&*store, &current, &f, |_| {}).await?.members;
                store.close().await;
                Ok::<_, anyhow::Error>((config, members))
            })?;
            let key = src.dir.dir.join(review::COLLECTOR_KEY_FILE);
            let key_id = if key.is_file() {
                Some(review::collector_signer(&src.dir.dir)?.key_id().to_string())
            } else {
                None
            };
            (members, Utc::now(), Some(config), key_id)
        }
    };
    if let Some(t) = as_of {
        let range = model::time_range(&members);
        if t > end {
            bail!(
                "--as-of {} is after the end of the evidence ({})",
                t.to_rfc3339(),
                end.to_rfc3339()
            );
        }
        if let Some((first, _)) = range {
            if t < first {
                bail!(
                    "--as-of {} is before the first evidence ({})",
                    t.to_rfc3339(),
                    first.to_rfc3339()
                );
            }
        }
    }
    model::restrict(&mut members, hosts, as_of).map_err(anyhow::Error::msg)?;
    Ok(Loaded {
        members,
        now: as_of.unwrap_or(end),
        config,
        collector_key_id,
    })
}

impl Loaded {
    /// The report over what was loaded.
    pub fn report(&self, src: &SourceArgs) -> evident_core::report::Report {
        model::build_report(
            &self.members,
            self.now,
            &model::ReportOptions {
                collector_key_id: self.collector_key_id.clone(),
                sample: src.sample,
                seed: src.seed,
            },
        )
    }
}

/// Exit 1 for a bundle that did not verify (the checks are on stderr);
/// other errors go up (exit 2).
pub fn exit_code(e: anyhow::Error) -> Result<std::process::ExitCode> {
    match e.downcast::<Failed>() {
        Ok(f) => {
            eprintln!("error: {f}");
            Ok(std::process::ExitCode::from(1))
        }
        Err(e) => Err(e),
    }
}

/// A bundle that did not verify: exit 1 (findings), not 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);
