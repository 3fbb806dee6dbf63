//! Evaluations shared by content at ingest, keyed by
//! [`evident_core::policy::EvalKeys`] (identical evidence under identical
//! policies evaluates once, whatever the host), in two bounded LRUs:
//!
//! - `fresh`: complete evaluations (results bytes, summary, statuses for
//!   drift; tens of KB each), for content many hosts share;
//! - `stored`: for a key whose results are already committed, only their
//!   digest and summary (~150 B): enough to store an unchanged run, whose
//!   results equal its host's drift state, without evaluating again or
//!   reading a blob. A fleet larger than `fresh` (every host with its own
//!   package list) thus evaluates a host's content once, not every run.
//!
//! Neither is ever cleared wholesale: the least recently used key goes.
//! When the policies read `collected_day`, an evaluation is also kept under
//! its day-free key ([`Evals::alias`]): a run unchanged but for the day
//! evaluates only the day-reading rules and finds the rest there.

use crate::store::drift::DriftEval;
use evident_core::bundle::RecordedResults;
use evident_core::{sha256_digest, Digest};
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Rule status → count, as answered to the agent.
pub type Summary = BTreeMap<String, u64>;

/// Complete evaluations kept.
const FRESH_CAP: NonZeroUsize = match NonZeroUsize::new(8192) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};
/// Keys of stored results kept (~150 B each: ~40 MB at most).
const STORED_CAP: NonZeroUsize = match NonZeroUsize::new(262_144) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};
/// Distinct summaries interned (they repeat across hosts).
const SUMMARIES_CAP: usize = 4096;

/// One complete evaluation.
pub struct EvalEntry {
    /// sha256 of `bytes`.
    pub digest: Digest,
    /// The results as stored.
    pub bytes: Arc<Vec<u8>>,
    /// Rule status counts.
    pub summary: Arc<Summary>,
    /// Statuses for drift.
    pub drift: Arc<DriftEval>,
}

/// An evaluation at ingest: complete, or only the digest and summary of
/// results already stored.
#[derive(Clone)]
pub enum Eval {
    /// Evaluated (now or earlier): everything.
    Fresh(Arc<EvalEntry>),
    /// Results already stored under this digest.
    Stored {
        /// Their digest.
        digest: Digest,
        /// Their summary.
        summary: Arc<Summary>,
    },
}

impl Eval {
    /// The results digest.
    pub fn digest(&self) -> Digest {
        match self {
            Eval::Fresh(e) => e.digest,
            Eval::Stored { digest, .. } => *digest,
        }
    }

    /// The summary.
    pub fn summary(&self) -> &Summary {
        match self {
            Eval::Fresh(e) => &e.summary,
            Eval::Stored { summary, .. } => summary,
        }
    }
}

/// The two caches.
pub struct Evals {
    fresh: Mutex<lru::LruCache<Digest, Arc<EvalEntry>>>,
    stored: Mutex<lru::LruCache<Digest, (Digest, Arc<Summary>)>>,
    summaries: Mutex<HashMap<Summary, Arc<Summary>>>,
    /// Handed to the writer with [`Eval::Stored`]: no statuses (it derives
    /// them from the stored results if the host's drift state differs).
    deferred: Arc<DriftEval>,
}

impl Default for Evals {
    fn default() -> Self {
        Evals {
            fresh: Mutex::new(lru::LruCache::new(FRESH_CAP)),
            stored: Mutex::new(lru::LruCache::new(STORED_CAP)),
            summaries: Mutex::new(HashMap::new()),
            deferred: Arc::new(DriftEval {
                statuses: BTreeMap::new(),
                severities: BTreeMap::new(),
                remediation: BTreeMap::new(),
            }),
        }
    }
}

impl Evals {
    /// The evaluation cached under `key`, complete first.
    pub fn get(&self, key: &Digest) -> Option<Eval> {
        if let Some(e) = self.fresh.lock().ok().and_then(|mut m| m.get(key).cloned()) {
            return Some(Eval::Fresh(e));
        }
        let (digest, summary) = self
            .stored
            .lock()
            .ok()
            .and_then(|mut m| m.get(key).cloned())?;
        Some(Eval::Stored { digest, summary })
    }

    /// Build and keep the complete entry of `results` under `key`.
    pub fn evaluated(&self, key: Digest, results: RecordedResults) -> Arc<EvalEntry> {
        let bytes = serde_json::to_vec(&results).unwrap_or_default();
        let summary: Summary = results
            .summary
            .rules
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), u64::try_from(*v).unwrap_or(0)))
            .collect();
        let entry = Arc::new(EvalEntry {
            drift: Arc::new(DriftEval::from_results(&results)),
            digest: sha256_digest(&bytes),
            bytes: Arc::new(bytes),
            summary: self.intern(summary),
        });
        if let Ok(mut m) = self.fresh.lock() {
            m.put(key, entry.clone());
        }
        entry
    }

    /// Keep `eval` under a second key too (a day-free key, or the day's
    /// key of an evaluation found by its day-free key): complete entries
    /// as complete, stored ones as stored.
    pub fn alias(&self, key: Digest, eval: &Eval) {
        match eval {
            Eval::Fresh(e) => {
                if let Ok(mut m) = self.fresh.lock() {
                    m.put(key, e.clone());
                }
            }
            Eval::Stored { digest, summary } => {
                if let Ok(mut m) = self.stored.lock() {
                    m.put(key, (*digest, summary.clone()));
                }
            }
        }
    }

    /// `eval` was committed under `key`: later runs with this key need
    /// only its digest and summary.
    pub fn committed(&self, key: Digest, eval: &Eval) {
        let summary = match eval {
            Eval::Fresh(e) => e.summary.clone(),
            Eval::Stored { summary, .. } => summary.clone(),
        };
        if let Ok(mut m) = self.stored.lock() {
            m.put(key, (eval.digest(), summary));
        }
    }

    /// The drift statuses to hand the writer for `eval`.
    pub fn drift(&self, eval: &Eval) -> Arc<DriftEval> {
        match eval {
            Eval::Fresh(e) => e.drift.clone(),
            Eval::Stored { .. } => self.deferred.clone(),
        }
    }

    fn intern(&self, s: Summary) -> Arc<Summary> {
        let Ok(mut m) = self.summaries.lock() else {
            return Arc::new(s);
        };
        if let Some(a) = m.get(&s) {
            return a.clone();
        }
        if m.len() >= SUMMARIES_CAP {
            // Entries keep their own Arc: forgetting the table loses nothing.
            m.clear();
        }
        let a = Arc::new(s.clone());
        m.insert(s, a.clone());
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> RecordedResults {
        serde_json::from_value(serde_json::json!({
            "policies": [],
            "controls": [],
            "rules": [],
            "summary": {"controls": {}, "rules": {"pass": 3}}
        }))
        .unwrap()
    }

    #[test]
    fn a_committed_key_answers_with_digest_and_summary_only() {
        let evals = Evals::default();
        let key = Digest([1; 32]);
        assert!(evals.get(&key).is_none());
        let e = evals.evaluated(key, results());
        let eval = Eval::Fresh(e.clone());
        evals.committed(key, &eval);
        // Evict the complete entry: the key still answers, without statuses.
        for i in 0..FRESH_CAP.get() {
            let mut k = [2u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            evals.evaluated(Digest(k), results());
        }
        match evals.get(&key) {
            Some(Eval::Stored { digest, summary }) => {
                assert_eq!(digest, e.digest);
                assert_eq!(summary.get("pass"), Some(&3));
            }
            _ => panic!("expected the stored form"),
        }
        let stored = evals.get(&key).unwrap();
        assert!(evals.drift(&stored).statuses.is_empty());
        // Summaries are shared, not copied per key.
        assert!(Arc::ptr_eq(
            &evals.intern(Summary::from([("pass".into(), 3)])),
            &e.summary
        ));
    }
}
