//! Evaluation: `evaluate(&PolicySet, &Evidence) -> Evaluation`, a pure function.

use super::coverage::{self, AttestationInput, Coverage};
pub use super::status::{ControlStatus, RuleStatus};
use super::waiver::WaiverRef;
use super::{probe_variable, Expr, PolicySet, Severity};
use crate::catalog::Theme;
use crate::digest::Digest;
use crate::evidence::{Evidence, HostFacts, ProbeStatus};
use cel::objects::{Key, Map};
use cel::Value;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A policy used by an evaluation, with the digest of its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    /// Policy id.
    pub id: String,
    /// Policy version.
    pub version: String,
    /// Title.
    pub title: String,
    /// File the policy was loaded from.
    pub source: String,
    /// sha256 of the policy file.
    pub sha256: Digest,
}

/// The result of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleResult {
    /// Rule id.
    pub id: String,
    /// Policy id.
    pub policy: String,
    /// Rule title.
    pub title: String,
    /// Controls the rule serves.
    pub controls: Vec<String>,
    /// Severity.
    pub severity: Severity,
    /// Outcome (`waived` when a waiver applies).
    pub status: RuleStatus,
    /// The status before the waiver, when waived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlying: Option<RuleStatus>,
    /// Why it failed, errored or has no evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
    /// The waiver that applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverRef>,
}

/// The roll-up of one Annex A control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlResult {
    /// Control id.
    pub id: String,
    /// Control title.
    pub title: String,
    /// Theme.
    pub theme: Theme,
    /// Status.
    pub status: ControlStatus,
    /// Status before a control waiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlying: Option<ControlStatus>,
    /// Rules that cover the control, by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// The waiver that applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiver: Option<WaiverRef>,
    /// Declared automated coverage (absent: undeclared, the rules decide alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// Digest of the signed attestation that completed a hybrid control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Digest>,
    /// Why the control reads partially evidenced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Counts by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Rule status → count.
    pub rules: BTreeMap<RuleStatus, usize>,
    /// Control status → count.
    pub controls: BTreeMap<ControlStatus, usize>,
}

/// Everything one evaluation found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The host evaluated.
    pub host: HostFacts,
    /// When its evidence was collected.
    pub collected_at: DateTime<Utc>,
    /// Policies used, with file digests.
    pub policies: Vec<PolicyRef>,
    /// The waivers file used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waivers: Option<super::SourceRef>,
    /// Per-control roll-up, all catalog controls in clause order.
    pub controls: Vec<ControlResult>,
    /// Per-rule results in policy order.
    pub rules: Vec<RuleResult>,
    /// Waivers that matched but had expired at collection time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired_waivers: Vec<String>,
    /// Counts by status.
    pub summary: Summary,
}

impl Evaluation {
    /// Whether any rule failed (a waived failure does not count).
    pub fn has_failures(&self) -> bool {
        self.rules.iter().any(|r| r.status == RuleStatus::Fail)
    }

    /// Rules that ended in `error` (a broken check, not a finding): one line
    /// each naming the rule and the reason.
    pub fn rule_errors(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| r.status == RuleStatus::Error)
            .map(|r| {
                format!(
                    "rule `{}` ({}) errored: {}",
                    r.id,
                    r.policy,
                    r.message.as_deref().unwrap_or("no reason given")
                )
            })
            .collect()
    }
}

/// Evaluate every policy of `set` on `evidence` without attestations (hybrid
/// controls then read at best `partially-evidenced`). See [`evaluate_with`].
pub fn evaluate(set: &PolicySet, evidence: &Evidence) -> Evaluation {
    evaluate_with(set, evidence, &[])
}

/// Evaluate every policy of `set` on `evidence`, with the verified manual
/// attestations the caller holds (any control; only current ones for
/// controls that require one count, see [`super::coverage`]). Pure and
/// deterministic: the only notion of "now" is `evidence.collected_at` (used
/// for waiver expiry and attestation age).
pub fn evaluate_with(
    set: &PolicySet,
    evidence: &Evidence,
    attestations: &[AttestationInput],
) -> Evaluation {
    let patched = with_cve_waivers(set, evidence);
    let evidence = patched.as_ref().unwrap_or(evidence);
    let today = evidence.collected_at.date_naive();
    let mut expired = Vec::new();
    let rules = rule_results(set, evidence, |_| true, &mut expired);
    let controls = roll_up(set, &rules, evidence, attestations, today, &mut expired);
    let mut summary = Summary::default();
    for r in &rules {
        *summary.rules.entry(r.status).or_default() += 1;
    }
    for c in &controls {
        *summary.controls.entry(c.status).or_default() += 1;
    }
    Evaluation {
        host: evidence.host.clone(),
        collected_at: evidence.collected_at,
        policies: set
            .policies
            .iter()
            .map(|p| PolicyRef {
                id: p.id.clone(),
                version: p.version.clone(),
                title: p.title.clone(),
                source: p.source.name.clone(),
                sha256: p.source.sha256,
            })
            .collect(),
        waivers: set.waiver_source.clone(),
        controls,
        rules,
        expired_waivers: expired,
        summary,
    }
}

/// The results of the rules `wanted` selects, exactly as [`evaluate_with`]
/// gives them (same context, policy gates and waivers, policy order): what
/// a caller needs to evaluate a few rules apart, e.g. the rules that read
/// `collected_day` (see [`super::EvalKeys::day_free_key`]). `evidence` needs
/// only the probes those rules and their policies' gates read.
pub fn evaluate_rules(
    set: &PolicySet,
    evidence: &Evidence,
    wanted: impl Fn(&super::Rule) -> bool,
) -> Vec<RuleResult> {
    let patched = with_cve_waivers(set, evidence);
    let evidence = patched.as_ref().unwrap_or(evidence);
    rule_results(set, evidence, wanted, &mut Vec::new())
}

/// Every `wanted` rule's result in policy order, waivers applied (expired
/// waivers met are pushed to `expired`).
fn rule_results(
    set: &PolicySet,
    evidence: &Evidence,
    wanted: impl Fn(&super::Rule) -> bool,
    expired: &mut Vec<String>,
) -> Vec<RuleResult> {
    let (ctx, data) = context(set, evidence);
    let today = evidence.collected_at.date_naive();
    let mut rules = Vec::new();
    for policy in &set.policies {
        if !policy.rules.iter().any(&wanted) {
            continue;
        }
        let policy_gate = policy
            .applies_to
            .as_ref()
            .map(|e| run_bool(e, &ctx, "applies_to"));
        for rule in policy.rules.iter().filter(|&r| wanted(r)) {
            let (status, message) = match &policy_gate {
                Some(Err(msg)) => (
                    RuleStatus::Error,
                    Some(format!("policy `{}` applies_to: {msg}", policy.id)),
                ),
                Some(Ok(false)) => (RuleStatus::NotApplicable, None),
                _ => rule_status(rule, evidence, &ctx, &data),
            };
            let mut result = RuleResult {
                id: rule.id.clone(),
                policy: policy.id.clone(),
                title: rule.title.clone(),
                controls: rule.controls.clone(),
                severity: rule.severity,
                status,
                underlying: None,
                message,
                remediation: rule.remediation.clone(),
                waiver: None,
            };
            if !matches!(status, RuleStatus::Pass | RuleStatus::NotApplicable) {
                for w in set.waivers.iter().filter(|w| w.covers_rule(&rule.id)) {
                    if !w.matches_host(&evidence.host.hostname) {
                        continue;
                    }
                    if w.current_on(today) {
                        result.underlying = Some(status);
                        result.status = RuleStatus::Waived;
                        result.waiver = Some(w.reference());
                        break;
                    }
                    expired.push(format!("rule {} (waiver expired {})", rule.id, w.expires));
                }
            }
            rules.push(result);
        }
    }
    rules
}

/// Evidence whose `vulns` data has the set's current CVE waivers for this
/// host applied (`None`: nothing to change, use the evidence as is).
fn with_cve_waivers(set: &PolicySet, evidence: &Evidence) -> Option<Evidence> {
    use super::waiver::WaiverTarget;
    if !set
        .waivers
        .iter()
        .any(|w| matches!(w.target, WaiverTarget::Cve(_)))
    {
        return None;
    }
    let vulns = evidence.probes.get("vulns")?;
    vulns.data.as_ref()?;
    let mut patched = evidence.clone();
    if let Some(data) = patched
        .probes
        .get_mut("vulns")
        .and_then(|p| p.data.as_mut())
    {
        crate::vuln::probe::apply_cve_waivers(
            data,
            &set.waivers,
            &evidence.host.hostname,
            evidence.collected_at.date_naive(),
        );
    }
    Some(patched)
}

fn rule_status(
    rule: &super::Rule,
    evidence: &Evidence,
    ctx: &cel::Context<'_, '_>,
    data: &HashMap<String, &serde_json::Value>,
) -> (RuleStatus, Option<String>) {
    for probe in &rule.requires {
        match evidence.probes.get(probe) {
            None => {
                return (
                    RuleStatus::NoEvidence,
                    Some(format!("probe `{probe}` was not collected")),
                )
            }
            Some(p) if p.status != ProbeStatus::Ok || p.data.is_none() => {
                let reason = p.reason.as_deref().unwrap_or("no reason given");
                return (
                    RuleStatus::NoEvidence,
                    Some(format!(
                        "probe `{probe}` is {}: {reason}",
                        p.status.as_str()
                    )),
                );
            }
            Some(_) => {}
        }
    }
    if let Some(gate) = &rule.applies_to {
        match run_bool(gate, ctx, "applies_to") {
            Ok(false) => return (RuleStatus::NotApplicable, None),
            Err(msg) => return (RuleStatus::Error, Some(msg)),
            Ok(true) => {}
        }
    }
    if let Some(gate) = &rule.known_when {
        match run_bool(gate, ctx, "known_when") {
            Ok(false) => {
                let why = format!(
                    "the evidence cannot decide this rule (known_when `{}` is false)",
                    gate.source()
                );
                let message = match &rule.unknown_hint {
                    Some(hint) => format!("{why}: {hint}"),
                    None => why,
                };
                return (RuleStatus::NoEvidence, Some(message));
            }
            Err(msg) => return (RuleStatus::Error, Some(msg)),
            Ok(true) => {}
        }
    }
    match run_bool(&rule.check, ctx, "check") {
        Ok(true) => (RuleStatus::Pass, None),
        Ok(false) => (RuleStatus::Fail, Some(explain(&rule.check, data))),
        Err(msg) => (RuleStatus::Error, Some(msg)),
    }
}

fn run_bool(expr: &Expr, ctx: &cel::Context<'_, '_>, field: &str) -> Result<bool, String> {
    match expr.program.execute(ctx) {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!(
            "{field} yielded {}, expected a bool",
            other.type_of()
        )),
        Err(e) => Err(format!("{field} failed: {e}")),
    }
}

/// Build the CEL context once per evidence: `host`, `collected_at`,
/// `collected_day` and one
/// variable per probe that some rule reads.
fn context<'a>(
    set: &PolicySet,
    evidence: &'a Evidence,
) -> (
    cel::Context<'static, 'static>,
    HashMap<String, &'a serde_json::Value>,
) {
    let mut ctx = cel::Context::with_env(Arc::clone(&set.env));
    let mut data = HashMap::new();
    let mut host = match serde_json::to_value(&evidence.host) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    if let Some(serde_json::Value::Object(extra)) = evidence
        .probes
        .get("host")
        .filter(|p| p.status == ProbeStatus::Ok)
        .and_then(|p| p.data.as_ref())
    {
        for (k, v) in extra {
            host.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    ctx.add_variable_from_value("host", to_cel(&serde_json::Value::Object(host)));
    ctx.add_variable_from_value(
        "collected_at",
        Value::Timestamp(evidence.collected_at.fixed_offset()),
    );
    // The start (00:00 UTC) of the collection day: ages computed against it
    // change once a day, so results can be shared for the day.
    let day = evidence
        .collected_at
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(evidence.collected_at);
    ctx.add_variable_from_value("collected_day", Value::Timestamp(day.fixed_offset()));
    for probe in &set.used_probes {
        if probe == "host" {
            continue;
        }
        if let Some(value) = evidence
            .probes
            .get(probe)
            .filter(|p| p.status == ProbeStatus::Ok)
            .and_then(|p| p.data.as_ref())
        {
            let var = probe_variable(probe);
            let cel = match (set.fields_converted(&var), value) {
                // Only the fields the expressions read (`fields.rs`).
                (Some(fields), serde_json::Value::Object(o)) => {
                    let map: HashMap<Key, Value> = fields
                        .iter()
                        .filter_map(|f| {
                            o.get(f)
                                .map(|v| (Key::String(Arc::new(f.clone())), to_cel(v)))
                        })
                        .collect();
                    Value::Map(Map { map: Arc::new(map) })
                }
                _ => to_cel(value),
            };
            ctx.add_variable_from_value(var.clone(), cel);
            data.insert(var, value);
        }
    }
    (ctx, data)
}

/// Convert JSON to a CEL value: integers stay integers, objects become maps.
pub(crate) fn to_cel(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.iter().map(to_cel).collect())),
        serde_json::Value::Object(o) => {
            let map: HashMap<Key, Value> = o
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

/// A failure message that shows the values the check looked at, e.g.
/// `expected sshd.permitrootlogin in ["no"]; found sshd.permitrootlogin = "yes"`.
fn explain(check: &Expr, data: &HashMap<String, &serde_json::Value>) -> String {
    let mut found: Vec<String> = Vec::new();
    for path in dotted_paths(check.source()) {
        let mut parts = path.split('.');
        let Some(root) = parts.next() else { continue };
        let Some(mut value) = data.get(root).copied() else {
            continue;
        };
        let mut ok = true;
        for part in parts {
            match value.get(part) {
                Some(v) => value = v,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        let shown = if ok {
            let mut s = value.to_string();
            if s.len() > 160 {
                let cut = (0..=160)
                    .rev()
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(0);
                s.truncate(cut);
                s.push('…');
            }
            s
        } else {
            "(absent)".to_string()
        };
        let line = format!("{path} = {shown}");
        if !found.contains(&line) && found.len() < 6 {
            found.push(line);
        }
    }
    if found.is_empty() {
        format!("expected {}", check.source())
    } else {
        format!("expected {}; found {}", check.source(), found.join(", "))
    }
}

/// Dotted identifier paths (`a.b.c`) outside string literals; a trailing
/// method call segment (`a.b.size()`) is dropped.
fn dotted_paths(src: &str) -> Vec<String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        let preceded_by_dot = i > 0 && chars[i - 1] == '.';
        if (c.is_ascii_alphabetic() || c == '_') && !preceded_by_dot {
            let mut segments = Vec::new();
            let mut seg = String::new();
            while i < chars.len() {
                let ch = chars[i];
                if ch.is_ascii_alphanumeric() || ch == '_' {
                    seg.push(ch);
                    i += 1;
                } else if ch == '.' && !seg.is_empty() {
                    segments.push(std::mem::take(&mut seg));
                    i += 1;
                } else {
                    break;
                }
            }
            if !seg.is_empty() {
                segments.push(seg);
            }
            if i < chars.len() && chars[i] == '(' {
                segments.pop();
            }
            if segments.len() >= 2 {
                out.push(segments.join("."));
            }
            continue;
        }
        i += 1;
    }
    out
}

fn roll_up(
    set: &PolicySet,
    rules: &[RuleResult],
    evidence: &Evidence,
    attestations: &[AttestationInput],
    today: chrono::NaiveDate,
    expired: &mut Vec<String>,
) -> Vec<ControlResult> {
    let mut by_control: BTreeMap<&str, Vec<&RuleResult>> = BTreeMap::new();
    for r in rules {
        for c in &r.controls {
            by_control.entry(c.as_str()).or_default().push(r);
        }
    }
    // The catalog is already in clause order.
    set.catalog
        .controls()
        .iter()
        .map(|control| {
            let covering = by_control
                .get(control.id.as_str())
                .cloned()
                .unwrap_or_default();
            let declared = set.coverage(&control.id);
            let applied = coverage::apply(
                control_status(&covering),
                declared,
                &control.id,
                attestations,
                today,
            );
            let status = applied.status;
            let mut result = ControlResult {
                id: control.id.clone(),
                title: control.title.clone(),
                theme: control.theme,
                status,
                underlying: None,
                rules: covering.iter().map(|r| r.id.clone()).collect(),
                waiver: None,
                coverage: declared.map(|c| c.coverage),
                attestation: applied.attestation,
                note: applied.note,
            };
            if !matches!(
                status,
                ControlStatus::Satisfied | ControlStatus::NotApplicable
            ) {
                for w in set.waivers.iter().filter(|w| w.covers_control(&control.id)) {
                    if !w.matches_host(&evidence.host.hostname) {
                        continue;
                    }
                    if w.current_on(today) {
                        result.underlying = Some(status);
                        result.status = ControlStatus::Waived;
                        result.waiver = Some(w.reference());
                        break;
                    }
                    expired.push(format!(
                        "control {} (waiver expired {})",
                        control.id, w.expires
                    ));
                }
            }
            result
        })
        .collect()
}

/// Roll rule results up into a control status.
pub fn control_status(rules: &[&RuleResult]) -> ControlStatus {
    if rules.is_empty() {
        return ControlStatus::NotAutomated;
    }
    let applicable: Vec<_> = rules
        .iter()
        .filter(|r| r.status != RuleStatus::NotApplicable)
        .collect();
    if applicable.is_empty() {
        return ControlStatus::NotApplicable;
    }
    let good = applicable
        .iter()
        .filter(|r| matches!(r.status, RuleStatus::Pass | RuleStatus::Waived))
        .count();
    let bad = applicable
        .iter()
        .filter(|r| r.status == RuleStatus::Fail)
        .count();
    let unknown = applicable.len() - good - bad;
    match (good, bad, unknown) {
        (_, 0, 0) => ControlStatus::Satisfied,
        (0, 0, _) => ControlStatus::NoEvidence,
        (0, _, _) => ControlStatus::NotSatisfied,
        _ => ControlStatus::Partial,
    }
}

#[cfg(test)]
mod tests;
