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

/// One item of documented information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    /// Item id: the clause reference (`6.1.3(d)`); attestations name it.
    pub id: &'static str,
    /// Short neutral label (our wording).
    pub label: &'static str,
    /// Older signed attestations no longer count (days), for records that
    /// are redone periodically.
    pub max_age_days: Option<u32>,
}

/// The checklist, in clause order.
pub const CHECKLIST: &[Item] = &[
    Item {
        id: "4.3",
        label: "ISMS scope",
        max_age_days: None,
    },
    Item {
        id: "5.2",
        label: "Information security policy",
        max_age_days: None,
    },
    Item {
        id: "6.1.2",
        label: "Risk assessment method and acceptance criteria",
        max_age_days: None,
    },
    Item {
        id: "6.1.3",
        label: "Risk treatment method",
        max_age_days: None,
    },
    Item {
        id: "6.1.3(d)",
        label: "Statement of Applicability, approved",
        max_age_days: Some(366),
    },
    Item {
        id: "6.1.3(e)",
        label: "Risk treatment plan",
        max_age_days: Some(366),
    },
    Item {
        id: "6.2",
        label: "Security objectives",
        max_age_days: Some(366),
    },
    Item {
        id: "7.2",
        label: "Records of staff competence",
        max_age_days: Some(366),
    },
    Item {
        id: "8.1",
        label: "Records that processes ran as planned",
        max_age_days: Some(366),
    },
    Item {
        id: "8.2",
        label: "Risk assessment results (redone yearly)",
        max_age_days: Some(366),
    },
    Item {
        id: "8.3",
        label: "Risk treatment results",
        max_age_days: Some(366),
    },
    Item {
        id: "9.1",
        label: "Monitoring and measurement results",
        max_age_days: Some(366),
    },
    Item {
        id: "9.2",
        label: "Internal audit programme and results (yearly)",
        max_age_days: Some(366),
    },
    Item {
        id: "9.3",
        label: "Management review results (yearly)",
        max_age_days: Some(366),
    },
    Item {
        id: "10.2",
        label: "Nonconformities and corrective actions",
        max_age_days: None,
    },
];

/// The item `id`, when it is on the checklist.
pub fn item(id: &str) -> Option<&'static Item> {
    CHECKLIST.iter().find(|i| i.id == id)
}

/// Whether `item` (a checklist id) evidences the clause reference `clause`
/// of a mapping: the same clause, or one inside it (`6.1` ⊇ `6.1.2`;
/// `4.2(a)` only by `4.2(a)`).
pub fn evidences(item: &str, clause: &str) -> bool {
    item == clause || (item.starts_with(clause) && item.as_bytes().get(clause.len()) == Some(&b'.'))
}

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
