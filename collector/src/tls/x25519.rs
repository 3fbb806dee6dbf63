//! The server's X25519 key exchange through `aws-lc-rs` instead of `ring`.
//!
//! Every agent run opens a new TLS connection, so the server pays for one
//! ephemeral X25519 key pair and one shared secret per run. `ring` 0.17
//! computes both with fiat-crypto's field arithmetic (~80–100 µs a handshake on
//! the bench VM, 15 % of `serve`'s CPU per run at 10,000 hosts);
//! `aws-lc-rs` uses s2n-bignum's X25519 (~42–52 µs measured side by side,
//! `docs/benchmarks.md`, session 19). Everything else in the server's
//! provider (cipher suites, signatures, the other groups) stays `ring`.
//! This is an adapter onto `aws_lc_rs::agreement`, the same shape as
//! rustls' own (`rustls::crypto::aws_lc_rs::kx_group`). That one is not used:
//! it needs rustls' `aws_lc_rs` feature, which cargo would unify into every
//! rustls user of a workspace build, the agent among them; the agent stays
//! on `ring` alone.

use aws_lc_rs::agreement;
use rustls::crypto::{ActiveKeyExchange, SharedSecret, SupportedKxGroup};
use rustls::{Error, NamedGroup, PeerMisbehaved};

/// Ephemeral ECDH on curve25519 (RFC 7748), computed by aws-lc.
#[derive(Debug)]
pub struct X25519;

/// The group as rustls takes it in a provider's `kx_groups`.
pub static GROUP: &dyn SupportedKxGroup = &X25519;

impl SupportedKxGroup for X25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let private = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng)
            .map_err(|_| rustls::crypto::GetRandomFailed)?;
        let public = private
            .compute_public_key()
            .map_err(|_| rustls::crypto::GetRandomFailed)?;
        Ok(Box::new(Active { private, public }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// A key exchange under way: our ephemeral key pair.
struct Active {
    private: agreement::EphemeralPrivateKey,
    public: agreement::PublicKey,
}

impl ActiveKeyExchange for Active {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, Error> {
        // TLS 1.3 allows only the 32-byte encoding (RFC 8446 §4.2.8.2).
        if peer.len() != 32 {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, peer);
        // aws-lc refuses a peer key of small order (an all-zero secret),
        // as ring does.
        agreement::agree_ephemeral(self.private, peer, (), |secret| {
            Ok(SharedSecret::from(secret))
        })
        .map_err(|()| PeerMisbehaved::InvalidKeyShare.into())
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_ref()
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same secret as ring's X25519 computes from the other side.
    #[test]
    fn agrees_with_ring() {
        let ring_group = rustls::crypto::ring::kx_group::X25519;
        for _ in 0..8 {
            let ours = GROUP.start().unwrap();
            let theirs = ring_group.start().unwrap();
            assert_eq!(ours.pub_key().len(), 32);
            let ours_pub = ours.pub_key().to_vec();
            let theirs_pub = theirs.pub_key().to_vec();
            let a = ours.complete(&theirs_pub).unwrap();
            let b = theirs.complete(&ours_pub).unwrap();
            assert_eq!(a.secret_bytes(), b.secret_bytes());
            assert_eq!(a.secret_bytes().len(), 32);
        }
    }

    /// Key shares of the wrong length, and points of small order (whose
    /// shared secret would be all zeros, RFC 7748 §6.1), are refused.
    #[test]
    fn refuses_bad_key_shares() {
        for bad in [&[9u8; 31][..], &[9u8; 33][..], &[][..]] {
            let e = GROUP.start().unwrap().complete(bad).err();
            assert_eq!(
                e,
                Some(Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare))
            );
        }
        // Points of small order: u = 0 (order 2) and u = 1 (order 4) give an
        // all-zero secret with any clamped scalar.
        let zero = [0u8; 32];
        let mut order8 = [0u8; 32];
        order8[0] = 1;
        for point in [zero, order8] {
            let e = GROUP.start().unwrap().complete(&point).err();
            assert_eq!(
                e,
                Some(Error::PeerMisbehaved(PeerMisbehaved::InvalidKeyShare))
            );
        }
        assert_eq!(GROUP.name(), NamedGroup::X25519);
        assert_eq!(GROUP.start().unwrap().group(), NamedGroup::X25519);
    }
}
