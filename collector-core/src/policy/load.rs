//! Loading policy files: TOML → validated, compiled [`PolicySet`].
//!
//! Every problem is reported with file, line and rule id; loading collects all
//! problems of all files instead of stopping at the first.

use super::coverage::{AttestationRequirement, ControlCoverage, Coverage, EffectiveCoverage};
use super::{
    cel_env, line_of, validate, Expr, LoadErrors, Policy, PolicyError, PolicyErrorKind, PolicySet,
    Rule, Severity, SourceRef,
};
use crate::catalog::Catalog;
use crate::digest::sha256_digest;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use toml::Spanned;

/// A policy file handed to the loader: its name and exact bytes.
#[derive(Debug, Clone)]
pub struct PolicySource {
    /// The name used in messages and recorded in evaluations (usually the path).
    pub name: String,
    /// The file's exact bytes.
    pub bytes: Vec<u8>,
}

impl PolicySource {
    /// A source from a name and bytes.
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> PolicySource {
        PolicySource {
            name: name.into(),
            bytes: bytes.into(),
        }
    }
}

/// Whether a file name inside a policy directory is a policy (rather than a
/// test file, waivers, a statement of applicability or the catalog).
pub fn is_policy_file(file_name: &str) -> bool {
    file_name.ends_with(".toml")
        && !file_name.ends_with("_test.toml")
        && file_name != "waivers.toml"
        && file_name != "soa.toml"
        && !file_name.starts_with("annex-a-")
        && file_name != "Cargo.toml"
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    policy: Option<Spanned<RawPolicy>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    control: Vec<Spanned<RawControl>>,
}

/// A `[[control]]` coverage declaration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    id: Option<Spanned<String>>,
    coverage: Option<Spanned<String>>,
    statement: Option<String>,
    rationale: Option<String>,
    attestation: Option<Spanned<RawAttestation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttestation {
    max_age_days: Option<i64>,
    statement: Option<String>,
}

/// The longest an attestation may be trusted: ten years.
const MAX_ATTESTATION_AGE_DAYS: i64 = 3650;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    id: Option<String>,
    version: Option<String>,
    title: Option<String>,
    description: Option<String>,
    applies_to: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Option<Spanned<String>>,
    title: Option<String>,
    controls: Option<Vec<Spanned<String>>>,
    severity: Option<Spanned<String>>,
    requires: Option<Vec<Spanned<String>>>,
    check: Option<Spanned<String>>,
    applies_to: Option<Spanned<String>>,
    rationale: Option<String>,
    remediation: Option<String>,
}

/// A second, lenient parse used only to name the rule a TOML error sits in.
#[derive(Deserialize)]
struct LenientFile {
    #[serde(default)]
    rule: Vec<Spanned<LenientRule>>,
}

#[derive(Deserialize)]
struct LenientRule {
    id: Option<toml::Value>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<PolicyError>,
}

impl Ctx<'_> {
    fn err(&mut self, offset: usize, rule: Option<&str>, kind: PolicyErrorKind) {
        self.errors.push(PolicyError {
            file: self.file.to_string(),
            line: line_of(self.text, offset),
            rule: rule.map(str::to_string),
            kind,
        });
    }
}

impl PolicySet {
    /// Load and validate policy files against `catalog`. Returns every error
    /// found in every file when any file is invalid.
    pub fn load(sources: &[PolicySource], catalog: &Catalog) -> Result<PolicySet, LoadErrors> {
        let env = cel_env();
        let mut errors = Vec::new();
        let mut policies: Vec<Policy> = Vec::new();
        let mut rule_owner: BTreeMap<String, String> = BTreeMap::new();
        let mut policy_owner: BTreeMap<String, String> = BTreeMap::new();

        for src in sources {
            let text = match std::str::from_utf8(&src.bytes) {
                Ok(t) => t,
                Err(e) => {
                    let offset = e.valid_up_to();
                    let text = String::from_utf8_lossy(&src.bytes);
                    errors.push(PolicyError {
                        file: src.name.clone(),
                        line: line_of(&text, offset),
                        rule: None,
                        kind: PolicyErrorKind::Toml("file is not valid UTF-8".into()),
                    });
                    continue;
                }
            };
            let mut ctx = Ctx {
                file: &src.name,
                text,
                errors: Vec::new(),
            };
            if let Some(policy) = load_one(&mut ctx, &env, catalog, sha256_digest(&src.bytes)) {
                if let Some(first) = policy_owner.get(&policy.id) {
                    ctx.err(
                        0,
                        None,
                        PolicyErrorKind::DuplicatePolicy(policy.id.clone(), first.clone()),
                    );
                } else {
                    policy_owner.insert(policy.id.clone(), src.name.clone());
                }
                for rule in &policy.rules {
                    if let Some(first) = rule_owner.get(&rule.id) {
                        let kind = PolicyErrorKind::DuplicateRule(rule.id.clone(), first.clone());
                        ctx.errors.push(PolicyError {
                            file: src.name.clone(),
                            line: rule.line,
                            rule: Some(rule.id.clone()),
                            kind,
                        });
                    } else {
                        rule_owner.insert(rule.id.clone(), src.name.clone());
                    }
                }
                policies.push(policy);
            }
            errors.extend(ctx.errors);
        }
        if !errors.is_empty() {
            return Err(LoadErrors(errors));
        }
        let mut coverage: BTreeMap<String, EffectiveCoverage> = BTreeMap::new();
        for d in policies.iter().flat_map(|p| p.controls.iter()) {
            coverage
                .entry(d.control.clone())
                .and_modify(|e| e.merge(d))
                .or_insert_with(|| EffectiveCoverage::from_declaration(d));
        }
        let mut used_probes: Vec<String> = policies
            .iter()
            .flat_map(|p| p.rules.iter().flat_map(|r| r.requires.iter().cloned()))
            .collect();
        used_probes.sort();
        used_probes.dedup();
        Ok(PolicySet {
            policies,
            waivers: Vec::new(),
            waiver_source: None,
            env,
            catalog: catalog.clone(),
            used_probes,
            coverage,
        })
    }
}

fn load_one(
    ctx: &mut Ctx<'_>,
    env: &Arc<cel::Env>,
    catalog: &Catalog,
    sha256: crate::Digest,
) -> Option<Policy> {
    let raw: RawFile = match toml::from_str(ctx.text) {
        Ok(r) => r,
        Err(e) => {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            let rule = rule_at(ctx.text, offset);
            ctx.err(
                offset,
                rule.as_deref(),
                PolicyErrorKind::Toml(e.message().trim().to_string()),
            );
            return None;
        }
    };
    let Some(policy) = raw.policy else {
        ctx.err(0, None, PolicyErrorKind::MissingField("policy"));
        return None;
    };
    let ptable_offset = policy.span().start;
    let policy = policy.into_inner();
    let required = |v: Option<String>, field: &'static str, ctx: &mut Ctx<'_>| {
        v.filter(|s| !s.trim().is_empty()).unwrap_or_else(|| {
            ctx.err(ptable_offset, None, PolicyErrorKind::MissingField(field));
            String::new()
        })
    };
    let id = required(policy.id, "policy.id", ctx);
    let version = required(policy.version, "policy.version", ctx);
    let title = required(policy.title, "policy.title", ctx);
    let _ = policy.description;
    let applies_to = policy.applies_to.and_then(|s| {
        let expr = compile(ctx, env, &s, None, "policy.applies_to")?;
        // The policy-level condition runs before any probe: it may read `host` only.
        validate_expr(ctx, &expr, &s, None, "policy.applies_to", &[]);
        Some(expr)
    });

    let mut rules = Vec::new();
    for (index, raw_rule) in raw.rule.into_iter().enumerate() {
        let offset = raw_rule.span().start;
        if let Some(rule) = load_rule(ctx, env, catalog, raw_rule.into_inner(), offset, index) {
            rules.push(rule);
        }
    }
    if rules.is_empty() && ctx.errors.is_empty() {
        ctx.err(0, None, PolicyErrorKind::MissingField("rule"));
    }
    let mut controls: Vec<ControlCoverage> = Vec::new();
    for raw_control in raw.control {
        let offset = raw_control.span().start;
        if let Some(c) = load_control(ctx, catalog, raw_control.into_inner(), offset) {
            if controls.iter().any(|d| d.control == c.control) {
                ctx.err(offset, None, PolicyErrorKind::DuplicateControl(c.control));
            } else if ctx.errors.is_empty()
                && !rules.iter().any(|r| r.controls.contains(&c.control))
            {
                ctx.err(offset, None, PolicyErrorKind::UncoveredControl(c.control));
            } else {
                controls.push(c);
            }
        }
    }
    Some(Policy {
        id,
        version,
        title,
        applies_to,
        rules,
        controls,
        source: SourceRef {
            name: ctx.file.to_string(),
            sha256,
        },
    })
}

fn load_rule(
    ctx: &mut Ctx<'_>,
    env: &Arc<cel::Env>,
    catalog: &Catalog,
    raw: RawRule,
    offset: usize,
    index: usize,
) -> Option<Rule> {
    let before = ctx.errors.len();
    let id = match raw.id {
        Some(id) if valid_rule_id(id.get_ref()) => id.into_inner(),
        Some(id) => {
            let at = id.span().start;
            let shown = id.into_inner();
            ctx.err(
                at,
                Some(&shown),
                PolicyErrorKind::InvalidField {
                    field: "id",
                    message: "use letters, digits, `.`, `-` and `_` only".into(),
                },
            );
            shown
        }
        None => {
            let name = format!("#{}", index + 1);
            ctx.err(offset, Some(&name), PolicyErrorKind::MissingField("id"));
            name
        }
    };
    let rid = Some(id.as_str());
    let title = raw
        .title
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| {
            ctx.err(offset, rid, PolicyErrorKind::MissingField("title"));
            String::new()
        });

    let mut controls = Vec::new();
    match raw.controls {
        None => ctx.err(offset, rid, PolicyErrorKind::MissingField("controls")),
        Some(list) if list.is_empty() => ctx.err(
            offset,
            rid,
            PolicyErrorKind::InvalidField {
                field: "controls",
                message: "must name at least one Annex A control".into(),
            },
        ),
        Some(list) => {
            for c in list {
                if catalog.get(c.get_ref()).is_none() {
                    ctx.err(
                        c.span().start,
                        rid,
                        PolicyErrorKind::UnknownControl(c.get_ref().clone()),
                    );
                } else if !controls.contains(c.get_ref()) {
                    controls.push(c.into_inner());
                }
            }
        }
    }

    let severity = match raw.severity {
        None => {
            ctx.err(offset, rid, PolicyErrorKind::MissingField("severity"));
            Severity::Medium
        }
        Some(s) => Severity::parse(s.get_ref()).unwrap_or_else(|| {
            ctx.err(
                s.span().start,
                rid,
                PolicyErrorKind::InvalidField {
                    field: "severity",
                    message: format!(
                        "`{}` is not one of low, medium, high, critical",
                        s.get_ref()
                    ),
                },
            );
            Severity::Medium
        }),
    };

    let mut requires = Vec::new();
    for p in raw.requires.unwrap_or_default() {
        if crate::schema::probe(p.get_ref()).is_some() {
            if !requires.contains(p.get_ref()) {
                requires.push(p.into_inner());
            }
        } else {
            ctx.err(
                p.span().start,
                rid,
                PolicyErrorKind::UnknownProbe(p.get_ref().clone()),
            );
        }
    }

    let check = match &raw.check {
        None => {
            ctx.err(offset, rid, PolicyErrorKind::MissingField("check"));
            None
        }
        Some(src) => compile(ctx, env, src, rid, "check"),
    };
    let applies_to = raw
        .applies_to
        .as_ref()
        .and_then(|s| compile(ctx, env, s, rid, "applies_to"));

    // Every field the expressions read must exist in the probe schema, with a
    // type that can match, in a probe the rule requires.
    // (Skipped when the rule is already broken: an unknown `requires` entry
    // would otherwise be reported a second time as an unrequired read.)
    if ctx.errors.len() == before {
        if let (Some(expr), Some(src)) = (&check, &raw.check) {
            validate_expr(ctx, expr, src, rid, "check", &requires);
        }
        if let (Some(expr), Some(src)) = (&applies_to, &raw.applies_to) {
            validate_expr(ctx, expr, src, rid, "applies_to", &requires);
        }
    }

    if ctx.errors.len() > before {
        return None;
    }
    Some(Rule {
        id,
        title,
        controls,
        severity,
        requires,
        check: check?,
        applies_to,
        rationale: raw.rationale,
        remediation: raw.remediation,
        line: line_of(ctx.text, offset),
    })
}

/// Validate one `[[control]]` declaration.
fn load_control(
    ctx: &mut Ctx<'_>,
    catalog: &Catalog,
    raw: RawControl,
    offset: usize,
) -> Option<ControlCoverage> {
    let before = ctx.errors.len();
    let invalid = |ctx: &mut Ctx<'_>, at: usize, field: &'static str, message: String| {
        ctx.err(at, None, PolicyErrorKind::InvalidField { field, message });
    };
    let control = match raw.id {
        None => {
            ctx.err(offset, None, PolicyErrorKind::MissingField("control.id"));
            String::new()
        }
        Some(id) => {
            if catalog.get(id.get_ref()).is_none() {
                ctx.err(
                    id.span().start,
                    None,
                    PolicyErrorKind::UnknownControl(id.get_ref().clone()),
                );
            }
            id.into_inner()
        }
    };
    let coverage = match raw.coverage {
        None => {
            ctx.err(
                offset,
                None,
                PolicyErrorKind::MissingField("control.coverage"),
            );
            None
        }
        Some(c) => {
            let parsed = Coverage::parse(c.get_ref());
            if parsed.is_none() {
                invalid(
                    ctx,
                    c.span().start,
                    "control.coverage",
                    format!(
                        "`{}` is not `full` or `partial` (control {control})",
                        c.get_ref()
                    ),
                );
            }
            parsed
        }
    };
    let statement = raw.statement.filter(|s| !s.trim().is_empty());
    if coverage == Some(Coverage::Partial) && statement.is_none() {
        invalid(
            ctx,
            offset,
            "control.statement",
            format!(
                "partial coverage of {control} needs a statement of what is and is not covered"
            ),
        );
    }
    let attestation = raw.attestation.and_then(|a| {
        let at = a.span().start;
        let a = a.into_inner();
        let days = match a.max_age_days {
            Some(d) if (1..=MAX_ATTESTATION_AGE_DAYS).contains(&d) => u32::try_from(d).ok(),
            Some(d) => {
                invalid(
                    ctx,
                    at,
                    "control.attestation.max_age_days",
                    format!(
                        "{d} is not between 1 and {MAX_ATTESTATION_AGE_DAYS} (control {control})"
                    ),
                );
                None
            }
            None => {
                ctx.err(
                    at,
                    None,
                    PolicyErrorKind::MissingField("control.attestation.max_age_days"),
                );
                None
            }
        };
        let what = a.statement.filter(|s| !s.trim().is_empty());
        if what.is_none() {
            ctx.err(
                at,
                None,
                PolicyErrorKind::MissingField("control.attestation.statement"),
            );
        }
        Some(AttestationRequirement {
            max_age_days: days?,
            statement: what?,
        })
    });
    if ctx.errors.len() > before {
        return None;
    }
    Some(ControlCoverage {
        control,
        coverage: coverage?,
        statement,
        rationale: raw.rationale.filter(|s| !s.trim().is_empty()),
        attestation,
        line: line_of(ctx.text, offset),
    })
}

fn valid_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

fn compile(
    ctx: &mut Ctx<'_>,
    env: &Arc<cel::Env>,
    src: &Spanned<String>,
    rule: Option<&str>,
    field: &'static str,
) -> Option<Expr> {
    match env.compile(src.get_ref()) {
        Ok(program) => Some(Expr {
            source: src.get_ref().clone(),
            program: Arc::new(program),
        }),
        Err(e) => {
            let message = e
                .errors
                .iter()
                .map(|pe| pe.msg.clone())
                .collect::<Vec<_>>()
                .join("; ");
            ctx.err(
                src.span().start,
                rule,
                PolicyErrorKind::Cel { field, message },
            );
            None
        }
    }
}

/// Report every schema problem of a compiled expression at its line in the file.
fn validate_expr(
    ctx: &mut Ctx<'_>,
    expr: &Expr,
    src: &Spanned<String>,
    rule: Option<&str>,
    field: &'static str,
    requires: &[String],
) {
    let start = src.span().start;
    // Multi-line strings ('''…''') drop a newline right after the opening quotes.
    let raw_at = ctx.text.get(start..).unwrap_or_default();
    let skipped_newline = (raw_at.starts_with("'''") || raw_at.starts_with("\"\"\""))
        && raw_at
            .get(3..)
            .is_some_and(|r| r.starts_with('\n') || r.starts_with("\r\n"));
    for p in validate::check(&expr.program, requires, true) {
        let lines_in = p
            .offset
            .and_then(|o| expr.source.get(..o))
            .map(|before| before.matches('\n').count())
            .unwrap_or(0);
        let line = line_of(ctx.text, start) + lines_in + usize::from(skipped_newline);
        ctx.errors.push(PolicyError {
            file: ctx.file.to_string(),
            line,
            rule: rule.map(str::to_string),
            kind: PolicyErrorKind::Field {
                field,
                path: p.path,
                message: p.message,
            },
        });
    }
}

/// The id of the `[[rule]]` that contains byte `offset`, found by a lenient
/// parse (used to name the rule a TOML error sits in).
fn rule_at(text: &str, offset: usize) -> Option<String> {
    let Ok(lenient) = toml::from_str::<LenientFile>(text) else {
        return rule_at_by_text(text, offset);
    };
    lenient
        .rule
        .iter()
        .rev()
        .find(|r| r.span().start <= offset)
        .and_then(|r| match &r.get_ref().id {
            Some(toml::Value::String(s)) => Some(s.clone()),
            _ => None,
        })
}

/// When the file does not parse at all: the `id = "…"` line of the last
/// `[[rule]]` header before `offset` (before the next header).
fn rule_at_by_text(text: &str, offset: usize) -> Option<String> {
    let head = text.get(..offset.min(text.len()))?;
    let start = head.rfind("[[rule]]")?;
    let block = text.get(start + "[[rule]]".len()..)?;
    let block = block.split("\n[").next().unwrap_or(block);
    block.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        if key.trim() != "id" {
            return None;
        }
        let v = value.trim();
        let quoted = v
            .strip_prefix('"')
            .and_then(|r| r.split('"').next())
            .or_else(|| v.strip_prefix('\'').and_then(|r| r.split('\'').next()))?;
        Some(quoted.to_string())
    })
}

#[cfg(test)]
mod tests {
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
        let e =
            one_error(&GOOD.replace("controls = [\"A.8.2\", \"A.8.5\"]", "controls = \"A.8.2\""));
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
}
