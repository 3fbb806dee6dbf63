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
