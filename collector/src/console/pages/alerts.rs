//! The alerts page (`GET /alerts`): open, acknowledged and resolved alerts,
//! filtered by kind and host (filters kept across pages), a page of
//! [`PAGE`] at a time from an id cursor, counted per state from the
//! indexes (`store::console_pages`), with each one's timeline (opened, acknowledged by whom and why,
//! resolved); operators and admins acknowledge an open alert with a reason
//! (`POST /alerts/{id}/ack`, CSRF-checked; auditors get 403).

use super::nonempty;
use crate::console::auth::Session;
use crate::console::csrf;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, badge, enc, time, Nav};
use crate::service::access::Scope;
use crate::service::{alerts, App};
use crate::store::console_pages::{AlertCursor, AlertFilter};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

/// Alerts per page (newest first).
pub const PAGE: i64 = 100;

/// Parameters: the filters (state, kind, host: agent id or host name),
/// kept across pages, and the page's cursor (`older` / `newer` than an
/// alert id).
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    state: Option<String>,
    kind: Option<String>,
    host: Option<String>,
    older: Option<i64>,
    newer: Option<i64>,
    acked: Option<i64>,
}

/// `GET /alerts`.
pub async fn page(
    State(app): State<Arc<App>>,
    s: Session,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Markup, ConsoleError> {
    let Query(p) = q.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let state = nonempty(&p.state).unwrap_or("open");
    if !["open", "acknowledged", "resolved", "all"].contains(&state) {
        return Err(ConsoleError::BadRequest(format!(
            "unknown state {state} (open, acknowledged, resolved or all)"
        )));
    }
    let kind = nonempty(&p.kind).map(str::to_string);
    let host = nonempty(&p.host).map(str::to_string);
    let filter = AlertFilter {
        state: (state != "all").then(|| state.to_string()),
        kind: kind.clone(),
        host: host.clone(),
    };
    let cursor = match (p.older, p.newer) {
        (Some(id), _) => Some(AlertCursor::Older(id)),
        (None, Some(id)) => Some(AlertCursor::Newer(id)),
        (None, None) => None,
    };
    let mut list = app.store.alerts_page(&filter, cursor, PAGE + 1).await?;
    let more = list.len() as i64 > PAGE;
    if more {
        match cursor {
            Some(AlertCursor::Newer(_)) => {
                list.remove(0);
            }
            _ => list.truncate(PAGE as usize),
        }
    }
    let (has_newer, has_older) = match cursor {
        None => (false, more),
        Some(AlertCursor::Older(_)) => (true, more),
        Some(AlertCursor::Newer(_)) => (more, true),
    };
    // Counts per state under the same kind and host filters (index counts).
    let mut counts = Vec::new();
    for st in ["open", "acknowledged", "resolved"] {
        let f = AlertFilter {
            state: Some(st.to_string()),
            ..filter.clone()
        };
        counts.push((st, app.store.alerts_count(&f).await?));
    }
    let all: i64 = counts.iter().map(|(_, n)| n).sum();
    let count_of = |st: &str| {
        if st == "all" {
            all
        } else {
            counts.iter().find(|(s, _)| *s == st).map_or(0, |(_, n)| *n)
        }
    };
    let shown = count_of(state);
    let kinds = app.store.alert_kinds().await?;
    // Links keep the filters; `extra` adds a cursor.
    let link = |st: &str, extra: &str| {
        let mut u = format!("/alerts?state={st}");
        if let Some(k) = &kind {
            u.push_str(&format!("&kind={}", enc(k)));
        }
        if let Some(h) = &host {
            u.push_str(&format!("&host={}", enc(h)));
        }
        u.push_str(extra);
        u
    };
    let can_ack = s.scope.allows(Scope::Operator);
    let tab = |st: &str, label: &str| {
        html! {
            li { @if st == state { a href=(link(st, "")) aria-current="page" { (label) " (" (count_of(st)) ")" } }
                 @else { a href=(link(st, "")) { (label) " (" (count_of(st)) ")" } } }
        }
    };
    let pager = html! {
        nav.pager aria-label="Pages" {
            @if has_newer { a href=(link(state, "")) { "⇤ Newest" } }
            @if has_newer { @if let Some(a) = list.first() {
                a href=(link(state, &format!("&newer={}", a.id))) rel="prev" { "← Newer" }
            } }
            span { (list.len()) " of " (shown) " " @if state != "all" { (state) " " } "alert(s), newest first" }
            @if has_older { @if let Some(a) = list.last() {
                a href=(link(state, &format!("&older={}", a.id))) rel="next" { "Older →" }
            } }
        }
    };
    let body = html! {
        h1 { "Alerts" }
        @if let Some(id) = p.acked { p.notice role="status" { "Alert " (id) " acknowledged." } }
        nav.tabs aria-label="Alert state" {
            ul {
                (tab("open", "Open")) (tab("acknowledged", "Acknowledged")) (tab("resolved", "Resolved")) (tab("all", "All"))
            }
        }
        form.filters method="get" action="/alerts" aria-label="Filters" {
            input type="hidden" name="state" value=(state);
            label { "Kind"
                select name="kind" {
                    option value="" { "all" }
                    @for k in &kinds { option value=(k) selected[kind.as_deref() == Some(k.as_str())] { (k) } }
                }
            }
            label { "Host (name or agent id)"
                input type="text" name="host" value=(host.as_deref().unwrap_or("")) maxlength="256";
            }
            button.primary type="submit" { "Apply" }
            a href={ "/alerts?state=" (state) } { "Clear" }
        }
        @if !can_ack { p.muted { "Your role (" (s.scope.as_str()) ") is read-only: acknowledging needs the operator role." } }
        (pager)
        @if list.is_empty() { p.muted { "No " @if state != "all" { (state) " " } "alerts here." } } @else {
            table {
                caption.vh { "Alerts, newest first" }
                thead { tr {
                    th scope="col" { "Id" } th scope="col" { "State" } th scope="col" { "Host" } th scope="col" { "Kind / subject" }
                    th scope="col" { "Severity" } th scope="col" { "Detail" } th scope="col" { "Timeline" }
                    @if can_ack { th scope="col" { "Acknowledge" } }
                } }
                tbody {
                    @for a in &list {
                        tr id={ "alert-" (a.id) } {
                            th scope="row" { (a.id) }
                            td { (badge(&a.state)) @if a.flapping { " " span.st.st-warn { "flapping" } } @if a.baseline { " " span.st.st-neutral { "baseline" } } }
                            td { a href={ "/hosts/" (enc(&a.agent_id)) } { (if a.hostname.is_empty() { &a.agent_id } else { &a.hostname }) } }
                            td { (a.kind) br; code { (a.subject) } }
                            td { (a.severity) }
                            td {
                                @if a.detail.chars().count() > 200 {
                                    details { summary { (a.detail.chars().take(160).collect::<String>()) "…" } (a.detail) }
                                } @else { (a.detail) }
                            }
                            td {
                                ol.timeline {
                                    li { "opened " (time(a.opened_at)) }
                                    @if let Some(at) = a.ack_at {
                                        li { "acknowledged " (time(at)) " by " (a.ack_by.as_deref().unwrap_or("?")) ": " q { (a.ack_reason.as_deref().unwrap_or("")) } }
                                    }
                                    @if let Some(at) = a.resolved_at { li { "resolved " (time(at)) } }
                                }
                            }
                            @if can_ack {
                                td {
                                    @if a.state == "open" {
                                        form.ack method="post" action={ "/alerts/" (a.id) "/ack" } {
                                            input type="hidden" name="csrf" value=(s.csrf);
                                            label for={ "reason-" (a.id) } { "Reason" }
                                            input id={ "reason-" (a.id) } type="text" name="reason" required maxlength="2000";
                                            button type="submit" { "Acknowledge" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (pager)
        }
    };
    Ok(layout::page("Alerts", &s, Nav::Alerts, body))
}

/// The acknowledgement form.
#[derive(Debug, Deserialize)]
pub struct Ack {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /alerts/{id}/ack` (operator).
pub async fn ack(
    State(app): State<Arc<App>>,
    s: Session,
    origins: csrf::Origins,
    Path(id): Path<i64>,
    form: Result<Form<Ack>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    s.require(Scope::Operator)?;
    let form = form.map(|f| f.0).unwrap_or(Ack {
        csrf: String::new(),
        reason: String::new(),
    });
    csrf::check(&s.csrf, &origins, &form.csrf)?;
    alerts::ack(&app, id, &s.actor, form.reason.trim()).await?;
    Ok(layout::see_other(&format!(
        "/alerts?state=acknowledged&acked={id}"
    )))
}
