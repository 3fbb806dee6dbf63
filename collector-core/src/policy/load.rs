//! Loading policy files: TOML → validated, compiled [`PolicySet`].
//!
//! Every problem is reported with file, line and rule id; loading collects all
//! problems of all files instead of stopping at the first.
//!
//! Why this file is longer than ~700 lines: one loader per declaration
//! (policy, rule with its gates, control coverage), each naming the line of
//! every error, reads best beside the raw TOML shapes it checks.

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
    known_when: Option<Spanned<String>>,
    unknown_hint: Option<Spanned<String>>,
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
    /// Offsets of the newlines in `text` (every rule and expression asks
    /// for its line: counting from the start each time was quadratic).
    newlines: Vec<usize>,
    errors: Vec<PolicyError>,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, text: &'a str) -> Ctx<'a> {
        let newlines = text
            .bytes()
            .enumerate()
            .filter_map(|(i, b)| (b == b'\n').then_some(i))
            .collect();
        Ctx {
            file,
            text,
            newlines,
            errors: Vec::new(),
        }
    }

    /// The 1-based line of byte `offset` (as [`line_of`]).
    fn line(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
    }

    fn err(&mut self, offset: usize, rule: Option<&str>, kind: PolicyErrorKind) {
        self.errors.push(PolicyError {
            file: self.file.to_string(),
            line: self.line(offset),
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
            let mut ctx = Ctx::new(&src.name, text);
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
        let mut set = PolicySet {
            probe_fields: std::collections::HashMap::new(),
            policies,
            waivers: Vec::new(),
            waiver_source: None,
            env,
            catalog: catalog.clone(),
            used_probes,
            coverage,
        };
        set.probe_fields = super::fields::probe_fields(&set);
        Ok(set)
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
    let known_when = raw
        .known_when
        .as_ref()
        .and_then(|s| compile(ctx, env, s, rid, "known_when"));
    let unknown_hint = match (&raw.known_when, raw.unknown_hint) {
        (_, None) => None,
        (None, Some(h)) => {
            ctx.err(
                h.span().start,
                rid,
                PolicyErrorKind::InvalidField {
                    field: "unknown_hint",
                    message: "needs a `known_when` condition to explain".into(),
                },
            );
            None
        }
        (Some(_), Some(h)) if h.get_ref().trim().is_empty() => {
            ctx.err(
                h.span().start,
                rid,
                PolicyErrorKind::InvalidField {
                    field: "unknown_hint",
                    message: "must not be empty".into(),
                },
            );
            None
        }
        (Some(_), Some(h)) => Some(h.into_inner()),
    };

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
        if let (Some(expr), Some(src)) = (&known_when, &raw.known_when) {
            validate_expr(ctx, expr, src, rid, "known_when", &requires);
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
        known_when,
        unknown_hint,
        rationale: raw.rationale,
        remediation: raw.remediation,
        line: ctx.line(offset),
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
        line: ctx.line(offset),
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
        let line = ctx.line(start) + lines_in + usize::from(skipped_newline);
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
mod tests;
