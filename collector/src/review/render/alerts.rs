//! The alerts section of the Markdown and HTML reports: counts for the
//! period (opened, resolved, open at its end, time to resolve), then the
//! alerts themselves, open ones first, each with the statement that opened
//! or resolved it and its acknowledgement. Long lists are cut at
//! [`ROWS`] rows (the JSON report has every alert).

use super::html_audit::digest;
use super::text::{age, esc, fmt_time, md};
use evident_core::bundle::alerts::StatementRef;
use evident_core::report::{AlertRow, AlertsSection, Report};
use std::fmt::Write as _;

/// At most this many alerts are listed (open ones first).
const ROWS: usize = 200;

fn summary(a: &AlertsSection) -> String {
    let dur = |s: Option<i64>| s.map(age).unwrap_or_else(|| "–".into());
    format!(
        "{} opened and {} resolved in the period; {} open at its end ({} acknowledged). Time to resolve: median {}, longest {}.",
        a.opened,
        a.resolved,
        a.open_at_end,
        a.acknowledged_at_end,
        dur(a.median_resolve_seconds),
        dur(a.max_resolve_seconds)
    )
}

fn cite(s: &Option<StatementRef>) -> String {
    match s {
        Some(s) => format!("seq {} {}", s.sequence, s.envelope),
        None => "–".into(),
    }
}

fn ack(a: &AlertRow) -> String {
    match &a.acknowledged {
        Some(k) => format!("{} at {}: {}", k.by, fmt_time(k.at), k.reason),
        None => String::new(),
    }
}

/// The Markdown section (nothing when the evidence carries no alerts).
pub fn markdown(o: &mut String, r: &Report) {
    let Some(a) = &r.alerts else { return };
    let _ = writeln!(o, "\n## Alerts\n\n{}\n", summary(a));
    if a.alerts.is_empty() {
        return;
    }
    let _ = writeln!(o, "| state | severity | host | kind | subject | opened | opened by | acknowledged | resolved | resolved by | time to resolve |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | ---: |");
    for x in a.alerts.iter().take(ROWS) {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            x.state,
            md(&x.severity),
            md(&x.hostname),
            md(&x.kind),
            md(&x.subject),
            fmt_time(x.opened_at),
            cite(&x.opened_by),
            md(&ack(x)),
            x.resolved_at.map(fmt_time).unwrap_or_default(),
            cite(&x.resolved_by),
            x.resolve_seconds.map(age).unwrap_or_default()
        );
    }
    if a.alerts.len() > ROWS {
        let _ = writeln!(
            o,
            "\n{} more alerts are in the JSON report.",
            a.alerts.len() - ROWS
        );
    }
}

fn html_cite(s: &Option<StatementRef>) -> String {
    match s {
        Some(s) => format!("seq {} {}", s.sequence, digest(&s.envelope.to_string())),
        None => "–".into(),
    }
}

/// The HTML section (nothing when the evidence carries no alerts).
pub fn html(r: &Report) -> String {
    let Some(a) = &r.alerts else {
        return String::new();
    };
    let mut b = format!(
        "<h2>Alerts ({} open at the end of the period)</h2><p>{}</p>",
        a.open_at_end,
        esc(&summary(a))
    );
    if a.alerts.is_empty() {
        return b;
    }
    b.push_str("<table class=\"wrap\"><thead><tr><th>state</th><th>severity</th><th>host</th><th>alert</th><th>opened</th><th>acknowledged</th><th>resolved</th></tr></thead><tbody>");
    for x in a.alerts.iter().take(ROWS) {
        let ack = match &x.acknowledged {
            Some(k) => format!(
                "{} <div class=\"small\">{} · {}</div>",
                esc(&k.reason),
                esc(&k.by),
                fmt_time(k.at)
            ),
            None => String::new(),
        };
        let resolved = match x.resolved_at {
            Some(t) => format!(
                "{}<div class=\"small\">after {} · {}</div>",
                fmt_time(t),
                x.resolve_seconds.map(age).unwrap_or_default(),
                html_cite(&x.resolved_by)
            ),
            None => String::new(),
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"sev-{sev}\">{sev}</td><td>{}</td><td>{} <b>{}</b><div class=\"small\">{}{}</div></td><td>{}<div class=\"small\">{}</div></td><td>{}</td><td>{}</td></tr>",
            esc(&x.state),
            esc(&x.hostname),
            esc(&x.kind),
            esc(&x.subject),
            esc(&x.detail),
            if x.baseline { " (baseline)" } else { "" },
            fmt_time(x.opened_at),
            html_cite(&x.opened_by),
            ack,
            resolved,
            sev = esc(&x.severity),
        );
    }
    b.push_str("</tbody></table>");
    if a.alerts.len() > ROWS {
        let _ = write!(
            b,
            "<p class=\"small\">{} more alerts are in the JSON report.</p>",
            a.alerts.len() - ROWS
        );
    }
    b
}
