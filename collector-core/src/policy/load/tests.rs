//! Tests of `load`.

use super::*;
use crate::policy::Coverage;

fn load(text: &str) -> Result<PolicySet, LoadErrors> {
    PolicySet::load(
        &[PolicySource::new("p.toml", text.as_bytes())],
        Catalog::annex_a(),
    )
}

const GOOD: &str = r#"
[policy]
id = "t"
version = "1"
title = "Test"

[[rule]]
id = "ssh.root-login"
title = "No root login"
controls = ["A.8.2", "A.8.5"]
severity = "high"
requires = ["sshd"]
check = 'sshd.permitrootlogin in ["no", "prohibit-password"]'
remediation = "Set PermitRootLogin no."
"#;

#[test]
fn loads_a_valid_policy() {
    let set = load(GOOD).unwrap();
    let rule = set.rule("ssh.root-login").unwrap();
    assert_eq!(rule.controls, vec!["A.8.2", "A.8.5"]);
    assert_eq!(rule.severity, Severity::High);
    assert_eq!(rule.line, 7);
    assert_eq!(
        set.policies()[0].source.sha256,
        sha256_digest(GOOD.as_bytes())
    );
    assert_eq!(set.probes_needed(), vec!["sshd"]);
}

fn one_error(text: &str) -> PolicyError {
    let errs = load(text).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    errs.into_iter().next().unwrap()
}

#[test]
fn unknown_control_names_file_line_rule() {
    let e = one_error(&GOOD.replace("\"A.8.5\"", "\"A.9.9\""));
    assert_eq!(e.file, "p.toml");
    assert_eq!(e.line, 10);
    assert_eq!(e.rule.as_deref(), Some("ssh.root-login"));
    assert_eq!(e.kind, PolicyErrorKind::UnknownControl("A.9.9".into()));
    assert_eq!(
        e.to_string(),
        "p.toml:10: rule `ssh.root-login`: unknown Annex A control `A.9.9` (not in the ISO/IEC 27001:2022 catalog)"
    );
}

#[test]
fn unknown_probe_is_rejected() {
    let e = one_error(&GOOD.replace("[\"sshd\"]", "[\"sshdd\"]"));
    assert_eq!(e.line, 12);
    assert!(matches!(e.kind, PolicyErrorKind::UnknownProbe(ref p) if p == "sshdd"));
}

#[test]
fn cel_syntax_error_is_rejected_with_line() {
    let e = one_error(&GOOD.replace("in [\"no\"", "in [[\"no\""));
    assert_eq!(e.line, 13);
    assert_eq!(e.rule.as_deref(), Some("ssh.root-login"));
    assert!(
        matches!(e.kind, PolicyErrorKind::Cel { field: "check", .. }),
        "{e}"
    );
}

#[test]
fn missing_field_is_named() {
    let e = one_error(&GOOD.replace("severity = \"high\"\n", ""));
    assert_eq!(e.rule.as_deref(), Some("ssh.root-login"));
    assert_eq!(e.kind, PolicyErrorKind::MissingField("severity"));
    assert_eq!(e.line, 7);
}

#[test]
fn invalid_toml_and_unknown_fields_name_the_line_and_rule() {
    let e = one_error(&GOOD.replace("severity = \"high\"", "severity = high"));
    assert_eq!(e.line, 11);
    assert_eq!(e.rule.as_deref(), Some("ssh.root-login"), "{e}");
    assert!(matches!(e.kind, PolicyErrorKind::Toml(_)));
    let e = one_error(&GOOD.replace("severity =", "sevrity ="));
    assert_eq!(e.rule.as_deref(), Some("ssh.root-login"), "{e}");
    assert!(e.to_string().contains("sevrity"), "{e}");
    let e = one_error(&GOOD.replace("controls = [\"A.8.2\", \"A.8.5\"]", "controls = \"A.8.2\""));
    assert_eq!(e.line, 10);
    assert_eq!(e.rule.as_deref(), Some("ssh.root-login"));
}

#[test]
fn duplicate_rule_ids_across_files_are_rejected() {
    let other = GOOD.replace("id = \"t\"", "id = \"t2\"");
    let errs = PolicySet::load(
        &[
            PolicySource::new("a.toml", GOOD.as_bytes()),
            PolicySource::new("b.toml", other.as_bytes()),
        ],
        Catalog::annex_a(),
    )
    .unwrap_err();
    assert_eq!(errs.0.len(), 1);
    assert_eq!(errs.0[0].file, "b.toml");
    assert!(matches!(errs.0[0].kind, PolicyErrorKind::DuplicateRule(..)));
}

#[test]
fn every_error_of_every_file_is_reported() {
    let bad = GOOD
        .replace("\"A.8.5\"", "\"A.9.9\"")
        .replace("[\"sshd\"]", "[\"nope\"]");
    let errs = PolicySet::load(
        &[
            PolicySource::new("a.toml", bad.as_bytes()),
            PolicySource::new("b.toml", &b"not = [valid"[..]),
        ],
        Catalog::annex_a(),
    )
    .unwrap_err();
    assert_eq!(errs.0.len(), 3, "{errs}");
}

#[test]
fn a_probe_read_but_not_required_is_a_load_error() {
    let e = one_error(&GOOD.replace(
        "check = '",
        "check = 'accounts.uid0_accounts.size() == 1 && ",
    ));
    assert_eq!(e.line, 13);
    assert_eq!(e.rule.as_deref(), Some("ssh.root-login"));
    assert!(
        e.to_string()
            .contains("probe `accounts` is not listed in `requires` (add \"accounts\")"),
        "{e}"
    );
}

#[test]
fn misspelled_fields_are_load_errors_with_line_and_suggestion() {
    let e = one_error(&GOOD.replace("sshd.permitrootlogin", "sshd.permitrotlogin"));
    assert_eq!(e.file, "p.toml");
    assert_eq!(e.line, 13);
    assert_eq!(e.rule.as_deref(), Some("ssh.root-login"));
    assert_eq!(
        e.to_string(),
        "p.toml:13: rule `ssh.root-login`: `check` reads `sshd.permitrotlogin`: probe `sshd` has no field `permitrotlogin` (did you mean `sshd.permitrootlogin`?)"
    );
    // Unknown probe variable, with a suggestion.
    let e = one_error(&GOOD.replace("check = 'sshd.", "check = 'sshdd."));
    assert!(
        e.to_string()
            .contains("unknown probe `sshdd` (did you mean `sshd`?)"),
        "{e}"
    );
}

#[test]
fn types_that_cannot_match_are_load_errors() {
    let cases = [
        (
            "sshd.ciphers == 3",
            "`sshd.ciphers` is a list, compared with a number",
        ),
        (
            "sshd.maxauthtries == \"4\"",
            "`sshd.maxauthtries` is a number, compared with a string",
        ),
        (
            "sshd.permitrootlogin",
            "`sshd.permitrootlogin` is a string, but the expression must yield a bool",
        ),
        ("!sshd.permitrootlogin", "logical operators need bools"),
        (
            "sshd.maxauthtries in [\"a\", \"b\"]",
            "tested against a list of a string",
        ),
        (
            "3 in sshd.ciphers",
            "`sshd.ciphers` holds a string, tested for a number",
        ),
        (
            "sshd.maxauthtries.contains(\"x\")",
            "`contains` works on strings",
        ),
        (
            "sshd.permitrootlogin.foo == 1",
            "`sshd.permitrootlogin` is string, it has no member `foo`",
        ),
    ];
    for (check, expected) in cases {
        let text = GOOD.replace(
            "check = 'sshd.permitrootlogin in [\"no\", \"prohibit-password\"]'",
            &format!("check = '{check}'"),
        );
        let e = one_error(&text);
        assert!(e.to_string().contains(expected), "{check}: {e}");
        assert_eq!(e.line, 13, "{check}");
    }
    // Valid expressions over lists, maps, comprehensions and nullables load.
    for check in [
        "sshd.ciphers.exists(c, c.contains(\"cbc\")) || size(sshd.macs) > 0",
        "sshd.match_blocks.all(b, !has(b.settings.permitrootlogin) || b.settings.permitrootlogin == \"no\")",
        "sshd.permitrootlogin in [\"no\"] && sshd.maxauthtries <= 4",
    ] {
        let text = GOOD.replace(
            "check = 'sshd.permitrootlogin in [\"no\", \"prohibit-password\"]'",
            &format!("check = '{check}'"),
        );
        assert!(load(&text).is_ok(), "{check}: {:?}", load(&text).err());
    }
}

#[test]
fn policy_check_reports_every_field_error_at_once_on_its_own_line() {
    let text = format!(
        "{}\n[[rule]]\nid = \"two\"\ntitle = \"t\"\ncontrols = [\"A.8.5\"]\nseverity = \"low\"\nrequires = [\"sshd\"]\ncheck = \'\'\'\nsshd.maxauthtries <= 4 &&\nsshd.loglevl == \"INFO\" &&\nsshd.ciphrs == []\n\'\'\'\n",
        GOOD.replace("sshd.permitrootlogin", "sshd.permitrotlogin")
    );
    let errs = load(&text).unwrap_err().0;
    let lines: Vec<(usize, &str)> = errs
        .iter()
        .map(|e| (e.line, e.rule.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        lines,
        vec![(13, "ssh.root-login"), (24, "two"), (25, "two")],
        "{errs:?}"
    );
}

const COVERAGE: &str = r#"
[[control]]
id = "A.8.5"
coverage = "partial"
statement = "Covers SSH root login only; not other authentication paths."
rationale = "Root login over SSH is the most exposed authentication path."
attestation = { max_age_days = 90, statement = "Authentication review done" }

[[control]]
id = "A.8.2"
coverage = "full"
"#;

#[test]
fn control_coverage_declarations_load_and_merge() {
    let set = load(&format!("{GOOD}{COVERAGE}")).unwrap();
    let p = &set.policies()[0];
    assert_eq!(p.controls.len(), 2);
    assert_eq!(p.controls[0].control, "A.8.5");
    assert_eq!(p.controls[0].line, 16);
    let a85 = set.coverage("A.8.5").unwrap();
    assert_eq!(a85.coverage, Coverage::Partial);
    assert_eq!(a85.attestation.as_ref().unwrap().max_age_days, 90);
    assert_eq!(set.coverage("A.8.2").unwrap().coverage, Coverage::Full);
    assert!(set.needs_attestations());
    assert_eq!(set.attested_controls(), vec!["A.8.5"]);
    assert!(set.undeclared_controls().is_empty());
    assert_eq!(
        load(GOOD).unwrap().undeclared_controls(),
        vec!["A.8.2", "A.8.5"]
    );
}

#[test]
fn bad_control_declarations_are_load_errors_with_lines() {
    let text = |c: &str| format!("{GOOD}{c}");
    // Partial coverage without a statement.
    let e = one_error(&text(
        "[[control]]\nid = \"A.8.5\"\ncoverage = \"partial\"\n",
    ));
    assert_eq!(e.line, 15);
    assert!(e.to_string().contains("needs a statement"), "{e}");
    // A control no rule of the policy maps to.
    let e = one_error(&text("[[control]]\nid = \"A.8.13\"\ncoverage = \"full\"\n"));
    assert_eq!(e.kind, PolicyErrorKind::UncoveredControl("A.8.13".into()));
    // Unknown control, bad coverage word, duplicate, bad max age.
    let e = one_error(&text("[[control]]\nid = \"A.9.9\"\ncoverage = \"full\"\n"));
    assert_eq!(e.kind, PolicyErrorKind::UnknownControl("A.9.9".into()));
    assert_eq!(e.line, 16);
    let e = one_error(&text("[[control]]\nid = \"A.8.5\"\ncoverage = \"most\"\n"));
    assert!(
        e.to_string().contains("`most` is not `full` or `partial`"),
        "{e}"
    );
    let e = one_error(&text(
        "[[control]]\nid = \"A.8.5\"\ncoverage = \"full\"\n[[control]]\nid = \"A.8.5\"\ncoverage = \"full\"\n",
    ));
    assert_eq!(e.kind, PolicyErrorKind::DuplicateControl("A.8.5".into()));
    assert_eq!(e.line, 18);
    let e = one_error(&text(
        "[[control]]\nid = \"A.8.5\"\ncoverage = \"full\"\nattestation = { max_age_days = 0, statement = \"x\" }\n",
    ));
    assert!(e.to_string().contains("0 is not between 1 and 3650"), "{e}");
    let e = one_error(&text(
        "[[control]]\nid = \"A.8.5\"\ncoverage = \"full\"\nattestaton = 1\n",
    ));
    assert!(matches!(e.kind, PolicyErrorKind::Toml(_)), "{e}");
}

#[test]
fn policy_file_names() {
    assert!(is_policy_file("linux-baseline.toml"));
    for name in [
        "x_test.toml",
        "waivers.toml",
        "soa.toml",
        "Cargo.toml",
        "annex-a-2022.toml",
        "x.json",
    ] {
        assert!(!is_policy_file(name), "{name}");
    }
}

#[test]
fn non_utf8_and_garbage_never_panic() {
    assert!(load("\u{0}\u{1}[[[").is_err());
    let errs = PolicySet::load(
        &[PolicySource::new("bin.toml", vec![0xff, 0xfe, 0x00])],
        Catalog::annex_a(),
    )
    .unwrap_err();
    assert_eq!(errs.0[0].line, 1);
}

#[test]
fn known_when_is_validated_like_check_and_unknown_hint_needs_it() {
    let with_gate = GOOD.replace(
        "remediation = \"Set PermitRootLogin no.\"",
        "known_when = 'sshd.instaled'\nunknown_hint = \"install sshd\"",
    );
    let e = one_error(&with_gate);
    assert_eq!(e.line, 14);
    assert!(
        matches!(e.kind, PolicyErrorKind::Field { field: "known_when", ref path, .. } if path == "sshd.instaled"),
        "{e}"
    );
    assert!(e.to_string().contains("did you mean"), "{e}");
    // A probe the gate reads must be required, as for `check`.
    let e = one_error(&GOOD.replace(
        "remediation = \"Set PermitRootLogin no.\"",
        "known_when = 'accounts.shadow_readable'",
    ));
    assert!(
        matches!(
            e.kind,
            PolicyErrorKind::Field {
                field: "known_when",
                ..
            }
        ),
        "{e}"
    );
    // A hint without a gate explains nothing.
    let e = one_error(&GOOD.replace(
        "remediation = \"Set PermitRootLogin no.\"",
        "unknown_hint = \"run as root\"",
    ));
    assert!(
        matches!(
            e.kind,
            PolicyErrorKind::InvalidField {
                field: "unknown_hint",
                ..
            }
        ),
        "{e}"
    );
    // Valid: both load and are kept.
    let set = load(&GOOD.replace(
        "remediation = \"Set PermitRootLogin no.\"",
        "known_when = 'sshd.installed'\nunknown_hint = \"install sshd\"",
    ))
    .unwrap();
    let rule = set.rule("ssh.root-login").unwrap();
    assert_eq!(rule.known_when.as_ref().unwrap().source(), "sshd.installed");
    assert_eq!(rule.unknown_hint.as_deref(), Some("install sshd"));
}
