//! `feed`: vulnerability feed snapshots (issue #18). `feed import FILE`
//! reads a Debian Security Tracker JSON file, an OSV `all.zip` or a
//! directory of OSV records offline (air-gapped sites); `feed fetch`
//! downloads the official feed first; `feed list` shows the snapshots, the
//! newest being the one in force. A malformed or truncated feed is refused
//! (exit 2) and the previous snapshot stays in force.

use super::common::{fmt_ms, open_store, runtime, DirArg};
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use evident_collector::service::vuln::{guess_format, read_feed, store_snapshot, ReadFeed};
use evident_core::vuln::index::FeedFormat;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The official Debian Security Tracker JSON.
pub const DEBIAN_TRACKER_URL: &str = "https://security-tracker.debian.org/tracker/data/json";
/// The official OSV export of Debian advisories.
pub const OSV_DEBIAN_URL: &str =
    "https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip";

/// A feed format on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// The Debian Security Tracker JSON.
    DebianTracker,
    /// OSV records: an `all.zip` or a directory of JSON files.
    Osv,
}

impl FormatArg {
    fn core(self) -> FeedFormat {
        match self {
            FormatArg::DebianTracker => FeedFormat::DebianTracker,
            FormatArg::Osv => FeedFormat::Osv,
        }
    }
}

/// `feed` subcommands.
#[derive(Subcommand, Debug)]
pub enum FeedCommand {
    /// Import a feed file or OSV directory as the snapshot in force.
    Import(ImportArgs),
    /// Download the official feed (needs network access) and import it.
    Fetch(FetchArgs),
    /// List the stored snapshots, newest (in force) first.
    List(ListArgs),
}

/// `feed import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// The feed: tracker JSON, OSV all.zip or a directory of OSV JSON files.
    pub file: PathBuf,
    /// Its format (default: a directory or .zip is osv, else debian-tracker).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
}

/// `feed fetch`.
#[derive(Args, Debug)]
pub struct FetchArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Which feed.
    #[arg(long, value_enum, default_value = "debian-tracker")]
    pub format: FormatArg,
    /// Download from here instead of the official URL.
    #[arg(long)]
    pub url: Option<String>,
    /// PEM bundle of the certificate authorities to trust.
    #[arg(long, default_value = "/etc/ssl/certs/ca-certificates.crt")]
    pub ca_file: PathBuf,
}

/// `feed list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ListFormat,
}

/// `feed list` output.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns.
    Table,
    /// A JSON array with stable field names.
    Json,
}

/// Run a `feed` subcommand.
pub fn run(cmd: FeedCommand) -> Result<ExitCode> {
    match cmd {
        FeedCommand::Import(a) => {
            let format = a
                .format
                .map_or_else(|| guess_format(&a.file), FormatArg::core);
            import(&a.dir, &a.file, format, &a.file.display().to_string())
        }
        FeedCommand::Fetch(a) => fetch(&a),
        FeedCommand::List(a) => list(&a),
    }
}

fn import(dir: &DirArg, path: &Path, format: FeedFormat, source: &str) -> Result<ExitCode> {
    // Parse before opening the store: a refused feed changes nothing.
    let feed: ReadFeed =
        read_feed(path, format).context("feed refused; the previous snapshot stays in force")?;
    let rt = runtime()?;
    let info = rt.block_on(async {
        let (_, store) = open_store(dir).await?;
        let now = evident_collector::clock::Clock::from_env().now_ms();
        let r = store_snapshot(&*store, &feed, source, now).await;
        store.close().await;
        Ok::<_, anyhow::Error>(r?)
    })?;
    println!(
        "imported {} snapshot {} from {}: {} entries, {} CVEs, releases {}",
        info.format, info.digest, info.source, info.entries, info.cves, info.releases
    );
    if let Some(s) = &feed.osv {
        println!(
            "OSV: {} records, {} withdrawn, {} affected items outside a known distribution release skipped",
            s.records, s.withdrawn, s.skipped_affected
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch(a: &FetchArgs) -> Result<ExitCode> {
    let url = a.url.clone().unwrap_or_else(|| {
        match a.format {
            FormatArg::DebianTracker => DEBIAN_TRACKER_URL,
            FormatArg::Osv => OSV_DEBIAN_URL,
        }
        .to_string()
    });
    let mut builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .connect_timeout(std::time::Duration::from_secs(20));
    if url.starts_with("https://") {
        let pem = std::fs::read(&a.ca_file)
            .with_context(|| format!("reading CA bundle {}", a.ca_file.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("CA bundle {}", a.ca_file.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder.build().context("building the HTTP client")?;
    let suffix = match a.format {
        FormatArg::DebianTracker => ".json",
        FormatArg::Osv => ".zip",
    };
    let mut tmp = tempfile::Builder::new()
        .prefix("evident-feed-")
        .suffix(suffix)
        .tempfile()
        .context("creating a temporary file")?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut resp = client.get(&url).send().await.with_context(|| {
            format!("fetching {url} (no network access? use `feed import` with a copy of the file)")
        })?;
        if !resp.status().is_success() {
            bail!("fetching {url}: HTTP {}", resp.status());
        }
        while let Some(chunk) = resp
            .chunk()
            .await
            .with_context(|| format!("downloading {url}"))?
        {
            tmp.write_all(&chunk).context("writing the download")?;
        }
        Ok(())
    })?;
    tmp.flush()?;
    drop(rt);
    import(&a.dir, tmp.path(), a.format.core(), &url)
}

fn list(a: &ListArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let snapshots = rt.block_on(async {
        let (_, store) = open_store(&a.dir).await?;
        let r = store.vuln_snapshots().await;
        store.close().await;
        Ok::<_, anyhow::Error>(r?)
    })?;
    match a.format {
        ListFormat::Json => {
            let rows: Vec<serde_json::Value> = snapshots
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    serde_json::json!({
                        "digest": s.digest,
                        "format": s.format,
                        "source": s.source,
                        "imported_at": fmt_ms(Some(s.imported_at)),
                        "feed_bytes": s.feed_bytes,
                        "entries": s.entries,
                        "cves": s.cves,
                        "releases": s.releases.split(',').filter(|r| !r.is_empty()).collect::<Vec<_>>(),
                        "in_force": i == 0,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        ListFormat::Table => {
            if snapshots.is_empty() {
                println!("no vulnerability feed snapshot (evident-collector feed import FILE)");
            }
            for (i, s) in snapshots.iter().enumerate() {
                println!(
                    "{} {} {:<14} {} {:>7} entries {:>6} CVEs  {}  {}",
                    if i == 0 { "*" } else { " " },
                    s.digest,
                    s.format,
                    fmt_ms(Some(s.imported_at)),
                    s.entries,
                    s.cves,
                    s.releases,
                    s.source
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
