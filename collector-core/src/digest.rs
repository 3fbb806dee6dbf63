//! Content digests in the `sha256:<hex>` form used for blobs, envelopes and
//! policy files.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::str::FromStr;

/// A sha256 digest, written `sha256:<64 lowercase hex digits>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

/// The digest of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    Digest(Sha256::digest(bytes).into())
}

/// The digest of `value`'s JSON, hashed as it is written (no buffer).
pub fn sha256_json_digest<T: serde::Serialize + ?Sized>(value: &T) -> Digest {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hashing(Sha256::new());
    // Writing to a hasher cannot fail; a value that cannot be serialized
    // hashes what was written before it failed, as `to_vec` gave nothing.
    let _ = serde_json::to_writer(&mut h, value);
    Digest(h.0.finalize().into())
}

/// The bare lowercase hex sha256 of `bytes` (no `sha256:` prefix).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Digest {
    /// The 64 hex digits without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `sha256:<hex>` in a stack buffer (no allocation: digests are
    /// written many times per ingested run, into keys and JSON).
    fn text(&self) -> [u8; 71] {
        let mut out = [0u8; 71];
        out[..7].copy_from_slice(b"sha256:");
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(self.0, &mut out[7..]);
        out
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.text();
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestParseError {
    #[error("digest `{0}` does not start with `sha256:`")]
    Algorithm(String),
    #[error("digest `{0}` is not 64 lowercase hex digits")]
    Hex(String),
}

impl FromStr for Digest {
    type Err = DigestParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex_part = s
            .strip_prefix("sha256:")
            .ok_or_else(|| DigestParseError::Algorithm(truncate(s)))?;
        if hex_part.len() != 64 || hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(DigestParseError::Hex(truncate(s)));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).map_err(|_| DigestParseError::Hex(truncate(s)))?;
        Ok(Digest(out))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.text();
        s.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_digest_is_the_digest_of_the_json() {
        let v = serde_json::json!({"a": [1, "x\u{1}y", null], "b": {"c": true}});
        let bytes = serde_json::to_vec(&v).unwrap();
        assert_eq!(sha256_json_digest(&v), sha256_digest(&bytes));
        assert_ne!(sha256_json_digest(&v), sha256_json_digest(&1));
    }

    #[test]
    fn known_answer_and_round_trip() {
        let d = sha256_digest(b"abc");
        assert_eq!(
            d.to_string(),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.to_string().parse::<Digest>(), Ok(d));
        // JSON and Debug write the same text.
        assert_eq!(serde_json::to_string(&d).unwrap(), format!("\"{d}\""));
        assert_eq!(format!("{d:?}"), d.to_string());
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            "md5:00".parse::<Digest>(),
            Err(DigestParseError::Algorithm(_))
        ));
        assert!(matches!(
            "sha256:zz".parse::<Digest>(),
            Err(DigestParseError::Hex(_))
        ));
        let upper = format!("sha256:{}", "A".repeat(64));
        assert!(matches!(
            upper.parse::<Digest>(),
            Err(DigestParseError::Hex(_))
        ));
    }
}
