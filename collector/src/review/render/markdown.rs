//! Markdown renderings of the report and the SoA.

use super::spool::Spool;
use super::text::{age, fmt_time, hosts_cell, md};
use evident_core::report::{Report, SoaRow};
use std::fmt::Write as _;
use std::io::Write;

/// Above this many bytes, what is rendered so far goes to the writer.
const CHUNK: usize = 1 << 16;

/// Write `o` to `out` when it holds more than [`CHUNK`] bytes.
fn spill(o: &mut String, out: &mut dyn Write) -> std::io::Result<()> {
    if o.len() > CHUNK {
        out.write_all(o.as_bytes())?;
        o.clear();
    }
    Ok(())
}

/// The report as Markdown, written to `out` host by host (the hosts are
/// read one at a time, so the report's rows need not be in memory).
pub fn report(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
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
    // Walked once: the host table now, the failing rules (sorted across
    // the fleet) and re-enrolled hosts' keys into spools for later.
    let mut failing_rows = Spool::new()?;
    let mut reenrolled = String::new();
    for h in r.hosts.iter() {
        let h = h.map_err(std::io::Error::other)?;
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
        for f in &h.failing_rules {
            failing_rows.push(
                (std::cmp::Reverse(f.severity), f.id.clone()),
                &format!(
                    "| {} | {} | {} | {} | {} | {} |\n",
                    f.severity.as_str(),
                    md(&f.id),
                    md(&h.hostname),
                    f.status.as_str(),
                    md(f.message.as_deref().unwrap_or("")),
                    md(f.remediation.as_deref().unwrap_or(""))
                ),
            )?;
        }
        if h.keys.len() > 1 {
            for k in &h.keys {
                let _ = writeln!(
                    reenrolled,
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
        spill(&mut o, out)?;
    }
    if !reenrolled.is_empty() {
        let _ = writeln!(o, "\n## Hosts enrolled more than once\n\nThe same machine id signed with several keys (one per enrollment): one host, its key history oldest first.\n\n| host | agent | key id | first seen | last seen | statements |\n| --- | --- | --- | --- | --- | ---: |");
        o.push_str(&reenrolled);
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
        spill(&mut o, out)?;
    }
    // Every failing rule of every host, most severe first, then by rule
    // and host.
    let _ = writeln!(o, "\n## Failing rules\n\n| severity | rule | host | status | expected / found | remediation |\n| --- | --- | --- | --- | --- | --- |");
    out.write_all(o.as_bytes())?;
    o.clear();
    failing_rows.write_to(out)?;
    remediation(&mut o, r);
    super::alerts::markdown(&mut o, r);
    super::vulns::markdown(&mut o, r);
    evidence(&mut o, r);
    out.write_all(o.as_bytes())
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
