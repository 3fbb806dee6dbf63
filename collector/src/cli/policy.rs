//! `evident-collector policy check|test`: validate policies and run their test cases.

use clap::{Args, Subcommand, ValueEnum};
use evident_core::{Catalog, PolicySet};
use evident_policies::{discover, run_tests, LoadError};
use std::path::PathBuf;
use std::process::ExitCode;

/// `policy` subcommands.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Load and validate policies; print rules, controls covered and probes needed.
    Check(PathsArgs),
    /// Run the test cases (`*_test.toml`) that live beside the policies.
    Test(PathsArgs),
}

/// Output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

/// Policy files or directories.
#[derive(Args)]
pub struct PathsArgs {
    /// Policy files or directories (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Run a `policy` subcommand.
pub fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check(args) => check(&args),
        PolicyCommand::Test(args) => test(&args),
    }
}

fn load(args: &PathsArgs) -> Result<(PolicySet, Vec<PathBuf>), ExitCode> {
    let found = match discover(&args.paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    if found.policies.is_empty() {
        eprintln!(
            "error: {}",
            LoadError::Empty(
                args.paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
        return Err(ExitCode::from(2));
    }
    let mut set = match PolicySet::load(&found.policies, Catalog::annex_a()) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s); no policy loaded", errors.0.len());
            return Err(ExitCode::from(2));
        }
    };
    if let Some(w) = &found.waivers {
        let loaded = std::fs::read(w)
            .map_err(|e| format!("{}: {e}", w.display()))
            .and_then(|bytes| {
                set.clone()
                    .with_waivers(&w.display().to_string(), &bytes)
                    .map_err(|e| e.to_string())
            });
        match loaded {
            Ok(s) => set = s,
            Err(e) => {
                eprintln!("error: {e}");
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok((set, found.tests))
}

fn check(args: &PathsArgs) -> anyhow::Result<ExitCode> {
    let (set, _) = match load(args) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    let rules = set.rules().count();
    let controls = set.controls_covered();
    let probes = set.probes_needed();
    // Coverage per control: full, partial, hybrid (needs an attestation) or undeclared.
    let coverage: Vec<(String, &'static str)> = controls
        .iter()
        .map(|c| {
            let kind = match set.coverage(c) {
                None => "undeclared",
                Some(cov) if cov.attestation.is_some() => "hybrid",
                Some(cov) => cov.coverage.as_str(),
            };
            (c.clone(), kind)
        })
        .collect();
    let of_kind = |k: &str| {
        coverage
            .iter()
            .filter(|(_, kind)| *kind == k)
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>()
    };
    match args.format {
        Format::Json => {
            let policies: Vec<_> = set
                .policies()
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "id": p.id, "version": p.version, "title": p.title,
                        "file": p.source.name, "sha256": p.source.sha256, "rules": p.rules.len(),
                    })
                })
                .collect();
            let coverage: serde_json::Map<String, serde_json::Value> = coverage
                .iter()
                .map(|(c, k)| (c.clone(), serde_json::Value::from(*k)))
                .collect();
            let out = serde_json::json!({
                "policies": policies, "rules": rules, "controls": controls,
                "coverage": coverage, "probes": probes, "waivers": set.waivers().len(),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => {
            for p in set.policies() {
                println!(
                    "ok  {}  {} {} ({} rules, {})",
                    p.source.name,
                    p.id,
                    p.version,
                    p.rules.len(),
                    p.source.sha256
                );
            }
            println!("rules: {rules}");
            println!(
                "controls covered: {} ({})",
                controls.len(),
                controls.join(", ")
            );
            for kind in ["full", "partial", "hybrid"] {
                let list = of_kind(kind);
                if !list.is_empty() {
                    println!("coverage {kind}: {} ({})", list.len(), list.join(", "));
                }
            }
            let undeclared = of_kind("undeclared");
            if !undeclared.is_empty() {
                eprintln!(
                    "warning: no [[control]] coverage declaration for {} (their rules alone decide them)",
                    undeclared.join(", ")
                );
            }
            println!("probes needed: {}", probes.join(", "));
            if !set.waivers().is_empty() {
                println!("waivers: {}", set.waivers().len());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn test(args: &PathsArgs) -> anyhow::Result<ExitCode> {
    let (set, tests) = match load(args) {
        Ok(x) => x,
        Err(code) => return Ok(code),
    };
    if tests.is_empty() {
        eprintln!("error: no test files (*_test.toml) under the given paths");
        return Ok(ExitCode::from(2));
    }
    let outcomes = run_tests(&set, &tests);
    let (mut passed, mut failed, mut broken) = (0usize, 0usize, 0usize);
    let mut rule_errors = 0usize;
    let mut report = Vec::new();
    for file in &outcomes {
        match &file.result {
            Err(e) => {
                broken += 1;
                eprintln!("error: {e}");
                report.push(serde_json::json!({"file": file.path, "error": e}));
            }
            Ok(cases) => {
                for case in cases {
                    if case.failures.is_empty() {
                        passed += 1;
                        if matches!(args.format, Format::Text) {
                            println!(
                                "PASS {}: {} ({} checks)",
                                file.path.display(),
                                case.name,
                                case.checked
                            );
                        }
                    } else {
                        failed += 1;
                        if matches!(args.format, Format::Text) {
                            println!("FAIL {}: {}", file.path.display(), case.name);
                            for f in &case.failures {
                                println!("     {f}");
                            }
                        }
                    }
                    for e in &case.rule_errors {
                        rule_errors += 1;
                        eprintln!("error: {}: {}: {e}", file.path.display(), case.name);
                    }
                    report.push(serde_json::json!({
                        "file": file.path, "case": case.name, "checked": case.checked, "failures": case.failures,
                        "rule_errors": case.rule_errors,
                    }));
                }
            }
        }
    }
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"passed": passed, "failed": failed, "errors": broken, "rule_errors": rule_errors, "cases": report})
            )?
        ),
        Format::Text if rule_errors > 0 => {
            println!("{passed} passed, {failed} failed, {rule_errors} rule error(s)")
        }
        Format::Text => println!("{passed} passed, {failed} failed"),
    }
    Ok(if broken > 0 || rule_errors > 0 {
        ExitCode::from(2)
    } else if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
