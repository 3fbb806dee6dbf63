//! The auditor's sections of the HTML report: provenance (signing key,
//! policies, signature status), failing rules as a table in severity order
//! with the values found and the remediation, the evidence each result rests
//! on (sequence, collected-at, digest) and the host sample per control.

use super::text::{age, esc, fmt_time};
use evident_core::policy::Severity;
use evident_core::report::{FailingRule, Report};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A digest shortened for display, the full value in the tooltip.
pub fn digest(d: &str) -> String {
    let hex = d.trim_start_matches("sha256:");
    format!(
        "<code title=\"{}\">{}…</code>",
        esc(d),
        esc(hex.get(..16).unwrap_or(hex))
    )
}

/// Who signed, which policies, what was verified.
pub fn provenance(r: &Report) -> String {
    let p = &r.provenance;
    let mut b =
        String::from("<div class=\"card prov\"><h3>Evidence provenance</h3><table class=\"kv\">");
    let _ = write!(
        b,
        "<tr><th>collector key id</th><td><code>{}</code></td></tr>",
        esc(p.collector_key_id.as_deref().unwrap_or("unknown"))
    );
    let period = match (p.first_collected, p.last_collected) {
        (Some(a), Some(z)) => format!("{} – {}", fmt_time(a), fmt_time(z)),
        _ => "no evidence".into(),
    };
    let _ = write!(
        b,
        "<tr><th>evidence</th><td>{} signed statements from {} hosts, collected {}</td></tr><tr><th>signatures</th><td>{}</td></tr>",
        p.statements,
        r.hosts.len(),
        period,
        esc(&p.signatures)
    );
    b.push_str("<tr><th>policies</th><td>");
    if p.policies.is_empty() {
        b.push_str("none");
    }
    for pol in &p.policies {
        let _ = write!(
            b,
            "<div><b>{}</b> {} <span class=\"small\">{}</span> {}</div>",
            esc(&pol.id),
            esc(&pol.version),
            esc(&pol.source),
            digest(&pol.sha256.to_string())
        );
    }
    b.push_str("</td></tr>");
    if let Some(x) = &p.pruned {
        let _ = write!(
            b,
            "<tr><th>pruned by retention</th><td>{} unchanged statements on {} hosts, kept as chain stubs that link the signed statements; {}</td></tr>",
            x.statements,
            x.hosts,
            esc(&x.policies.join("; "))
        );
    }
    b.push_str("</table></div>");
    b
}

/// Hosts shown per control in the evidence-per-control table (the rest
/// are counted; `--sample` draws a reproducible subset instead).
const EVIDENCE_PER_CONTROL: usize = 5;

/// Hosts named per group of the failing rules table (the count is of all).
const SHOWN: usize = 10;

/// The sections built from the host rows, in one walk over them.
pub struct HostSections {
    /// Every failing rule, most severe first; hosts failing a rule the same
    /// way (same status and values found) share a row.
    pub failing_rules: String,
    /// Hosts whose machine id was enrolled more than once: their key history.
    pub key_history: String,
}

/// A group of the failing rules table: the rule, how many hosts, the first
/// [`SHOWN`] host names.
type Group = (FailingRule, usize, Vec<String>);

impl HostSections {
    /// Read the report's host rows once (memory: one row at a time, the
    /// groups, and the re-enrolled hosts' rows).
    pub fn of(r: &Report) -> std::io::Result<HostSections> {
        type Key = (std::cmp::Reverse<Severity>, String, String, String);
        let mut groups: BTreeMap<Key, Group> = BTreeMap::new();
        let (mut total, mut failing, mut hosts) = (0usize, 0usize, 0usize);
        let mut keys = String::new();
        let mut reenrolled = 0usize;
        for h in r.hosts.iter() {
            let h = h.map_err(std::io::Error::other)?;
            if !h.failing_rules.is_empty() {
                hosts += 1;
            }
            for f in &h.failing_rules {
                total += 1;
                // Rules the evidence could not decide are listed with the
                // failing ones (they need attention too) but never counted
                // as failures.
                if f.status.as_str() == "fail" {
                    failing += 1;
                }
                let g = groups
                    .entry((
                        std::cmp::Reverse(f.severity),
                        f.id.clone(),
                        f.status.as_str().to_string(),
                        f.message.clone().unwrap_or_default(),
                    ))
                    .or_insert_with(|| (f.clone(), 0, Vec::new()));
                g.1 += 1;
                if g.2.len() < SHOWN {
                    g.2.push(h.hostname.clone());
                }
            }
            if h.keys.len() > 1 {
                reenrolled += 1;
                for k in &h.keys {
                    let _ = write!(
                        keys,
                        "<tr><td>{}</td><td class=\"small\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&h.hostname),
                        esc(&k.agent),
                        digest(&k.key_id),
                        fmt_time(k.first_seen),
                        fmt_time(k.last_seen),
                        k.statements
                    );
                }
            }
        }
        let mut b = format!(
            "<h2>Failing rules ({failing} failing, {} undecided, on {hosts} host(s))</h2>",
            total - failing,
        );
        if groups.is_empty() {
            b.push_str("<p class=\"small\">No rule fails on any host.</p>");
        } else {
            b.push_str("<table class=\"wrap\"><thead><tr><th>severity</th><th>rule</th><th>status</th><th>hosts</th><th>expected / found</th><th>remediation</th></tr></thead><tbody>");
            for ((_, _, status, message), (f, count, names)) in &groups {
                let shown: Vec<String> = names.iter().map(|h| esc(h)).collect();
                let more = count.saturating_sub(names.len());
                let _ = write!(
                    b,
                    "<tr><td class=\"sev-{sev}\">{sev}</td><td>{}<div class=\"small\">{} · {}</div></td><td style=\"white-space:nowrap\">{}</td><td><b>{}</b><div class=\"small\">{}{}</div></td><td class=\"small\">{}</td><td class=\"small\">{}</td></tr>",
                    esc(&f.id),
                    esc(&f.title),
                    esc(&f.controls.join(" ")),
                    status,
                    count,
                    shown.join(", "),
                    if more > 0 { format!(" … {more} more") } else { String::new() },
                    esc(message),
                    esc(f.remediation.as_deref().unwrap_or("")),
                    sev = f.severity.as_str(),
                );
            }
            b.push_str("</tbody></table>");
        }
        let key_history = if reenrolled == 0 {
            String::new()
        } else {
            format!("<h2>Hosts enrolled more than once ({reenrolled})</h2><p class=\"small\">The same machine id signed with several keys (one per enrollment): one host, its key history oldest first.</p><table><thead><tr><th>host</th><th>agent</th><th>key id</th><th>first seen</th><th>last seen</th><th>statements</th></tr></thead><tbody>{keys}</tbody></table>")
        };
        Ok(HostSections {
            failing_rules: b,
            key_history,
        })
    }
}

/// Per automated control, the statements its result rests on: each host's
/// latest statement (sequence, collected at, envelope digest) — the
/// sampled hosts when a sample was drawn, else the first few.
pub fn control_evidence(r: &Report) -> String {
    let p = &r.provenance;
    if p.control_hosts.is_empty() {
        return String::new();
    }
    let by_agent: BTreeMap<&str, &evident_core::report::EvidenceRef> =
        p.evidence.iter().map(|e| (e.agent.as_str(), e)).collect();
    let mut b = String::from("<h2>Evidence per control</h2><p class=\"small\">The signed statement each control's result rests on, per host (its latest in the period).</p><table class=\"wrap\"><thead><tr><th>control</th><th>hosts</th><th>statements (host · sequence · collected · envelope sha256)</th></tr></thead><tbody>");
    for (control, agents) in &p.control_hosts {
        let shown: Vec<&String> = match p.sample.as_ref().and_then(|s| s.controls.get(control)) {
            Some(picked) => picked.iter().collect(),
            None => agents.iter().take(EVIDENCE_PER_CONTROL).collect(),
        };
        let rows: Vec<String> = shown
            .iter()
            .filter_map(|a| by_agent.get(a.as_str()))
            .map(|e| {
                format!(
                    "{} · {} · {} · {}",
                    esc(&e.hostname),
                    e.sequence,
                    fmt_time(e.collected_at),
                    digest(&e.envelope.to_string())
                )
            })
            .collect();
        let more = agents.len().saturating_sub(rows.len());
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td class=\"small\">{}{}</td></tr>",
            esc(control),
            agents.len(),
            rows.join("<br>"),
            if more > 0 {
                format!("<br>… {more} more (all in the Evidence table below)")
            } else {
                String::new()
            }
        );
    }
    b.push_str("</tbody></table>");
    b
}

/// The statement each host's results rest on.
pub fn evidence(r: &Report) -> String {
    let mut b = String::from("<h2>Evidence</h2><table><thead><tr><th>host</th><th>agent</th><th>sequence</th><th>collected at</th><th>envelope sha256</th><th>results sha256</th><th>signature</th></tr></thead><tbody>");
    for e in &r.provenance.evidence {
        let _ = write!(
            b,
            "<tr><td>{}</td><td class=\"small\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>verified</td></tr>",
            esc(&e.hostname),
            esc(&e.agent),
            e.sequence,
            fmt_time(e.collected_at),
            digest(&e.envelope.to_string()),
            digest(&e.results.to_string()),
        );
    }
    b.push_str("</tbody></table>");
    b
}

/// Hosts per control and the sample, when one was drawn.
pub fn sample(r: &Report) -> String {
    let Some(s) = &r.provenance.sample else {
        return String::new();
    };
    let names: std::collections::BTreeMap<&str, &str> = r
        .provenance
        .evidence
        .iter()
        .map(|e| (e.agent.as_str(), e.hostname.as_str()))
        .collect();
    let mut b = format!(
        "<h2>Sample</h2><p class=\"small\">{} host(s) per control, seed <code>{}</code> (run again with <code>--sample {} --seed {}</code> for the same sample).</p><table><thead><tr><th>control</th><th>hosts covering it</th><th>sampled</th></tr></thead><tbody>",
        s.per_control, s.seed, s.per_control, s.seed
    );
    for (control, picked) in &s.controls {
        let all = r
            .provenance
            .control_hosts
            .get(control)
            .map(Vec::len)
            .unwrap_or(0);
        let picked: Vec<String> = picked
            .iter()
            .map(|a| esc(names.get(a.as_str()).copied().unwrap_or(a)))
            .collect();
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{all}</td><td>{}</td></tr>",
            esc(control),
            picked.join(", ")
        );
    }
    b.push_str("</tbody></table>");
    b
}

/// Time to remediate per rule that failed, from the transitions.
pub fn remediation(r: &Report) -> String {
    let mut b = String::from("<h2>Time to remediate</h2>");
    if r.remediation.is_empty() {
        b.push_str("<p class=\"small\">No rule failed in the period.</p>");
        return b;
    }
    b.push_str("<table><thead><tr><th>rule</th><th>remediated</th><th>median</th><th>longest</th><th>still failing</th><th>open since</th></tr></thead><tbody>");
    let dur = |s: Option<i64>| s.map(age).unwrap_or_else(|| "–".into());
    for x in &r.remediation {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&x.rule),
            x.remediated,
            dur(x.median_seconds),
            dur(x.max_seconds),
            x.open,
            x.open_since.map(fmt_time).unwrap_or_else(|| "–".into())
        );
    }
    b.push_str("</tbody></table>");
    b
}
