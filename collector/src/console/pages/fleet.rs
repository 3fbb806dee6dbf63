//! The fleet page (`GET /`): every Annex A control with its roll-up across
//! active hosts (counts per status from `fleet_status`, stale hosts shown as
//! `stale`), theme, automated or not, worst first; filters by policy,
//! severity, framework and theme; the fleet as of a past day and compared
//! with another day (both from `fleet_trend`, one index range each); the
//! fleet's trend (from `fleet_trend`).

use super::{nonempty, rules_by_control};
use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, badge, bar, enc, Nav};
use crate::service::{query, App};
use axum::extract::{Query, State};
use evident_core::framework::FrameworkSet;
use evident_core::Catalog;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Filters.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    policy: Option<String>,
    severity: Option<String>,
    framework: Option<String>,
    theme: Option<String>,
    as_of: Option<String>,
    compare: Option<String>,
}

type Counts = BTreeMap<String, BTreeMap<String, u64>>;

/// The fleet's counts per control and status on `day` (`YYYY-MM-DD`) from
/// the trend, or now (None, or today) from `fleet_status`.
async fn counts_on(app: &App, day: Option<&str>, today: &str) -> Result<Counts, ConsoleError> {
    let Some(day) = day.filter(|d| *d != today) else {
        return Ok(query::controls(app)
            .await?
            .into_iter()
            .map(|c| (c.id, c.hosts))
            .collect());
    };
    if chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_err() || day > today {
        return Err(ConsoleError::BadRequest(format!(
            "{} is not a date up to today (YYYY-MM-DD)",
            day.chars().take(20).collect::<String>()
        )));
    }
    let mut out = Counts::new();
    for (subject, status, n) in app.store.trend_day(day).await? {
        if let Some(id) = subject.strip_prefix("control:") {
            *out.entry(id.to_string())
                .or_default()
                .entry(status)
                .or_default() += u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(out)
}

/// What changed for one control between `then` and now: (status, then,
/// now) for each status whose count differs, worst first.
fn changes(then: Option<&BTreeMap<String, u64>>, now: &[(String, u64)]) -> Vec<(String, u64, u64)> {
    let mut statuses: BTreeSet<&str> = now.iter().map(|(s, _)| s.as_str()).collect();
    statuses.extend(then.into_iter().flat_map(|m| m.keys().map(String::as_str)));
    let mut out: Vec<(String, u64, u64)> = statuses
        .into_iter()
        .map(|st| {
            let a = then.and_then(|m| m.get(st)).copied().unwrap_or(0);
            let b = now.iter().find(|(s, _)| s == st).map_or(0, |(_, n)| *n);
            (st.to_string(), a, b)
        })
        .filter(|(_, a, b)| a != b)
        .collect();
    out.sort_by_key(|(s, _, _)| layout::rank(s));
    out
}

struct Row<'a> {
    id: &'a str,
    title: &'a str,
    theme: &'static str,
    rules: usize,
    counts: Vec<(String, u64)>,
}

impl Row<'_> {
    fn worst(&self) -> (u8, std::cmp::Reverse<u64>) {
        let rank = self
            .counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, _)| layout::rank(s))
            .min()
            .unwrap_or(if self.rules == 0 { 7 } else { 4 });
        let n = self
            .counts
            .iter()
            .filter(|(s, _)| layout::rank(s) == rank)
            .map(|(_, n)| *n)
            .sum();
        (rank, std::cmp::Reverse(n))
    }
}

/// `GET /`.
pub async fn page(
    State(app): State<Arc<App>>,
    s: Session,
    q: Result<Query<Filters>, axum::extract::rejection::QueryRejection>,
) -> Result<Markup, ConsoleError> {
    let Query(f) = q.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let (policy, severity) = (nonempty(&f.policy), nonempty(&f.severity));
    let rules = rules_by_control(&app, policy, severity);
    let frameworks = FrameworkSet::embedded();
    let in_framework: Option<BTreeSet<String>> = match nonempty(&f.framework) {
        None => None,
        Some(id) => {
            let fw = frameworks
                .get(id)
                .ok_or_else(|| ConsoleError::BadRequest(format!("no framework {id}")))?;
            Some(
                fw.requirements
                    .iter()
                    .flat_map(|r| r.annex_a.iter().map(|p| p.control.clone()))
                    .collect(),
            )
        }
    };
    let today = crate::console::trend::day(app.clock.now_ms());
    let as_of = nonempty(&f.as_of).filter(|d| *d != today);
    let counts = counts_on(&app, as_of, &today).await?;
    let compare = nonempty(&f.compare);
    let before = match compare {
        Some(d) => Some(counts_on(&app, Some(d), &today).await?),
        None => None,
    };
    let catalog = Catalog::annex_a();
    let filtered = policy.is_some() || severity.is_some();
    let mut rows: Vec<Row> = catalog
        .controls()
        .iter()
        .filter(|c| nonempty(&f.theme).is_none_or(|t| c.theme.as_str() == t))
        .filter(|c| in_framework.as_ref().is_none_or(|set| set.contains(&c.id)))
        .filter(|c| !filtered || rules.contains_key(&c.id))
        .map(|c| {
            let mut counts: Vec<(String, u64)> = counts
                .get(&c.id)
                .map(|m| m.iter().map(|(s, n)| (s.clone(), *n)).collect())
                .unwrap_or_default();
            counts.sort_by_key(|(s, _)| layout::rank(s));
            Row {
                id: &c.id,
                title: &c.title,
                theme: c.theme.as_str(),
                rules: rules.get(&c.id).map_or(0, Vec::len),
                counts,
            }
        })
        .collect();
    rows.sort_by_key(|r| r.worst());
    let hosts = app.store.active_hosts().await?;
    let open_alerts = app.store.alerts_in_state("open").await?;
    let failing = rows.iter().filter(|r| r.worst().0 <= 1).count();
    let automated = rows.iter().filter(|r| r.rules > 0).count();
    let since = crate::console::trend::day(app.clock.now_ms() - 90 * 86_400_000);
    let mut trend = app.store.trend(None, &since).await?;
    // Today's point is the live counts (the stored one is up to 5 minutes old).
    let live = match as_of {
        None => counts.clone(),
        Some(_) => counts_on(&app, None, &today).await?,
    };
    trend.retain(|p| p.day != today);
    for (status, n) in live.values().flat_map(|m| m.iter()) {
        match trend
            .iter_mut()
            .find(|p| p.day == today && p.status == *status)
        {
            Some(p) => p.hosts += i64::try_from(*n).unwrap_or(0),
            None => trend.push(crate::store::console::TrendPoint {
                day: today.clone(),
                status: status.clone(),
                hosts: i64::try_from(*n).unwrap_or(0),
            }),
        }
    }
    let policies: Vec<&str> = app
        .policies
        .policies()
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    let sel = |v: &Option<String>, x: &str| nonempty(v) == Some(x);
    let body = html! {
        h1 { "Fleet posture" }
        p.lead { "Every ISO/IEC 27001:2022 Annex A control across the active hosts' latest evidence, worst first." }
        @if let Some(d) = as_of {
            p.notice role="status" { "As of " strong { (d) } ": the fleet's counts recorded that day (its last snapshot, or rebuilt from the stored history). "
                a href="/" { "Back to now" } }
        }
        @if let Some(d) = compare {
            p.notice role="status" { "Compared with " strong { (d) } ": the last column lists each status whose host count changed since then." }
        }
        section.cards aria-label="Summary" {
            div.card { span.n { (hosts) } "active hosts" }
            div.card { span.n { (failing) } "controls failing on a host" }
            div.card { span.n { (automated) " / " (rows.len()) } "controls evidenced by rules" }
            div.card { span.n { a href="/alerts" { (open_alerts) } } "open alerts" }
        }
        form.filters method="get" action="/" aria-label="Filters" {
            label { "Policy"
                select name="policy" {
                    option value="" { "all" }
                    @for p in &policies { option value=(p) selected[sel(&f.policy, p)] { (p) } }
                }
            }
            label { "Severity"
                select name="severity" {
                    option value="" { "all" }
                    @for v in ["critical", "high", "medium", "low"] { option value=(v) selected[sel(&f.severity, v)] { (v) } }
                }
            }
            label { "Framework"
                select name="framework" {
                    option value="" { "ISO/IEC 27001:2022 (all controls)" }
                    @for fw in frameworks.frameworks() { option value=(fw.id) selected[sel(&f.framework, &fw.id)] { (fw.title) } }
                }
            }
            label { "Theme"
                select name="theme" {
                    option value="" { "all" }
                    @for t in evident_core::catalog::Theme::ALL { option value=(t.as_str()) selected[sel(&f.theme, t.as_str())] { (t.as_str()) } }
                }
            }
            label { "As of" input type="date" name="as_of" value=(as_of.unwrap_or("")) max=(today); }
            label { "Compare with" input type="date" name="compare" value=(compare.unwrap_or("")) max=(today); }
            button.primary type="submit" { "Apply" }
            a href="/" { "Clear" }
        }
        p.muted { "Host groups or labels: agents report none, so there is no such filter yet. "
            a href="#trend" { "Trend over time ↓" } }
        h2 #controls { "Controls" }
        table.controls {
            caption.muted { (rows.len()) " controls" }
            thead {
                tr {
                    th scope="col" { "Control" }
                    th scope="col" { "Title" }
                    th scope="col" { "Theme" }
                    th scope="col" { "Evidence" }
                    th scope="col" { "Hosts per status" }
                    th scope="col" { "Distribution" }
                    @if let Some(d) = compare { th scope="col" { "Since " (d) } }
                }
            }
            tbody {
                @for r in &rows {
                    tr {
                        th scope="row" { a href={ "/controls/" (enc(r.id)) } { (r.id) } }
                        td { (r.title) }
                        td { (r.theme) }
                        td {
                            @if r.rules > 0 { "automated · " (r.rules) " rule" @if r.rules != 1 { "s" } }
                            @else { (badge("not-automated")) }
                        }
                        td {
                            @if r.counts.is_empty() {
                                span.muted { @if r.rules > 0 { "no host evidence yet" } @else { "attestation" } }
                            }
                            @for (st, n) in &r.counts { span.inline { (badge(st)) " " (n) } " " }
                        }
                        td { (bar(&r.counts, 160)) }
                        @if let Some(b) = &before {
                            td {
                                @let ch = changes(b.get(r.id), &r.counts);
                                @if ch.is_empty() { span.muted { "no change" } }
                                @for (st, a, n) in &ch { span.inline { (badge(st)) " " (a) " → " (n) } " " }
                            }
                        }
                    }
                }
            }
        }
        h2 #trend { "Trend (last 90 days)" }
        (layout::trend_chart(&trend, "Host × control results per status, one point per day"))
    };
    Ok(layout::page("Fleet", &s, Nav::Fleet, body))
}
