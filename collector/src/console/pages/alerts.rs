//! The alerts page (`GET /alerts`): open, acknowledged and resolved alerts
//! with each one's timeline (opened, acknowledged by whom and why,
//! resolved); operators and admins acknowledge an open alert with a reason
//! (`POST /alerts/{id}/ack`, CSRF-checked; auditors get 403).

use super::nonempty;
use crate::console::auth::Session;
use crate::console::csrf;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, badge, enc, time, Nav};
use crate::service::access::Scope;
use crate::service::{alerts, App};
use crate::store::drift::AlertQuery;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

/// Alerts read per page view (newest first).
const SHOWN: i64 = 500;

/// Parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    state: Option<String>,
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
    let list = app
        .store
        .list_alerts(&AlertQuery {
            open_only: matches!(state, "open" | "acknowledged"),
            limit: SHOWN,
            ..Default::default()
        })
        .await?;
    let list: Vec<_> = list
        .into_iter()
        .filter(|a| state == "all" || a.state == state)
        .collect();
    let can_ack = s.scope.allows(Scope::Operator);
    let tab = |st: &str, label: &str| {
        html! {
            li { @if st == state { a href={ "/alerts?state=" (st) } aria-current="page" { (label) } }
                 @else { a href={ "/alerts?state=" (st) } { (label) } } }
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
        @if !can_ack { p.muted { "Your role (" (s.scope.as_str()) ") is read-only: acknowledging needs the operator role." } }
        @if list.is_empty() { p.muted { "No " (state) " alerts." } } @else {
            table {
                caption.muted { (list.len()) " alert(s), newest first" }
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
