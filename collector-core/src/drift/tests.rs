//! Tests of drift decisions.
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
    // A first statement: one silent summary, no per-subject rows.
    assert!(d.transitions.is_empty());
    assert_eq!(
        d.alerts,
        vec![AlertOp::Open(AlertToOpen {
            kind: "drift",
            subject: BASELINE_SUBJECT.into(),
            severity: "critical".into(),
            baseline: true,
            detail: "first statement: 1 of 2 subjects not compliant: rule:a (fail)".into(),
            notify: false,
        })]
    );
    // A compliant first statement opens nothing.
    let ok = map(&[("rule:b", "pass")]);
    assert_eq!(
        decide(&ctx(None, &ok, &[], &none, &sev)),
        Decision::default()
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

#[test]
fn a_first_statement_writes_one_summary_however_many_rules_fail() {
    let none = BTreeMap::new();
    let sev: BTreeMap<String, String> = (0..60)
        .map(|i| {
            (
                format!("rule:r{i:02}"),
                if i == 33 { "high" } else { "low" }.to_string(),
            )
        })
        .collect();
    let next: StatusMap = (0..60)
        .map(|i| (format!("rule:r{i:02}"), "fail".to_string()))
        .collect();
    let d = decide(&ctx(None, &next, &[], &none, &sev));
    assert!(d.transitions.is_empty());
    assert_eq!(d.alerts.len(), 1);
    let AlertOp::Open(o) = &d.alerts[0] else {
        panic!("{:?}", d.alerts)
    };
    assert_eq!(o.severity, "high");
    assert!(
        o.detail
            .starts_with("first statement: 60 of 60 subjects not compliant: rule:r00 (fail)"),
        "{}",
        o.detail
    );
    assert!(o.detail.ends_with(" and 40 more"), "{}", o.detail);
    // It stays open while anything fails, and resolves silently once
    // nothing does; rules failing since the baseline open no drift alert.
    let open = [alert(3, BASELINE_SUBJECT, true, false)];
    let mut still = next.clone();
    still.insert("rule:r00".into(), "pass".into());
    let d = decide(&ctx(Some(&next), &still, &open, &none, &sev));
    assert_eq!(d.transitions.len(), 1);
    assert!(d.alerts.is_empty(), "{:?}", d.alerts);
    let clean: StatusMap = (0..60)
        .map(|i| (format!("rule:r{i:02}"), "pass".to_string()))
        .collect();
    let d = decide(&ctx(Some(&still), &clean, &open, &none, &sev));
    assert!(
        matches!(
            d.alerts.as_slice(),
            [AlertOp::Resolve {
                id: 3,
                notify: false,
                ..
            }]
        ),
        "{:?}",
        d.alerts
    );
}

fn rule(id: &str, controls: &[&str], severity: Severity, status: RuleStatus) -> RuleResult {
    RuleResult {
        id: id.into(),
        policy: "p".into(),
        title: format!("title of {id}"),
        controls: controls.iter().map(|c| c.to_string()).collect(),
        severity,
        status,
        underlying: None,
        message: None,
        remediation: Some(format!("fix {id}")),
        waiver: None,
    }
}

#[test]
fn a_control_alert_takes_the_severity_of_its_failing_rules_only() {
    let rules = [
        // A passing critical rule on the same control must not count.
        rule(
            "root-login",
            &["A.8.5"],
            Severity::Critical,
            RuleStatus::Pass,
        ),
        rule("pw-len", &["A.8.5"], Severity::Low, RuleStatus::Fail),
        rule(
            "mfa",
            &["A.8.5", "A.5.17"],
            Severity::Medium,
            RuleStatus::Fail,
        ),
        rule("ntp", &["A.8.17"], Severity::High, RuleStatus::Pass),
        rule("logs", &["A.8.15"], Severity::High, RuleStatus::NoEvidence),
    ];
    let (_, sev) = statuses(&rules, &[]);
    // No ControlResult given: controls get no entry at all.
    assert!(!sev.contains_key("control:A.8.5"));
    let controls: Vec<ControlResult> = ["A.8.5", "A.5.17", "A.8.17", "A.8.15"]
        .iter()
        .map(|id| ControlResult {
            id: id.to_string(),
            title: String::new(),
            theme: crate::catalog::Theme::Technological,
            status: crate::policy::ControlStatus::NotSatisfied,
            underlying: None,
            rules: Vec::new(),
            waiver: None,
            coverage: None,
            attestation: None,
            note: None,
        })
        .collect();
    let (_, sev) = statuses(&rules, &controls);
    assert_eq!(sev["control:A.8.5"], "medium");
    assert_eq!(sev["control:A.5.17"], "medium");
    // Nothing fails: the lowest severity, not the passing rule's high.
    assert_eq!(sev["control:A.8.17"], "low");
    assert_eq!(sev["control:A.8.15"], "low");
    // Rules keep their own severity.
    assert_eq!(sev["rule:root-login"], "critical");
}

#[test]
fn remediation_lists_the_failing_rules_of_each_subject() {
    let rules = [
        rule(
            "root-login",
            &["A.8.5"],
            Severity::Critical,
            RuleStatus::Pass,
        ),
        rule("pw-len", &["A.8.5"], Severity::Low, RuleStatus::Fail),
        rule(
            "mfa",
            &["A.8.5", "A.5.17"],
            Severity::Medium,
            RuleStatus::Fail,
        ),
    ];
    let m = remediations(&rules);
    let names = |k: &str| m[k].iter().map(|r| r.rule.as_str()).collect::<Vec<_>>();
    assert_eq!(names("control:A.8.5"), ["pw-len", "mfa"]);
    assert_eq!(names("control:A.5.17"), ["mfa"]);
    assert_eq!(m["rule:mfa"][0].text, "fix mfa");
    assert_eq!(m["rule:mfa"][0].title, "title of mfa");
    assert!(!m.contains_key("rule:root-login"));
    assert_eq!(m.len(), 4);
}
