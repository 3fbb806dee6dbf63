//! Evidence review (`GET /review`): the recorded attestations and attesters,
//! and downloads rendered by the review module's own renderers (the same
//! bytes `report`, `soa`, `report --compare` and `export` write): the report
//! and the Statement of Applicability as of a date, the comparison of two
//! dates, and a signed evidence bundle of a period
//! (`GET /review/download`). A download gathers the evidence of its period
//! from the store (the [`WINDOW_DAYS`] before the as-of date for reports),
//! so its cost grows with the fleet and the period, unlike the pages.

use super::nonempty;
use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, time, Nav};
use crate::review::{self, model, render};
use crate::service::App;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

/// Days of evidence before the as-of date a report or SoA reads.
pub const WINDOW_DAYS: i64 = 31;

/// `GET /review`.
pub async fn page(State(app): State<Arc<App>>, s: Session) -> Result<Markup, ConsoleError> {
    let attestations = app.store.attestations().await?;
    let attesters = app.store.attesters().await?;
    let today = crate::console::trend::day(app.clock.now_ms());
    let week_ago = crate::console::trend::day(app.clock.now_ms() - 7 * 86_400_000);
    let name_of = |key: &str| {
        attesters
            .iter()
            .find(|a| a.key_id == key)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| key.to_string())
    };
    let formats = html! {
        option value="html" { "HTML" } option value="markdown" { "Markdown" } option value="json" { "JSON" } option value="csv" { "CSV" }
    };
    let body = html! {
        h1 { "Evidence review" }
        p.lead { "Reports, the Statement of Applicability and evidence bundles, rendered by the same code as "
            code { "evident-collector report" } ", " code { "soa" } " and " code { "export" } "." }
        h2 { "Report as of a date" }
        form.filters method="get" action="/review/download" {
            input type="hidden" name="kind" value="report";
            label { "As of (end of day, UTC)" input type="date" name="as_of" value=(today) required; }
            label { "Format" select name="format" { (formats) } }
            button.primary type="submit" { "Download report" }
        }
        h2 { "Statement of Applicability" }
        form.filters method="get" action="/review/download" {
            input type="hidden" name="kind" value="soa";
            label { "As of (end of day, UTC)" input type="date" name="as_of" value=(today) required; }
            label { "Format" select name="format" { (formats) } }
            button.primary type="submit" { "Download SoA" }
        }
        h2 { "Compare two dates" }
        form.filters method="get" action="/review/download" {
            input type="hidden" name="kind" value="compare";
            label { "From" input type="date" name="from" value=(week_ago) required; }
            label { "To" input type="date" name="to" value=(today) required; }
            label { "Format" select name="format" { option value="html" { "HTML" } option value="markdown" { "Markdown" } option value="json" { "JSON" } } }
            button.primary type="submit" { "Download comparison" }
        }
        h2 { "Evidence bundle" }
        form.filters method="get" action="/review/download" {
            input type="hidden" name="kind" value="bundle";
            label { "Since" input type="date" name="from" value=(week_ago) required; }
            label { "Until (end of day)" input type="date" name="to" value=(today) required; }
            button.primary type="submit" { "Download bundle" }
        }
        p.muted { "A bundle is signed by the collector's key; check it offline with "
            code { "evident-collector verify FILE --trust KEY" } "." }
        p.muted { "Reports read the " (WINDOW_DAYS) " days of evidence before the as-of date." }
        h2 { "Attestations" }
        @if attestations.is_empty() { p.muted { "None recorded (" code { "evident-collector attest" } ")." } } @else {
            table {
                thead { tr { th scope="col" { "Control" } th scope="col" { "Attester" } th scope="col" { "Recorded" } th scope="col" { "Expires" } th scope="col" { "Digest" } } }
                tbody { @for a in &attestations { tr {
                    th scope="row" { a href={ "/controls/" (layout::enc(&a.control)) } { (a.control) } }
                    td { (name_of(&a.attester_key_id)) } td { (time(a.created_at)) } td { (a.expires) } td.digest { (a.digest.to_string()) }
                } } }
            }
        }
        h2 { "Attesters" }
        @if attesters.is_empty() { p.muted { "None registered." } } @else {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Key id" } th scope="col" { "Registered" } th scope="col" { "Revoked" } } }
                tbody { @for a in &attesters { tr {
                    th scope="row" { (a.name) } td.mono { (a.key_id) } td { (time(a.registered_at)) } td { (layout::time_opt(a.revoked_at)) }
                } } }
            }
        }
    };
    Ok(layout::page("Evidence review", &s, Nav::Review, body))
}

/// Download parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Download {
    kind: Option<String>,
    format: Option<String>,
    as_of: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn end_of(day: Option<&str>, what: &str) -> Result<DateTime<Utc>, ConsoleError> {
    let d =
        day.ok_or_else(|| ConsoleError::BadRequest(format!("{what} is required (YYYY-MM-DD)")))?;
    NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 999))
        .map(|t| t.and_utc())
        .ok_or_else(|| ConsoleError::BadRequest(format!("{what} must be a date (YYYY-MM-DD)")))
}

fn format(f: Option<&str>) -> Result<(render::Format, &'static str, &'static str), ConsoleError> {
    Ok(match f.unwrap_or("html") {
        "html" => (render::Format::Html, "html", "text/html; charset=utf-8"),
        "markdown" => (
            render::Format::Markdown,
            "md",
            "text/markdown; charset=utf-8",
        ),
        "json" => (render::Format::Json, "json", "application/json"),
        "csv" => (render::Format::Csv, "csv", "text/csv; charset=utf-8"),
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "unknown format {} (html, markdown, json, csv)",
                other.chars().take(20).collect::<String>()
            )))
        }
    })
}

fn review_err(e: review::ReviewError) -> ConsoleError {
    ConsoleError::Unavailable(e.to_string())
}

async fn members(
    app: &App,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<review::Members, ConsoleError> {
    let filter = review::ExportFilter {
        hosts: Vec::new(),
        since: Some(since),
        until: Some(until),
    };
    // The policy files come from those serve keeps in the store.
    let current = evident_policies::Sources::default();
    Ok(
        review::gather(app.store.as_ref(), &current, &filter, |_| {})
            .await
            .map_err(review_err)?
            .members,
    )
}

fn key_id(app: &App) -> Option<String> {
    let dir = app.data_dir.as_ref()?;
    review::collector_signer(dir)
        .ok()
        .map(|s| s.key_id().to_string())
}

fn attachment(bytes: Vec<u8>, kind: &'static str, name: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// `GET /review/download`.
pub async fn download(
    State(app): State<Arc<App>>,
    _s: Session,
    q: Result<Query<Download>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ConsoleError> {
    let Query(d) = q.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let kind: &'static str = match nonempty(&d.kind).unwrap_or("report") {
        "report" => "report",
        "soa" => "soa",
        "compare" => "compare",
        "bundle" => "bundle",
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "unknown download {} (report, soa, compare, bundle)",
                other.chars().take(20).collect::<String>()
            )))
        }
    };
    let now = DateTime::from_timestamp_millis(app.clock.now_ms()).unwrap_or_default();
    let window = chrono::Duration::days(WINDOW_DAYS);
    match kind {
        kind @ ("report" | "soa") => {
            let (fmt, ext, mime) = format(nonempty(&d.format))?;
            let as_of = end_of(nonempty(&d.as_of), "as_of")?.min(now);
            let mut m = members(&app, as_of - window, as_of).await?;
            model::restrict(&mut m, &[], Some(as_of)).map_err(ConsoleError::BadRequest)?;
            let opts = model::ReportOptions {
                collector_key_id: key_id(&app),
                sample: None,
                seed: None,
            };
            let soa_file = match (&app.data_dir, kind) {
                (Some(dir), "soa") => {
                    let p = dir.join("soa.toml");
                    review::soa::load(p.is_file().then_some(p.as_path())).map_err(review_err)?
                }
                _ => Default::default(),
            };
            let bytes = tokio::task::spawn_blocking(move || {
                let r = model::build_report(&m, as_of, &opts);
                if kind == "soa" {
                    let rows = evident_core::report::soa(&r, &soa_file);
                    render::soa(&rows, &r, fmt)
                } else {
                    render::report(&r, fmt)
                }
            })
            .await
            .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
            let day = as_of.format("%Y-%m-%d");
            Ok(attachment(
                bytes,
                mime,
                format!("evident-{kind}-{day}.{ext}"),
            ))
        }
        "compare" => {
            let (fmt, ext, mime) = format(nonempty(&d.format))?;
            let a = end_of(nonempty(&d.from), "from")?.min(now);
            let b = end_of(nonempty(&d.to), "to")?.min(now);
            let (from, to) = if a <= b { (a, b) } else { (b, a) };
            let mut m = members(&app, from - window, to).await?;
            let opts = model::ReportOptions {
                collector_key_id: key_id(&app),
                sample: None,
                seed: None,
            };
            let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
                model::restrict(&mut m, &[], Some(to))?;
                let after = model::build_report(&m, to, &opts);
                model::restrict(&mut m, &[], Some(from))?;
                let before = model::build_report(&m, from, &opts);
                render::comparison(&evident_core::report::compare(&before, &after), fmt)
            })
            .await
            .map_err(|e| ConsoleError::Unavailable(e.to_string()))?
            .map_err(ConsoleError::BadRequest)?;
            Ok(attachment(
                bytes,
                mime,
                format!(
                    "evident-compare-{}-{}.{ext}",
                    from.format("%Y-%m-%d"),
                    to.format("%Y-%m-%d")
                ),
            ))
        }
        _ => {
            let dir = app.data_dir.clone().ok_or_else(|| {
                ConsoleError::NotFound(
                    "this collector has no data directory with a signing key".into(),
                )
            })?;
            let until = end_of(nonempty(&d.to), "to")?.min(now);
            let since = end_of(nonempty(&d.from), "from")? - chrono::Duration::days(1);
            let filter = review::ExportFilter {
                hosts: Vec::new(),
                since: Some(since),
                until: Some(until),
            };
            let mut m = members(&app, since, until).await?;
            let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
                let signer = review::collector_signer(&dir).map_err(|e| e.to_string())?;
                evident_core::bundle::seal(
                    &mut m,
                    &signer,
                    now,
                    concat!("evident-collector ", env!("CARGO_PKG_VERSION")),
                    review::scope(&filter),
                );
                let tmp =
                    tempfile::NamedTempFile::new().map_err(|e| format!("temporary file: {e}"))?;
                review::write_bundle(tmp.path(), &m).map_err(|e| e.to_string())?;
                std::fs::read(tmp.path()).map_err(|e| format!("reading the bundle back: {e}"))
            })
            .await
            .map_err(|e| ConsoleError::Unavailable(e.to_string()))?
            .map_err(ConsoleError::Unavailable)?;
            Ok(attachment(
                bytes,
                "application/zstd",
                format!("evident-bundle-{}.tar.zst", until.format("%Y-%m-%d")),
            ))
        }
    }
}
