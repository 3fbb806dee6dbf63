//! Review report and Statement of Applicability models, pure: built from
//! each host's recorded results, the manual attestations and `now` (passed
//! in, never read from a clock).

mod alerts;
mod builder;
mod compare;
mod hosts;
mod remediation;
pub mod vulns;

pub use crate::attestation::AttestationRef;
use crate::bundle::RecordedResults;
use crate::catalog::{Catalog, Theme};
use crate::policy::waiver::WaiverRef;
use crate::policy::{ControlStatus, RuleStatus, Severity};
pub use alerts::{alerts_section, AlertRow, AlertsSection};
pub use builder::ReportBuilder;
use chrono::{DateTime, NaiveDate, Utc};
pub use compare::{compare, Comparison, ControlChange, HostChange, RuleChange, Side};
pub use hosts::{HostRowSource, HostRows, HostRowsError};
pub use remediation::{time_to_remediate, RemediationRow};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One host's evidence history.
#[derive(Debug, Clone)]
pub struct HostHistory {
    /// Agent id.
    pub agent: String,
    /// Host name.
    pub hostname: String,
    /// Longest expected time between two runs (from the latest statement).
    pub interval_seconds: u64,
    /// (collected at, sequence, results), ascending by sequence (by time
    /// when the host's history spans several keys).
    pub statements: Vec<(DateTime<Utc>, u64, Arc<RecordedResults>)>,
    /// The keys the host signed with (one per enrollment of the same
    /// machine id), oldest first; empty when not known.
    pub keys: Vec<KeyUse>,
}

/// One key a host signed evidence with: the same machine enrolled again
/// (new key, new agent id) is one host with several keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUse {
    /// Agent id of that enrollment.
    pub agent: String,
    /// Key id (hex sha256 of the public key).
    pub key_id: String,
    /// Collection time of its first statement.
    pub first_seen: DateTime<Utc>,
    /// Collection time of its last statement.
    pub last_seen: DateTime<Utc>,
    /// Statements signed with it.
    pub statements: usize,
}

/// A failing (or erroring) rule on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailingRule {
    /// Rule id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Status (`fail`, `error`, `no-evidence`).
    pub status: RuleStatus,
    /// Controls.
    pub controls: Vec<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

/// A waived rule on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaivedRule {
    /// Rule id.
    pub id: String,
    /// The status under the waiver.
    pub underlying: Option<RuleStatus>,
    /// The waiver.
    pub waiver: WaiverRef,
}

/// Per host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRow {
    /// Agent id.
    pub agent: String,
    /// Host name.
    pub hostname: String,
    /// Statements in the history.
    pub statements: usize,
    /// Latest sequence.
    pub last_sequence: u64,
    /// When the latest evidence was collected.
    pub last_collected: DateTime<Utc>,
    /// Seconds since then.
    pub age_seconds: i64,
    /// Whether the latest evidence is within twice the expected interval.
    pub fresh: bool,
    /// Rule status → count (latest statement).
    pub rules: BTreeMap<String, usize>,
    /// Control status → count (latest statement).
    pub controls: BTreeMap<String, usize>,
    /// Failing, erroring or evidence-less rules.
    pub failing_rules: Vec<FailingRule>,
    /// Waived rules.
    pub waived_rules: Vec<WaivedRule>,
    /// The keys it signed with, oldest first (several when the same
    /// machine id was enrolled again).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyUse>,
}

/// A (host, rule) that fails a control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlFailure {
    /// Host name.
    pub host: String,
    /// Rule id.
    pub rule: String,
    /// Rule status.
    pub status: RuleStatus,
}

/// Per Annex A control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRow {
    /// Control id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Theme.
    pub theme: Theme,
    /// Fleet status: a control status, or `attested`.
    pub status: String,
    /// Host count per control status.
    pub hosts: BTreeMap<String, usize>,
    /// Rules covering it.
    pub rules: Vec<String>,
    /// Failing rules per host.
    pub failures: Vec<ControlFailure>,
    /// Waivers that apply on some host.
    pub waivers: Vec<WaiverRef>,
    /// Attestations (current and expired).
    pub attestations: Vec<AttestationRef>,
    /// Oldest latest-evidence time across the hosts covering it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_evidence: Option<DateTime<Utc>>,
}

/// Coverage of one theme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThemeRow {
    /// Theme.
    pub theme: Theme,
    /// Controls in the theme.
    pub controls: usize,
    /// Controls with machine evidence or a current attestation.
    pub covered: usize,
    /// Controls satisfied (or attested).
    pub satisfied: usize,
}

/// Fleet status on one day: (host, control) pairs per status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftPoint {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Satisfied pairs.
    pub satisfied: usize,
    /// Not satisfied or partial pairs.
    pub failing: usize,
    /// Failing rule results across hosts.
    pub failing_rules: usize,
}

/// The review report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// Per host, by host name (in memory, or read one at a time from where
    /// the builder's caller spilled them).
    pub hosts: HostRows,
    /// All 93 controls, clause order.
    pub controls: Vec<ControlRow>,
    /// Per theme.
    pub themes: Vec<ThemeRow>,
    /// Control status → number of controls.
    pub status_counts: BTreeMap<String, usize>,
    /// Daily fleet status, oldest first (at most 60 days).
    pub drift: Vec<DriftPoint>,
    /// Signer, policies, evidence digests and sample.
    #[serde(default)]
    pub provenance: Provenance,
    /// Time to remediate per rule that failed, from the transitions.
    #[serde(default)]
    pub remediation: Vec<RemediationRow>,
    /// The alerts of the period (absent for evidence without alerts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertsSection>,
    /// Known CVEs per host and across the fleet (absent when no result of
    /// the hosts reported was matched against a vulnerability snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulns: Option<vulns::VulnSection>,
}

/// Where the report's claims come from: the signing collector, the
/// policies, the evidence each result rests on, and the audit sample.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Key id of the collector key that signs this collector's bundles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector_key_id: Option<String>,
    /// Policies the latest results were evaluated with (id, version, file sha256).
    #[serde(default)]
    pub policies: Vec<crate::policy::PolicyRef>,
    /// Statements the report covers.
    #[serde(default)]
    pub statements: usize,
    /// Signature status of every statement covered.
    #[serde(default)]
    pub signatures: String,
    /// Collection time of the first statement covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_collected: Option<DateTime<Utc>>,
    /// Collection time of the last statement covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_collected: Option<DateTime<Utc>>,
    /// Per host, the statement its results rest on (its latest).
    #[serde(default)]
    pub evidence: Vec<EvidenceRef>,
    /// Control id → agent ids whose latest evidence covers it (automated).
    #[serde(default)]
    pub control_hosts: BTreeMap<String, Vec<String>>,
    /// The sample of hosts per control, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
    /// What retention pruned from the period covered, and under which policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned: Option<PrunedSummary>,
}

/// Statements retention reduced to chain stubs within a report's period:
/// unchanged runs past the retention window, whose hash chain still links
/// the kept statements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedSummary {
    /// Statements pruned.
    pub statements: usize,
    /// Hosts they were pruned from.
    pub hosts: usize,
    /// The retention policies applied (run id, date, policy in words).
    pub policies: Vec<String>,
}

/// A signed evidence statement a result rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRef {
    /// Agent id.
    pub agent: String,
    /// Host name.
    pub hostname: String,
    /// Statement sequence.
    pub sequence: u64,
    /// When it was collected.
    pub collected_at: DateTime<Utc>,
    /// sha256 of the DSSE envelope.
    pub envelope: crate::Digest,
    /// sha256 of the recorded results.
    pub results: crate::Digest,
}

/// A reproducible sample of hosts per control: the same seed and data give
/// the same sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// The seed (print it so that the sample can be drawn again).
    pub seed: u64,
    /// Hosts asked for per control.
    pub per_control: usize,
    /// Control id → sampled agent ids.
    pub controls: BTreeMap<String, Vec<String>>,
}

/// Pick `n` of `agents` for `control`, reproducibly: ordered by
/// sha256(seed, control, agent).
pub fn sample_hosts(seed: u64, control: &str, agents: &[String], n: usize) -> Vec<String> {
    let mut keyed: Vec<(crate::Digest, &String)> = agents
        .iter()
        .map(|a| {
            let key = format!("{seed}\n{control}\n{a}");
            (crate::sha256_digest(key.as_bytes()), a)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().take(n).map(|(_, a)| a.clone()).collect()
}

/// `attested`: a control covered by a current manual attestation only.
pub const ATTESTED: &str = "attested";

/// Roll a control's per-host statuses up to one fleet status.
pub fn fleet_status(statuses: &[ControlStatus]) -> ControlStatus {
    use ControlStatus as S;
    let relevant: Vec<S> = statuses
        .iter()
        .copied()
        .filter(|s| !matches!(s, S::NotApplicable | S::NotAutomated))
        .collect();
    if statuses.is_empty() || statuses.iter().all(|s| *s == S::NotAutomated) {
        return S::NotAutomated;
    }
    if relevant.is_empty() {
        return S::NotApplicable;
    }
    let good = |s: &S| matches!(s, S::Satisfied | S::Waived);
    let good_in_part = |s: &S| good(s) || *s == S::PartiallyEvidenced;
    if relevant.contains(&S::PartiallyEvidenced) && relevant.iter().all(good_in_part) {
        S::PartiallyEvidenced
    } else if relevant.iter().all(good) {
        if relevant.contains(&S::Waived) {
            S::Waived
        } else {
            S::Satisfied
        }
    } else if relevant.iter().all(|s| *s == S::NoEvidence) {
        S::NoEvidence
    } else if relevant.iter().all(|s| *s == S::NotSatisfied) {
        S::NotSatisfied
    } else {
        S::Partial
    }
}

/// Build the report (all hosts at once; [`ReportBuilder`] takes them one
/// at a time).
pub fn build(
    catalog: &Catalog,
    hosts: &[HostHistory],
    attestations: &[AttestationRef],
    now: DateTime<Utc>,
) -> Report {
    let mut b = ReportBuilder::new(catalog, now);
    for h in hosts {
        b.add_host(h);
    }
    b.finish(attestations)
}

/// `soa.toml`: controls excluded from the ISMS scope, each with a reason.
///
/// ```toml
/// [[exclude]]
/// control = "A.7.4"
/// justification = "No premises of our own: cloud hosting only"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaFile {
    /// Excluded controls.
    #[serde(default)]
    pub exclude: Vec<SoaExclusion>,
}

/// One excluded control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoaExclusion {
    /// Control id.
    pub control: String,
    /// Why it does not apply.
    pub justification: String,
}

impl SoaFile {
    /// Parse and check that every control exists and has a justification.
    pub fn parse(text: &str, catalog: &Catalog) -> Result<SoaFile, String> {
        let f: SoaFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut seen = BTreeSet::new();
        for e in &f.exclude {
            if catalog.get(&e.control).is_none() {
                return Err(format!("unknown Annex A control `{}`", e.control));
            }
            if e.justification.trim().is_empty() {
                return Err(format!("exclusion of {} has no justification", e.control));
            }
            if !seen.insert(e.control.as_str()) {
                return Err(format!("{} is excluded twice", e.control));
            }
        }
        Ok(f)
    }
}

/// One row of the Statement of Applicability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoaRow {
    /// Control id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Theme.
    pub theme: Theme,
    /// Applicable to the ISMS.
    pub applicable: bool,
    /// Why excluded (or why included: evidence source).
    pub justification: String,
    /// Implementation status (`implemented`, `partially implemented`,
    /// `not implemented`, `attested`, `waived`, `not evidenced`, `excluded`).
    pub implementation: String,
    /// The underlying fleet status.
    pub status: String,
    /// Evidence: rules with host counts, waivers, attestations.
    pub evidence: Vec<String>,
    /// Cross-references: framework id → its requirements mapped to this
    /// control (filled by the caller from the loaded frameworks).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cross_references: BTreeMap<String, Vec<String>>,
}

/// Build the Statement of Applicability from the report and `soa.toml`.
pub fn soa(report: &Report, file: &SoaFile) -> Vec<SoaRow> {
    report
        .controls
        .iter()
        .map(|c| {
            let excluded = file.exclude.iter().find(|e| e.control == c.id);
            let mut evidence = Vec::new();
            if !c.rules.is_empty() {
                let hosts: Vec<String> = c.hosts.iter().map(|(s, n)| format!("{n} {s}")).collect();
                evidence.push(format!(
                    "rules {} on hosts: {}",
                    c.rules.join(", "),
                    hosts.join(", ")
                ));
            }
            for w in &c.waivers {
                evidence.push(format!(
                    "waiver until {} approved by {}: {}",
                    w.expires, w.approver, w.justification
                ));
            }
            for a in &c.attestations {
                evidence.push(format!(
                    "attestation by {} until {}{}: {}",
                    a.attester,
                    a.expires,
                    if a.current { "" } else { " (expired)" },
                    a.statement
                ));
            }
            let implementation = match (excluded, c.status.as_str()) {
                (Some(_), _) => "excluded",
                (None, "satisfied") => "implemented",
                (None, "partial") => "partially implemented",
                (None, "not-satisfied") => "not implemented",
                (None, "waived") => "waived",
                (None, ATTESTED) => "attested",
                (None, "not-applicable") => "not applicable",
                _ => "not evidenced",
            };
            SoaRow {
                id: c.id.clone(),
                title: c.title.clone(),
                theme: c.theme,
                applicable: excluded.is_none(),
                justification: excluded
                    .map(|e| e.justification.clone())
                    .unwrap_or_else(|| {
                        if c.rules.is_empty() {
                            "in scope; evidenced by documents and attestations".into()
                        } else {
                            "in scope; evidenced by automated checks".into()
                        }
                    }),
                implementation: implementation.into(),
                status: c.status.clone(),
                evidence,
                cross_references: BTreeMap::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
