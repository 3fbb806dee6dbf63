//! What every subcommand that touches a data directory shares: the data
//! directory argument, the async runtime, opening the store from the
//! directory's config, and time parsing/formatting (RFC 3339, UTC).

use anyhow::{bail, Context as _, Result};
use clap::Args;
use evident_collector::config::Config;
use evident_collector::store::{self, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the collector keeps its config, certificates, tokens and SQLite database.
#[derive(Args, Debug, Clone)]
pub struct DirArg {
    /// Data directory (made by `init`; every other command refuses a
    /// directory `init` did not make).
    #[arg(long, default_value = Config::DEFAULT_DIR, env = "EVIDENT_DIR")]
    pub dir: PathBuf,
    /// Database URL (overrides the config): sqlite://… or postgres://…
    #[arg(long, env = "EVIDENT_DATABASE_URL")]
    pub database: Option<String>,
}

/// The multi-threaded tokio runtime a subcommand runs its async work on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Load the directory's config and open its store (a small pool: CLI use),
/// `--database` overriding the configured URL. A directory `init` did not
/// make is refused before anything is opened or created in it; migrations
/// run on open; a missing, fresh or different database is refused
/// (`store::guard`).
pub async fn open_store(d: &DirArg) -> Result<(Config, Arc<dyn Store>)> {
    let config = Config::load(&d.dir)?;
    let url = d
        .database
        .clone()
        .unwrap_or_else(|| config.database_url(&d.dir));
    let s = store::guard::open_checked(
        &d.dir,
        &url,
        2,
        Duration::from_millis(config.database_timeout_ms),
        config.durability().unwrap_or_default(),
    )
    .await?;
    Ok((config, s))
}

/// Milliseconds since the epoch as RFC 3339 UTC to the second
/// (`2026-01-31T12:00:00Z`); `-` for none or out of range.
pub fn fmt_ms(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into())
}

/// Parse RFC 3339 or a date (start of day, or end of day when `end`).
pub fn parse_time(s: &str, end: bool) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("`{s}` is neither RFC 3339 nor YYYY-MM-DD"))?;
    let t = if end {
        d.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        d.and_hms_opt(0, 0, 0)
    };
    match t {
        Some(t) => Ok(t.and_utc()),
        None => bail!("bad date `{s}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmt_ms_is_rfc3339_utc_seconds() {
        assert_eq!(fmt_ms(Some(1_767_225_600_500)), "2026-01-01T00:00:00Z");
        assert_eq!(fmt_ms(None), "-");
        assert_eq!(fmt_ms(Some(i64::MAX)), "-");
    }

    #[test]
    fn parse_time_accepts_dates_and_rfc3339() {
        let start = parse_time("2026-01-31", false).unwrap();
        let end = parse_time("2026-01-31", true).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-01-31T00:00:00+00:00");
        assert_eq!(
            end.timestamp_millis() - start.timestamp_millis(),
            86_399_999
        );
        assert!(parse_time("yesterday", false).is_err());
    }
}
