//! Renderings of the per-framework report (`report --framework ID`), the
//! ISMS documented-information checklist (`isms`, and its section in
//! `soa`), the attribute grouping (`report --group-by TYPE`) and the SoA's
//! cross-reference cell, in Markdown, HTML, JSON and CSV.

use super::html::page;
use super::text::{csv, esc, fmt_time, md, pill};
use super::Format;
use crate::review::framework::AttributeGroup;
use evident_core::framework::isms::IsmsRow;
use evident_core::framework::FrameworkReport;
use std::fmt::Write as _;

/// The framework report in `format`.
pub fn framework(r: &FrameworkReport, format: Format) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec_pretty(r).unwrap_or_default(),
        Format::Csv => framework_csv(r).into_bytes(),
        Format::Markdown => framework_md(r).into_bytes(),
        Format::Html => framework_html(r).into_bytes(),
    }
}

fn controls_cell(r: &evident_core::framework::RequirementRow) -> String {
    r.controls
        .iter()
        .map(|c| {
            format!(
                "{} ({}{}: {})",
                c.control,
                c.relationship.as_str(),
                if c.stated { "" } else { " by default" },
                c.status
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn framework_md(r: &FrameworkReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# {} — derived from ISO/IEC 27001:2022 evidence\n",
        md(&r.title)
    );
    let _ = writeln!(
        o,
        "Generated {}. Framework `{}`, {} requirements, {} hosts.\n",
        fmt_time(r.generated_at),
        r.framework,
        r.requirements.len(),
        r.provenance.evidence.len()
    );
    if let Some(s) = &r.source {
        let _ = writeln!(o, "- mapping source: {}", md(s));
    }
    if let Some(l) = &r.license {
        let _ = writeln!(o, "- mapping licence: {}", md(l));
    }
    for f in &r.files {
        let _ = writeln!(
            o,
            "- mapping file: `{}` {}{}",
            f.name,
            f.sha256,
            f.refines
                .as_ref()
                .map(|t| format!(" (states relationships for {t})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        o,
        "- evidence: {} statements; collector key `{}`\n",
        r.provenance.statements,
        r.provenance
            .collector_key_id
            .as_deref()
            .unwrap_or("unknown")
    );
    let _ = writeln!(o, "## Derivation rule\n\n{}\n", r.rule);
    let _ = writeln!(o, "## Requirements by derived status\n");
    for (s, n) in &r.counts {
        let _ = writeln!(o, "- {s}: {n}");
    }
    let _ = writeln!(
        o,
        "\n## Gaps: no automated or attested evidence ({})\n",
        r.gaps.len()
    );
    if r.gaps.is_empty() {
        let _ = writeln!(o, "None.");
    } else {
        let _ = writeln!(
            o,
            "| requirement | title | mapped to |\n| --- | --- | --- |"
        );
        for q in r.requirements.iter().filter(|q| q.status == "no-evidence") {
            let mapped: Vec<&str> = q
                .controls
                .iter()
                .map(|c| c.control.as_str())
                .chain(q.clauses.iter().map(String::as_str))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                md(&q.id),
                md(&q.title),
                md(&mapped.join(", "))
            );
        }
    }
    let _ = writeln!(o, "\n## Requirements\n\n| requirement | level | title | status | Annex A (relationship: status) | clauses | why |\n| --- | --- | --- | --- | --- | --- | --- |");
    for q in &r.requirements {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            md(&q.id),
            md(q.level.as_deref().unwrap_or("")),
            md(&q.title),
            q.status,
            md(&controls_cell(q)),
            md(&q.clauses.join(", ")),
            md(&q.reason)
        );
    }
    o
}

fn framework_csv(r: &FrameworkReport) -> String {
    let mut o =
        String::from("requirement,level,parent,title,status,controls,clauses,documents,reason\n");
    for q in &r.requirements {
        let _ = writeln!(
            o,
            "{},{},{},{},{},{},{},{},{}",
            csv(&q.id),
            csv(q.level.as_deref().unwrap_or("")),
            csv(q.parent.as_deref().unwrap_or("")),
            csv(&q.title),
            csv(&q.status),
            csv(&controls_cell(q)),
            csv(&q.clauses.join("; ")),
            csv(&q.documents.join("; ")),
            csv(&q.reason)
        );
    }
    o
}

fn framework_html(r: &FrameworkReport) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>{}</h1><div class=\"meta\">derived from ISO/IEC 27001:2022 evidence · framework <code>{}</code> · generated {} · {} requirements · {} hosts</div>",
        esc(&r.title),
        esc(&r.framework),
        fmt_time(r.generated_at),
        r.requirements.len(),
        r.provenance.evidence.len()
    );
    b.push_str("<table class=\"kv prov\">");
    if let Some(s) = &r.source {
        let _ = write!(b, "<tr><th>mapping source</th><td>{}</td></tr>", esc(s));
    }
    if let Some(l) = &r.license {
        let _ = write!(b, "<tr><th>mapping licence</th><td>{}</td></tr>", esc(l));
    }
    for f in &r.files {
        let _ = write!(
            b,
            "<tr><th>mapping file</th><td><code>{}</code> <code>{}</code></td></tr>",
            esc(&f.name),
            esc(&f.sha256)
        );
    }
    let _ = write!(
        b,
        "<tr><th>derivation rule</th><td>{}</td></tr></table>",
        esc(&r.rule)
    );
    b.push_str("<h2>Requirements by derived status</h2><p>");
    for (s, n) in &r.counts {
        let _ = write!(b, "{} {n} &nbsp; ", pill(s));
    }
    let _ = write!(
        b,
        "</p><h2>Gaps: no automated or attested evidence ({})</h2><p>{}</p>",
        r.gaps.len(),
        if r.gaps.is_empty() {
            "None.".to_string()
        } else {
            esc(&r.gaps.join(", "))
        }
    );
    b.push_str("<h2>Requirements</h2><table class=\"wrap\"><thead><tr><th>requirement</th><th>level</th><th>title</th><th>status</th><th>Annex A (relationship: status)</th><th>clauses</th><th>why</th></tr></thead><tbody>");
    for q in &r.requirements {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"small\">{}</td><td class=\"small\">{}</td><td class=\"small\">{}</td></tr>",
            esc(&q.id),
            esc(q.level.as_deref().unwrap_or("")),
            esc(&q.title),
            pill(&q.status),
            esc(&controls_cell(q)),
            esc(&q.clauses.join(", ")),
            esc(&q.reason)
        );
    }
    b.push_str("</tbody></table>");
    page(&r.title, &b)
}

/// JSON shape of the `isms` report.
#[derive(serde::Serialize)]
struct IsmsJson<'a> {
    generated_at: chrono::DateTime<chrono::Utc>,
    items: &'a [IsmsRow],
}

/// The ISMS checklist in `format`.
pub fn isms(rows: &[IsmsRow], at: chrono::DateTime<chrono::Utc>, format: Format) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec_pretty(&IsmsJson {
            generated_at: at,
            items: rows,
        })
        .unwrap_or_default(),
        Format::Csv => {
            let mut o = String::from("clause,label,status,attester,signed_at,expires,documents\n");
            for r in rows {
                let (who, signed, exp, docs) = current_cells(r);
                let _ = writeln!(
                    o,
                    "{},{},{},{},{},{},{}",
                    csv(&r.id),
                    csv(&r.label),
                    r.status,
                    csv(&who),
                    signed,
                    exp,
                    csv(&docs)
                );
            }
            o.into_bytes()
        }
        Format::Markdown => {
            let mut o =
                String::from("# ISMS documented information (ISO/IEC 27001:2022 clauses 4–10)\n\n");
            let _ = writeln!(o, "Generated {}.\n", fmt_time(at));
            isms_md_section(&mut o, rows);
            o.into_bytes()
        }
        Format::Html => {
            let mut b = format!(
                "<h1>ISMS documented information</h1><div class=\"meta\">ISO/IEC 27001:2022 clauses 4–10 · generated {}</div>",
                fmt_time(at)
            );
            isms_html_section(&mut b, rows);
            page("ISMS documented information", &b).into_bytes()
        }
    }
}

fn current_cells(r: &IsmsRow) -> (String, String, String, String) {
    let shown = r.current.as_ref().or(r.attestations.first());
    match shown {
        None => Default::default(),
        Some(a) => (
            a.attester.clone(),
            a.signed_at.format("%Y-%m-%d").to_string(),
            a.expires.to_string(),
            a.evidence
                .iter()
                .map(|(n, d)| format!("{n} {d}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
    }
}

fn summary(rows: &[IsmsRow]) -> String {
    let n = |s: &str| rows.iter().filter(|r| r.status == s).count();
    format!(
        "{} of {} present, {} expired, {} missing.",
        n("present"),
        rows.len(),
        n("expired"),
        n("missing")
    )
}

/// The checklist as a Markdown section (also appended to the SoA).
pub fn isms_md_section(o: &mut String, rows: &[IsmsRow]) {
    let _ = writeln!(
        o,
        "{} An item is present with a current signed attestation referencing its document by digest.\n",
        summary(rows)
    );
    let _ = writeln!(o, "| clause | documented information | status | attested by | signed | counts until | documents |\n| --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        let (who, signed, exp, docs) = current_cells(r);
        let status = if r.status == "present" {
            r.status.clone()
        } else {
            format!("**{}**", r.status)
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.id,
            md(&r.label),
            status,
            md(&who),
            signed,
            exp,
            md(&docs)
        );
    }
}

/// The checklist as an HTML section (also in the SoA).
pub fn isms_html_section(b: &mut String, rows: &[IsmsRow]) {
    let _ = write!(b, "<p>{}</p>", esc(&summary(rows)));
    b.push_str("<table><thead><tr><th>clause</th><th>documented information</th><th>status</th><th>attested by</th><th>signed</th><th>counts until</th><th>documents</th></tr></thead><tbody>");
    for r in rows {
        let (who, signed, exp, docs) = current_cells(r);
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"small\">{}</td></tr>",
            esc(&r.id),
            esc(&r.label),
            pill(&r.status),
            esc(&who),
            signed,
            exp,
            esc(&docs)
        );
    }
    b.push_str("</tbody></table>");
}

/// The SoA followed by the ISMS checklist (Markdown and HTML; JSON and CSV
/// stay one row per control: `isms --format json|csv` gives the checklist).
pub fn soa_with_isms(mut soa: Vec<u8>, rows: &[IsmsRow], format: Format) -> Vec<u8> {
    match format {
        Format::Markdown => {
            let mut o = String::from("\n## ISMS documented information (clauses 4–10)\n\n");
            isms_md_section(&mut o, rows);
            soa.extend_from_slice(o.as_bytes());
            soa
        }
        Format::Html => {
            let mut o = String::from("<h2>ISMS documented information (clauses 4–10)</h2>");
            isms_html_section(&mut o, rows);
            let text = String::from_utf8_lossy(&soa);
            match text.rfind("</body>") {
                Some(at) => {
                    let mut s = text[..at].to_string();
                    s.push_str(&o);
                    s.push_str(&text[at..]);
                    s.into_bytes()
                }
                None => soa,
            }
        }
        Format::Json | Format::Csv => soa,
    }
}

/// Attribute groups in `format`.
pub fn groups(g: &[AttributeGroup], ty: &str, format: Format) -> Vec<u8> {
    let statuses = |x: &AttributeGroup| {
        x.status_counts
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match format {
        Format::Json => serde_json::to_vec_pretty(g).unwrap_or_default(),
        Format::Csv => {
            let mut o = String::from("value,controls,statuses,control_ids\n");
            for x in g {
                let _ = writeln!(
                    o,
                    "{},{},{},{}",
                    csv(&x.value),
                    x.controls.len(),
                    csv(&statuses(x)),
                    csv(&x.controls.join(" "))
                );
            }
            o.into_bytes()
        }
        Format::Markdown => {
            let mut o = format!("# Controls grouped by attribute `{ty}`\n\n| value | controls | statuses | control ids |\n| --- | ---: | --- | --- |\n");
            for x in g {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} |",
                    x.value,
                    x.controls.len(),
                    statuses(x),
                    x.controls.join(", ")
                );
            }
            o.into_bytes()
        }
        Format::Html => {
            let mut b = format!("<h1>Controls grouped by attribute <code>{}</code></h1><table><thead><tr><th>value</th><th>controls</th><th>statuses</th><th>control ids</th></tr></thead><tbody>", esc(ty));
            for x in g {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"small\">{}</td></tr>",
                    esc(&x.value),
                    x.controls.len(),
                    esc(&statuses(x)),
                    esc(&x.controls.join(", "))
                );
            }
            b.push_str("</tbody></table>");
            page("Controls by attribute", &b).into_bytes()
        }
    }
}
