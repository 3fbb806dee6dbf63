//! Review downloads (`GET /review/download`), through the CLI's own
//! streaming paths, so each is the same bytes as the command and memory is
//! bounded whatever the period's length:
//!
//! - `report` / `soa` as of a date = `report|soa --as-of DATE`: the period
//!   is the retention window up to the date, read host by host
//!   (`review::period::build_report`), then rendered (the report itself is
//!   sized by the fleet, not the history);
//! - `compare` = `report --compare FROM TO`: two such reports, compared;
//! - `bundle` = `export --since FROM --until TO`: written by
//!   `review::export::export_bundle` (members appended as they are read)
//!   to an unlinked temporary file, then streamed from it in 64 KiB chunks.

use super::nonempty;
use crate::config::Config;
use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::review::{self, framework, model, period, render};
use crate::service::App;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use evident_core::report::{self as core_report, Report};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// Bytes read from the bundle file per chunk sent.
const CHUNK: usize = 64 * 1024;

/// Download parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Download {
    kind: Option<String>,
    format: Option<String>,
    as_of: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A date (`YYYY-MM-DD`) at the start or the end of its UTC day, as the
/// CLI reads `--since` / `--as-of`.
fn date(day: Option<&str>, what: &str, end: bool) -> Result<DateTime<Utc>, ConsoleError> {
    let d =
        day.ok_or_else(|| ConsoleError::BadRequest(format!("{what} is required (YYYY-MM-DD)")))?;
    NaiveDate::parse_from_str(d, "%Y-%m-%d")
        .ok()
        .and_then(|d| {
            if end {
                d.and_hms_milli_opt(23, 59, 59, 999)
            } else {
                d.and_hms_opt(0, 0, 0)
            }
        })
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
    match e {
        review::ReviewError::Invalid(m) => ConsoleError::BadRequest(m),
        e => ConsoleError::Unavailable(e.to_string()),
    }
}

/// The data directory and its configuration (read per download, as the
/// CLI reads it).
fn config(app: &App) -> Result<(PathBuf, Config), ConsoleError> {
    let dir = app.data_dir.clone().ok_or_else(|| {
        ConsoleError::NotFound("this collector has no data directory to review".into())
    })?;
    let config = Config::load(&dir).map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok((dir, config))
}

fn ms_time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// What every report of one download shares: the period's start and the
/// recorded attestations.
struct Source {
    since: i64,
    first: Option<i64>,
    members: review::Members,
    key_id: Option<String>,
}

async fn source(app: &App, dir: &std::path::Path, config: &Config) -> Result<Source, ConsoleError> {
    let since = config.retention.cutoff(app.clock.now_ms());
    let whole = period::Period {
        hosts: Vec::new(),
        since: Some(since),
        until: None,
    };
    let first = period::time_range(app.store.as_ref(), &whole)
        .await
        .map_err(review_err)?
        .map(|(f, _)| f);
    let members = review::gather::gather_attestations(app.store.as_ref())
        .await
        .map_err(review_err)?;
    let key_id = dir
        .join(review::COLLECTOR_KEY_FILE)
        .is_file()
        .then(|| review::collector_signer(dir).ok())
        .flatten()
        .map(|s| s.key_id().to_string());
    Ok(Source {
        since,
        first,
        members,
        key_id,
    })
}

/// The report as of `t` (`report --as-of`): host by host from the store.
async fn report_at(app: &App, src: &Source, t: DateTime<Utc>) -> Result<Report, ConsoleError> {
    if let Some(first) = src.first {
        if t.timestamp_millis() < first {
            return Err(ConsoleError::BadRequest(format!(
                "{} is before the first evidence ({})",
                t.to_rfc3339(),
                ms_time(first).to_rfc3339()
            )));
        }
    }
    let p = period::Period {
        hosts: Vec::new(),
        since: Some(src.since),
        until: Some(t.timestamp_millis()),
    };
    let mut attestations = model::attestations(&src.members, t);
    attestations.retain(|a| a.signed_at <= t);
    let opts = model::ReportOptions {
        collector_key_id: src.key_id.clone(),
        sample: None,
        seed: None,
    };
    period::build_report(app.store.as_ref(), &p, &attestations, t, &opts)
        .await
        .map_err(review_err)
}

fn attachment(bytes: Vec<u8>, mime: &'static str, name: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// A body streamed from `file` (from its current position), [`CHUNK`]
/// bytes at a time; the file (already unlinked) closes when sent or when
/// the client goes away.
fn file_body(file: std::fs::File) -> Body {
    use tokio::io::AsyncReadExt as _;
    let (mut tx, body) = http_body_util::channel::Channel::<Bytes, std::io::Error>::new(2);
    tokio::spawn(async move {
        let mut f = tokio::fs::File::from_std(file);
        let mut buf = vec![0u8; CHUNK];
        loop {
            match f.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => {
                    if tx
                        .send_data(Bytes::copy_from_slice(&buf[..n]))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading the bundle being downloaded failed");
                    tx.abort(e);
                    return;
                }
            }
        }
    });
    Body::new(body)
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
    let now = ms_time(app.clock.now_ms());
    let (dir, config) = config(&app)?;
    match kind {
        "report" | "soa" => {
            let (fmt, ext, mime) = format(nonempty(&d.format))?;
            let as_of = date(nonempty(&d.as_of), "as_of", true)?.min(now);
            let src = source(&app, &dir, &config).await?;
            let r = report_at(&app, &src, as_of).await?;
            let day = as_of.format("%Y-%m-%d");
            if kind == "report" {
                // Rendered to an unlinked temporary file off the async
                // workers (the host rows are read one at a time) and
                // streamed from it: the response never holds the report.
                let file =
                    tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
                        use std::io::{Seek as _, Write as _};
                        let mut file = tempfile::tempfile()?;
                        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut file);
                        render::write_report(&r, fmt, &mut out)?;
                        out.flush()?;
                        drop(out);
                        file.rewind()?;
                        Ok(file)
                    })
                    .await
                    .map_err(|e| ConsoleError::Unavailable(e.to_string()))?
                    .map_err(|e| ConsoleError::Unavailable(format!("rendering the report: {e}")))?;
                let len = file.metadata().map(|m| m.len()).ok();
                let mut resp = Response::new(file_body(file));
                let h = resp.headers_mut();
                h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(mime));
                if let Ok(v) = header::HeaderValue::from_str(&format!(
                    "attachment; filename=\"evident-{kind}-{day}.{ext}\""
                )) {
                    h.insert(header::CONTENT_DISPOSITION, v);
                }
                if let Some(len) = len {
                    h.insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
                }
                return Ok(resp);
            }
            let bytes = {
                let path = review::soa::locate(None, &dir, &config);
                let file = review::soa::load(path.as_deref()).map_err(review_err)?;
                let paths: Vec<PathBuf> = config
                    .mapping_paths
                    .iter()
                    .map(|p| Config::path(&dir, p))
                    .collect();
                let set = framework::load_frameworks(&paths).map_err(review_err)?;
                let isms = evident_core::framework::isms::checklist(
                    &model::attestations(&src.members, as_of),
                    as_of,
                );
                let mut rows = core_report::soa(&r, &file);
                framework::annotate_soa(&mut rows, &set);
                render::framework::soa_with_isms(render::soa(&rows, &r, fmt), &isms, fmt)
            };
            Ok(attachment(
                bytes,
                mime,
                format!("evident-{kind}-{day}.{ext}"),
            ))
        }
        "compare" => {
            let (fmt, ext, mime) = format(nonempty(&d.format))?;
            let a = date(nonempty(&d.from), "from", true)?.min(now);
            let b = date(nonempty(&d.to), "to", true)?.min(now);
            let (from, to) = if a <= b { (a, b) } else { (b, a) };
            let src = source(&app, &dir, &config).await?;
            let after = report_at(&app, &src, to).await?;
            let before = report_at(&app, &src, from).await?;
            let c = core_report::compare(&before, &after)
                .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
            let bytes = render::comparison(&c, fmt).map_err(ConsoleError::BadRequest)?;
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
            let since = date(nonempty(&d.from), "from", false)?;
            let until = date(nonempty(&d.to), "to", true)?.min(now);
            let filter = review::ExportFilter {
                hosts: Vec::new(),
                since: Some(since),
                until: Some(until),
            };
            let current = config
                .policy_sources(&dir)
                .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
            let signer = review::collector_signer(&dir).map_err(review_err)?;
            let tmp = tempfile::NamedTempFile::new()
                .map_err(|e| ConsoleError::Unavailable(format!("temporary file: {e}")))?;
            let exported = review::export::export_bundle(
                app.store.as_ref(),
                &current,
                &filter,
                tmp.path(),
                &review::export::Seal {
                    signer: &signer,
                    created_at: now,
                    generator: concat!("evident-collector ", env!("CARGO_PKG_VERSION")),
                },
                |_| {},
            )
            .await
            .map_err(review_err)?;
            // Open, then unlink: the file lives until the body is sent.
            let file = std::fs::File::open(tmp.path())
                .map_err(|e| ConsoleError::Unavailable(format!("reading the bundle back: {e}")))?;
            drop(tmp);
            let mut resp = Response::new(file_body(file));
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/zstd"),
            );
            if let Ok(v) = header::HeaderValue::from_str(&format!(
                "attachment; filename=\"evident-bundle-{}.tar.zst\"",
                until.format("%Y-%m-%d")
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            h.insert(
                header::CONTENT_LENGTH,
                header::HeaderValue::from(exported.size),
            );
            Ok(resp)
        }
    }
}
