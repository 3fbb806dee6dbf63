//! Scoped API tokens: `admin`, `operator` (acknowledge alerts), `auditor`
//! (read and export), `metrics` (scrape). Only the sha256 of a token is
//! stored; the SQL is shared by both backends ([`impl_access_store!`]).

use super::StoreError;
use async_trait::async_trait;
use serde::Serialize;

/// A scoped API token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiTokenInfo {
    /// Public id (list, revoke).
    pub id: String,
    /// `admin`, `operator`, `auditor` or `metrics`.
    pub scope: String,
    /// What it is for (free text of the operator).
    pub name: String,
    /// Unix ms.
    pub created_at: i64,
    /// Revoked by an operator.
    pub revoked: bool,
}

/// Storage of scoped API tokens.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Store a token by the sha256 of its secret.
    async fn create_api_token(&self, t: &ApiTokenInfo, hash: &[u8; 32]) -> Result<(), StoreError>;
    /// The scope of the unrevoked token with this hash.
    async fn api_token_scope(&self, hash: &[u8; 32]) -> Result<Option<String>, StoreError>;
    /// Every token, newest first.
    async fn list_api_tokens(&self) -> Result<Vec<ApiTokenInfo>, StoreError>;
    /// Revoke a token by id; false when there is none.
    async fn revoke_api_token(&self, id: &str) -> Result<bool, StoreError>;
}

/// The SQL both backends share.
macro_rules! impl_access_store {
    ($ty:ty) => {
        #[async_trait::async_trait]
        impl crate::store::access::AccessStore for $ty {
            async fn create_api_token(
                &self,
                t: &crate::store::access::ApiTokenInfo,
                hash: &[u8; 32],
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, token_hash, scope, name, created_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&t.id)
                .bind(hash.as_slice())
                .bind(&t.scope)
                .bind(&t.name)
                .bind(t.created_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn api_token_scope(&self, hash: &[u8; 32]) -> Result<Option<String>, StoreError> {
                let row = sqlx::query(
                    "SELECT scope FROM api_tokens WHERE token_hash = $1 AND revoked = 0",
                )
                .bind(hash.as_slice())
                .fetch_optional(&self.read)
                .await?;
                Ok(row.map(|r| r.try_get(0)).transpose()?)
            }

            async fn list_api_tokens(
                &self,
            ) -> Result<Vec<crate::store::access::ApiTokenInfo>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, scope, name, created_at, revoked FROM api_tokens ORDER BY created_at DESC, id LIMIT 10000",
                )
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(crate::store::access::ApiTokenInfo {
                            id: r.try_get(0)?,
                            scope: r.try_get(1)?,
                            name: r.try_get(2)?,
                            created_at: r.try_get(3)?,
                            revoked: r.try_get::<i64, _>(4)? != 0,
                        })
                    })
                    .collect()
            }

            async fn revoke_api_token(&self, id: &str) -> Result<bool, StoreError> {
                let r = sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE id = $1")
                    .bind(id)
                    .execute(&self.write)
                    .await?;
                Ok(r.rows_affected() > 0)
            }
        }
    };
}
pub(crate) use impl_access_store;
