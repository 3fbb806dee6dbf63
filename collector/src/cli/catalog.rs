//! `evident-collector catalog`: list the Annex A controls.

use clap::{Args, ValueEnum};
use evident_core::Catalog;
use std::process::ExitCode;

/// Output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Aligned text.
    Table,
    /// A JSON array of {id, title, theme}.
    Json,
}

/// Arguments of `catalog`.
#[derive(Args)]
pub struct CatalogArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

/// Print the catalog.
pub fn run(args: &CatalogArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::annex_a();
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(catalog.controls())?),
        Format::Table => {
            for c in catalog.controls() {
                println!("{:<7} {:<14} {}", c.id, c.theme.as_str(), c.title);
            }
            println!("{} controls", catalog.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}
