//! The report's alerts section: the alerts of the period as they stood at
//! the report's time (`now`): open at the end, opened and resolved during
//! the period, acknowledgements with their reasons, time to resolve, and
//! the statements each alert rests on. Built from a bundle's `alerts.json`
//! (the database path gathers the same member), so it is the same from
//! the database and from a verified bundle.

use crate::bundle::alerts::{Acknowledgement, AlertEntry, StatementRef};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One alert as it stood at the report's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRow {
    /// The collector's alert id.
    pub id: i64,
    /// Agent id.
    pub agent: String,
    /// Host name.
    pub hostname: String,
    /// `drift`, `stale` or `integrity`.
    pub kind: String,
    /// `rule:ID`, `control:ID`, `host` or `integrity:KIND`.
    pub subject: String,
    /// low, medium, high, critical.
    pub severity: String,
    /// open, acknowledged or resolved, at the report's time.
    pub state: String,
    /// Found on the host's first statement, not a change.
    pub baseline: bool,
    /// Collapsed flapping.
    pub flapping: bool,
    /// For a person.
    pub detail: String,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// The statement that opened it, when the evidence holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_by: Option<StatementRef>,
    /// The acknowledgement made by the report's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
    /// When it was resolved (by the report's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The statement that resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<StatementRef>,
    /// Seconds from opening to resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_seconds: Option<i64>,
}

/// The alerts of a report's period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsSection {
    /// Alerts opened during the period (at or after its first evidence).
    pub opened: usize,
    /// Alerts resolved during the period.
    pub resolved: usize,
    /// Alerts not resolved at the report's time.
    pub open_at_end: usize,
    /// Of those, how many were acknowledged.
    pub acknowledged_at_end: usize,
    /// Median time to resolve of the alerts resolved, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_resolve_seconds: Option<i64>,
    /// Longest time to resolve, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_resolve_seconds: Option<i64>,
    /// Every alert: open ones first (most severe first, oldest first), then
    /// resolved ones (most recently resolved first).
    pub alerts: Vec<AlertRow>,
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 0,
        "high" => 1,
        "medium" => 2,
        "low" => 3,
        _ => 4,
    }
}

/// The alerts section from the bundle's alert entries of the hosts in
/// `hostnames` (agent id → host name; others are left out), as they stood
/// at `now`, the period starting at `from` (the first evidence).
pub fn alerts_section(
    entries: &[AlertEntry],
    hostnames: &BTreeMap<String, String>,
    from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AlertsSection {
    let mut rows: Vec<AlertRow> = entries
        .iter()
        .filter(|a| a.opened_at <= now)
        .filter_map(|a| {
            let hostname = hostnames.get(&a.agent)?.clone();
            let resolved_at = a.resolved_at.filter(|t| *t <= now);
            let acknowledged = a.acknowledged.clone().filter(|k| k.at <= now);
            let state = match (resolved_at, &acknowledged) {
                (Some(_), _) => "resolved",
                (None, Some(_)) => "acknowledged",
                (None, None) => "open",
            };
            Some(AlertRow {
                id: a.id,
                agent: a.agent.clone(),
                hostname,
                kind: a.kind.clone(),
                subject: a.subject.clone(),
                severity: a.severity.clone(),
                state: state.to_string(),
                baseline: a.baseline,
                flapping: a.flapping,
                detail: a.detail.clone(),
                opened_at: a.opened_at,
                opened_by: a.opened_by,
                acknowledged,
                resolved_at,
                resolved_by: resolved_at.and(a.resolved_by),
                resolve_seconds: resolved_at.map(|t| (t - a.opened_at).num_seconds()),
            })
        })
        .collect();
    rows.sort_by(|a, b| {
        let open = |r: &AlertRow| r.resolved_at.is_some();
        open(a)
            .cmp(&open(b))
            .then_with(|| match (a.resolved_at, b.resolved_at) {
                (Some(x), Some(y)) => y.cmp(&x),
                _ => severity_rank(&a.severity)
                    .cmp(&severity_rank(&b.severity))
                    .then(a.opened_at.cmp(&b.opened_at)),
            })
            .then(a.id.cmp(&b.id))
    });
    let mut times: Vec<i64> = rows.iter().filter_map(|r| r.resolve_seconds).collect();
    times.sort_unstable();
    let open: Vec<&AlertRow> = rows.iter().filter(|r| r.resolved_at.is_none()).collect();
    AlertsSection {
        opened: rows
            .iter()
            .filter(|r| from.is_none_or(|f| r.opened_at >= f))
            .count(),
        resolved: times.len(),
        open_at_end: open.len(),
        acknowledged_at_end: open.iter().filter(|r| r.acknowledged.is_some()).count(),
        median_resolve_seconds: times.get(times.len() / 2).copied(),
        max_resolve_seconds: times.last().copied(),
        alerts: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn entry(id: i64, severity: &str, opened: &str) -> AlertEntry {
        AlertEntry {
            id,
            agent: "a1".into(),
            kind: "drift".into(),
            subject: format!("rule:r{id}"),
            severity: severity.into(),
            baseline: false,
            flapping: false,
            detail: String::new(),
            opened_at: t(opened),
            opened_by: Some(StatementRef {
                sequence: 1,
                envelope: sha256_digest(b"x"),
            }),
            acknowledged: None,
            resolved_at: None,
            resolved_by: None,
        }
    }

    #[test]
    fn alerts_are_seen_as_they_stood_at_the_report_time() {
        let mut resolved = entry(1, "low", "2026-01-01T00:00:00Z");
        resolved.resolved_at = Some(t("2026-01-03T00:00:00Z"));
        resolved.resolved_by = Some(StatementRef {
            sequence: 3,
            envelope: sha256_digest(b"y"),
        });
        let mut acked = entry(2, "high", "2026-01-02T00:00:00Z");
        acked.acknowledged = Some(Acknowledgement {
            by: "ops".into(),
            reason: "planned change".into(),
            at: t("2026-01-02T12:00:00Z"),
        });
        let critical = entry(3, "critical", "2026-01-02T06:00:00Z");
        let later = entry(4, "critical", "2026-02-01T00:00:00Z");
        let mut other_host = entry(5, "high", "2026-01-01T00:00:00Z");
        other_host.agent = "a2".into();
        let hosts = BTreeMap::from([("a1".to_string(), "web-1".to_string())]);
        let all = [resolved, acked, critical, later, other_host];

        // At the end of January: one resolved in two days, two open (the
        // critical first), the one opened in February not yet there, the
        // other host's left out.
        let s = alerts_section(&all, &hosts, None, t("2026-01-31T00:00:00Z"));
        let ids: Vec<i64> = s.alerts.iter().map(|r| r.id).collect();
        assert_eq!(ids, [3, 2, 1]);
        assert_eq!((s.opened, s.resolved, s.open_at_end), (3, 1, 2));
        assert_eq!(s.acknowledged_at_end, 1);
        assert_eq!(s.median_resolve_seconds, Some(2 * 86_400));
        assert_eq!(s.alerts[1].state, "acknowledged");
        assert_eq!(s.alerts[2].state, "resolved");
        assert_eq!(s.alerts[0].hostname, "web-1");

        // Before the resolution and the acknowledgement: both still open.
        let s = alerts_section(&all, &hosts, None, t("2026-01-02T08:00:00Z"));
        assert_eq!(
            (s.resolved, s.open_at_end, s.acknowledged_at_end),
            (0, 3, 0)
        );
        assert!(s
            .alerts
            .iter()
            .all(|r| r.state == "open" && r.resolved_by.is_none()));
        // Opened before the period's first evidence: not counted as opened in it.
        let s = alerts_section(
            &all,
            &hosts,
            Some(t("2026-01-02T00:00:00Z")),
            t("2026-01-31T00:00:00Z"),
        );
        assert_eq!(s.opened, 2);
    }
}
