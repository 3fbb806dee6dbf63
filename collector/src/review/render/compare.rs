//! `report --compare DATE1 DATE2`: what changed between two dates, as
//! Markdown, self-contained HTML or JSON.

use super::html::page;
use super::text::{esc, fmt_time, md, pill};
use evident_core::report::{Comparison, HostChange, Side};
use std::fmt::Write as _;

/// The comparison as JSON.
pub fn json(c: &Comparison) -> Vec<u8> {
    serde_json::to_vec_pretty(c).unwrap_or_default()
}

fn side_text(s: &Option<Side>) -> String {
    match s {
        None => "no evidence".to_string(),
        Some(s) => format!(
            "{} (sequence {}, {}, envelope {})",
            s.status,
            s.sequence,
            fmt_time(s.collected_at),
            s.envelope
        ),
    }
}

fn heading(c: &Comparison) -> String {
    format!(
        "{} → {}: {} → {} statements",
        fmt_time(c.from),
        fmt_time(c.to),
        c.statements.0,
        c.statements.1
    )
}

/// The comparison as Markdown.
pub fn markdown(c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# What changed\n\n{}\n", heading(c));
    if let Some(k) = &c.collector_key_id {
        let _ = writeln!(s, "Collector key: `{k}`\n");
    }
    let _ = writeln!(
        s,
        "Hosts added: {}; hosts without evidence any more: {}.\n",
        list_or_none(&c.hosts_added),
        list_or_none(&c.hosts_gone)
    );
    let _ = writeln!(s, "## Controls ({} changed)\n", c.controls.len());
    if !c.controls.is_empty() {
        s.push_str("| Control | Title | Before | After | Newly failing | Fixed | Still failing |\n|---|---|---|---|---|---|---|\n");
        for x in &c.controls {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} |",
                x.id,
                md(&x.title),
                x.before,
                x.after,
                x.newly_failing,
                x.fixed,
                x.still_failing
            );
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Rules\n");
    for r in &c.rules {
        let _ = writeln!(
            s,
            "### {} ({}, {})\n\n{} — controls {}\n",
            r.id,
            r.severity.as_str(),
            counts(r.newly_failing.len(), r.fixed.len(), r.still_failing.len()),
            md(&r.title),
            r.controls.join(", ")
        );
        for (label, hosts) in [
            ("Newly failing", &r.newly_failing),
            ("Fixed", &r.fixed),
            ("Still failing", &r.still_failing),
        ] {
            if hosts.is_empty() {
                continue;
            }
            let _ = writeln!(s, "{label}:\n\n| Host | Before | After |\n|---|---|---|");
            for h in hosts {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} |",
                    md(&h.hostname),
                    md(&side_text(&h.before)),
                    md(&side_text(&h.after))
                );
            }
            s.push('\n');
        }
    }
    if c.rules.is_empty() {
        s.push_str("No rule failed on any host at either date.\n");
    }
    s
}

fn counts(new: usize, fixed: usize, still: usize) -> String {
    format!("{new} newly failing, {fixed} fixed, {still} still failing")
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn host_rows(s: &mut String, label: &str, hosts: &[HostChange]) {
    for h in hosts {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"small\">{}</td><td class=\"small\">{}</td></tr>",
            esc(label),
            esc(&h.hostname),
            esc(&side_text(&h.before)),
            esc(&side_text(&h.after))
        );
    }
}

/// The comparison as one self-contained HTML page.
pub fn html(c: &Comparison) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>What changed</h1><div class=\"meta\">{}</div>",
        esc(&heading(c))
    );
    if let Some(k) = &c.collector_key_id {
        let _ = write!(
            b,
            "<p class=\"small\">Collector key <code>{}</code></p>",
            esc(k)
        );
    }
    let _ = write!(
        b,
        "<p>Hosts added: {}; hosts without evidence any more: {}.</p>",
        esc(&list_or_none(&c.hosts_added)),
        esc(&list_or_none(&c.hosts_gone))
    );
    let _ = write!(b, "<h2>Controls ({} changed)</h2>", c.controls.len());
    if !c.controls.is_empty() {
        b.push_str("<table><tr><th>Control</th><th>Title</th><th>Before</th><th>After</th><th>Newly failing</th><th>Fixed</th><th>Still failing</th></tr>");
        for x in &c.controls {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&x.id),
                esc(&x.title),
                pill(&x.before),
                pill(&x.after),
                x.newly_failing,
                x.fixed,
                x.still_failing
            );
        }
        b.push_str("</table>");
    }
    b.push_str("<h2>Rules</h2>");
    if c.rules.is_empty() {
        b.push_str("<p>No rule failed on any host at either date.</p>");
    }
    for r in &c.rules {
        let _ = write!(
            b,
            "<h3><code>{}</code> <span class=\"sev-{}\">{}</span> — {}</h3><p class=\"small\">{} — controls {}</p><table><tr><th>Change</th><th>Host</th><th>Before</th><th>After</th></tr>",
            esc(&r.id),
            r.severity.as_str(),
            r.severity.as_str(),
            esc(&counts(r.newly_failing.len(), r.fixed.len(), r.still_failing.len())),
            esc(&r.title),
            esc(&r.controls.join(", "))
        );
        host_rows(&mut b, "newly failing", &r.newly_failing);
        host_rows(&mut b, "fixed", &r.fixed);
        host_rows(&mut b, "still failing", &r.still_failing);
        b.push_str("</table>");
    }
    page("What changed", &b)
}
