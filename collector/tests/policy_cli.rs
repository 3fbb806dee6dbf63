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
    assert!(controls >= 20, "baseline covers only {controls} controls");

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
        "[policy]\nid='p'\nversion='1'\ntitle='p'\n[[rule]]\nid='ssh.root'\ntitle='t'\ncontrols=['A.8.5']\nseverity='high'\ncheck='sshd.permitrootlogin == \"no\"'\n",
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
