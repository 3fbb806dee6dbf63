//! `report` and `soa`: argument handling around [`review`]: the review
//! report (per control and per host) and the Statement of Applicability, as
//! Markdown, self-contained HTML, JSON or CSV.

use super::framework::{self as fw, FrameworkArgs};
use super::source::{self, SourceArgs};
use anyhow::{Context as _, Result};
use clap::{Args, ValueEnum};
use evident_collector::review::{self, render};
use evident_core::report;
use std::path::PathBuf;
use std::process::ExitCode;

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

impl From<Format> for render::Format {
    fn from(f: Format) -> render::Format {
        match f {
            Format::Markdown => render::Format::Markdown,
            Format::Html => render::Format::Html,
            Format::Json => render::Format::Json,
            Format::Csv => render::Format::Csv,
        }
    }
}

/// `report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only these hosts (host name or agent id; repeatable).
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Report on this framework instead (`nist-csf-2.0`, `nist-sp800-53r5`,
    /// or the id of a loaded mapping): each requirement's derived status
    /// and the gaps.
    #[arg(long, value_name = "ID")]
    pub framework: Option<String>,
    #[command(flatten)]
    pub frameworks: FrameworkArgs,
    /// Only controls carrying this ISO/IEC 27002 attribute value, e.g.
    /// `#Detective` (repeatable: all of them; needs --attributes).
    /// (Not with --framework: a requirement is derived from all its controls.)
    #[arg(long = "attribute", value_name = "VALUE", conflicts_with = "framework")]
    pub attribute: Vec<String>,
    /// Controls grouped by the values of this attribute type instead
    /// (control_type, properties, concepts, capabilities, domains).
    #[arg(long, value_name = "TYPE", conflicts_with = "framework")]
    pub group_by: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Output file (default: standard output).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// What changed between two dates (RFC 3339 or YYYY-MM-DD, end of day):
    /// per control and per rule, hosts newly failing, fixed and still
    /// failing, with the statement each side rests on.
    #[arg(long, num_args = 2, value_names = ["DATE1", "DATE2"], conflicts_with = "as_of")]
    pub compare: Option<Vec<String>>,
}

/// `soa`.
#[derive(Args, Debug)]
pub struct SoaArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Exclusions with justifications (default: `soa.toml` in the data
    /// directory or the policy directories, else every control applies;
    /// with --bundle, only this file).
    #[arg(long)]
    pub soa: Option<PathBuf>,
    #[command(flatten)]
    pub frameworks: FrameworkArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Output file (default: standard output).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

/// Write `bytes` to `output` (or standard output).
pub fn emit(output: &Option<PathBuf>, bytes: &[u8]) -> Result<()> {
    match output {
        Some(p) => std::fs::write(p, bytes).with_context(|| format!("writing {}", p.display())),
        None => {
            use std::io::Write as _;
            std::io::stdout().write_all(bytes)?;
            Ok(())
        }
    }
}

/// Write to `output` (or standard output) through `write`, buffered: a
/// large report goes out as it is rendered, never whole in memory.
pub fn emit_with(
    output: &Option<PathBuf>,
    write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    use std::io::Write as _;
    match output {
        Some(p) => {
            let file =
                std::fs::File::create(p).with_context(|| format!("writing {}", p.display()))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            write(&mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("writing {}", p.display()))
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            write(&mut out).and_then(|()| out.flush())?;
            Ok(())
        }
    }
}

/// `report`.
pub fn run_report(args: &ReportArgs) -> Result<ExitCode> {
    let cuts = match &args.compare {
        Some(dates) => dates
            .iter()
            .map(|d| super::common::parse_time(d, true))
            .collect::<Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    let loaded = match source::load(&args.source, &args.hosts, &cuts) {
        Ok(l) => l,
        Err(e) => return source::exit_code(e),
    };
    if let Some(dates) = &args.compare {
        return run_compare(args, loaded, dates);
    }
    let mut r = loaded.report(&args.source)?;
    let attrs = args.frameworks.attributes(&loaded, &args.source)?;
    if !args.attribute.is_empty() || args.group_by.is_some() {
        let Some(a) = &attrs else {
            anyhow::bail!(
                "--attribute and --group-by need --attributes FILE (or `attributes` in the config)"
            );
        };
        let values = review::framework::attribute_values(&args.attribute)?;
        review::framework::filter_report(&mut r, a, &values);
        if let Some(ty) = &args.group_by {
            let g = review::framework::group_report(&r, a, ty)?;
            emit(
                &args.output,
                &render::framework::groups(&g, ty, args.format.into()),
            )?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    if let Some(id) = &args.framework {
        let set = args.frameworks.frameworks(&loaded, &args.source)?;
        let Some(f) = set.get(id) else {
            anyhow::bail!(
                "unknown framework `{id}` (loaded: {})",
                set.ids().join(", ")
            );
        };
        let rows = fw::checklist(&loaded);
        let out = evident_core::framework::derive(f, &r, &rows);
        emit(
            &args.output,
            &render::framework::framework(&out, args.format.into()),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    emit_with(&args.output, &mut |out| {
        render::write_report(&r, args.format.into(), out)
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `report --compare DATE1 DATE2`: the report as of each date, compared.
fn run_compare(
    args: &ReportArgs,
    mut loaded: source::Loaded,
    dates: &[String],
) -> Result<ExitCode> {
    let mut times = dates
        .iter()
        .map(|d| super::common::parse_time(d, true))
        .collect::<Result<Vec<_>>>()?;
    times.sort();
    let (Some(&from), Some(&to)) = (times.first(), times.last()) else {
        anyhow::bail!("--compare needs two dates");
    };
    let range = loaded.range;
    for t in [from, to] {
        if t > loaded.now {
            anyhow::bail!(
                "--compare {} is after the end of the evidence ({})",
                t.to_rfc3339(),
                loaded.now.to_rfc3339()
            );
        }
        if let Some((first, _)) = range {
            if t < first {
                anyhow::bail!(
                    "--compare {} is before the first evidence ({})",
                    t.to_rfc3339(),
                    first.to_rfc3339()
                );
            }
        }
    }
    // The later date first: restricting the index to a time only drops
    // statements, so the earlier restriction applies to the same members.
    let mut report_at = |t| -> Result<report::Report> {
        loaded.restrict_to(t)?;
        loaded.report(&args.source)
    };
    let after = report_at(to)?;
    let before = report_at(from)?;
    let c = report::compare(&before, &after)?;
    let bytes = render::comparison(&c, args.format.into()).map_err(anyhow::Error::msg)?;
    emit(&args.output, &bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// `soa`.
pub fn run_soa(args: &SoaArgs) -> Result<ExitCode> {
    let loaded = match source::load(&args.source, &[], &[]) {
        Ok(l) => l,
        Err(e) => return source::exit_code(e),
    };
    let r = loaded.report(&args.source)?;
    let path = match &loaded.config {
        Some(config) => review::soa::locate(args.soa.as_deref(), &args.source.dir.dir, config),
        None => args.soa.clone(),
    };
    let file = review::soa::load(path.as_deref())?;
    let mut rows = report::soa(&r, &file);
    let set = args.frameworks.frameworks(&loaded, &args.source)?;
    review::framework::annotate_soa(&mut rows, &set);
    let isms = fw::checklist(&loaded);
    let out = render::framework::soa_with_isms(
        render::soa(&rows, &r, args.format.into()),
        &isms,
        args.format.into(),
    );
    emit(&args.output, &out)?;
    Ok(ExitCode::SUCCESS)
}
