//! Control coverage: how much of an Annex A control a policy's rules can show.
//!
//! A policy declares, per control its rules touch, a `[[control]]` table:
//!
//! ```toml
//! [[control]]
//! id = "A.8.13"
//! coverage = "partial"      # or "full"
//! statement = "Covers: a scheduled job runs a backup tool. Not covered: that backups succeed or restore."
//! rationale = "Why these rules evidence the control and what they do not."
//! attestation = { max_age_days = 90, statement = "A restore test from backup succeeded" }
//! ```
//!
//! Invariants of the roll-up ([`apply`]):
//! - a control whose automated coverage is `partial` never reads `satisfied`
//!   on its rules alone: at best `partially-evidenced`;
//! - a control that requires an attestation (a *hybrid* control) reads
//!   `satisfied` only when its rules are satisfied **and** a signed attestation
//!   for it is current at the evidence's collection day (signed on or before
//!   that day, not expired, and no older than `max_age_days`);
//! - failing, partial, unknown and not-applicable roll-ups are never changed
//!   by coverage or attestations.
//!
//! Attestations reach evaluation as plain values ([`AttestationInput`]); the
//! caller verifies signatures. Evaluation stays pure: "now" is the evidence's
//! `collected_at`.

use super::status::ControlStatus;
use crate::attestation::Attestation;
use crate::digest::Digest;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// How much of a control the rules evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Coverage {
    /// The rules evidence the whole control (as far as a host can show it).
    Full,
    /// The rules evidence part of the control; the rest needs other evidence.
    Partial,
}

impl Coverage {
    /// Parse `full | partial`.
    pub fn parse(s: &str) -> Option<Coverage> {
        match s {
            "full" => Some(Coverage::Full),
            "partial" => Some(Coverage::Partial),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Full => "full",
            Coverage::Partial => "partial",
        }
    }
}

/// A signed attestation a control needs besides its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationRequirement {
    /// An attestation older than this many days (at collection) does not count.
    pub max_age_days: u32,
    /// What the attestation must state (e.g. "a restore test succeeded").
    pub statement: String,
}

/// One policy's `[[control]]` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlCoverage {
    /// Annex A control id.
    pub control: String,
    /// Full or partial.
    pub coverage: Coverage,
    /// What is and is not covered (required for partial coverage).
    pub statement: Option<String>,
    /// Why these rules evidence the control and what they do not.
    pub rationale: Option<String>,
    /// A signed attestation the control also needs.
    pub attestation: Option<AttestationRequirement>,
    /// Line of the `[[control]]` header.
    pub line: usize,
}

/// The coverage of a control across every policy of a set: the most
/// conservative declaration wins (partial over full, an attestation required
/// by any policy is required, the shortest maximum age applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveCoverage {
    /// Partial if any policy says partial.
    pub coverage: Coverage,
    /// Statements of the partial declarations, in load order.
    pub statements: Vec<String>,
    /// The strictest attestation requirement, if any.
    pub attestation: Option<AttestationRequirement>,
}

impl EffectiveCoverage {
    /// Start from one declaration.
    pub(crate) fn from_declaration(d: &ControlCoverage) -> EffectiveCoverage {
        let mut e = EffectiveCoverage {
            coverage: Coverage::Full,
            statements: Vec::new(),
            attestation: None,
        };
        e.merge(d);
        e
    }

    /// Fold in another policy's declaration of the same control.
    pub(crate) fn merge(&mut self, d: &ControlCoverage) {
        if d.coverage == Coverage::Partial {
            self.coverage = Coverage::Partial;
            if let Some(s) = &d.statement {
                if !self.statements.contains(s) {
                    self.statements.push(s.clone());
                }
            }
        }
        if let Some(req) = &d.attestation {
            match &mut self.attestation {
                Some(cur) if cur.max_age_days <= req.max_age_days => {}
                slot => *slot = Some(req.clone()),
            }
        }
    }
}

/// A verified attestation as evaluation sees it. The caller has checked the
/// signature and the attester; evaluation only checks dates and the control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationInput {
    /// Digest of the signed envelope (recorded in results that rely on it).
    pub digest: Digest,
    /// Annex A control.
    pub control: String,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// Last day it counts.
    pub expires: NaiveDate,
}

impl AttestationInput {
    /// From a verified attestation and the digest of its envelope.
    pub fn new(digest: Digest, att: &Attestation) -> AttestationInput {
        AttestationInput {
            digest,
            control: att.control.clone(),
            signed_at: att.signed_at,
            expires: att.expires,
        }
    }

    /// Whether it counts on `day` under `req`: signed on or before `day`, not
    /// expired, and at most `req.max_age_days` old.
    pub fn current_for(&self, day: NaiveDate, req: &AttestationRequirement) -> bool {
        let signed = self.signed_at.date_naive();
        signed <= day
            && day <= self.expires
            && (day - signed).num_days() <= i64::from(req.max_age_days)
    }
}

/// The outcome of applying coverage to a control's rule roll-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The control status after coverage.
    pub status: ControlStatus,
    /// The attestation that made it satisfied, if one did.
    pub attestation: Option<Digest>,
    /// Why it reads partially evidenced.
    pub note: Option<String>,
}

/// Apply a control's coverage to the status its rules rolled up to, on the
/// evidence's collection `day`. Only a `satisfied` roll-up can change: to
/// `partially-evidenced` when the rules cannot show the whole control or a
/// required attestation is missing, expired or too old.
pub fn apply(
    rules_status: ControlStatus,
    coverage: Option<&EffectiveCoverage>,
    control: &str,
    attestations: &[AttestationInput],
    day: NaiveDate,
) -> Applied {
    let unchanged = Applied {
        status: rules_status,
        attestation: None,
        note: None,
    };
    let Some(cov) = coverage else {
        return unchanged;
    };
    if rules_status != ControlStatus::Satisfied {
        return unchanged;
    }
    let partial_note = || {
        if cov.statements.is_empty() {
            "the rules evidence only part of this control".to_string()
        } else {
            format!(
                "the rules evidence only part of this control: {}",
                cov.statements.join(" ")
            )
        }
    };
    match &cov.attestation {
        None if cov.coverage == Coverage::Full => unchanged,
        None => Applied {
            status: ControlStatus::PartiallyEvidenced,
            attestation: None,
            note: Some(partial_note()),
        },
        Some(req) => {
            // The newest current attestation for the control (ties: smallest digest).
            let best = attestations
                .iter()
                .filter(|a| a.control == control && a.current_for(day, req))
                .max_by(|a, b| {
                    a.signed_at
                        .cmp(&b.signed_at)
                        .then_with(|| b.digest.cmp(&a.digest))
                });
            match best {
                Some(a) => Applied {
                    status: ControlStatus::Satisfied,
                    attestation: Some(a.digest),
                    note: None,
                },
                None => {
                    let need = format!(
                        "needs a signed attestation no older than {} days: {}",
                        req.max_age_days, req.statement
                    );
                    let note = if cov.coverage == Coverage::Partial {
                        format!("{}; {need}", partial_note())
                    } else {
                        format!("the rules pass; {need}")
                    };
                    Applied {
                        status: ControlStatus::PartiallyEvidenced,
                        attestation: None,
                        note: Some(note),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;

    fn decl(coverage: Coverage, att: Option<u32>) -> ControlCoverage {
        ControlCoverage {
            control: "A.8.13".into(),
            coverage,
            statement: Some("Covers jobs, not restores.".into()),
            rationale: None,
            attestation: att.map(|d| AttestationRequirement {
                max_age_days: d,
                statement: "restore test".into(),
            }),
            line: 1,
        }
    }

    fn att(signed: &str, expires: &str, seed: &[u8]) -> AttestationInput {
        AttestationInput {
            digest: sha256_digest(seed),
            control: "A.8.13".into(),
            signed_at: format!("{signed}T12:00:00Z").parse().unwrap(),
            expires: expires.parse().unwrap(),
        }
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn undeclared_and_full_controls_keep_the_rules_status() {
        for s in [ControlStatus::Satisfied, ControlStatus::NotSatisfied] {
            assert_eq!(apply(s, None, "A.8.13", &[], day("2026-11-20")).status, s);
            let full = EffectiveCoverage::from_declaration(&decl(Coverage::Full, None));
            assert_eq!(
                apply(s, Some(&full), "A.8.13", &[], day("2026-11-20")).status,
                s
            );
        }
    }

    #[test]
    fn partial_coverage_is_at_best_partially_evidenced() {
        let cov = EffectiveCoverage::from_declaration(&decl(Coverage::Partial, None));
        let a = apply(
            ControlStatus::Satisfied,
            Some(&cov),
            "A.8.13",
            &[],
            day("2026-11-20"),
        );
        assert_eq!(a.status, ControlStatus::PartiallyEvidenced);
        assert!(a.note.unwrap().contains("Covers jobs, not restores."));
        // Failing, partial, unknown and not-applicable roll-ups are untouched.
        for s in [
            ControlStatus::NotSatisfied,
            ControlStatus::Partial,
            ControlStatus::NoEvidence,
            ControlStatus::NotApplicable,
        ] {
            assert_eq!(
                apply(s, Some(&cov), "A.8.13", &[], day("2026-11-20")).status,
                s
            );
        }
    }

    #[test]
    fn hybrid_control_needs_a_current_attestation_within_its_max_age() {
        let cov = EffectiveCoverage::from_declaration(&decl(Coverage::Partial, Some(90)));
        let on = |atts: &[AttestationInput], d: &str| {
            apply(ControlStatus::Satisfied, Some(&cov), "A.8.13", atts, day(d))
        };
        let none = on(&[], "2026-11-20");
        assert_eq!(none.status, ControlStatus::PartiallyEvidenced);
        assert!(none
            .note
            .unwrap()
            .contains("no older than 90 days: restore test"));

        let fresh = att("2026-10-01", "2027-10-01", b"fresh");
        let ok = on(std::slice::from_ref(&fresh), "2026-11-20");
        assert_eq!(ok.status, ControlStatus::Satisfied);
        assert_eq!(ok.attestation, Some(fresh.digest));
        // Day 90 still counts, day 91 does not.
        assert_eq!(
            on(std::slice::from_ref(&fresh), "2026-12-30").status,
            ControlStatus::Satisfied
        );
        assert_eq!(
            on(std::slice::from_ref(&fresh), "2026-12-31").status,
            ControlStatus::PartiallyEvidenced
        );
        // Expired, signed after collection, or for another control: no.
        let expired = att("2026-10-01", "2026-11-01", b"expired");
        assert_eq!(
            on(&[expired], "2026-11-20").status,
            ControlStatus::PartiallyEvidenced
        );
        assert_eq!(
            on(std::slice::from_ref(&fresh), "2026-09-30").status,
            ControlStatus::PartiallyEvidenced
        );
        let mut other = fresh.clone();
        other.control = "A.8.8".into();
        assert_eq!(
            on(&[other], "2026-11-20").status,
            ControlStatus::PartiallyEvidenced
        );
        // An attestation never rescues failing rules.
        let failing = apply(
            ControlStatus::NotSatisfied,
            Some(&cov),
            "A.8.13",
            std::slice::from_ref(&fresh),
            day("2026-11-20"),
        );
        assert_eq!(failing.status, ControlStatus::NotSatisfied);
        assert_eq!(failing.attestation, None);
    }

    #[test]
    fn the_newest_current_attestation_is_cited() {
        let cov = EffectiveCoverage::from_declaration(&decl(Coverage::Full, Some(90)));
        let older = att("2026-09-01", "2027-09-01", b"older");
        let newer = att("2026-11-01", "2027-11-01", b"newer");
        let a = apply(
            ControlStatus::Satisfied,
            Some(&cov),
            "A.8.13",
            &[newer.clone(), older],
            day("2026-11-20"),
        );
        assert_eq!(a.attestation, Some(newer.digest));
    }

    #[test]
    fn merging_keeps_the_most_conservative_declaration() {
        let mut e = EffectiveCoverage::from_declaration(&decl(Coverage::Full, Some(365)));
        assert_eq!(e.coverage, Coverage::Full);
        e.merge(&decl(Coverage::Partial, Some(90)));
        e.merge(&decl(Coverage::Full, Some(180)));
        assert_eq!(e.coverage, Coverage::Partial);
        assert_eq!(e.attestation.unwrap().max_age_days, 90);
        assert_eq!(e.statements.len(), 1);
    }
}
