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
    provenance(&mut o, r);
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
    let reenrolled: Vec<_> = r.hosts.iter().filter(|h| h.keys.len() > 1).collect();
    if !reenrolled.is_empty() {
        let _ = writeln!(o, "\n## Hosts enrolled more than once\n\nThe same machine id signed with several keys (one per enrollment): one host, its key history oldest first.\n\n| host | agent | key id | first seen | last seen | statements |\n| --- | --- | --- | --- | --- | ---: |");
        for h in reenrolled {
            for k in &h.keys {
                let _ = writeln!(
                    o,
                    "| {} | {} | `{}` | {} | {} | {} |",
                    md(&h.hostname),
                    k.agent,
                    k.key_id,
                    fmt_time(k.first_seen),
                    fmt_time(k.last_seen),
                    k.statements
                );
            }
        }
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
    failing_rules(&mut o, r);
    remediation(&mut o, r);
    super::alerts::markdown(&mut o, r);
    super::vulns::markdown(&mut o, r);
    evidence(&mut o, r);
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
    let _ = writeln!(o, "| control | title | applicable | justification | implementation | evidence | cross-references |\n| --- | --- | --- | --- | --- | --- | --- |");
    for x in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            x.id,
            md(&x.title),
            if x.applicable { "yes" } else { "no" },
            md(&x.justification),
            x.implementation,
            md(&x.evidence.join("; ")),
            md(&super::text::cross_cell(&x.cross_references))
        );
    }
    o
}

fn provenance(o: &mut String, r: &Report) {
    let p = &r.provenance;
    let _ = writeln!(o, "## Provenance\n");
    let _ = writeln!(
        o,
        "- collector key id: `{}`",
        p.collector_key_id.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(o, "- statements: {}", p.statements);
    if let (Some(a), Some(z)) = (p.first_collected, p.last_collected) {
        let _ = writeln!(o, "- collected: {} – {}", fmt_time(a), fmt_time(z));
    }
    let _ = writeln!(o, "- signatures: {}", p.signatures);
    for pol in &p.policies {
        let _ = writeln!(
            o,
            "- policy `{}` version {} ({}): `{}`",
            md(&pol.id),
            md(&pol.version),
            md(&pol.source),
            pol.sha256
        );
    }
    if let Some(s) = &p.sample {
        let _ = writeln!(
            o,
            "- sample: {} host(s) per control, seed {}",
            s.per_control, s.seed
        );
    }
    if let Some(x) = &p.pruned {
        let _ = writeln!(
            o,
            "- pruned by retention: {} unchanged statement(s) on {} host(s), kept as chain stubs that link the statements above; {}",
            x.statements,
            x.hosts,
            md(&x.policies.join("; "))
        );
    }
    let _ = writeln!(o);
}

fn failing_rules(o: &mut String, r: &Report) {
    let mut rows: Vec<_> = r
        .hosts
        .iter()
        .flat_map(|h| {
            h.failing_rules
                .iter()
                .map(move |f| (h.hostname.as_str(), f))
        })
        .collect();
    rows.sort_by(|a, b| {
        b.1.severity
            .cmp(&a.1.severity)
            .then_with(|| a.1.id.cmp(&b.1.id))
            .then_with(|| a.0.cmp(b.0))
    });
    let _ = writeln!(o, "\n## Failing rules\n\n| severity | rule | host | status | expected / found | remediation |\n| --- | --- | --- | --- | --- | --- |");
    for (host, f) in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            f.severity.as_str(),
            md(&f.id),
            md(host),
            f.status.as_str(),
            md(f.message.as_deref().unwrap_or("")),
            md(f.remediation.as_deref().unwrap_or(""))
        );
    }
}

fn remediation(o: &mut String, r: &Report) {
    let _ = writeln!(o, "\n## Time to remediate\n\n| rule | remediated | median | longest | still failing | open since |\n| --- | ---: | ---: | ---: | ---: | --- |");
    let dur = |s: Option<i64>| s.map(age).unwrap_or_else(|| "-".into());
    for x in &r.remediation {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            md(&x.rule),
            x.remediated,
            dur(x.median_seconds),
            dur(x.max_seconds),
            x.open,
            x.open_since.map(fmt_time).unwrap_or_else(|| "-".into())
        );
    }
}

fn evidence(o: &mut String, r: &Report) {
    let _ = writeln!(o, "\n## Evidence\n\n| host | sequence | collected at | envelope sha256 | results sha256 |\n| --- | ---: | --- | --- | --- |");
    for e in &r.provenance.evidence {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            md(&e.hostname),
            e.sequence,
            fmt_time(e.collected_at),
            e.envelope,
            e.results
        );
    }
    if let Some(s) = &r.provenance.sample {
        let _ = writeln!(
            o,
            "\n## Sample (seed {}, {} per control)\n\n| control | sampled agents |\n| --- | --- |",
            s.seed, s.per_control
        );
        for (c, agents) in &s.controls {
            let _ = writeln!(o, "| {} | {} |", c, agents.join(", "));
        }
    }
}
