//! Agents and enrollment tokens (`GET /admin`, admin role): approve or
//! revoke agents (`POST /admin/agents/{id}`), create an enrollment token
//! (`POST /admin/tokens`; its secret is shown once). Every POST is
//! CSRF-checked; other roles get 403.

use crate::console::auth::Session;
use crate::console::csrf;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, badge, enc, time, time_opt, Nav};
use crate::service::access::Scope;
use crate::service::{admin, App};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use evident_core::wire::AgentStatus;
use maud::{html, Markup};
use serde::Deserialize;
use std::sync::Arc;

/// Agents listed per page.
const AGENTS_SHOWN: i64 = 200;

/// Parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    after: Option<String>,
}

async fn render(
    app: &App,
    s: &Session,
    after: Option<&str>,
    minted: Option<&admin::MintedToken>,
) -> Result<Markup, ConsoleError> {
    let agents = app.store.list_agents(after, AGENTS_SHOWN).await?;
    let tokens = admin::tokens(app.store.as_ref()).await?;
    let api_tokens = app.store.list_api_tokens().await?;
    let next = (agents.len() as i64 == AGENTS_SHOWN)
        .then(|| agents.last().map(|a| a.id.clone()))
        .flatten();
    let status_form = |id: &str, to: &str, label: &str| {
        html! {
            form.inline method="post" action={ "/admin/agents/" (enc(id)) } {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="status" value=(to);
                button type="submit" { (label) }
            }
        }
    };
    Ok(layout::page(
        "Agents & tokens",
        s,
        Nav::Admin,
        html! {
            h1 { "Agents & enrollment tokens" }
            @if let Some(m) = minted {
                section.notice role="status" {
                    h2 { "Enrollment token " code { (m.id) } " created" }
                    p { "Copy it now; it is not shown again:" }
                    p.secret { (m.secret) }
                    p { "Expires: " (layout::time_opt(m.expires_at)) }
                }
            }
            h2 { "Create an enrollment token" }
            form.filters method="post" action="/admin/tokens" {
                input type="hidden" name="csrf" value=(s.csrf);
                label { "Valid for (hours)" input type="number" name="hours" min="1" max="8760" value="24"; }
                label { "Uses (empty: unlimited)" input type="number" name="uses" min="1" max="1000000"; }
                button.primary type="submit" { "Create token" }
            }
            h2 { "Agents" }
            table {
                caption.muted { (agents.len()) " agent(s) on this page, by id" }
                thead { tr { th scope="col" { "Host" } th scope="col" { "Agent" } th scope="col" { "Status" } th scope="col" { "Enrolled" } th scope="col" { "Last seen" } th scope="col" { "Action" } } }
                tbody { @for a in &agents { tr {
                    th scope="row" { a href={ "/hosts/" (enc(&a.id)) } { (a.hostname) } }
                    td.mono { (a.id) }
                    td { (badge(a.status.as_str())) }
                    td { (time(a.enrolled_at)) }
                    td { (time_opt(a.last_seen)) }
                    td {
                        @match a.status {
                            AgentStatus::Pending => { (status_form(&a.id, "active", "Approve")) " " (status_form(&a.id, "revoked", "Revoke")) }
                            AgentStatus::Active => { (status_form(&a.id, "revoked", "Revoke")) }
                            AgentStatus::Revoked => { (status_form(&a.id, "active", "Re-approve")) }
                        }
                    }
                } } }
            }
            @if let Some(n) = next { p.pager { a href={ "/admin?after=" (enc(&n)) } { "Next agents →" } } }
            h2 { "Enrollment tokens" }
            table {
                thead { tr { th scope="col" { "Id" } th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "Uses" } th scope="col" { "State" } } }
                tbody { @for t in &tokens { tr {
                    th scope="row" { code { (t.id) } } td { (time(t.created_at)) } td { (time_opt(t.expires_at)) }
                    td.num { (t.uses) @if let Some(m) = t.max_uses { " / " (m) } }
                    td { @if t.revoked { (badge("revoked")) } @else { (badge("active")) } }
                } } }
            }
            h2 { "API tokens" }
            p.muted { "Created and revoked on the collector host (" code { "evident-collector api-token" } ")." }
            table {
                thead { tr { th scope="col" { "Id" } th scope="col" { "Role" } th scope="col" { "Name" } th scope="col" { "Created" } th scope="col" { "State" } } }
                tbody { @for t in &api_tokens { tr {
                    th scope="row" { code { (t.id) } } td { (t.scope) } td { (t.name) } td { (time(t.created_at)) }
                    td { @if t.revoked { (badge("revoked")) } @else { (badge("active")) } }
                } } }
            }
        },
    ))
}

/// `GET /admin`.
pub async fn page(
    State(app): State<Arc<App>>,
    s: Session,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Markup, ConsoleError> {
    s.require(Scope::Admin)?;
    let Query(p) = q.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    render(&app, &s, super::nonempty(&p.after), None).await
}

/// The approve/revoke form.
#[derive(Debug, Default, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

/// `POST /admin/agents/{id}`.
pub async fn agent_status(
    State(app): State<Arc<App>>,
    s: Session,
    origins: csrf::Origins,
    Path(id): Path<String>,
    form: Result<Form<StatusForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    s.require(Scope::Admin)?;
    let form = form.map(|f| f.0).unwrap_or_default();
    csrf::check(&s.csrf, &origins, &form.csrf)?;
    let status = match form.status.as_str() {
        "active" => AgentStatus::Active,
        "revoked" => AgentStatus::Revoked,
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "status must be active or revoked, not {}",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    admin::set_agent_status(app.store.as_ref(), &id, status).await?;
    tracing::info!(agent = %id, status = status.as_str(), by = %s.actor, "agent status changed in the console");
    Ok(layout::see_other("/admin"))
}

/// The token form.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    uses: String,
}

/// `POST /admin/tokens`: the page again with the new secret shown once.
pub async fn create_token(
    State(app): State<Arc<App>>,
    s: Session,
    origins: csrf::Origins,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ConsoleError> {
    s.require(Scope::Admin)?;
    let form = form.map(|f| f.0).unwrap_or_default();
    csrf::check(&s.csrf, &origins, &form.csrf)?;
    let num = |v: &str, what: &str| -> Result<Option<i64>, ConsoleError> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(None);
        }
        v.parse::<i64>()
            .map(Some)
            .map_err(|_| ConsoleError::BadRequest(format!("{what} must be a whole number")))
    };
    let hours = num(&form.hours, "hours")?;
    let uses = num(&form.uses, "uses")?;
    let minted = admin::mint_token(
        app.store.as_ref(),
        app.clock.now_ms(),
        hours.map(|h| h.saturating_mul(3_600_000)),
        uses,
    )
    .await?;
    tracing::info!(token = %minted.id, by = %s.actor, "enrollment token created in the console");
    Ok(render(&app, &s, None, Some(&minted)).await?.into_response())
}
