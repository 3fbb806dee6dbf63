//! The data the day-reading rules read, kept by blob: when a host's run
//! crosses midnight UTC and nothing else changed, ingest evaluates only the
//! rules that read `collected_day` (see [`super::evals`]), on only the
//! fields of only the probes they read. Those fields are projected from the
//! probe's blob ([`Evidence::project_blob`], to the fields of
//! [`EvalKeys::day_fields`]: a package inventory's last upgrade, not its
//! 600 names); keeping the projection of each
//! blob seen spares the run reading the blob back from the store (a package
//! inventory: ~70 KB, decompressed and hashed) and parsing it again.
//!
//! A projection is a pure function of the blob's bytes (named by their
//! digest) and the fields the loaded day-reading rules read of that probe,
//! which are fixed for the pipeline's life: a cached one is exactly what projecting
//! the blob would give. Bounded: least recently used evicted, and a
//! projection larger than [`MAX_BYTES`] is not kept.

use evident_core::evidence::EvidenceError;
use evident_core::policy::EvalKeys;
use evident_core::{Digest, Evidence};
use hashlink::LruCache;
use std::sync::Mutex;

/// Projections kept: two day-reading probes per host (packages, malware)
/// of a 65,536-host fleet, each a few hundred bytes (~30 MB at most).
const CAP: usize = 131_072;
/// A projection whose JSON is longer than this is not kept (the day rules
/// read a date or a short list; a rule reading a whole inventory's worth
/// of data is evaluated from the blob every time instead).
const MAX_BYTES: usize = 4096;

/// Projections by (blob digest, index of the probe among the day-reading
/// probes).
pub struct Projections {
    cache: Mutex<LruCache<(Digest, usize), serde_json::Value>>,
}

impl Default for Projections {
    fn default() -> Self {
        Projections {
            cache: Mutex::new(LruCache::new(CAP)),
        }
    }
}

/// The position of `probe` among the day-reading probes (None: not one).
fn day_index(keys: &EvalKeys, probe: &str) -> Option<usize> {
    keys.day_probes()?
        .binary_search_by(|p| p.as_str().cmp(probe))
        .ok()
}

impl Projections {
    /// The kept projection of `probe`'s blob `digest`.
    pub fn get(&self, keys: &EvalKeys, probe: &str, digest: &Digest) -> Option<serde_json::Value> {
        let i = day_index(keys, probe)?;
        self.cache.lock().ok()?.get(&(*digest, i)).cloned()
    }

    /// Whether the projection of `probe`'s blob `digest` is kept.
    pub fn contains(&self, keys: &EvalKeys, probe: &str, digest: &Digest) -> bool {
        let Some(i) = day_index(keys, probe) else {
            return false;
        };
        self.cache
            .lock()
            .is_ok_and(|c| c.contains_key(&(*digest, i)))
    }

    /// Project `probe`'s blob `bytes` (named `digest`) to the fields the
    /// day-reading rules read ([`EvalKeys::day_fields`]) and keep it (when
    /// `probe` is one they read and the projection is small).
    pub fn project(
        &self,
        keys: &EvalKeys,
        probe: &str,
        digest: &Digest,
        bytes: &[u8],
    ) -> Result<serde_json::Value, EvidenceError> {
        let value = Evidence::project_blob(probe, digest, bytes, keys.day_fields(probe))?;
        if let Some(i) = day_index(keys, probe) {
            if serde_json::to_vec(&value).is_ok_and(|v| v.len() <= MAX_BYTES) {
                if let Ok(mut c) = self.cache.lock() {
                    c.insert((*digest, i), value.clone());
                }
            }
        }
        Ok(value)
    }
}
