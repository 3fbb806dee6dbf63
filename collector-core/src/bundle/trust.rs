//! Trust anchors an auditor pins, obtained out of band: the collector key
//! that must have signed a bundle's manifest, and the attester keys whose
//! attestations count. A key is given as the PEM that
//! `evident-collector key show` prints (SubjectPublicKeyInfo, with a
//! `# key id …` comment line), as the bundle's `collector.pub` form
//! (standard base64 of 32 bytes), or as a bare key id (64 hex digits, the
//! sha256 of the public key).

use crate::dsse::{self, EnvelopeError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const END: &str = "-----END PUBLIC KEY-----";
/// Comment line naming the key id in [`public_key_pem`] output.
pub const KEY_ID_COMMENT: &str = "# key id ";

/// Why a trust anchor could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    /// Not PEM, base64 of a key, nor a 64-hex-digit key id.
    #[error("not a public key PEM, a base64 Ed25519 key or a 64-hex-digit key id")]
    Unrecognised,
    /// PEM whose body is not an Ed25519 SubjectPublicKeyInfo.
    #[error("the PEM does not hold an Ed25519 public key")]
    NotEd25519,
    /// An invalid or weak key.
    #[error("unusable key: {0}")]
    Key(#[from] EnvelopeError),
    /// The comment's key id is not the key's.
    #[error("the comment names key id {comment} but the key's id is {actual}")]
    KeyIdMismatch {
        /// Key id on the comment line.
        comment: String,
        /// Key id of the PEM's key.
        actual: String,
    },
}

/// A pinned key: its id, and the key itself when it was given in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// Hex sha256 of the public key.
    pub key_id: String,
    /// The key, unless only its id was given.
    pub key: Option<VerifyingKey>,
}

/// The PEM form of `key`, with its key id on a comment line first.
pub fn public_key_pem(key: &VerifyingKey) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.as_bytes());
    format!(
        "{KEY_ID_COMMENT}{}\n{BEGIN}\n{}\n{END}\n",
        dsse::key_id(key),
        B64.encode(der)
    )
}

fn is_key_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Read a trust anchor (see the module doc for the accepted forms).
pub fn parse_trust(text: &str) -> Result<TrustedKey, TrustError> {
    let text = text.trim();
    if let Some(start) = text.find(BEGIN) {
        let body = text
            .get(start + BEGIN.len()..)
            .and_then(|rest| rest.find(END).and_then(|end| rest.get(..end)))
            .ok_or(TrustError::Unrecognised)?;
        let b64: String = body.split_whitespace().collect();
        let der = B64
            .decode(b64.as_bytes())
            .map_err(|_| TrustError::NotEd25519)?;
        let raw = der
            .strip_prefix(&SPKI_PREFIX[..])
            .ok_or(TrustError::NotEd25519)?;
        let key = dsse::parse_public_key(raw)?;
        let actual = dsse::key_id(&key);
        for line in text.lines() {
            if let Some(id) = line.trim().strip_prefix(KEY_ID_COMMENT) {
                let id = id.trim().to_ascii_lowercase();
                if id != actual {
                    return Err(TrustError::KeyIdMismatch {
                        comment: id,
                        actual,
                    });
                }
            }
        }
        return Ok(TrustedKey {
            key_id: actual,
            key: Some(key),
        });
    }
    let bare = text.strip_prefix("sha256:").unwrap_or(text);
    if is_key_id(bare) {
        return Ok(TrustedKey {
            key_id: bare.to_ascii_lowercase(),
            key: None,
        });
    }
    match B64.decode(text.as_bytes()) {
        Ok(raw) if raw.len() == 32 => {
            let key = dsse::parse_public_key(&raw)?;
            Ok(TrustedKey {
                key_id: dsse::key_id(&key),
                key: Some(key),
            })
        }
        _ => Err(TrustError::Unrecognised),
    }
}

/// Whether `key_id` is the pinned key.
impl TrustedKey {
    /// True when `key_id` names this key.
    pub fn matches(&self, key_id: &str) -> bool {
        self.key_id.eq_ignore_ascii_case(key_id)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::dsse::Signer;

    #[test]
    fn pem_round_trips_with_its_key_id() {
        let s = Signer::from_seed(&[7u8; 32]);
        let pem = public_key_pem(&s.verifying_key());
        assert!(pem.starts_with(&format!("# key id {}\n", s.key_id())));
        let t = parse_trust(&pem).unwrap();
        assert_eq!(t.key_id, s.key_id());
        assert_eq!(t.key, Some(s.verifying_key()));
    }

    #[test]
    fn bare_key_ids_and_base64_keys_are_accepted() {
        let s = Signer::from_seed(&[9u8; 32]);
        let t = parse_trust(&format!("  {}\n", s.key_id().to_uppercase())).unwrap();
        assert_eq!(t.key_id, s.key_id());
        assert_eq!(t.key, None);
        let b64 = B64.encode(s.verifying_key().as_bytes());
        assert_eq!(parse_trust(&b64).unwrap().key_id, s.key_id());
    }

    #[test]
    fn a_comment_naming_another_key_is_refused() {
        let a = Signer::from_seed(&[1u8; 32]);
        let b = Signer::from_seed(&[2u8; 32]);
        let pem = public_key_pem(&a.verifying_key()).replace(a.key_id(), b.key_id());
        assert!(matches!(
            parse_trust(&pem),
            Err(TrustError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(parse_trust(""), Err(TrustError::Unrecognised));
        assert_eq!(parse_trust("hello"), Err(TrustError::Unrecognised));
        let pem = format!("{BEGIN}\nAAAA\n{END}\n");
        assert_eq!(parse_trust(&pem), Err(TrustError::NotEd25519));
    }
}
