//! Drift: what changed between a host's previous evaluation and its new one,
//! and which alerts that opens or resolves. Pure: the caller passes the
//! previous and new statuses and `now`; nothing here reads a clock.
//!
//! A *subject* is `rule:ID` or `control:ID`. Statuses are the wire names of
//! [`RuleStatus`](crate::policy::RuleStatus) and
//! [`ControlStatus`](crate::policy::ControlStatus).

use crate::policy::{ControlResult, RuleResult, Severity};
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
    Decision {
        transitions: changes,
        alerts,
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
/// `control:ID` → status; a control's severity is the highest of its rules'.
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
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> StatusMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn first_statement_opens_baseline_alerts_for_failures_only() {
        let next = map(&[
            ("rule:a", "fail"),
            ("rule:b", "pass"),
            ("control:A.8.5", "partial"),
            ("control:A.5.1", "not-automated"),
        ]);
        let c = diff(None, &next);
        assert_eq!(c.len(), 2);
        assert!(c
            .iter()
            .all(|c| c.action == Action::Open { baseline: true } && c.from.is_none()));
    }

    #[test]
    fn pass_to_fail_opens_and_back_resolves() {
        let a = map(&[("rule:a", "pass"), ("control:A.8.5", "satisfied")]);
        let b = map(&[("rule:a", "fail"), ("control:A.8.5", "not-satisfied")]);
        let c = diff(Some(&a), &b);
        assert_eq!(c.len(), 2);
        assert!(c
            .iter()
            .all(|c| c.action == Action::Open { baseline: false }));
        let c = diff(Some(&b), &a);
        assert!(c.iter().all(|c| c.action == Action::Resolve));
        assert_eq!(c[0].from.as_deref(), Some("not-satisfied"));
        assert!(diff(Some(&a), &a).is_empty());
    }

    #[test]
    fn unknown_statuses_leave_alerts_alone() {
        let a = map(&[("rule:a", "fail")]);
        let b = map(&[("rule:a", "error")]);
        assert_eq!(diff(Some(&a), &b)[0].action, Action::None);
        // error → fail opens (it was not known to fail).
        assert_eq!(
            diff(Some(&b), &a)[0].action,
            Action::Open { baseline: false }
        );
        // A waiver resolves.
        let w = map(&[("rule:a", "waived")]);
        assert_eq!(diff(Some(&a), &w)[0].action, Action::Resolve);
        // A control leaving satisfied for partial opens.
        let s = map(&[("control:x", "satisfied")]);
        let p = map(&[("control:x", "partial")]);
        assert_eq!(
            diff(Some(&s), &p)[0].action,
            Action::Open { baseline: false }
        );
    }

    #[test]
    fn new_subject_failing_is_baseline() {
        let a = map(&[("rule:a", "pass")]);
        let b = map(&[("rule:a", "pass"), ("rule:new", "fail")]);
        let c = diff(Some(&a), &b);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].action, Action::Open { baseline: true });
    }

    #[test]
    fn flapping_counts_transitions_in_the_window() {
        let t = [1_000, 2_000, 3_000, 9_000];
        assert!(is_flapping(&t, 9_000, 10_000, 3));
        assert!(!is_flapping(&t, 9_000, 7_000, 3));
        assert!(!is_flapping(&t, 9_000, 10_000, 4));
    }

    #[test]
    fn stale_window_is_interval_times_factor() {
        assert_eq!(stale_after(1_000, 60, 2.0), 121_000);
        assert!(!is_stale(121_000, 1_000, 60, 2.0));
        assert!(is_stale(121_001, 1_000, 60, 2.0));
        // A factor below 1 is treated as 1.
        assert_eq!(stale_after(0, 10, 0.5), 10_000);
        assert_eq!(stale_after(i64::MAX - 5, 10, 2.0), i64::MAX);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_ms(1, 100, 1000), 100);
        assert_eq!(backoff_ms(2, 100, 1000), 200);
        assert_eq!(backoff_ms(4, 100, 1000), 800);
        assert_eq!(backoff_ms(5, 100, 1000), 1000);
        assert_eq!(backoff_ms(99, 100, 1000), 1000);
    }

    fn alert(id: i64, subject: &str, baseline: bool, flapping: bool) -> OpenAlert {
        OpenAlert {
            id,
            subject: subject.into(),
            severity: "high".into(),
            baseline,
            flapping,
        }
    }

    fn ctx<'a>(
        prev: Option<&'a StatusMap>,
        next: &'a StatusMap,
        open: &'a [OpenAlert],
        history: &'a BTreeMap<String, Vec<i64>>,
        sev: &'a BTreeMap<String, String>,
    ) -> DriftContext<'a> {
        DriftContext {
            prev,
            next,
            severities: sev,
            open,
            history,
            now: 10_000,
            flap_window_ms: 5_000,
            flap_threshold: 2,
        }
    }

    #[test]
    fn decide_opens_baseline_silently_and_drift_with_notification() {
        let sev = BTreeMap::from([("rule:a".to_string(), "critical".to_string())]);
        let none = BTreeMap::new();
        let next = map(&[("rule:a", "fail"), ("rule:b", "pass")]);
        let d = decide(&ctx(None, &next, &[], &none, &sev));
        assert_eq!(d.transitions.len(), 1);
        assert_eq!(
            d.alerts,
            vec![AlertOp::Open(AlertToOpen {
                kind: "drift",
                subject: "rule:a".into(),
                severity: "critical".into(),
                baseline: true,
                detail: "rule:a: (first statement) → fail".into(),
                notify: false,
            })]
        );
        let prev = map(&[("rule:a", "pass"), ("rule:b", "pass")]);
        let next = map(&[("rule:a", "pass"), ("rule:b", "fail")]);
        let d = decide(&ctx(Some(&prev), &next, &[], &none, &sev));
        let AlertOp::Open(o) = &d.alerts[0] else {
            panic!("{:?}", d.alerts)
        };
        assert_eq!((o.notify, o.severity.as_str()), (true, "medium"));
        assert_eq!(o.detail, "rule:b: pass → fail");
        // Already open: nothing to open.
        let open = [alert(7, "rule:b", false, false)];
        assert!(decide(&ctx(Some(&prev), &next, &open, &none, &sev))
            .alerts
            .is_empty());
    }

    #[test]
    fn decide_resolves_or_marks_flapping() {
        let sev = BTreeMap::new();
        let prev = map(&[("rule:a", "fail")]);
        let next = map(&[("rule:a", "pass")]);
        let open = [alert(3, "rule:a", true, false)];
        assert_eq!(history_needed(Some(&prev), &next, &open), vec!["rule:a"]);
        let calm = BTreeMap::new();
        let d = decide(&ctx(Some(&prev), &next, &open, &calm, &sev));
        assert_eq!(
            d.alerts,
            vec![AlertOp::Resolve {
                id: 3,
                kind: "drift",
                subject: "rule:a".into(),
                severity: "medium".into(),
                detail: "rule:a: fail → pass".into(),
                notify: false,
            }]
        );
        // Two earlier transitions in the window plus this one: flapping.
        let busy = BTreeMap::from([("rule:a".to_string(), vec![6_000, 8_000])]);
        let d = decide(&ctx(Some(&prev), &next, &open, &busy, &sev));
        assert_eq!(d.alerts, vec![AlertOp::MarkFlapping { id: 3 }]);
        // No open alert: nothing to resolve.
        assert!(decide(&ctx(Some(&prev), &next, &[], &calm, &sev))
            .alerts
            .is_empty());
    }

    #[test]
    fn flapping_alerts_resolve_once_calm_and_good() {
        let sev = BTreeMap::new();
        let same = map(&[("rule:a", "pass")]);
        let open = [alert(4, "rule:a", false, true)];
        assert_eq!(history_needed(Some(&same), &same, &open), vec!["rule:a"]);
        let calm = BTreeMap::new();
        let d = decide(&ctx(Some(&same), &same, &open, &calm, &sev));
        assert!(d.transitions.is_empty());
        assert_eq!(
            d.alerts,
            vec![AlertOp::Resolve {
                id: 4,
                kind: "drift",
                subject: "rule:a".into(),
                severity: "high".into(),
                detail: "stopped flapping".into(),
                notify: true,
            }]
        );
        let busy = BTreeMap::from([("rule:a".to_string(), vec![6_000, 7_000, 8_000])]);
        assert!(decide(&ctx(Some(&same), &same, &open, &busy, &sev))
            .alerts
            .is_empty());
        let failing = map(&[("rule:a", "fail")]);
        assert!(history_needed(Some(&failing), &failing, &open).is_empty());
        assert!(decide(&ctx(Some(&failing), &failing, &open, &calm, &sev))
            .alerts
            .is_empty());
    }

    #[test]
    fn arrival_and_integrity_alerts() {
        let ops = on_arrival(&[alert(9, "host", false, false)]);
        assert!(
            matches!(&ops[..], [AlertOp::Resolve { id: 9, kind: "stale", notify: true, detail, .. }] if detail == "evidence arrived again")
        );
        let gap = integrity_alert("gap", 12);
        assert_eq!(
            (
                gap.subject.as_str(),
                gap.severity.as_str(),
                gap.detail.as_str()
            ),
            ("integrity:gap", "medium", "gap at sequence 12")
        );
        assert_eq!(integrity_alert("chain", 3).severity, "high");
    }
}
