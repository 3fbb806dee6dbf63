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
    /// Too many attempts from this source address (HTTP 429).
    #[error("{0}")]
    TooMany(String),
    /// The database failed (HTTP 503).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Whether `s` is safe to show anywhere: 1 to `max` bytes, no control
/// characters (terminal escapes, newlines), no bidirectional overrides.
pub fn printable(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.chars().any(|c| {
            c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
}

/// Enroll an agent from `peer`. The same key enrolling again gets the same
/// agent back. Attempts are rate-limited per source address; a host that
/// was revoked (same host name or machine id) enrolling with a new key
/// waits as `pending` for an operator; a machine id already enrolled under
/// another key is flagged with an integrity alert.
pub async fn enroll(
    app: &App,
    req: EnrollRequest,
    peer: Option<std::net::IpAddr>,
) -> Result<EnrollResponse, EnrollError> {
    if let Some(ip) = peer {
        let n = app.enroll_attempts.add(&ip, 1, app.clock.now_ms());
        if n > u64::from(app.limits.enroll_attempts_per_minute) {
            app.metrics.enroll_throttled.inc();
            if n == u64::from(app.limits.enroll_attempts_per_minute) + 1 {
                tracing::warn!(peer = %ip, limit = app.limits.enroll_attempts_per_minute, "enrollment attempts throttled for this address");
            }
            return Err(EnrollError::TooMany(format!(
                "more than {} enrollment attempts per minute from this address; try again later",
                app.limits.enroll_attempts_per_minute
            )));
        }
    }
    let bytes = decode_public_key(&req.public_key)
        .ok_or_else(|| EnrollError::Invalid("public_key is not valid base64".into()))?;
    let key = parse_public_key(&bytes).map_err(|e| match e {
        EnvelopeError::WeakKey => {
            EnrollError::Invalid("public key is weak (small order) and is refused".into())
        }
        other => EnrollError::Invalid(other.to_string()),
    })?;
    if !printable(&req.hostname, 253) {
        return Err(EnrollError::Invalid(
            "hostname must be 1 to 253 bytes without control characters".into(),
        ));
    }
    if req.agent_version.len() > 64 || req.token.len() > 256 {
        return Err(EnrollError::Invalid(
            "agent_version or token too long".into(),
        ));
    }
    if !req.agent_version.is_empty() && !printable(&req.agent_version, 64) {
        return Err(EnrollError::Invalid(
            "agent_version must not contain control characters".into(),
        ));
    }
    let machine_id = match req.machine_id.as_deref() {
        None => None,
        Some(m) if m.len() == 32 && m.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(m.to_ascii_lowercase())
        }
        Some(_) => {
            return Err(EnrollError::Invalid(
                "machine_id must be 32 hexadecimal digits".into(),
            ))
        }
    };
    let key_id = key_id(&key);
    let matches = app
        .store
        .host_matches(&req.hostname, machine_id.as_deref())
        .await?;
    // The same host: the same machine id when both are known (many hosts
    // share a name like `ubuntu`), else the same host name.
    let same_host = |m: &crate::store::guard::HostMatch| match (&m.machine_id, &machine_id) {
        (Some(a), Some(b)) => a == b,
        _ => m.hostname == req.hostname,
    };
    let revoked_host = matches
        .iter()
        .find(|m| m.status == AgentStatus::Revoked.as_str() && m.key_id != key_id && same_host(m));
    let same_machine: Vec<&str> = matches
        .iter()
        .filter(|m| {
            m.key_id != key_id
                && m.status != AgentStatus::Revoked.as_str()
                && machine_id.is_some()
                && m.machine_id == machine_id
        })
        .map(|m| m.id.as_str())
        .collect();
    let new = NewAgent {
        id: format!("agt_{}", random_hex(8)),
        key_id,
        public_key: key.as_bytes().to_vec(),
        hostname: req.hostname,
        agent_version: req.agent_version,
        status: if app.require_approval || revoked_host.is_some() {
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
            let fresh = agent.id == new.id;
            if fresh {
                if let Some(m) = &machine_id {
                    app.store.set_machine_id(&agent.id, m).await?;
                }
                if let Some(r) = revoked_host {
                    tracing::warn!(agent_id = %agent.id, revoked = %r.id, hostname = ?agent.hostname, "a revoked host enrolled with a new key: pending until an operator approves it");
                    app.ingest.raise(
                        app,
                        &agent.id,
                        "integrity:revoked-host",
                        format!(
                            "host of revoked agent {} enrolled again with a new key; pending until approved",
                            r.id
                        ),
                    );
                }
                if !same_machine.is_empty() {
                    tracing::warn!(agent_id = %agent.id, others = ?same_machine, "machine id enrolled twice");
                    app.ingest.raise(
                        app,
                        &agent.id,
                        "integrity:duplicate-machine-id",
                        format!(
                            "machine id already enrolled as {} (cloned host or reinstalled agent?)",
                            same_machine.join(", ")
                        ),
                    );
                }
            }
            tracing::info!(agent_id = %agent.id, key_id = %agent.key_id, hostname = ?agent.hostname, status = agent.status.as_str(), "agent enrolled");
            Ok(EnrollResponse {
                agent_id: agent.id,
                key_id: agent.key_id,
                status: agent.status,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_and_overrides_are_not_printable() {
        assert!(printable("web-1.example.org", 253));
        assert!(!printable("", 253));
        assert!(!printable("a\nb", 253));
        assert!(!printable("\u{1b}[31mred", 253));
        assert!(!printable("abc\u{202e}gpj.exe", 253));
        assert!(!printable(&"a".repeat(254), 253));
    }
}
