//! Rendering an evaluation for people (table, Markdown) and machines (JSON).
//!
//! The table is what a person reads first: failing controls on top, each
//! failing rule with its reason and remediation next to it; colour only when
//! writing to a terminal (and `NO_COLOR` is unset).

use evident_core::policy::{ControlResult, ControlStatus, Evaluation, RuleResult, RuleStatus};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// ANSI styling, or none.
#[derive(Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colour on or off.
    pub fn new(color: bool) -> Style {
        Style { color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn control(&self, status: ControlStatus) -> String {
        let code = match status {
            ControlStatus::Satisfied => "32",
            ControlStatus::NotSatisfied => "1;31",
            ControlStatus::Partial | ControlStatus::PartiallyEvidenced => "33",
            ControlStatus::NoEvidence => "35",
            ControlStatus::Waived => "36",
            ControlStatus::NotAutomated | ControlStatus::NotApplicable => "2",
        };
        self.paint(code, status.as_str())
    }

    fn rule(&self, status: RuleStatus) -> String {
        let (code, mark) = match status {
            RuleStatus::Pass => ("32", "PASS"),
            RuleStatus::Fail => ("1;31", "FAIL"),
            RuleStatus::Error => ("35", "ERROR"),
            RuleStatus::NoEvidence => ("35", "NO-EVIDENCE"),
            RuleStatus::NotApplicable => ("2", "N/A"),
            RuleStatus::Waived => ("36", "WAIVED"),
        };
        self.paint(code, mark)
    }
}

fn control_rank(status: ControlStatus) -> u8 {
    match status {
        ControlStatus::NotSatisfied => 0,
        ControlStatus::Partial => 1,
        ControlStatus::NoEvidence => 2,
        ControlStatus::PartiallyEvidenced => 3,
        ControlStatus::Waived => 4,
        ControlStatus::Satisfied => 5,
        ControlStatus::NotApplicable => 6,
        ControlStatus::NotAutomated => 7,
    }
}

fn is_problem(r: &RuleResult) -> bool {
    matches!(
        r.status,
        RuleStatus::Fail | RuleStatus::Error | RuleStatus::NoEvidence | RuleStatus::Waived
    )
}

fn header(ev: &Evaluation) -> String {
    let h = &ev.host;
    let mut os = format!("{} {}", h.os_id, h.os_version).trim().to_string();
    if let Some(k) = &h.kernel {
        let _ = write!(os, ", kernel {k}");
    }
    format!(
        "Evident scan of {} ({}) at {}",
        h.hostname,
        os,
        ev.collected_at.format("%Y-%m-%d %H:%M:%SZ")
    )
}

fn sorted_controls(ev: &Evaluation) -> Vec<&ControlResult> {
    let mut controls: Vec<&ControlResult> = ev.controls.iter().collect();
    controls.sort_by_key(|c| control_rank(c.status));
    controls
}

fn summary_line(ev: &Evaluation) -> (String, String) {
    let controls = ev
        .summary
        .controls
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let rules = ev
        .summary
        .rules
        .iter()
        .map(|(s, n)| format!("{n} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    (controls, rules)
}

/// The terminal report.
pub fn table(ev: &Evaluation, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", style.paint("1", &header(ev)));
    for p in &ev.policies {
        let _ = writeln!(out, "policy {} {} ({})", p.id, p.version, p.sha256);
    }
    let _ = writeln!(out);
    let mut shown: BTreeSet<&str> = BTreeSet::new();
    let mut not_automated = 0;
    for c in sorted_controls(ev) {
        if c.status == ControlStatus::NotAutomated {
            not_automated += 1;
            continue;
        }
        let rules: Vec<&RuleResult> = ev
            .rules
            .iter()
            .filter(|r| r.controls.contains(&c.id))
            .collect();
        let _ = writeln!(
            out,
            "{:<7} {:<60} {}",
            c.id,
            truncate(&c.title, 60),
            style.control(c.status)
        );
        if let Some(note) = &c.note {
            let _ = writeln!(out, "        {note}");
        }
        for r in rules.iter().filter(|r| is_problem(r)) {
            let _ = writeln!(
                out,
                "    {} [{}] {}  {}",
                style.rule(r.status),
                r.severity.as_str(),
                r.id,
                r.title
            );
            if !shown.insert(r.id.as_str()) {
                continue;
            }
            if let Some(m) = &r.message {
                let _ = writeln!(out, "        {m}");
            }
            if let Some(w) = &r.waiver {
                let _ = writeln!(
                    out,
                    "        waived until {} by {}: {}",
                    w.expires, w.approver, w.justification
                );
            } else if r.status == RuleStatus::Fail {
                if let Some(fix) = &r.remediation {
                    let _ = writeln!(out, "        {} {fix}", style.paint("1", "fix:"));
                }
            }
        }
    }
    if not_automated > 0 {
        let _ = writeln!(
            out,
            "{}",
            style.paint(
                "2",
                &format!("{not_automated} controls not automated (organisational, people and physical controls are evidenced by documents)")
            )
        );
    }
    for w in &ev.expired_waivers {
        let _ = writeln!(out, "{} {w}", style.paint("33", "expired waiver:"));
    }
    let (controls, rules) = summary_line(ev);
    let _ = writeln!(out, "\ncontrols: {controls}\nrules: {rules}");
    out
}

/// The Markdown report.
pub fn markdown(ev: &Evaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", header(ev));
    for p in &ev.policies {
        let _ = writeln!(out, "- policy `{}` {} — `{}`", p.id, p.version, p.sha256);
    }
    let (controls, rules) = summary_line(ev);
    let _ = writeln!(out, "\n**Controls:** {controls}  \n**Rules:** {rules}\n");
    let problems: Vec<&RuleResult> = ev.rules.iter().filter(|r| is_problem(r)).collect();
    if !problems.is_empty() {
        let _ = writeln!(out, "## Findings\n\n| status | severity | rule | controls | detail | remediation |\n|---|---|---|---|---|---|");
        let mut sorted = problems;
        sorted.sort_by_key(|r| (r.status != RuleStatus::Fail, std::cmp::Reverse(r.severity)));
        for r in sorted {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` {} | {} | {} | {} |",
                r.status.as_str(),
                r.severity.as_str(),
                r.id,
                md(&r.title),
                r.controls.join(", "),
                md(r.message.as_deref().unwrap_or("")),
                md(r.remediation.as_deref().unwrap_or(""))
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "## Controls\n\n| control | title | theme | status | rules | note |\n|---|---|---|---|---|---|"
    );
    for c in sorted_controls(ev) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            c.id,
            md(&c.title),
            c.theme.as_str(),
            c.status.as_str(),
            c.rules.len(),
            md(c.note.as_deref().unwrap_or(""))
        );
    }
    out
}

/// The JSON report: the evaluation itself.
pub fn json(ev: &Evaluation) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(ev)
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
