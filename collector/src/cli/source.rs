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
    /// From a bundle: its members, restricted to the hosts and time asked
    /// for. From the database: the attesters and attestations only (the
    /// report reads the statements host by host, see [`Loaded::report`]).
    pub members: Members,
    /// The time the report is as of.
    pub now: DateTime<Utc>,
    /// The configuration, when read from a data directory.
    pub config: Option<Config>,
    /// Key id of the collector key that signs (signed) the bundles.
    pub collector_key_id: Option<String>,
    /// Collection times of the first and last statement read (before
    /// `--as-of`).
    pub range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// From the database: where and what to report on.
    db: Option<(super::common::DirArg, review::period::Period)>,
}

/// Read the members from the database or the verified bundle. `cuts`: the
/// other times a report will be restricted to (`--compare`).
pub fn load(src: &SourceArgs, hosts: &[String], cuts: &[DateTime<Utc>]) -> Result<Loaded> {
    let as_of = src
        .as_of
        .as_deref()
        .map(|s| parse_time(s, true))
        .transpose()?;
    let (mut members, end, config, collector_key_id) = match &src.bundle {
        Some(file) => {
            let pins = src.trust.pins()?;
            let bar = progress_bar(0, "verifying");
            let cuts: Vec<DateTime<Utc>> = cuts.iter().copied().chain(as_of).collect();
            let opened = review::trust::open_for_report(
                file,
                &pins,
                &mut |d, t| {
                    bar.set_length(t);
                    bar.set_position(d);
                },
                &cuts,
            );
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
            let f = filter(hosts, src.since.as_deref(), src.until.as_deref())?;
            let rt = runtime()?;
            let (config, period, members, range) = rt.block_on(async {
                let (config, store) = open_store(&src.dir).await?;
                let period = review::period::Period {
                    hosts: f.hosts.clone(),
                    since: Some(
                        f.since
                            .unwrap_or_else(|| super::export::retention_start(&config))
                            .timestamp_millis(),
                    ),
                    until: f.until.map(|t| t.timestamp_millis()),
                };
                let range = review::period::time_range(&*store, &period).await?;
                let members = review::gather::gather_attestations(&*store).await?;
                store.close().await;
                Ok::<_, anyhow::Error>((config, period, members, range))
            })?;
            let key = src.dir.dir.join(review::COLLECTOR_KEY_FILE);
            let key_id = if key.is_file() {
                Some(review::collector_signer(&src.dir.dir)?.key_id().to_string())
            } else {
                None
            };
            let range = range.map(|(a, b)| (ms_time(a), ms_time(b)));
            let mut loaded = Loaded {
                members,
                now: Utc::now(),
                config: Some(config),
                collector_key_id: key_id,
                range,
                db: Some((src.dir.clone(), period)),
            };
            if let Some(t) = as_of {
                check_as_of(t, loaded.now, range)?;
                loaded.restrict_to(t)?;
            }
            return Ok(loaded);
        }
    };
    let range = model::time_range(&members);
    if let Some(t) = as_of {
        check_as_of(t, end, range)?;
    }
    model::restrict(&mut members, hosts, as_of).map_err(anyhow::Error::msg)?;
    Ok(Loaded {
        members,
        now: as_of.unwrap_or(end),
        config,
        collector_key_id,
        range,
        db: None,
    })
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `--as-of` must fall within the evidence.
fn check_as_of(
    t: DateTime<Utc>,
    end: DateTime<Utc>,
    range: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<()> {
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
    Ok(())
}

impl Loaded {
    /// Only the evidence collected at or before `t`: the fleet as it
    /// stood then (and the report is as of `t`).
    pub fn restrict_to(&mut self, t: DateTime<Utc>) -> Result<()> {
        match &mut self.db {
            Some((_, period)) => {
                let t = t.timestamp_millis();
                period.until = Some(period.until.map_or(t, |u| u.min(t)));
            }
            None => model::restrict(&mut self.members, &[], Some(t)).map_err(anyhow::Error::msg)?,
        }
        self.now = t;
        Ok(())
    }

    /// The report over what was loaded: from a bundle's members, or from
    /// the database host by host (memory bounded whatever the period).
    pub fn report(&self, src: &SourceArgs) -> Result<evident_core::report::Report> {
        let opts = model::ReportOptions {
            collector_key_id: self.collector_key_id.clone(),
            sample: src.sample,
            seed: src.seed,
        };
        let Some((dir, period)) = &self.db else {
            return Ok(model::build_report(&self.members, self.now, &opts));
        };
        let mut attestations = model::attestations(&self.members, self.now);
        attestations.retain(|a| a.signed_at <= self.now);
        let rt = runtime()?;
        rt.block_on(async {
            let (_, store) = open_store(dir).await?;
            let r =
                review::period::build_report(&*store, period, &attestations, self.now, &opts).await;
            store.close().await;
            Ok(r?)
        })
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
