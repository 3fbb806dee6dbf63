//! `isms`: the documented information of the ISMS (clauses 4–10): which
//! required documents exist, who attested them, which are missing or
//! expired.

use super::framework::checklist;
use super::report::{emit, Format};
use super::source::{self, SourceArgs};
use anyhow::Result;
use clap::Args;
use evident_collector::review::render;
use std::path::PathBuf;
use std::process::ExitCode;

/// `isms`.
#[derive(Args, Debug)]
pub struct IsmsArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Markdown)]
    pub format: Format,
    /// Output file (default: standard output).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

/// `isms`: which required documents exist, who attested them, which are
/// missing or expired.
pub fn run_isms(args: &IsmsArgs) -> Result<ExitCode> {
    let loaded = match source::load(&args.source, &[], &[]) {
        Ok(l) => l,
        Err(e) => return source::exit_code(e),
    };
    let rows = checklist(&loaded);
    emit(
        &args.output,
        &render::framework::isms(&rows, loaded.now, args.format.into()),
    )?;
    Ok(ExitCode::SUCCESS)
}
