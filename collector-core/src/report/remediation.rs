//! Time to remediate per rule, from the transitions in each host's signed
//! history: a rule that fails (or errors) on a host and later passes there
//! was remediated after the time between the two statements' collection
//! times; one still failing in the latest statement is open since it began.

use super::HostHistory;
use crate::policy::RuleStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Remediation times of one rule across the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationRow {
    /// Rule id.
    pub rule: String,
    /// Failures that were remediated (fail → pass on the same host).
    pub remediated: usize,
    /// Median seconds from the first failing to the first passing statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_seconds: Option<i64>,
    /// Longest such time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_seconds: Option<i64>,
    /// Hosts where it still fails.
    pub open: usize,
    /// When the oldest still-open failure began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_since: Option<DateTime<Utc>>,
}

/// Per rule that ever failed, in rule id order.
pub fn time_to_remediate(hosts: &[HostHistory]) -> Vec<RemediationRow> {
    let mut acc = RemediationAcc::default();
    for h in hosts {
        acc.add(h);
    }
    acc.finish()
}

/// Remediation times accumulated one host at a time: per rule, the
/// remediated durations and the start of each still-open failure.
#[derive(Debug, Default)]
pub(crate) struct RemediationAcc {
    fixed: BTreeMap<String, Vec<i64>>,
    open: BTreeMap<String, Vec<DateTime<Utc>>>,
}

impl RemediationAcc {
    /// Walk one host's history.
    pub(crate) fn add(&mut self, h: &HostHistory) {
        let mut failing_since: HashMap<&str, DateTime<Utc>> = HashMap::new();
        let mut previous: Option<&std::sync::Arc<crate::bundle::RecordedResults>> = None;
        for (at, _, results) in &h.statements {
            // The same results as the run before change nothing.
            if previous.is_some_and(|p| std::sync::Arc::ptr_eq(p, results)) {
                continue;
            }
            previous = Some(results);
            for r in &results.rules {
                match r.status {
                    RuleStatus::Fail | RuleStatus::Error => {
                        failing_since.entry(r.id.as_str()).or_insert(*at);
                    }
                    RuleStatus::Pass => {
                        if let Some(start) = failing_since.remove(r.id.as_str()) {
                            self.fixed
                                .entry(r.id.clone())
                                .or_default()
                                .push((*at - start).num_seconds());
                        }
                    }
                    // Waived, not applicable or without evidence: neither
                    // a remediation nor a new failure.
                    _ => {}
                }
            }
        }
        for (rule, since) in failing_since {
            self.open.entry(rule.to_string()).or_default().push(since);
        }
    }

    /// Per rule that ever failed, in rule id order.
    pub(crate) fn finish(self) -> Vec<RemediationRow> {
        let mut rules: Vec<&String> = self.fixed.keys().chain(self.open.keys()).collect();
        rules.sort_unstable();
        rules.dedup();
        rules
            .into_iter()
            .map(|rule| {
                let mut times = self.fixed.get(rule).cloned().unwrap_or_default();
                times.sort_unstable();
                let still = self.open.get(rule);
                RemediationRow {
                    rule: rule.clone(),
                    remediated: times.len(),
                    median_seconds: times.get(times.len() / 2).copied(),
                    max_seconds: times.last().copied(),
                    open: still.map(Vec::len).unwrap_or(0),
                    open_since: still.and_then(|s| s.iter().min().copied()),
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::bundle::RecordedResults;
    use std::sync::Arc;

    fn results(statuses: &[(&str, &str)]) -> Arc<RecordedResults> {
        let rules: Vec<serde_json::Value> = statuses
            .iter()
            .map(|(id, status)| {
                serde_json::json!({"id": id, "policy": "p", "title": id, "controls": ["A.8.5"],
                    "severity": "high", "status": status})
            })
            .collect();
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "policies": [], "controls": [], "rules": rules,
                "summary": {"rules": {}, "controls": {}}
            }))
            .unwrap(),
        )
    }

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600 + h * 3600, 0).unwrap()
    }

    #[test]
    fn fail_then_pass_is_remediated_and_a_failure_left_is_open() {
        let host = |agent: &str, runs: Vec<(i64, Vec<(&str, &str)>)>| HostHistory {
            agent: agent.into(),
            hostname: agent.into(),
            interval_seconds: 3600,
            statements: runs
                .into_iter()
                .enumerate()
                .map(|(i, (h, s))| (at(h), i as u64 + 1, results(&s)))
                .collect(),
            keys: vec![],
        };
        let hosts = vec![
            host(
                "a",
                vec![
                    (0, vec![("ssh", "fail"), ("fw", "pass")]),
                    (1, vec![("ssh", "fail"), ("fw", "fail")]),
                    (3, vec![("ssh", "pass"), ("fw", "fail")]),
                ],
            ),
            host(
                "b",
                vec![(0, vec![("ssh", "error")]), (10, vec![("ssh", "pass")])],
            ),
        ];
        let rows = time_to_remediate(&hosts);
        let ssh = rows.iter().find(|r| r.rule == "ssh").unwrap();
        assert_eq!(ssh.remediated, 2);
        assert_eq!(ssh.max_seconds, Some(36_000));
        assert_eq!(ssh.median_seconds, Some(36_000));
        assert_eq!(ssh.open, 0);
        let fw = rows.iter().find(|r| r.rule == "fw").unwrap();
        assert_eq!(fw.remediated, 0);
        assert_eq!(fw.open, 1);
        assert_eq!(fw.open_since, Some(at(1)));
    }
}
