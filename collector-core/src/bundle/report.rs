//! The verification report (findings, counts) and the member reader that
//! files its problems into it.

use super::model::Scope;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The bundle does not hold.
    Failure,
    /// Worth knowing; the bundle still holds.
    Warning,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Failure or warning.
    pub severity: Severity,
    /// Machine-readable kind: `manifest`, `member`, `agent`, `envelope`,
    /// `blob`, `gap`, `fork`, `chain`, `policy`, `results`, `attestation`,
    /// `vulns`.
    pub kind: String,
    /// What it is about (member path, host + sequence range, policy name).
    pub subject: String,
    /// What is wrong.
    pub message: String,
}

/// Counts of what was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// Members whose digest was checked.
    pub members: usize,
    /// Agents (hosts).
    pub hosts: usize,
    /// Envelopes whose signature verified.
    pub envelopes: usize,
    /// Blobs.
    pub blobs: usize,
    /// Policy files.
    pub policies: usize,
    /// Statements whose results were re-evaluated and matched.
    pub results_confirmed: usize,
    /// Re-evaluations run in full (statements sharing an evaluation key
    /// with an earlier one take its results).
    #[serde(default)]
    pub results_evaluated: usize,
    /// Re-evaluations that ran only the rules reading the day and took an
    /// earlier day's results (equal day-free keys).
    #[serde(default)]
    pub results_day_only: usize,
    /// Alerts of the period whose cited statements were found.
    #[serde(default)]
    pub alerts: usize,
    /// Statements whose vulnerability results were re-matched offline
    /// against the bundle's snapshot subset and confirmed.
    #[serde(default)]
    pub vulns_confirmed: usize,
    /// First-seen citations inside the bundle confirmed (statement, time,
    /// and its inventory matching that CVE).
    #[serde(default)]
    pub first_seen_confirmed: usize,
    /// First-seen citations (distinct per host, sequence and CVE in a
    /// source package) that point outside the bundle — before its period,
    /// or to statements retention pruned — and whose inventory was
    /// therefore not re-checked; only the ages they give are re-derived.
    #[serde(default)]
    pub first_seen_outside: usize,
    /// Of those, the ones at a chain stub of a pruned statement, whose
    /// digest and collection time were checked against the stub.
    #[serde(default)]
    pub first_seen_pruned: usize,
}

impl Checked {
    /// What `verify` and reports say of the first-seen citations outside
    /// the bundle (`None`: there are none).
    pub fn first_seen_outside_note(&self) -> Option<String> {
        if self.first_seen_outside == 0 {
            return None;
        }
        let before = self
            .first_seen_outside
            .saturating_sub(self.first_seen_pruned);
        Some(format!(
            "{} first-seen citations point before the bundle's period or to pruned statements and were not re-checked ({before} before the period; {} at chain stubs of pruned statements, whose digest and collection time match the stub); the ages they give rest on the recorded times",
            self.first_seen_outside, self.first_seen_pruned
        ))
    }
}

/// The outcome of [`verify`](super::verify).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True when there is no failure.
    pub ok: bool,
    /// Key id that signed the manifest (compare with the collector's published one).
    pub collector_key_id: Option<String>,
    /// True when the manifest's signer is the pinned (trusted) collector key;
    /// false when no key was pinned or it did not match.
    #[serde(default)]
    pub pinned: bool,
    /// When the bundle was made.
    pub created_at: Option<DateTime<Utc>>,
    /// What the export covered.
    pub scope: Option<Scope>,
    /// What was checked.
    pub checked: Checked,
    /// Failures and warnings, in the order found.
    pub findings: Vec<Finding>,
    /// The attester keys the collector vouched for (`attesters/*.json`),
    /// with when each was added and revoked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attesters: Vec<AttesterSummary>,
}

/// An attester key the bundle carries, as `verify` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttesterSummary {
    /// Hex sha256 of the public key.
    pub key_id: String,
    /// The attester's name.
    pub name: String,
    /// When the collector registered the key (absent in older bundles).
    pub added_at: Option<DateTime<Utc>>,
    /// When the collector revoked it: attestations signed from then on do
    /// not count.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Whether the auditor pinned this key (`--trust-attester`).
    #[serde(default)]
    pub pinned: bool,
}

impl Report {
    pub(crate) fn fail(
        &mut self,
        kind: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity: Severity::Failure,
            kind: kind.to_string(),
            subject: subject.into(),
            message: message.into(),
        });
    }

    pub(crate) fn warn(
        &mut self,
        kind: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            kind: kind.to_string(),
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// The failures only.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Failure)
    }
}

pub(super) fn parse_member<T: serde::de::DeserializeOwned>(
    members: &BTreeMap<String, Vec<u8>>,
    path: &str,
    r: &mut Report,
) -> Option<T> {
    match members.get(path) {
        None => {
            r.fail("member", path, "missing from the bundle");
            None
        }
        Some(bytes) => match serde_json::from_slice(bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                r.fail(
                    "member",
                    path,
                    format!("not valid JSON of the expected shape: {e}"),
                );
                None
            }
        },
    }
}
