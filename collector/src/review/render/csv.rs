//! CSV renderings: the report and the SoA, one row per control.

use super::text::{csv, hosts_cell};
use evident_core::report::{Report, SoaRow};
use std::fmt::Write as _;

/// The report as CSV (one row per control).
pub fn report(r: &Report) -> String {
    let mut out = String::from(
        "control,title,theme,status,hosts,rules,failing,waivers,attestations,oldest_evidence\n",
    );
    for c in &r.controls {
        let failing: Vec<String> = c
            .failures
            .iter()
            .map(|f| format!("{}:{}", f.host, f.rule))
            .collect();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            csv(&c.id),
            csv(&c.title),
            c.theme.as_str(),
            csv(&c.status),
            csv(&hosts_cell(&c.hosts)),
            csv(&c.rules.join(" ")),
            csv(&failing.join(" ")),
            c.waivers.len(),
            c.attestations.iter().filter(|a| a.current).count(),
            c.oldest_evidence
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        );
    }
    out
}

/// The SoA as CSV (one row per control).
pub fn soa(rows: &[SoaRow]) -> String {
    let mut out = String::from(
        "control,title,theme,applicable,justification,implementation,status,evidence,cross_references\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            csv(&r.id),
            csv(&r.title),
            r.theme.as_str(),
            if r.applicable { "yes" } else { "no" },
            csv(&r.justification),
            csv(&r.implementation),
            csv(&r.status),
            csv(&r.evidence.join("; ")),
            csv(&super::text::cross_cell(&r.cross_references))
        );
    }
    out
}
