//! A framework's requirements with the status derived from the Annex A
//! evidence of the review report (and, for clause references, the ISMS
//! documented-information checklist). The rule is [`DERIVATION_RULE`].

use super::isms::{self, IsmsRow};
use super::model::{Framework, MappingFileRef, Relationship};
use crate::report::{Report, ATTESTED};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The derivation rule, as printed in every framework report.
pub const DERIVATION_RULE: &str = "A requirement is `satisfied` only when every mapped Annex A control with evidence is satisfied, waived or attested, none lacks evidence, and at least one of them is mapped `equal` or `subset` (its evidence covers the requirement); an `intersects` or `superset` mapping — NIST's pairs by default — can only support, never satisfy, on its own. `not-satisfied`: some mapped control's evidence fails (not-satisfied, partial). `supported`: some mapped control is satisfied, waived, attested or partially evidenced and none fails, but the rule for `satisfied` is not met; current documented information (ISMS checklist) for a mapped clause also only supports. `no-evidence` (a gap): no mapped control has automated or attested evidence and no mapped clause has documented information. `not-applicable`: every mapped control is not applicable.";

/// Derived status of a requirement.
pub mod status {
    /// Covered by evidence of a covering mapping, nothing weaker.
    pub const SATISFIED: &str = "satisfied";
    /// Some evidence supports it, not enough to satisfy it.
    pub const SUPPORTED: &str = "supported";
    /// Mapped evidence fails.
    pub const NOT_SATISFIED: &str = "not-satisfied";
    /// No automated or attested evidence at all: a gap.
    pub const NO_EVIDENCE: &str = "no-evidence";
    /// Every mapped control is not applicable.
    pub const NOT_APPLICABLE: &str = "not-applicable";
}

/// A mapped control as the framework report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedControl {
    /// Annex A control id.
    pub control: String,
    /// Relationship.
    pub relationship: Relationship,
    /// Whether a mapping file states it (false: default `intersects`).
    pub stated: bool,
    /// The control's fleet status in the review report.
    pub status: String,
}

/// One requirement with its derived status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementRow {
    /// Requirement id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Level, when the framework has levels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Enclosing element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Derived status.
    pub status: String,
    /// Why, in one sentence.
    pub reason: String,
    /// Mapped Annex A controls with their status.
    pub controls: Vec<MappedControl>,
    /// Mapped clauses.
    pub clauses: Vec<String>,
    /// Current documented information (ISMS items) for the mapped clauses.
    pub documents: Vec<String>,
}

/// The report of one framework.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameworkReport {
    /// As of.
    pub generated_at: DateTime<Utc>,
    /// Framework id.
    pub framework: String,
    /// Title.
    pub title: String,
    /// Where the mapping comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Licence of the mapping data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// The mapping files used, by digest.
    pub files: Vec<MappingFileRef>,
    /// The derivation rule.
    pub rule: String,
    /// Derived status → number of requirements.
    pub counts: BTreeMap<String, usize>,
    /// Every requirement, in the framework's order.
    pub requirements: Vec<RequirementRow>,
    /// Gap analysis: the requirements with no evidence at all.
    pub gaps: Vec<String>,
    /// Signer, policies and evidence of the review report it derives from.
    pub provenance: crate::report::Provenance,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Good,
    PartlyGood,
    Failing,
    Missing,
    NotApplicable,
}

fn class(status: &str) -> Class {
    match status {
        "satisfied" | "waived" | ATTESTED => Class::Good,
        "partially-evidenced" => Class::PartlyGood,
        "not-satisfied" | "partial" | "error" => Class::Failing,
        "not-applicable" => Class::NotApplicable,
        _ => Class::Missing,
    }
}

/// Derive every requirement of `fw` from the review report and the ISMS
/// checklist (as of the report's `generated_at`).
pub fn derive(fw: &Framework, report: &Report, isms_rows: &[IsmsRow]) -> FrameworkReport {
    let by_id: HashMap<&str, &str> = report
        .controls
        .iter()
        .map(|c| (c.id.as_str(), c.status.as_str()))
        .collect();
    let present: Vec<&str> = isms_rows
        .iter()
        .filter(|r| r.status == "present")
        .map(|r| r.id.as_str())
        .collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut gaps = Vec::new();
    let mut requirements = Vec::with_capacity(fw.requirements.len());
    for r in &fw.requirements {
        let controls: Vec<MappedControl> = r
            .annex_a
            .iter()
            .map(|p| MappedControl {
                control: p.control.clone(),
                relationship: p.relationship,
                stated: p.stated,
                status: by_id
                    .get(p.control.as_str())
                    .copied()
                    .unwrap_or("no-evidence")
                    .to_string(),
            })
            .collect();
        let documents: Vec<String> = present
            .iter()
            .filter(|item| r.clauses.iter().any(|c| isms::evidences(item, c)))
            .map(|s| s.to_string())
            .collect();
        let (status, reason) = judge(&controls, &documents);
        *counts.entry(status.to_string()).or_default() += 1;
        if status == status::NO_EVIDENCE {
            gaps.push(r.id.clone());
        }
        requirements.push(RequirementRow {
            id: r.id.clone(),
            title: r.title.clone(),
            level: r.level.clone(),
            parent: r.parent.clone(),
            status: status.to_string(),
            reason,
            controls,
            clauses: r.clauses.clone(),
            documents,
        });
    }
    FrameworkReport {
        generated_at: report.generated_at,
        framework: fw.id.clone(),
        title: fw.title.clone(),
        source: fw.source.clone(),
        license: fw.license.clone(),
        files: fw.files.clone(),
        rule: DERIVATION_RULE.to_string(),
        counts,
        requirements,
        gaps,
        provenance: report.provenance.clone(),
    }
}

fn judge(controls: &[MappedControl], documents: &[String]) -> (&'static str, String) {
    let classes: Vec<Class> = controls.iter().map(|c| class(&c.status)).collect();
    let list = |want: &[Class]| -> String {
        controls
            .iter()
            .zip(&classes)
            .filter(|(_, k)| want.contains(k))
            .map(|(c, _)| c.control.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let docs = if documents.is_empty() {
        String::new()
    } else {
        format!("; documented information {}", documents.join(", "))
    };
    if controls.is_empty() {
        return if documents.is_empty() {
            (
                status::NO_EVIDENCE,
                "mapped to no Annex A control and no documented information is current".into(),
            )
        } else {
            (
                status::SUPPORTED,
                format!("mapped to clauses only{docs} (supports only)"),
            )
        };
    }
    if classes.iter().all(|k| *k == Class::NotApplicable) {
        return (
            status::NOT_APPLICABLE,
            "every mapped control is not applicable".into(),
        );
    }
    if classes.contains(&Class::Failing) {
        return (
            status::NOT_SATISFIED,
            format!("failing evidence on {}", list(&[Class::Failing])),
        );
    }
    let any_good = classes
        .iter()
        .any(|k| matches!(k, Class::Good | Class::PartlyGood));
    if !any_good {
        return if documents.is_empty() {
            (
                status::NO_EVIDENCE,
                format!("no evidence for {}", list(&[Class::Missing])),
            )
        } else {
            (
                status::SUPPORTED,
                format!(
                    "no evidence for {}{docs} (supports only)",
                    list(&[Class::Missing])
                ),
            )
        };
    }
    let weaker = classes
        .iter()
        .any(|k| matches!(k, Class::Missing | Class::PartlyGood));
    let covering = controls
        .iter()
        .zip(&classes)
        .any(|(c, k)| *k == Class::Good && c.relationship.covers());
    if !weaker && covering {
        return (
            status::SATISFIED,
            format!(
                "{} evidenced; covered by an equal/subset mapping",
                list(&[Class::Good])
            ),
        );
    }
    let mut why = format!("evidence on {}", list(&[Class::Good, Class::PartlyGood]));
    if weaker {
        let missing = list(&[Class::Missing]);
        let partly = list(&[Class::PartlyGood]);
        if !missing.is_empty() {
            why.push_str(&format!("; no evidence for {missing}"));
        }
        if !partly.is_empty() {
            why.push_str(&format!("; {partly} only partially evidenced"));
        }
    }
    if !covering {
        why.push_str("; no equal/subset mapping, so it supports only");
    }
    why.push_str(&docs);
    (status::SUPPORTED, why)
}
