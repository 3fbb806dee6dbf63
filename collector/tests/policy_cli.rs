#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `evident-collector policy check|test` and `catalog`, run as a real process.

use std::path::Path;
use std::process::Command;

fn collector(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_evident-collector"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("run evident-collector");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn catalog_json_lists_exactly_93_controls() {
    let (code, stdout, _) = collector(&["catalog", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let controls = v.as_array().unwrap();
    assert_eq!(controls.len(), 93);
    assert_eq!(controls[0]["id"], "A.5.1");
    assert_eq!(controls[92]["id"], "A.8.34");
    assert!(controls
        .iter()
        .all(|c| c["title"].as_str().is_some_and(|t| !t.is_empty())));
}

#[test]
fn bundled_policies_check_and_their_tests_pass() {
    let (code, stdout, stderr) = collector(&["policy", "check", "policies/", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rules = v["rules"].as_u64().unwrap();
    let controls = v["controls"].as_array().unwrap().len();
    assert!(rules >= 60, "baseline has only {rules} rules");
    // 18 since the auditor's corrections removed A.5.9, A.5.15, A.8.19 and A.8.22.
    assert!(controls >= 18, "baseline covers only {controls} controls");
    // Every control has a coverage declaration; the hybrid ones are named.
    let coverage = v["coverage"].as_object().unwrap();
    assert_eq!(coverage.len(), controls);
    assert!(coverage.values().all(|k| k != "undeclared"), "{coverage:?}");
    assert_eq!(coverage["A.8.13"], "hybrid");
    assert_eq!(coverage["A.8.8"], "hybrid");
    assert_eq!(coverage["A.7.10"], "partial");

    let (code, stdout, stderr) = collector(&["policy", "test", "policies/"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn broken_policies_are_rejected_with_file_line_and_rule() {
    let (code, stdout, stderr) = collector(&[
        "policy",
        "check",
        "collector/tests/fixtures/broken-policies",
    ]);
    assert_eq!(code, 2, "{stdout}");
    let dir = "collector/tests/fixtures/broken-policies";
    for expected in [
        format!("{dir}/cel-syntax.toml:12: rule `ssh.cel-broken`: CEL syntax error in `check`"),
        format!("{dir}/missing-field.toml:6: rule `ssh.no-check`: missing required field `check`"),
        format!("{dir}/not-toml.toml:10: rule `ssh.bad-string`: invalid TOML"),
        format!("{dir}/unknown-control.toml:9: rule `ssh.bogus-control`: unknown Annex A control `A.9.9`"),
        format!("{dir}/unknown-probe.toml:11: rule `win.defender`: unknown probe `windows-defender`"),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(stderr.contains("5 error(s); no policy loaded"), "{stderr}");
}

#[test]
fn failing_policy_test_exits_1_and_names_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        "[policy]\nid='p'\nversion='1'\ntitle='p'\n[[rule]]\nid='ssh.root'\ntitle='t'\ncontrols=['A.8.5']\nseverity='high'\nrequires=['sshd']\ncheck='sshd.permitrootlogin == \"no\"'\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("p_test.toml"),
        "[[case]]\nname='root allowed'\n[case.probes.sshd]\npermitrootlogin='yes'\n[case.expect]\n'ssh.root' = 'pass'\n",
    )
    .unwrap();
    let (code, stdout, _) = collector(&["policy", "test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("rule `ssh.root`: expected pass, got fail"),
        "{stdout}"
    );
    assert!(stdout.contains("0 passed, 1 failed"), "{stdout}");
}

fn policy_dir(check: &str, tests: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.toml"),
        format!("[policy]\nid='p'\nversion='1'\ntitle='p'\n[[rule]]\nid='ssh.root'\ntitle='t'\ncontrols=['A.8.5']\nseverity='high'\nrequires=['sshd']\ncheck='{check}'\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("p_test.toml"), tests).unwrap();
    dir
}

#[test]
fn a_rule_ending_in_error_makes_policy_test_exit_2_naming_rule_and_reason() {
    // Division by zero passes every load-time check and fails at run time.
    let dir = policy_dir(
        "1 / (sshd.maxauthtries - sshd.maxauthtries) == 1",
        "[[case]]\nname='tries'\n[case.probes.sshd]\nmaxauthtries=3\n[case.expect_controls]\n'A.8.5' = 'no-evidence'\n",
    );
    let (code, stdout, stderr) = collector(&["policy", "test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("tries: rule `ssh.root` errored: check failed:"),
        "{stderr}"
    );
    assert!(stdout.contains("1 rule error(s)"), "{stdout}");
    // Expecting the error makes it a passing case.
    let dir = policy_dir(
        "1 / (sshd.maxauthtries - sshd.maxauthtries) == 1",
        "[[case]]\nname='tries'\n[case.probes.sshd]\nmaxauthtries=3\n[case.expect]\n'ssh.root' = 'error'\n",
    );
    let (code, stdout, stderr) = collector(&["policy", "test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[test]
fn policy_test_cases_can_assume_attestations_for_hybrid_controls() {
    let dir = policy_dir(
        "sshd.permitrootlogin == \"no\"",
        "[[case]]\nname='attested'\ncollected_at = 2026-11-20T10:00:00Z\nattestations = [{ control = 'A.8.5', signed_at = 2026-11-01T00:00:00Z, expires = 2027-11-01 }]\n[case.probes.sshd]\npermitrootlogin='no'\n[case.expect_controls]\n'A.8.5' = 'satisfied'\n\n[[case]]\nname='not attested'\n[case.probes.sshd]\npermitrootlogin='no'\n[case.expect_controls]\n'A.8.5' = 'partially-evidenced'\n",
    );
    let mut policy = std::fs::read_to_string(dir.path().join("p.toml")).unwrap();
    policy.push_str("[[control]]\nid = 'A.8.5'\ncoverage = 'full'\nattestation = { max_age_days = 30, statement = 'MFA review' }\n");
    std::fs::write(dir.path().join("p.toml"), policy).unwrap();
    let (code, stdout, stderr) = collector(&["policy", "test", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");
    let (code, stdout, _) = collector(&["policy", "check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("coverage hybrid: 1 (A.8.5)"), "{stdout}");
}

#[test]
fn policy_check_rejects_a_misspelled_field_with_its_line_and_reports_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/linux-baseline.toml"),
    )
    .unwrap();
    let broken = baseline
        .replacen("sshd.permitrootlogin in [", "sshd.permitrotlogin in [", 1)
        .replacen(
            "accounts.pam.minlen >= 12",
            "accounts.pam.minlen >= \"12\"",
            1,
        );
    let line_of = |needle: &str| broken.lines().position(|l| l.contains(needle)).unwrap() + 1;
    std::fs::write(dir.path().join("baseline.toml"), &broken).unwrap();
    let (code, stdout, stderr) = collector(&["policy", "check", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{stdout}");
    let file = dir.path().join("baseline.toml");
    let first = format!(
        "{}:{}: rule `ssh.root-login`: `check` reads `sshd.permitrotlogin`: probe `sshd` has no field `permitrotlogin` (did you mean `sshd.permitrootlogin`?)",
        file.display(),
        line_of("sshd.permitrotlogin")
    );
    assert!(stderr.contains(&first), "missing {first:?} in:\n{stderr}");
    let second = format!(
        "{}:{}: rule `accounts.password-quality`: `check` reads `accounts.pam.minlen`",
        file.display(),
        line_of("accounts.pam.minlen >= \"12\"")
    );
    assert!(stderr.contains(&second), "missing {second:?} in:\n{stderr}");
    assert!(stderr.contains("2 error(s); no policy loaded"), "{stderr}");
}
