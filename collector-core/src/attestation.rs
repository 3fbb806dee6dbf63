//! Manual attestations: a person signs, with their own Ed25519 key, a
//! statement that a control no probe can see is in place ("A.6.3 awareness
//! training done, evidence doc sha256 …, valid until …"). The statement is
//! a DSSE envelope like machine evidence; it counts until its expiry date.

use crate::catalog::Catalog;
use crate::digest::Digest;
use crate::dsse::{self, Envelope, EnvelopeError, Signer};
use chrono::{DateTime, NaiveDate, Utc};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

/// The attestation statement type.
pub const ATTESTATION_TYPE: &str = "https://evident.dev/attestation/v1";
/// DSSE payload type of an attestation.
pub const ATTESTATION_PAYLOAD_TYPE: &str = "application/vnd.evident.attestation+json";

/// A manual attestation as the report sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationRef {
    /// Digest of the signed attestation envelope.
    pub id: String,
    /// Control.
    pub control: String,
    /// The statement.
    pub statement: String,
    /// Who signed (name and key fingerprint).
    pub attester: String,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// Last day it counts.
    pub expires: NaiveDate,
    /// Evidence documents: (file name, sha256).
    #[serde(default)]
    pub evidence: Vec<(String, String)>,
    /// Whether it still counts (`now` on or before `expires`).
    pub current: bool,
}

/// A document the attestation points to (by digest; its bytes travel as a blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceDoc {
    /// File name.
    pub name: String,
    /// sha256 of its bytes.
    pub sha256: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// Who attests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attester {
    /// Name as registered with the collector.
    pub name: String,
    /// Key id (hex sha256 of the public key).
    pub key_id: String,
}

/// A signed statement about one control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    /// Always [`ATTESTATION_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// Annex A control id, or an ISMS documented-information item
    /// (`framework::checklist::CHECKLIST`, e.g. `9.2`).
    pub control: String,
    /// What the person states.
    pub statement: String,
    /// Who.
    pub attester: Attester,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// Last day it counts (UTC).
    pub expires: NaiveDate,
    /// Supporting documents.
    #[serde(default)]
    pub evidence: Vec<EvidenceDoc>,
}

/// Why an attestation is refused.
#[derive(Debug, thiserror::Error)]
pub enum AttestationError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("attestation is malformed: {0}")]
    Json(String),
    #[error("attestation type `{0}` is not supported")]
    Type(String),
    #[error("unknown Annex A control or ISMS documented-information item `{0}`")]
    UnknownControl(String),
    #[error("an attestation of ISMS documented information ({0}) must reference the document (--evidence FILE)")]
    NoDocument(String),
    #[error("attestation names key {named} but is signed by {signer}")]
    KeyMismatch { named: String, signer: String },
    #[error("the statement is empty")]
    Empty,
    #[error("expiry {expires} is before the signing date {signed}")]
    ExpiresBeforeSigning {
        expires: NaiveDate,
        signed: NaiveDate,
    },
}

impl Attestation {
    /// Check the fields (control exists, statement not empty, dates in order).
    pub fn validate(&self, catalog: &Catalog) -> Result<(), AttestationError> {
        if self.type_ != ATTESTATION_TYPE {
            return Err(AttestationError::Type(
                self.type_.chars().take(80).collect(),
            ));
        }
        let isms_item = crate::framework::checklist::item(&self.control).is_some();
        if catalog.get(&self.control).is_none() && !isms_item {
            return Err(AttestationError::UnknownControl(
                self.control.chars().take(40).collect(),
            ));
        }
        if isms_item && self.evidence.is_empty() {
            return Err(AttestationError::NoDocument(self.control.clone()));
        }
        if self.statement.trim().is_empty() {
            return Err(AttestationError::Empty);
        }
        if self.expires < self.signed_at.date_naive() {
            return Err(AttestationError::ExpiresBeforeSigning {
                expires: self.expires,
                signed: self.signed_at.date_naive(),
            });
        }
        Ok(())
    }

    /// Sign: the exact DSSE envelope bytes.
    pub fn sign(&self, signer: &Signer) -> Vec<u8> {
        let payload = serde_json::to_vec(self).unwrap_or_default();
        signer
            .sign_envelope(ATTESTATION_PAYLOAD_TYPE, payload)
            .to_json()
    }

    /// Whether it still counts on `day`.
    pub fn current_on(&self, day: NaiveDate) -> bool {
        day <= self.expires
    }
}

/// Verify an attestation envelope strictly against the attester's key and
/// check its content.
pub fn verify(
    envelope: &[u8],
    key: &VerifyingKey,
    catalog: &Catalog,
) -> Result<Attestation, AttestationError> {
    let env = Envelope::from_json(envelope)?;
    let payload = env.verify(key, ATTESTATION_PAYLOAD_TYPE)?;
    let att: Attestation =
        serde_json::from_slice(payload).map_err(|e| AttestationError::Json(e.to_string()))?;
    let signer = dsse::key_id(key);
    if att.attester.key_id != signer {
        return Err(AttestationError::KeyMismatch {
            named: att.attester.key_id.clone(),
            signer,
        });
    }
    att.validate(catalog)?;
    Ok(att)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_digest;

    fn sample(signer: &Signer) -> Attestation {
        Attestation {
            type_: ATTESTATION_TYPE.into(),
            control: "A.6.3".into(),
            statement: "Awareness training completed by all staff".into(),
            attester: Attester {
                name: "ciso@example.com".into(),
                key_id: signer.key_id().into(),
            },
            signed_at: "2026-11-01T09:00:00Z".parse().unwrap(),
            expires: "2027-10-31".parse().unwrap(),
            evidence: vec![EvidenceDoc {
                name: "training.pdf".into(),
                sha256: sha256_digest(b"pdf"),
                size: 3,
            }],
        }
    }

    #[test]
    fn sign_verify_and_expiry() {
        let s = Signer::from_seed(&[3u8; 32]);
        let att = sample(&s);
        let env = att.sign(&s);
        let back = verify(&env, &s.verifying_key(), Catalog::annex_a()).unwrap();
        assert_eq!(back, att);
        assert!(back.current_on("2027-10-31".parse().unwrap()));
        assert!(!back.current_on("2027-11-01".parse().unwrap()));
        let other = Signer::from_seed(&[4u8; 32]);
        assert!(verify(&env, &other.verifying_key(), Catalog::annex_a()).is_err());
        let mut tampered = env.clone();
        let i = tampered.len() / 2;
        tampered[i] ^= 1;
        assert!(verify(&tampered, &s.verifying_key(), Catalog::annex_a()).is_err());
    }

    #[test]
    fn bad_content_is_refused() {
        let s = Signer::from_seed(&[3u8; 32]);
        let mut att = sample(&s);
        att.control = "A.9.9".into();
        assert!(matches!(
            verify(&att.sign(&s), &s.verifying_key(), Catalog::annex_a()),
            Err(AttestationError::UnknownControl(_))
        ));
        let mut att = sample(&s);
        att.attester.key_id = "00".repeat(32);
        assert!(matches!(
            verify(&att.sign(&s), &s.verifying_key(), Catalog::annex_a()),
            Err(AttestationError::KeyMismatch { .. })
        ));
        let mut att = sample(&s);
        att.expires = "2026-01-01".parse().unwrap();
        assert!(att.validate(Catalog::annex_a()).is_err());
        // ISMS documented information: a checklist item, with its document.
        let mut att = sample(&s);
        att.control = "9.2".into();
        assert_eq!(
            verify(&att.sign(&s), &s.verifying_key(), Catalog::annex_a()).unwrap(),
            att
        );
        att.evidence.clear();
        assert!(matches!(
            att.validate(Catalog::annex_a()),
            Err(AttestationError::NoDocument(_))
        ));
        att.control = "9.9".into();
        assert!(matches!(
            att.validate(Catalog::annex_a()),
            Err(AttestationError::UnknownControl(_))
        ));
    }
}
