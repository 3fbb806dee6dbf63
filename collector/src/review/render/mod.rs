//! Renderers of the review report and the Statement of Applicability, one
//! module per output format; each takes the core models and returns bytes.
//! OSCAL is rendered from the bundle members (it cites every statement).

mod alerts;
mod compare;
mod csv;
pub mod framework;
mod html;
mod html_audit;
mod json;
mod markdown;
pub mod oscal;
mod spool;
mod text;
mod vulns;

use evident_core::report::{Comparison, Report, SoaRow};

/// Output format of `report` and `soa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown.
    Markdown,
    /// One self-contained HTML file (inline CSS and SVG, no scripts).
    Html,
    /// JSON.
    Json,
    /// CSV (one row per control).
    Csv,
}

/// Write the review report to `out`. The host rows are read one at a time
/// (a report built from the database keeps them in a temporary file), so
/// memory does not grow with the fleet's rows; an error reading them back
/// is an error here, never a shorter report.
pub fn write_report(
    r: &Report,
    format: Format,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Json => json::report(r, out),
        Format::Csv => out.write_all(csv::report(r).as_bytes()),
        Format::Markdown => markdown::report(r, out),
        Format::Html => html::report(r, out),
    }
}

/// Render the review report into memory (see [`write_report`]).
pub fn report(r: &Report, format: Format) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    write_report(r, format, &mut out)?;
    Ok(out)
}

/// Render the Statement of Applicability.
pub fn soa(rows: &[SoaRow], r: &Report, format: Format) -> Vec<u8> {
    match format {
        Format::Json => json::soa(rows),
        Format::Csv => csv::soa(rows).into_bytes(),
        Format::Markdown => markdown::soa(rows, r).into_bytes(),
        Format::Html => html::soa(rows, r).into_bytes(),
    }
}

/// Render a comparison of two dates (`report --compare`); CSV has no form
/// for it.
pub fn comparison(c: &Comparison, format: Format) -> Result<Vec<u8>, String> {
    match format {
        Format::Json => Ok(compare::json(c)),
        Format::Markdown => Ok(compare::markdown(c).into_bytes()),
        Format::Html => Ok(compare::html(c).into_bytes()),
        Format::Csv => Err("--compare renders as markdown, html or json, not csv".into()),
    }
}

#[cfg(test)]
mod tests;
