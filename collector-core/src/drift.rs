//! Drift: what changed between a host's previous evaluation and its new one,
//! and which alerts that opens or resolves. Pure: the caller passes the
//! previous and new statuses and `now`; nothing here reads a clock.
//!
//! A *subject* is `rule:ID` or `control:ID`. Statuses are the wire names of
//! [`RuleStatus`](crate::policy::RuleStatus) and
//! [`ControlStatus`](crate::policy::ControlStatus).

use crate::policy::{ControlResult, RuleResult, RuleStatus, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Subject → status, for one evaluation.
pub type StatusMap = BTreeMap<String, String>;

/// Whether a status counts as compliant, failing, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// `pass`, `satisfied`, or covered by a waiver / not applicable.
    Good,
    /// `fail`; a control `not-satisfied` or `partial`.
    Bad,
    /// Cannot tell (`error`, `no-evidence`): leaves alerts as they are.
    Unknown,
}

/// The health of `status` for `subject`.
pub fn health(subject: &str, status: &str) -> Health {
    if subject.starts_with("control:") {
        match status {
            "satisfied" | "waived" | "not-applicable" | "not-automated" => Health::Good,
            "not-satisfied" | "partial" => Health::Bad,
            _ => Health::Unknown,
        }
    } else {
        match status {
            "pass" | "waived" | "not-applicable" => Health::Good,
            "fail" => Health::Bad,
            _ => Health::Unknown,
        }
    }
}

/// What a change does to the subject's alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Record the transition only.
    None,
    /// Open an alert; `baseline` on a host's first statement (or a subject
    /// seen for the first time): the state found, not a drift.
    Open {
        /// First sight, not a change.
        baseline: bool,
    },
    /// Resolve the open alert.
    Resolve,
}

/// One subject whose status differs from the previous statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// `rule:ID` or `control:ID`.
    pub subject: String,
    /// Previous status (None: first sight).
    pub from: Option<String>,
    /// New status.
    pub to: String,
    /// Effect on the alert.
    pub action: Action,
}

/// Compare a host's previous statuses (None for its first statement) with
/// the new ones. Subjects absent from `next` are left alone.
pub fn diff(prev: Option<&StatusMap>, next: &StatusMap) -> Vec<Change> {
    let mut out = Vec::new();
    for (subject, to) in next {
        let from = prev.and_then(|p| p.get(subject));
        if from == Some(to) {
            continue;
        }
        let new_h = health(subject, to);
        let action = match from {
            None => {
                if new_h == Health::Bad {
                    Action::Open { baseline: true }
                } else {
                    Action::None
                }
            }
            Some(f) => match (health(subject, f), new_h) {
                (Health::Bad, Health::Good) => Action::Resolve,
                (Health::Good | Health::Unknown, Health::Bad) => Action::Open { baseline: false },
                _ => Action::None,
            },
        };
        // First sight of a compliant or unknown subject is not worth a row.
        if from.is_none() && action == Action::None {
            continue;
        }
        out.push(Change {
            subject: subject.clone(),
            from: from.cloned(),
            to: to.clone(),
            action,
        });
    }
    out
}

/// An alert not yet resolved (open or acknowledged), as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    /// Alert id.
    pub id: i64,
    /// `rule:ID`, `control:ID`, `host`, `integrity:KIND`.
    pub subject: String,
    /// Its severity.
    pub severity: String,
    /// Opened on first sight, not as a change: no notification.
    pub baseline: bool,
    /// Collapsed flapping: resolved only once the subject calms down.
    pub flapping: bool,
}

/// An alert to open unless one is already open for the host, kind and subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertToOpen {
    /// `drift`, `integrity` or `stale`.
    pub kind: &'static str,
    /// Subject.
    pub subject: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// First sight, not a change.
    pub baseline: bool,
    /// For a person.
    pub detail: String,
    /// Queue an `opened` notification when it is opened.
    pub notify: bool,
}

/// One operation on a host's alerts, in the order to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertOp {
    /// Open an alert (unless one is open).
    Open(AlertToOpen),
    /// Resolve alert `id`.
    Resolve {
        /// Alert id.
        id: i64,
        /// Its kind.
        kind: &'static str,
        /// Its subject.
        subject: String,
        /// Severity the notification carries.
        severity: String,
        /// For a person.
        detail: String,
        /// Queue a `resolved` notification.
        notify: bool,
    },
    /// Mark alert `id` flapping (it stays open).
    MarkFlapping {
        /// Alert id.
        id: i64,
    },
}

/// What a new evaluation of a host changes: transitions to record (in
/// order) and alert operations to apply after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Status changes, each recorded as a transition at `now`.
    pub transitions: Vec<Change>,
    /// Alert operations.
    pub alerts: Vec<AlertOp>,
}

/// Everything [`decide`] looks at for one host.
#[derive(Debug, Clone, Copy)]
pub struct DriftContext<'a> {
    /// Statuses of the previous evaluation (None: the host's first).
    pub prev: Option<&'a StatusMap>,
    /// Statuses of the new evaluation.
    pub next: &'a StatusMap,
    /// Subject → severity of the new evaluation (`medium` when absent).
    pub severities: &'a BTreeMap<String, String>,
    /// The host's `drift` alerts not resolved.
    pub open: &'a [OpenAlert],
    /// Times of the host's earlier transitions of the subjects
    /// [`history_needed`] names, at or after `now - flap_window_ms`.
    pub history: &'a BTreeMap<String, Vec<i64>>,
    /// Unix ms of the new evaluation's arrival.
    pub now: i64,
    /// Flapping window, ms.
    pub flap_window_ms: i64,
    /// More transitions than this within the window is flapping.
    pub flap_threshold: u32,
}

/// The subjects whose recent transition times [`decide`] needs: those with
/// an open alert that the new statuses may resolve or calm down.
pub fn history_needed(
    prev: Option<&StatusMap>,
    next: &StatusMap,
    open: &[OpenAlert],
) -> Vec<String> {
    let resolving: Vec<String> = diff(prev, next)
        .into_iter()
        .filter(|c| c.action == Action::Resolve)
        .map(|c| c.subject)
        .collect();
    let mut out: Vec<String> = open
        .iter()
        .filter(|a| {
            resolving.contains(&a.subject)
                || (a.flapping
                    && next
                        .get(&a.subject)
                        .is_some_and(|s| health(&a.subject, s) == Health::Good))
        })
        .map(|a| a.subject.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Decide what a host's new evaluation does: every change becomes a
/// transition; a subject going bad opens a drift alert (a baseline one,
/// without notification, on first sight); going good resolves its open
/// alert unless it is flapping (more than `flap_threshold` transitions in
/// the window), which marks it flapping instead; a flapping alert whose
/// subject is good and has calmed down is resolved ("stopped flapping").
pub fn decide(ctx: &DriftContext<'_>) -> Decision {
    if ctx.prev.is_none() {
        return baseline_summary(ctx);
    }
    let changes = diff(ctx.prev, ctx.next);
    let times = |subject: &str| -> Vec<i64> {
        let mut t = ctx.history.get(subject).cloned().unwrap_or_default();
        if changes.iter().any(|c| c.subject == subject) {
            t.push(ctx.now);
        }
        t
    };
    let flapping_now = |subject: &str| {
        is_flapping(
            &times(subject),
            ctx.now,
            ctx.flap_window_ms,
            ctx.flap_threshold,
        )
    };
    let open_for = |subject: &str| ctx.open.iter().find(|a| a.subject == subject);
    let mut alerts = Vec::new();
    let mut resolved: Vec<i64> = Vec::new();
    let mut marked: Vec<i64> = Vec::new();
    for c in &changes {
        let severity = ctx
            .severities
            .get(&c.subject)
            .map(String::as_str)
            .unwrap_or("medium")
            .to_string();
        let detail = format!(
            "{}: {} → {}",
            c.subject,
            c.from.as_deref().unwrap_or("(first statement)"),
            c.to
        );
        match c.action {
            Action::None => {}
            Action::Open { baseline } => {
                if open_for(&c.subject).is_none() {
                    alerts.push(AlertOp::Open(AlertToOpen {
                        kind: "drift",
                        subject: c.subject.clone(),
                        severity,
                        baseline,
                        detail,
                        notify: !baseline,
                    }));
                }
            }
            Action::Resolve => {
                let Some(open) = open_for(&c.subject) else {
                    continue;
                };
                if flapping_now(&c.subject) {
                    alerts.push(AlertOp::MarkFlapping { id: open.id });
                    marked.push(open.id);
                    continue;
                }
                resolved.push(open.id);
                alerts.push(AlertOp::Resolve {
                    id: open.id,
                    kind: "drift",
                    subject: c.subject.clone(),
                    severity,
                    detail,
                    notify: !open.baseline,
                });
            }
        }
    }
    // Flapping alerts whose subject is compliant and has calmed down.
    for a in ctx.open {
        if !(a.flapping || marked.contains(&a.id)) || resolved.contains(&a.id) {
            continue;
        }
        let good = ctx
            .next
            .get(&a.subject)
            .is_some_and(|s| health(&a.subject, s) == Health::Good);
        if !good || flapping_now(&a.subject) {
            continue;
        }
        alerts.push(AlertOp::Resolve {
            id: a.id,
            kind: "drift",
            subject: a.subject.clone(),
            severity: a.severity.clone(),
            detail: "stopped flapping".into(),
            notify: !a.baseline,
        });
    }
    // The first statement's summary resolves once nothing fails any more.
    if let Some(b) = open_for(BASELINE_SUBJECT) {
        let failing = ctx.next.iter().any(|(s, st)| health(s, st) == Health::Bad);
        if !failing {
            alerts.push(AlertOp::Resolve {
                id: b.id,
                kind: "drift",
                subject: BASELINE_SUBJECT.into(),
                severity: b.severity.clone(),
                detail: "nothing fails any more".into(),
                notify: false,
            });
        }
    }
    Decision {
        transitions: changes,
        alerts,
    }
}

/// Subject of the one alert a host's first statement opens.
pub const BASELINE_SUBJECT: &str = "baseline";

/// Failing subjects named in the baseline alert's detail (the rest counted).
const BASELINE_LISTED: usize = 20;

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 3,
        "high" => 2,
        "medium" => 1,
        _ => 0,
    }
}

/// A host's first statement: the state found, not a change. One baseline
/// alert summarising what fails (no notification, the highest severity of
/// the failing subjects) and no per-subject rows, so a first statement
/// writes a bounded number of rows however many rules fail.
fn baseline_summary(ctx: &DriftContext<'_>) -> Decision {
    let failing: Vec<(&String, &String)> = ctx
        .next
        .iter()
        .filter(|(s, st)| health(s, st) == Health::Bad)
        .collect();
    if failing.is_empty() {
        return Decision::default();
    }
    let severity = failing
        .iter()
        .map(|(s, _)| {
            ctx.severities
                .get(*s)
                .map(String::as_str)
                .unwrap_or("medium")
        })
        .max_by_key(|s| severity_rank(s))
        .unwrap_or("medium")
        .to_string();
    let listed: Vec<String> = failing
        .iter()
        .take(BASELINE_LISTED)
        .map(|(s, st)| format!("{s} ({st})"))
        .collect();
    let more = failing.len().saturating_sub(BASELINE_LISTED);
    let detail = format!(
        "first statement: {} of {} subjects not compliant: {}{}",
        failing.len(),
        ctx.next.len(),
        listed.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    Decision {
        transitions: Vec::new(),
        alerts: vec![AlertOp::Open(AlertToOpen {
            kind: "drift",
            subject: BASELINE_SUBJECT.into(),
            severity,
            baseline: true,
            detail,
            notify: false,
        })],
    }
}

/// Evidence arriving from a host resolves its open `stale` alerts.
pub fn on_arrival(open_stale: &[OpenAlert]) -> Vec<AlertOp> {
    open_stale
        .iter()
        .map(|a| AlertOp::Resolve {
            id: a.id,
            kind: "stale",
            subject: a.subject.clone(),
            severity: a.severity.clone(),
            detail: "evidence arrived again".into(),
            notify: true,
        })
        .collect()
}

/// The alert an integrity event (`gap`, `chain`, `out-of-order`,
/// `conflict`) at `sequence` opens: a gap is `medium`, the others `high`.
pub fn integrity_alert(event: &str, sequence: i64) -> AlertToOpen {
    AlertToOpen {
        kind: "integrity",
        subject: format!("integrity:{event}"),
        severity: if event == "gap" { "medium" } else { "high" }.into(),
        baseline: false,
        detail: format!("{event} at sequence {sequence}"),
        notify: true,
    }
}

/// The statuses and severities of an evaluation: `rule:ID` → status and
/// `control:ID` → status. A control's severity is the highest of its
/// FAILING rules' (`low` when none fails): a passing high-severity rule
/// mapped to the same control does not raise a control alert's severity.
pub fn statuses(
    rules: &[RuleResult],
    controls: &[ControlResult],
) -> (StatusMap, BTreeMap<String, String>) {
    let mut st = StatusMap::new();
    let mut sev = BTreeMap::new();
    let mut control_sev: BTreeMap<&str, Severity> = BTreeMap::new();
    for r in rules {
        st.insert(format!("rule:{}", r.id), r.status.as_str().to_string());
        sev.insert(format!("rule:{}", r.id), r.severity.as_str().to_string());
        if r.status != RuleStatus::Fail {
            continue;
        }
        for c in &r.controls {
            let e = control_sev.entry(c.as_str()).or_insert(r.severity);
            if r.severity > *e {
                *e = r.severity;
            }
        }
    }
    for c in controls {
        st.insert(format!("control:{}", c.id), c.status.as_str().to_string());
        let s = control_sev
            .get(c.id.as_str())
            .copied()
            .unwrap_or(Severity::Low);
        sev.insert(format!("control:{}", c.id), s.as_str().to_string());
    }
    (st, sev)
}

/// How to fix one failing rule, as a notification carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remediation {
    /// Rule id.
    pub rule: String,
    /// Rule title.
    pub title: String,
    /// The rule's `remediation` text (empty when the rule has none).
    pub text: String,
}

/// The remediation of each failing subject: `rule:ID` → that rule, and
/// `control:ID` → every failing rule mapped to the control (in rule
/// order). Only subjects with a failing rule appear, so the map is bounded
/// by what fails.
pub fn remediations(rules: &[RuleResult]) -> BTreeMap<String, Vec<Remediation>> {
    let mut out: BTreeMap<String, Vec<Remediation>> = BTreeMap::new();
    for r in rules.iter().filter(|r| r.status == RuleStatus::Fail) {
        let fix = Remediation {
            rule: r.id.clone(),
            title: r.title.clone(),
            text: r.remediation.clone().unwrap_or_default(),
        };
        for c in &r.controls {
            out.entry(format!("control:{c}"))
                .or_default()
                .push(fix.clone());
        }
        out.insert(format!("rule:{}", r.id), vec![fix]);
    }
    out
}

/// Flapping: more than `threshold` transitions of one subject at or after
/// `now - window_ms`.
pub fn is_flapping(transition_times: &[i64], now: i64, window_ms: i64, threshold: u32) -> bool {
    let since = now.saturating_sub(window_ms);
    transition_times.iter().filter(|t| **t >= since).count() > threshold as usize
}

/// When a host that reported at `last_seen` (ms) on an `interval_seconds`
/// schedule becomes stale: `last_seen + interval × factor`.
pub fn stale_after(last_seen: i64, interval_seconds: u64, factor: f64) -> i64 {
    let window = (interval_seconds as f64 * 1000.0 * factor.max(1.0)).min(i64::MAX as f64 / 4.0);
    last_seen.saturating_add(window as i64)
}

/// Whether a host is stale at `now`.
pub fn is_stale(now: i64, last_seen: i64, interval_seconds: u64, factor: f64) -> bool {
    now > stale_after(last_seen, interval_seconds, factor)
}

/// Exponential backoff for delivery attempt `attempt` (1-based), capped.
pub fn backoff_ms(attempt: u32, initial_ms: u64, max_ms: u64) -> u64 {
    let shift = attempt.saturating_sub(1).min(30);
    initial_ms.saturating_mul(1u64 << shift).min(max_ms)
}

#[cfg(test)]
mod tests;
