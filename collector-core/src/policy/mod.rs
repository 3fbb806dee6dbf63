//! The policy engine: TOML policies with CEL checks mapped to Annex A controls.
//!
//! - [`load`] turns policy files (name + text) into a validated [`PolicySet`],
//!   compiling every CEL expression once; any problem is a [`PolicyError`]
//!   naming file, line and rule.
//! - [`evaluate`] is a pure function from a policy set and one host's
//!   [`Evidence`](crate::Evidence) to an [`Evaluation`]: a result per rule and a
//!   status per Annex A control. A rule that fails at run time becomes an
//!   `error` result with its reason; it never stops the other rules.
//! - [`coverage`] declares, per control, whether the rules evidence all or
//!   part of it and which signed attestation it also needs; it caps the
//!   roll-up so a control never reads `satisfied` on more than its rules show.
//! - [`waiver`] applies time-boxed, approved exceptions.
//! - [`testcase`] runs policy test cases (evidence fixture + expected statuses).

pub mod coverage;
mod eval;
mod fields;
mod key;
mod load;
pub mod status;
pub mod testcase;
mod validate;
pub mod waiver;

pub use coverage::{AttestationInput, ControlCoverage, Coverage};
pub use eval::{
    control_status, evaluate, evaluate_rules, evaluate_with, ControlResult, ControlStatus,
    Evaluation, PolicyRef, RuleResult, RuleStatus, Summary,
};
pub use key::EvalKeys;
pub use load::{is_policy_file, PolicySource};

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The CEL variable a probe's data is bound to (`file-permissions` → `file_permissions`).
pub fn probe_variable(probe_id: &str) -> String {
    crate::schema::variable(probe_id)
}

/// How bad a failing rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Hygiene.
    Low,
    /// Weakens a control.
    Medium,
    /// Directly exploitable or defeats a control.
    High,
    /// Immediate compromise risk.
    Critical,
}

impl Severity {
    /// Parse `low | medium | high | critical`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A compiled CEL expression with its source text.
#[derive(Clone)]
pub struct Expr {
    source: String,
    program: Arc<cel::Program>,
}

impl Expr {
    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// One rule of a policy.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique id across the policy set (`ssh.root-login`).
    pub id: String,
    /// What the rule asserts, in a sentence.
    pub title: String,
    /// Annex A controls the rule provides evidence for.
    pub controls: Vec<String>,
    /// How bad a failure is.
    pub severity: Severity,
    /// Probes whose data the rule reads (declared plus referenced by its expressions).
    pub requires: Vec<String>,
    /// The CEL check; must yield a bool.
    pub check: Expr,
    /// Optional CEL condition; when false the rule is `not-applicable`.
    pub applies_to: Option<Expr>,
    /// Optional CEL condition over the evidence; when false the evidence
    /// cannot decide the rule (e.g. a file the agent had no permission to
    /// read) and the rule is `no-evidence` with [`Rule::unknown_hint`].
    pub known_when: Option<Expr>,
    /// What to do so the rule can be decided (shown with `no-evidence`).
    pub unknown_hint: Option<String>,
    /// Why the rule matters.
    pub rationale: Option<String>,
    /// How to fix a failure.
    pub remediation: Option<String>,
    /// Line of the `[[rule]]` header in its file.
    pub line: usize,
}

/// One loaded policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: String,
    /// Human title.
    pub title: String,
    /// Optional CEL condition over `host`; when false every rule is `not-applicable`.
    pub applies_to: Option<Expr>,
    /// The rules in file order.
    pub rules: Vec<Rule>,
    /// The `[[control]]` coverage declarations in file order.
    pub controls: Vec<ControlCoverage>,
    /// Where it came from and the sha256 of its exact bytes.
    pub source: SourceRef,
}

/// A policy file's name and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The name the file was loaded under (a path, or `bundled:<name>`).
    pub name: String,
    /// sha256 of the file's bytes.
    pub sha256: Digest,
}

/// A validated, compiled set of policies, plus the waivers that apply to them.
#[derive(Clone)]
pub struct PolicySet {
    policies: Vec<Policy>,
    waivers: Vec<waiver::Waiver>,
    waiver_source: Option<SourceRef>,
    env: Arc<cel::Env>,
    catalog: crate::catalog::Catalog,
    /// Probe variables read by at least one expression (only these are converted to CEL values).
    used_probes: Vec<String>,
    /// Per probe variable, the top-level fields the expressions read, when
    /// they read nothing else (`fields.rs`): only those are converted.
    probe_fields: std::collections::HashMap<String, Option<std::collections::BTreeSet<String>>>,
    /// Control id → coverage merged over every policy that declares it.
    coverage: BTreeMap<String, coverage::EffectiveCoverage>,
}

impl fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicySet")
            .field("policies", &self.policies)
            .field("waivers", &self.waivers)
            .finish()
    }
}

impl PolicySet {
    /// Evaluate converting every field of every probe read (`false`), or
    /// only the fields the expressions read (`true`, the default). The
    /// results are the same either way; this exists so that tests and
    /// benchmarks can show it.
    pub fn project_fields(mut self, on: bool) -> PolicySet {
        self.probe_fields = if on {
            fields::probe_fields(&self)
        } else {
            std::collections::HashMap::new()
        };
        self
    }

    /// The fields of probe variable `var` evaluation converts (None: all).
    pub fn fields_converted(&self, var: &str) -> Option<&std::collections::BTreeSet<String>> {
        self.probe_fields.get(var).and_then(Option::as_ref)
    }

    /// The policies in load order.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Every rule with its policy.
    pub fn rules(&self) -> impl Iterator<Item = (&Policy, &Rule)> {
        self.policies
            .iter()
            .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
    }

    /// Look a rule up by id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules().map(|(_, r)| r).find(|r| r.id == id)
    }

    /// Waivers attached with [`PolicySet::with_waivers`].
    pub fn waivers(&self) -> &[waiver::Waiver] {
        &self.waivers
    }

    /// The waivers file, if one was attached.
    pub fn waiver_source(&self) -> Option<&SourceRef> {
        self.waiver_source.as_ref()
    }

    /// The merged coverage declaration of a control (none: its rules decide alone).
    pub fn coverage(&self, control: &str) -> Option<&coverage::EffectiveCoverage> {
        self.coverage.get(control)
    }

    /// Whether some control needs a signed attestation (callers then pass
    /// current attestations to [`evaluate_with`]).
    pub fn needs_attestations(&self) -> bool {
        self.coverage.values().any(|c| c.attestation.is_some())
    }

    /// Controls that require an attestation, sorted.
    pub fn attested_controls(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .coverage
            .iter()
            .filter(|(_, c)| c.attestation.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        v.sort_by_key(|c| control_order(c));
        v
    }

    /// Controls some rule maps to but no policy declares coverage for, sorted.
    pub fn undeclared_controls(&self) -> Vec<String> {
        self.controls_covered()
            .into_iter()
            .filter(|c| !self.coverage.contains_key(c))
            .collect()
    }

    /// Distinct Annex A controls covered by at least one rule, sorted.
    pub fn controls_covered(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rules()
            .flat_map(|(_, r)| r.controls.iter().cloned())
            .collect();
        v.sort_by_key(|c| control_order(c));
        v.dedup();
        v
    }

    /// Distinct probes needed by the rules, sorted.
    pub fn probes_needed(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .rules()
            .flat_map(|(_, r)| r.requires.iter().cloned())
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Sort key for control ids: `A.5.2` before `A.5.10`.
pub fn control_order(id: &str) -> (u32, u32, String) {
    let mut parts = id.trim_start_matches("A.").split('.');
    let a = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(u32::MAX);
    let b = parts
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(u32::MAX);
    (a, b, id.to_string())
}

/// What is wrong with a policy, a waiver or a test file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyErrorKind {
    #[error("invalid TOML: {0}")]
    Toml(String),
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    #[error("field `{field}`: {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error("unknown Annex A control `{0}` (not in the ISO/IEC 27001:2022 catalog)")]
    UnknownControl(String),
    #[error("unknown probe `{0}` (known: {known})", known = crate::schema::probe_ids().collect::<Vec<_>>().join(", "))]
    UnknownProbe(String),
    #[error("CEL syntax error in `{field}`: {message}")]
    Cel {
        field: &'static str,
        message: String,
    },
    #[error("rule id `{0}` is already defined in {1}")]
    DuplicateRule(String, String),
    #[error("policy id `{0}` is already defined in {1}")]
    DuplicatePolicy(String, String),
    #[error("unknown rule `{0}`")]
    UnknownRule(String),
    #[error("`{field}` reads `{path}`: {message}")]
    Field {
        field: &'static str,
        path: String,
        message: String,
    },
    #[error("control `{0}` is declared twice in this policy")]
    DuplicateControl(String),
    #[error("control `{0}` has a coverage declaration but no rule of this policy maps to it")]
    UncoveredControl(String),
}

/// A load-time error with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The file (as named when loaded).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// The rule id, when the error is inside a rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub kind: PolicyErrorKind,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file, self.line)?;
        if let Some(rule) = &self.rule {
            write!(f, "rule `{rule}`: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

/// Every error found while loading (loading reports all of them, not just the first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadErrors(pub Vec<PolicyError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count() + 1)
        .unwrap_or(1)
}

/// The CEL environment every policy is compiled and evaluated with:
/// the standard library plus the strings and lists extensions.
pub(crate) fn cel_env() -> Arc<cel::Env> {
    let mut env = cel::Env::stdlib();
    // Registering the bundled extensions cannot clash with the stdlib; if a
    // future cel release made it fail we would still have the stdlib.
    let _ = env.add_extension(cel::extensions::strings);
    let _ = env.add_extension(cel::extensions::lists);
    Arc::new(env)
}
