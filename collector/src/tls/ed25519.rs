//! The server's second certificate, for agents: an Ed25519 key whose
//! handshake signatures `aws-lc-rs` makes, and the resolver that offers it
//! to the clients that accept Ed25519.
//!
//! Every agent run opens a new TLS connection, so the server signs one
//! handshake (`CertificateVerify`) per run. `ring` signs ECDSA P-256 in
//! 25–34 µs on session 19's bench VM; `aws-lc-rs` signs Ed25519 in
//! 11–14 µs. In memory the server's handshake went from 45 to 38 µs, and
//! the agent's (`ring`) from 110 to 106 µs (`docs/benchmarks.md`, session
//! 20). Browsers do not accept Ed25519 in TLS, so the console keeps the
//! P-256 certificate: [`Resolver`] chooses by the `signature_algorithms` a
//! client offers. Both certificates are issued by the same private CA
//! (`tls::generate`, `tls::reissue`), whose own signature stays P-256, and
//! `tls::server_config` refuses them unless they carry the same chain.
//! As in `x25519.rs`, this is an adapter onto `aws_lc_rs::signature`
//! rather than rustls' own aws-lc provider, which would need rustls'
//! `aws_lc_rs` feature in every rustls user of a workspace build (the
//! agent stays on `ring` alone).

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use rustls::pki_types::{alg_id, PrivateKeyDer, SubjectPublicKeyInfoDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, Signer, SigningKey};
use rustls::{Error, SignatureAlgorithm, SignatureScheme};
use std::sync::Arc;

/// An Ed25519 private key that signs TLS handshakes with aws-lc.
pub struct Ed25519Key(Arc<Ed25519KeyPair>);

impl std::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Key").finish_non_exhaustive()
    }
}

impl Ed25519Key {
    /// The key in `der` (PKCS#8, v1 or v2, as rcgen and OpenSSL write it).
    pub fn from_der(der: &PrivateKeyDer<'_>) -> Result<Ed25519Key, Error> {
        let PrivateKeyDer::Pkcs8(pkcs8) = der else {
            return Err(Error::General(
                "the Ed25519 server key must be PKCS#8 (BEGIN PRIVATE KEY)".into(),
            ));
        };
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8.secret_pkcs8_der())
            .map(|k| Ed25519Key(Arc::new(k)))
            .map_err(|e| Error::General(format!("not an Ed25519 private key: {e}")))
    }
}

impl SigningKey for Ed25519Key {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered
            .contains(&SignatureScheme::ED25519)
            .then(|| Box::new(Ed25519Signer(self.0.clone())) as Box<dyn Signer>)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(rustls::sign::public_key_to_spki(
            &alg_id::ED25519,
            self.0.public_key(),
        ))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}

/// One handshake's signer.
struct Ed25519Signer(Arc<Ed25519KeyPair>);

impl std::fmt::Debug for Ed25519Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Signer").finish_non_exhaustive()
    }
}

impl Signer for Ed25519Signer {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        Ok(self.0.sign(message).as_ref().to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// The server's certificates: the Ed25519 one for a client that offers
/// Ed25519 signatures (agents, rustls and OpenSSL clients), the default
/// (P-256) one for every other (browsers).
#[derive(Debug)]
pub struct Resolver {
    /// The certificate every client can use.
    pub default: Arc<CertifiedKey>,
    /// The Ed25519 certificate, when configured.
    pub ed25519: Option<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match &self.ed25519 {
            Some(ed)
                if hello
                    .signature_schemes()
                    .contains(&SignatureScheme::ED25519) =>
            {
                Some(ed.clone())
            }
            _ => Some(self.default.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    /// A signature aws-lc makes verifies (strictly) under the key's public
    /// half, and the public key the adapter reports is the certificate's.
    /// (That the agent's `ring` client takes it: `tls::tests`.)
    #[test]
    fn signs_what_verifies_strictly_under_its_public_key() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let der = PrivateKeyDer::from_pem_slice(pair.serialize_pem().as_bytes()).unwrap();
        let key = Ed25519Key::from_der(&der).unwrap();
        assert_eq!(key.algorithm(), SignatureAlgorithm::ED25519);
        use rcgen::PublicKeyData as _;
        assert_eq!(
            key.public_key().unwrap().as_ref(),
            pair.subject_public_key_info().as_slice()
        );
        // Not chosen unless the client offers Ed25519.
        assert!(key
            .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
            .is_none());
        let signer = key
            .choose_scheme(&[
                SignatureScheme::ECDSA_NISTP256_SHA256,
                SignatureScheme::ED25519,
            ])
            .unwrap();
        assert_eq!(signer.scheme(), SignatureScheme::ED25519);
        let sig = signer.sign(b"transcript").unwrap();
        let public = ed25519_dalek::VerifyingKey::try_from(pair.public_key_raw()).unwrap();
        let sig = ed25519_dalek::Signature::from_slice(&sig).unwrap();
        public.verify_strict(b"transcript", &sig).unwrap();
        assert!(public.verify_strict(b"transcripT", &sig).is_err());
    }

    #[test]
    fn refuses_keys_that_are_not_ed25519() {
        let p256 = rcgen::KeyPair::generate().unwrap();
        let der = PrivateKeyDer::from_pem_slice(p256.serialize_pem().as_bytes()).unwrap();
        let err = Ed25519Key::from_der(&der).unwrap_err().to_string();
        assert!(err.contains("not an Ed25519 private key"), "{err}");
    }
}
