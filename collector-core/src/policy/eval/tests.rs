//! Tests of `eval`.

use super::*;
use crate::catalog::Catalog;
use crate::evidence::ProbeData;
use crate::policy::PolicySource;
use serde_json::json;

const POLICY: &str = r#"
[policy]
id = "t"
version = "1"
title = "Test"
applies_to = 'host.os_family == "linux"'

[[rule]]
id = "ssh.root-login"
title = "No root login"
controls = ["A.8.2", "A.8.5"]
severity = "high"
requires = ["sshd"]
check = 'sshd.permitrootlogin in ["no", "prohibit-password"]'
remediation = "Set PermitRootLogin no."

[[rule]]
id = "ssh.max-auth-tries"
title = "Few auth tries"
controls = ["A.8.5"]
severity = "medium"
requires = ["sshd"]
check = 'sshd.maxauthtries <= 4'

[[rule]]
id = "ssh.typo"
title = "Reads a key the data lacks (valid by the schema, fails at run time)"
controls = ["A.8.5"]
severity = "low"
requires = ["sshd"]
check = 'sshd.match_blocks.size() == 0'

[[rule]]
id = "accounts.uid0"
title = "Only root has uid 0"
controls = ["A.8.2"]
severity = "critical"
requires = ["accounts"]
check = 'accounts.uid0_accounts == ["root"]'

[[rule]]
id = "fw.ufw-only"
title = "ufw enabled where installed"
controls = ["A.8.20"]
severity = "medium"
requires = ["firewall"]
applies_to = 'firewall.ufw.installed'
check = 'firewall.ufw.enabled'

[[rule]]
id = "not-bool"
title = "Returns a string (the validator cannot type the result of a function)"
controls = ["A.8.9"]
severity = "low"
requires = ["sshd"]
check = '[sshd.permitrootlogin].map(x, x)[0]'
"#;

fn set() -> PolicySet {
    PolicySet::load(
        &[PolicySource::new("t.toml", POLICY.as_bytes())],
        Catalog::annex_a(),
    )
    .unwrap()
}

fn evidence(sshd: serde_json::Value) -> Evidence {
    let mut probes = BTreeMap::new();
    probes.insert(
        "sshd".to_string(),
        ProbeData {
            version: 1,
            status: ProbeStatus::Ok,
            reason: None,
            data: Some(sshd),
        },
    );
    probes.insert(
        "accounts".to_string(),
        ProbeData {
            version: 1,
            status: ProbeStatus::Error,
            reason: Some("/etc/shadow: permission denied".into()),
            data: None,
        },
    );
    probes.insert(
        "firewall".to_string(),
        ProbeData {
            version: 1,
            status: ProbeStatus::Ok,
            reason: None,
            data: Some(json!({"ufw": {"installed": false, "enabled": false}})),
        },
    );
    Evidence {
        host: HostFacts {
            hostname: "web-1".into(),
            os_family: "linux".into(),
            ..Default::default()
        },
        collected_at: "2026-11-20T10:00:00Z".parse().unwrap(),
        probes,
    }
}

fn status(ev: &Evaluation, id: &str) -> RuleStatus {
    ev.rules.iter().find(|r| r.id == id).unwrap().status
}

fn control(ev: &Evaluation, id: &str) -> ControlStatus {
    ev.controls.iter().find(|c| c.id == id).unwrap().status
}

#[test]
fn each_rule_gets_its_own_status_and_a_broken_rule_stops_nothing() {
    let set = set();
    let ev = evaluate(
        &set,
        &evidence(json!({"permitrootlogin": "yes", "maxauthtries": 3})),
    );
    assert_eq!(status(&ev, "ssh.root-login"), RuleStatus::Fail);
    let msg = ev.rules[0].message.as_deref().unwrap();
    assert!(msg.contains("sshd.permitrootlogin = \"yes\""), "{msg}");
    assert_eq!(status(&ev, "ssh.max-auth-tries"), RuleStatus::Pass);
    assert_eq!(status(&ev, "ssh.typo"), RuleStatus::Error);
    let msg = ev.rules[2].message.as_deref().unwrap();
    assert!(msg.contains("match_blocks"), "{msg}");
    assert_eq!(status(&ev, "accounts.uid0"), RuleStatus::NoEvidence);
    assert!(ev.rules[3]
        .message
        .as_deref()
        .unwrap()
        .contains("permission denied"));
    assert_eq!(status(&ev, "fw.ufw-only"), RuleStatus::NotApplicable);
    assert_eq!(status(&ev, "not-bool"), RuleStatus::Error);
    assert!(ev.rules[5]
        .message
        .as_deref()
        .unwrap()
        .contains("expected a bool"));
    assert!(ev.has_failures());
    assert_eq!(
        ev.policies[0].sha256,
        crate::sha256_digest(POLICY.as_bytes())
    );
}

#[test]
fn controls_roll_up() {
    let set = set();
    let ev = evaluate(
        &set,
        &evidence(json!({"permitrootlogin": "no", "maxauthtries": 9})),
    );
    assert_eq!(ev.controls.len(), 93);
    // A.8.5: root-login pass, max-auth fail, typo error → partial.
    assert_eq!(control(&ev, "A.8.5"), ControlStatus::Partial);
    // A.8.2: root-login pass, uid0 no-evidence → partial.
    assert_eq!(control(&ev, "A.8.2"), ControlStatus::Partial);
    assert_eq!(control(&ev, "A.8.20"), ControlStatus::NotApplicable);
    assert_eq!(control(&ev, "A.8.9"), ControlStatus::NoEvidence);
    assert_eq!(control(&ev, "A.5.1"), ControlStatus::NotAutomated);
    let ev = evaluate(
        &set,
        &evidence(json!({"permitrootlogin": "yes", "maxauthtries": 9})),
    );
    assert_eq!(control(&ev, "A.8.5"), ControlStatus::NotSatisfied);
}

#[test]
fn policy_applies_to_gates_every_rule() {
    let set = set();
    let mut ev_in = evidence(json!({"permitrootlogin": "yes"}));
    ev_in.host.os_family = "windows".into();
    let ev = evaluate(&set, &ev_in);
    assert!(ev
        .rules
        .iter()
        .all(|r| r.status == RuleStatus::NotApplicable));
    assert!(!ev.has_failures());
}

#[test]
fn roll_up_table() {
    let mk = |s| RuleResult {
        id: "r".into(),
        policy: "p".into(),
        title: String::new(),
        controls: vec![],
        severity: Severity::Low,
        status: s,
        underlying: None,
        message: None,
        remediation: None,
        waiver: None,
    };
    use RuleStatus::*;
    let cases = [
        (vec![Pass, Pass], ControlStatus::Satisfied),
        (vec![Pass, Waived], ControlStatus::Satisfied),
        (vec![Fail, Fail], ControlStatus::NotSatisfied),
        (vec![Fail, Error], ControlStatus::NotSatisfied),
        (vec![Pass, Fail], ControlStatus::Partial),
        (vec![Pass, NoEvidence], ControlStatus::Partial),
        (vec![NoEvidence, Error], ControlStatus::NoEvidence),
        (vec![NotApplicable], ControlStatus::NotApplicable),
        (vec![NotApplicable, Pass], ControlStatus::Satisfied),
        (vec![], ControlStatus::NotAutomated),
    ];
    for (statuses, expected) in cases {
        let results: Vec<RuleResult> = statuses.iter().map(|s| mk(*s)).collect();
        let refs: Vec<&RuleResult> = results.iter().collect();
        assert_eq!(control_status(&refs), expected, "{statuses:?}");
    }
}

#[test]
fn partial_coverage_and_hybrid_controls_in_evaluation() {
    let text = r#"
[policy]
id = "c"
version = "1"
title = "Coverage"

[[rule]]
id = "ssh.root-login"
title = "No root login"
controls = ["A.8.2", "A.8.5"]
severity = "high"
requires = ["sshd"]
check = 'sshd.permitrootlogin == "no"'

[[control]]
id = "A.8.2"
coverage = "partial"
statement = "Covers root login over SSH; not sudo or other privileged paths."

[[control]]
id = "A.8.5"
coverage = "full"
attestation = { max_age_days = 90, statement = "MFA review" }
"#;
    let set = PolicySet::load(
        &[PolicySource::new("c.toml", text.as_bytes())],
        Catalog::annex_a(),
    )
    .unwrap();
    let ev = evidence(json!({"permitrootlogin": "no"}));
    let plain = evaluate(&set, &ev);
    assert_eq!(control(&plain, "A.8.2"), ControlStatus::PartiallyEvidenced);
    assert_eq!(control(&plain, "A.8.5"), ControlStatus::PartiallyEvidenced);
    let a85 = plain.controls.iter().find(|c| c.id == "A.8.5").unwrap();
    assert!(a85
        .note
        .as_deref()
        .unwrap()
        .contains("no older than 90 days: MFA review"));
    assert_eq!(a85.coverage, Some(Coverage::Full));
    let att = AttestationInput {
        digest: crate::sha256_digest(b"att"),
        control: "A.8.5".into(),
        signed_at: "2026-10-01T00:00:00Z".parse().unwrap(),
        expires: "2027-10-01".parse().unwrap(),
    };
    let with = evaluate_with(&set, &ev, std::slice::from_ref(&att));
    let a85 = with.controls.iter().find(|c| c.id == "A.8.5").unwrap();
    assert_eq!(a85.status, ControlStatus::Satisfied);
    assert_eq!(a85.attestation, Some(att.digest));
    assert_eq!(a85.note, None);
    // Partial coverage stays partial whatever attestations exist.
    assert_eq!(control(&with, "A.8.2"), ControlStatus::PartiallyEvidenced);
    assert_eq!(with.summary.controls[&ControlStatus::PartiallyEvidenced], 1);
    // A failing rule is not-satisfied, attestation or not.
    let failing = evaluate_with(&set, &evidence(json!({"permitrootlogin": "yes"})), &[att]);
    assert_eq!(control(&failing, "A.8.5"), ControlStatus::NotSatisfied);
    assert_eq!(control(&failing, "A.8.2"), ControlStatus::NotSatisfied);
    // The wire form round-trips.
    let back: Evaluation = serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
    assert_eq!(back, with);
}

#[test]
fn dotted_paths_skip_strings_and_methods() {
    assert_eq!(
        dotted_paths(r#"sshd.permitrootlogin in ["a.b"] && accounts.users.size() > 0 && x"#),
        vec!["sshd.permitrootlogin", "accounts.users"]
    );
}

#[test]
fn status_names_round_trip() {
    for s in [
        "pass",
        "fail",
        "error",
        "no-evidence",
        "not-applicable",
        "waived",
    ] {
        assert_eq!(RuleStatus::parse(s).unwrap().as_str(), s);
    }
    for s in [
        "satisfied",
        "not-satisfied",
        "partial",
        "partially-evidenced",
        "no-evidence",
        "not-automated",
        "not-applicable",
        "waived",
    ] {
        assert_eq!(ControlStatus::parse(s).unwrap().as_str(), s);
    }
}

#[test]
fn known_when_turns_undecidable_evidence_into_no_evidence_with_its_hint() {
    let text = r#"
[policy]
id = "k"
version = "1"
title = "Known"

[[rule]]
id = "accounts.no-empty-passwords"
title = "No empty passwords"
controls = ["A.5.17"]
severity = "high"
requires = ["accounts"]
known_when = 'accounts.shadow_readable || size(accounts.empty_password_accounts) > 0'
unknown_hint = "run the scan as root so /etc/shadow can be read"
check = 'size(accounts.empty_password_accounts) == 0'

[[rule]]
id = "accounts.no-extra-uid0"
title = "Only root has uid 0"
controls = ["A.5.17"]
severity = "high"
requires = ["accounts"]
check = 'accounts.uid0_accounts.all(n, n == "root")'

[[rule]]
id = "sudo.gated"
title = "A rule both gates apply to"
controls = ["A.8.2"]
severity = "low"
requires = ["accounts"]
applies_to = 'accounts.sudo.present'
known_when = 'accounts.shadow_readable'
check = 'true'

[[rule]]
id = "bad-gate"
title = "A gate that is not a bool"
controls = ["A.8.3"]
severity = "low"
requires = ["accounts"]
known_when = '[accounts.shadow_readable].map(x, x)[0] == true ? "x" : "y"'
check = 'true'
"#;
    let set = PolicySet::load(
        &[PolicySource::new("k.toml", text.as_bytes())],
        Catalog::annex_a(),
    )
    .unwrap();
    let accounts = |readable: bool, empty: &[&str], sudo: bool| {
        let mut ev = evidence(json!({}));
        ev.probes.insert(
            "accounts".into(),
            ProbeData {
                version: 1,
                status: ProbeStatus::Ok,
                reason: None,
                data: Some(json!({
                    "shadow_readable": readable,
                    "empty_password_accounts": empty,
                    "uid0_accounts": ["root"],
                    "sudo": {"present": sudo},
                })),
            },
        );
        ev
    };
    // Unprivileged scan: shadow unreadable, nothing seen → no-evidence with the hint.
    let ev = evaluate(&set, &accounts(false, &[], true));
    assert_eq!(
        status(&ev, "accounts.no-empty-passwords"),
        RuleStatus::NoEvidence
    );
    let msg = ev.rules[0].message.as_deref().unwrap();
    assert!(msg.contains("run the scan as root"), "{msg}");
    assert!(msg.contains("known_when"), "{msg}");
    // no-evidence never satisfies: with a passing sibling the control is partial.
    assert_eq!(status(&ev, "accounts.no-extra-uid0"), RuleStatus::Pass);
    assert_eq!(control(&ev, "A.5.17"), ControlStatus::Partial);
    assert_eq!(status(&ev, "sudo.gated"), RuleStatus::NoEvidence);
    assert_eq!(control(&ev, "A.8.2"), ControlStatus::NoEvidence);
    assert_eq!(status(&ev, "bad-gate"), RuleStatus::Error);
    assert!(ev.rules[3]
        .message
        .as_deref()
        .unwrap()
        .contains("known_when"));
    assert!(!ev.has_failures());
    // An empty password visible in /etc/passwd is a definite failure even unprivileged.
    let ev = evaluate(&set, &accounts(false, &["guest"], true));
    assert_eq!(status(&ev, "accounts.no-empty-passwords"), RuleStatus::Fail);
    // Readable: the check decides.
    let ev = evaluate(&set, &accounts(true, &[], true));
    assert_eq!(status(&ev, "accounts.no-empty-passwords"), RuleStatus::Pass);
    assert_eq!(control(&ev, "A.5.17"), ControlStatus::Satisfied);
    assert_eq!(status(&ev, "sudo.gated"), RuleStatus::Pass);
    // applies_to is asked first: not applicable beats unknown, and a control
    // whose rules are all not applicable reads not-applicable.
    let ev = evaluate(&set, &accounts(false, &[], false));
    assert_eq!(status(&ev, "sudo.gated"), RuleStatus::NotApplicable);
    assert_eq!(control(&ev, "A.8.2"), ControlStatus::NotApplicable);
    // The gate's reads count for the evaluation key.
    let only_host_in_gate = r#"
[policy]
id = "h"
version = "1"
title = "Host in gate"

[[rule]]
id = "h.r"
title = "r"
controls = ["A.8.9"]
severity = "low"
requires = ["kernel"]
known_when = 'host.hostname != ""'
check = 'kernel.usb_storage_disabled'
"#;
    let set = PolicySet::load(
        &[PolicySource::new("h.toml", only_host_in_gate.as_bytes())],
        Catalog::annex_a(),
    )
    .unwrap();
    assert!(set.reads_host());
}

/// Only the fields the expressions read are converted (`policy/fields.rs`),
/// and the results — passes, failures, a missing key's error, a value
/// that is not an object — are those of converting everything.
#[test]
fn converting_only_the_fields_read_gives_the_same_results() {
    let projected = set();
    let fields: Vec<&str> = projected
        .fields_converted("sshd")
        .expect("sshd is read field by field")
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(fields, ["match_blocks", "maxauthtries", "permitrootlogin"]);
    let whole = set().project_fields(false);
    assert!(whole.fields_converted("sshd").is_none());
    for sshd in [
        json!({"permitrootlogin": "no", "maxauthtries": 3, "match_blocks": [], "ciphers": ["a", "b"], "x": {"y": 1}}),
        json!({"permitrootlogin": "yes", "maxauthtries": 9, "unread": "z"}),
        json!({"unread": 1}),
        json!(["not", "an", "object"]),
    ] {
        let ev = evidence(sshd.clone());
        let a = evaluate(&projected, &ev);
        assert_eq!(a, evaluate(&whole, &ev), "{sshd}");
    }
    let a = evaluate(
        &projected,
        &evidence(json!({"permitrootlogin": "yes", "maxauthtries": 9})),
    );
    let status = |id: &str| a.rules.iter().find(|r| r.id == id).map(|r| r.status);
    assert_eq!(status("ssh.root-login"), Some(RuleStatus::Fail));
    assert_eq!(status("ssh.typo"), Some(RuleStatus::Error));
}
