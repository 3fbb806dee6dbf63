//! The bundle's data model: member paths, the manifest and sealing, the index,
//! agent/attester/policy records and recorded results.

use crate::digest::{sha256_digest, Digest};
use crate::dsse;
use crate::policy::{ControlResult, PolicyRef, RuleResult, SourceRef, Summary};
pub use crate::vuln::basis::{FirstSeenRef, VulnBasis};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Format name of the first bundles: the manifest lists every member and
/// `index.json` holds the whole statement index (both O(statements)).
/// Still verified.
pub const FORMAT_V1: &str = "evident-bundle/v1";
/// Format name written in every manifest now: the signed root lists the
/// manifest pieces (`manifest/NNNNNN.json`, each listing at most
/// [`PIECE_ENTRIES`] members with their digests), and the statement index
/// is in pieces (`index/NNNNNN.json`) of at most [`PIECE_ENTRIES`]
/// entries, so writers and readers hold one piece at a time.
pub const FORMAT: &str = "evident-bundle/v2";
/// Most entries one manifest or index piece holds.
pub const PIECE_ENTRIES: usize = 4096;
/// Folder of the manifest pieces (v2).
pub const MANIFEST_PIECES: &str = "manifest/";
/// Folder of the statement index pieces (v2).
pub const INDEX_PIECES: &str = "index/";
/// DSSE payload type of the signed manifest.
pub const MANIFEST_PAYLOAD_TYPE: &str = "application/vnd.evident.bundle-manifest+json";
/// The signed manifest member.
pub const MANIFEST_PATH: &str = "manifest.dsse.json";
/// The collector's public key member (standard base64 of 32 bytes).
pub const COLLECTOR_KEY_PATH: &str = "collector.pub";
/// The statement index member of a v1 bundle (v2: [`INDEX_PIECES`]).
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

/// One manifest piece of a v2 bundle (`manifest/NNNNNN.json`, unsigned:
/// the signed root lists its digest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestPiece {
    /// The members it covers, in the order the bundle file holds them.
    pub members: Vec<ManifestEntry>,
}

/// Member path of the `n`th manifest piece.
pub fn manifest_piece_path(n: usize) -> String {
    format!("{MANIFEST_PIECES}{n:06}.json")
}

/// Member path of the `n`th statement index piece.
pub fn index_piece_path(n: usize) -> String {
    format!("{INDEX_PIECES}{n:06}.json")
}

/// The bundle manifest (the payload of `manifest.dsse.json`). In a v2
/// bundle (the signed root) `members` lists the manifest pieces, which list
/// every other member; in a v1 bundle it lists every member itself.
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
    /// v1: every member except the manifest and the collector key, sorted
    /// by path; v2: the manifest pieces.
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
/// other member (an existing manifest and key are replaced): a v2 bundle,
/// whose root lists manifest pieces of at most [`PIECE_ENTRIES`] members
/// in path order (the order [`BTreeMap`] iterates, in which bundle files of
/// members in memory are written). Old manifest pieces are replaced; the
/// statement index is whatever `members` holds (see [`set_index`]).
pub fn seal(
    members: &mut BTreeMap<String, Vec<u8>>,
    signer: &dsse::Signer,
    created_at: DateTime<Utc>,
    generator: &str,
    scope: Scope,
) {
    members.remove(MANIFEST_PATH);
    members.remove(COLLECTOR_KEY_PATH);
    members.retain(|k, _| !k.starts_with(MANIFEST_PIECES));
    let entries: Vec<ManifestEntry> = members
        .iter()
        .map(|(path, bytes)| ManifestEntry {
            path: path.clone(),
            sha256: sha256_digest(bytes),
            size: bytes.len() as u64,
        })
        .collect();
    let mut pieces = Vec::new();
    for (n, chunk) in entries.chunks(PIECE_ENTRIES).enumerate() {
        let bytes = ManifestPiece {
            members: chunk.to_vec(),
        }
        .to_bytes();
        pieces.push((manifest_piece_path(n), bytes));
    }
    let root = Manifest {
        format: FORMAT.to_string(),
        created_at,
        generator: generator.to_string(),
        collector_key_id: signer.key_id().to_string(),
        scope,
        members: pieces
            .iter()
            .map(|(p, b)| ManifestEntry {
                path: p.clone(),
                sha256: sha256_digest(b),
                size: b.len() as u64,
            })
            .collect(),
    };
    members.extend(pieces);
    members.insert(MANIFEST_PATH.to_string(), root.sign(signer));
    members.insert(COLLECTOR_KEY_PATH.to_string(), collector_key_member(signer));
}

/// [`seal`] as bundles of format v1 were sealed (one manifest listing
/// every member): what collectors before v2 wrote, kept so that the
/// compatibility of `verify` with those bundles stays tested.
pub fn seal_v1(
    members: &mut BTreeMap<String, Vec<u8>>,
    signer: &dsse::Signer,
    created_at: DateTime<Utc>,
    generator: &str,
    scope: Scope,
) {
    members.remove(MANIFEST_PATH);
    members.remove(COLLECTOR_KEY_PATH);
    let mut manifest = Manifest::build(
        created_at,
        generator,
        signer.key_id(),
        scope,
        members.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
    );
    manifest.format = FORMAT_V1.to_string();
    let signed = manifest.sign(signer);
    members.insert(MANIFEST_PATH.to_string(), signed);
    members.insert(COLLECTOR_KEY_PATH.to_string(), collector_key_member(signer));
}

/// The `collector.pub` member of `signer`'s key.
pub fn collector_key_member(signer: &dsse::Signer) -> Vec<u8> {
    format!("{}\n", B64.encode(signer.verifying_key().as_bytes())).into_bytes()
}

impl ManifestPiece {
    /// The member's bytes (compact JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The statement index of `members`: `index.json` (v1), else the index
/// pieces in path order, concatenated; pieces that do not parse are skipped
/// (verification names them). Empty when absent.
pub fn read_index(members: &BTreeMap<String, Vec<u8>>) -> Index {
    if let Some(b) = members.get(INDEX_PATH) {
        return serde_json::from_slice(b).unwrap_or_default();
    }
    let mut out = Index::default();
    for (path, bytes) in members.range(INDEX_PIECES.to_string()..) {
        if !path.starts_with(INDEX_PIECES) {
            break;
        }
        if let Ok(piece) = serde_json::from_slice::<Index>(bytes) {
            out.statements.extend(piece.statements);
        }
    }
    out
}

/// Replace the statement index of `members` by `index`, in pieces of at
/// most [`PIECE_ENTRIES`] entries (`index.json` and old pieces removed).
pub fn set_index(members: &mut BTreeMap<String, Vec<u8>>, index: &Index) {
    members.remove(INDEX_PATH);
    members.retain(|k, _| !k.starts_with(INDEX_PIECES));
    for (n, chunk) in index.statements.chunks(PIECE_ENTRIES).enumerate() {
        members.insert(index_piece_path(n), index_piece_bytes(chunk));
    }
}

/// The bytes of one index piece holding `entries`.
pub fn index_piece_bytes(entries: &[IndexEntry]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Piece<'a> {
        statements: &'a [IndexEntry],
    }
    serde_json::to_vec(&Piece {
        statements: entries,
    })
    .unwrap_or_default()
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
    /// What the derived `vulns` data was computed from (snapshot, first-seen
    /// statements), when the collector matched a snapshot at ingest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulns: Option<VulnBasis>,
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
            vulns: None,
        }
    }

    /// The same results recording the `vulns` basis they were computed with.
    pub fn with_vulns(mut self, basis: Option<VulnBasis>) -> RecordedResults {
        self.vulns = basis;
        self
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
    /// When the collector revoked this key: an attestation it signed at or
    /// after this time does not count and fails verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Member path of an attester record.
pub fn attester_path(key_id: &str) -> String {
    format!("attesters/{key_id}.json")
}

/// Member path of an attestation envelope.
pub fn attestation_path(d: &Digest) -> String {
    format!("attestations/{}.json", d.hex())
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

/// Where verification reads a bundle's blobs (`blobs/<hex>`) from: the
/// members in memory, or wherever a streaming reader put them.
pub trait BlobSource: Sync {
    /// The bytes of the member `blobs/<hex of d>`, if the bundle has it.
    fn blob(&self, d: &Digest) -> Option<Cow<'_, [u8]>>;
    /// Whether the bundle has the member `blobs/<hex of d>`.
    fn has_blob(&self, d: &Digest) -> bool;
}

impl BlobSource for BTreeMap<String, Vec<u8>> {
    fn blob(&self, d: &Digest) -> Option<Cow<'_, [u8]>> {
        self.get(&blob_path(d)).map(|b| Cow::Borrowed(b.as_slice()))
    }

    fn has_blob(&self, d: &Digest) -> bool {
        self.contains_key(&blob_path(d))
    }
}
