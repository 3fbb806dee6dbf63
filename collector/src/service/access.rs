//! Who may call what: the admin token file (scope `admin`) and scoped API
//! tokens stored by hash (`admin`, `operator`, `auditor`, `metrics`).
//! [`Scope::allows`] is the one rule: admin allows everything, operator
//! allows what an auditor may do plus acknowledging alerts, metrics only
//! allows scraping. Presented tokens are hashed and compared in constant
//! time (the admin token) or looked up by hash (API tokens; a found scope
//! is cached for [`CACHE_TTL`], so a revocation takes effect within it).

use super::{random_hex, secret_hash, App};
use crate::store::{ApiTokenInfo, Store, StoreError};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a looked-up token scope is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_CAP: usize = 10_000;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything: tokens, agents, alerts, reads, metrics.
    Admin,
    /// Read, export, and acknowledge alerts.
    Operator,
    /// Read and export.
    Auditor,
    /// `GET /metrics` only.
    Metrics,
}

impl Scope {
    /// Every scope, by name.
    pub const ALL: [Scope; 4] = [
        Scope::Admin,
        Scope::Operator,
        Scope::Auditor,
        Scope::Metrics,
    ];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Operator => "operator",
            Scope::Auditor => "auditor",
            Scope::Metrics => "metrics",
        }
    }

    /// Parse a scope name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether a token of this scope may do what `needed` requires.
    pub fn allows(self, needed: Scope) -> bool {
        match (self, needed) {
            (Scope::Admin, _) => true,
            (Scope::Operator, Scope::Operator | Scope::Auditor) => true,
            (s, n) => s == n,
        }
    }
}

/// Why an API token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Bad parameter.
    #[error("{0}")]
    Invalid(String),
    /// No token with that id.
    #[error("no API token {0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new API token: its record and the secret (shown once).
#[derive(Debug, Clone)]
pub struct MintedApiToken {
    /// The stored record.
    pub info: ApiTokenInfo,
    /// The bearer secret.
    pub secret: String,
}

/// Make and store a token of `scope` named `name`.
pub async fn mint(
    store: &dyn Store,
    scope: &str,
    name: &str,
    now: i64,
) -> Result<MintedApiToken, AccessError> {
    let Some(scope) = Scope::parse(scope) else {
        return Err(AccessError::Invalid(format!(
            "unknown scope `{}` (use admin, operator, auditor or metrics)",
            scope.chars().take(40).collect::<String>()
        )));
    };
    if name.len() > 200 || name.chars().any(char::is_control) {
        return Err(AccessError::Invalid(
            "name must be at most 200 bytes without control characters".into(),
        ));
    }
    let id = format!("tok_{}", random_hex(8));
    let secret = format!("evapi_{}_{}", scope.as_str(), random_hex(32));
    let info = ApiTokenInfo {
        id,
        scope: scope.as_str().into(),
        name: name.into(),
        created_at: now,
        revoked: false,
    };
    store.create_api_token(&info, &secret_hash(&secret)).await?;
    Ok(MintedApiToken { info, secret })
}

/// Revoke a token by id.
pub async fn revoke(store: &dyn Store, id: &str) -> Result<(), AccessError> {
    if store.revoke_api_token(id).await? {
        Ok(())
    } else {
        Err(AccessError::NotFound(id.chars().take(80).collect()))
    }
}

/// Scopes looked up recently, by token hash (bounded LRU: a flood of
/// distinct tokens evicts the oldest, never empties the cache).
#[derive(Debug)]
pub struct AccessCache {
    found: Mutex<lru::LruCache<[u8; 32], (Scope, Instant)>>,
}

impl Default for AccessCache {
    fn default() -> AccessCache {
        let cap = std::num::NonZeroUsize::new(CACHE_CAP).unwrap_or(std::num::NonZeroUsize::MIN);
        AccessCache {
            found: Mutex::new(lru::LruCache::new(cap)),
        }
    }
}

/// The scope of a presented bearer token (None: unknown or revoked).
pub async fn scope_of(app: &App, presented: &str) -> Result<Option<Scope>, StoreError> {
    if app.is_admin(presented) {
        return Ok(Some(Scope::Admin));
    }
    if presented.len() > 256 {
        return Ok(None);
    }
    let hash = secret_hash(presented);
    if let Ok(mut m) = app.access.found.lock() {
        if let Some((s, at)) = m.get(&hash) {
            if at.elapsed() < CACHE_TTL {
                return Ok(Some(*s));
            }
        }
    }
    let scope = app
        .store
        .api_token_scope(&hash)
        .await?
        .as_deref()
        .and_then(Scope::parse);
    if let (Some(s), Ok(mut m)) = (scope, app.access.found.lock()) {
        m.put(hash, (s, Instant::now()));
    }
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_allow_what_their_role_needs() {
        assert!(Scope::Admin.allows(Scope::Metrics));
        assert!(Scope::Operator.allows(Scope::Auditor));
        assert!(!Scope::Operator.allows(Scope::Admin));
        assert!(!Scope::Auditor.allows(Scope::Operator));
        assert!(!Scope::Auditor.allows(Scope::Metrics));
        assert!(!Scope::Metrics.allows(Scope::Auditor));
        assert_eq!(Scope::parse("auditor"), Some(Scope::Auditor));
        assert_eq!(Scope::parse("root"), None);
    }
}
