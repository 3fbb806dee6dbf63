//! Checks of the signed manifest and the agents' enrollment records.

use super::model::{
    agent_path, AgentEntry, Manifest, ManifestEntry, ManifestPiece, COLLECTOR_KEY_PATH, FORMAT,
    FORMAT_V1, MANIFEST_PATH, MANIFEST_PAYLOAD_TYPE,
};
use super::report::Report;
use crate::digest::{sha256_digest, Digest};
use crate::dsse::{self, Envelope};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::collections::{BTreeMap, BTreeSet};

/// Every member's sha256 and size, by path.
pub type Digests = BTreeMap<String, (Digest, u64)>;

/// The digests of members held in memory.
pub fn digests_of(members: &BTreeMap<String, Vec<u8>>) -> Digests {
    members
        .iter()
        .map(|(p, b)| (p.clone(), (sha256_digest(b), b.len() as u64)))
        .collect()
}

/// Check the signed manifest (read from `members`, which must hold at least
/// the manifest, the collector key and, v2, the manifest pieces) against
/// every member's digest.
pub(super) fn check_manifest(
    members: &BTreeMap<String, Vec<u8>>,
    digests: &Digests,
    r: &mut Report,
) -> Option<Manifest> {
    let manifest = check_root(members, r)?;
    let mut listed = BTreeSet::new();
    let mut check = |m: &ManifestEntry, r: &mut Report| -> bool {
        if !listed.insert(m.path.clone()) {
            r.fail("member", &m.path, "listed twice in the manifest");
            return false;
        }
        check_entry(m, digests.get(&m.path).copied(), r)
    };
    for m in &manifest.members {
        let ok = check(m, r);
        if manifest.format == FORMAT && ok {
            match members
                .get(&m.path)
                .map(|b| serde_json::from_slice::<ManifestPiece>(b))
            {
                Some(Ok(piece)) => {
                    for e in &piece.members {
                        check(e, r);
                    }
                }
                Some(Err(e)) => r.fail(
                    "manifest",
                    &m.path,
                    format!("manifest piece is malformed: {e}"),
                ),
                None => r.fail("manifest", &m.path, "manifest piece could not be read"),
            }
        }
    }
    for path in digests.keys() {
        if path != MANIFEST_PATH && path != COLLECTOR_KEY_PATH && !listed.contains(path.as_str()) {
            r.fail(
                "member",
                path,
                "present in the bundle but not listed in the manifest",
            );
        }
    }
    Some(manifest)
}

/// Check one listed member against its digest and size as found (`None`:
/// not in the bundle); true when it matches.
pub fn check_entry(m: &ManifestEntry, found: Option<(Digest, u64)>, r: &mut Report) -> bool {
    match found {
        None => {
            r.fail(
                "member",
                &m.path,
                "listed in the manifest but missing from the bundle",
            );
            false
        }
        Some((actual, size)) => {
            if actual != m.sha256 || size != m.size {
                r.fail(
                    "member",
                    &m.path,
                    format!(
                        "content does not match the manifest (manifest {} {} bytes, found {actual} {} bytes)",
                        m.sha256, m.size, size
                    ),
                );
                false
            } else {
                r.checked.members += 1;
                true
            }
        }
    }
}

/// Check the signed root of the manifest (`manifest.dsse.json`) with the
/// bundle's collector key: signature, format (v1 or v2), key id. The
/// manifest when its signature verified.
pub fn check_root(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) -> Option<Manifest> {
    let Some(key_b64) = members.get(COLLECTOR_KEY_PATH) else {
        r.fail(
            "manifest",
            COLLECTOR_KEY_PATH,
            "the collector's public key is missing",
        );
        return None;
    };
    let key = match B64
        .decode(String::from_utf8_lossy(key_b64).trim().as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|k| dsse::parse_public_key(&k).map_err(|e| e.to_string()))
    {
        Ok(k) => k,
        Err(e) => {
            r.fail(
                "manifest",
                COLLECTOR_KEY_PATH,
                format!("not a usable Ed25519 public key: {e}"),
            );
            return None;
        }
    };
    let Some(env_bytes) = members.get(MANIFEST_PATH) else {
        r.fail("manifest", MANIFEST_PATH, "the signed manifest is missing");
        return None;
    };
    let env = match Envelope::from_json(env_bytes) {
        Ok(e) => e,
        Err(e) => {
            r.fail("manifest", MANIFEST_PATH, e.to_string());
            return None;
        }
    };
    let payload = match env.verify(&key, MANIFEST_PAYLOAD_TYPE) {
        Ok(p) => p,
        Err(e) => {
            r.fail(
                "manifest",
                MANIFEST_PATH,
                format!(
                    "manifest signature does not verify with the collector key {}: {e}",
                    dsse::key_id(&key)
                ),
            );
            return None;
        }
    };
    let manifest: Manifest = match serde_json::from_slice(payload) {
        Ok(m) => m,
        Err(e) => {
            r.fail(
                "manifest",
                MANIFEST_PATH,
                format!("manifest is malformed: {e}"),
            );
            return None;
        }
    };
    if manifest.format != FORMAT && manifest.format != FORMAT_V1 {
        r.fail(
            "manifest",
            MANIFEST_PATH,
            format!("unknown format `{}`", manifest.format),
        );
    }
    if manifest.collector_key_id != dsse::key_id(&key) {
        r.fail(
            "manifest",
            MANIFEST_PATH,
            format!(
                "manifest names collector key {} but is signed by {}",
                manifest.collector_key_id,
                dsse::key_id(&key)
            ),
        );
    }
    Some(manifest)
}

/// Agent id → (record, key).
pub type Agents = BTreeMap<String, (AgentEntry, ed25519_dalek::VerifyingKey)>;

/// Check the agents' enrollment records (`agents/*.json`): the agents whose
/// records and keys are usable.
pub fn check_agents(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) -> Agents {
    let mut out = Agents::new();
    for (path, bytes) in members.range("agents/".to_string()..) {
        if !path.starts_with("agents/") {
            break;
        }
        let rec: AgentEntry = match serde_json::from_slice(bytes) {
            Ok(a) => a,
            Err(e) => {
                r.fail(
                    "agent",
                    path,
                    format!("enrollment record is malformed: {e}"),
                );
                continue;
            }
        };
        if *path != agent_path(&rec.id) {
            r.fail(
                "agent",
                path,
                format!("record of agent {} filed under the wrong name", rec.id),
            );
            continue;
        }
        let key = match B64
            .decode(rec.public_key.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|k| dsse::parse_public_key(&k).map_err(|e| e.to_string()))
        {
            Ok(k) => k,
            Err(e) => {
                r.fail(
                    "agent",
                    path,
                    format!("public key of agent {} is unusable: {e}", rec.id),
                );
                continue;
            }
        };
        if dsse::key_id(&key) != rec.key_id {
            r.fail(
                "agent",
                path,
                format!(
                    "key id {} of agent {} is not the sha256 of its public key",
                    rec.key_id, rec.id
                ),
            );
            continue;
        }
        out.insert(rec.id.clone(), (rec, key));
    }
    r.checked.hosts = out.len();
    out
}
