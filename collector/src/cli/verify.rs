//! `verify`: check an evidence bundle completely and offline, holding its
//! signer to the key the auditor pinned (`--trust`).

use super::progress::progress_bar;
use anyhow::Result;
use clap::{Args, ValueEnum};
use evident_collector::review;
use evident_core::bundle::{Finding, Pins, Report, Severity};
use std::path::PathBuf;
use std::process::ExitCode;

/// Output format of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    /// Human-readable.
    Table,
    /// The full report as JSON.
    Json,
}

/// Trust anchors shared by `verify`, `report`, `soa` and `export --bundle`.
#[derive(Args, Debug, Clone, Default)]
pub struct TrustArgs {
    /// The collector key that must have signed the bundle: the file
    /// `evident-collector key show` printed (PEM), or its key id (64 hex digits).
    #[arg(long, value_name = "KEY")]
    pub trust: Option<String>,
    /// An attester key whose attestations count (file or key id; repeatable).
    /// Without it, every attester the collector vouched for counts.
    #[arg(long = "trust-attester", value_name = "KEY")]
    pub trust_attester: Vec<String>,
}

impl TrustArgs {
    /// The pins these arguments name.
    pub fn pins(&self) -> Result<Pins> {
        Ok(Pins {
            collector: self
                .trust
                .as_deref()
                .map(review::trust::load_trust)
                .transpose()?,
            attesters: self
                .trust_attester
                .iter()
                .map(|a| review::trust::load_trust(a))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The bundle file written by `evident-collector export`.
    pub file: PathBuf,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Table)]
    pub format: VerifyFormat,
    /// A full vulnerability feed (Debian tracker JSON, OSV `all.zip` or a
    /// directory of OSV records) to check the bundle's snapshot subset
    /// against: its digest must be the cited snapshot's and the subset's
    /// entries the feed's for every package looked up.
    #[arg(long, value_name = "FILE")]
    pub feed: Option<PathBuf>,
}

/// `verify`: exit 0 only when every check passes and the signer is the
/// pinned key; 1 otherwise (including an unpinned signer).
pub fn run(args: &VerifyArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let pins = args.trust.pins()?;
    let bar = progress_bar(0, "verifying");
    let verified = review::verify_file(&args.file, &pins, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let mut report = match verified {
        Ok(report) => report,
        Err(e) => Report {
            ok: false,
            findings: vec![Finding {
                severity: Severity::Failure,
                kind: "file".into(),
                subject: args.file.display().to_string(),
                message: e.to_string(),
            }],
            ..Report::default()
        },
    };
    if let Some(feed) = &args.feed {
        let findings = check_feed(&args.file, feed)?;
        if findings.iter().any(|f| f.severity == Severity::Failure) {
            report.ok = false;
        }
        report.findings.extend(findings);
    }
    match args.format {
        VerifyFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        VerifyFormat::Table => print_table(&report, started.elapsed()),
    }
    Ok(if report.ok && report.pinned {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--feed`: read the feed (an unreadable feed is an error, exit 2) and
/// compare the bundle's subsets of that snapshot with it.
fn check_feed(bundle: &std::path::Path, feed: &std::path::Path) -> Result<Vec<Finding>> {
    use evident_collector::service::vuln::{guess_format, read_feed};
    let read = read_feed(feed, guess_format(feed))
        .map_err(|e| anyhow::anyhow!("--feed {}: {e}", feed.display()))?;
    let digest: evident_core::Digest = read
        .digest
        .parse()
        .map_err(|e| anyhow::anyhow!("--feed {}: digest {}: {e}", feed.display(), read.digest))?;
    let (compared, findings) = review::vulns::check_feed(bundle, &digest, &read.index)?;
    if findings.is_empty() {
        eprintln!(
            "feed {}: snapshot {digest}; the bundle's subset ({compared} member) equals the feed for every package looked up",
            feed.display()
        );
    }
    Ok(findings)
}

fn print_table(r: &Report, took: std::time::Duration) {
    if let Some(k) = &r.collector_key_id {
        println!("manifest signed by collector key {k}");
        if r.pinned {
            println!("signer pinned: this is the trusted collector key");
        }
    }
    if let Some(t) = r.created_at {
        println!("created {}", t.format("%Y-%m-%dT%H:%M:%SZ"));
    }
    let c = &r.checked;
    println!(
        "checked {} members, {} hosts, {} envelopes, {} blobs, {} policy files; {} results confirmed by re-evaluation ({:.1}s)",
        c.members,
        c.hosts,
        c.envelopes,
        c.blobs,
        c.policies,
        c.results_confirmed,
        took.as_secs_f64()
    );
    println!(
        "re-evaluations: {} in full, {} of the day-reading rules only (the rest share an evaluation key)",
        c.results_evaluated, c.results_day_only
    );
    if !r.attesters.is_empty() {
        println!("attester keys the collector vouched for:");
        let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or_else(
                || "(not recorded)".to_string(),
                |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            )
        };
        for a in &r.attesters {
            let revoked = match a.revoked_at {
                Some(t) => format!(", revoked {}", day(Some(t))),
                None => String::new(),
            };
            let pinned = if a.pinned { " [trusted]" } else { "" };
            println!(
                "  {} {}: added {}{revoked}{pinned}",
                a.key_id,
                a.name,
                day(a.added_at)
            );
        }
    }
    if c.vulns_confirmed > 0 {
        println!(
            "{} vulnerability results re-matched offline against the bundle's snapshot subset; {} first-seen citations inside the bundle confirmed",
            c.vulns_confirmed, c.first_seen_confirmed
        );
    }
    if let Some(note) = c.first_seen_outside_note() {
        println!("{note}");
    }
    if c.alerts > 0 && !r.findings.iter().any(|f| f.kind == "alerts") {
        println!(
            "{} alerts of the period; every statement they cite is in the bundle",
            c.alerts
        );
    }
    for f in &r.findings {
        let tag = match f.severity {
            Severity::Failure => "FAIL",
            Severity::Warning => "WARN",
        };
        println!("{tag} [{}] {}: {}", f.kind, f.subject, f.message);
    }
    let failures = r.failures().count();
    if !r.ok {
        println!("FAILED: {failures} problem(s)");
    } else if r.pinned {
        println!("OK: the bundle holds");
    } else {
        println!(
            "NOT PINNED: every check passed, but nothing ties the signer to the collector you audit; run again with --trust KEY"
        );
    }
}
