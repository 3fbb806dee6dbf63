//! Vulnerabilities in the console (issue #18): the CVE section of the host
//! page — the host's latest statement re-matched exactly as its results
//! were (`review::vulns`, the report's code: the snapshot its results cite,
//! the recorded first-seen times, the CVE waivers of the policy files they
//! cite) — and the fleet page `GET /vulns`, the CVEs open on the most
//! hosts and a cursor page of the matched hosts, read from the per host ×
//! CVE state kept at ingest and re-match (bounded; waivers not applied
//! there, and the page says so). Every value goes through maud, which
//! escapes it.

use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, badge, enc, rfc3339, Nav};
use crate::review::vulns::section_from_store;
use crate::service::App;
use axum::extract::{Query, State};
use evident_core::bundle::RecordedResults;
use evident_core::report::vulns::{CveRow, HostCves};
use evident_core::Digest;
use maud::{html, Markup};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The status a CVE row shows: waived, open with a fix (fail: actionable)
/// or open without one (warning-like `no-evidence` styling is wrong here,
/// so `partial`).
fn row_status(c: &CveRow) -> &'static str {
    match (&c.waived, c.fix_available()) {
        (Some(_), _) => "waived",
        (None, true) => "fail",
        (None, false) => "partial",
    }
}

/// The host's CVEs, as of its latest statement (`digest`, `sequence`).
pub async fn host_rows(
    app: &App,
    agent: &str,
    hostname: &str,
    digest: &Digest,
) -> Result<Option<HostCves>, ConsoleError> {
    let Some((row, _)) = app.store.statement(digest).await? else {
        return Ok(None);
    };
    let Some(bytes) = app.store.results(&row.results).await? else {
        return Ok(None);
    };
    let Ok(results) = serde_json::from_slice::<RecordedResults>(&bytes) else {
        return Ok(None);
    };
    if results.vulns.is_none() {
        return Ok(None);
    }
    let seq = u64::try_from(row.sequence).unwrap_or_default();
    let section = section_from_store(
        &*app.store,
        vec![(
            agent.to_string(),
            hostname.to_string(),
            seq,
            *digest,
            Arc::new(results),
        )],
    )
    .await
    .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok(section.and_then(|s| s.hosts.into_iter().next()))
}

/// The CVE section of the host page.
pub fn host_section(h: Option<&HostCves>) -> Markup {
    html! {
        h2 id="vulns" { "Vulnerabilities" }
        @match h {
            None => { p.muted { "Its latest results were not matched against a vulnerability feed snapshot (none imported, or no packages inventory). See " a href="/vulns" { "the fleet's CVEs" } "." } }
            Some(h) => {
                p {
                    (h.actionable) " open with a fix available, " (h.unfixed) " open without a fix, " (h.waived) " waived"
                    @if !h.release.is_empty() { " · release " code { (h.release) } }
                    " · snapshot " span.digest { (h.snapshot) }
                    " · " a href="/vulns" { "fleet view" }
                }
                @if !h.note.is_empty() { p.muted { (h.note) } }
                @if !h.kernel_reboot_pending.is_empty() {
                    p { (badge("fail")) " reboot pending for " (h.kernel_reboot_pending.join(", ")) }
                }
                @if h.cves.is_empty() { p.muted { "No known CVE affects the installed packages." } } @else {
                    table {
                        thead { tr {
                            th scope="col" { "CVE" } th scope="col" { "State" } th scope="col" { "Source package" }
                            th scope="col" { "Installed" } th scope="col" { "Fix" } th scope="col" { "Urgency" }
                            th scope="col" { "First seen" } th scope="col" { "Age" } th scope="col" { "Waiver" }
                        } }
                        tbody { @for c in &h.cves { tr id={ "cve-" (c.cve) } {
                            th scope="row" { code { (c.cve) } }
                            td { (badge(row_status(c))) " " (c.status) }
                            td { (c.source) br; span.muted { (c.packages.join(", ")) } }
                            td.mono { (c.installed) }
                            td.mono { @match &c.fixed_version { Some(f) => (f), None => span.muted { "no fix yet" } } }
                            td { (c.urgency) }
                            td { time datetime=(c.first_seen) { (c.first_seen) } }
                            td.num { (c.age_days) " d" }
                            td { @if let Some(w) = &c.waived { (w.justification) br; span.muted { (w.approver) " · until " (w.expires.to_string()) } } }
                        } } }
                    }
                }
            }
        }
    }
}

/// Hosts per page of the fleet page's host list.
const PAGE: i64 = 100;

/// Rows of the fleet CVE table.
const FLEET: i64 = 50;

/// The fleet page's cursor: the host list starts after this agent id.
#[derive(serde::Deserialize)]
pub struct Params {
    after: Option<String>,
}

/// `GET /vulns`: the (CVE, source package) pairs open on the most active
/// hosts and a page of the matched hosts, read from the per host × CVE
/// state the ingest and the re-match maintain (`vuln_first_seen`): nothing
/// is re-matched here, and the host list is a cursor page of at most
/// 100 hosts, so the request's memory does not grow with the fleet.
/// Waivers are policy, not stored state: the counts here are of every
/// matching host, waived or not, and the page says so; each host page
/// shows its waived CVEs.
pub async fn page(
    State(app): State<Arc<App>>,
    s: Session,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Markup, ConsoleError> {
    let Query(p) = q.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let after = p.after.as_deref().filter(|a| !a.is_empty());
    let snapshot = app.store.vuln_snapshot_newest().await?;
    let fleet = app.store.vuln_fleet(FLEET).await?;
    let mut hosts = app.store.vuln_latest_inventories(after, PAGE + 1).await?;
    let more = hosts.len() as i64 > PAGE;
    hosts.truncate(PAGE as usize);
    let mut rows = Vec::with_capacity(hosts.len());
    for h in &hosts {
        let open = app.store.vuln_first_seen(Some(&h.agent_id), false).await?;
        let cves: BTreeSet<&str> = open.iter().map(|r| r.cve.as_str()).collect();
        rows.push((h, cves.len(), open.len()));
    }
    let body = html! {
        p { a href="/" { "← Fleet" } }
        h1 { "Vulnerabilities" }
        @match &snapshot {
            None => { p.muted { "No vulnerability feed snapshot imported (evident-collector feed import FILE)." } }
            Some(d) => { p.lead { "Snapshot in force " span.digest { (d) } } }
        }
        p.muted {
            "Counted from the state kept per host and CVE at ingest and re-match. "
            "Waivers are not applied on this page: a waived CVE counts as open here. "
            "Each host page shows which of its CVEs are waived, and which have a fix."
        }
        h2 { "CVEs affecting the most hosts" }
        @if fleet.is_empty() { p.muted { "No known CVE is open on an active host." } } @else {
            table {
                caption.muted { "At most " (FLEET) ", waived or not" }
                thead { tr {
                    th scope="col" { "CVE" } th scope="col" { "Source package" }
                    th scope="col" { "Active hosts matching" } th scope="col" { "First seen" }
                } }
                tbody { @for f in &fleet { tr id={ "cve-" (f.cve) "-" (f.source) } {
                    th scope="row" { code { (f.cve) } }
                    td { (f.source) }
                    td.num { (f.hosts) }
                    td { (ms_time(f.first_seen)) }
                } } }
            }
        }
        h2 { "Hosts" }
        @if rows.is_empty() { p.muted { "No active host has a packages inventory on record" @if after.is_some() { " after this point" } "." } } @else {
            table {
                caption.muted { "At most " (PAGE) " a page, by agent id; waived CVEs included" }
                thead { tr {
                    th scope="col" { "Host" } th scope="col" { "CVEs open" } th scope="col" { "(CVE, source package) pairs" }
                    th scope="col" { "Sequence" }
                } }
                tbody { @for (h, cves, pairs) in &rows { tr {
                    th scope="row" { a href={ "/hosts/" (enc(&h.agent_id)) "#vulns" } { (h.hostname) } }
                    td.num { (cves) } td.num { (pairs) } td.num { (h.statement.sequence) }
                } } }
            }
        }
        @if more { @if let Some(last) = rows.last() {
            p { a rel="next" href={ "/vulns?after=" (enc(&last.0.agent_id)) } { "Next hosts →" } }
        } }
        @if after.is_some() { p { a href="/vulns" { "← First hosts" } } }
    };
    Ok(layout::page("Vulnerabilities", &s, Nav::Vulns, body))
}

/// A Unix-ms time as an HTML `time` element (UTC, RFC 3339).
fn ms_time(ms: i64) -> Markup {
    let t = rfc3339(ms);
    html! { time datetime=(t) { (t) } }
}
