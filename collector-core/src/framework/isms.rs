//! The documented information an ISMS keeps (ISO/IEC 27001:2022 clauses
//! 4–10), as a checklist by clause number with short neutral labels of our
//! own (no ISO text). Each item is satisfied by a signed attestation whose
//! `control` is the item id, that references at least one document by
//! digest, and that is current: on or before its `expires` day and, for
//! records that must be redone (risk assessment, internal audit,
//! management review), signed within the item's maximum age.

use crate::attestation::AttestationRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::checklist::{evidences, item, Item, CHECKLIST};

/// State of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsmsRow {
    /// Item id (clause reference).
    pub id: String,
    /// Label.
    pub label: String,
    /// `present`, `expired` or `missing`.
    pub status: String,
    /// Maximum age of the attestation, when the record is periodic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_days: Option<u32>,
    /// The attestation that makes it present (the latest current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<AttestationRef>,
    /// Every attestation for the item, newest first (current and expired).
    pub attestations: Vec<AttestationRef>,
}

/// Whether `a` counts for `item` on `now`.
pub fn counts(item: &Item, a: &AttestationRef, now: DateTime<Utc>) -> bool {
    let fresh = item
        .max_age_days
        .is_none_or(|d| (now - a.signed_at).num_days() < i64::from(d));
    a.current && fresh && !a.evidence.is_empty() && a.signed_at <= now
}

/// The checklist against the verified attestations, as of `now`.
pub fn checklist(attestations: &[AttestationRef], now: DateTime<Utc>) -> Vec<IsmsRow> {
    CHECKLIST
        .iter()
        .map(|item| {
            let mut atts: Vec<AttestationRef> = attestations
                .iter()
                .filter(|a| a.control == item.id && a.signed_at <= now)
                .cloned()
                .collect();
            atts.sort_by(|a, b| b.signed_at.cmp(&a.signed_at).then(a.id.cmp(&b.id)));
            let current = atts.iter().find(|a| counts(item, a, now)).cloned();
            let status = match (&current, atts.is_empty()) {
                (Some(_), _) => "present",
                (None, false) => "expired",
                (None, true) => "missing",
            };
            IsmsRow {
                id: item.id.to_string(),
                label: item.label.to_string(),
                status: status.to_string(),
                max_age_days: item.max_age_days,
                current,
                attestations: atts,
            }
        })
        .collect()
}
