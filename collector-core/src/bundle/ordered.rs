//! Verification of a v2 bundle whose members come in manifest order, with
//! memory independent of the statement count: the reader checks the
//! members against the manifest pieces one piece at a time, then hands
//! each envelope with its index entry to [`Ordered`], which keeps of the
//! chain only the current agent's last statement. The report is the one
//! [`super::verify_pinned`] gives for the same members in memory.
//!
//! What [`Ordered`] needs (a reader checks it before, with [`in_order`],
//! and otherwise verifies with [`super::Verifier`]): every member listed by
//! the manifest pieces, in their order, with the listed digest and size;
//! the index pieces parse; the index entries name the `envelopes/` members
//! in the order the bundle holds them, each once; each agent's entries come
//! together, agents in ascending id order, sequences strictly ascending.

use super::alerts::{check_alerts_with, cited_statements};
use super::chain::{check_envelope, check_pair, host_of, key_owners, Link};
use super::manifest::{check_agents, check_root, Agents};
use super::model::{BlobSource, IndexEntry, ManifestEntry, FORMAT};
use super::parallel::{Parallel, Serial};
use super::pruned::{read_pruned, Pruned, PrunedTally};
use super::report::Report;
use super::results::{ResultItem, ResultsChecker};
use super::verify::{conclude, pin, Pins};
use crate::digest::Digest;
use crate::evidence::Statement;
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap};

/// Whether `next` may follow `prev` in the index of a bundle [`Ordered`]
/// verifies: same agent with a higher sequence, or a higher agent id.
pub fn in_order(prev: Option<&IndexEntry>, next: &IndexEntry) -> bool {
    match prev {
        None => true,
        Some(p) => match p.agent.as_str().cmp(next.agent.as_str()) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => p.sequence < next.sequence,
            std::cmp::Ordering::Greater => false,
        },
    }
}

/// The agent whose statements are being checked.
struct Run {
    agent: String,
    host: String,
    last: IndexEntry,
    tally: PrunedTally,
}

/// Streaming verification of a v2 bundle in manifest order (see the module
/// documentation): [`Ordered::start`], [`Ordered::members_checked`] and
/// [`Ordered::blob_name`] as the reader checks the member list, then
/// [`Ordered::apply`] for each index entry in order with its envelope
/// checked by [`Ordered::checker`], then [`Ordered::finish_pinned`].
pub struct Ordered<'a> {
    members: &'a BTreeMap<String, Vec<u8>>,
    blobs: &'a dyn BlobSource,
    r: Report,
    chains: Report,
    later: Report,
    pruned_read: Report,
    pruned: Pruned,
    today: NaiveDate,
    agents: Agents,
    key_owner: HashMap<String, String>,
    results: Option<ResultsChecker<'a>>,
    cited: HashMap<(String, u64), Option<Digest>>,
    run: Option<Run>,
    pieces: Vec<ManifestEntry>,
}

/// The checks of one envelope needing only shared access (`Sync`).
pub struct EntryChecker<'v> {
    blobs: &'v dyn BlobSource,
    agents: &'v Agents,
    key_owner: &'v HashMap<String, String>,
}

/// An envelope checked by [`EntryChecker::check`]: findings and the
/// statement when it verified.
pub struct CheckedEntry {
    found: Report,
    statement: Option<Statement>,
}

impl EntryChecker<'_> {
    /// Check the envelope `bytes` (sha256 `actual`) filed as `e`: digest,
    /// strict signature by its agent's key, statement, blobs named.
    pub fn check(&self, e: &IndexEntry, bytes: &[u8], actual: Digest) -> CheckedEntry {
        let subject = format!("{} sequence {}", host_of(self.agents, &e.agent), e.sequence);
        let mut found = Report::default();
        let statement = check_envelope(
            bytes,
            actual,
            e,
            self.agents,
            self.key_owner,
            &subject,
            self.blobs,
            &mut found,
        );
        CheckedEntry { found, statement }
    }
}

impl<'a> Ordered<'a> {
    /// Check the signed root and the agents. `None` when the root does not
    /// verify or is not of format v2: the reader then verifies with
    /// [`super::Verifier`], which reports why. `members` holds every member
    /// but envelopes, blobs and the manifest and index pieces.
    pub fn start(
        members: &'a BTreeMap<String, Vec<u8>>,
        blobs: &'a dyn BlobSource,
    ) -> Option<Ordered<'a>> {
        let mut r = Report::default();
        let manifest = check_root(members, &mut r)?;
        if manifest.format != FORMAT || r.failures().next().is_some() {
            return None;
        }
        r.collector_key_id = Some(manifest.collector_key_id.clone());
        r.created_at = Some(manifest.created_at);
        r.scope = Some(manifest.scope);
        let agents = check_agents(members, &mut r);
        let mut later = Report::default();
        let results = ResultsChecker::new(members, &mut later);
        let mut pruned_read = Report::default();
        let pruned = read_pruned(members, &mut pruned_read);
        Some(Ordered {
            members,
            blobs,
            today: manifest.created_at.date_naive(),
            key_owner: key_owners(&agents),
            agents,
            r,
            chains: Report::default(),
            later,
            pruned_read,
            pruned,
            results,
            cited: cited_statements(members)
                .into_iter()
                .map(|k| (k, None))
                .collect(),
            run: None,
            pieces: manifest.members,
        })
    }

    /// The manifest pieces the signed root lists, in its order.
    pub fn pieces(&self) -> &[ManifestEntry] {
        &self.pieces
    }

    /// `n` members were found as the manifest lists them.
    pub fn members_checked(&mut self, n: usize) {
        self.r.checked.members += n;
    }

    /// Check a `blobs/` member's name against its digest.
    pub fn blob_name(&mut self, path: &str, actual: &Digest) {
        let name = path.strip_prefix("blobs/").unwrap_or(path);
        if actual.hex() != name {
            self.r.fail(
                "blob",
                path,
                format!("blob does not match its digest sha256:{name} (content is {actual})"),
            );
        } else {
            self.r.checked.blobs += 1;
        }
    }

    /// The envelope checks that may run on several threads.
    pub fn checker(&self) -> EntryChecker<'_> {
        EntryChecker {
            blobs: self.blobs,
            agents: &self.agents,
            key_owner: &self.key_owner,
        }
    }

    /// Record the next index entry (in index order) with its checked
    /// envelope: findings, chain, re-evaluation, alert citations.
    pub fn apply(&mut self, e: IndexEntry, checked: CheckedEntry) {
        self.apply_batch(vec![(e, checked)], &Serial);
    }

    /// Record the next index entries (in index order) with their checked
    /// envelopes, as [`Ordered::apply`] one at a time would: the
    /// re-evaluations run on `par`, the rest in order.
    pub fn apply_batch(&mut self, batch: Vec<(IndexEntry, CheckedEntry)>, par: &impl Parallel) {
        let mut evaluate: Vec<(IndexEntry, String, Statement)> = Vec::new();
        for (e, checked) in batch {
            self.r.findings.extend(checked.found.findings);
            self.r.checked.envelopes += checked.found.checked.envelopes;
            let link = checked.statement.as_ref().map(Link::of);
            if !self.cited.is_empty() {
                if let Some(slot) = self.cited.get_mut(&(e.agent.clone(), e.sequence)) {
                    *slot = Some(e.envelope);
                }
            }
            if let (Some(st), Some(_)) = (checked.statement, self.results.as_ref()) {
                evaluate.push((e.clone(), host_of(&self.agents, &e.agent), st));
            }
            self.chain(e, link);
        }
        if let Some(rc) = self.results.as_mut() {
            let items: Vec<ResultItem<'_>> = evaluate
                .iter()
                .map(|(e, host, st)| ResultItem { e, host, st })
                .collect();
            rc.check_batch(self.members, self.blobs, &items, &mut self.later, par);
        }
    }

    /// The chain check of `e` against the agent's previous statement.
    fn chain(&mut self, e: IndexEntry, link: Option<Link>) {
        let same = self.run.as_ref().is_some_and(|run| run.agent == e.agent);
        match self.run.as_mut() {
            Some(run) if same => {
                check_pair(
                    &run.host,
                    &run.last,
                    &e,
                    link.as_ref(),
                    &self.pruned,
                    &mut run.tally,
                    &mut self.chains,
                );
                run.last = e;
            }
            _ => {
                self.end_run();
                self.run = Some(Run {
                    host: host_of(&self.agents, &e.agent),
                    agent: e.agent.clone(),
                    last: e,
                    tally: PrunedTally::default(),
                });
            }
        }
    }

    fn end_run(&mut self) {
        if let Some(run) = self.run.take() {
            run.tally.report(&self.pruned, &run.host, &mut self.chains);
        }
    }

    /// The report, held to `pins`.
    pub fn finish_pinned(mut self, pins: &Pins) -> Report {
        self.end_run();
        let Ordered {
            members,
            blobs,
            mut r,
            chains,
            later,
            pruned_read,
            pruned,
            today,
            agents,
            cited,
            results,
            ..
        } = self;
        r.findings.extend(pruned_read.findings);
        r.findings.extend(chains.findings);
        let enrolled = agents.keys().map(String::as_str).collect();
        r.checked.alerts = check_alerts_with(
            members,
            &|agent, seq| cited.get(&(agent.to_string(), seq)).copied().flatten(),
            &pruned,
            &enrolled,
            &mut r,
        );
        let r = conclude(r, later, results, members, blobs, &pruned, today);
        pin(r, members, pins)
    }
}
