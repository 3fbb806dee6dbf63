//! Webhook signatures, two schemes on every delivery:
//!
//! - Evident's own (kept for existing receivers): HMAC-SHA256 over
//!   `TIMESTAMP.BODY` with the secret file's bytes, sent as
//!   `X-Evident-Signature: sha256=<hex>` with `X-Evident-Timestamp`.
//! - Standard Webhooks (<https://www.standardwebhooks.com/>): HMAC-SHA256
//!   over `ID.TIMESTAMP.BODY`, sent as `webhook-signature: v1,<base64>` with
//!   `webhook-id` and `webhook-timestamp`. The key is the base64 after
//!   `whsec_` when the secret has that prefix, else the secret's bytes.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// HMAC-SHA256 over `TIMESTAMP.BODY`, hex: the `X-Evident-Signature` value
/// (after `sha256=`) of a webhook delivery.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The Standard Webhooks signing key of a secret: base64-decoded after a
/// `whsec_` prefix, else the secret's bytes as they are.
pub fn standard_key(secret: &[u8]) -> Result<Vec<u8>, String> {
    match secret.strip_prefix(b"whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("the whsec_ secret is not base64: {e}")),
        None => Ok(secret.to_vec()),
    }
}

/// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of
/// `ID.TIMESTAMP.BODY` under `key` (see [`standard_key`]).
pub fn standard_signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Recompute by hand through the hmac crate.
        let sig = signature(b"0123456789abcdef", "1700000000", b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"0123456789abcdef").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sig.len(), 64);
    }

    #[test]
    fn standard_webhooks_reference_vector() {
        // The example of the Standard Webhooks specification and its
        // reference libraries (secret, id, timestamp, payload → signature).
        let key = standard_key(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = standard_signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // Without the prefix the bytes are the key; bad base64 is refused.
        assert_eq!(
            standard_key(b"plain-secret-bytes").unwrap(),
            b"plain-secret-bytes"
        );
        assert!(standard_key(b"whsec_***").is_err());
    }
}
