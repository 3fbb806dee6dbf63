//! Enrollment tokens and agent status: what the admin API
//! (`/v1/admin/…`), `evident-collector token …`/`agents …` and `init` do.
//! [`mint_token`] is the one place an enrollment token is made.

use super::{new_enroll_token, secret_hash};
use crate::store::{AgentRecord, NewToken, Store, StoreError, TokenInfo};
use evident_core::wire::AgentStatus;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No token or agent with that id.
    #[error("no {what} {id}")]
    NotFound {
        /// `token` or `agent`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A parameter is out of range (nothing was created).
    #[error("{0}")]
    Invalid(String),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The longest lifetime an enrollment token may be given (365 days).
pub const MAX_TOKEN_LIFETIME_MS: i64 = 365 * 86_400 * 1000;

/// A freshly made enrollment token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedToken {
    /// Public id (list, revoke).
    pub id: String,
    /// The secret to hand to an agent: shown once, only its hash is stored.
    pub secret: String,
    /// Unix ms, when it expires.
    pub expires_at: Option<i64>,
}

/// Make and store an enrollment token valid from `now` for `lifetime_ms`
/// (None: no expiry) and `max_uses` enrollments (None: unlimited).
pub async fn mint_token(
    store: &dyn Store,
    now: i64,
    lifetime_ms: Option<i64>,
    max_uses: Option<i64>,
) -> Result<MintedToken, AdminError> {
    if let Some(ms) = lifetime_ms {
        if !(1000..=MAX_TOKEN_LIFETIME_MS).contains(&ms) {
            return Err(AdminError::Invalid(format!(
                "token lifetime must be between 1 second and 365 days (got {ms} ms)"
            )));
        }
    }
    if let Some(n) = max_uses {
        if !(1..=1_000_000).contains(&n) {
            return Err(AdminError::Invalid(format!(
                "token uses must be between 1 and 1000000 (got {n})"
            )));
        }
    }
    let (id, secret) = new_enroll_token();
    let expires_at = lifetime_ms.map(|ms| now.saturating_add(ms));
    store
        .create_token(&NewToken {
            id: id.clone(),
            hash: secret_hash(&secret),
            created_at: now,
            expires_at,
            max_uses,
        })
        .await?;
    Ok(MintedToken {
        id,
        secret,
        expires_at,
    })
}

/// Every token, newest first.
pub async fn tokens(store: &dyn Store) -> Result<Vec<TokenInfo>, AdminError> {
    Ok(store.list_tokens().await?)
}

/// Revoke a token.
pub async fn revoke_token(store: &dyn Store, id: &str) -> Result<(), AdminError> {
    if store.revoke_token(id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound {
            what: "token",
            id: id.to_string(),
        })
    }
}

/// Enrolled agents (at most `limit`, by id).
pub async fn agents(store: &dyn Store, limit: i64) -> Result<Vec<AgentRecord>, AdminError> {
    Ok(store.list_agents(None, limit).await?)
}

/// Approve (`Active`) or revoke an agent.
pub async fn set_agent_status(
    store: &dyn Store,
    id: &str,
    status: AgentStatus,
) -> Result<(), AdminError> {
    if store.set_agent_status(id, status).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound {
            what: "agent",
            id: id.to_string(),
        })
    }
}
