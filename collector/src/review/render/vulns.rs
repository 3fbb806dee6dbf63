//! The vulnerability section of the Markdown and HTML reports (issue #18):
//! the snapshots matched against, the fleet table of the CVEs affecting the
//! most hosts, then per host its open and waived CVEs with first seen, age,
//! the fix and the waiver. Long host lists are cut at [`ROWS`] rows per
//! host (the JSON report has every CVE).

use super::html_audit::digest;
use super::text::{esc, md};
use evident_core::report::vulns::{CveRow, HostCves, VulnSection};
use evident_core::report::Report;
use std::fmt::Write as _;

/// At most this many CVEs are listed per host (open before waived).
const ROWS: usize = 100;

fn fix(c: &CveRow) -> String {
    c.fixed_version
        .clone()
        .unwrap_or_else(|| "no fix yet".to_string())
}

fn waiver(c: &CveRow) -> String {
    match &c.waived {
        Some(w) => format!(
            "waived until {} by {}: {}",
            w.expires, w.approver, w.justification
        ),
        None => String::new(),
    }
}

fn rows(h: &HostCves) -> impl Iterator<Item = &CveRow> {
    let open = h.cves.iter().filter(|c| c.waived.is_none());
    let waived = h.cves.iter().filter(|c| c.waived.is_some());
    open.chain(waived).take(ROWS)
}

fn summary(v: &VulnSection) -> String {
    let actionable: usize = v.hosts.iter().map(|h| h.actionable).sum();
    let unfixed: usize = v.hosts.iter().map(|h| h.unfixed).sum();
    let waived: usize = v.hosts.iter().map(|h| h.waived).sum();
    let affected = v
        .hosts
        .iter()
        .filter(|h| h.actionable + h.unfixed > 0)
        .count();
    format!(
        "{} host(s) matched, {} with open CVEs; {} distinct CVEs open. Per host: {} open with a fix available, {} open without a fix, {} waived.",
        v.hosts.len(),
        affected,
        v.distinct_open,
        actionable,
        unfixed,
        waived
    )
}

/// The Markdown section (nothing when no result was matched).
pub fn markdown(o: &mut String, r: &Report) {
    let Some(v) = &r.vulns else { return };
    let _ = writeln!(o, "\n## Vulnerabilities (A.8.8)\n\n{}\n", summary(v));
    for s in &v.snapshots {
        let _ = writeln!(
            o,
            "- snapshot `{}` ({}, {}, imported {})",
            s.digest,
            md(&s.format),
            md(&s.source),
            md(&s.imported_at)
        );
    }
    if !v.fleet.is_empty() {
        let _ = writeln!(o, "\n### CVEs affecting the most hosts\n\n| CVE | source packages | hosts open | hosts waived | urgency | fix available | first seen |\n| --- | --- | ---: | ---: | --- | --- | --- |");
        for f in &v.fleet {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md(&f.cve),
                md(&f.sources.join(", ")),
                f.open_hosts,
                f.waived_hosts,
                md(&f.urgency),
                if f.fix_available { "yes" } else { "no" },
                md(&f.first_seen)
            );
        }
    }
    for h in &v.hosts {
        let _ = writeln!(
            o,
            "\n### {} (seq {}, {})\n\n{} open with a fix, {} open without a fix, {} waived{}{}.",
            md(&h.hostname),
            h.sequence,
            if h.release.is_empty() {
                "not matched".to_string()
            } else {
                md(&h.release)
            },
            h.actionable,
            h.unfixed,
            h.waived,
            if h.kernel_reboot_pending.is_empty() {
                String::new()
            } else {
                format!(
                    "; reboot pending for {}",
                    md(&h.kernel_reboot_pending.join(", "))
                )
            },
            if h.unknown_versions > 0 {
                format!("; {} version(s) could not be ordered", h.unknown_versions)
            } else {
                String::new()
            }
        );
        if !h.note.is_empty() {
            let _ = writeln!(o, "\n{}", md(&h.note));
        }
        if h.cves.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n| CVE | source | installed | fix | status | urgency | first seen | age (days) | waiver |\n| --- | --- | --- | --- | --- | --- | --- | ---: | --- |");
        for c in rows(h) {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                md(&c.cve),
                md(&c.source),
                md(&c.installed),
                md(&fix(c)),
                md(&c.status),
                md(&c.urgency),
                md(&c.first_seen),
                c.age_days,
                md(&waiver(c))
            );
        }
        if h.cves.len() > ROWS {
            let _ = writeln!(
                o,
                "\n{} more CVEs are in the JSON report.",
                h.cves.len() - ROWS
            );
        }
    }
}

/// The HTML section (nothing when no result was matched).
pub fn html(r: &Report) -> String {
    let Some(v) = &r.vulns else {
        return String::new();
    };
    let mut b = format!(
        "<h2>Vulnerabilities (A.8.8)</h2><p>{}</p>",
        esc(&summary(v))
    );
    for s in &v.snapshots {
        let _ = write!(
            b,
            "<p class=\"small\">Snapshot {} ({}, {}, imported {})</p>",
            digest(&s.digest),
            esc(&s.format),
            esc(&s.source),
            esc(&s.imported_at)
        );
    }
    if !v.fleet.is_empty() {
        b.push_str("<h3>CVEs affecting the most hosts</h3><table><thead><tr><th>CVE</th><th>source packages</th><th>hosts open</th><th>hosts waived</th><th>urgency</th><th>fix</th><th>first seen</th></tr></thead><tbody>");
        for f in &v.fleet {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.cve),
                esc(&f.sources.join(", ")),
                f.open_hosts,
                f.waived_hosts,
                esc(&f.urgency),
                if f.fix_available { "available" } else { "none yet" },
                esc(&f.first_seen)
            );
        }
        b.push_str("</tbody></table>");
    }
    for h in &v.hosts {
        let _ = write!(
            b,
            "<details{}><summary><h3 style=\"display:inline\">{} — {} open with a fix, {} without, {} waived</h3></summary>",
            if h.actionable > 0 { " open" } else { "" },
            esc(&h.hostname),
            h.actionable,
            h.unfixed,
            h.waived
        );
        let _ = write!(
            b,
            "<p class=\"small\">sequence {}, release {}{}{}</p>",
            h.sequence,
            esc(if h.release.is_empty() {
                "not matched"
            } else {
                &h.release
            }),
            if h.note.is_empty() {
                String::new()
            } else {
                format!(" — {}", esc(&h.note))
            },
            if h.kernel_reboot_pending.is_empty() {
                String::new()
            } else {
                format!(
                    " — reboot pending for {}",
                    esc(&h.kernel_reboot_pending.join(", "))
                )
            }
        );
        if !h.cves.is_empty() {
            b.push_str("<table class=\"wrap\"><thead><tr><th>CVE</th><th>source</th><th>installed</th><th>fix</th><th>status</th><th>urgency</th><th>first seen</th><th>age</th><th>waiver</th></tr></thead><tbody>");
            for c in rows(h) {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} d</td><td>{}</td></tr>",
                    esc(&c.cve),
                    esc(&c.source),
                    esc(&c.installed),
                    esc(&fix(c)),
                    esc(&c.status),
                    esc(&c.urgency),
                    esc(&c.first_seen),
                    c.age_days,
                    esc(&waiver(c))
                );
            }
            b.push_str("</tbody></table>");
            if h.cves.len() > ROWS {
                let _ = write!(
                    b,
                    "<p class=\"small\">{} more CVEs are in the JSON report.</p>",
                    h.cves.len() - ROWS
                );
            }
        }
        b.push_str("</details>");
    }
    b
}
