//! DSSE envelopes signed with Ed25519.
//!
//! Signatures cover the DSSE pre-authentication encoding (PAE) of the exact
//! payload bytes, so nothing is re-serialised before verifying. Verification
//! is strict (`verify_strict`), and weak (small-order) public keys are refused.
//! A key id is the lowercase hex sha256 of the 32 public key bytes.
//!
//! The envelope JSON (`payloadType`, base64 `payload`, `signatures[].keyid`,
//! `signatures[].sig`) is a wire format and an API boundary.

use crate::digest::sha256_hex;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Why an envelope or a key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is not valid JSON of the DSSE shape: {0}")]
    Json(String),
    #[error("envelope field `{field}` is not valid base64")]
    Base64 { field: &'static str },
    #[error("envelope has payloadType `{actual}`, expected `{expected}`")]
    PayloadType { expected: String, actual: String },
    #[error("envelope carries no signature by key {0}")]
    NoSignatureForKey(String),
    #[error("signature by key {0} does not verify")]
    BadSignature(String),
    #[error("public key is not 32 bytes (got {0})")]
    KeyLength(usize),
    #[error("public key is not a valid Ed25519 point")]
    InvalidKey,
    #[error("public key is weak (small order) and is refused")]
    WeakKey,
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// Key id of the signer (hex sha256 of the public key).
    pub keyid: String,
    /// The 64 signature bytes (any length is kept as received and refused at verification).
    pub sig: Vec<u8>,
}

/// A DSSE envelope with its payload decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The payload's media type.
    pub payload_type: String,
    /// The exact payload bytes that were signed.
    pub payload: Vec<u8>,
    /// Signatures over `PAE(payload_type, payload)`.
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    signatures: Vec<RawSignature>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

/// The DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// The key id of a public key: lowercase hex sha256 of its 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    sha256_hex(key.as_bytes())
}

/// Parse a public key received from outside, refusing invalid and weak keys.
pub fn parse_public_key(bytes: &[u8]) -> Result<VerifyingKey, EnvelopeError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| EnvelopeError::KeyLength(bytes.len()))?;
    let key = VerifyingKey::from_bytes(&arr).map_err(|_| EnvelopeError::InvalidKey)?;
    if key.is_weak() {
        return Err(EnvelopeError::WeakKey);
    }
    Ok(key)
}

/// An Ed25519 signing key. In the binaries, only the signer module holds one.
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl Signer {
    /// A signer from a 32-byte secret seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> Signer {
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(&key.verifying_key());
        Signer { key, key_id }
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The key id (hex sha256 of the public key).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Sign raw bytes (used for the RFC 8032 vectors and by [`Signer::sign_envelope`]).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Wrap `payload` in a DSSE envelope signed over its PAE.
    pub fn sign_envelope(&self, payload_type: &str, payload: Vec<u8>) -> Envelope {
        let sig = self.sign(&pae(payload_type, &payload));
        Envelope {
            payload_type: payload_type.to_string(),
            payload,
            signatures: vec![EnvelopeSignature {
                keyid: self.key_id.clone(),
                sig: sig.to_vec(),
            }],
        }
    }
}

impl Envelope {
    /// Decode an envelope from its JSON bytes. Base64 must be canonical standard base64.
    pub fn from_json(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Json(e.to_string()))?;
        let payload = B64
            .decode(raw.payload.as_bytes())
            .map_err(|_| EnvelopeError::Base64 { field: "payload" })?;
        let signatures = raw
            .signatures
            .into_iter()
            .map(|s| {
                Ok(EnvelopeSignature {
                    keyid: s.keyid,
                    sig: B64
                        .decode(s.sig.as_bytes())
                        .map_err(|_| EnvelopeError::Base64 { field: "sig" })?,
                })
            })
            .collect::<Result<Vec<_>, EnvelopeError>>()?;
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// Encode as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let raw = RawEnvelope {
            payload_type: self.payload_type.clone(),
            payload: B64.encode(&self.payload),
            signatures: self
                .signatures
                .iter()
                .map(|s| RawSignature {
                    keyid: s.keyid.clone(),
                    sig: B64.encode(&s.sig),
                })
                .collect(),
        };
        serde_json::to_vec(&raw).unwrap_or_default()
    }

    /// The key ids named by the signatures, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.signatures.iter().map(|s| s.keyid.as_str())
    }

    /// Verify strictly that `key` signed this envelope and that its payload
    /// type is `payload_type`; returns the payload bytes.
    pub fn verify(&self, key: &VerifyingKey, payload_type: &str) -> Result<&[u8], EnvelopeError> {
        if self.payload_type != payload_type {
            return Err(EnvelopeError::PayloadType {
                expected: payload_type.to_string(),
                actual: self.payload_type.chars().take(100).collect(),
            });
        }
        if key.is_weak() {
            return Err(EnvelopeError::WeakKey);
        }
        let id = key_id(key);
        let sig = self
            .signatures
            .iter()
            .find(|s| s.keyid == id)
            .ok_or_else(|| EnvelopeError::NoSignatureForKey(id.clone()))?;
        let sig_bytes: [u8; 64] = sig
            .sig
            .as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::BadSignature(id.clone()))?;
        let signature = Signature::from_bytes(&sig_bytes);
        key.verify_strict(&pae(&self.payload_type, &self.payload), &signature)
            .map_err(|_| EnvelopeError::BadSignature(id))?;
        Ok(&self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn pae_known_answer_from_the_dsse_spec() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    /// RFC 8032 §7.1 test vectors: (secret, public, message, signature).
    const RFC8032: &[(&str, &str, &str, &str)] = &[
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
        (
            "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
            "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    ];

    #[test]
    fn rfc8032_vectors_through_the_signer() {
        for (sk, pk, msg, sig) in RFC8032 {
            let seed: [u8; 32] = h(sk).try_into().unwrap();
            let signer = Signer::from_seed(&seed);
            assert_eq!(signer.verifying_key().as_bytes().to_vec(), h(pk));
            assert_eq!(signer.sign(&h(msg)).to_vec(), h(sig));
            let key = parse_public_key(&h(pk)).unwrap();
            let signature = Signature::from_bytes(&h(sig).try_into().unwrap());
            key.verify_strict(&h(msg), &signature).unwrap();
        }
    }

    #[test]
    fn key_id_is_hex_sha256_of_public_key() {
        let signer = Signer::from_seed(&[7u8; 32]);
        assert_eq!(
            signer.key_id(),
            sha256_hex(signer.verifying_key().as_bytes())
        );
        assert_eq!(signer.key_id().len(), 64);
    }

    #[test]
    fn weak_and_malformed_keys_are_refused() {
        // The identity point (small order) encodes as 0x01 followed by zeros.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(parse_public_key(&identity), Err(EnvelopeError::WeakKey));
        assert_eq!(
            parse_public_key(&[0u8; 31]),
            Err(EnvelopeError::KeyLength(31))
        );
    }

    #[test]
    fn envelope_json_round_trip_and_verify() {
        let signer = Signer::from_seed(&[42u8; 32]);
        let env = signer.sign_envelope("application/vnd.in-toto+json", b"{\"a\":1}".to_vec());
        let json = env.to_json();
        let back = Envelope::from_json(&json).unwrap();
        assert_eq!(back, env);
        let payload = back
            .verify(&signer.verifying_key(), "application/vnd.in-toto+json")
            .unwrap();
        assert_eq!(payload, b"{\"a\":1}");
        let other = Signer::from_seed(&[43u8; 32]);
        assert!(matches!(
            back.verify(&other.verifying_key(), "application/vnd.in-toto+json"),
            Err(EnvelopeError::NoSignatureForKey(_))
        ));
        assert!(matches!(
            back.verify(&signer.verifying_key(), "text/plain"),
            Err(EnvelopeError::PayloadType { .. })
        ));
    }

    #[test]
    fn malformed_envelopes_give_errors_not_panics() {
        for bad in [
            &b""[..],
            b"null",
            b"{}",
            b"{\"payloadType\":\"x\",\"payload\":\"!!\",\"signatures\":[]}",
            b"{\"payloadType\":\"x\",\"payload\":\"\",\"signatures\":[{\"sig\":\"%%\"}]}",
            b"{\"payloadType\":\"x\",\"payload\":\"\",\"signatures\":[],\"extra\":1}",
        ] {
            assert!(Envelope::from_json(bad).is_err());
        }
    }

    fn flip(bytes: &mut [u8], bit: usize) {
        let i = bit / 8 % bytes.len();
        bytes[i] ^= 1 << (bit % 8);
    }

    proptest! {
        #[test]
        fn flipping_any_payload_bit_is_rejected(payload in proptest::collection::vec(any::<u8>(), 1..512), bit in any::<usize>()) {
            let signer = Signer::from_seed(&[9u8; 32]);
            let mut env = signer.sign_envelope("application/vnd.in-toto+json", payload);
            flip(&mut env.payload, bit);
            prop_assert!(env.verify(&signer.verifying_key(), "application/vnd.in-toto+json").is_err());
        }

        #[test]
        fn flipping_any_payload_type_bit_is_rejected(bit in any::<usize>()) {
            let signer = Signer::from_seed(&[9u8; 32]);
            let pt = "application/vnd.in-toto+json";
            let mut env = signer.sign_envelope(pt, b"{}".to_vec());
            let mut bytes = env.payload_type.clone().into_bytes();
            flip(&mut bytes, bit);
            env.payload_type = String::from_utf8_lossy(&bytes).into_owned();
            // Checked both as the expected type and as whatever the envelope now claims.
            prop_assert!(env.verify(&signer.verifying_key(), pt).is_err());
            let claimed = env.payload_type.clone();
            prop_assert!(env.verify(&signer.verifying_key(), &claimed).is_err());
        }

        #[test]
        fn flipping_any_signature_bit_is_rejected(payload in proptest::collection::vec(any::<u8>(), 0..256), bit in 0usize..512) {
            let signer = Signer::from_seed(&[9u8; 32]);
            let mut env = signer.sign_envelope("application/vnd.in-toto+json", payload);
            flip(&mut env.signatures[0].sig, bit);
            prop_assert!(env.verify(&signer.verifying_key(), "application/vnd.in-toto+json").is_err());
        }

        #[test]
        fn flipping_any_blob_bit_is_rejected(blob in proptest::collection::vec(any::<u8>(), 1..512), bit in any::<usize>()) {
            let digest = crate::digest::sha256_digest(&blob);
            let mut tampered = blob.clone();
            flip(&mut tampered, bit);
            prop_assert!(crate::evidence::check_blob("p", &digest, &tampered).is_err());
            prop_assert!(crate::evidence::check_blob("p", &digest, &blob).is_ok());
        }

        #[test]
        fn envelope_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = Envelope::from_json(&bytes);
        }
    }
}
