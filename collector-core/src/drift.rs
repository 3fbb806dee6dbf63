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
}
