//! Waivers: approved, time-boxed exceptions for a rule or a control.
//!
//! ```toml
//! [[waiver]]
//! rule = "ssh.password-auth"        # or: control = "A.8.5"
//! hosts = ["bastion-*"]             # optional globs on the host name; default: every host
//! justification = "Legacy jump host, replaced in Q1"
//! approver = "ciso@example.com"
//! expires = 2027-03-31              # applies through that day (UTC)
//!
//! [[waiver]]
//! cve = "CVE-2024-1086"             # a CVE: removed from `vulns.open` on these hosts
//! hosts = ["build-*"]               # (the VEX-like "not affected here" case)
//! justification = "nf_tables is not loaded (module blacklisted)"
//! approver = "ciso@example.com"
//! expires = 2027-03-31
//! ```
//!
//! A waived result is reported as `waived` with the underlying status kept.
//! Expiry is judged against the evidence's collection date, so a waiver stops
//! applying by itself and re-evaluation offline gives the same answer.

use super::{line_of, LoadErrors, PolicyError, PolicyErrorKind, PolicySet, SourceRef};
use crate::digest::sha256_digest;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// What a waiver covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaiverTarget {
    /// One rule by id.
    Rule(String),
    /// One Annex A control by id.
    Control(String),
    /// One CVE (or feed advisory id) in the `vulns` data.
    Cve(String),
}

/// A validated waiver.
#[derive(Debug, Clone)]
pub struct Waiver {
    /// The rule or control it covers.
    pub target: WaiverTarget,
    /// Host name globs; empty means every host.
    pub hosts: Vec<glob::Pattern>,
    /// Why the exception is acceptable.
    pub justification: String,
    /// Who approved it.
    pub approver: String,
    /// Last day it applies.
    pub expires: NaiveDate,
    /// Line of its `[[waiver]]` header.
    pub line: usize,
}

/// How a result names the waiver that applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverRef {
    /// Why.
    pub justification: String,
    /// Who approved.
    pub approver: String,
    /// Last day it applies.
    pub expires: NaiveDate,
}

impl Waiver {
    /// Whether it covers the rule `id`.
    pub fn covers_rule(&self, id: &str) -> bool {
        matches!(&self.target, WaiverTarget::Rule(r) if r == id)
    }

    /// Whether it covers the control `id`.
    pub fn covers_control(&self, id: &str) -> bool {
        matches!(&self.target, WaiverTarget::Control(c) if c == id)
    }

    /// Whether its host selector matches `hostname`.
    pub fn matches_host(&self, hostname: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|p| p.matches(hostname))
    }

    /// Whether it is still in force on `day`.
    pub fn current_on(&self, day: NaiveDate) -> bool {
        day <= self.expires
    }

    /// The reference recorded in results.
    pub fn reference(&self) -> WaiverRef {
        WaiverRef {
            justification: self.justification.clone(),
            approver: self.approver.clone(),
            expires: self.expires,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    waiver: Vec<Spanned<RawWaiver>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    rule: Option<String>,
    control: Option<String>,
    cve: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
    justification: Option<String>,
    approver: Option<String>,
    expires: Option<toml::value::Datetime>,
}

impl PolicySet {
    /// Attach a waivers file; every waiver must name a rule of this set or a
    /// catalog control, and have a justification, an approver and an expiry date.
    pub fn with_waivers(mut self, name: &str, bytes: &[u8]) -> Result<PolicySet, LoadErrors> {
        let err = |line: usize, kind: PolicyErrorKind| PolicyError {
            file: name.to_string(),
            line,
            rule: None,
            kind,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| {
            LoadErrors(vec![err(
                1,
                PolicyErrorKind::Toml("file is not valid UTF-8".into()),
            )])
        })?;
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = line_of(text, e.span().map(|s| s.start).unwrap_or(0));
            LoadErrors(vec![err(
                line,
                PolicyErrorKind::Toml(e.message().trim().to_string()),
            )])
        })?;
        let mut errors = Vec::new();
        let mut waivers = Vec::new();
        for w in raw.waiver {
            let line = line_of(text, w.span().start);
            let w = w.into_inner();
            let before = errors.len();
            let target = match (w.rule, w.control, w.cve) {
                (None, None, Some(c)) => {
                    let valid = !c.is_empty()
                        && c.len() <= 64
                        && c.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.')
                        });
                    if !valid {
                        errors.push(err(
                            line,
                            PolicyErrorKind::InvalidField {
                                field: "cve",
                                message: format!(
                                    "`{c}` is not a CVE or advisory id (e.g. CVE-2024-1086)"
                                ),
                            },
                        ));
                    }
                    WaiverTarget::Cve(c)
                }
                (Some(r), None, None) => {
                    if self.rule(&r).is_none() {
                        errors.push(err(line, PolicyErrorKind::UnknownRule(r.clone())));
                    }
                    WaiverTarget::Rule(r)
                }
                (None, Some(c), None) => {
                    if self.catalog.get(&c).is_none() {
                        errors.push(err(line, PolicyErrorKind::UnknownControl(c.clone())));
                    }
                    WaiverTarget::Control(c)
                }
                _ => {
                    errors.push(err(
                        line,
                        PolicyErrorKind::InvalidField {
                            field: "rule",
                            message: "a waiver names exactly one of `rule`, `control` or `cve`"
                                .into(),
                        },
                    ));
                    continue;
                }
            };
            let mut hosts = Vec::new();
            for h in &w.hosts {
                match glob::Pattern::new(h) {
                    Ok(p) => hosts.push(p),
                    Err(e) => errors.push(err(
                        line,
                        PolicyErrorKind::InvalidField {
                            field: "hosts",
                            message: format!("`{h}` is not a valid glob: {e}"),
                        },
                    )),
                }
            }
            let mut text_field = |v: Option<String>, field: &'static str| {
                v.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| {
                    errors.push(err(line, PolicyErrorKind::MissingField(field)));
                    String::new()
                })
            };
            let justification = text_field(w.justification, "justification");
            let approver = text_field(w.approver, "approver");
            let expires = match w.expires.and_then(|d| d.date) {
                Some(d) => {
                    NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                }
                None => None,
            };
            let Some(expires) = expires else {
                errors.push(err(
                    line,
                    PolicyErrorKind::InvalidField {
                        field: "expires",
                        message: "a waiver needs an expiry date (e.g. `expires = 2027-03-31`)"
                            .into(),
                    },
                ));
                continue;
            };
            if errors.len() == before {
                waivers.push(Waiver {
                    target,
                    hosts,
                    justification,
                    approver,
                    expires,
                    line,
                });
            }
        }
        if !errors.is_empty() {
            return Err(LoadErrors(errors));
        }
        self.waivers = waivers;
        self.waiver_source = Some(SourceRef {
            name: name.to_string(),
            sha256: sha256_digest(bytes),
        });
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::Catalog;
    use crate::evidence::{Evidence, HostFacts, ProbeData, ProbeStatus};
    use crate::policy::{evaluate, ControlStatus, PolicySet, PolicySource, RuleStatus};
    use std::collections::BTreeMap;

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
"#;

    fn ev(host: &str, day: &str) -> Evidence {
        let mut probes = BTreeMap::new();
        probes.insert(
            "sshd".into(),
            ProbeData {
                version: 1,
                status: ProbeStatus::Ok,
                reason: None,
                data: Some(serde_json::json!({"permitrootlogin": "yes"})),
            },
        );
        Evidence {
            host: HostFacts {
                hostname: host.into(),
                os_family: "linux".into(),
                ..Default::default()
            },
            collected_at: format!("{day}T12:00:00Z").parse().unwrap(),
            probes,
        }
    }

    fn set(waivers: &str) -> PolicySet {
        PolicySet::load(
            &[PolicySource::new("t.toml", POLICY.as_bytes())],
            Catalog::annex_a(),
        )
        .unwrap()
        .with_waivers("waivers.toml", waivers.as_bytes())
        .unwrap()
    }

    const WAIVER: &str = r#"
[[waiver]]
rule = "ssh.root-login"
hosts = ["bastion-*"]
justification = "Legacy jump host"
approver = "ciso@example.com"
expires = 2026-12-31
"#;

    #[test]
    fn waiver_applies_to_matching_hosts_until_it_expires() {
        let set = set(WAIVER);
        let r = evaluate(&set, &ev("bastion-1", "2026-12-31"));
        assert_eq!(r.rules[0].status, RuleStatus::Waived);
        assert_eq!(r.rules[0].underlying, Some(RuleStatus::Fail));
        assert_eq!(
            r.rules[0].waiver.as_ref().unwrap().approver,
            "ciso@example.com"
        );
        assert!(!r.has_failures());
        assert_eq!(
            r.controls.iter().find(|c| c.id == "A.8.5").unwrap().status,
            ControlStatus::Satisfied
        );

        let r = evaluate(&set, &ev("bastion-1", "2027-01-01"));
        assert_eq!(r.rules[0].status, RuleStatus::Fail);
        assert_eq!(r.expired_waivers.len(), 1);

        let r = evaluate(&set, &ev("web-1", "2026-12-01"));
        assert_eq!(r.rules[0].status, RuleStatus::Fail);
        assert!(r.expired_waivers.is_empty());
    }

    #[test]
    fn control_waiver_keeps_underlying_status() {
        let set = set(
            "[[waiver]]\ncontrol = \"A.8.5\"\njustification = \"j\"\napprover = \"a\"\nexpires = 2030-01-01\n",
        );
        let r = evaluate(&set, &ev("web-1", "2026-12-01"));
        let c = r.controls.iter().find(|c| c.id == "A.8.5").unwrap();
        assert_eq!(c.status, ControlStatus::Waived);
        assert_eq!(c.underlying, Some(ControlStatus::NotSatisfied));
        assert_eq!(r.rules[0].status, RuleStatus::Fail);
    }

    #[test]
    fn invalid_waivers_are_rejected_with_lines() {
        let base = PolicySet::load(
            &[PolicySource::new("t.toml", POLICY.as_bytes())],
            Catalog::annex_a(),
        )
        .unwrap();
        let errs = base
            .clone()
            .with_waivers("w.toml", b"[[waiver]]\nrule = \"nope\"\njustification = \"j\"\napprover = \"a\"\nexpires = 2030-01-01\n")
            .unwrap_err();
        assert_eq!(errs.0[0].to_string(), "w.toml:1: unknown rule `nope`");
        let errs = base
            .clone()
            .with_waivers(
                "w.toml",
                b"\n[[waiver]]\ncontrol = \"A.8.5\"\napprover = \"a\"\n",
            )
            .unwrap_err();
        let text = errs.to_string();
        assert!(
            text.contains("w.toml:2: missing required field `justification`"),
            "{text}"
        );
        assert!(text.contains("expiry date"), "{text}");
        assert!(base.with_waivers("w.toml", b"[[waiver]\n").is_err());
    }
}
