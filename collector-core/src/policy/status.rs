//! The statuses evaluation gives: [`RuleStatus`] per rule, [`ControlStatus`]
//! per control (what coverage and reports read, without depending on `eval`).

use serde::{Deserialize, Serialize};

/// Outcome of one rule on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleStatus {
    /// The check held.
    Pass,
    /// The check did not hold.
    Fail,
    /// The check could not be evaluated (the message says why).
    Error,
    /// A required probe is missing or did not succeed, or the rule's
    /// `known_when` says the evidence cannot decide it (the message says why).
    NoEvidence,
    /// The policy's or rule's `applies_to` is false for this host.
    NotApplicable,
    /// A current waiver covers a non-passing result (the underlying status is kept).
    Waived,
}

impl RuleStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleStatus::Pass => "pass",
            RuleStatus::Fail => "fail",
            RuleStatus::Error => "error",
            RuleStatus::NoEvidence => "no-evidence",
            RuleStatus::NotApplicable => "not-applicable",
            RuleStatus::Waived => "waived",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<RuleStatus> {
        [
            RuleStatus::Pass,
            RuleStatus::Fail,
            RuleStatus::Error,
            RuleStatus::NoEvidence,
            RuleStatus::NotApplicable,
            RuleStatus::Waived,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// Roll-up status of one Annex A control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControlStatus {
    /// Every applicable rule passed (or is waived).
    Satisfied,
    /// Rules failed and none passed.
    NotSatisfied,
    /// Some rules passed, others failed or could not be evaluated.
    Partial,
    /// Every applicable rule passed, but the rules evidence only part of the
    /// control, or a signed attestation the control requires is missing or
    /// not current (see [`super::coverage`](crate::policy::coverage)).
    PartiallyEvidenced,
    /// No applicable rule produced a pass or a fail.
    NoEvidence,
    /// No rule covers the control (evidenced by documents, not probes).
    NotAutomated,
    /// Rules cover the control but none applies to this host.
    NotApplicable,
    /// A current waiver covers the control (the underlying status is kept).
    Waived,
}

impl ControlStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Satisfied => "satisfied",
            ControlStatus::NotSatisfied => "not-satisfied",
            ControlStatus::Partial => "partial",
            ControlStatus::PartiallyEvidenced => "partially-evidenced",
            ControlStatus::NoEvidence => "no-evidence",
            ControlStatus::NotAutomated => "not-automated",
            ControlStatus::NotApplicable => "not-applicable",
            ControlStatus::Waived => "waived",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<ControlStatus> {
        [
            ControlStatus::Satisfied,
            ControlStatus::NotSatisfied,
            ControlStatus::Partial,
            ControlStatus::PartiallyEvidenced,
            ControlStatus::NoEvidence,
            ControlStatus::NotAutomated,
            ControlStatus::NotApplicable,
            ControlStatus::Waived,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}
