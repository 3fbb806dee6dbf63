//! Vulnerabilities in the console (issue #18): the CVE section of the host
//! page — the host's latest statement re-matched exactly as its results
//! were (`review::vulns`, the report's code: the snapshot its results cite,
//! the recorded first-seen times, the CVE waivers of the policy files they
//! cite) — and the fleet page `GET /vulns`, the CVEs open on the most
//! hosts and every matched host, from each active host's latest statement
//! the same way. Every value goes through maud, which escapes it.

use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, badge, enc, Nav};
use crate::review::vulns::{section_from_store, StoredHost};
use crate::service::App;
use axum::extract::State;
use evident_core::bundle::RecordedResults;
use evident_core::report::vulns::{CveRow, HostCves};
use evident_core::Digest;
use maud::{html, Markup};
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

/// Every active host's latest statement whose results were matched.
async fn matched_hosts(app: &App) -> Result<Vec<StoredHost>, ConsoleError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app.store.list_agents(after.as_deref(), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for a in &page {
            if a.status != evident_core::wire::AgentStatus::Active {
                continue;
            }
            let Some(row) = app
                .store
                .statements(&a.id, None, 1)
                .await?
                .into_iter()
                .next()
            else {
                continue;
            };
            let Some(bytes) = app.store.results(&row.results).await? else {
                continue;
            };
            let Ok(r) = serde_json::from_slice::<RecordedResults>(&bytes) else {
                continue;
            };
            if r.vulns.is_some() {
                out.push((
                    a.id.clone(),
                    a.hostname.clone(),
                    u64::try_from(row.sequence).unwrap_or_default(),
                    row.digest,
                    Arc::new(r),
                ));
            }
        }
        if page.len() < 500 {
            break;
        }
    }
    Ok(out)
}

/// `GET /vulns`: the CVEs open on the most hosts, then every matched host
/// with its counts — each active host's latest statement re-matched as the
/// report does (one snapshot in memory at a time).
pub async fn page(State(app): State<Arc<App>>, s: Session) -> Result<Markup, ConsoleError> {
    let hosts = matched_hosts(&app).await?;
    let section = section_from_store(&*app.store, hosts)
        .await
        .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    let body = html! {
        p { a href="/" { "← Fleet" } }
        h1 { "Vulnerabilities" }
        @match &section {
            None => { p.muted { "No active host's latest results were matched against a vulnerability feed snapshot (evident-collector feed import FILE)." } }
            Some(v) => {
                @for snap in &v.snapshots {
                    p.lead {
                        "Snapshot " span.digest { (snap.digest) } " (" (snap.format) ", " (snap.source) ", imported " (snap.imported_at) ")"
                    }
                }
                section.cards aria-label="CVE counts" {
                    div.card { span.n { (v.hosts.len()) } "hosts matched" }
                    div.card { span.n { (v.hosts.iter().filter(|h| h.actionable > 0).count()) } "with a fixable CVE open" }
                    div.card { span.n { (v.distinct_open) } "distinct CVEs open" }
                }
                h2 { "CVEs affecting the most hosts" }
                @if v.fleet.is_empty() { p.muted { "No known CVE affects an active host." } } @else {
                    table {
                        caption.muted { "Open before waived, at most 50" }
                        thead { tr {
                            th scope="col" { "CVE" } th scope="col" { "Source packages" } th scope="col" { "Hosts open" }
                            th scope="col" { "Hosts waived" } th scope="col" { "Urgency" } th scope="col" { "Fix" } th scope="col" { "First seen" }
                        } }
                        tbody { @for f in &v.fleet { tr id={ "cve-" (f.cve) } {
                            th scope="row" { code { (f.cve) } }
                            td { (f.sources.join(", ")) }
                            td.num { (f.open_hosts) }
                            td.num { (f.waived_hosts) }
                            td { (f.urgency) }
                            td { @if f.fix_available { (badge("fail")) " available" } @else { span.muted { "none yet" } } }
                            td { time datetime=(f.first_seen) { (f.first_seen) } }
                        } } }
                    }
                }
                h2 { "Hosts" }
                table {
                    thead { tr {
                        th scope="col" { "Host" } th scope="col" { "Release" } th scope="col" { "Open with a fix" }
                        th scope="col" { "Open without" } th scope="col" { "Waived" } th scope="col" { "Sequence" }
                    } }
                    tbody { @for h in &v.hosts { tr {
                        th scope="row" { a href={ "/hosts/" (enc(&h.agent)) "#vulns" } { (h.hostname) } }
                        td { @if h.release.is_empty() { span.muted { "not matched" } } @else { code { (h.release) } } }
                        td.num { (h.actionable) } td.num { (h.unfixed) } td.num { (h.waived) } td.num { (h.sequence) }
                    } } }
                }
            }
        }
    };
    Ok(layout::page("Vulnerabilities", &s, Nav::Vulns, body))
}
