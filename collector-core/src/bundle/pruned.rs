//! What retention pruned, as a bundle carries it: the recorded runs with
//! their policy (`pruned/runs.json`) and, per host, a chain stub for each
//! pruned statement in the export's scope (`pruned/stubs/<agent>.json`:
//! sequence, envelope digest, the previous digest it named). Between two
//! kept statements whose sequences are not adjacent, a complete run of
//! stubs whose digests link the first to the second proves continuity;
//! `verify` then names what was pruned instead of failing a gap. A stub
//! run that does not link is a chain failure. Bundles without these
//! members verify as before.

use super::report::Report;
use crate::digest::Digest;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The member listing the retention runs the bundle's stubs cite.
pub const PRUNED_RUNS_PATH: &str = "pruned/runs.json";

/// Member path of a host's chain stubs.
pub fn stubs_path(agent: &str) -> String {
    format!("pruned/stubs/{agent}.json")
}

/// A recorded retention run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrunedRun {
    /// Run id (stubs cite it).
    pub id: i64,
    /// When the run started.
    pub at: DateTime<Utc>,
    /// Days everything was kept.
    pub keep_days: i64,
    /// Statements collected before this were considered.
    pub cutoff: DateTime<Utc>,
    /// The policy, in words.
    pub policy: String,
}

/// What a pruned statement left: enough of the chain to link across it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStubEntry {
    /// Its sequence.
    pub sequence: u64,
    /// sha256 of its exact envelope bytes.
    pub envelope: Digest,
    /// The previous envelope digest it named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Digest>,
    /// When it was collected.
    pub collected_at: DateTime<Utc>,
    /// The run that pruned it.
    pub run: i64,
}

/// The pruned members of a bundle, read.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    /// Runs by id.
    pub runs: BTreeMap<i64, PrunedRun>,
    /// Agent → sequence → stub.
    pub stubs: BTreeMap<String, BTreeMap<u64, ChainStubEntry>>,
}

/// How the stubs fill a sequence gap between two kept statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bridge {
    /// No stub in the gap: an ordinary gap.
    None,
    /// Every sequence has a stub and the digests link both ends.
    Linked,
    /// Stubs are there but do not prove continuity (why).
    Broken(String),
}

/// Read the pruned members (absent: nothing pruned); unreadable ones fail.
pub fn read_pruned(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) -> Pruned {
    let mut out = Pruned::default();
    if let Some(bytes) = members.get(PRUNED_RUNS_PATH) {
        match serde_json::from_slice::<Vec<PrunedRun>>(bytes) {
            Ok(runs) => out.runs = runs.into_iter().map(|r| (r.id, r)).collect(),
            Err(e) => r.fail(
                "member",
                PRUNED_RUNS_PATH,
                format!("not valid JSON of the expected shape: {e}"),
            ),
        }
    }
    for (path, bytes) in members.range("pruned/stubs/".to_string()..) {
        let Some(name) = path.strip_prefix("pruned/stubs/") else {
            break;
        };
        let Some(agent) = name.strip_suffix(".json") else {
            r.fail("member", path, "not a chain stub file (<agent>.json)");
            continue;
        };
        match serde_json::from_slice::<Vec<ChainStubEntry>>(bytes) {
            Ok(list) => {
                out.stubs.insert(
                    agent.to_string(),
                    list.into_iter().map(|s| (s.sequence, s)).collect(),
                );
            }
            Err(e) => r.fail(
                "member",
                path,
                format!("not valid JSON of the expected shape: {e}"),
            ),
        }
    }
    out
}

impl Pruned {
    /// Whether the stubs fill `from..=to` of `agent`, linking `start` (the
    /// envelope digest at `from - 1`) to `end_previous` (the previous digest
    /// the statement at `to + 1` names; None: that statement is unreadable).
    pub fn bridge(
        &self,
        agent: &str,
        from: u64,
        to: u64,
        start: Digest,
        end_previous: Option<Option<Digest>>,
    ) -> Bridge {
        let Some(stubs) = self.stubs.get(agent) else {
            return Bridge::None;
        };
        let inside: Vec<&ChainStubEntry> = stubs.range(from..=to).map(|(_, s)| s).collect();
        if inside.is_empty() {
            return Bridge::None;
        }
        let want = to.saturating_sub(from).saturating_add(1);
        if inside.len() as u64 != want {
            return Bridge::Broken(format!(
                "{} of the {want} sequences {from}..={to} have a chain stub; the others are missing",
                inside.len()
            ));
        }
        let mut expected = start;
        for s in &inside {
            if s.previous != Some(expected) {
                return Bridge::Broken(format!(
                    "the stub of pruned sequence {} names previous {} but sequence {} is {expected}",
                    s.sequence,
                    s.previous
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "(none)".into()),
                    s.sequence.saturating_sub(1)
                ));
            }
            if !self.runs.contains_key(&s.run) {
                return Bridge::Broken(format!(
                    "the stub of pruned sequence {} cites retention run {}, which {PRUNED_RUNS_PATH} does not list",
                    s.sequence, s.run
                ));
            }
            expected = s.envelope;
        }
        match end_previous {
            Some(p) if p != Some(expected) => Bridge::Broken(format!(
                "sequence {} names previous {} but the stub of pruned sequence {to} is {expected}",
                to.saturating_add(1),
                p.map(|d| d.to_string()).unwrap_or_else(|| "(none)".into()),
            )),
            _ => Bridge::Linked,
        }
    }
}

/// Pruned ranges found linked on one host, for one warning that names them.
#[derive(Debug, Default)]
pub(super) struct PrunedTally {
    statements: u64,
    ranges: u64,
    first: Option<u64>,
    last: u64,
    runs: BTreeSet<i64>,
}

impl PrunedTally {
    pub(super) fn add(&mut self, pruned: &Pruned, agent: &str, from: u64, to: u64) {
        self.statements += to.saturating_sub(from).saturating_add(1);
        self.ranges += 1;
        self.first = Some(self.first.map_or(from, |f| f.min(from)));
        self.last = self.last.max(to);
        if let Some(stubs) = pruned.stubs.get(agent) {
            self.runs.extend(stubs.range(from..=to).map(|(_, s)| s.run));
        }
    }

    /// The warning naming what was pruned on `host`, under which policy.
    pub(super) fn report(&self, pruned: &Pruned, host: &str, r: &mut Report) {
        let Some(first) = self.first else { return };
        let runs: Vec<String> = self
            .runs
            .iter()
            .filter_map(|id| pruned.runs.get(id))
            .map(|run| {
                format!(
                    "run {} on {} (statements collected before {}): {}",
                    run.id,
                    run.at.format("%Y-%m-%d"),
                    run.cutoff.format("%Y-%m-%d"),
                    run.policy
                )
            })
            .collect();
        r.warn(
            "pruned",
            host,
            format!(
                "{} statements between sequences {first} and {} ({} ranges) were pruned by retention and are present as chain stubs that link the kept statements; retention {}",
                self.statements,
                self.last,
                self.ranges,
                runs.join("; ")
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;

    fn stub(seq: u64, previous: Digest) -> ChainStubEntry {
        ChainStubEntry {
            sequence: seq,
            envelope: sha256_digest(format!("env {seq}").as_bytes()),
            previous: Some(previous),
            collected_at: DateTime::<Utc>::default(),
            run: 1,
        }
    }

    fn pruned_2_to_4() -> (Pruned, Digest, Digest) {
        let start = sha256_digest(b"env 1");
        let s2 = stub(2, start);
        let s3 = stub(3, s2.envelope);
        let s4 = stub(4, s3.envelope);
        let end = s4.envelope;
        let mut p = Pruned::default();
        p.runs.insert(
            1,
            PrunedRun {
                id: 1,
                at: DateTime::<Utc>::default(),
                keep_days: 400,
                cutoff: DateTime::<Utc>::default(),
                policy: "keep 400 days".into(),
            },
        );
        p.stubs.insert(
            "a".into(),
            [s2, s3, s4].into_iter().map(|s| (s.sequence, s)).collect(),
        );
        (p, start, end)
    }

    #[test]
    fn linked_stubs_bridge_a_gap_and_broken_ones_are_named() {
        let (p, start, end) = pruned_2_to_4();
        assert_eq!(p.bridge("a", 2, 4, start, Some(Some(end))), Bridge::Linked);
        // Another host, or a range without stubs: an ordinary gap.
        assert_eq!(p.bridge("b", 2, 4, start, Some(Some(end))), Bridge::None);
        assert_eq!(p.bridge("a", 6, 7, start, Some(Some(end))), Bridge::None);
        // The kept statement after the range names another previous.
        let other = sha256_digest(b"other");
        assert!(matches!(
            p.bridge("a", 2, 4, start, Some(Some(other))),
            Bridge::Broken(m) if m.contains("sequence 5 names previous")
        ));
        // The first stub does not follow the kept statement before it.
        assert!(matches!(
            p.bridge("a", 2, 4, other, Some(Some(end))),
            Bridge::Broken(m) if m.contains("pruned sequence 2")
        ));
        // A stub missing from the range.
        assert!(matches!(
            p.bridge("a", 2, 5, start, Some(Some(end))),
            Bridge::Broken(m) if m.contains("3 of the 4 sequences")
        ));
        // A stub citing a run the bundle does not list.
        let mut q = p.clone();
        q.runs.clear();
        assert!(matches!(
            q.bridge("a", 2, 4, start, Some(Some(end))),
            Bridge::Broken(m) if m.contains("retention run 1")
        ));
    }

    #[test]
    fn the_warning_names_count_range_and_policy() {
        let (p, _, _) = pruned_2_to_4();
        let mut t = PrunedTally::default();
        t.add(&p, "a", 2, 4);
        let mut r = Report::default();
        t.report(&p, "host web-1", &mut r);
        let f = &r.findings[0];
        assert_eq!(f.kind, "pruned");
        assert!(f.message.contains("3 statements between sequences 2 and 4"));
        assert!(f.message.contains("keep 400 days"));
        assert_eq!(r.failures().count(), 0);
    }
}
