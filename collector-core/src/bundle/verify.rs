//! The `verify` and `verify_pinned` orchestration over all checks.

use super::attestations::check_attestations;
use super::chain::{check_blob_names, check_chains, check_envelopes, Progress};
use super::manifest::{check_agents, check_manifest};
use super::model::{Index, INDEX_PATH, MANIFEST_PATH};
use super::report::{parse_member, Report};
use super::results::check_results;
use super::trust::TrustedKey;
use crate::dsse::Envelope;
use std::collections::BTreeMap;

/// The keys an auditor pins for [`verify_pinned`].
#[derive(Debug, Clone, Default)]
pub struct Pins {
    /// The collector key that must have signed the manifest (none: unpinned,
    /// which [`verify_pinned`] reports).
    pub collector: Option<TrustedKey>,
    /// Attester keys whose attestations count (empty: every attester the
    /// collector vouched for).
    pub attesters: Vec<TrustedKey>,
}

/// [`verify`], then hold the signer to the pinned keys: a manifest signed by
/// another collector key, or an attestation signed by an attester key not
/// pinned, is a failure naming both key ids; without a pinned collector key
/// the report says so (`pinned` stays false) with a warning.
pub fn verify_pinned(
    members: &BTreeMap<String, Vec<u8>>,
    pins: &Pins,
    progress: Progress<'_>,
) -> Report {
    let mut r = verify(members, progress);
    let signer = r.collector_key_id.clone();
    match (&pins.collector, signer) {
        (_, None) => {}
        (Some(t), Some(k)) if t.matches(&k) => r.pinned = true,
        (Some(t), Some(k)) => r.fail(
            "trust",
            MANIFEST_PATH,
            format!(
                "the manifest is signed by collector key {k}, not by the trusted key {}",
                t.key_id
            ),
        ),
        (None, Some(k)) => r.warn(
            "trust",
            MANIFEST_PATH,
            format!(
                "the signer is not pinned: the manifest is signed by collector key {k}; compare it with the key the collector's operator gave you (`evident-collector key show`) and pass --trust"
            ),
        ),
    }
    if !pins.attesters.is_empty() {
        for (path, bytes) in members.range("attestations/".to_string()..) {
            if !path.starts_with("attestations/") {
                break;
            }
            let Ok(env) = Envelope::from_json(bytes) else {
                continue;
            };
            let ids: Vec<&str> = env.key_ids().collect();
            if !ids
                .iter()
                .any(|k| pins.attesters.iter().any(|t| t.matches(k)))
            {
                r.fail(
                    "trust",
                    path,
                    format!(
                        "attestation signed by attester key {}, which is not among the trusted attester keys ({})",
                        ids.join(", "),
                        pins.attesters
                            .iter()
                            .map(|t| t.key_id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
    let ok = r.failures().next().is_none();
    r.ok = ok;
    r
}

/// Verify a whole bundle held in memory. `members` maps path → bytes.
pub fn verify(members: &BTreeMap<String, Vec<u8>>, progress: Progress<'_>) -> Report {
    let mut r = Report::default();
    let Some(manifest) = check_manifest(members, &mut r) else {
        r.ok = false;
        return r;
    };
    r.collector_key_id = Some(manifest.collector_key_id.clone());
    r.created_at = Some(manifest.created_at);
    r.scope = Some(manifest.scope.clone());

    let agents = check_agents(members, &mut r);
    let index: Index = parse_member(members, INDEX_PATH, &mut r).unwrap_or_default();
    check_blob_names(members, &mut r);
    let statements = check_envelopes(members, &index, &agents, &mut r, progress);
    let pruned = super::pruned::read_pruned(members, &mut r);
    check_chains(&index, &statements, &agents, &pruned, &mut r);
    check_results(members, &index, &statements, &mut r);
    let today = manifest.created_at.date_naive();
    let atts = check_attestations(members, today, &mut r);
    for a in atts.iter().filter(|a| !a.current) {
        r.warn(
            "attestation",
            &a.id,
            format!(
                "attestation for {} by {} expired on {}",
                a.control, a.attester, a.expires
            ),
        );
    }
    let ok = r.failures().next().is_none();
    r.ok = ok;
    r
}
