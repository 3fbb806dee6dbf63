//! The alerts of a bundle's period (`alerts.json`): every drift, stale and
//! integrity alert that was open at some point of the period, with its
//! acknowledgement (who, why, when), its resolution and the statements that
//! opened and resolved it. The member is covered by the signed manifest like
//! every other; [`check_alerts`] holds each cited statement to the bundle:
//! it must be one of its envelopes or one of its chain stubs, with the same
//! digest. Bundles made before alerts were exported have no such member and
//! verify as before.

use super::model::Index;
use super::pruned::Pruned;
use super::report::Report;
use crate::digest::Digest;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The member holding the period's alerts.
pub const ALERTS_PATH: &str = "alerts.json";

/// A statement an alert rests on: the one whose evaluation opened or
/// resolved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementRef {
    /// The agent's sequence number.
    pub sequence: u64,
    /// sha256 of its exact envelope bytes.
    pub envelope: Digest,
}

/// Who acknowledged an alert, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The token or person that acknowledged it.
    pub by: String,
    /// The reason given.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One alert as the bundle carries it (state as of the export).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertEntry {
    /// The collector's alert id.
    pub id: i64,
    /// Agent id.
    pub agent: String,
    /// `drift`, `stale` or `integrity`.
    pub kind: String,
    /// `rule:ID`, `control:ID`, `host` or `integrity:KIND`.
    pub subject: String,
    /// low, medium, high, critical.
    pub severity: String,
    /// Found on the host's first statement, not a change.
    #[serde(default)]
    pub baseline: bool,
    /// Collapsed flapping.
    #[serde(default)]
    pub flapping: bool,
    /// For a person.
    pub detail: String,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// The statement whose evaluation opened it (absent for alerts no
    /// statement opened, such as stale evidence, and when that statement
    /// lies before the bundle's period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_by: Option<StatementRef>,
    /// The acknowledgement, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
    /// When it was resolved, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The statement whose evaluation resolved it (absent when it lies
    /// after the bundle's period).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<StatementRef>,
}

/// Read the alerts member: `None` when the bundle has none (made before
/// alerts were exported); an unreadable member fails.
pub fn read_alerts(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) -> Option<Vec<AlertEntry>> {
    let bytes = members.get(ALERTS_PATH)?;
    match serde_json::from_slice::<Vec<AlertEntry>>(bytes) {
        Ok(list) => Some(list),
        Err(e) => {
            r.fail(
                "alerts",
                ALERTS_PATH,
                format!("not valid JSON of the expected shape: {e}"),
            );
            None
        }
    }
}

/// Check the alerts member against the bundle: every alert names an
/// enrolled agent of the bundle, its times are in order, ids are unique, and
/// every statement it cites is one of the bundle's envelopes (index) or
/// chain stubs (pruned) with the same digest. Returns how many alerts were
/// checked.
pub fn check_alerts(
    members: &BTreeMap<String, Vec<u8>>,
    index: &Index,
    pruned: &Pruned,
    agents: &BTreeSet<&str>,
    r: &mut Report,
) -> usize {
    let statements: HashMap<(&str, u64), Digest> = index
        .statements
        .iter()
        .map(|e| ((e.agent.as_str(), e.sequence), e.envelope))
        .collect();
    check_alerts_with(
        members,
        &|agent, seq| statements.get(&(agent, seq)).copied(),
        pruned,
        agents,
        r,
    )
}

/// The statements the alerts of `members` cite (agent, sequence), for a
/// reader that looks them up as the index goes by ([`check_alerts_with`]).
pub fn cited_statements(members: &BTreeMap<String, Vec<u8>>) -> Vec<(String, u64)> {
    let Some(list) = members
        .get(ALERTS_PATH)
        .and_then(|b| serde_json::from_slice::<Vec<AlertEntry>>(b).ok())
    else {
        return Vec::new();
    };
    list.into_iter()
        .flat_map(|a| {
            [a.opened_by, a.resolved_by]
                .into_iter()
                .flatten()
                .map(move |c| (a.agent.clone(), c.sequence))
        })
        .collect()
}

/// [`check_alerts`] with the index's envelope digest of (agent, sequence)
/// given by `statement`.
pub fn check_alerts_with(
    members: &BTreeMap<String, Vec<u8>>,
    statement: &dyn Fn(&str, u64) -> Option<Digest>,
    pruned: &Pruned,
    agents: &BTreeSet<&str>,
    r: &mut Report,
) -> usize {
    let Some(alerts) = read_alerts(members, r) else {
        return 0;
    };
    let mut ids = BTreeSet::new();
    for a in &alerts {
        let subject = format!(
            "alert {} ({} {} on agent {})",
            a.id, a.kind, a.subject, a.agent
        );
        if !ids.insert(a.id) {
            r.fail("alerts", &subject, "listed twice");
            continue;
        }
        if !agents.contains(a.agent.as_str()) {
            r.fail(
                "alerts",
                &subject,
                format!("agent {} has no enrollment record in the bundle", a.agent),
            );
            continue;
        }
        if let Some(t) = a.resolved_at.filter(|t| *t < a.opened_at) {
            r.fail(
                "alerts",
                &subject,
                format!(
                    "resolved at {} before it was opened at {}",
                    t.to_rfc3339(),
                    a.opened_at.to_rfc3339()
                ),
            );
        }
        if a.resolved_by.is_some() && a.resolved_at.is_none() {
            r.fail(
                "alerts",
                &subject,
                "names the statement that resolved it but no resolution time",
            );
        }
        for (what, cited) in [("opened", &a.opened_by), ("resolved", &a.resolved_by)] {
            let Some(c) = cited else { continue };
            let found = statement(a.agent.as_str(), c.sequence).or_else(|| {
                pruned
                    .stubs
                    .get(&a.agent)
                    .and_then(|s| s.get(&c.sequence))
                    .map(|s| s.envelope)
            });
            match found {
                None => r.fail(
                    "alerts",
                    &subject,
                    format!(
                        "{what} by sequence {} ({}), which is neither an envelope nor a chain stub of the bundle",
                        c.sequence, c.envelope
                    ),
                ),
                Some(d) if d != c.envelope => r.fail(
                    "alerts",
                    &subject,
                    format!(
                        "{what} by sequence {} cited as {}, but the bundle's statement is {d}",
                        c.sequence, c.envelope
                    ),
                ),
                Some(_) => {}
            }
        }
    }
    alerts.len()
}
