//! A private CA and the server's certificates (P-256 for every client, Ed25519
//! for agents), made with rcgen on `init`, and the rustls server
//! configuration (`ring`, with X25519 and Ed25519 from `aws-lc-rs`:
//! [`x25519`], [`ed25519`]).

mod ed25519;
mod x25519;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// Why TLS material could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{what}: {message}")]
    Pem { what: &'static str, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// PEM texts made by [`generate`].
#[derive(Debug)]
pub struct Generated {
    /// CA certificate (give it to agents).
    pub ca_pem: String,
    /// CA private key (keep it to issue further certificates).
    pub ca_key_pem: String,
    /// The server's certificates, issued by that CA.
    pub server: ServerCerts,
}

/// The server's certificates made from the CA by [`generate`] and
/// [`reissue`]: each a chain PEM (leaf, then the CA) and its key PEM.
#[derive(Debug)]
pub struct ServerCerts {
    /// P-256: every client (browsers).
    pub chain_pem: String,
    /// Its key.
    pub key_pem: String,
    /// Ed25519: the clients that accept it (agents).
    pub ed25519_chain_pem: String,
    /// Its key.
    pub ed25519_key_pem: String,
}

/// The private CA's certificate parameters. Deterministic apart from the
/// key, so that [`reissue`] can rebuild the issuer from `ca.key` alone.
fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Evident collector private CA");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    Ok(ca_params)
}

/// The names a server certificate is made for: localhost, 127.0.0.1, ::1,
/// then `sans` in order, without repeats.
pub fn server_names(sans: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    for s in sans {
        let s = s.trim();
        if !s.is_empty() && !names.iter().any(|n| n == s) {
            names.push(s.to_string());
        }
    }
    names
}

/// A server certificate (leaf, then the CA) for `names` with a new key
/// of algorithm `alg`, signed by `issuer`.
fn server_cert(
    names: Vec<String>,
    issuer: &Issuer<'_, KeyPair>,
    ca_pem: &str,
    alg: &'static rcgen::SignatureAlgorithm,
) -> Result<(String, String), TlsError> {
    let server_key = KeyPair::generate_for(alg)?;
    let mut params = CertificateParams::new(names)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Evident collector");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2044, 1, 1);
    let cert = params.signed_by(&server_key, issuer)?;
    Ok((
        format!("{}{}", cert.pem(), ca_pem),
        server_key.serialize_pem(),
    ))
}

/// A fresh CA and a server certificate valid for localhost, 127.0.0.1, ::1 and `sans`.
pub fn generate(sans: &[String]) -> Result<Generated, TlsError> {
    let ca_key = KeyPair::generate()?;
    let ca_params = ca_params()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let server = server_certs(sans, &issuer, &ca_pem)?;
    Ok(Generated {
        ca_key_pem: issuer.key().serialize_pem(),
        ca_pem,
        server,
    })
}

/// Both server certificates for the same names from `issuer`.
fn server_certs(
    sans: &[String],
    issuer: &Issuer<'_, KeyPair>,
    ca_pem: &str,
) -> Result<ServerCerts, TlsError> {
    let names = server_names(sans);
    let (chain_pem, key_pem) = server_cert(
        names.clone(),
        issuer,
        ca_pem,
        &rcgen::PKCS_ECDSA_P256_SHA256,
    )?;
    let (ed25519_chain_pem, ed25519_key_pem) =
        server_cert(names, issuer, ca_pem, &rcgen::PKCS_ED25519)?;
    Ok(ServerCerts {
        chain_pem,
        key_pem,
        ed25519_chain_pem,
        ed25519_key_pem,
    })
}

/// New server certificates (P-256 and Ed25519) from the existing CA
/// (`ca.pem`, `ca.key`) for localhost, 127.0.0.1, ::1 and `sans`: agents
/// that trust the CA keep trusting the collector.
pub fn reissue(ca_pem: &str, ca_key_pem: &str, sans: &[String]) -> Result<ServerCerts, TlsError> {
    let ca_key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    // Make sure the key is the CA's: its public key must be the one in ca.pem.
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| TlsError::Pem {
        what: "CA certificate",
        message: e.to_string(),
    })?;
    let public = issuer.key().subject_public_key_info();
    if !ca_der
        .as_ref()
        .windows(public.len())
        .any(|w| w == public.as_slice())
    {
        return Err(TlsError::Pem {
            what: "CA key",
            message: "ca.key does not belong to the certificate in ca.pem".into(),
        });
    }
    server_certs(sans, &issuer, ca_pem)
}

/// The process-wide rustls provider: `ring`.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its private key from PEM bytes.
fn chain_and_key(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            what: "server certificate",
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            what: "server certificate",
            message: "no CERTIFICATE in the file".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Pem {
        what: "server key",
        message: e.to_string(),
    })?;
    Ok((certs, key))
}

/// A rustls server configuration from PEM bytes (HTTP/2 and HTTP/1.1 via
/// ALPN): the certificate `chain_pem` with `key_pem` for every client and,
/// when given, `ed25519` (chain and key PEM) for the clients that offer
/// Ed25519 signatures ([`ed25519::Resolver`]). Each key must be its
/// certificate's.
pub fn server_config(
    chain_pem: &[u8],
    key_pem: &[u8],
    ed25519: Option<(&[u8], &[u8])>,
) -> Result<rustls::ServerConfig, TlsError> {
    let provider = Arc::new(server_provider());
    let (certs, key) = chain_and_key(chain_pem, key_pem)?;
    let default = Arc::new(rustls::sign::CertifiedKey::from_der(certs, key, &provider)?);
    let ed25519 = match ed25519 {
        Some((chain_pem, key_pem)) => {
            let (certs, key) = chain_and_key(chain_pem, key_pem)?;
            // Both leaves must hang from the same chain: a `tls_cert`
            // replaced by one from another CA (a public one that agents
            // reach through `use_system_roots`) beside the Ed25519
            // certificate `init` made would fail every agent's handshake
            // while browsers still connect.
            if certs.get(1..) != default.cert.get(1..) {
                return Err(TlsError::Pem {
                    what: "tls_cert_ed25519",
                    message: "its chain (the certificates after the leaf) is not tls_cert's: \
                              issue both from the same CA (`evident-collector cert reissue`) \
                              or remove tls_cert_ed25519 and tls_key_ed25519 from config.toml"
                        .into(),
                });
            }
            let key = ed25519::Ed25519Key::from_der(&key)?;
            let certified = rustls::sign::CertifiedKey::new(certs, Arc::new(key));
            certified.keys_match()?;
            Some(Arc::new(certified))
        }
        None => None,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(ed25519::Resolver { default, ed25519 }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // The server's order of cipher suites, not the client's: rustls clients
    // (the agent) list AES-256-GCM-SHA384 first, whose transcript hash and
    // key schedule run SHA-384 in software; SHA-256 runs on the CPU's SHA
    // extensions. Both are TLS 1.3 suites of the same standing.
    config.ignore_client_order = true;
    // No session resumption: an agent uploads each run from a new worker
    // process (`agent/src/supervisor.rs`), so a ticket is never used, yet
    // issuing two per connection (rustls' default) costs random bytes, a
    // key derivation, a locked cache insert and an extra flight per run.
    // Browsers on the console keep their connections alive instead.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(config)
}

/// The server's provider: `ring`, its TLS 1.3 suites hashed with SHA-256
/// first (AES-128-GCM, ChaCha20-Poly1305), then AES-256-GCM-SHA384, then
/// the TLS 1.2 suites in `ring`'s order; its X25519 (the group of every
/// agent's handshake) computed by `aws-lc-rs` ([`x25519`]).
fn server_provider() -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    for group in &mut provider.kx_groups {
        if group.name() == rustls::NamedGroup::X25519 {
            *group = x25519::GROUP;
        }
    }
    provider.cipher_suites.sort_by_key(|s| {
        use rustls::SupportedCipherSuite::{Tls12, Tls13};
        match s {
            Tls13(t)
                if t.common.hash_provider.algorithm()
                    == rustls::crypto::hash::HashAlgorithm::SHA256 =>
            {
                0
            }
            Tls13(_) => 1,
            Tls12(_) => 2,
        }
    });
    provider
}

/// A rustls client configuration trusting only the CA in `ca_pem` (for tests,
/// the bench and the agent).
pub fn client_config(ca_pem: &[u8]) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| TlsError::Pem {
            what: "CA certificate",
            message: e.to_string(),
        })?;
        roots.add(cert)?;
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The base64 sha256 of the SubjectPublicKeyInfo of the key in `key_pem`:
/// the pin a browser is given for the server certificate
/// (`--ignore-certificate-errors-spki-list`, the console's browser tests).
pub fn spki_pin(key_pem: &str) -> Result<String, TlsError> {
    use base64::Engine as _;
    use rcgen::PublicKeyData as _;
    use sha2::Digest as _;
    let key = KeyPair::from_pem(key_pem)?;
    Ok(base64::engine::general_purpose::STANDARD
        .encode(sha2::Sha256::digest(key.subject_public_key_info())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Move what `from` has to send into `to`, and let `to` process it.
    fn send<A, B>(from: &mut rustls::ConnectionCommon<A>, to: &mut rustls::ConnectionCommon<B>) {
        let mut buf = Vec::new();
        while from.wants_write() {
            from.write_tls(&mut buf).unwrap();
        }
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            to.read_tls(&mut rd).unwrap();
        }
        to.process_new_packets().unwrap();
    }

    /// Drive a handshake between in-memory connections to its end.
    fn handshake(client: &mut rustls::ClientConnection, server: &mut rustls::ServerConnection) {
        for _ in 0..16 {
            send(client, server);
            send(server, client);
            if !client.is_handshaking() && !server.is_handshaking() && !server.wants_write() {
                return;
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn server_picks_sha256_suites_and_issues_no_tickets() {
        let g = generate(&["collector.example".into()]).unwrap();
        let server = Arc::new(
            server_config(
                g.server.chain_pem.as_bytes(),
                g.server.key_pem.as_bytes(),
                None,
            )
            .unwrap(),
        );
        // A client that would resume if it could, preferring AES-256-GCM-SHA384
        // (rustls' default order, the agent's).
        let client = Arc::new(client_config(g.ca_pem.as_bytes()).unwrap());
        assert_eq!(
            client.crypto_provider().cipher_suites[0].suite(),
            rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
        );
        for round in 0..2 {
            let name = rustls::pki_types::ServerName::try_from("collector.example").unwrap();
            let mut c = rustls::ClientConnection::new(client.clone(), name).unwrap();
            let mut s = rustls::ServerConnection::new(server.clone()).unwrap();
            handshake(&mut c, &mut s);
            assert_eq!(
                s.negotiated_cipher_suite().unwrap().suite(),
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
                "round {round}"
            );
            assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
            // The key exchange is X25519, computed by aws-lc ([`x25519`]).
            let group = s.negotiated_key_exchange_group().unwrap();
            assert_eq!(group.name(), rustls::NamedGroup::X25519);
            assert!(std::ptr::addr_eq(group, x25519::GROUP), "round {round}");
            // No ticket was issued, so the second connection is a full handshake too.
            assert_eq!(
                c.handshake_kind(),
                Some(rustls::HandshakeKind::Full),
                "round {round}"
            );
        }
    }

    /// The server configured as `init` makes it: both certificates.
    fn both(g: &Generated) -> Arc<rustls::ServerConfig> {
        Arc::new(
            server_config(
                g.server.chain_pem.as_bytes(),
                g.server.key_pem.as_bytes(),
                Some((
                    g.server.ed25519_chain_pem.as_bytes(),
                    g.server.ed25519_key_pem.as_bytes(),
                )),
            )
            .unwrap(),
        )
    }

    /// The leaf certificate of a chain PEM.
    fn leaf(chain_pem: &str) -> CertificateDer<'static> {
        CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap()
    }

    /// One handshake of `client` with `server` (which verifies the chain
    /// and the handshake's signature): the leaf the client was shown.
    fn shown(
        client: Arc<rustls::ClientConfig>,
        server: Arc<rustls::ServerConfig>,
    ) -> CertificateDer<'static> {
        let name = rustls::pki_types::ServerName::try_from("collector.example").unwrap();
        let mut c = rustls::ClientConnection::new(client, name).unwrap();
        let mut s = rustls::ServerConnection::new(server).unwrap();
        handshake(&mut c, &mut s);
        c.peer_certificates().unwrap()[0].clone().into_owned()
    }

    #[test]
    fn agents_get_the_ed25519_certificate_and_browsers_the_p256_one() {
        let g = generate(&["collector.example".into()]).unwrap();
        let server = both(&g);
        // The agent's client (`ring`, which offers Ed25519) verifies the
        // Ed25519 leaf and its handshake signature, made by aws-lc.
        let agent = Arc::new(client_config(g.ca_pem.as_bytes()).unwrap());
        assert!(agent
            .crypto_provider()
            .signature_verification_algorithms
            .supported_schemes()
            .contains(&rustls::SignatureScheme::ED25519));
        for _ in 0..2 {
            assert_eq!(
                shown(agent.clone(), server.clone()),
                leaf(&g.server.ed25519_chain_pem)
            );
        }
        // A client that does not offer Ed25519, as browsers do not, is
        // shown the P-256 certificate and completes its handshake.
        let mut provider = rustls::crypto::ring::default_provider();
        let schemes: Vec<_> = provider
            .signature_verification_algorithms
            .mapping
            .iter()
            .filter(|(s, _)| *s != rustls::SignatureScheme::ED25519)
            .copied()
            .collect();
        provider.signature_verification_algorithms.mapping = Box::leak(schemes.into_boxed_slice());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(leaf(&g.ca_pem)).unwrap();
        let browser = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(provider))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        );
        assert_eq!(shown(browser, server), leaf(&g.server.chain_pem));
    }

    /// Why `server_config` refuses a P-256 chain and key with, optionally,
    /// an Ed25519 chain and key (all PEM).
    fn refusal(chain: &str, key: &str, ed25519: Option<(&str, &str)>) -> String {
        server_config(
            chain.as_bytes(),
            key.as_bytes(),
            ed25519.map(|(c, k)| (c.as_bytes(), k.as_bytes())),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn generated_material_loads_and_keys_must_match_their_certificates() {
        let g = generate(&["collector.example".into()]).unwrap();
        both(&g);
        client_config(g.ca_pem.as_bytes()).unwrap();
        let ed = (
            g.server.ed25519_chain_pem.as_str(),
            g.server.ed25519_key_pem.as_str(),
        );
        // Certificates reissued from the same CA: each key refused with the
        // other certificate, and a P-256 key refused as the Ed25519 one.
        let again = reissue(&g.ca_pem, &g.ca_key_pem, &["collector.example".into()]).unwrap();
        let err = refusal(&again.chain_pem, &g.server.key_pem, None);
        assert!(err.contains("keys may not be consistent"), "{err}");
        // Both generations' certificates work with their own keys.
        server_config(
            again.chain_pem.as_bytes(),
            again.key_pem.as_bytes(),
            Some((ed.0.as_bytes(), ed.1.as_bytes())),
        )
        .unwrap();
        let err = refusal(
            &g.server.chain_pem,
            &g.server.key_pem,
            Some((&again.ed25519_chain_pem, ed.1)),
        );
        assert!(err.contains("keys may not be consistent"), "{err}");
        let err = refusal(
            &g.server.chain_pem,
            &g.server.key_pem,
            Some((ed.0, &g.server.key_pem)),
        );
        assert!(err.contains("not an Ed25519 private key"), "{err}");
        // An Ed25519 certificate from another CA than tls_cert's is refused:
        // agents would be shown a chain they may not trust.
        let other = generate(&["collector.example".into()]).unwrap();
        let err = refusal(
            &g.server.chain_pem,
            &g.server.key_pem,
            Some((
                &other.server.ed25519_chain_pem,
                &other.server.ed25519_key_pem,
            )),
        );
        assert!(err.contains("cert reissue"), "{err}");
        // The same when tls_cert is a leaf alone (no chain in the file).
        let leaf_alone = g.server.chain_pem.replace(&g.ca_pem, "");
        assert_ne!(leaf_alone, g.server.chain_pem);
        let err = refusal(&leaf_alone, &g.server.key_pem, Some(ed));
        assert!(err.contains("tls_cert_ed25519"), "{err}");
        let err = refusal("", &g.server.key_pem, None);
        assert!(err.contains("no CERTIFICATE"), "{err}");
    }
}
