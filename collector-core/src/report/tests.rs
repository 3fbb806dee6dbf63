//! Tests of `report`.

use super::*;
use ControlStatus as S;

#[test]
fn fleet_roll_up() {
    assert_eq!(fleet_status(&[]), S::NotAutomated);
    assert_eq!(fleet_status(&[S::Satisfied, S::Satisfied]), S::Satisfied);
    assert_eq!(fleet_status(&[S::Satisfied, S::NotSatisfied]), S::Partial);
    assert_eq!(
        fleet_status(&[S::NotSatisfied, S::NotSatisfied]),
        S::NotSatisfied
    );
    assert_eq!(fleet_status(&[S::Satisfied, S::Waived]), S::Waived);
    assert_eq!(fleet_status(&[S::NotApplicable]), S::NotApplicable);
    assert_eq!(
        fleet_status(&[S::NoEvidence, S::NotApplicable]),
        S::NoEvidence
    );
}

#[test]
fn report_has_93_controls_and_attestations_count_until_expiry() {
    let cat = Catalog::annex_a();
    let att = |current| AttestationRef {
        id: "x".into(),
        control: "A.6.3".into(),
        statement: "training done".into(),
        attester: "ciso".into(),
        signed_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        expires: "2026-12-31".parse().unwrap(),
        evidence: vec![],
        current,
    };
    let now = "2026-06-01T00:00:00Z".parse().unwrap();
    let r = build(cat, &[], &[att(true)], now);
    assert_eq!(r.controls.len(), 93);
    let c = r.controls.iter().find(|c| c.id == "A.6.3").unwrap();
    assert_eq!(c.status, ATTESTED);
    let r = build(cat, &[], &[att(false)], now);
    let c = r.controls.iter().find(|c| c.id == "A.6.3").unwrap();
    assert_eq!(c.status, "not-automated");
    let soa_file = SoaFile::parse(
        "[[exclude]]\ncontrol = \"A.7.4\"\njustification = \"cloud only\"\n",
        cat,
    )
    .unwrap();
    let rows = soa(&r, &soa_file);
    assert_eq!(rows.len(), 93);
    let row = rows.iter().find(|r| r.id == "A.7.4").unwrap();
    assert!(!row.applicable);
    assert_eq!(row.justification, "cloud only");
    assert!(SoaFile::parse(
        "[[exclude]]\ncontrol = \"A.99.1\"\njustification = \"x\"\n",
        cat
    )
    .is_err());
    assert!(SoaFile::parse(
        "[[exclude]]\ncontrol = \"A.7.4\"\njustification = \" \"\n",
        cat
    )
    .is_err());
}

/// The drift chart as it was computed over every host's whole history at
/// once (a cursor per host over the last 60 days): the reference the
/// host-by-host [`ReportBuilder`] must equal.
fn drift_reference(hosts: &[HostHistory]) -> Vec<DriftPoint> {
    let days: BTreeSet<NaiveDate> = hosts
        .iter()
        .flat_map(|h| h.statements.iter().map(|(t, _, _)| t.date_naive()))
        .collect();
    let days: Vec<NaiveDate> = days.into_iter().rev().take(60).rev().collect();
    let mut out = Vec::new();
    let mut cursor = vec![0usize; hosts.len()];
    for day in days {
        let mut p = DriftPoint {
            day,
            satisfied: 0,
            failing: 0,
            failing_rules: 0,
        };
        for (h, cur) in hosts.iter().zip(cursor.iter_mut()) {
            while h
                .statements
                .get(*cur + 1)
                .is_some_and(|(t, _, _)| t.date_naive() <= day)
            {
                *cur += 1;
            }
            let Some((t, _, r)) = h.statements.get(*cur) else {
                continue;
            };
            if t.date_naive() > day {
                continue;
            }
            for c in &r.controls {
                match c.status {
                    S::Satisfied | S::Waived => p.satisfied += 1,
                    S::NotSatisfied | S::Partial => p.failing += 1,
                    _ => {}
                }
            }
            p.failing_rules += r
                .rules
                .iter()
                .filter(|r| r.status == RuleStatus::Fail)
                .count();
        }
        out.push(p);
    }
    out
}

fn recorded(controls: &[&str], failing_rules: usize) -> Arc<RecordedResults> {
    let controls: Vec<serde_json::Value> = controls
        .iter()
        .enumerate()
        .map(|(i, s)| serde_json::json!({"id": format!("A.8.{}", i + 1), "title": "t", "theme": "Technological", "status": s}))
        .collect();
    let rules: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            serde_json::json!({"id": format!("r{i}"), "policy": "p", "title": "r", "controls": ["A.8.1"],
                "severity": "high", "status": if i < failing_rules { "fail" } else { "pass" }})
        })
        .collect();
    Arc::new(
        serde_json::from_value(serde_json::json!({
            "policies": [], "controls": controls, "rules": rules,
            "summary": {"rules": {}, "controls": {}}
        }))
        .unwrap(),
    )
}

#[test]
fn drift_built_host_by_host_equals_the_whole_fleet_walk() {
    let shapes = [
        recorded(&["satisfied", "not-satisfied"], 1),
        recorded(&["satisfied", "satisfied"], 0),
        recorded(&["partial", "not-satisfied"], 3),
        recorded(&["waived", "not-applicable"], 2),
    ];
    let day0: DateTime<Utc> = "2026-01-01T06:00:00Z".parse().unwrap();
    // A small deterministic generator: hosts with 0–150 statements over
    // ~100 days, several a day, some days skipped, clocks that sometimes go
    // back a few days, shared and distinct results.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for round in 0..40 {
        let mut hosts = Vec::new();
        for h in 0..(1 + next(6)) {
            let mut t = day0 + chrono::Duration::hours(next(24 * 40) as i64);
            let mut statements = Vec::new();
            for seq in 0..next(150) {
                t += chrono::Duration::hours(next(30) as i64);
                let at = if next(10) == 0 {
                    t - chrono::Duration::days(next(4) as i64)
                } else {
                    t
                };
                let r = shapes[next(shapes.len() as u64) as usize].clone();
                statements.push((at, seq + 1, r));
            }
            hosts.push(HostHistory {
                agent: format!("a{h}"),
                hostname: format!("h{h}"),
                interval_seconds: 3600,
                statements,
                keys: vec![],
            });
        }
        let now = day0 + chrono::Duration::days(400);
        let r = build(Catalog::annex_a(), &hosts, &[], now);
        assert_eq!(r.drift, drift_reference(&hosts), "round {round}");
        // The remediation times do not depend on how results are shared.
        let unshared: Vec<HostHistory> = hosts
            .iter()
            .map(|h| HostHistory {
                statements: h
                    .statements
                    .iter()
                    .map(|(t, s, r)| (*t, *s, Arc::new((**r).clone())))
                    .collect(),
                ..h.clone()
            })
            .collect();
        assert_eq!(
            r.remediation,
            build(Catalog::annex_a(), &unshared, &[], now).remediation,
            "round {round}"
        );
    }
}
