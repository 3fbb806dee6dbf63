//! Evidence review (`GET /review`): the recorded attestations and attesters,
//! and the forms of the downloads (`download.rs`: the report and the
//! Statement of Applicability as of a date, the comparison of two dates, a
//! signed evidence bundle of a period — the same bytes the CLI writes).

use crate::console::auth::Session;
use crate::console::error::ConsoleError;
use crate::console::layout::{self, time, Nav};
use crate::service::App;
use axum::extract::State;
use maud::{html, Markup};
use std::sync::Arc;

/// `GET /review`.
pub async fn page(State(app): State<Arc<App>>, s: Session) -> Result<Markup, ConsoleError> {
    let attestations = app.store.attestations().await?;
    let attesters = app.store.attesters().await?;
    let today = crate::console::trend::day(app.clock.now_ms());
    let week_ago = crate::console::trend::day(app.clock.now_ms() - 7 * 86_400_000);
    let name_of = |key: &str| {
        attesters
            .iter()
            .find(|a| a.key_id == key)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| key.to_string())
    };
    let formats = html! {
        option value="html" { "HTML" } option value="markdown" { "Markdown" } option value="json" { "JSON" } option value="csv" { "CSV" }
    };
    let body = html! {
        h1 { "Evidence review" }
        p.lead { "Reports, the Statement of Applicability and evidence bundles, rendered by the same code as "
            code { "evident-collector report" } ", " code { "soa" } " and " code { "export" } "." }
        h2 { "Report as of a date" }
        form.filters method="get" action="/review/download" {
            input type="hidden" name="kind" value="report";
            label { "As of (end of day, UTC)" input type="date" name="as_of" value=(today) required; }
            label { "Format" select name="format" { (formats) } }
            button.primary type="submit" { "Download report" }
        }
        h2 { "Statement of Applicability" }
        form.filters method="get" action="/review/download" {
            input type="hidden" name="kind" value="soa";
            label { "As of (end of day, UTC)" input type="date" name="as_of" value=(today) required; }
            label { "Format" select name="format" { (formats) } }
            button.primary type="submit" { "Download SoA" }
        }
        h2 { "Compare two dates" }
        form.filters method="get" action="/review/download" {
            input type="hidden" name="kind" value="compare";
            label { "From" input type="date" name="from" value=(week_ago) required; }
            label { "To" input type="date" name="to" value=(today) required; }
            label { "Format" select name="format" { option value="html" { "HTML" } option value="markdown" { "Markdown" } option value="json" { "JSON" } } }
            button.primary type="submit" { "Download comparison" }
        }
        h2 { "Evidence bundle" }
        form.filters method="get" action="/review/download" {
            input type="hidden" name="kind" value="bundle";
            label { "Since" input type="date" name="from" value=(week_ago) required; }
            label { "Until (end of day)" input type="date" name="to" value=(today) required; }
            button.primary type="submit" { "Download bundle" }
        }
        p.muted { "A bundle is signed by the collector's key; check it offline with "
            code { "evident-collector verify FILE --trust KEY" } "." }
        p.muted { "Reports and the SoA read the evidence of the retention window up to the as-of date, host by host, as "
            code { "evident-collector report --as-of DATE" } " does; they are the same bytes." }
        h2 { "Attestations" }
        @if attestations.is_empty() { p.muted { "None recorded (" code { "evident-collector attest" } ")." } } @else {
            table {
                thead { tr { th scope="col" { "Control" } th scope="col" { "Attester" } th scope="col" { "Recorded" } th scope="col" { "Expires" } th scope="col" { "Digest" } } }
                tbody { @for a in &attestations { tr {
                    th scope="row" { a href={ "/controls/" (layout::enc(&a.control)) } { (a.control) } }
                    td { (name_of(&a.attester_key_id)) } td { (time(a.created_at)) } td { (a.expires) } td.digest { (a.digest.to_string()) }
                } } }
            }
        }
        h2 { "Attesters" }
        @if attesters.is_empty() { p.muted { "None registered." } } @else {
            table {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Key id" } th scope="col" { "Registered" } th scope="col" { "Revoked" } } }
                tbody { @for a in &attesters { tr {
                    th scope="row" { (a.name) } td.mono { (a.key_id) } td { (time(a.registered_at)) } td { (layout::time_opt(a.revoked_at)) }
                } } }
            }
        }
    };
    Ok(layout::page("Evidence review", &s, Nav::Review, body))
}
