//! `--compare DATE1 DATE2`: what changed between two reports of the same
//! evidence as it stood at two times — per control (fleet status, failing
//! host/rule pairs) and per rule (hosts newly failing, fixed, still
//! failing), each host with the statement its result rests on at each side.

use super::{EvidenceRef, HostRow, HostRowsError, Report};
use crate::policy::{RuleStatus, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The statement a host's result rests on at one side of the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// Statement sequence.
    pub sequence: u64,
    /// When it was collected.
    pub collected_at: DateTime<Utc>,
    /// sha256 of its DSSE envelope.
    pub envelope: crate::Digest,
    /// The rule's status in it (`pass` when it is not failing).
    pub status: String,
}

/// One host under a rule that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostChange {
    /// Host name.
    pub hostname: String,
    /// Agent id.
    pub agent: String,
    /// At the first date (absent: the host had no evidence yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Side>,
    /// At the second date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Side>,
}

/// A rule whose failing hosts are not the same at both dates (or that fails
/// at both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChange {
    /// Rule id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Controls it maps to.
    pub controls: Vec<String>,
    /// Failing at the second date, not at the first.
    pub newly_failing: Vec<HostChange>,
    /// Failing at the first date, not at the second (the host still reports).
    pub fixed: Vec<HostChange>,
    /// Failing at both dates.
    pub still_failing: Vec<HostChange>,
}

/// A control whose fleet status or failing (host, rule) pairs changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlChange {
    /// Control id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Fleet status at the first date.
    pub before: String,
    /// Fleet status at the second date.
    pub after: String,
    /// (host, rule) pairs failing at the second date only.
    pub newly_failing: usize,
    /// (host, rule) pairs failing at the first date only.
    pub fixed: usize,
    /// (host, rule) pairs failing at both.
    pub still_failing: usize,
}

/// What changed between two reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// The first date.
    pub from: DateTime<Utc>,
    /// The second date.
    pub to: DateTime<Utc>,
    /// Statements covered at each date.
    pub statements: (usize, usize),
    /// Controls that changed, clause order.
    pub controls: Vec<ControlChange>,
    /// Rules with a failing host at either date: newly failing first, then
    /// by severity and id.
    pub rules: Vec<RuleChange>,
    /// Hosts with evidence at the second date only (agent ids).
    pub hosts_added: Vec<String>,
    /// Hosts with evidence at the first date only (agent ids).
    pub hosts_gone: Vec<String>,
    /// Key id of the collector that signs the evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector_key_id: Option<String>,
}

/// Compare `before` (the report as of the first date) with `after`; an
/// error when a report's host rows cannot be read back.
pub fn compare(before: &Report, after: &Report) -> Result<Comparison, HostRowsError> {
    let rows_before = before.hosts.to_vec()?;
    let rows_after = after.hosts.to_vec()?;
    let rows = |r: &Report| -> &[HostRow] {
        if std::ptr::eq(r, before) {
            &rows_before
        } else {
            &rows_after
        }
    };
    // A host is known by its first key's agent id, so that a machine
    // enrolled again between the dates stays the same host.
    let identity = |h: &super::HostRow| -> String {
        h.keys
            .first()
            .map_or_else(|| h.agent.clone(), |k| k.agent.clone())
    };
    let evidence = |r: &Report| -> BTreeMap<String, EvidenceRef> {
        let by_agent: BTreeMap<&str, &EvidenceRef> = r
            .provenance
            .evidence
            .iter()
            .map(|e| (e.agent.as_str(), e))
            .collect();
        rows(r)
            .iter()
            .filter_map(|h| {
                by_agent
                    .get(h.agent.as_str())
                    .map(|e| (identity(h), (*e).clone()))
            })
            .collect()
    };
    let (ev_before, ev_after) = (evidence(before), evidence(after));
    let side = |ev: &BTreeMap<String, EvidenceRef>, host: &str, status: Option<RuleStatus>| {
        ev.get(host).map(|e| Side {
            sequence: e.sequence,
            collected_at: e.collected_at,
            envelope: e.envelope,
            status: status.map_or("pass", |s| s.as_str()).to_string(),
        })
    };
    // rule id → host → status, per side; rule metadata from either side.
    type Failing = BTreeMap<String, BTreeMap<String, RuleStatus>>;
    let mut meta: BTreeMap<String, (String, Severity, Vec<String>)> = BTreeMap::new();
    // host → (host name, agent id), the later report's naming winning.
    let mut names: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut failing = |r: &Report| -> Failing {
        let mut out = Failing::new();
        for h in rows(r) {
            let id = identity(h);
            names.insert(id.clone(), (h.hostname.clone(), h.agent.clone()));
            for f in &h.failing_rules {
                meta.entry(f.id.clone())
                    .or_insert_with(|| (f.title.clone(), f.severity, f.controls.clone()));
                out.entry(f.id.clone())
                    .or_default()
                    .insert(id.clone(), f.status);
            }
        }
        out
    };
    let (fail_before, fail_after) = (failing(before), failing(after));
    let hosts_of = |r: &Report| -> BTreeSet<String> { rows(r).iter().map(identity).collect() };
    let (hosts_before, hosts_after) = (hosts_of(before), hosts_of(after));
    let empty = BTreeMap::new();
    let mut rules = Vec::new();
    for (id, (title, severity, controls)) in &meta {
        let b = fail_before.get(id).unwrap_or(&empty);
        let a = fail_after.get(id).unwrap_or(&empty);
        let change = |host: &String| {
            let (hostname, agent) = names
                .get(host)
                .cloned()
                .unwrap_or_else(|| (host.clone(), host.clone()));
            HostChange {
                hostname,
                agent,
                before: side(&ev_before, host, b.get(host).copied()),
                after: side(&ev_after, host, a.get(host).copied()),
            }
        };
        let mut rc = RuleChange {
            id: id.clone(),
            title: title.clone(),
            severity: *severity,
            controls: controls.clone(),
            newly_failing: a
                .keys()
                .filter(|h| !b.contains_key(*h))
                .map(change)
                .collect(),
            fixed: b
                .keys()
                .filter(|h| !a.contains_key(*h) && hosts_after.contains(*h))
                .map(change)
                .collect(),
            still_failing: a
                .keys()
                .filter(|h| b.contains_key(*h))
                .map(change)
                .collect(),
        };
        let by_name = |x: &HostChange, y: &HostChange| {
            x.hostname.cmp(&y.hostname).then(x.agent.cmp(&y.agent))
        };
        rc.newly_failing.sort_by(by_name);
        rc.fixed.sort_by(by_name);
        rc.still_failing.sort_by(by_name);
        if !(rc.newly_failing.is_empty() && rc.fixed.is_empty() && rc.still_failing.is_empty()) {
            rules.push(rc);
        }
    }
    rules.sort_by(|x, y| {
        x.newly_failing
            .is_empty()
            .cmp(&y.newly_failing.is_empty())
            .then(y.severity.cmp(&x.severity))
            .then(x.id.cmp(&y.id))
    });
    let before_controls: BTreeMap<&str, &super::ControlRow> =
        before.controls.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut controls = Vec::new();
    for c in &after.controls {
        let old = before_controls.get(c.id.as_str());
        let pairs = |row: Option<&&super::ControlRow>| -> BTreeSet<(String, String)> {
            row.map(|r| {
                r.failures
                    .iter()
                    .map(|f| (f.host.clone(), f.rule.clone()))
                    .collect()
            })
            .unwrap_or_default()
        };
        let (pb, pa) = (pairs(old), pairs(Some(&c)));
        let before_status = old.map_or_else(|| "no-evidence".to_string(), |o| o.status.clone());
        let change = ControlChange {
            id: c.id.clone(),
            title: c.title.clone(),
            before: before_status,
            after: c.status.clone(),
            newly_failing: pa.difference(&pb).count(),
            fixed: pb.difference(&pa).count(),
            still_failing: pa.intersection(&pb).count(),
        };
        if change.before != change.after || change.newly_failing > 0 || change.fixed > 0 {
            controls.push(change);
        }
    }
    Ok(Comparison {
        from: before.generated_at,
        to: after.generated_at,
        statements: (before.provenance.statements, after.provenance.statements),
        controls,
        rules,
        hosts_added: hosts_after.difference(&hosts_before).cloned().collect(),
        hosts_gone: hosts_before.difference(&hosts_after).cloned().collect(),
        collector_key_id: after.provenance.collector_key_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::RecordedResults;
    use crate::catalog::Catalog;
    use crate::policy::{RuleResult, Summary};
    use crate::report::{build, HostHistory};
    use std::sync::Arc;

    fn rule(id: &str, status: RuleStatus) -> RuleResult {
        serde_json::from_value(serde_json::json!({
            "id": id, "policy": "p", "title": format!("rule {id}"), "severity": "high",
            "controls": ["A.8.5"], "status": status.as_str(),
        }))
        .unwrap()
    }

    fn results(rules: Vec<RuleResult>) -> Arc<RecordedResults> {
        Arc::new(RecordedResults {
            policies: vec![],
            waivers: None,
            controls: vec![],
            rules,
            expired_waivers: vec![],
            summary: Summary::default(),
            vulns: None,
        })
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn newly_failing_fixed_and_still_failing_per_rule_and_control() {
        let h = |agent: &str, statements| HostHistory {
            agent: agent.into(),
            hostname: format!("{agent}.example"),
            interval_seconds: 3600,
            statements,
            keys: vec![],
        };
        let (d1, d2) = (at("2026-11-01T00:00:00Z"), at("2026-11-02T00:00:00Z"));
        let before = vec![
            h(
                "a",
                vec![(
                    d1,
                    1,
                    results(vec![
                        rule("r1", RuleStatus::Fail),
                        rule("r2", RuleStatus::Pass),
                    ]),
                )],
            ),
            h(
                "b",
                vec![(
                    d1,
                    1,
                    results(vec![
                        rule("r1", RuleStatus::Fail),
                        rule("r2", RuleStatus::Fail),
                    ]),
                )],
            ),
        ];
        let mut after = before.clone();
        after[0].statements.push((
            d2,
            2,
            results(vec![
                rule("r1", RuleStatus::Pass),
                rule("r2", RuleStatus::Fail),
            ]),
        ));
        after.push(h(
            "c",
            vec![(d2, 1, results(vec![rule("r1", RuleStatus::Pass)]))],
        ));
        let cat = Catalog::annex_a();
        let c = compare(&build(cat, &before, &[], d1), &build(cat, &after, &[], d2)).unwrap();
        let r1 = c.rules.iter().find(|r| r.id == "r1").unwrap();
        let names = |v: &[HostChange]| v.iter().map(|h| h.agent.clone()).collect::<Vec<_>>();
        assert_eq!(names(&r1.fixed), ["a"]);
        assert_eq!(names(&r1.still_failing), ["b"]);
        assert!(r1.newly_failing.is_empty());
        let r2 = c.rules.iter().find(|r| r.id == "r2").unwrap();
        assert_eq!(names(&r2.newly_failing), ["a"]);
        assert_eq!(names(&r2.still_failing), ["b"]);
        // Newly failing rules come first.
        assert_eq!(c.rules[0].id, "r2");
        assert_eq!(c.hosts_added, ["c"]);
        assert!(c.hosts_gone.is_empty());
        // A.8.5: (a,r1) fixed, (a,r2) new, (b,r1) and (b,r2) still failing.
        let a85 = c.controls.iter().find(|x| x.id == "A.8.5").unwrap();
        assert_eq!((a85.newly_failing, a85.fixed, a85.still_failing), (1, 1, 2));
        // Nothing changed compares to nothing.
        let same = compare(&build(cat, &before, &[], d1), &build(cat, &before, &[], d1)).unwrap();
        assert!(same.controls.is_empty());
        assert!(same
            .rules
            .iter()
            .all(|r| r.newly_failing.is_empty() && r.fixed.is_empty()));
    }
}
