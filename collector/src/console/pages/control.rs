//! The control page (`GET /controls/{id}`): its rules with the fleet's
//! counts per rule, the hosts failing each (from `host_status`) with the
//! statement each result rests on, its coverage declaration, waivers,
//! attestations, trend and transitions.

use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, badge, bar, enc, time, Nav};
use crate::service::{query, App};
use axum::extract::{Path, State};
use evident_core::policy::waiver::WaiverTarget;
use evident_core::Catalog;
use maud::{html, Markup};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Failing hosts listed per rule (the rest is on the matrix page).
const FAILING_SHOWN: i64 = 25;

/// `GET /controls/{id}`.
pub async fn page(
    State(app): State<Arc<App>>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Markup, ConsoleError> {
    let control = Catalog::annex_a()
        .get(&id)
        .ok_or_else(|| ConsoleError::NotFound(format!("no Annex A control {id}")))?;
    let subject = format!("control:{}", control.id);
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for (subj, status, n) in app.store.fleet_status().await? {
        if n > 0 {
            counts
                .entry(subj)
                .or_default()
                .insert(status, u64::try_from(n).unwrap_or(0));
        }
    }
    let control_counts: Vec<(String, u64)> = query::controls(&app)
        .await?
        .into_iter()
        .find(|c| c.id == control.id)
        .map(|c| {
            let mut v: Vec<_> = c.hosts.into_iter().collect();
            v.sort_by_key(|(s, _)| layout::rank(s));
            v
        })
        .unwrap_or_default();
    let rules: Vec<_> = app
        .policies
        .rules()
        .filter(|(_, r)| r.controls.contains(&control.id))
        .collect();
    let mut failing = Vec::new();
    for (_, r) in &rules {
        let hosts = app
            .store
            .subject_hosts(&format!("rule:{}", r.id), Some("fail"), None, FAILING_SHOWN)
            .await?;
        failing.push(hosts);
    }
    let waivers: Vec<_> = app
        .policies
        .waivers()
        .iter()
        .filter(|w| match &w.target {
            WaiverTarget::Control(c) => *c == control.id,
            WaiverTarget::Rule(r) => rules.iter().any(|(_, x)| x.id == *r),
            // A CVE waiver counts where a rule of this control reads `vulns`.
            WaiverTarget::Cve(_) => rules
                .iter()
                .any(|(_, x)| x.requires.iter().any(|p| p == "vulns")),
        })
        .collect();
    let attestations = app
        .store
        .attestations_for(std::slice::from_ref(&control.id), "0000-01-01")
        .await?;
    let since = crate::console::trend::day(app.clock.now_ms() - 90 * 86_400_000);
    let mut trend = app.store.trend(Some(&subject), &since).await?;
    // Today's point is the live counts (the stored one is up to 5 minutes old).
    let today = crate::console::trend::day(app.clock.now_ms());
    trend.retain(|p| p.day != today);
    trend.extend(
        control_counts
            .iter()
            .map(|(status, n)| crate::store::console::TrendPoint {
                day: today.clone(),
                status: status.clone(),
                hosts: i64::try_from(*n).unwrap_or(0),
            }),
    );
    let transitions = app.store.transitions(None, Some(&subject), 50).await?;
    let coverage = app.policies.coverage(&control.id);
    let body = html! {
        p { a href="/" { "← Fleet" } }
        h1 { (control.id) " " (control.title) }
        p.lead { "Theme: " (control.theme.as_str()) }
        @if rules.is_empty() {
            p.notice { (badge("not-automated")) " No rule of the loaded policies covers this control: it is evidenced by signed attestations and documents." }
        } @else {
            section.cards aria-label="Hosts per status" {
                @for (st, n) in &control_counts { div.card { span.n { (n) } (badge(st)) } }
                @if control_counts.is_empty() { div.card { span.muted { "No host has evidence for this control yet." } } }
            }
            (bar(&control_counts, 400))
        }
        @if let Some(c) = coverage {
            h2 { "Coverage" }
            p { "Declared " strong { (format!("{:?}", c.coverage).to_lowercase()) } }
            @for st in &c.statements { p.muted { (st) } }
            @if let Some(a) = &c.attestation { p { "Requires a signed attestation: " code { (format!("{a:?}")) } } }
        }
        h2 { "Rules" }
        @if rules.is_empty() { p.muted { "None." } }
        @for ((p, r), hosts) in rules.iter().zip(&failing) {
            @let rc: Vec<(String, u64)> = {
                let mut v: Vec<(String, u64)> = counts.get(&format!("rule:{}", r.id)).map(|m| m.iter().map(|(a, b)| (a.clone(), *b)).collect()).unwrap_or_default();
                v.sort_by_key(|(s, _)| layout::rank(s));
                v
            };
            section.rule aria-labelledby={ "rule-" (r.id) } {
                h3 id={ "rule-" (r.id) } { code { (r.id) } " — " (r.title) }
                p.muted { "Policy " (p.id) " · severity " (r.severity.as_str()) " · reads " (r.requires.join(", ")) }
                p { @for (st, n) in &rc { span.inline { (badge(st)) " " (n) } " " } (bar(&rc, 240)) }
                @if hosts.is_empty() {
                    p.muted { "No active host fails this rule." }
                } @else {
                    table {
                        caption { "Hosts failing " code { (r.id) } " (first " (hosts.len()) "; all of them on the " a href={ "/matrix?policy=" (enc(&p.id)) "&sort=" (enc(&r.id)) } { "matrix" } ")" }
                        thead { tr {
                            th scope="col" { "Host" } th scope="col" { "Status" } th scope="col" { "Since" }
                            th scope="col" { "Evidence (latest statement)" } th scope="col" { "Collected" }
                        } }
                        tbody {
                            @for h in hosts {
                                tr {
                                    th scope="row" { a href={ "/hosts/" (enc(&h.agent_id)) "#rule-" (enc(&r.id)) } { (h.hostname) } }
                                    td { (badge(&h.status)) }
                                    td { (time(h.since)) }
                                    td.digest { @if let Some(d) = &h.statement { (d.to_string()) } }
                                    td { (layout::time_opt(h.collected_at)) }
                                }
                            }
                        }
                    }
                }
                @if let Some(rem) = &r.remediation { details { summary { "Remediation" } p { (rem) } } }
            }
        }
        h2 { "Waivers" }
        @if waivers.is_empty() { p.muted { "None." } } @else {
            table {
                thead { tr { th scope="col" { "Covers" } th scope="col" { "Hosts" } th scope="col" { "Justification" } th scope="col" { "Approver" } th scope="col" { "Expires" } } }
                tbody { @for w in &waivers { tr {
                    th scope="row" { @match &w.target { WaiverTarget::Rule(r) => { "rule " code { (r) } }, WaiverTarget::Cve(c) => { "CVE " code { (c) } }, WaiverTarget::Control(c) => { "control " (c) } } }
                    td { (w.hosts.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")) }
                    td { (w.justification) } td { (w.approver) } td { (w.expires.to_string()) }
                } } }
            }
        }
        h2 { "Attestations" }
        @if attestations.is_empty() { p.muted { "None recorded." } } @else {
            table {
                thead { tr { th scope="col" { "Digest" } th scope="col" { "Attester key" } th scope="col" { "Recorded" } th scope="col" { "Expires" } } }
                tbody { @for a in &attestations { tr {
                    td.digest { (a.digest.to_string()) } td.mono { (a.attester_key_id) } td { (time(a.created_at)) } td { (a.expires) }
                } } }
            }
        }
        h2 { "Trend (last 90 days)" }
        (layout::trend_chart(&trend, "Hosts per status of this control, one point per day"))
        h2 { "Transitions" }
        @if transitions.is_empty() { p.muted { "No change recorded (a host's first statement is its baseline, not a change)." } } @else {
            table {
                caption.muted { "Newest first, at most 50" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Host" } th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Sequence" } } }
                tbody { @for t in &transitions { tr {
                    td { (time(t.at)) }
                    th scope="row" { a href={ "/hosts/" (enc(&t.agent_id)) } { (t.agent_id) } }
                    td { @if let Some(f) = &t.from { (badge(f)) } }
                    td { (badge(&t.to)) }
                    td.num { (t.sequence) }
                } } }
            }
        }
    };
    Ok(layout::page(
        &format!("Control {}", control.id),
        &s,
        Nav::Fleet,
        body,
    ))
}
