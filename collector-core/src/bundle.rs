//! Evidence bundles for offline review: the manifest model and the complete
//! verification of a bundle's members, pure (no I/O, no clock).
//!
//! A bundle is a set of named members (path → exact bytes). The collector
//! writes them into one file (tar + zstd, see the collector's `export`); an
//! auditor's `verify` reads them back and hands them to [`verify`], which
//! checks, in order:
//!
//! 1. the manifest (`manifest.dsse.json`): a DSSE envelope signed by the
//!    collector's Ed25519 key (`collector.pub`), listing every other member
//!    with its sha256 and size — a missing, extra or altered member is named;
//! 2. the agents' enrollment records and public keys (`agents/*.json`);
//! 3. every envelope listed in `index.json`: its digest, its strict
//!    signature by the key of the agent it is filed under, its statement
//!    (agent id, sequence) and every blob it names (`blobs/<hex>`);
//! 4. each host's sequence and hash chain: gaps (sequences missing, naming
//!    the range; a gap the agent itself declared is a warning), forks (two
//!    envelopes for one sequence) and chain breaks (`previous` does not name
//!    the envelope before);
//! 5. the policies (`policies/index.json` + files, one per distinct sha256):
//!    every statement re-evaluated with exactly the files its recorded
//!    results (`results/<hex>.json`) cite, loaded from their bytes, and
//!    compared with those results; results recorded before and after a
//!    policy change each use their own version.
//!
//! Every problem becomes a [`Finding`] naming what is wrong; the bundle holds
//! only when there are no failures.

use crate::catalog::Catalog;
use crate::digest::{sha256_digest, Digest};
use crate::dsse::{self, Envelope};
use crate::evidence::{Evidence, Statement, PAYLOAD_TYPE};
use crate::policy::{
    evaluate_with, AttestationInput, ControlResult, PolicyRef, PolicySet, PolicySource, RuleResult,
    SourceRef, Summary,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub mod trust;

pub use trust::TrustedKey;

/// Format name written in every manifest.
pub const FORMAT: &str = "evident-bundle/v1";
/// DSSE payload type of the signed manifest.
pub const MANIFEST_PAYLOAD_TYPE: &str = "application/vnd.evident.bundle-manifest+json";
/// The signed manifest member.
pub const MANIFEST_PATH: &str = "manifest.dsse.json";
/// The collector's public key member (standard base64 of 32 bytes).
pub const COLLECTOR_KEY_PATH: &str = "collector.pub";
/// The statement index member.
pub const INDEX_PATH: &str = "index.json";
/// The policy index member.
pub const POLICY_INDEX_PATH: &str = "policies/index.json";

/// One member listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Path inside the bundle.
    pub path: String,
    /// sha256 of its bytes.
    pub sha256: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// What the export covered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Host names or agent ids asked for (empty: every host).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Statements collected at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Statements collected at or before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// The bundle manifest (the payload of `manifest.dsse.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// When the bundle was made.
    pub created_at: DateTime<Utc>,
    /// Version of the collector that made it.
    pub generator: String,
    /// Key id of the collector key that signs the manifest.
    pub collector_key_id: String,
    /// What was exported.
    pub scope: Scope,
    /// Every member except the manifest and the collector key, sorted by path.
    pub members: Vec<ManifestEntry>,
}

impl Manifest {
    /// A manifest listing `members` (path → bytes), sorted by path.
    pub fn build<'a>(
        created_at: DateTime<Utc>,
        generator: &str,
        collector_key_id: &str,
        scope: Scope,
        members: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Manifest {
        let mut entries: Vec<ManifestEntry> = members
            .into_iter()
            .map(|(path, bytes)| ManifestEntry {
                path: path.to_string(),
                sha256: sha256_digest(bytes),
                size: bytes.len() as u64,
            })
            .collect();
        entries.sort_by(|a, b| a.path.cmp(&b.path));
        Manifest {
            format: FORMAT.to_string(),
            created_at,
            generator: generator.to_string(),
            collector_key_id: collector_key_id.to_string(),
            scope,
            members: entries,
        }
    }

    /// Sign with the collector's key: the `manifest.dsse.json` bytes.
    pub fn sign(&self, signer: &dsse::Signer) -> Vec<u8> {
        let payload = serde_json::to_vec_pretty(self).unwrap_or_default();
        signer
            .sign_envelope(MANIFEST_PAYLOAD_TYPE, payload)
            .to_json()
    }
}

/// Add the signed manifest and the collector key to `members`, listing every
/// other member (an existing manifest and key are replaced).
pub fn seal(
    members: &mut BTreeMap<String, Vec<u8>>,
    signer: &dsse::Signer,
    created_at: DateTime<Utc>,
    generator: &str,
    scope: Scope,
) {
    members.remove(MANIFEST_PATH);
    members.remove(COLLECTOR_KEY_PATH);
    let manifest = Manifest::build(
        created_at,
        generator,
        signer.key_id(),
        scope,
        members.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
    );
    let signed = manifest.sign(signer);
    members.insert(MANIFEST_PATH.to_string(), signed);
    members.insert(
        COLLECTOR_KEY_PATH.to_string(),
        format!("{}\n", B64.encode(signer.verifying_key().as_bytes())).into_bytes(),
    );
}

/// An agent's enrollment record (`agents/<id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEntry {
    /// Agent id.
    pub id: String,
    /// Hex sha256 of the public key.
    pub key_id: String,
    /// Standard base64 of the 32 public key bytes.
    pub public_key: String,
    /// Host name given at enrollment.
    pub hostname: String,
    /// Agent version given at enrollment.
    pub agent_version: String,
    /// `active`, `pending` or `revoked` at export time.
    pub status: String,
    /// Enrollment time.
    pub enrolled_at: DateTime<Utc>,
}

/// One stored statement (`index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Agent id.
    pub agent: String,
    /// Sequence number.
    pub sequence: u64,
    /// sha256 of the exact envelope bytes.
    pub envelope: Digest,
    /// Member holding the envelope.
    pub path: String,
    /// When it was collected.
    pub collected_at: DateTime<Utc>,
    /// When the collector received it.
    pub received_at: DateTime<Utc>,
    /// Digest of the results the collector recorded (`results/<hex>.json`).
    pub results: Digest,
}

/// The statement index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Statements by agent, then sequence.
    pub statements: Vec<IndexEntry>,
}

/// What kind of file a policy member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    /// A policy file.
    Policy,
    /// A waivers file.
    Waivers,
}

/// One policy file (`policies/index.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFileEntry {
    /// The name the collector loaded it under (recorded in results).
    pub name: String,
    /// Member holding its bytes.
    pub path: String,
    /// sha256 of the bytes.
    pub sha256: Digest,
    /// Policy or waivers.
    pub kind: PolicyKind,
}

/// Evaluation results as the collector records them: everything of an
/// [`crate::Evaluation`] except the per-statement host and time. Same JSON
/// shape as the collector's stored results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResults {
    /// Policies used, with the sha256 of each file.
    pub policies: Vec<PolicyRef>,
    /// Waivers file used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waivers: Option<SourceRef>,
    /// Per-control roll-up.
    pub controls: Vec<ControlResult>,
    /// Per-rule results.
    pub rules: Vec<RuleResult>,
    /// Waivers that had expired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expired_waivers: Vec<String>,
    /// Counts.
    pub summary: Summary,
}

impl RecordedResults {
    /// The recorded form of an evaluation.
    pub fn from_evaluation(e: crate::Evaluation) -> RecordedResults {
        RecordedResults {
            policies: e.policies,
            waivers: e.waivers,
            controls: e.controls,
            rules: e.rules,
            expired_waivers: e.expired_waivers,
            summary: e.summary,
        }
    }
}

/// A person registered to sign attestations (`attesters/<key id>.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttesterEntry {
    /// Hex sha256 of the public key.
    pub key_id: String,
    /// Name.
    pub name: String,
    /// Standard base64 of the 32 public key bytes.
    pub public_key: String,
    /// When the collector registered (vouched for) this key; absent in
    /// bundles made before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<DateTime<Utc>>,
}

/// Member path of an attester record.
pub fn attester_path(key_id: &str) -> String {
    format!("attesters/{key_id}.json")
}

/// Member path of an attestation envelope.
pub fn attestation_path(d: &Digest) -> String {
    format!("attestations/{}.json", d.hex())
}

/// Verify every attestation of the bundle against its attester's key;
/// returns the valid ones as report references (current on `today`).
pub fn check_attestations(
    members: &BTreeMap<String, Vec<u8>>,
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
                    if !members.contains_key(&blob_path(&doc.sha256)) {
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

/// Member path of an envelope.
pub fn envelope_path(agent: &str, sequence: u64) -> String {
    format!("envelopes/{agent}/{sequence:020}.json")
}

/// Member path of a blob.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/{}", d.hex())
}

/// Member path of a results document.
pub fn results_path(d: &Digest) -> String {
    format!("results/{}.json", d.hex())
}

/// Member path of an agent record.
pub fn agent_path(id: &str) -> String {
    format!("agents/{id}.json")
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The bundle does not hold.
    Failure,
    /// Worth knowing; the bundle still holds.
    Warning,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Failure or warning.
    pub severity: Severity,
    /// Machine-readable kind: `manifest`, `member`, `agent`, `envelope`,
    /// `blob`, `gap`, `fork`, `chain`, `policy`, `results`, `attestation`.
    pub kind: String,
    /// What it is about (member path, host + sequence range, policy name).
    pub subject: String,
    /// What is wrong.
    pub message: String,
}

/// Counts of what was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checked {
    /// Members whose digest was checked.
    pub members: usize,
    /// Agents (hosts).
    pub hosts: usize,
    /// Envelopes whose signature verified.
    pub envelopes: usize,
    /// Blobs.
    pub blobs: usize,
    /// Policy files.
    pub policies: usize,
    /// Statements whose results were re-evaluated and matched.
    pub results_confirmed: usize,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True when there is no failure.
    pub ok: bool,
    /// Key id that signed the manifest (compare with the collector's published one).
    pub collector_key_id: Option<String>,
    /// True when the manifest's signer is the pinned (trusted) collector key;
    /// false when no key was pinned or it did not match.
    #[serde(default)]
    pub pinned: bool,
    /// When the bundle was made.
    pub created_at: Option<DateTime<Utc>>,
    /// What the export covered.
    pub scope: Option<Scope>,
    /// What was checked.
    pub checked: Checked,
    /// Failures and warnings, in the order found.
    pub findings: Vec<Finding>,
}

impl Report {
    pub(crate) fn fail(
        &mut self,
        kind: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity: Severity::Failure,
            kind: kind.to_string(),
            subject: subject.into(),
            message: message.into(),
        });
    }

    pub(crate) fn warn(
        &mut self,
        kind: &str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity: Severity::Warning,
            kind: kind.to_string(),
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// The failures only.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Failure)
    }
}

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

/// Progress callback: (statements done, statements total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

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
    check_chains(&index, &statements, &agents, &mut r);
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

fn parse_member<T: serde::de::DeserializeOwned>(
    members: &BTreeMap<String, Vec<u8>>,
    path: &str,
    r: &mut Report,
) -> Option<T> {
    match members.get(path) {
        None => {
            r.fail("member", path, "missing from the bundle");
            None
        }
        Some(bytes) => match serde_json::from_slice(bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                r.fail(
                    "member",
                    path,
                    format!("not valid JSON of the expected shape: {e}"),
                );
                None
            }
        },
    }
}

fn check_manifest(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) -> Option<Manifest> {
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
    if manifest.format != FORMAT {
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
    let mut listed = BTreeSet::new();
    for m in &manifest.members {
        if !listed.insert(m.path.as_str()) {
            r.fail("member", &m.path, "listed twice in the manifest");
            continue;
        }
        match members.get(&m.path) {
            None => r.fail(
                "member",
                &m.path,
                "listed in the manifest but missing from the bundle",
            ),
            Some(bytes) => {
                let actual = sha256_digest(bytes);
                if actual != m.sha256 || bytes.len() as u64 != m.size {
                    r.fail(
                        "member",
                        &m.path,
                        format!(
                            "content does not match the manifest (manifest {} {} bytes, found {actual} {} bytes)",
                            m.sha256,
                            m.size,
                            bytes.len()
                        ),
                    );
                } else {
                    r.checked.members += 1;
                }
            }
        }
    }
    for path in members.keys() {
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

/// Agent id → (record, key).
type Agents = BTreeMap<String, (AgentEntry, ed25519_dalek::VerifyingKey)>;

fn check_agents(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) -> Agents {
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

fn check_blob_names(members: &BTreeMap<String, Vec<u8>>, r: &mut Report) {
    for (path, bytes) in members.range("blobs/".to_string()..) {
        let Some(name) = path.strip_prefix("blobs/") else {
            break;
        };
        let actual = sha256_digest(bytes);
        if actual.hex() != name {
            r.fail(
                "blob",
                path,
                format!("blob does not match its digest sha256:{name} (content is {actual})"),
            );
        } else {
            r.checked.blobs += 1;
        }
    }
}

fn host_of(agents: &Agents, agent: &str) -> String {
    match agents.get(agent) {
        Some((a, _)) => format!("host {} (agent {agent})", a.hostname),
        None => format!("agent {agent}"),
    }
}

fn check_envelopes(
    members: &BTreeMap<String, Vec<u8>>,
    index: &Index,
    agents: &Agents,
    r: &mut Report,
    progress: Progress<'_>,
) -> Vec<Option<Statement>> {
    let total = index.statements.len() as u64;
    let mut out = Vec::with_capacity(index.statements.len());
    let mut key_owner: HashMap<String, String> = HashMap::new();
    for (id, (a, _)) in agents {
        key_owner.insert(a.key_id.clone(), id.clone());
    }
    for (i, e) in index.statements.iter().enumerate() {
        if i % 256 == 0 {
            progress(i as u64, total);
        }
        let subject = format!("{} sequence {}", host_of(agents, &e.agent), e.sequence);
        out.push(check_envelope(members, e, agents, &key_owner, &subject, r));
    }
    progress(total, total);
    out
}

fn check_envelope(
    members: &BTreeMap<String, Vec<u8>>,
    e: &IndexEntry,
    agents: &Agents,
    key_owner: &HashMap<String, String>,
    subject: &str,
    r: &mut Report,
) -> Option<Statement> {
    let Some(bytes) = members.get(&e.path) else {
        r.fail(
            "envelope",
            subject,
            format!("envelope {} ({}) is missing", e.path, e.envelope),
        );
        return None;
    };
    let actual = sha256_digest(bytes);
    if actual != e.envelope {
        r.fail(
            "envelope",
            subject,
            format!(
                "{} is not the envelope the collector stored ({} expected, found {actual})",
                e.path, e.envelope
            ),
        );
    }
    let Some((_, key)) = agents.get(&e.agent) else {
        r.fail(
            "envelope",
            subject,
            format!("no enrollment record for agent {}", e.agent),
        );
        return None;
    };
    let env = match Envelope::from_json(bytes) {
        Ok(env) => env,
        Err(err) => {
            r.fail("envelope", subject, format!("{}: {err}", e.path));
            return None;
        }
    };
    let payload = match env.verify(key, PAYLOAD_TYPE) {
        Ok(p) => p,
        Err(err) => {
            let signer = env
                .key_ids()
                .find_map(|k| key_owner.get(k))
                .map(|other| format!(" (it is signed by the key of {})", host_of(agents, other)))
                .unwrap_or_default();
            r.fail(
                "envelope",
                subject,
                format!(
                    "{}: signature by agent {}'s key does not verify: {err}{signer}",
                    e.path, e.agent
                ),
            );
            return None;
        }
    };
    // v1 and full v2 statements as they are; an unchanged v2 run resolves
    // against its content blob, which must be in the bundle.
    let st = match Statement::from_bytes_with(payload, |d| {
        members.get(&blob_path(d)).map(Vec::as_slice)
    }) {
        Ok(s) => s,
        Err(err) => {
            r.fail("envelope", subject, format!("{}: {err}", e.path));
            return None;
        }
    };
    if st.predicate.agent.id != e.agent || st.predicate.sequence != e.sequence {
        r.fail(
            "envelope",
            subject,
            format!(
                "{}: statement says agent {} sequence {}, filed as agent {} sequence {}",
                e.path, st.predicate.agent.id, st.predicate.sequence, e.agent, e.sequence
            ),
        );
        return None;
    }
    for p in &st.predicate.probes {
        if let Some(d) = p.digest {
            if !members.contains_key(&blob_path(&d)) {
                r.fail(
                    "blob",
                    subject,
                    format!("blob {d} of probe `{}` is missing from the bundle", p.id),
                );
            }
        }
    }
    r.checked.envelopes += 1;
    Some(st)
}

fn check_chains(index: &Index, statements: &[Option<Statement>], agents: &Agents, r: &mut Report) {
    type Chain<'a> = Vec<(u64, &'a IndexEntry, Option<&'a Statement>)>;
    let mut by_agent: BTreeMap<&str, Chain<'_>> = BTreeMap::new();
    for (e, st) in index.statements.iter().zip(statements) {
        by_agent
            .entry(e.agent.as_str())
            .or_default()
            .push((e.sequence, e, st.as_ref()));
    }
    for (agent, mut list) in by_agent {
        list.sort_by_key(|(s, _, _)| *s);
        let host = host_of(agents, agent);
        for pair in list.windows(2) {
            let [(s0, e0, _), (s1, e1, st1)] = pair else {
                continue;
            };
            if s1 == s0 {
                r.fail(
                    "fork",
                    format!("{host} sequence {s1}"),
                    format!(
                        "two envelopes claim sequence {s1}: {} and {}",
                        e0.envelope, e1.envelope
                    ),
                );
            } else if *s1 > s0 + 1 {
                let (from, to) = (s0 + 1, s1 - 1);
                let declared = st1
                    .and_then(|st| st.predicate.gap)
                    .is_some_and(|g| g.from <= from && g.to >= to);
                let subject = format!("{host} sequences {from}..={to}");
                if declared {
                    r.warn(
                        "gap",
                        subject,
                        "the agent declared these runs dropped (spool overflow)",
                    );
                } else {
                    r.fail(
                        "gap",
                        subject,
                        format!("missing from the chain: sequence {s1} follows {s0}"),
                    );
                }
            } else if let Some(st1) = st1 {
                if st1.predicate.previous != Some(e0.envelope) {
                    r.fail(
                        "chain",
                        format!("{host} sequences {s0}..={s1}"),
                        format!(
                            "sequence {s1} names previous {} but sequence {s0} is {}",
                            st1.predicate
                                .previous
                                .map(|d| d.to_string())
                                .unwrap_or_else(|| "(none)".into()),
                            e0.envelope
                        ),
                    );
                }
            }
        }
    }
}

/// Check the bundle's policy files (`policies/index.json`): every listed
/// file is present and matches its digest. Returns the files by digest.
pub fn policy_files<'a>(
    members: &'a BTreeMap<String, Vec<u8>>,
    r: &mut Report,
) -> Option<HashMap<Digest, &'a [u8]>> {
    let files: Vec<PolicyFileEntry> = parse_member(members, POLICY_INDEX_PATH, r)?;
    let mut out = HashMap::new();
    for f in &files {
        let Some(bytes) = members.get(&f.path) else {
            r.fail(
                "policy",
                &f.name,
                format!("policy file {} is missing", f.path),
            );
            continue;
        };
        let actual = sha256_digest(bytes);
        if actual != f.sha256 {
            r.fail(
                "policy",
                &f.name,
                format!(
                    "{} does not match its recorded digest {} (found {actual})",
                    f.path, f.sha256
                ),
            );
            continue;
        }
        out.insert(actual, bytes.as_slice());
    }
    r.checked.policies = out.len();
    Some(out)
}

/// Build the policy set a result was recorded with, from the bundle's files:
/// the cited policies in their recorded order under their recorded names,
/// then the cited waivers.
pub fn load_recorded_set(
    files: &HashMap<Digest, &[u8]>,
    policies: &[PolicyRef],
    waivers: Option<&SourceRef>,
) -> Result<PolicySet, String> {
    let mut sources = Vec::with_capacity(policies.len());
    for p in policies {
        let bytes = files.get(&p.sha256).ok_or_else(|| {
            format!(
                "policy `{}` ({}) {} is not in the bundle",
                p.id, p.source, p.sha256
            )
        })?;
        sources.push(PolicySource::new(p.source.clone(), bytes.to_vec()));
    }
    let set = PolicySet::load(&sources, Catalog::annex_a())
        .map_err(|e| format!("policies do not load: {e}"))?;
    match waivers {
        None => Ok(set),
        Some(w) => {
            let bytes = files
                .get(&w.sha256)
                .ok_or_else(|| format!("waivers {} {} are not in the bundle", w.name, w.sha256))?;
            set.with_waivers(&w.name, bytes)
                .map_err(|e| format!("waivers {} do not load: {e}", w.name))
        }
    }
}

/// Which files a recorded result was computed with: its key in the set cache.
fn citation_key(recorded: &RecordedResults) -> Digest {
    #[derive(Serialize)]
    struct Key<'a> {
        policies: Vec<(&'a str, &'a Digest)>,
        waivers: Option<(&'a str, &'a Digest)>,
    }
    let k = Key {
        policies: recorded
            .policies
            .iter()
            .map(|p| (p.source.as_str(), &p.sha256))
            .collect(),
        waivers: recorded
            .waivers
            .as_ref()
            .map(|w| (w.name.as_str(), &w.sha256)),
    };
    sha256_digest(&serde_json::to_vec(&k).unwrap_or_default())
}

/// A policy set loaded from the bundle for one combination of cited files.
struct LoadedSet {
    set: PolicySet,
    keys: crate::policy::EvalKeys,
}

fn check_results(
    members: &BTreeMap<String, Vec<u8>>,
    index: &Index,
    statements: &[Option<Statement>],
    r: &mut Report,
) {
    let Some(files) = policy_files(members, r) else {
        return;
    };
    // Parsed recorded results by digest; policy sets by the files they cite
    // (results recorded before and after a policy change cite different
    // files, and each is re-evaluated with its own); recomputed results by
    // (policy set, evidence).
    let mut recorded_cache: HashMap<Digest, Option<RecordedResults>> = HashMap::new();
    let mut sets: HashMap<Digest, Result<LoadedSet, String>> = HashMap::new();
    let mut reported_sets: BTreeSet<Digest> = BTreeSet::new();
    let mut eval_cache: HashMap<(Digest, Digest, Digest), Result<RecordedResults, String>> =
        HashMap::new();
    for (e, st) in index.statements.iter().zip(statements) {
        let Some(st) = st else { continue };
        let subject = format!("agent {} sequence {}", e.agent, e.sequence);
        let recorded = recorded_cache.entry(e.results).or_insert_with(|| {
            members
                .get(&results_path(&e.results))
                .filter(|b| sha256_digest(b) == e.results)
                .and_then(|b| serde_json::from_slice(b).ok())
        });
        let Some(recorded) = recorded.as_ref() else {
            r.fail(
                "results",
                &subject,
                format!(
                    "recorded results {} are missing, altered or malformed",
                    e.results
                ),
            );
            continue;
        };
        let mut cited_missing = false;
        for p in &recorded.policies {
            if !files.contains_key(&p.sha256) {
                r.fail(
                    "policy",
                    &subject,
                    format!(
                        "results were recorded with policy `{}` ({}) {}, which the bundle does not include",
                        p.id, p.source, p.sha256
                    ),
                );
                cited_missing = true;
            }
        }
        if let Some(w) = &recorded.waivers {
            if !files.contains_key(&w.sha256) {
                r.fail(
                    "policy",
                    &subject,
                    format!("results were recorded with waivers {} {}, which the bundle does not include", w.name, w.sha256),
                );
                cited_missing = true;
            }
        }
        if cited_missing {
            continue;
        }
        let set_key = citation_key(recorded);
        let loaded = sets.entry(set_key).or_insert_with(|| {
            load_recorded_set(&files, &recorded.policies, recorded.waivers.as_ref()).map(|set| {
                LoadedSet {
                    keys: crate::policy::EvalKeys::new(&set),
                    set,
                }
            })
        });
        let loaded = match loaded {
            Ok(l) => l,
            Err(msg) => {
                // Once per combination of files, naming the first statement.
                if reported_sets.insert(set_key) {
                    r.fail("policy", &subject, msg.clone());
                }
                continue;
            }
        };
        // Hybrid controls cite the attestation that completed them; re-evaluate
        // with exactly those (their signatures are checked by check_attestations).
        let attestations = match cited_attestations(members, recorded) {
            Ok(a) => a,
            Err(msg) => {
                r.fail("attestation", &subject, msg);
                continue;
            }
        };
        let att_key = sha256_digest(
            attestations
                .iter()
                .flat_map(|a| a.digest.0)
                .collect::<Vec<u8>>()
                .as_slice(),
        );
        let key = (set_key, loaded.keys.key(st), att_key);
        let recomputed = eval_cache.entry(key).or_insert_with(|| {
            let evidence =
                Evidence::from_statement(st, |d| members.get(&blob_path(d)).map(Vec::as_slice))
                    .map_err(|err| err.to_string())?;
            Ok(RecordedResults::from_evaluation(evaluate_with(
                &loaded.set,
                &evidence,
                &attestations,
            )))
        });
        match recomputed {
            Err(msg) => r.fail("blob", &subject, msg.clone()),
            Ok(again) if again == recorded => r.checked.results_confirmed += 1,
            Ok(again) => r.fail("results", &subject, describe_difference(recorded, again)),
        }
    }
}

/// The attestations a recorded result cites (one per hybrid control it
/// counted), read from the bundle.
fn cited_attestations(
    members: &BTreeMap<String, Vec<u8>>,
    recorded: &RecordedResults,
) -> Result<Vec<AttestationInput>, String> {
    let mut digests: Vec<Digest> = recorded
        .controls
        .iter()
        .filter_map(|c| c.attestation)
        .collect();
    digests.sort();
    digests.dedup();
    digests
        .into_iter()
        .map(|d| {
            let bytes = members.get(&attestation_path(&d)).ok_or_else(|| {
                format!("results cite attestation {d}, which the bundle does not include")
            })?;
            let att = Envelope::from_json(bytes)
                .map_err(|e| e.to_string())
                .and_then(|env| {
                    serde_json::from_slice::<crate::attestation::Attestation>(&env.payload)
                        .map_err(|e| e.to_string())
                })
                .map_err(|e| format!("attestation {d} cited by results is unreadable: {e}"))?;
            Ok(AttestationInput::new(d, &att))
        })
        .collect()
}

fn describe_difference(recorded: &RecordedResults, again: &RecordedResults) -> String {
    if recorded.policies != again.policies {
        let cite = |v: &[PolicyRef]| {
            v.iter()
                .map(|p| format!("{} {}", p.source, p.sha256))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return format!(
            "re-evaluation used different policies: recorded [{}], bundle [{}]",
            cite(&recorded.policies),
            cite(&again.policies)
        );
    }
    let rec: BTreeMap<&str, &RuleResult> =
        recorded.rules.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut diffs = Vec::new();
    for a in &again.rules {
        match rec.get(a.id.as_str()) {
            None => diffs.push(format!("rule {} not recorded", a.id)),
            Some(x) if *x != a => diffs.push(format!(
                "rule {}: recorded {}, re-evaluated {}",
                a.id,
                x.status.as_str(),
                a.status.as_str()
            )),
            Some(_) => {}
        }
    }
    if diffs.is_empty() {
        diffs.push("control roll-up or summary differs".into());
    }
    format!(
        "recorded results differ from re-evaluation: {}",
        diffs.join("; ")
    )
}

#[cfg(test)]
mod tests;
