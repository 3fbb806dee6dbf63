//! `vuln-bench`: vulnerability matching at fleet scale (issue #18).
//!
//! Writes a synthetic Debian Security Tracker file of realistic shape (by
//! default 6,000 source packages, 60,000 CVEs, ~50 MB: four releases per
//! CVE, descriptions, repositories, a mix of resolved/open/no-dsa/
//! not-affected records), then measures: the streamed import (time, peak
//! RSS of this process from /proc/self/status `VmHWM`) and matching 1,000
//! Debian 12 hosts of 500 packages each against it.
//!
//! `cargo run --release -p evident-core --example vuln-bench -- [--sources N] [--cves N] [--hosts N] [--packages N] [--keep FILE]`
//!
//! An example, not library code: it writes a temporary file and reads the
//! clock, which the pure crate's library never does.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::error::Error;
type Result<T> = std::result::Result<T, Box<dyn Error>>;
use evident_core::vuln::feed::{parse_debian_tracker, HashingReader};
use evident_core::vuln::{match_host, Inventory, InventoryPackage};
use std::io::{BufWriter, Write};
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A deterministic pseudo-random sequence (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn version(rng: &mut Rng, minor: u64) -> String {
    format!(
        "{}.{}.{}-{}+deb12u{}",
        1 + rng.below(5),
        minor,
        rng.below(30),
        1 + rng.below(4),
        1 + rng.below(9)
    )
}

fn write_tracker(path: &std::path::Path, sources: usize, cves: usize) -> Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    let mut rng = Rng(0x5eed_1234_abcd_0042);
    w.write_all(b"{")?;
    let per = cves / sources.max(1);
    let mut n = 0usize;
    for s in 0..sources {
        if s > 0 {
            w.write_all(b",")?;
        }
        write!(w, "\"src{s}\":{{")?;
        for c in 0..per.max(1) {
            if c > 0 {
                w.write_all(b",")?;
            }
            n += 1;
            let fixed = version(&mut rng, 10);
            let kind = rng.below(10);
            let bookworm = match kind {
                0..=4 => format!("{{\"status\":\"resolved\",\"repositories\":{{\"bookworm\":\"{fixed}\",\"bookworm-security\":\"{fixed}\"}},\"fixed_version\":\"{fixed}\",\"urgency\":\"{}\"}}", ["low", "medium", "high", "not yet assigned", "unimportant"][rng.below(5) as usize]),
                5 => "{\"status\":\"resolved\",\"repositories\":{\"bookworm\":\"1.0-1\"},\"fixed_version\":\"0\",\"urgency\":\"unimportant\"}".to_string(),
                6 | 7 => "{\"status\":\"open\",\"repositories\":{\"bookworm\":\"1.0-1\"},\"urgency\":\"low\",\"nodsa\":\"Minor issue\",\"nodsa_reason\":\"postponed\"}".to_string(),
                _ => "{\"status\":\"open\",\"repositories\":{\"bookworm\":\"1.0-1\"},\"urgency\":\"unimportant\"}".to_string(),
            };
            write!(
                w,
                "\"CVE-20{:02}-{:05}\":{{\"description\":\"Synthetic vulnerability {n}: a buffer overflow in the parser of src{s} allows remote attackers to cause a denial of service or possibly execute arbitrary code via a crafted input file.\",\"scope\":\"remote\",\"debianbug\":{},\"releases\":{{\"bookworm\":{bookworm},\"bullseye\":{{\"status\":\"resolved\",\"repositories\":{{\"bullseye\":\"1.0-1+deb11u1\"}},\"fixed_version\":\"1.0-1+deb11u2\",\"urgency\":\"low\"}},\"trixie\":{{\"status\":\"resolved\",\"repositories\":{{\"trixie\":\"2.0-1\"}},\"fixed_version\":\"2.0-1\",\"urgency\":\"low\"}},\"sid\":{{\"status\":\"resolved\",\"repositories\":{{\"sid\":\"2.0-1\"}},\"fixed_version\":\"2.0-1\",\"urgency\":\"low\"}}}}}}",
                10 + n % 16,
                n,
                1_000_000 + n
            )?;
        }
        w.write_all(b"}")?;
    }
    w.write_all(b"}")?;
    w.flush()?;
    Ok(())
}

fn main() -> Result<()> {
    let sources = arg("--sources", 6_000);
    let cves = arg("--cves", 60_000);
    let hosts = arg("--hosts", 1_000);
    let packages = arg("--packages", 500);
    let path = std::env::temp_dir().join(format!("evident-vuln-bench-{}.json", std::process::id()));
    write_tracker(&path, sources, cves)?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "synthetic tracker: {sources} sources, {cves} CVEs, {:.1} MB",
        size as f64 / 1e6
    );
    let rss_before = peak_rss_mib();

    let t = Instant::now();
    let mut reader = HashingReader::new(std::fs::File::open(&path)?);
    let index = parse_debian_tracker(&mut reader, "tracker.json")?;
    let (digest, _) = reader.finish();
    let import = t.elapsed();
    println!(
        "import: {:.2} s, {} entries, {} CVEs, peak RSS {:.0} MiB (before import {:.0} MiB), {digest}",
        import.as_secs_f64(),
        index.entry_count(),
        index.cve_count(),
        peak_rss_mib(),
        rss_before
    );

    let mut rng = Rng(0xfeed_beef_0000_0001);
    let fleet: Vec<Inventory> = (0..hosts)
        .map(|h| Inventory {
            manager: "dpkg".into(),
            inventory_collected: true,
            os_id: "debian".into(),
            os_version_id: "12".into(),
            os_codename: "bookworm".into(),
            kernel_running: None,
            inventory: (0..packages)
                .map(|p| {
                    let s = (p * 11 + h % 7) % sources;
                    let v = version(&mut rng, 10);
                    InventoryPackage {
                        name: format!("lib{s}-{p}"),
                        version: v.clone(),
                        arch: "amd64".into(),
                        source: format!("src{s}"),
                        source_version: v,
                    }
                })
                .collect(),
        })
        .collect();
    let t = Instant::now();
    let mut findings = 0usize;
    let mut actionable = 0usize;
    for inv in &fleet {
        let m = match_host(inv, &index);
        findings += m.findings.len();
        actionable += m.actionable().count();
    }
    let matching = t.elapsed();
    println!(
        "match: {hosts} hosts x {packages} packages in {:.2} s ({findings} findings, {actionable} with a fix), peak RSS {:.0} MiB",
        matching.as_secs_f64(),
        peak_rss_mib()
    );
    if let Some(keep) = std::env::args().skip_while(|a| a != "--keep").nth(1) {
        std::fs::copy(&path, keep)?;
    }
    std::fs::remove_file(&path)?;
    Ok(())
}
