//! Storage behind one trait, [`Store`], with a SQLite and a PostgreSQL
//! implementation. Both share their SQL (see `sql.rs`); only connection
//! set-up, locking and size accounting differ. Migrations are embedded in
//! the binary and run at start.
//!
//! Everything that repeats is content-addressed: probe blobs and evaluation
//! results are stored once by digest, so an unchanged run adds one statement
//! row (the exact envelope bytes plus a few per-statement facts).

use async_trait::async_trait;
use evident_core::evidence::SequenceRange;
use evident_core::wire::AgentStatus;
use evident_core::Digest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

pub use access::{AccessStore, ApiTokenInfo};
pub use bulk::BulkStore;
pub use console::ConsoleStore;
pub use console_pages::ConsolePageStore;
pub use drift::AlertStore;
pub use guard::{Durability, GuardStore, HostStore};
pub use retention::RetentionStore;
pub use vuln::{SnapshotInfo, VulnStore, VulnUpdate};

pub mod access;
mod batch;
pub(crate) mod blob;
pub mod bulk;
pub mod console;
pub mod console_pages;
pub mod drift;
mod fleet;
pub mod guard;
mod migrate;
mod packing;
pub mod postgres;
pub mod retention;
mod sets;
mod sql;
pub mod sqlite;
pub(crate) mod template;
pub mod vuln;

/// Why the store could not do something. Every variant means "not stored".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error("unsupported database URL `{0}` (use sqlite://… or postgres://…)")]
    Url(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The data directory and its database do not belong together (see `guard.rs`).
    #[error("{0}")]
    Identity(String),
    /// The operation is not available on this backend.
    #[error("{0}")]
    Unsupported(String),
}

/// An enrollment token as stored (only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Public id, used to list and revoke.
    pub id: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms, when it expires.
    pub expires_at: Option<i64>,
    /// How many enrollments it allows.
    pub max_uses: Option<i64>,
    /// How many it has been used for.
    pub uses: i64,
    /// Revoked by an operator.
    pub revoked: bool,
}

/// A token to create.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Public id.
    pub id: String,
    /// sha256 of the secret.
    pub hash: [u8; 32],
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub expires_at: Option<i64>,
    /// Allowed enrollments.
    pub max_uses: Option<i64>,
}

/// An enrolled agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRecord {
    /// Agent id.
    pub id: String,
    /// Hex sha256 of the public key.
    pub key_id: String,
    /// The 32 public key bytes.
    #[serde(skip)]
    pub public_key: Vec<u8>,
    /// Host name given at enrollment.
    pub hostname: String,
    /// Agent version given at enrollment.
    pub agent_version: String,
    /// Active, pending or revoked.
    pub status: AgentStatus,
    /// Unix ms.
    pub enrolled_at: i64,
    /// Highest sequence stored.
    pub last_sequence: Option<i64>,
    /// Digest of the envelope with the highest sequence.
    pub last_digest: Option<Digest>,
    /// Unix ms of the last stored envelope.
    pub last_seen: Option<i64>,
    /// Results digest of the latest statement.
    pub latest_results: Option<Digest>,
    /// Collection time (unix ms) of the latest statement.
    pub latest_collected_at: Option<i64>,
}

/// An agent to enroll.
#[derive(Debug, Clone)]
pub struct NewAgent {
    /// Fresh id (used only when the key is new).
    pub id: String,
    /// Hex sha256 of the public key.
    pub key_id: String,
    /// Public key bytes.
    pub public_key: Vec<u8>,
    /// Host name.
    pub hostname: String,
    /// Version.
    pub agent_version: String,
    /// Status a new agent gets.
    pub status: AgentStatus,
    /// Unix ms.
    pub now: i64,
}

/// What enrollment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// A new agent, or the same key enrolling again.
    Enrolled(Box<AgentRecord>),
    /// Unknown, expired, used-up or revoked token.
    BadToken,
}

/// One verified envelope to store.
#[derive(Debug, Clone)]
pub struct IngestItem {
    /// The agent that signed it.
    pub agent_id: String,
    /// Its sequence number.
    pub sequence: i64,
    /// `previous` from the statement.
    pub previous: Option<Digest>,
    /// Gap the agent declared.
    pub declared_gap: Option<SequenceRange>,
    /// sha256 of the envelope bytes.
    pub envelope_digest: Digest,
    /// The exact envelope bytes.
    pub envelope: Arc<Vec<u8>>,
    /// Unix ms.
    pub collected_at: i64,
    /// Unix ms.
    pub received_at: i64,
    /// Blobs that may be new (inserted if absent).
    pub blobs: Vec<(Digest, Arc<Vec<u8>>)>,
    /// Digest of the results JSON.
    pub results_digest: Digest,
    /// The results JSON, when it may be new.
    pub results: Option<Arc<Vec<u8>>>,
    /// Statuses for drift detection (None: no drift tracking for this item).
    pub drift: Option<Arc<drift::DriftInput>>,
    /// Vulnerability state this statement changes (None: no snapshot in
    /// force or no inventory); applied when it is the agent's newest.
    pub vuln: Option<Arc<vuln::VulnUpdate>>,
}

/// What happened to one [`IngestItem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored; integrity/gap events recorded alongside (their kinds).
    Stored { events: Vec<String> },
    /// The same envelope was already stored.
    Duplicate,
    /// A different envelope holds this agent's sequence: refused, integrity event recorded.
    Conflict { existing: Digest },
    /// The agent is unknown, pending or revoked.
    Refused(Option<AgentStatus>),
}

/// What [`EvidenceStore::ingest_batch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batched {
    /// One outcome per item, in order.
    pub outcomes: Vec<IngestOutcome>,
    /// How many items the bulk path stored (`store/batch.rs`: the plain
    /// next runs of their hosts, a few statements for the whole batch);
    /// the others went one by one.
    pub bulk: usize,
}

/// One stored statement (without the envelope bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementRow {
    /// Agent.
    pub agent_id: String,
    /// Sequence.
    pub sequence: i64,
    /// Envelope digest.
    pub digest: Digest,
    /// Unix ms.
    pub collected_at: i64,
    /// Unix ms.
    pub received_at: i64,
    /// Results digest.
    pub results: Digest,
}

/// An agent's statements within a period, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementSpan {
    /// How many.
    pub statements: u64,
    /// Earliest collection time, unix ms.
    pub first_collected: i64,
    /// Latest collection time, unix ms.
    pub last_collected: i64,
}

/// The condition of a period query on `statements` (binds: `$1` agent,
/// `$2` sequence above, `$3`/`$4` collected within): the time index
/// `statement_days` (migration 30) turns the period into a sequence range
/// on the primary key, so a short period reads only its own rows.
pub(crate) const PERIOD_WHERE: &str = "agent_id = $1 AND sequence > $2 \
     AND collected_at >= $3 AND collected_at <= $4 \
     AND sequence >= (SELECT COALESCE(MIN(first_sequence), 9223372036854775807) FROM statement_days \
         WHERE agent_id = $1 AND day >= $3 / 86400000 AND day <= $4 / 86400000) \
     AND sequence <= (SELECT COALESCE(MAX(last_sequence), -9223372036854775807) FROM statement_days \
         WHERE agent_id = $1 AND day >= $3 / 86400000 AND day <= $4 / 86400000)";

/// An integrity or evidence-gap event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityEvent {
    /// Monotonic id (pagination cursor).
    pub id: i64,
    /// Agent.
    pub agent_id: String,
    /// `conflict` (same sequence, different envelope), `gap`, `chain` (previous
    /// digest does not match), `out-of-order`.
    pub kind: String,
    /// Sequence concerned.
    pub sequence: i64,
    /// Detail for a person.
    pub detail: String,
    /// Envelope concerned.
    pub envelope_digest: Option<Digest>,
    /// Unix ms.
    pub at: i64,
}

/// A policy or waivers file the collector evaluated with, kept by digest so
/// that results recorded with it can be re-evaluated after the file changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFileRecord {
    /// sha256 of `data`.
    pub digest: Digest,
    /// The name it was first loaded under (a path or `bundled:<file>`).
    pub name: String,
    /// `policy` or `waivers`.
    pub kind: String,
    /// The exact bytes.
    pub data: Vec<u8>,
    /// Unix ms of the first load.
    pub first_loaded_at: i64,
}

/// A person registered to sign manual attestations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttesterRecord {
    /// Hex sha256 of the public key (the fingerprint).
    pub key_id: String,
    /// Name (e.g. an e-mail address).
    pub name: String,
    /// The 32 public key bytes.
    #[serde(skip)]
    pub public_key: Vec<u8>,
    /// Unix ms.
    pub registered_at: i64,
    /// Unix ms of the revocation: attestations signed at or after it are
    /// refused (`attest`) and fail `verify`.
    pub revoked_at: Option<i64>,
}

/// A stored attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttestation {
    /// sha256 of the envelope bytes.
    pub digest: Digest,
    /// Control.
    pub control: String,
    /// Key id of the signer.
    pub attester_key_id: String,
    /// Last day it counts (YYYY-MM-DD).
    pub expires: String,
    /// Unix ms.
    pub created_at: i64,
    /// The exact envelope bytes.
    pub envelope: Vec<u8>,
}

/// Enrollment tokens (only their hashes are stored).
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Create an enrollment token.
    async fn create_token(&self, token: &NewToken) -> Result<(), StoreError>;
    /// All tokens, newest first.
    async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError>;
    /// Revoke a token; false when unknown.
    async fn revoke_token(&self, id: &str) -> Result<bool, StoreError>;
}

/// Enrolled agents: enrollment, look-up, status.
#[async_trait]
pub trait AgentStore: Send + Sync {
    /// Enroll (or re-enroll the same key) with a token, atomically consuming one use.
    async fn enroll(
        &self,
        token_hash: &[u8; 32],
        agent: &NewAgent,
    ) -> Result<EnrollOutcome, StoreError>;
    /// Look an agent up by key id.
    async fn agent_by_key(&self, key_id: &str) -> Result<Option<AgentRecord>, StoreError>;
    /// Look an agent up by id.
    async fn agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError>;
    /// Agents ordered by id, after `after`.
    async fn list_agents(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AgentRecord>, StoreError>;
    /// Set an agent's status; false when unknown.
    async fn set_agent_status(&self, id: &str, status: AgentStatus) -> Result<bool, StoreError>;
}

/// Signed evidence: blobs, the ingest batch, statements, results and
/// integrity events.
#[async_trait]
pub trait EvidenceStore: Send + Sync {
    /// Which of `digests` are not stored.
    async fn missing_blobs(&self, digests: &[Digest]) -> Result<Vec<Digest>, StoreError>;
    /// The stored blobs among `digests`.
    async fn blobs(&self, digests: &[Digest]) -> Result<BTreeMap<Digest, Vec<u8>>, StoreError>;
    /// Store a batch in ONE transaction; one outcome per item, in order.
    /// An error means nothing of the batch was stored.
    async fn ingest_batch(&self, items: &[IngestItem]) -> Result<Batched, StoreError>;
    /// An agent's statements, newest first, below `before` sequence.
    async fn statements(
        &self,
        agent_id: &str,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StatementRow>, StoreError>;
    /// A statement and its exact envelope bytes, by envelope digest.
    async fn statement(
        &self,
        digest: &Digest,
    ) -> Result<Option<(StatementRow, Vec<u8>)>, StoreError>;
    /// A results JSON by digest.
    async fn results(&self, digest: &Digest) -> Result<Option<Vec<u8>>, StoreError>;
    /// Integrity events after id `after`, optionally for one agent.
    async fn integrity_events(
        &self,
        agent_id: Option<&str>,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<IntegrityEvent>, StoreError>;
    /// (agent id, latest results digest) of every active agent that has sent evidence.
    async fn latest_results(&self) -> Result<Vec<(String, Digest)>, StoreError>;
}

/// What the auditor's side reads and keeps: policy files by digest,
/// statements for export, attesters and attestations.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    /// Keep policy files by digest (a file already kept is left as it is).
    async fn keep_policy_files(&self, files: &[PolicyFileRecord]) -> Result<(), StoreError>;
    /// The kept policy files among `digests`.
    async fn policy_files(&self, digests: &[Digest]) -> Result<Vec<PolicyFileRecord>, StoreError>;
    /// An agent's statements with their exact envelope bytes, by ascending
    /// sequence above `after`, collected within `since..=until` (unix ms).
    async fn export_statements(
        &self,
        agent_id: &str,
        after: Option<i64>,
        since: Option<i64>,
        until: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(StatementRow, Vec<u8>)>, StoreError>;
    /// An agent's statement rows (no envelope), as [`Self::export_statements`].
    async fn statement_rows(
        &self,
        agent_id: &str,
        after: Option<i64>,
        since: Option<i64>,
        until: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StatementRow>, StoreError>;
    /// An agent's statement with the highest sequence collected within
    /// `since..=until`, with its exact envelope bytes.
    async fn last_statement(
        &self,
        agent_id: &str,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Option<(StatementRow, Vec<u8>)>, StoreError>;
    /// How many statements an agent collected within `since..=until`, and
    /// the first and last collection times (None: none).
    async fn statement_span(
        &self,
        agent_id: &str,
        since: Option<i64>,
        until: Option<i64>,
    ) -> Result<Option<StatementSpan>, StoreError>;
    /// Register (or rename) a person who signs manual attestations.
    async fn add_attester(&self, attester: &AttesterRecord) -> Result<(), StoreError>;
    /// Registered attesters, by key id.
    async fn attesters(&self) -> Result<Vec<AttesterRecord>, StoreError>;
    /// Revoke an attester key at `at` (Unix ms); false when no such key.
    /// A key already revoked keeps its first revocation time.
    async fn revoke_attester(&self, key_id: &str, at: i64) -> Result<bool, StoreError>;
    /// Store a verified attestation (idempotent) and its documents as blobs.
    async fn add_attestation(
        &self,
        a: &NewAttestation,
        documents: &[(Digest, Vec<u8>)],
    ) -> Result<(), StoreError>;
    /// Every stored attestation, oldest first.
    async fn attestations(&self) -> Result<Vec<NewAttestation>, StoreError>;
    /// The stored attestations for `controls` that expire on or after
    /// `expires_from` (YYYY-MM-DD), oldest first: what ingest needs, read
    /// through the per-control index instead of every attestation.
    async fn attestations_for(
        &self,
        controls: &[String],
        expires_from: &str,
    ) -> Result<Vec<NewAttestation>, StoreError>;
}

/// Every storage operation the collector needs: the stores by data plus
/// what concerns the database as a whole. Callers hold `Arc<dyn Store>`;
/// supertrait methods are callable on it without importing the sub-traits.
#[async_trait]
pub trait Store:
    TokenStore
    + AgentStore
    + EvidenceStore
    + ReviewStore
    + AlertStore
    + GuardStore
    + HostStore
    + AccessStore
    + RetentionStore
    + BulkStore
    + ConsoleStore
    + ConsolePageStore
    + VulnStore
    + Send
    + Sync
    + 'static
{
    /// `sqlite` or `postgres`.
    fn kind(&self) -> &'static str;
    /// Check the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Bytes the database occupies (after a checkpoint where relevant).
    async fn storage_bytes(&self) -> Result<u64, StoreError>;
    /// Keep the planner's statistics fresh after growth: on PostgreSQL,
    /// `ANALYZE` of the tables changed by ≥ 50 rows + 10 % since their last
    /// one (autovacuum's rule, so it holds with autovacuum off, and an empty
    /// table is never recorded as empty); `PRAGMA optimize` on SQLite.
    /// Cheap when nothing is due; run every minute. Returns how many tables
    /// were analyzed (PostgreSQL; 0 on SQLite, which does not say).
    async fn refresh_statistics(&self) -> Result<usize, StoreError>;
    /// Close connections.
    async fn close(&self);
}

/// Open the store a URL names (`sqlite://…` or `postgres://…`) and run
/// migrations. A data directory's store is opened with
/// [`guard::open_checked`], which checks its identity first.
pub async fn open(
    url: &str,
    max_connections: u32,
    timeout: std::time::Duration,
) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, max_connections, timeout, Durability::Full).await
}

/// [`open`] with an explicit SQLite durability.
pub async fn open_with(
    url: &str,
    max_connections: u32,
    timeout: std::time::Duration,
    durability: Durability,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            postgres::PgStore::open(url, max_connections, timeout).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(
            sqlite::SqliteStore::open(url, max_connections, timeout, durability).await?,
        ))
    } else {
        Err(StoreError::Url(url.chars().take(40).collect()))
    }
}

pub(crate) fn digest_from(bytes: &[u8]) -> Result<Digest, StoreError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("digest of {} bytes", bytes.len())))?;
    Ok(Digest(arr))
}

pub(crate) fn status_from(s: &str) -> Result<AgentStatus, StoreError> {
    AgentStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("agent status `{s}`")))
}

/// Envelope storage form: the bytes as received.
pub(crate) const FORM_RAW: i64 = 0;
/// Envelope storage form: signature header line + raw payload.
pub(crate) const FORM_COMPACT: i64 = 1;

/// A lossless compact form of an envelope: when the bytes are exactly what
/// [`Envelope::to_json`](evident_core::Envelope::to_json) produces for their
/// content (true for every envelope the agent signs), keep the payload raw
/// instead of base64 (a quarter smaller) and the signatures in a header
/// line. Anything else is kept as received.
pub(crate) fn pack_envelope(bytes: &[u8]) -> (i64, Vec<u8>) {
    use base64::Engine as _;
    if let Ok(env) = evident_core::Envelope::from_json(bytes) {
        if env.to_json() == bytes {
            let sigs: Vec<(&str, String)> = env
                .signatures
                .iter()
                .map(|s| {
                    (
                        s.keyid.as_str(),
                        base64::engine::general_purpose::STANDARD.encode(&s.sig),
                    )
                })
                .collect();
            if let Ok(mut out) = serde_json::to_vec(&(&env.payload_type, sigs)) {
                out.push(b'\n');
                out.extend_from_slice(&env.payload);
                if let Some(z) = packing::compress(&out) {
                    return (packing::FORM_ZDICT1, z);
                }
                return (FORM_COMPACT, out);
            }
        }
    }
    (FORM_RAW, bytes.to_vec())
}

/// Rebuild the exact envelope bytes of a statement row (any form; form 3
/// needs the row's template, sequence and collection time) and check them
/// against their digest.
pub(crate) fn unpack_row(
    form: i64,
    data: Vec<u8>,
    template: Option<&[u8]>,
    sequence: i64,
    collected_at: i64,
    digest: &Digest,
) -> Result<Vec<u8>, StoreError> {
    if form != template::FORM_TEMPLATE {
        return unpack_envelope(form, data, digest);
    }
    let t = template
        .ok_or_else(|| StoreError::Corrupt(format!("envelope {digest}: template missing")))
        .and_then(|t| template::Template::from_bytes(t).map_err(StoreError::Corrupt))?;
    let bytes = template::unpack(&t, &data, sequence, collected_at).map_err(StoreError::Corrupt)?;
    unpack_envelope(FORM_RAW, bytes, digest)
}

/// Rebuild the exact envelope bytes and check them against their digest.
pub(crate) fn unpack_envelope(
    form: i64,
    data: Vec<u8>,
    digest: &Digest,
) -> Result<Vec<u8>, StoreError> {
    use base64::Engine as _;
    let bytes = match form {
        FORM_RAW => data,
        packing::FORM_ZDICT1 => {
            let form1 = packing::decompress(&data).map_err(StoreError::Corrupt)?;
            return unpack_envelope(FORM_COMPACT, form1, digest);
        }
        FORM_COMPACT => {
            let nl = data
                .iter()
                .position(|b| *b == b'\n')
                .ok_or_else(|| StoreError::Corrupt("compact envelope without header".into()))?;
            let (head, payload) = data.split_at(nl);
            let (payload_type, sigs): (String, Vec<(String, String)>) =
                serde_json::from_slice(head)
                    .map_err(|e| StoreError::Corrupt(format!("compact envelope header: {e}")))?;
            let signatures = sigs
                .into_iter()
                .map(|(keyid, sig)| {
                    Ok(evident_core::dsse::EnvelopeSignature {
                        keyid,
                        sig: base64::engine::general_purpose::STANDARD
                            .decode(sig.as_bytes())
                            .map_err(|_| StoreError::Corrupt("compact envelope sig".into()))?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            evident_core::Envelope {
                payload_type,
                payload: payload.get(1..).unwrap_or_default().to_vec(),
                signatures,
            }
            .to_json()
        }
        other => return Err(StoreError::Corrupt(format!("envelope form {other}"))),
    };
    if evident_core::sha256_digest(&bytes) != *digest {
        return Err(StoreError::Corrupt(format!(
            "envelope {digest} does not match its digest"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_envelopes_round_trip_exactly() {
        let signer = evident_core::Signer::from_seed(&[5u8; 32]);
        let env = signer
            .sign_envelope(
                "application/vnd.in-toto+json",
                b"{\"a\":\"\\u00e9\"}".to_vec(),
            )
            .to_json();
        let d = evident_core::sha256_digest(&env);
        let (form, data) = pack_envelope(&env);
        // Form 1, or form 2 (form 1 compressed) when that is smaller.
        assert!(
            form == FORM_COMPACT || form == packing::FORM_ZDICT1,
            "{form}"
        );
        assert!(data.len() < env.len());
        assert_eq!(unpack_envelope(form, data, &d).unwrap(), env);
        // Non-canonical spacing is kept as received.
        let spaced = String::from_utf8(env.clone()).unwrap().replace(",", ", ");
        let d2 = evident_core::sha256_digest(spaced.as_bytes());
        let (form, data) = pack_envelope(spaced.as_bytes());
        assert_eq!(form, FORM_RAW);
        assert_eq!(unpack_envelope(form, data, &d2).unwrap(), spaced.as_bytes());
        assert!(unpack_envelope(FORM_RAW, b"x".to_vec(), &d).is_err());
    }
}
