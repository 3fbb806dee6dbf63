//! The scan pipeline: collect the probes the policies need, build evidence,
//! evaluate; and the scan's exit code. Used by `evident-agent scan`.

use crate::collect::{collect, CollectError};
use crate::hostroot::HostRoot;
use chrono::{DateTime, Utc};
use evident_core::policy::{evaluate, Evaluation, PolicySet};
use evident_core::Evidence;

/// Collect what `set` needs (plus `host`) under `root` and evaluate it.
pub fn scan(
    set: &PolicySet,
    root: &HostRoot,
    now: DateTime<Utc>,
) -> Result<(Evidence, Evaluation), CollectError> {
    let mut needed = set.probes_needed();
    // Data the collector derives (`vulns`) is not collected here: rules
    // reading it are no-evidence in a scan.
    needed.retain(|p| {
        !evident_core::schema::probes::DERIVED
            .iter()
            .any(|d| d.id == p)
    });
    if !needed.iter().any(|p| p == "host") {
        needed.insert(0, "host".to_string());
    }
    let collected = collect(root, &needed)?;
    let evidence = Evidence::from_collected(&collected, now);
    let evaluation = evaluate(set, &evidence);
    Ok((evidence, evaluation))
}

/// The exit code of a scan: 2 when a rule ended in `error` (the policy is
/// broken for this host, so the result proves nothing), 1 when a rule
/// failed, 0 otherwise.
pub fn exit_code(evaluation: &Evaluation) -> u8 {
    if !evaluation.rule_errors().is_empty() {
        2
    } else if evaluation.has_failures() {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::policy::{RuleResult, RuleStatus, Severity, Summary};

    fn with(statuses: &[RuleStatus]) -> Evaluation {
        Evaluation {
            host: Default::default(),
            collected_at: "2026-11-20T10:00:00Z".parse().unwrap(),
            policies: vec![],
            waivers: None,
            controls: vec![],
            rules: statuses
                .iter()
                .enumerate()
                .map(|(i, s)| RuleResult {
                    id: format!("r{i}"),
                    policy: "p".into(),
                    title: String::new(),
                    controls: vec![],
                    severity: Severity::Low,
                    status: *s,
                    underlying: None,
                    message: Some("check failed: no such key: nope".into()),
                    remediation: None,
                    waiver: None,
                })
                .collect(),
            expired_waivers: vec![],
            summary: Summary::default(),
        }
    }

    #[test]
    fn errors_exit_2_failures_1_otherwise_0() {
        use RuleStatus::*;
        assert_eq!(
            exit_code(&with(&[Pass, NotApplicable, Waived, NoEvidence])),
            0
        );
        assert_eq!(exit_code(&with(&[Pass, Fail])), 1);
        let broken = with(&[Fail, Error]);
        assert_eq!(exit_code(&broken), 2);
        assert_eq!(
            broken.rule_errors(),
            vec!["rule `r1` (p) errored: check failed: no such key: nope"]
        );
    }
}
