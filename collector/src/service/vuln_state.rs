//! The vulnerability snapshot in force at ingest and the per-host CVE state
//! (issue #18): which snapshot is in force (re-read from the store at most
//! every [`SNAPSHOT_TTL`]), matches cached by (packages blob digest,
//! snapshot digest), first-seen times from the host's signed history, and
//! the [`VulnBasis`] plus `vulns` entry each evaluation is computed with
//! (through `evident_core::vuln::basis`, the function offline `verify`
//! calls too). The background re-match of a new snapshot lives in
//! `vuln_rematch.rs`.
//!
//! First seen (docs/vulnerabilities.md): a (CVE, source package) open on a
//! host keeps the first-seen statement of its row while it stays open; a
//! newly open one is dated to the first statement of the current continuous
//! installation of the affected source version found in the host's
//! inventory history (so a CVE a new snapshot reveals on a package
//! installed months ago is months old, not new), else to this statement.
//! Once it no longer matches it is resolved; a later reinstall starts anew.

use crate::store::vuln::{FirstSeenRow, InventoryRow, NewFirstSeen, StatementRef, VulnUpdate};
use crate::store::{Store, StoreError};
use evident_core::evidence::{ProbeData, ProbeStatus, Statement};
use evident_core::vuln::basis::{rfc3339_ms, vulns_entry_from_match, FirstSeenRef, VulnBasis};
use evident_core::vuln::{installed_sources, match_host, HostMatch, Inventory, SnapshotIndex};
use evident_core::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How long the snapshot in force is trusted before the store is asked
/// again (a newly imported feed counts within this time).
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(5);
/// Matches kept (by inventory and snapshot).
const MATCH_CAP: NonZeroUsize = match NonZeroUsize::new(4096) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};
/// Parsed inventories' source sets kept (first-seen walks).
const SOURCES_CAP: NonZeroUsize = match NonZeroUsize::new(1024) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};
/// How far back (inventory changes) a first-seen walk looks.
const HISTORY_ROWS: i64 = 256;

/// A snapshot loaded from the store.
pub struct Loaded {
    /// Its digest.
    pub digest: Digest,
    /// The index.
    pub index: SnapshotIndex,
    /// The basis every evaluation against it starts from (no first-seen).
    pub basis: VulnBasis,
}

type MatchResult = Arc<Result<HostMatch, String>>;
/// The (source package, source version) pairs an inventory holds.
type SourceSet = Arc<BTreeSet<(String, String)>>;

/// The state shared by ingest and the re-match loop.
pub struct VulnState {
    current: RwLock<Option<Arc<Loaded>>>,
    checked: Mutex<Option<Instant>>,
    loading: tokio::sync::Mutex<()>,
    matches: Mutex<lru::LruCache<(Digest, Digest), MatchResult>>,
    sources: Mutex<lru::LruCache<Digest, SourceSet>>,
}

impl Default for VulnState {
    fn default() -> Self {
        VulnState {
            current: RwLock::new(None),
            checked: Mutex::new(None),
            loading: tokio::sync::Mutex::new(()),
            matches: Mutex::new(lru::LruCache::new(MATCH_CAP)),
            sources: Mutex::new(lru::LruCache::new(SOURCES_CAP)),
        }
    }
}

/// Why the vulnerability state could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum VulnStateError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored snapshot is unreadable.
    #[error(transparent)]
    Snapshot(#[from] super::vuln::VulnError),
}

/// The `vulns` entry of one statement and what it was computed from.
pub struct Derived {
    /// The `vulns` probe entry evaluation reads.
    pub entry: ProbeData,
    /// Recorded in the results.
    pub basis: VulnBasis,
}

/// What ingest adds for one statement: the derived evidence (None: no
/// snapshot in force) and the state change (None: no inventory).
#[derive(Default)]
pub struct IngestVulns {
    /// The `vulns` entry and its basis.
    pub derived: Option<Derived>,
    /// Applied by the ingest transaction: the inventory history always
    /// (so first-seen walks reach statements ingested before a snapshot),
    /// first seen / resolved when a snapshot is in force.
    pub update: Option<VulnUpdate>,
}

fn lock_get<K: std::hash::Hash + Eq, V: Clone>(m: &Mutex<lru::LruCache<K, V>>, k: &K) -> Option<V> {
    m.lock().ok().and_then(|mut c| c.get(k).cloned())
}

fn lock_put<K: std::hash::Hash + Eq, V>(m: &Mutex<lru::LruCache<K, V>>, k: K, v: V) {
    if let Ok(mut c) = m.lock() {
        c.put(k, v);
    }
}

/// The packages blob digest of a statement (ok entries only), or why none.
pub fn packages_digest(st: &Statement) -> Result<Digest, String> {
    match st.predicate.probes.iter().find(|p| p.id == "packages") {
        None => Err("the packages probe was not collected".into()),
        Some(p) if p.status != ProbeStatus::Ok => Err(format!(
            "the packages probe did not report an inventory ({})",
            p.reason.as_deref().unwrap_or("no reason given")
        )),
        Some(p) => p
            .digest
            .ok_or_else(|| "the packages probe reported no data".to_string()),
    }
}

fn parse_inventory(bytes: &[u8]) -> Result<Inventory, String> {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .map_err(|e| format!("packages data: {e}"))
        .and_then(|v| Inventory::from_probe(&v))
}

impl VulnState {
    /// The snapshot in force (None: none imported), re-read from the store
    /// at most every [`SNAPSHOT_TTL`].
    pub async fn current(&self, store: &dyn Store) -> Result<Option<Arc<Loaded>>, VulnStateError> {
        let fresh = self
            .checked
            .lock()
            .ok()
            .and_then(|c| *c)
            .is_some_and(|t| t.elapsed() < SNAPSHOT_TTL);
        if fresh {
            return Ok(self.current.read().ok().and_then(|c| c.clone()));
        }
        let _guard = self.loading.lock().await;
        // Another task may have refreshed it while this one waited.
        if let Some(t) = self.checked.lock().ok().and_then(|c| *c) {
            if t.elapsed() < SNAPSHOT_TTL {
                return Ok(self.current.read().ok().and_then(|c| c.clone()));
            }
        }
        let newest = store.vuln_snapshot_newest().await?;
        let have = self.current.read().ok().and_then(|c| c.clone());
        let loaded = match (newest, have) {
            (None, _) => None,
            (Some(d), Some(h)) if h.digest.to_string() == d => Some(h),
            (Some(d), _) => match super::vuln::load_snapshot(store, Some(&d)).await? {
                None => None,
                Some((info, index)) => match info.digest.parse::<Digest>() {
                    Ok(digest) => {
                        let imported = chrono::DateTime::from_timestamp_millis(info.imported_at)
                            .unwrap_or_default();
                        Some(Arc::new(Loaded {
                            digest,
                            index,
                            basis: VulnBasis {
                                snapshot: digest,
                                source: info.source,
                                format: info.format,
                                imported_at: rfc3339_ms(imported),
                                first_seen: Vec::new(),
                            },
                        }))
                    }
                    Err(e) => {
                        tracing::warn!(snapshot = %info.digest, error = %e, "snapshot digest is not a sha256 digest; not used");
                        None
                    }
                },
            },
        };
        if let Ok(mut c) = self.current.write() {
            c.clone_from(&loaded);
        }
        if let Ok(mut c) = self.checked.lock() {
            *c = Some(Instant::now());
        }
        Ok(loaded)
    }

    /// The match of the inventory in blob `packages` against `snap`,
    /// cached; `blob` is its bytes when the caller has them.
    pub async fn host_match(
        &self,
        store: &dyn Store,
        snap: &Loaded,
        packages: Digest,
        blob: Option<&[u8]>,
    ) -> Result<MatchResult, VulnStateError> {
        let key = (packages, snap.digest);
        if let Some(m) = lock_get(&self.matches, &key) {
            return Ok(m);
        }
        let inv = match blob {
            Some(b) => parse_inventory(b),
            None => match store.blobs(&[packages]).await?.get(&packages) {
                Some(b) => parse_inventory(b),
                None => Err("the packages blob is not stored".into()),
            },
        };
        let m = Arc::new(inv.map(|inv| match_host(&inv, &snap.index)));
        lock_put(&self.matches, key, m.clone());
        Ok(m)
    }

    /// Matches of many inventories at once (the re-match): cached ones, the
    /// rest read in one query and matched on a blocking thread; with how
    /// many were matched now.
    pub async fn host_matches(
        &self,
        store: &dyn Store,
        snap: &Arc<Loaded>,
        packages: &[Digest],
    ) -> Result<(HashMap<Digest, MatchResult>, usize), VulnStateError> {
        let mut out = HashMap::new();
        let mut todo = Vec::new();
        for d in packages {
            match lock_get(&self.matches, &(*d, snap.digest)) {
                Some(m) => {
                    out.insert(*d, m);
                }
                None => todo.push(*d),
            }
        }
        todo.sort();
        todo.dedup();
        if todo.is_empty() {
            return Ok((out, 0));
        }
        let blobs = store.blobs(&todo).await?;
        let snap2 = snap.clone();
        let computed = tokio::task::spawn_blocking(move || {
            todo.into_iter()
                .map(|d| {
                    let m = match blobs.get(&d) {
                        Some(b) => parse_inventory(b).map(|inv| match_host(&inv, &snap2.index)),
                        None => Err("the packages blob is not stored".to_string()),
                    };
                    (d, Arc::new(m))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let n = computed.len();
        for (d, m) in computed {
            lock_put(&self.matches, (d, snap.digest), m.clone());
            out.insert(d, m);
        }
        Ok((out, n))
    }

    async fn sources_of(
        &self,
        store: &dyn Store,
        packages: Digest,
    ) -> Result<SourceSet, VulnStateError> {
        if let Some(s) = lock_get(&self.sources, &packages) {
            return Ok(s);
        }
        let set = match store.blobs(&[packages]).await?.get(&packages) {
            Some(b) => parse_inventory(b)
                .map(|inv| installed_sources(&inv))
                .unwrap_or_default(),
            None => BTreeSet::new(),
        };
        let set = Arc::new(set);
        lock_put(&self.sources, packages, set.clone());
        Ok(set)
    }

    /// The first statement of the current continuous installation of
    /// (source, version) on the host, walking its inventory history back
    /// from `st` (which holds it).
    async fn installed_since(
        &self,
        store: &dyn Store,
        history: &[InventoryRow],
        st: StatementRef,
        source: &str,
        version: &str,
    ) -> Result<StatementRef, VulnStateError> {
        let mut best = st;
        let key = (source.to_string(), version.to_string());
        for row in history {
            if !self.sources_of(store, row.packages).await?.contains(&key) {
                break;
            }
            best = StatementRef {
                sequence: row.first_sequence,
                digest: row.first_digest,
                at: row.first_at,
            };
        }
        Ok(best)
    }

    /// The first-seen references of `m`'s findings on a host whose open
    /// rows are `open`, and the state change (new and resolved pairs) for
    /// statement `st` holding inventory `packages`.
    pub async fn first_seen(
        &self,
        store: &dyn Store,
        agent_id: &str,
        st: StatementRef,
        packages: Digest,
        m: &HostMatch,
        open: &[FirstSeenRow],
    ) -> Result<(Vec<FirstSeenRef>, VulnUpdate), VulnStateError> {
        let rows: BTreeMap<(&str, &str), &FirstSeenRow> = open
            .iter()
            .map(|r| ((r.cve.as_str(), r.source.as_str()), r))
            .collect();
        // Pair → the installed source versions it was found on.
        let mut pairs: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for f in &m.findings {
            pairs
                .entry((f.cve.as_str(), f.source.as_str()))
                .or_default()
                .push(f.installed.as_str());
        }
        let mut history: Option<Vec<InventoryRow>> = None;
        let mut refs = Vec::with_capacity(pairs.len());
        let mut new = Vec::new();
        for ((cve, source), versions) in &pairs {
            let first = match rows.get(&(*cve, *source)) {
                Some(r) => r.first,
                None => {
                    if history.is_none() {
                        history = Some(
                            store
                                .vuln_inventory_history(agent_id, st.sequence, HISTORY_ROWS)
                                .await?,
                        );
                    }
                    let h = history.as_deref().unwrap_or_default();
                    let mut best = st;
                    for v in versions {
                        let s = self.installed_since(store, h, st, source, v).await?;
                        if s.sequence < best.sequence {
                            best = s;
                        }
                    }
                    new.push(NewFirstSeen {
                        cve: (*cve).to_string(),
                        source: (*source).to_string(),
                        first: best,
                    });
                    best
                }
            };
            refs.push(FirstSeenRef {
                cve: (*cve).to_string(),
                source_package: (*source).to_string(),
                at: rfc3339_ms(
                    chrono::DateTime::from_timestamp_millis(first.at).unwrap_or_default(),
                ),
                sequence: u64::try_from(first.sequence).unwrap_or(0),
                statement: first.digest,
            });
        }
        let gone: Vec<(String, String)> = open
            .iter()
            .filter(|r| !pairs.contains_key(&(r.cve.as_str(), r.source.as_str())))
            .map(|r| (r.cve.clone(), r.source.clone()))
            .collect();
        let update = VulnUpdate {
            agent_id: agent_id.to_string(),
            statement: st,
            packages: Some(packages),
            refresh_last: !pairs.is_empty(),
            new,
            gone,
        };
        Ok((refs, update))
    }

    /// The `vulns` entry of a statement being ingested and the CVE state
    /// change it makes. `blobs` are the request's blobs.
    pub async fn derive(
        &self,
        store: &dyn Store,
        st: &Statement,
        envelope_digest: Digest,
        blobs: &BTreeMap<Digest, Vec<u8>>,
    ) -> Result<IngestVulns, VulnStateError> {
        let at = st.predicate.collected_at;
        let agent_id = &st.predicate.agent.id;
        let sref = StatementRef {
            sequence: i64::try_from(st.predicate.sequence).unwrap_or(i64::MAX),
            digest: envelope_digest,
            at: at.timestamp_millis(),
        };
        let packages = packages_digest(st);
        let inventory_only = |d: Digest| VulnUpdate {
            agent_id: agent_id.clone(),
            statement: sref,
            packages: Some(d),
            refresh_last: false,
            new: Vec::new(),
            gone: Vec::new(),
        };
        let Some(snap) = self.current(store).await? else {
            return Ok(IngestVulns {
                derived: None,
                update: packages.ok().map(inventory_only),
            });
        };
        let unsupported = |reason: String| Derived {
            entry: vulns_entry_from_match(Err(reason), &snap.basis, at),
            basis: snap.basis.clone(),
        };
        let packages = match packages {
            Ok(d) => d,
            Err(reason) => {
                return Ok(IngestVulns {
                    derived: Some(unsupported(reason)),
                    update: None,
                })
            }
        };
        let m = self
            .host_match(
                store,
                &snap,
                packages,
                blobs.get(&packages).map(Vec::as_slice),
            )
            .await?;
        let m = match m.as_ref() {
            Ok(m) => m,
            Err(reason) => {
                return Ok(IngestVulns {
                    derived: Some(unsupported(reason.clone())),
                    update: Some(inventory_only(packages)),
                })
            }
        };
        let open = store.vuln_first_seen(Some(agent_id), false).await?;
        let (refs, update) = self
            .first_seen(store, agent_id, sref, packages, m, &open)
            .await?;
        let mut basis = snap.basis.clone();
        basis.first_seen = refs;
        Ok(IngestVulns {
            derived: Some(Derived {
                entry: vulns_entry_from_match(Ok(m), &basis, at),
                basis,
            }),
            update: Some(update),
        })
    }
}
