//! `report` and `soa`: the review report (per control and per host) and the
//! Statement of Applicability, as Markdown, self-contained HTML (inline SVG
//! charts, print styles), JSON or CSV.

use super::export::{filter, open_store, runtime};
use super::server::DirArg;
use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use evident_collector::review;
use evident_core::bundle::{self, Index, RecordedResults};
use evident_core::report::{self, HostHistory, Report, SoaFile, SoaRow};
use evident_core::{Catalog, Envelope, Statement};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Output format of `report` and `soa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Markdown.
    Markdown,
    /// One self-contained HTML file.
    Html,
    /// JSON.
    Json,
    /// CSV (one row per control).
    Csv,
}

/// `report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Only these hosts (host name or agent id; repeatable).
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Output file (default: standard output).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

/// `soa`.
#[derive(Args, Debug)]
pub struct SoaArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Exclusions with justifications (default: `soa.toml` in the data
    /// directory or the policy directories, else every control applies).
    #[arg(long)]
    pub soa: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Output file (default: standard output).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

/// Build the report from the store.
fn load_report(
    dir: &DirArg,
    hosts: &[String],
) -> Result<(Report, evident_collector::config::Config)> {
    let f = filter(hosts, None, None)?;
    let rt = runtime()?;
    let (config, members) = rt.block_on(async {
        let (config, store) = open_store(dir).await?;
        let current = config.policy_sources(&dir.dir)?;
        let members = review::gather(&*store, &current, &f, |_| {}).await?.members;
        store.close().await;
        Ok::<_, anyhow::Error>((config, members))
    })?;
    let attestations = bundle::check_attestations(
        &members,
        chrono::Utc::now().date_naive(),
        &mut bundle::Report::default(),
    );
    let histories = histories(&members);
    let r = report::build(
        Catalog::annex_a(),
        &histories,
        &attestations,
        chrono::Utc::now(),
    );
    Ok((r, config))
}

/// Per-host histories from a bundle's members.
pub fn histories(members: &BTreeMap<String, Vec<u8>>) -> Vec<HostHistory> {
    let index: Index = members
        .get(bundle::INDEX_PATH)
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default();
    let mut results: HashMap<evident_core::Digest, Option<Arc<RecordedResults>>> = HashMap::new();
    let mut out: BTreeMap<String, HostHistory> = BTreeMap::new();
    for e in &index.statements {
        let r = results
            .entry(e.results)
            .or_insert_with(|| {
                members
                    .get(&bundle::results_path(&e.results))
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .map(Arc::new)
            })
            .clone();
        let Some(r) = r else { continue };
        let h = out.entry(e.agent.clone()).or_insert_with(|| {
            let hostname = members
                .get(&bundle::agent_path(&e.agent))
                .and_then(|b| serde_json::from_slice::<bundle::AgentEntry>(b).ok())
                .map(|a| a.hostname)
                .unwrap_or_else(|| e.agent.clone());
            HostHistory {
                agent: e.agent.clone(),
                hostname,
                interval_seconds: 0,
                statements: Vec::new(),
            }
        });
        h.statements.push((e.collected_at, e.sequence, r));
    }
    for h in out.values_mut() {
        h.statements.sort_by_key(|(_, s, _)| *s);
        if let Some((_, seq, _)) = h.statements.last() {
            let st = members
                .get(&bundle::envelope_path(&h.agent, *seq))
                .and_then(|b| Envelope::from_json(b).ok())
                .and_then(|env| Statement::from_bytes(&env.payload).ok());
            h.interval_seconds = st
                .map(|s| s.predicate.schedule.interval_seconds)
                .unwrap_or(86_400);
        }
    }
    out.into_values().collect()
}

fn emit(output: &Option<PathBuf>, bytes: &[u8]) -> Result<()> {
    match output {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(bytes)?;
            Ok(())
        }
    }
}

/// `report`.
pub fn run_report(args: &ReportArgs) -> Result<ExitCode> {
    let (r, _) = load_report(&args.dir, &args.hosts)?;
    let out = match args.format {
        Format::Json => serde_json::to_vec_pretty(&r)?,
        Format::Csv => report_csv(&r).into_bytes(),
        Format::Markdown => report_markdown(&r).into_bytes(),
        Format::Html => super::html::report(&r).into_bytes(),
    };
    emit(&args.output, &out)?;
    Ok(ExitCode::SUCCESS)
}

/// `soa`.
pub fn run_soa(args: &SoaArgs) -> Result<ExitCode> {
    let (r, config) = load_report(&args.dir, &[])?;
    let path = match &args.soa {
        Some(p) => Some(p.clone()),
        None => std::iter::once(args.dir.dir.join("soa.toml"))
            .chain(config.policy_paths.iter().map(|p| {
                evident_collector::config::Config::path(&args.dir.dir, p).join("soa.toml")
            }))
            .find(|p| p.is_file()),
    };
    let file = match &path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            SoaFile::parse(&text, Catalog::annex_a())
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => SoaFile::default(),
    };
    let rows = report::soa(&r, &file);
    let out = match args.format {
        Format::Json => serde_json::to_vec_pretty(&rows)?,
        Format::Csv => soa_csv(&rows).into_bytes(),
        Format::Markdown => soa_markdown(&rows, &r).into_bytes(),
        Format::Html => super::html::soa(&rows, &r).into_bytes(),
    };
    emit(&args.output, &out)?;
    Ok(ExitCode::SUCCESS)
}

/// A CSV field.
pub fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn fmt_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Age in a short human form.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h", s / 3600)
    } else {
        format!("{}d", s / 86_400)
    }
}

fn hosts_cell(h: &BTreeMap<String, usize>) -> String {
    h.iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn report_csv(r: &Report) -> String {
    let mut out = String::from(
        "control,title,theme,status,hosts,rules,failing,waivers,attestations,oldest_evidence\n",
    );
    for c in &r.controls {
        let failing: Vec<String> = c
            .failures
            .iter()
            .map(|f| format!("{}:{}", f.host, f.rule))
            .collect();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            csv(&c.id),
            csv(&c.title),
            c.theme.as_str(),
            csv(&c.status),
            csv(&hosts_cell(&c.hosts)),
            csv(&c.rules.join(" ")),
            csv(&failing.join(" ")),
            c.waivers.len(),
            c.attestations.iter().filter(|a| a.current).count(),
            c.oldest_evidence
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        );
    }
    out
}

fn report_markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Evident review report\n");
    let _ = writeln!(
        o,
        "Generated {}. {} hosts.\n",
        fmt_time(r.generated_at),
        r.hosts.len()
    );
    let _ = writeln!(o, "## Controls by status\n");
    for (s, n) in &r.status_counts {
        let _ = writeln!(o, "- {s}: {n}");
    }
    let _ = writeln!(o, "\n## Coverage by theme\n\n| theme | controls | covered | satisfied |\n| --- | ---: | ---: | ---: |");
    for t in &r.themes {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            t.theme.as_str(),
            t.controls,
            t.covered,
            t.satisfied
        );
    }
    let _ = writeln!(o, "\n## Hosts\n\n| host | agent | last evidence | age | fresh | pass | fail | waived | failing rules |\n| --- | --- | --- | ---: | --- | ---: | ---: | ---: | --- |");
    for h in &r.hosts {
        let n = |k: &str| h.rules.get(k).copied().unwrap_or(0);
        let failing: Vec<String> = h
            .failing_rules
            .iter()
            .map(|f| format!("{} ({})", f.id, f.status.as_str()))
            .collect();
        let _ = writeln!(
            o,
            "| {} | {} | {} (seq {}) | {} | {} | {} | {} | {} | {} |",
            md(&h.hostname),
            h.agent,
            fmt_time(h.last_collected),
            h.last_sequence,
            age(h.age_seconds),
            if h.fresh { "yes" } else { "**stale**" },
            n("pass"),
            n("fail"),
            n("waived"),
            md(&failing.join(", "))
        );
    }
    let _ = writeln!(o, "\n## Controls\n\n| control | title | status | hosts | failing | waivers | attestations |\n| --- | --- | --- | --- | --- | --- | --- |");
    for c in &r.controls {
        let failing: Vec<String> = c
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.host, f.rule))
            .collect();
        let waivers: Vec<String> = c
            .waivers
            .iter()
            .map(|w| format!("until {} ({})", w.expires, w.approver))
            .collect();
        let atts: Vec<String> = c
            .attestations
            .iter()
            .map(|a| {
                format!(
                    "{} until {}{}",
                    a.attester,
                    a.expires,
                    if a.current { "" } else { " (expired)" }
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            c.id,
            md(&c.title),
            c.status,
            hosts_cell(&c.hosts),
            md(&failing.join(", ")),
            md(&waivers.join(", ")),
            md(&atts.join(", "))
        );
    }
    o
}

fn soa_csv(rows: &[SoaRow]) -> String {
    let mut out = String::from(
        "control,title,theme,applicable,justification,implementation,status,evidence\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            csv(&r.id),
            csv(&r.title),
            r.theme.as_str(),
            if r.applicable { "yes" } else { "no" },
            csv(&r.justification),
            csv(&r.implementation),
            csv(&r.status),
            csv(&r.evidence.join("; "))
        );
    }
    out
}

fn soa_markdown(rows: &[SoaRow], r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Statement of Applicability (ISO/IEC 27001:2022 Annex A)\n"
    );
    let _ = writeln!(
        o,
        "Generated {} from {} hosts.\n",
        fmt_time(r.generated_at),
        r.hosts.len()
    );
    let _ = writeln!(o, "| control | title | applicable | justification | implementation | evidence |\n| --- | --- | --- | --- | --- | --- |");
    for x in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            x.id,
            md(&x.title),
            if x.applicable { "yes" } else { "no" },
            md(&x.justification),
            x.implementation,
            md(&x.evidence.join("; "))
        );
    }
    o
}
