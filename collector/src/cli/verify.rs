//! `verify`: check an evidence bundle completely and offline.

use anyhow::Result;
use clap::{Args, ValueEnum};
use evident_collector::review;
use evident_core::bundle::{self, Finding, Report, Severity};
use indicatif::{ProgressBar, ProgressStyle};
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

/// `verify`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The bundle file written by `evident-collector export`.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = VerifyFormat::Table)]
    pub format: VerifyFormat,
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress_bar(total: u64, what: &str) -> ProgressBar {
    let bar = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    let template = if total == 0 {
        format!("{{spinner}} {what} {{pos}} envelopes ({{per_sec}})")
    } else {
        format!("{{bar:40}} {what} {{pos}}/{{len}} envelopes ({{eta}})")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// `verify`.
pub fn run(args: &VerifyArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let report = match review::read_bundle(&args.file) {
        Ok(members) => {
            let bar = progress_bar(0, "verifying");
            let report = bundle::verify(&members, &mut |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            });
            bar.finish_and_clear();
            report
        }
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
    match args.format {
        VerifyFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        VerifyFormat::Table => print_table(&report, started.elapsed()),
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_table(r: &Report, took: std::time::Duration) {
    if let Some(k) = &r.collector_key_id {
        println!("manifest signed by collector key {k}");
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
    for f in &r.findings {
        let tag = match f.severity {
            Severity::Failure => "FAIL",
            Severity::Warning => "WARN",
        };
        println!("{tag} [{}] {}: {}", f.kind, f.subject, f.message);
    }
    let failures = r.failures().count();
    if r.ok {
        println!("OK: the bundle holds");
    } else {
        println!("FAILED: {failures} problem(s)");
    }
}
