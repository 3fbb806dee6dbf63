//! `vulns`: the latest package inventory of every active host matched
//! against the vulnerability feed snapshot in force (or `--snapshot`):
//! per host the open CVEs, whether a fix exists and which version fixes
//! them, with first seen and age (from the collector's per-host state) and
//! the CVEs a current CVE waiver takes out (listed as waived, with
//! justification and expiry); then the fleet view, the CVEs affecting the
//! most hosts. Exit 0 when no host has an unwaived open CVE with a fix
//! (only waived or unfixed ones remain), 1 when one has, 2 on error.

use super::common::{open_store, runtime, DirArg};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use evident_collector::service::vuln::{load_snapshot, match_fleet, with_view};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// `vulns`.
#[derive(Args, Debug)]
pub struct VulnsArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Only this host (its enrolled host name).
    #[arg(long)]
    pub host: Option<String>,
    /// Match against this snapshot digest instead of the one in force.
    #[arg(long)]
    pub snapshot: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: VulnsFormat,
    /// How many CVEs the fleet view lists.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
}

/// `vulns` output.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum VulnsFormat {
    /// Text for a terminal.
    Table,
    /// JSON: the snapshot, every host's match and the fleet view.
    Json,
}

/// `vulns`.
pub fn run(a: &VulnsArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let (info, hosts) = rt.block_on(async {
        let (config, store) = open_store(&a.dir).await?;
        let r = async {
            let set = config.policy_sources(&a.dir.dir)?.load()?;
            let Some((info, index)) = load_snapshot(&*store, a.snapshot.as_deref()).await? else {
                bail!(
                    "no vulnerability feed snapshot{} (evident-collector feed import FILE)",
                    a.snapshot
                        .as_deref()
                        .map(|d| format!(" {d}"))
                        .unwrap_or_default()
                );
            };
            let mut hosts = match_fleet(&*store, &index, a.host.as_deref()).await?;
            with_view(
                &*store,
                &info.digest,
                index.format,
                set.waivers(),
                &mut hosts,
            )
            .await?;
            Ok((info, hosts))
        }
        .await;
        store.close().await;
        r
    })?;
    // Fleet view: CVE → hosts it affects (with the fix, if any).
    let mut fleet: BTreeMap<&str, (usize, Option<&str>, &str)> = BTreeMap::new();
    for h in &hosts {
        let mut seen: Vec<&str> = Vec::new();
        let waived = |cve: &str| {
            h.vulns["waived"]
                .as_array()
                .is_some_and(|w| w.iter().any(|x| x["cve"] == cve))
        };
        for f in &h.matched.findings {
            if seen.contains(&f.cve.as_str()) || waived(&f.cve) {
                continue;
            }
            seen.push(&f.cve);
            let e =
                fleet
                    .entry(&f.cve)
                    .or_insert((0, f.fixed_version.as_deref(), f.source.as_str()));
            e.0 += 1;
        }
    }
    let mut top: Vec<_> = fleet.into_iter().collect();
    top.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    top.truncate(a.top);
    let actionable = hosts.iter().any(|h| h.actionable() > 0);
    match a.format {
        VulnsFormat::Json => {
            let fleet: Vec<_> = top
                .iter()
                .map(|(cve, (n, fix, src))| {
                    serde_json::json!({"cve": cve, "hosts": n, "source": src, "fixed_version": fix})
                })
                .collect();
            let v = serde_json::json!({"snapshot": info, "hosts": hosts, "fleet": fleet});
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        VulnsFormat::Table => {
            println!(
                "snapshot {} ({}, imported {})",
                info.digest,
                info.format,
                super::common::fmt_ms(Some(info.imported_at))
            );
            for h in &hosts {
                let m = &h.matched;
                match &m.release {
                    None => println!("\n{}: {}", h.hostname, m.note),
                    Some(r) => println!(
                        "\n{} ({r}, statement {}): {} open CVEs, {} with a fix, {} waived",
                        h.hostname,
                        h.sequence,
                        h.vulns["open_count"],
                        h.vulns["actionable_count"],
                        h.vulns["waived"].as_array().map_or(0, Vec::len)
                    ),
                }
                let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
                for f in h.vulns["open"].as_array().into_iter().flatten() {
                    println!(
                        "  {:<16} {:<20} {:<24} {:<12} {:<9} first seen {} ({} days)  {}",
                        s(&f["cve"]),
                        s(&f["source"]),
                        s(&f["installed"]),
                        s(&f["status"]),
                        s(&f["urgency"]),
                        s(&f["first_seen"]),
                        f["age_days"],
                        f["fixed_version"]
                            .as_str()
                            .map_or("no fix".to_string(), |v| format!("fixed in {v}"))
                    );
                }
                for w in h.vulns["waived"].as_array().into_iter().flatten() {
                    println!(
                        "  {:<16} {:<20} waived until {} by {}: {}",
                        s(&w["cve"]),
                        s(&w["source"]),
                        s(&w["expires"]),
                        s(&w["approver"]),
                        s(&w["justification"])
                    );
                }
                if !m.kernel_reboot_pending.is_empty() {
                    println!(
                        "  reboot pending for: {}",
                        m.kernel_reboot_pending.join(", ")
                    );
                }
                for u in &m.unknown_versions {
                    println!(
                        "  unknown version {} of {}: {}",
                        u.version, u.package, u.error
                    );
                }
            }
            if !top.is_empty() {
                println!("\nCVEs affecting the most hosts:");
                for (cve, (n, fix, src)) in &top {
                    println!(
                        "  {n:>5} hosts  {cve:<16} {src:<20} {}",
                        fix.map_or("no fix".to_string(), |v| format!("fixed in {v}"))
                    );
                }
            }
        }
    }
    Ok(if actionable {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
