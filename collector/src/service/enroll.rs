//! `POST /v1/enroll`: an enrollment token plus a public key gives an agent id.

use super::{random_hex, secret_hash, App};
use crate::store::{EnrollOutcome, NewAgent};
use evident_core::dsse::{key_id, parse_public_key, EnvelopeError};
use evident_core::wire::{decode_public_key, AgentStatus, EnrollRequest, EnrollResponse};

/// Why an enrollment was refused; `crate::error` maps each to its HTTP status and body.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// Malformed or invalid input (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// Unknown, unapproved or revoked key; bad enrollment token (HTTP 403).
    #[error("{0}")]
    Refused(String),
    /// The database failed (HTTP 503).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Enroll an agent. The same key enrolling again gets the same agent back.
pub async fn enroll(app: &App, req: EnrollRequest) -> Result<EnrollResponse, EnrollError> {
    let bytes = decode_public_key(&req.public_key)
        .ok_or_else(|| EnrollError::Invalid("public_key is not valid base64".into()))?;
    let key = parse_public_key(&bytes).map_err(|e| match e {
        EnvelopeError::WeakKey => {
            EnrollError::Invalid("public key is weak (small order) and is refused".into())
        }
        other => EnrollError::Invalid(other.to_string()),
    })?;
    if req.hostname.is_empty() || req.hostname.len() > 253 {
        return Err(EnrollError::Invalid(
            "hostname must be 1 to 253 bytes".into(),
        ));
    }
    if req.agent_version.len() > 64 || req.token.len() > 256 {
        return Err(EnrollError::Invalid(
            "agent_version or token too long".into(),
        ));
    }
    let new = NewAgent {
        id: format!("agt_{}", random_hex(8)),
        key_id: key_id(&key),
        public_key: key.as_bytes().to_vec(),
        hostname: req.hostname,
        agent_version: req.agent_version,
        status: if app.require_approval {
            AgentStatus::Pending
        } else {
            AgentStatus::Active
        },
        now: app.clock.now_ms(),
    };
    match app.store.enroll(&secret_hash(&req.token), &new).await? {
        EnrollOutcome::BadToken => Err(EnrollError::Refused(
            "enrollment token is unknown, expired, used up or revoked".into(),
        )),
        EnrollOutcome::Enrolled(agent) if agent.status == AgentStatus::Revoked => Err(
            EnrollError::Refused(format!("agent {} is revoked", agent.id)),
        ),
        EnrollOutcome::Enrolled(agent) => {
            app.metrics.enrolled();
            tracing::info!(agent_id = %agent.id, key_id = %agent.key_id, hostname = %agent.hostname, status = agent.status.as_str(), "agent enrolled");
            Ok(EnrollResponse {
                agent_id: agent.id,
                key_id: agent.key_id,
                status: agent.status,
            })
        }
    }
}
