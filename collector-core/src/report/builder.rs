//! The review report built host by host: [`ReportBuilder::add_host`] takes
//! one host's history at a time and keeps only what the report shows (one
//! row per host, per-control statuses, remediation events) and, for the
//! drift chart, per collection day the change in the fleet's counts. A
//! caller can therefore stream a fleet's history of any length through it,
//! one host in memory at a time, and take each host's row out as it is made
//! ([`ReportBuilder::take_rows`]); [`super::build`] is the same over a slice.

use super::remediation::RemediationAcc;
use super::{
    fleet_status, AttestationRef, ControlFailure, ControlRow, DriftPoint, FailingRule, HostHistory,
    HostRow, Provenance, Report, ThemeRow, WaivedRule, ATTESTED,
};
use crate::bundle::RecordedResults;
use crate::catalog::{Catalog, Theme};
use crate::policy::waiver::WaiverRef;
use crate::policy::{ControlStatus, RuleStatus};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A host's contribution to one drift point: controls satisfied, controls
/// failing, failing rules.
type Counts = [i64; 3];

fn counts(r: &RecordedResults) -> Counts {
    let mut c = [0i64; 3];
    for ctl in &r.controls {
        match ctl.status {
            ControlStatus::Satisfied | ControlStatus::Waived => c[0] += 1,
            ControlStatus::NotSatisfied | ControlStatus::Partial => c[1] += 1,
            _ => {}
        }
    }
    c[2] = r
        .rules
        .iter()
        .filter(|r| r.status == RuleStatus::Fail)
        .count() as i64;
    c
}

/// The review report, accumulated one host at a time.
pub struct ReportBuilder<'c> {
    catalog: &'c Catalog,
    now: DateTime<Utc>,
    host_rows: Vec<HostRow>,
    per_control: BTreeMap<String, Vec<ControlStatus>>,
    failures: BTreeMap<String, Vec<ControlFailure>>,
    waivers: BTreeMap<String, Vec<WaiverRef>>,
    rules_of: BTreeMap<String, BTreeSet<String>>,
    oldest: BTreeMap<String, DateTime<Utc>>,
    /// Collection day → change of the fleet's drift counts from that day
    /// on (every day with a statement is a key).
    drift: BTreeMap<NaiveDate, Counts>,
    remediation: RemediationAcc,
}

impl<'c> ReportBuilder<'c> {
    /// An empty report as of `now`.
    pub fn new(catalog: &'c Catalog, now: DateTime<Utc>) -> Self {
        ReportBuilder {
            catalog,
            now,
            host_rows: Vec::new(),
            per_control: BTreeMap::new(),
            failures: BTreeMap::new(),
            waivers: BTreeMap::new(),
            rules_of: BTreeMap::new(),
            oldest: BTreeMap::new(),
            drift: BTreeMap::new(),
            remediation: RemediationAcc::default(),
        }
    }

    /// Add one host (hosts in the order [`super::build`] would take them:
    /// failures and waivers list hosts in that order).
    pub fn add_host(&mut self, h: &HostHistory) {
        self.add_drift(h);
        self.remediation.add(h);
        let Some((at, seq, latest)) = h.statements.last() else {
            return;
        };
        let age = (self.now - *at).num_seconds();
        let interval = i64::try_from(h.interval_seconds).unwrap_or(i64::MAX);
        let mut row = HostRow {
            agent: h.agent.clone(),
            hostname: h.hostname.clone(),
            statements: h.statements.len(),
            last_sequence: *seq,
            last_collected: *at,
            age_seconds: age,
            fresh: age <= interval.saturating_mul(2),
            rules: BTreeMap::new(),
            controls: BTreeMap::new(),
            failing_rules: Vec::new(),
            waived_rules: Vec::new(),
            keys: h.keys.clone(),
        };
        for r in &latest.rules {
            *row.rules.entry(r.status.as_str().to_string()).or_default() += 1;
            for c in &r.controls {
                self.rules_of
                    .entry(c.clone())
                    .or_default()
                    .insert(r.id.clone());
            }
            match r.status {
                RuleStatus::Fail | RuleStatus::Error | RuleStatus::NoEvidence => {
                    row.failing_rules.push(FailingRule {
                        id: r.id.clone(),
                        title: r.title.clone(),
                        severity: r.severity,
                        status: r.status,
                        controls: r.controls.clone(),
                        message: r.message.clone(),
                        remediation: r.remediation.clone(),
                    });
                    for c in &r.controls {
                        self.failures
                            .entry(c.clone())
                            .or_default()
                            .push(ControlFailure {
                                host: h.hostname.clone(),
                                rule: r.id.clone(),
                                status: r.status,
                            });
                    }
                }
                RuleStatus::Waived => {
                    if let Some(w) = &r.waiver {
                        row.waived_rules.push(WaivedRule {
                            id: r.id.clone(),
                            underlying: r.underlying,
                            waiver: w.clone(),
                        });
                        for c in &r.controls {
                            let list = self.waivers.entry(c.clone()).or_default();
                            if !list.contains(w) {
                                list.push(w.clone());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        row.failing_rules
            .sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
        for c in &latest.controls {
            *row.controls
                .entry(c.status.as_str().to_string())
                .or_default() += 1;
            if let Some(cat) = self.catalog.get(&c.id) {
                self.per_control
                    .entry(cat.id.clone())
                    .or_default()
                    .push(c.status);
            }
            if let Some(w) = &c.waiver {
                let list = self.waivers.entry(c.id.clone()).or_default();
                if !list.contains(w) {
                    list.push(w.clone());
                }
            }
            if !matches!(c.status, ControlStatus::NotAutomated) {
                let e = self.oldest.entry(c.id.clone()).or_insert(*at);
                if *at < *e {
                    *e = *at;
                }
            }
        }
        self.host_rows.push(row);
    }

    /// The host rows added since the last call, in the order added: a
    /// caller that keeps them elsewhere (and sorts them by host name, then
    /// agent, as [`Self::finish`] does) holds no row in memory. Rows left
    /// are sorted into the report by [`Self::finish`].
    pub fn take_rows(&mut self) -> Vec<HostRow> {
        std::mem::take(&mut self.host_rows)
    }

    /// The host's drift counts as a step function of the day, added as
    /// changes. On a day D a host counts with the statement the report has
    /// always used: the last of the longest prefix of its history collected
    /// on or before D (so a clock that went backwards reads as before).
    fn add_drift(&mut self, h: &HostHistory) {
        let s = &h.statements;
        let Some((first_at, _, first)) = s.first() else {
            return;
        };
        for (t, _, _) in s {
            self.drift.entry(t.date_naive()).or_insert([0; 3]);
        }
        let mut prev: Counts = [0; 3];
        let mut last: Option<(Arc<RecordedResults>, Counts)> = None;
        let mut step = |start: NaiveDate, r: &Arc<RecordedResults>, drift: &mut BTreeMap<_, _>| {
            let c = match &last {
                Some((lr, lc)) if Arc::ptr_eq(lr, r) => *lc,
                _ => counts(r),
            };
            last = Some((Arc::clone(r), c));
            let d: &mut Counts = drift.entry(start).or_insert([0; 3]);
            for ((d, c), p) in d.iter_mut().zip(c).zip(prev) {
                *d += c - p;
            }
            prev = c;
        };
        // Prefix maximum of the days of statements 1..=i.
        let day0 = first_at.date_naive();
        let pm1 = s.get(1).map(|(t, _, _)| t.date_naive());
        if pm1.is_none_or(|p| day0 < p) {
            step(day0, first, &mut self.drift);
        }
        let mut pm: Option<NaiveDate> = None;
        for (i, (t, _, r)) in s.iter().enumerate().skip(1) {
            let cur = pm.map_or(t.date_naive(), |p| p.max(t.date_naive()));
            pm = Some(cur);
            let next = s.get(i + 1).map(|(t, _, _)| cur.max(t.date_naive()));
            // Statement i counts from `cur` until the prefix maximum grows.
            if next.is_none_or(|n| n > cur) {
                step(cur, r, &mut self.drift);
            }
        }
    }

    /// The report, with the attestations (unset provenance: the caller's).
    pub fn finish(self, attestations: &[AttestationRef]) -> Report {
        let ReportBuilder {
            catalog,
            now,
            mut host_rows,
            per_control,
            mut failures,
            mut waivers,
            rules_of,
            oldest,
            drift,
            remediation,
        } = self;
        host_rows.sort_by(|a, b| a.hostname.cmp(&b.hostname).then(a.agent.cmp(&b.agent)));
        let mut controls = Vec::new();
        let mut status_counts: BTreeMap<String, usize> = BTreeMap::new();
        for c in catalog.controls() {
            let statuses = per_control.get(c.id.as_str()).cloned().unwrap_or_default();
            let mut hosts_by: BTreeMap<String, usize> = BTreeMap::new();
            for s in &statuses {
                *hosts_by.entry(s.as_str().to_string()).or_default() += 1;
            }
            let atts: Vec<AttestationRef> = attestations
                .iter()
                .filter(|a| a.control == c.id)
                .cloned()
                .collect();
            let fleet = fleet_status(&statuses);
            let status = if matches!(
                fleet,
                ControlStatus::NotAutomated | ControlStatus::NoEvidence
            ) && atts.iter().any(|a| a.current)
            {
                ATTESTED.to_string()
            } else {
                fleet.as_str().to_string()
            };
            *status_counts.entry(status.clone()).or_default() += 1;
            controls.push(ControlRow {
                id: c.id.clone(),
                title: c.title.clone(),
                theme: c.theme,
                status,
                hosts: hosts_by,
                rules: rules_of
                    .get(&c.id)
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
                failures: failures.remove(&c.id).unwrap_or_default(),
                waivers: waivers.remove(&c.id).unwrap_or_default(),
                attestations: atts,
                oldest_evidence: oldest.get(&c.id).copied(),
            });
        }
        let themes = Theme::ALL
            .iter()
            .map(|t| {
                let in_theme: Vec<&ControlRow> =
                    controls.iter().filter(|c| c.theme == *t).collect();
                ThemeRow {
                    theme: *t,
                    controls: in_theme.len(),
                    covered: in_theme
                        .iter()
                        .filter(|c| {
                            !matches!(
                                c.status.as_str(),
                                "not-automated" | "no-evidence" | "not-applicable"
                            )
                        })
                        .count(),
                    satisfied: in_theme
                        .iter()
                        .filter(|c| matches!(c.status.as_str(), "satisfied" | "waived" | ATTESTED))
                        .count(),
                }
            })
            .collect();
        Report {
            generated_at: now,
            hosts: host_rows.into(),
            controls,
            themes,
            status_counts,
            drift: drift_points(&drift),
            provenance: Provenance::default(),
            remediation: remediation.finish(),
            alerts: None,
            vulns: None,
        }
    }
}

/// The last 60 days with a statement, each with the fleet's counts then.
fn drift_points(changes: &BTreeMap<NaiveDate, Counts>) -> Vec<DriftPoint> {
    let keep_from = changes.keys().rev().nth(59).copied();
    let mut sum: Counts = [0; 3];
    let mut out = Vec::new();
    for (day, d) in changes {
        for (s, d) in sum.iter_mut().zip(d) {
            *s += d;
        }
        if keep_from.is_none_or(|k| *day >= k) {
            out.push(DriftPoint {
                day: *day,
                satisfied: usize::try_from(sum[0]).unwrap_or_default(),
                failing: usize::try_from(sum[1]).unwrap_or_default(),
                failing_rules: usize::try_from(sum[2]).unwrap_or_default(),
            });
        }
    }
    out
}
