//! Predicate v2 at ingest: an *unchanged* run names the digest of its
//! content (host facts, schedule, probe entries) instead of repeating it.
//! [`Contents::resolve`] turns the signed payload into the complete
//! statement the rest of the pipeline evaluates and stores, reading the
//! content blob from the request, a bounded LRU cache or the store; a full
//! v2 statement brings its content blob ([`Contents::full`]) so that the
//! runs after it can be unchanged. v1 statements pass through untouched.

use crate::store::{Store, StoreError};
use evident_core::evidence::{Content, Parsed, Statement, PREDICATE_TYPE_V2};
use evident_core::{sha256_digest, Digest};
use hashlink::LruCache;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Contents kept parsed (a content is ~2 KB: ~130 MB at most). An
/// unchanged run whose content is not here reads it back from the store
/// (one point read), so this holds one per host of a 65,536-host fleet:
/// round-robin over more hosts than an LRU holds misses every time.
const CONTENT_CACHE: usize = 65_536;

/// Why an unchanged run could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Its content blob was neither sent nor stored (the agent sends it).
    #[error("content blob {0} is neither in the request nor stored")]
    Missing(Digest),
    /// The content blob does not parse or does not match.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A resolved statement and the content blob that goes with it (v2 only).
pub struct Resolved {
    /// The complete statement.
    pub statement: Statement,
    /// Digest of its content blob (v2 statements: a blob it refers to).
    pub content: Option<Digest>,
    /// The content blob of a full v2 statement (to store with it).
    pub new_blob: Option<(Digest, Vec<u8>)>,
}

/// Parsed contents by digest, least recently used evicted.
pub struct Contents {
    cache: Mutex<LruCache<Digest, Arc<Content>>>,
}

impl Default for Contents {
    fn default() -> Self {
        Contents {
            cache: Mutex::new(LruCache::new(CONTENT_CACHE)),
        }
    }
}

impl Contents {
    fn cached(&self, d: &Digest) -> Option<Arc<Content>> {
        self.cache.lock().ok().and_then(|mut c| c.get(d).cloned())
    }

    fn keep(&self, d: Digest, c: Arc<Content>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(d, c);
        }
    }

    /// A full statement: v2 brings its content blob.
    fn full(&self, statement: Statement) -> Resolved {
        if statement.predicate_type != PREDICATE_TYPE_V2 {
            return Resolved {
                statement,
                content: None,
                new_blob: None,
            };
        }
        let content = Content::of(&statement.predicate);
        let bytes = content.to_bytes();
        let digest = sha256_digest(&bytes);
        self.keep(digest, Arc::new(content));
        Resolved {
            statement,
            content: Some(digest),
            new_blob: Some((digest, bytes)),
        }
    }

    /// Resolve a payload: full statements as they are, unchanged runs
    /// against their content blob (from `sent`, the cache or `store`;
    /// absent everywhere: 422 naming it, and the agent sends it).
    pub async fn resolve(
        &self,
        store: &dyn Store,
        parsed: Parsed,
        sent: &BTreeMap<Digest, Vec<u8>>,
    ) -> Result<Resolved, ResolveError> {
        let u = match parsed {
            Parsed::Full(st) => return Ok(self.full(*st)),
            Parsed::Unchanged(u) => u,
        };
        let digest = u.content;
        let content = match self.cached(&digest) {
            Some(c) => c,
            None => {
                let stored;
                let bytes = match sent.get(&digest) {
                    Some(b) => b,
                    None => {
                        stored = store.blobs(&[digest]).await?;
                        stored
                            .get(&digest)
                            .ok_or_else(|| ResolveError::Missing(digest))?
                    }
                };
                let c = Arc::new(
                    Content::from_blob(&digest, bytes)
                        .map_err(|e| ResolveError::Invalid(e.to_string()))?,
                );
                self.keep(digest, c.clone());
                c
            }
        };
        Ok(Resolved {
            statement: u.resolve(&content),
            content: Some(digest),
            new_blob: None,
        })
    }
}
