//! The host page (`GET /hosts/{id}`): facts, the latest statement
//! (sequence, collected-at, digest, signature re-verified against the
//! agent's key, chain: the previous digest and any integrity event), every
//! rule's latest result, every probe's data, transitions, alerts and the
//! host's key history (agents enrolled with the same host name or machine
//! id). Reads the latest statement and its blobs only.

use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, badge, enc, time, time_opt, Nav};
use crate::service::{query, App};
use axum::extract::{Path, State};
use evident_core::evidence::{Parsed, Statement, PAYLOAD_TYPE};
use evident_core::{Digest, Envelope};
use maud::{html, Markup};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most bytes of one probe's data shown on the page.
const PROBE_SHOWN: usize = 64 * 1024;

struct Latest {
    digest: Digest,
    sequence: i64,
    collected_at: i64,
    received_at: i64,
    signature: Result<(), String>,
    statement: Option<Statement>,
    blobs: BTreeMap<Digest, Vec<u8>>,
    problem: Option<String>,
}

async fn latest(
    app: &App,
    digest: &Digest,
    public_key: &[u8],
) -> Result<Option<Latest>, ConsoleError> {
    let Some((row, bytes)) = app.store.statement(digest).await? else {
        return Ok(None);
    };
    let mut out = Latest {
        digest: row.digest,
        sequence: row.sequence,
        collected_at: row.collected_at,
        received_at: row.received_at,
        signature: Err("not checked".into()),
        statement: None,
        blobs: BTreeMap::new(),
        problem: None,
    };
    let env = match Envelope::from_json(&bytes) {
        Ok(e) => e,
        Err(e) => {
            out.problem = Some(format!("stored envelope unreadable: {e}"));
            return Ok(Some(out));
        }
    };
    out.signature = match <[u8; 32]>::try_from(public_key)
        .ok()
        .and_then(|k| ed25519_dalek::VerifyingKey::from_bytes(&k).ok())
    {
        Some(key) => env
            .verify(&key, PAYLOAD_TYPE)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => Err("the agent's stored key is not an Ed25519 key".into()),
    };
    let parsed = match Parsed::from_bytes(&env.payload) {
        Ok(p) => p,
        Err(e) => {
            out.problem = Some(format!("statement unreadable: {e}"));
            return Ok(Some(out));
        }
    };
    let content = app.store.blobs(&parsed.direct_blobs()).await?;
    let st = Statement::from_bytes_with(&env.payload, |d| content.get(d).map(Vec::as_slice));
    match st {
        Ok(st) => {
            out.blobs = app.store.blobs(&st.blob_digests()).await?;
            out.statement = Some(st);
        }
        Err(e) => out.problem = Some(format!("statement could not be resolved: {e}")),
    }
    Ok(Some(out))
}

fn pretty(bytes: &[u8]) -> (String, bool) {
    let text = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
    if text.len() > PROBE_SHOWN {
        let mut cut = PROBE_SHOWN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        (text[..cut].to_string(), true)
    } else {
        (text, false)
    }
}

/// `GET /hosts/{id}`.
pub async fn page(
    State(app): State<Arc<App>>,
    s: Session,
    Path(id): Path<String>,
) -> Result<Markup, ConsoleError> {
    let mut detail = query::host(&app, &id).await?;
    // Worst first, then rule order.
    detail.rules.sort_by_key(|r| layout::rank(&r.status));
    let host = &detail.host;
    let latest = match &host.last_digest {
        Some(d) => latest(&app, d, &host.public_key).await?,
        None => None,
    };
    let cves = match &host.last_digest {
        Some(d) => super::vulns::host_rows(&app, &host.id, &host.hostname, d).await?,
        None => None,
    };
    let events = app.store.integrity_events(Some(&host.id), None, 50).await?;
    let transitions = app.store.transitions(Some(&host.id), None, 50).await?;
    let alerts = app
        .store
        .list_alerts(&crate::store::drift::AlertQuery {
            host: Some(host.id.clone()),
            limit: 50,
            ..Default::default()
        })
        .await?;
    let facts = latest
        .as_ref()
        .and_then(|l| l.statement.as_ref())
        .map(|s| &s.predicate);
    let keys = app
        .store
        .host_matches(
            &host.hostname,
            facts.and_then(|p| p.host.machine_id.as_deref()),
        )
        .await?;
    let body = html! {
        p { a href="/" { "← Fleet" } }
        h1 { "Host " (host.hostname) }
        p.lead {
            "Agent " code { (host.id) } " · " (badge(host.status.as_str()))
            @if detail.stale { " " (badge("stale")) " silent beyond its schedule: passing results are shown as stale" }
        }
        section.cards aria-label="Rule results" {
            @for (st, n) in &detail.summary { div.card { span.n { (n) } (badge(st)) } }
        }
        h2 { "Facts" }
        dl.facts {
            dt { "Host name" } dd { (host.hostname) }
            @if let Some(p) = facts {
                dt { "OS" } dd { (p.host.os_id) " " (p.host.os_version) " (" (p.host.os_family) ")" }
                dt { "Kernel" } dd { (p.host.kernel.as_deref().unwrap_or("unknown")) }
                dt { "Architecture" } dd { (p.host.arch) }
                dt { "Machine id" } dd.mono { (p.host.machine_id.as_deref().unwrap_or("not reported")) }
                dt { "Agent version" } dd { (p.agent.version) }
            }
            dt { "Key id" } dd.mono { (host.key_id) }
            dt { "Enrolled" } dd { (time(host.enrolled_at)) }
            dt { "Last seen" } dd { (time_opt(host.last_seen)) }
        }
        h2 { "Latest statement" }
        @match &latest {
            None => { p.muted { "No statement yet." } }
            Some(l) => {
                dl.facts {
                    dt { "Sequence" } dd { (l.sequence) }
                    dt { "Collected" } dd { (time(l.collected_at)) }
                    dt { "Received" } dd { (time(l.received_at)) }
                    dt { "Envelope digest" } dd.digest { (l.digest.to_string()) }
                    dt { "Signature" } dd {
                        @match &l.signature {
                            Ok(()) => { (badge("pass")) " verified now against the agent's Ed25519 key" }
                            Err(e) => { (badge("fail")) " " (e) }
                        }
                    }
                    dt { "Chain" } dd {
                        @if events.is_empty() { (badge("pass")) " intact: no integrity event recorded for this host" }
                        @else { (badge("fail")) " " (events.len()) " integrity event(s), listed below" }
                        @if let Some(p) = facts {
                            br;
                            span.muted { "previous: " }
                            span.digest { @match &p.previous { Some(d) => (d.to_string()), None => "none (first statement)" } }
                            @if let Some(g) = &p.gap { br; span.muted { "declared gap: " (format!("{g:?}")) } }
                        }
                    }
                }
                @if let Some(p) = &l.problem { p.error-detail { (p) } }
            }
        }
        h2 { "Rules" }
        @if detail.rules.is_empty() { p.muted { "No evaluated results yet." } } @else {
            table {
                thead { tr { th scope="col" { "Rule" } th scope="col" { "Status" } th scope="col" { "Severity" } th scope="col" { "Controls" } th scope="col" { "Reason / values found" } } }
                tbody {
                    @for r in &detail.rules {
                        tr id={ "rule-" (r.id) } {
                            th scope="row" { code { (r.id) } }
                            td { (badge(&r.status)) }
                            td { (r.severity) }
                            td { @for c in &r.controls { a href={ "/controls/" (enc(c)) } { (c) } " " } }
                            td.reason { @if let Some(m) = &r.message { (m) } }
                        }
                    }
                }
            }
        }
        (super::vulns::host_section(cves.as_ref()))
        h2 { "Probe data" }
        @if let Some(l) = &latest {
            @if let Some(st) = &l.statement {
                @for p in &st.predicate.probes {
                    details id={ "probe-" (p.id) } {
                        summary { code { (p.id) } " v" (p.version) " · " (format!("{:?}", p.status).to_lowercase())
                            @if let Some(r) = &p.reason { " — " (r) } }
                        @if let Some(d) = &p.digest {
                            p.digest { (d.to_string()) }
                            @match l.blobs.get(d) {
                                Some(b) => {
                                    @let (text, cut) = pretty(b);
                                    pre.probe { (text) }
                                    @if cut { p.muted { "Shown up to 64 KiB; the full blob is in an evidence export." } }
                                }
                                None => { p.error-detail { "blob missing from the store" } }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Alerts" }
        @if alerts.is_empty() { p.muted { "None." } } @else {
            table {
                thead { tr { th scope="col" { "Id" } th scope="col" { "State" } th scope="col" { "Kind" } th scope="col" { "Subject" } th scope="col" { "Severity" } th scope="col" { "Opened" } th scope="col" { "Detail" } } }
                tbody { @for a in &alerts { tr {
                    th scope="row" { a href={ "/alerts?state=all#alert-" (a.id) } { (a.id) } }
                    td { (badge(&a.state)) } td { (a.kind) } td.mono { (a.subject) } td { (a.severity) }
                    td { (time(a.opened_at)) } td { (a.detail) }
                } } }
            }
        }
        h2 { "Transitions" }
        @if transitions.is_empty() { p.muted { "No change recorded." } } @else {
            table {
                caption.muted { "Newest first, at most 50" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Subject" } th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Sequence" } } }
                tbody { @for t in &transitions { tr {
                    td { (time(t.at)) } th scope="row" { code { (t.subject) } }
                    td { @if let Some(f) = &t.from { (badge(f)) } } td { (badge(&t.to)) } td.num { (t.sequence) }
                } } }
            }
        }
        @if !events.is_empty() {
            h2 { "Integrity events" }
            table {
                thead { tr { th scope="col" { "When" } th scope="col" { "Kind" } th scope="col" { "Sequence" } th scope="col" { "Detail" } } }
                tbody { @for e in &events { tr { td { (time(e.at)) } th scope="row" { (e.kind) } td.num { (e.sequence) } td { (e.detail) } } } }
            }
        }
        h2 { "Key history" }
        table {
            caption.muted { "Agents enrolled with this host name or machine id" }
            thead { tr { th scope="col" { "Agent" } th scope="col" { "Key id" } th scope="col" { "Status" } th scope="col" { "Host name" } } }
            tbody { @for k in &keys { tr {
                th scope="row" { a href={ "/hosts/" (enc(&k.id)) } { (k.id) } @if k.id == host.id { " (this agent)" } }
                td.mono { (k.key_id) } td { (badge(&k.status)) } td { (k.hostname) }
            } } }
        }
    };
    Ok(layout::page(
        &format!("Host {}", host.hostname),
        &s,
        Nav::Host,
        body,
    ))
}
