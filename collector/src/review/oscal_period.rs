//! `export --format oscal` from the database without gathering a bundle:
//! the same document [`super::render::oscal::document`] renders from a
//! bundle of the period, with memory bounded whatever the period's size.
//! [`prepare`] walks the period's statement rows once (the document id over
//! every envelope digest in index order, the count and time span, each
//! agent's latest statement, the results cited), builds the report host by
//! host ([`super::period::build_report_hosts`]) and reads the policy files
//! the results cite; [`Prepared::write`] then writes the document, reading
//! the rows a second time for one observation per statement.

use super::error::ReviewError;
use super::gather::{cited_by, gather_attestations, policy_files, PolicyFiles};
use super::model::{self, ReportOptions};
use super::period::{self, Period};
use super::render::oscal::{self, DocId, OscalHost, Parts};
use crate::store::Store;
use evident_core::bundle::{envelope_path, IndexEntry, PolicyFileEntry};
use evident_core::report::{AttestationRef, Report};
use evident_core::Digest;
use evident_policies::Sources;
use std::collections::{BTreeMap, BTreeSet};

/// Rows read per query.
pub const PAGE: usize = 5000;

/// Everything but the statement observations.
pub struct Prepared {
    report: Report,
    hosts: BTreeMap<String, OscalHost>,
    covering: BTreeMap<String, BTreeSet<String>>,
    latest: BTreeMap<String, Digest>,
    attestations: Vec<AttestationRef>,
    policies: Vec<PolicyFileEntry>,
    first: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
    statements: usize,
    doc_id: String,
    /// The agents whose statements are cited, in index order.
    agents: Vec<String>,
    /// Policy files the results cite that the collector no longer has.
    pub missing_policies: Vec<String>,
}

fn ms_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// One page of `agent`'s statement rows after `after`, as index entries.
pub async fn rows(
    store: &dyn Store,
    agent: &str,
    period: &Period,
    after: Option<i64>,
) -> Result<Vec<IndexEntry>, ReviewError> {
    let rows = store
        .statement_rows(agent, after, period.since, period.until, PAGE as i64)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let sequence = u64::try_from(r.sequence).unwrap_or_default();
            IndexEntry {
                path: envelope_path(agent, sequence),
                agent: agent.to_string(),
                sequence,
                envelope: r.digest,
                collected_at: ms_time(r.collected_at),
                received_at: ms_time(r.received_at),
                results: r.results,
            }
        })
        .collect())
}

/// Walk the period once and build what the document says besides the
/// statement observations. `fallback_now`: the document's time when the
/// period holds no statement.
pub async fn prepare(
    store: &dyn Store,
    current: &Sources,
    period: &Period,
    fallback_now: chrono::DateTime<chrono::Utc>,
) -> Result<Prepared, ReviewError> {
    let mut doc_id = DocId::default();
    let mut statements = 0usize;
    let mut span: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> = None;
    let mut latest = BTreeMap::new();
    let mut results = BTreeSet::new();
    let mut agents = Vec::new();
    for a in period::agents(store, &period.hosts).await? {
        let mut after = None;
        loop {
            let page = rows(store, &a.id, period, after).await?;
            for e in &page {
                doc_id.add(&e.envelope);
                statements += 1;
                span = Some(match span {
                    None => (e.collected_at, e.collected_at),
                    Some((f, l)) => (f.min(e.collected_at), l.max(e.collected_at)),
                });
                latest.insert(a.id.clone(), e.envelope);
                results.insert(e.results);
            }
            after = page
                .last()
                .map(|e| i64::try_from(e.sequence).unwrap_or(i64::MAX));
            if page.len() < PAGE {
                break;
            }
        }
        agents.push(a.id);
    }
    let first = span.map(|s| s.0);
    let now = span.map_or(fallback_now, |s| s.1);
    let members = gather_attestations(store).await?;
    let attestations = model::attestations(&members, now);
    let (mut report, names) =
        period::build_report_hosts(store, period, &attestations, now, &ReportOptions::default())
            .await?;
    let covering = std::mem::take(&mut report.provenance.control_hosts)
        .into_iter()
        .map(|(c, agents)| (c, agents.into_iter().collect()))
        .collect();
    let PolicyFiles {
        entries, missing, ..
    } = policy_files(store, current, cited_by(store, &results).await?).await?;
    Ok(Prepared {
        report,
        hosts: names
            .into_iter()
            .map(|(agent, (hostname, interval))| (agent, OscalHost { hostname, interval }))
            .collect(),
        covering,
        latest,
        attestations,
        policies: entries,
        first,
        now,
        statements,
        doc_id: doc_id.finish(),
        agents,
        missing_policies: missing,
    })
}

impl Prepared {
    /// The agents whose statements [`Self::write`] reads, in index order.
    pub fn agents(&self) -> &[String] {
        &self.agents
    }

    /// Write the document to `out`; `statements` hands over the period's
    /// statements in index order (the caller reads them again with
    /// [`rows`], agent by agent in [`Self::agents`] order).
    pub fn write(
        &self,
        statements: &mut oscal::Statements<'_>,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        let parts = Parts {
            report: &self.report,
            hosts: self.hosts.clone(),
            covering: self.covering.clone(),
            latest: self.latest.clone(),
            attestations: &self.attestations,
            policies: &self.policies,
            first: self.first,
            now: self.now,
            statements: self.statements,
            doc_id: self.doc_id.clone(),
        };
        oscal::write(&parts, statements, out)
    }
}
