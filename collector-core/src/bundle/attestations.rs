//! Checks of attestations against their attesters' keys.

use super::model::{attestation_path, attester_path, AttesterEntry, BlobSource};
use super::report::{AttesterSummary, Report};
use crate::catalog::Catalog;
use crate::digest::sha256_digest;
use crate::dsse::{self, Envelope};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::collections::{BTreeMap, HashMap};

/// Verify every attestation of the bundle against its attester's key;
/// returns the valid ones as report references (current on `today`).
pub fn check_attestations(
    members: &BTreeMap<String, Vec<u8>>,
    today: chrono::NaiveDate,
    r: &mut Report,
) -> Vec<crate::attestation::AttestationRef> {
    check_attestations_with(members, members, today, r)
}

/// [`check_attestations`] reading attesters and attestations from `members`
/// and the evidence documents' presence from `blobs`.
pub(super) fn check_attestations_with(
    members: &BTreeMap<String, Vec<u8>>,
    blobs: &dyn BlobSource,
    today: chrono::NaiveDate,
    r: &mut Report,
) -> Vec<crate::attestation::AttestationRef> {
    let mut keys = HashMap::new();
    for (path, bytes) in members.range("attesters/".to_string()..) {
        if !path.starts_with("attesters/") {
            break;
        }
        let parsed = serde_json::from_slice::<AttesterEntry>(bytes)
            .map_err(|e| e.to_string())
            .and_then(|a| {
                let k = B64
                    .decode(a.public_key.as_bytes())
                    .map_err(|e| e.to_string())
                    .and_then(|k| dsse::parse_public_key(&k).map_err(|e| e.to_string()))?;
                if dsse::key_id(&k) != a.key_id || *path != attester_path(&a.key_id) {
                    return Err("key id does not match the public key or the file name".into());
                }
                Ok((a, k))
            });
        match parsed {
            Ok((a, k)) => {
                if !r.attesters.iter().any(|s| s.key_id == a.key_id) {
                    r.attesters.push(AttesterSummary {
                        key_id: a.key_id.clone(),
                        name: a.name.clone(),
                        added_at: a.registered_at,
                        revoked_at: a.revoked_at,
                        pinned: false,
                    });
                }
                keys.insert(a.key_id.clone(), (a, k));
            }
            Err(e) => r.fail(
                "attestation",
                path,
                format!("attester record is unusable: {e}"),
            ),
        }
    }
    let mut out = Vec::new();
    for (path, bytes) in members.range("attestations/".to_string()..) {
        if !path.starts_with("attestations/") {
            break;
        }
        let Ok(env) = Envelope::from_json(bytes) else {
            r.fail("attestation", path, "not a DSSE envelope");
            continue;
        };
        let Some((who, key)) = env.key_ids().find_map(|k| keys.get(k)) else {
            r.fail(
                "attestation",
                path,
                "signed by a key that is not a registered attester",
            );
            continue;
        };
        match crate::attestation::verify(bytes, key, Catalog::annex_a()) {
            Err(e) => r.fail(
                "attestation",
                path,
                format!("attestation by {} does not verify: {e}", who.name),
            ),
            Ok(att) => {
                if let Some(revoked) = who.revoked_at.filter(|t| att.signed_at >= *t) {
                    r.fail(
                        "attestation",
                        path,
                        format!(
                            "attestation by {} signed at {} after the attester key {} was revoked at {}",
                            who.name,
                            att.signed_at.to_rfc3339(),
                            who.key_id,
                            revoked.to_rfc3339()
                        ),
                    );
                    continue;
                }
                let d = sha256_digest(bytes);
                if *path != attestation_path(&d) {
                    r.fail(
                        "attestation",
                        path,
                        format!("file name does not match its digest {d}"),
                    );
                    continue;
                }
                for doc in &att.evidence {
                    if !blobs.has_blob(&doc.sha256) {
                        r.fail(
                            "attestation",
                            path,
                            format!("evidence document {} ({}) is missing", doc.name, doc.sha256),
                        );
                    }
                }
                out.push(crate::attestation::AttestationRef {
                    id: d.to_string(),
                    control: att.control.clone(),
                    statement: att.statement.clone(),
                    attester: format!(
                        "{} ({})",
                        who.name,
                        who.key_id.get(..16).unwrap_or_default()
                    ),
                    signed_at: att.signed_at,
                    expires: att.expires,
                    evidence: att
                        .evidence
                        .iter()
                        .map(|e| (e.name.clone(), e.sha256.to_string()))
                        .collect(),
                    current: att.current_on(today),
                });
            }
        }
    }
    out
}
