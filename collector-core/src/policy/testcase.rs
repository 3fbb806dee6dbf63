//! Policy test cases, run by `evident-collector policy test` (like `opa test`).
//!
//! Test files sit beside policies and end in `_test.toml`:
//!
//! ```toml
//! [[case]]
//! name = "hardened Debian 12 server passes everything"
//! evidence = "fixtures/debian12-hardened.json"   # collect --format json output, relative to this file
//! expect_all = "pass"                             # every rule not listed under expect
//! policy = "linux-baseline"                       # optional: expect_all only covers this policy
//!
//! [[case]]
//! name = "root login allowed"
//! evidence = "fixtures/debian12-hardened.json"
//! collected_at = 2026-11-01T00:00:00Z
//! [case.probes.sshd]                              # deep-merged over the fixture's data
//! permitrootlogin = "yes"
//! [case.status]                                   # force a probe's status
//! time = "error"
//! [case.expect]
//! "ssh.root-login" = "fail"
//! [case.expect_controls]
//! "A.8.5" = "partial"
//!
//! [[case]]
//! name = "backup plus a current restore-test attestation"
//! evidence = "fixtures/debian12-hardened.json"
//! attestations = [{ control = "A.8.13", signed_at = 2025-12-01T00:00:00Z, expires = 2026-12-01 }]
//! expect_controls = { "A.8.13" = "satisfied" }
//! ```
//!
//! A rule that ends in `error` is reported in [`CaseOutcome::rule_errors`]
//! unless the case expects `error` for it; `policy test` then exits 2.
//!
//! This module parses and runs cases; reading the fixture files is the
//! caller's job (this crate does no I/O).

use super::coverage::AttestationInput;
use super::{
    evaluate_with, line_of, ControlStatus, LoadErrors, PolicyError, PolicyErrorKind, PolicySet,
    RuleStatus,
};
use crate::evidence::{CollectedProbe, Evidence, ProbeData, ProbeStatus};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// One test case.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// What the case checks.
    pub name: String,
    /// Line of its `[[case]]` header.
    pub line: usize,
    /// Evidence fixture path, relative to the test file.
    pub evidence: Option<String>,
    /// Collection time (default: the fixture's, else 2026-01-01T00:00:00Z).
    pub collected_at: Option<DateTime<Utc>>,
    /// Host facts to override.
    pub host: serde_json::Map<String, serde_json::Value>,
    /// Probe data deep-merged over the fixture.
    pub probes: BTreeMap<String, serde_json::Value>,
    /// Probe statuses to force.
    pub status: BTreeMap<String, ProbeStatus>,
    /// Expected rule statuses.
    pub expect: BTreeMap<String, RuleStatus>,
    /// Expected status of every rule not in `expect`.
    pub expect_all: Option<RuleStatus>,
    /// Restricts `expect_all` to one policy.
    pub policy: Option<String>,
    /// Expected control statuses.
    pub expect_controls: BTreeMap<String, ControlStatus>,
    /// Signed attestations the case assumes (signatures are not part of a policy test).
    pub attestations: Vec<AttestationInput>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    case: Vec<Spanned<RawCase>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    evidence: Option<String>,
    collected_at: Option<toml::value::Datetime>,
    #[serde(default)]
    host: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    probes: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    status: BTreeMap<String, ProbeStatus>,
    #[serde(default)]
    expect: BTreeMap<String, RuleStatus>,
    expect_all: Option<RuleStatus>,
    policy: Option<String>,
    #[serde(default)]
    expect_controls: BTreeMap<String, ControlStatus>,
    #[serde(default)]
    attestations: Vec<RawAttestation>,
}

/// An attestation assumed by a test case.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttestation {
    control: String,
    signed_at: toml::value::Datetime,
    expires: toml::value::Datetime,
}

/// Parse a `*_test.toml` file.
pub fn parse_tests(name: &str, bytes: &[u8]) -> Result<Vec<TestCase>, LoadErrors> {
    let err = |line, kind| {
        LoadErrors(vec![PolicyError {
            file: name.to_string(),
            line,
            rule: None,
            kind,
        }])
    };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| err(1, PolicyErrorKind::Toml("file is not valid UTF-8".into())))?;
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        err(
            line_of(text, e.span().map(|s| s.start).unwrap_or(0)),
            PolicyErrorKind::Toml(e.message().trim().to_string()),
        )
    })?;
    let mut cases = Vec::new();
    for c in raw.case {
        let line = line_of(text, c.span().start);
        let c = c.into_inner();
        let collected_at = match c.collected_at {
            None => None,
            Some(dt) => Some(dt.to_string().parse::<DateTime<Utc>>().map_err(|_| {
                err(
                    line,
                    PolicyErrorKind::InvalidField {
                        field: "collected_at",
                        message: format!(
                            "`{dt}` is not an offset date-time like 2026-11-01T00:00:00Z"
                        ),
                    },
                )
            })?),
        };
        let mut attestations = Vec::new();
        for (i, a) in c.attestations.iter().enumerate() {
            let bad = |what: &str| {
                err(
                    line,
                    PolicyErrorKind::InvalidField {
                        field: "attestations",
                        message: format!("attestation #{}: {what}", i + 1),
                    },
                )
            };
            let signed_at = a
                .signed_at
                .to_string()
                .parse::<DateTime<Utc>>()
                .map_err(|_| {
                    bad("signed_at is not an offset date-time like 2026-11-01T00:00:00Z")
                })?;
            let expires = a
                .expires
                .to_string()
                .parse::<chrono::NaiveDate>()
                .map_err(|_| bad("expires is not a date like 2027-11-01"))?;
            attestations.push(AttestationInput {
                digest: crate::digest::sha256_digest(
                    format!("test attestation {} #{i}", c.name).as_bytes(),
                ),
                control: a.control.clone(),
                signed_at,
                expires,
            });
        }
        cases.push(TestCase {
            name: c.name,
            line,
            evidence: c.evidence,
            collected_at,
            host: c.host,
            probes: c.probes,
            status: c.status,
            expect: c.expect,
            expect_all: c.expect_all,
            policy: c.policy,
            expect_controls: c.expect_controls,
            attestations,
        });
    }
    Ok(cases)
}

/// Parse an evidence fixture: either the JSON array `collect --format json`
/// prints, or a serialised [`Evidence`] object.
pub fn parse_fixture(bytes: &[u8]) -> Result<Evidence, String> {
    if let Ok(collected) = serde_json::from_slice::<Vec<CollectedProbe>>(bytes) {
        return Ok(Evidence::from_collected(&collected, default_time()));
    }
    serde_json::from_slice::<Evidence>(bytes)
        .map_err(|e| format!("not a `collect --format json` array nor an evidence object: {e}"))
}

fn default_time() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_767_225_600, 0).unwrap_or_default() // 2026-01-01T00:00:00Z
}

/// Deep-merge `patch` into `base`: objects merge key by key, anything else replaces.
pub fn merge_json(base: &mut serde_json::Value, patch: &serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) => merge_json(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The evidence a case runs against: the fixture (if any) with the case's changes applied.
pub fn case_evidence(case: &TestCase, fixture: Option<Evidence>) -> Evidence {
    let mut ev = fixture.unwrap_or_else(|| Evidence {
        host: crate::evidence::HostFacts {
            hostname: "test-host".into(),
            os_family: "linux".into(),
            ..Default::default()
        },
        collected_at: default_time(),
        probes: BTreeMap::new(),
    });
    if let Some(t) = case.collected_at {
        ev.collected_at = t;
    }
    if !case.host.is_empty() {
        let mut host = serde_json::to_value(&ev.host).unwrap_or_default();
        merge_json(&mut host, &serde_json::Value::Object(case.host.clone()));
        if let Ok(h) = serde_json::from_value(host) {
            ev.host = h;
        }
    }
    for (probe, patch) in &case.probes {
        let entry = ev.probes.entry(probe.clone()).or_insert_with(|| ProbeData {
            version: 1,
            status: ProbeStatus::Ok,
            reason: None,
            data: Some(serde_json::json!({})),
        });
        let data = entry.data.get_or_insert_with(|| serde_json::json!({}));
        merge_json(data, patch);
        entry.status = ProbeStatus::Ok;
        entry.reason = None;
    }
    for (probe, status) in &case.status {
        let entry = ev.probes.entry(probe.clone()).or_insert_with(|| ProbeData {
            version: 1,
            status: *status,
            reason: None,
            data: None,
        });
        entry.status = *status;
        if *status != ProbeStatus::Ok {
            entry.data = None;
            entry.reason = Some(format!("forced to {} by the test case", status.as_str()));
        }
    }
    ev
}

/// What a case found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseOutcome {
    /// The case name.
    pub name: String,
    /// How many expectations were checked.
    pub checked: usize,
    /// One line per unmet expectation.
    pub failures: Vec<String>,
    /// Rules that ended in `error` without the case expecting it: rule and reason.
    pub rule_errors: Vec<String>,
}

/// Evaluate `set` on `evidence` and compare with the case's expectations.
pub fn run_case(set: &PolicySet, case: &TestCase, evidence: &Evidence) -> CaseOutcome {
    let eval = evaluate_with(set, evidence, &case.attestations);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (rule, expected) in &case.expect {
        checked += 1;
        match eval.rules.iter().find(|r| &r.id == rule) {
            None => failures.push(format!(
                "rule `{rule}`: no such rule in the policies under test"
            )),
            Some(r) if r.status != *expected => failures.push(format!(
                "rule `{rule}`: expected {}, got {}{}",
                expected.as_str(),
                r.status.as_str(),
                r.message
                    .as_deref()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default()
            )),
            Some(_) => {}
        }
    }
    if let Some(expected) = case.expect_all {
        for r in &eval.rules {
            if case.expect.contains_key(&r.id)
                || case.policy.as_ref().is_some_and(|p| p != &r.policy)
            {
                continue;
            }
            checked += 1;
            if r.status != expected {
                failures.push(format!(
                    "rule `{}`: expected {} (expect_all), got {}{}",
                    r.id,
                    expected.as_str(),
                    r.status.as_str(),
                    r.message
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    for (control, expected) in &case.expect_controls {
        checked += 1;
        match eval.controls.iter().find(|c| &c.id == control) {
            None => failures.push(format!("control `{control}`: not in the catalog")),
            Some(c) if c.status != *expected => failures.push(format!(
                "control `{control}`: expected {}, got {}",
                expected.as_str(),
                c.status.as_str()
            )),
            Some(_) => {}
        }
    }
    if checked == 0 {
        failures.push(
            "the case expects nothing (add `expect`, `expect_all` or `expect_controls`)".into(),
        );
    }
    let rule_errors = eval
        .rules
        .iter()
        .filter(|r| {
            let expected = case.expect.get(&r.id).copied().or(case.expect_all);
            r.status == RuleStatus::Error && expected != Some(RuleStatus::Error)
        })
        .map(|r| {
            format!(
                "rule `{}` errored: {}",
                r.id,
                r.message.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    CaseOutcome {
        name: case.name.clone(),
        checked,
        failures,
        rule_errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::policy::PolicySource;

    const POLICY: &str = r#"
[policy]
id = "t"
version = "1"
title = "T"
[[rule]]
id = "ssh.root-login"
title = "No root login"
controls = ["A.8.5"]
severity = "high"
requires = ["sshd"]
check = 'sshd.permitrootlogin == "no"'
[[rule]]
id = "ssh.x11"
title = "No X11"
controls = ["A.8.5"]
severity = "low"
requires = ["sshd"]
check = 'sshd.x11forwarding == "no"'
"#;

    const FIXTURE: &str = r#"[
      {"probe":"host","version":1,"status":"ok","data":{"hostname":"db-1","os_family":"linux","os_id":"debian","os_version":"12"}},
      {"probe":"sshd","version":1,"status":"ok","data":{"permitrootlogin":"no","x11forwarding":"no"}}
    ]"#;

    const TESTS: &str = r#"
[[case]]
name = "fixture passes"
evidence = "f.json"
expect_all = "pass"
expect_controls = { "A.8.5" = "satisfied" }

[[case]]
name = "root login"
evidence = "f.json"
[case.probes.sshd]
permitrootlogin = "yes"
[case.expect]
"ssh.root-login" = "fail"
"ssh.x11" = "pass"

[[case]]
name = "probe broken"
evidence = "f.json"
status = { sshd = "error" }
expect_all = "no-evidence"

[[case]]
name = "wrong expectation"
evidence = "f.json"
expect = { "ssh.root-login" = "fail", "nope" = "pass" }
"#;

    #[test]
    fn cases_run_against_fixture_with_patches() {
        let set = PolicySet::load(
            &[PolicySource::new("t.toml", POLICY.as_bytes())],
            Catalog::annex_a(),
        )
        .unwrap();
        let cases = parse_tests("t_test.toml", TESTS.as_bytes()).unwrap();
        assert_eq!(cases.len(), 4);
        assert_eq!(cases[1].line, 8);
        let fixture = parse_fixture(FIXTURE.as_bytes()).unwrap();
        assert_eq!(fixture.host.hostname, "db-1");
        let outcomes: Vec<CaseOutcome> = cases
            .iter()
            .map(|c| run_case(&set, c, &case_evidence(c, Some(fixture.clone()))))
            .collect();
        assert!(outcomes[0].failures.is_empty(), "{:?}", outcomes[0]);
        assert_eq!(outcomes[0].checked, 3);
        assert!(outcomes[1].failures.is_empty(), "{:?}", outcomes[1]);
        assert!(outcomes[2].failures.is_empty(), "{:?}", outcomes[2]);
        assert_eq!(outcomes[3].failures.len(), 2, "{:?}", outcomes[3]);
        assert!(outcomes[3]
            .failures
            .iter()
            .any(|f| f.contains("expected fail, got pass")));
        assert!(outcomes[3]
            .failures
            .iter()
            .any(|f| f.contains("`nope`: no such rule")));
    }

    #[test]
    fn bad_test_files_name_the_line() {
        let e = parse_tests(
            "x_test.toml",
            b"[[case]]\nname = \"a\"\nexpect = { r = \"passes\" }\n",
        )
        .unwrap_err();
        assert_eq!(e.0[0].line, 3, "{e}");
        assert!(parse_fixture(b"{}").is_err());
    }

    #[test]
    fn merge_is_deep() {
        let mut a = serde_json::json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_json(&mut a, &serde_json::json!({"a": {"b": 3}, "d": [2, 3]}));
        assert_eq!(a, serde_json::json!({"a": {"b": 3, "c": 2}, "d": [2, 3]}));
    }
}
