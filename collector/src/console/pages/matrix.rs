//! The rule × host matrix of one policy (`GET /matrix`): active hosts as
//! rows (a page of [`PAGE`]), the policy's rules as columns, each cell the
//! host's latest status of the rule (from `host_status`). Sortable by host
//! name or by one rule (failing hosts first, then by agent id; hosts with
//! no status of the rule last); a failing cell's title holds the failure
//! reason with the values the check found, and links to the host page's
//! rule row. Pages are read from a cursor in index order
//! (`store::console_pages`), never by sorting or skipping every host.

use super::nonempty;
use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, enc, Nav};
use crate::service::App;
use crate::store::console_pages::{MatrixKey, MatrixOrder};
use axum::extract::{Query, State};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Hosts per page.
pub const PAGE: i64 = 50;

/// Parameters: the policy, the order (`sort` = `host` or a rule id, `dir`),
/// and the page's cursor: the key (`ar` rank, `ah` host name, `ai` agent
/// id) the page starts after, or ends before with `back=1`; `n` is the
/// position of the page's first row, for display only.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    policy: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    ar: Option<i64>,
    ah: Option<String>,
    ai: Option<String>,
    back: Option<u8>,
    n: Option<i64>,
}

/// `GET /matrix`.
pub async fn page(
    State(app): State<Arc<App>>,
    s: Session,
    q: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Markup, ConsoleError> {
    let Query(p) = q.map_err(|e| ConsoleError::BadRequest(e.body_text()))?;
    let policies = app.policies.policies();
    let policy = match nonempty(&p.policy) {
        Some(id) => policies
            .iter()
            .find(|x| x.id == id)
            .ok_or_else(|| ConsoleError::NotFound(format!("no policy {id}")))?,
        None => policies
            .first()
            .ok_or_else(|| ConsoleError::NotFound("no policy is loaded".into()))?,
    };
    let sort_rule = nonempty(&p.sort)
        .filter(|r| *r != "host")
        .map(|r| {
            policy
                .rules
                .iter()
                .find(|x| x.id == r)
                .map(|x| x.id.clone())
                .ok_or_else(|| {
                    ConsoleError::BadRequest(format!("no rule {r} in policy {}", policy.id))
                })
        })
        .transpose()?;
    let desc = nonempty(&p.dir) == Some("desc");
    let total = app.store.active_hosts().await?;
    let subject = sort_rule.as_ref().map(|r| format!("rule:{r}"));
    let order = match &subject {
        Some(subject) => MatrixOrder::Rule { subject },
        None => MatrixOrder::Host { desc },
    };
    let cursor = match (&p.ai, p.ar) {
        (Some(id), rank) if !id.is_empty() => Some(MatrixKey {
            rank: rank.unwrap_or(0),
            hostname: p.ah.clone().unwrap_or_default(),
            agent_id: id.clone(),
        }),
        _ => None,
    };
    let back = p.back == Some(1);
    // One more than a page, to know whether there is a page beyond.
    let mut keys = app
        .store
        .matrix_page(order, cursor.as_ref().map(|k| (k, back)), PAGE + 1)
        .await?;
    let more = keys.len() as i64 > PAGE;
    if more {
        if back {
            keys.remove(0);
        } else {
            keys.truncate(PAGE as usize);
        }
    }
    // Previous and next exist: beyond the page in the direction read when
    // there was one more row; behind it whenever it was reached by a cursor.
    let (has_prev, has_next) = if back {
        (more, true)
    } else {
        (cursor.is_some(), more)
    };
    let first_n = p.n.unwrap_or(1).max(1);
    let hosts: Vec<(String, String)> = keys
        .iter()
        .map(|k| (k.agent_id.clone(), k.hostname.clone()))
        .collect();
    let ids: Vec<String> = hosts.iter().map(|(id, _)| id.clone()).collect();
    let mut cells: HashMap<(String, String), String> = HashMap::new();
    for (agent, subject, status) in app.store.host_statuses(&ids, "rule:").await? {
        if let Some(rule) = subject.strip_prefix("rule:") {
            cells.insert((agent, rule.to_string()), status);
        }
    }
    // Failure reasons (the values each check found) from each host's
    // latest results, only for hosts of this page with a non-passing cell.
    let mut reasons: HashMap<(String, String), String> = HashMap::new();
    for (id, _) in &hosts {
        let bad = policy.rules.iter().any(|r| {
            cells
                .get(&(id.clone(), r.id.clone()))
                .is_some_and(|st| layout::rank(st) <= 4)
        });
        if !bad {
            continue;
        }
        let Some(digest) = app.store.agent(id).await?.and_then(|a| a.latest_results) else {
            continue;
        };
        let results = app.query.results(&app, &digest).await?;
        for r in &results.rules {
            if let Some(m) = &r.message {
                reasons.insert((id.clone(), r.id.clone()), m.clone());
            }
        }
    }
    let mut totals: BTreeMap<&str, usize> = BTreeMap::new();
    for st in cells.values() {
        *totals.entry(st.as_str()).or_default() += 1;
    }
    let base = |sort: &str, dir: &str| {
        format!(
            "/matrix?policy={}&sort={}&dir={}",
            enc(&policy.id),
            enc(sort),
            dir
        )
    };
    let at = |k: &MatrixKey, back: bool, n: i64| {
        format!(
            "&ar={}&ah={}&ai={}{}&n={}",
            k.rank,
            enc(&k.hostname),
            enc(&k.agent_id),
            if back { "&back=1" } else { "" },
            n.max(1)
        )
    };
    let cur_sort = sort_rule.clone().unwrap_or_else(|| "host".into());
    let cur_dir = if desc { "desc" } else { "asc" };
    let body = html! {
        h1 { "Rules × hosts" }
        p.lead { "Latest status of every rule of a policy on every active host. Hover a cell for the reason and the values found; follow it for the host's evidence." }
        form.filters method="get" action="/matrix" {
            label { "Policy"
                select name="policy" {
                    @for x in policies { option value=(x.id) selected[x.id == policy.id] { (x.id) " — " (x.title) } }
                }
            }
            button.primary type="submit" { "Show" }
        }
        p.muted {
            "Legend: "
            @for st in ["fail", "error", "no-evidence", "waived", "not-applicable", "pass"] { (layout::badge(st)) " " }
        }
        nav.pager aria-label="Pages" {
            @if has_prev || cursor.is_some() { a href=(base(&cur_sort, cur_dir)) { "⇤ First" } }
            @if has_prev { @if let Some(k) = keys.first() {
                a href={ (base(&cur_sort, cur_dir)) (at(k, true, first_n - PAGE)) } rel="prev" { "← Previous" }
            } }
            span {
                @if hosts.is_empty() { "No hosts" } @else {
                    "Hosts " (first_n) "–" (first_n + hosts.len() as i64 - 1)
                }
                " of " (total) " active"
            }
            @if has_next { @if let Some(k) = keys.last() {
                a href={ (base(&cur_sort, cur_dir)) (at(k, false, first_n + hosts.len() as i64)) } rel="next" { "Next →" }
            } }
        }
        div.scroll {
            table.matrix {
                caption.vh { "Rule status per host for policy " (policy.id) }
                thead {
                    tr {
                        th scope="col" {
                            a href=(base("host", if sort_rule.is_none() && !desc { "desc" } else { "asc" })) { "Host" }
                            @if sort_rule.is_none() { span aria-hidden="true" { @if desc { " ▼" } @else { " ▲" } } }
                        }
                        @for r in &policy.rules {
                            th.rule scope="col" aria-sort=[(sort_rule.as_deref() == Some(r.id.as_str())).then_some("other")] {
                                a href=(base(&r.id, "asc")) title={ (r.title) " — sort failing hosts first" } { (r.id) }
                            }
                        }
                    }
                }
                tbody {
                    @for (id, name) in &hosts {
                        tr {
                            th scope="row" { a href={ "/hosts/" (enc(id)) } { (name) } }
                            @for r in &policy.rules {
                                @let st = cells.get(&(id.clone(), r.id.clone())).map(String::as_str).unwrap_or("no-evidence");
                                @let reason = reasons.get(&(id.clone(), r.id.clone()));
                                td class=(format!("cell-{}", layout::class(st).trim_start_matches("st st-"))) {
                                    a href={ "/hosts/" (enc(id)) "#rule-" (enc(&r.id)) }
                                      title={ (r.id) ": " (st) @if let Some(m) = reason { " — " (m) } } {
                                        span aria-hidden="true" { (layout::symbol(st)) }
                                        span.vh { (st) @if let Some(m) = reason { " — " (m) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        p.muted { "Cells on this page: " @for (st, n) in &totals { (n) " " (st) "; " } }
    };
    Ok(layout::page("Rules × hosts", &s, Nav::Matrix, body))
}
