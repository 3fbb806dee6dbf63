//! Self-contained HTML for `report` and `soa`: inline CSS and SVG charts
//! (controls by status, coverage per theme, drift over time), no scripts,
//! no external resources, print styles.

use super::html_audit;
use super::text::{age, color, esc, pill};
use evident_core::report::{Report, SoaRow};
use std::fmt::Write as _;
use std::io::Write;

const STYLE: &str = r#"
:root { --ink:#1f2933; --muted:#52606d; --line:#d9e2ec; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; border-bottom: 2px solid var(--line); padding-bottom: .2rem; }
.meta { color: var(--muted); margin-bottom: 1.2rem; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 1rem; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: .8rem 1rem; break-inside: avoid; }
.card h3 { margin: 0 0 .5rem; font-size: .95rem; color: var(--muted); font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f0f4f8; font-weight: 600; }
tr { break-inside: avoid; }
.pill { display: inline-block; padding: 0 .45rem; border-radius: 999px; color: #fff; font-size: 11.5px; white-space: nowrap; }
.stale { color: #c62828; font-weight: 600; }
.small { color: var(--muted); font-size: 11.5px; }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
.prov { margin-bottom: 1rem; }
table.kv th { width: 11rem; background: none; }
summary { cursor: pointer; margin: 2rem 0 .6rem; }
summary h2 { border: 0; }
code { font: 11.5px ui-monospace, SFMono-Regular, Menlo, monospace; }
.sev-critical, .sev-high { color: #c62828; font-weight: 600; }
.sev-medium { color: #ef6c00; }
table.wrap td { overflow-wrap: anywhere; }
table.wrap td:nth-child(5) { max-width: 24rem; }
.nagrid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: .2rem 1rem; font-size: 12px; color: var(--muted); }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  h2 { break-after: avoid; }
  .card, tr { break-inside: avoid; }
  th { background: #eee !important; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .pill, svg { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  @page { size: A4 landscape; margin: 12mm; }
}
"#;

/// Up to this many hosts, the hosts table is shown unfolded.
const HOSTS_OPEN: usize = 25;

pub(super) fn page(title: &str, body: &str) -> String {
    format!("{}{body}{PAGE_END}", page_start(title))
}

/// A page up to its body's content.
fn page_start(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(title)
    )
}

/// A page after its body's content.
const PAGE_END: &str = "</body></html>\n";

/// Above this many bytes, what is rendered so far goes to the writer.
const CHUNK: usize = 1 << 16;

/// Horizontal bar chart: one bar per (label, value, colour).
fn bars(items: &[(String, usize, &'static str)], total: usize) -> String {
    let h = 22 * items.len() + 10;
    let mut s =
        format!(r#"<svg viewBox="0 0 360 {h}" width="100%" role="img" aria-label="bar chart">"#);
    let max = items.iter().map(|i| i.1).max().unwrap_or(1).max(1);
    for (i, (label, v, c)) in items.iter().enumerate() {
        let y = 5 + i * 22;
        let w = (*v as f64 / max as f64 * 165.0).round();
        let pct = if total > 0 {
            *v as f64 * 100.0 / total as f64
        } else {
            0.0
        };
        let _ = write!(
            s,
            r#"<text x="0" y="{}">{}</text><rect x="128" y="{y}" width="{w}" height="16" rx="3" fill="{c}"/><text x="{}" y="{}">{v} ({pct:.0}%)</text>"#,
            y + 12,
            esc(label),
            133.0 + w,
            y + 12
        );
    }
    s.push_str("</svg>");
    s
}

/// Stacked bars per theme: satisfied / covered / total.
fn themes(r: &Report) -> String {
    let mut s = String::from(
        r#"<svg viewBox="0 0 360 132" width="100%" role="img" aria-label="coverage per theme">"#,
    );
    for (i, t) in r.themes.iter().enumerate() {
        let y = 5 + i * 28;
        let total = t.controls.max(1) as f64;
        let wc = t.covered as f64 / total * 200.0;
        let ws = t.satisfied as f64 / total * 200.0;
        let _ = write!(
            s,
            r##"<text x="0" y="{}">{}</text><rect x="110" y="{y}" width="200" height="18" rx="3" fill="#eceff1"/><rect x="110" y="{y}" width="{wc:.1}" height="18" rx="3" fill="#90caf9"/><rect x="110" y="{y}" width="{ws:.1}" height="18" rx="3" fill="#2e7d32"/><text x="316" y="{}">{}/{}</text>"##,
            y + 13,
            t.theme.as_str(),
            y + 13,
            t.satisfied,
            t.controls
        );
    }
    s.push_str(r##"<rect x="110" y="120" width="8" height="8" fill="#2e7d32"/><text x="121" y="128">satisfied</text><rect x="185" y="120" width="8" height="8" fill="#90caf9"/><text x="196" y="128">evidenced</text></svg>"##);
    s
}

/// Line chart of (host, control) pairs satisfied / failing per day.
fn drift(r: &Report) -> String {
    let pts = &r.drift;
    if pts.is_empty() {
        return "<p class=\"small\">No evidence yet.</p>".into();
    }
    let (w, h, left, top, bottom) = (360.0, 150.0, 34.0, 10.0, 24.0);
    let max = pts
        .iter()
        .map(|p| p.satisfied.max(p.failing))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let n = pts.len();
    let x = |i: usize| {
        if n == 1 {
            left + (w - left - 10.0) / 2.0
        } else {
            left + i as f64 * (w - left - 10.0) / (n - 1) as f64
        }
    };
    let y = |v: usize| top + (h - top - bottom) * (1.0 - v as f64 / max);
    let line = |f: &dyn Fn(&evident_core::report::DriftPoint) -> usize| {
        pts.iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(f(p))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut s = format!(
        r#"<svg viewBox="0 0 {w} {h}" width="100%" role="img" aria-label="drift over time">"#
    );
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="#b0bec5"/><text x="0" y="{}">{max}</text><text x="0" y="{}">0</text>"##,
        h - bottom,
        w - 10.0,
        h - bottom,
        top + 8.0,
        h - bottom
    );
    let _ = write!(
        s,
        r##"<polyline fill="none" stroke="#2e7d32" stroke-width="2" points="{}"/><polyline fill="none" stroke="#c62828" stroke-width="2" points="{}"/>"##,
        line(&|p| p.satisfied),
        line(&|p| p.failing)
    );
    for (i, p) in pts.iter().enumerate() {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#2e7d32"/><circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#c62828"/>"##,
            x(i),
            y(p.satisfied),
            x(i),
            y(p.failing)
        );
    }
    let first = pts.first().map(|p| p.day.to_string()).unwrap_or_default();
    let last = pts.last().map(|p| p.day.to_string()).unwrap_or_default();
    let _ = write!(
        s,
        r#"<text x="{left}" y="{}">{first}</text><text x="{}" y="{}" text-anchor="end">{last}</text></svg>"#,
        h - 6.0,
        w - 10.0,
        h - 6.0
    );
    s.push_str(r##"<div class="small"><span style="color:#2e7d32">■</span> host×control satisfied &nbsp; <span style="color:#c62828">■</span> not satisfied / partial</div>"##);
    s
}

/// The review report, written to `out` host by host (the hosts are read
/// one at a time, so the report's rows need not be in memory).
pub fn report(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let mut b = page_start("Evident review report");
    let _ = write!(
        b,
        "<h1>Evident review report</h1><div class=\"meta\">ISO/IEC 27001:2022 Annex A · generated {} · {} hosts · {} controls</div>",
        r.generated_at.format("%Y-%m-%d %H:%M UTC"),
        r.hosts.len(),
        r.controls.len()
    );
    b.push_str(&html_audit::provenance(r));
    let order = [
        "satisfied",
        "attested",
        "waived",
        "partial",
        "partially-evidenced",
        "not-satisfied",
        "no-evidence",
        "not-applicable",
        "not-automated",
    ];
    let items: Vec<(String, usize, &'static str)> = order
        .iter()
        .map(|s| {
            (
                s.to_string(),
                r.status_counts.get(*s).copied().unwrap_or(0),
                color(s),
            )
        })
        .collect();
    let _ = write!(
        b,
        "<div class=\"charts\"><div class=\"card\"><h3>Controls by status</h3>{}</div><div class=\"card\"><h3>Coverage per theme</h3>{}</div><div class=\"card\"><h3>Drift over time</h3>{}</div></div>",
        bars(&items, r.controls.len()),
        themes(r),
        drift(r)
    );
    // Failing rules first: with a large fleet the hosts table would push
    // them far down, so it is folded (open for small fleets).
    let per_host = html_audit::HostSections::of(r)?;
    b.push_str(&per_host.failing_rules);
    b.push_str(&super::alerts::html(r));
    b.push_str(&super::vulns::html(r));
    let _ =
        write!(
        b,
        "<details{}><summary><h2 style=\"display:inline\">Hosts ({})</h2></summary><table><thead>",
        if r.hosts.len() <= HOSTS_OPEN { " open" } else { "" },
        r.hosts.len()
    );
    b.push_str("<tr><th>host</th><th>last evidence</th><th>age</th><th>pass</th><th>fail</th><th>waived</th><th>failing rules</th></tr></thead><tbody>");
    for h in r.hosts.iter() {
        let h = h.map_err(std::io::Error::other)?;
        let n = |k: &str| h.rules.get(k).copied().unwrap_or(0);
        let mut worst: Vec<_> = h.failing_rules.iter().map(|f| f.severity).collect();
        worst.sort_unstable_by(|a, b| b.cmp(a));
        let failing = match worst.first() {
            None => vec!["none".to_string()],
            Some(top) => vec![format!(
                "{} <span class=\"small\">(worst: {}; see failing rules above)</span>",
                h.failing_rules.len(),
                top.as_str()
            )],
        };
        let _ = write!(
            b,
            "<tr><td>{}<div class=\"small\">{}{}</div></td><td>{}<div class=\"small\">seq {}</div></td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&h.hostname),
            esc(&h.agent),
            if h.keys.len() > 1 {
                format!(" · {} keys (enrolled again)", h.keys.len())
            } else {
                String::new()
            },
            h.last_collected.format("%Y-%m-%d %H:%M"),
            h.last_sequence,
            if h.fresh { "" } else { "stale" },
            age(h.age_seconds) + if h.fresh { "" } else { " (stale)" },
            n("pass"),
            n("fail"),
            n("waived"),
            failing.join(", ")
        );
        if b.len() > CHUNK {
            out.write_all(b.as_bytes())?;
            b.clear();
        }
    }
    b.push_str("</tbody></table></details>");
    b.push_str(&per_host.key_history);
    let automated = r
        .controls
        .iter()
        .filter(|c| c.status != "not-automated")
        .count();
    let _ = write!(b, "<h2>Controls with automated evidence or attestations ({automated})</h2><table><thead><tr><th>control</th><th>title</th><th>status</th><th>hosts</th><th>failing</th><th>waivers / attestations</th></tr></thead><tbody>");
    for c in r.controls.iter().filter(|c| c.status != "not-automated") {
        let hosts: Vec<String> = c.hosts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        let failing: Vec<String> = c
            .failures
            .iter()
            .take(8)
            .map(|f| format!("{}: {}", esc(&f.host), esc(&f.rule)))
            .collect();
        let more = c.failures.len().saturating_sub(8);
        let mut notes: Vec<String> = c
            .waivers
            .iter()
            .map(|w| format!("waiver until {} ({})", w.expires, esc(&w.approver)))
            .collect();
        notes.extend(c.attestations.iter().map(|a| {
            let docs: Vec<String> = a
                .evidence
                .iter()
                .map(|(name, d)| format!("{} {}", esc(name), html_audit::digest(d)))
                .collect();
            format!(
                "attested by {} until {}{} · attestation {}{}",
                esc(&a.attester),
                a.expires,
                if a.current { "" } else { " <b>(expired)</b>" },
                html_audit::digest(&a.id),
                if docs.is_empty() {
                    String::new()
                } else {
                    format!(" · documents: {}", docs.join(", "))
                }
            )
        }));
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"small\">{}</td><td class=\"small\">{}{}</td><td class=\"small\">{}</td></tr>",
            esc(&c.id),
            esc(&c.title),
            pill(&c.status),
            hosts.join(", "),
            failing.join("<br>"),
            if more > 0 { format!("<br>… {more} more") } else { String::new() },
            notes.join("<br>")
        );
    }
    b.push_str("</tbody></table>");
    let manual: Vec<String> = r
        .controls
        .iter()
        .filter(|c| c.status == "not-automated")
        .map(|c| format!("<span class=\"na\">{} {}</span>", esc(&c.id), esc(&c.title)))
        .collect();
    let _ = write!(
        b,
        "<h2>Not automated ({})</h2><p class=\"small\">No probe can see these controls and no current attestation covers them; they need manual review.</p><div class=\"nagrid\">{}</div>",
        manual.len(),
        manual.join("")
    );
    b.push_str(&html_audit::remediation(r));
    b.push_str(&html_audit::control_evidence(r));
    b.push_str(&html_audit::evidence(r));
    b.push_str(&html_audit::sample(r));
    b.push_str(PAGE_END);
    out.write_all(b.as_bytes())
}

/// The Statement of Applicability.
pub fn soa(rows: &[SoaRow], r: &Report) -> String {
    let mut b = String::new();
    let applicable = rows.iter().filter(|x| x.applicable).count();
    let _ = write!(
        b,
        "<h1>Statement of Applicability</h1><div class=\"meta\">ISO/IEC 27001:2022 Annex A · generated {} · {} of {} controls applicable · {} hosts</div>",
        r.generated_at.format("%Y-%m-%d %H:%M UTC"),
        applicable,
        rows.len(),
        r.hosts.len()
    );
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for x in rows {
        *counts.entry(x.implementation.as_str()).or_default() += 1;
    }
    let items: Vec<(String, usize, &'static str)> = counts
        .iter()
        .map(|(k, v)| (k.to_string(), *v, color(k)))
        .collect();
    let _ = write!(
        b,
        "<div class=\"charts\"><div class=\"card\"><h3>Implementation</h3>{}</div><div class=\"card\"><h3>Coverage per theme</h3>{}</div></div>",
        bars(&items, rows.len()),
        themes(r)
    );
    b.push_str("<h2>Controls</h2><table><thead><tr><th>control</th><th>title</th><th>applicable</th><th>justification</th><th>implementation</th><th>evidence</th><th>cross-references</th></tr></thead><tbody>");
    for x in rows {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"small\">{}</td><td class=\"small\">{}</td></tr>",
            esc(&x.id),
            esc(&x.title),
            if x.applicable { "yes" } else { "<b>no</b>" },
            esc(&x.justification),
            pill(&x.implementation),
            x.evidence.iter().map(|e| esc(e)).collect::<Vec<_>>().join("<br>"),
            esc(&super::text::cross_cell(&x.cross_references))
        );
    }
    b.push_str("</tbody></table>");
    page("Statement of Applicability", &b)
}
