//! Markdown renderings of the report and the SoA.

use super::text::{age, fmt_time, hosts_cell, md};
use evident_core::report::{Report, SoaRow};
use std::fmt::Write as _;

/// The report as Markdown.
pub fn report(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Evident review report\n");
    let _ = writeln!(
        o,
        "Generated {}. {} hosts.\n",
        fmt_time(r.generated_at),
        r.hosts.len()
    );
    let _ = writeln!(o, "## Controls by status\n");
    for (s, n) in &r.status_counts {
        let _ = writeln!(o, "- {s}: {n}");
    }
    let _ = writeln!(o, "\n## Coverage by theme\n\n| theme | controls | covered | satisfied |\n| --- | ---: | ---: | ---: |");
    for t in &r.themes {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            t.theme.as_str(),
            t.controls,
            t.covered,
            t.satisfied
        );
    }
    let _ = writeln!(o, "\n## Hosts\n\n| host | agent | last evidence | age | fresh | pass | fail | waived | failing rules |\n| --- | --- | --- | ---: | --- | ---: | ---: | ---: | --- |");
    for h in &r.hosts {
        let n = |k: &str| h.rules.get(k).copied().unwrap_or(0);
        let failing: Vec<String> = h
            .failing_rules
            .iter()
            .map(|f| format!("{} ({})", f.id, f.status.as_str()))
            .collect();
        let _ = writeln!(
            o,
            "| {} | {} | {} (seq {}) | {} | {} | {} | {} | {} | {} |",
            md(&h.hostname),
            h.agent,
            fmt_time(h.last_collected),
            h.last_sequence,
            age(h.age_seconds),
            if h.fresh { "yes" } else { "**stale**" },
            n("pass"),
            n("fail"),
            n("waived"),
            md(&failing.join(", "))
        );
    }
    let _ = writeln!(o, "\n## Controls\n\n| control | title | status | hosts | failing | waivers | attestations |\n| --- | --- | --- | --- | --- | --- | --- |");
    for c in &r.controls {
        let failing: Vec<String> = c
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.host, f.rule))
            .collect();
        let waivers: Vec<String> = c
            .waivers
            .iter()
            .map(|w| format!("until {} ({})", w.expires, w.approver))
            .collect();
        let atts: Vec<String> = c
            .attestations
            .iter()
            .map(|a| {
                format!(
                    "{} until {}{}",
                    a.attester,
                    a.expires,
                    if a.current { "" } else { " (expired)" }
                )
            })
            .collect();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            c.id,
            md(&c.title),
            c.status,
            hosts_cell(&c.hosts),
            md(&failing.join(", ")),
            md(&waivers.join(", ")),
            md(&atts.join(", "))
        );
    }
    o
}

/// The SoA as Markdown.
pub fn soa(rows: &[SoaRow], r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Statement of Applicability (ISO/IEC 27001:2022 Annex A)\n"
    );
    let _ = writeln!(
        o,
        "Generated {} from {} hosts.\n",
        fmt_time(r.generated_at),
        r.hosts.len()
    );
    let _ = writeln!(o, "| control | title | applicable | justification | implementation | evidence |\n| --- | --- | --- | --- | --- | --- |");
    for x in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            x.id,
            md(&x.title),
            if x.applicable { "yes" } else { "no" },
            md(&x.justification),
            x.implementation,
            md(&x.evidence.join("; "))
        );
    }
    o
}
