//! The checklist of documented information an ISMS keeps (ISO/IEC
//! 27001:2022 clauses 4–10): item ids by clause number, short neutral
//! labels of our own (no ISO text), and which items must be redone.

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
