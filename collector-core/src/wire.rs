//! The agent ↔ collector wire protocol: request and response bodies of
//! `POST /v1/enroll` and `POST /v1/evidence`, and the pure decoder the
//! collector runs on an ingest body before anything else.
//!
//! This module is an API boundary (see `docs/protocol.md`): the agent and the
//! collector both use these types, and changing a field changes the protocol.
//! No I/O happens here.

use crate::digest::{sha256_digest, Digest};
use crate::dsse::{Envelope, EnvelopeError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// `POST /v1/enroll` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// An enrollment token issued by `evident-collector token create`.
    pub token: String,
    /// The agent's Ed25519 public key, standard base64 of its 32 bytes.
    pub public_key: String,
    /// The host name the agent reports (informational).
    pub hostname: String,
    /// The agent's version (informational).
    pub agent_version: String,
    /// The host's machine id (`/etc/machine-id`), when the agent can read
    /// it: revocation applies to the host, and a machine id enrolled twice
    /// is flagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
}

/// Whether an enrolled agent may send evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Evidence is accepted.
    Active,
    /// Enrolled, waiting for an operator's `agents approve`.
    Pending,
    /// Revoked by an operator; evidence is refused.
    Revoked,
}

impl AgentStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Active => "active",
            AgentStatus::Pending => "pending",
            AgentStatus::Revoked => "revoked",
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Option<AgentStatus> {
        match s {
            "active" => Some(AgentStatus::Active),
            "pending" => Some(AgentStatus::Pending),
            "revoked" => Some(AgentStatus::Revoked),
            _ => None,
        }
    }
}

/// `POST /v1/enroll` answer (200). Enrolling the same key again returns the same agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The id to put in `predicate.agent.id`.
    pub agent_id: String,
    /// Hex sha256 of the public key: the `keyid` of the agent's DSSE signatures.
    pub key_id: String,
    /// `active`, or `pending` when the collector requires approval.
    pub status: AgentStatus,
}

/// `POST /v1/evidence` request: one signed statement and (some of) its blobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// Standard base64 of the exact DSSE envelope JSON bytes.
    pub envelope: String,
    /// Blob digest (`sha256:<hex>`) → standard base64 of the blob bytes. Blobs
    /// the collector already has (see [`IngestResponse::known_blobs`]) may be left out.
    #[serde(default)]
    pub blobs: BTreeMap<String, String>,
}

impl IngestRequest {
    /// Build a request from the exact envelope bytes and the blobs to send.
    pub fn new<'a>(
        envelope_json: &[u8],
        blobs: impl IntoIterator<Item = (&'a Digest, &'a [u8])>,
    ) -> IngestRequest {
        IngestRequest {
            envelope: B64.encode(envelope_json),
            blobs: blobs
                .into_iter()
                .map(|(d, b)| (d.to_string(), B64.encode(b)))
                .collect(),
        }
    }
}

/// Whether an ingest stored something new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IngestStatus {
    /// First time the collector saw this envelope (HTTP 201).
    Stored,
    /// The envelope was already stored; nothing changed (HTTP 200).
    Duplicate,
}

/// `POST /v1/evidence` answer (201 stored, 200 duplicate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Stored or duplicate.
    pub status: IngestStatus,
    /// The agent the envelope was attributed to.
    pub agent_id: String,
    /// The statement's sequence number.
    pub sequence: u64,
    /// sha256 of the exact envelope bytes (what the next statement's `previous` names).
    pub envelope_digest: Digest,
    /// Digests of this statement's blobs the collector now stores: the agent
    /// need not send them again.
    pub known_blobs: Vec<Digest>,
    /// Rule status → count for this statement's evaluation.
    pub summary: BTreeMap<String, u64>,
}

/// Body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// For 422: blobs the statement refers to that are neither in the request nor stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_blobs: Vec<Digest>,
}

/// Why an ingest body cannot be decoded (all map to HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("body is not a JSON ingest request: {0}")]
    Json(String),
    #[error("`envelope` is not valid base64")]
    EnvelopeBase64,
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    #[error("blob key `{0}` is not a sha256 digest")]
    BlobKey(String),
    #[error("blob {0} is not valid base64")]
    BlobBase64(Digest),
    #[error("blob {digest} does not match its digest (got {actual})")]
    BlobDigest { digest: Digest, actual: Digest },
}

/// An ingest body, decoded: exact envelope bytes, the parsed envelope and
/// the blobs as sent. Neither the signature nor the blob digests are checked
/// yet: the collector verifies the signature first, then calls
/// [`DecodedIngest::check_blobs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedIngest {
    /// The exact envelope JSON bytes as the agent signed and sent them.
    pub envelope_bytes: Vec<u8>,
    /// sha256 of `envelope_bytes`.
    pub envelope_digest: Digest,
    /// The parsed envelope.
    pub envelope: Envelope,
    /// Blobs sent, keyed by the digest the sender claims.
    pub blobs: BTreeMap<Digest, Vec<u8>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest<'a> {
    #[serde(borrow)]
    envelope: Cow<'a, str>,
    #[serde(default, borrow)]
    blobs: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
}

/// Decode an ingest body. Pure, total (never panics) and the fuzz target's
/// entry point (`evident_core::wire::decode_ingest`).
pub fn decode_ingest(body: &[u8]) -> Result<DecodedIngest, WireError> {
    let raw: RawIngest<'_> = serde_json::from_slice(body).map_err(|e| {
        let mut msg = e.to_string();
        msg.truncate(200);
        WireError::Json(msg)
    })?;
    let envelope_bytes = B64
        .decode(raw.envelope.as_bytes())
        .map_err(|_| WireError::EnvelopeBase64)?;
    let envelope = Envelope::from_json(&envelope_bytes)?;
    let envelope_digest = sha256_digest(&envelope_bytes);
    let mut blobs = BTreeMap::new();
    for (key, value) in raw.blobs {
        let digest: Digest = key
            .parse()
            .map_err(|_| WireError::BlobKey(key.chars().take(80).collect()))?;
        let bytes = B64
            .decode(value.as_bytes())
            .map_err(|_| WireError::BlobBase64(digest))?;
        blobs.insert(digest, bytes);
    }
    Ok(DecodedIngest {
        envelope_bytes,
        envelope_digest,
        envelope,
        blobs,
    })
}

impl DecodedIngest {
    /// Check every blob sent against its digest.
    pub fn check_blobs(&self) -> Result<(), WireError> {
        for (digest, bytes) in &self.blobs {
            let actual = sha256_digest(bytes);
            if actual != *digest {
                return Err(WireError::BlobDigest {
                    digest: *digest,
                    actual,
                });
            }
        }
        Ok(())
    }
}

/// Decode a base64 public key from an [`EnrollRequest`] (validity and weakness
/// are checked by [`crate::dsse::parse_public_key`]).
pub fn decode_public_key(b64: &str) -> Option<Vec<u8>> {
    B64.decode(b64.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::Signer;

    #[test]
    fn round_trip_and_blob_check() {
        let signer = Signer::from_seed(&[1u8; 32]);
        let env = signer.sign_envelope(crate::evidence::PAYLOAD_TYPE, b"{}".to_vec());
        let env_bytes = env.to_json();
        let blob = b"{\"x\":1}".to_vec();
        let d = sha256_digest(&blob);
        let req = IngestRequest::new(&env_bytes, [(&d, blob.as_slice())]);
        let body = serde_json::to_vec(&req).unwrap();
        let dec = decode_ingest(&body).unwrap();
        assert_eq!(dec.envelope_bytes, env_bytes);
        assert_eq!(dec.envelope, env);
        assert_eq!(dec.blobs.get(&d), Some(&blob));

        let mut bad = req.clone();
        bad.blobs.insert(d.to_string(), B64.encode(b"tampered"));
        let body = serde_json::to_vec(&bad).unwrap();
        assert!(matches!(
            decode_ingest(&body).unwrap().check_blobs(),
            Err(WireError::BlobDigest { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"[]",
            b"{\"envelope\":1}",
            b"{\"envelope\":\"!!\"}",
            b"{\"envelope\":\"e30=\"}",
            b"{\"envelope\":\"\",\"blobs\":{\"md5:1\":\"\"}}",
        ] {
            assert!(decode_ingest(bad).is_err());
        }
    }
}
