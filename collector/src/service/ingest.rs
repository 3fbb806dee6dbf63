//! `POST /v1/evidence`, in this order: parse the envelope → find the agent
//! by key id → strict signature verification → blob digests → blob
//! availability → evaluate the loaded policies (cached for unchanged
//! evidence) → queue for the writer, which checks sequence and chain and
//! stores everything in one transaction → answer after the commit.

use super::compact::Contents;
use super::writer::WriterHandle;
use super::{now_ms, App};
use crate::error::ApiError;
use crate::store::drift::{DriftEval, DriftInput, DriftSettings, NewAlert};
use crate::store::{IngestItem, IngestOutcome, Store};
use ed25519_dalek::VerifyingKey;
use evident_core::dsse::parse_public_key;
use evident_core::evidence::{Parsed, Statement, PAYLOAD_TYPE};
use evident_core::wire::{decode_ingest, AgentStatus, IngestResponse, IngestStatus};
use evident_core::{evaluate, sha256_digest, Digest, Evidence, PolicySet};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Evaluation results as stored (content-addressed): everything of an
/// [`evident_core::Evaluation`] except the per-statement host and time. The
/// same type an offline `verify` compares re-evaluations against.
pub use evident_core::bundle::RecordedResults as StoredResults;

struct EvalEntry {
    digest: Digest,
    bytes: Arc<Vec<u8>>,
    summary: BTreeMap<String, u64>,
    drift: Arc<DriftEval>,
}

/// Signature failures of one known key within this window…
const SIG_FAIL_WINDOW_MS: i64 = 60_000;
/// …more than this many open an integrity alert.
const SIG_FAIL_BURST: usize = 5;

#[derive(Clone)]
struct CachedAgent {
    id: String,
    key: VerifyingKey,
    status: AgentStatus,
    fetched: Instant,
}

/// How long an `active` agent lookup is trusted before asking the database
/// again. The writer re-checks the status inside the transaction, so a
/// revoked agent is refused even within this window.
const AGENT_TTL: Duration = Duration::from_secs(2);
const CACHE_CAP: usize = 200_000;
const EVAL_CACHE_CAP: usize = 8192;

/// The ingest pipeline's state.
pub struct Ingestor {
    writer: WriterHandle,
    agents: RwLock<HashMap<String, CachedAgent>>,
    known_blobs: RwLock<HashSet<Digest>>,
    known_results: RwLock<HashSet<Digest>>,
    evals: Mutex<HashMap<[u8; 32], Arc<EvalEntry>>>,
    /// Whether any expression reads `collected_at` (then the time is part of the cache key).
    time_sensitive: bool,
    /// Drift detection settings (None: no drift tracking).
    drift: Option<Arc<DriftSettings>>,
    /// Recent signature failures per agent id (Unix ms).
    sig_failures: Mutex<HashMap<String, Vec<i64>>>,
    /// Contents of v2 runs (to resolve unchanged ones).
    contents: Contents,
}

impl Ingestor {
    /// A pipeline feeding `writer`.
    pub fn new(writer: WriterHandle, policies: &PolicySet) -> Ingestor {
        let time_sensitive = policies.policies().iter().any(|p| {
            p.applies_to
                .as_ref()
                .is_some_and(|e| e.source().contains("collected_at"))
                || p.rules.iter().any(|r| {
                    r.check.source().contains("collected_at")
                        || r.applies_to
                            .as_ref()
                            .is_some_and(|e| e.source().contains("collected_at"))
                })
        });
        Ingestor {
            writer,
            agents: RwLock::new(HashMap::new()),
            known_blobs: RwLock::new(HashSet::new()),
            known_results: RwLock::new(HashSet::new()),
            evals: Mutex::new(HashMap::new()),
            time_sensitive,
            drift: None,
            sig_failures: Mutex::new(HashMap::new()),
            contents: Contents::default(),
        }
    }

    /// Track drift (transitions and alerts) with these settings.
    pub fn with_drift(mut self, settings: Arc<DriftSettings>) -> Ingestor {
        self.drift = Some(settings);
        self
    }

    /// Raise an integrity alert in the background (never on the ingest path).
    fn raise(&self, store: &Arc<dyn Store>, agent_id: &str, subject: &str, detail: String) {
        let Some(settings) = self.drift.clone() else {
            return;
        };
        let store = store.clone();
        let alert = NewAlert {
            agent_id: agent_id.to_string(),
            kind: "integrity".into(),
            subject: subject.into(),
            severity: "high".into(),
            detail,
            now: now_ms(),
        };
        tokio::spawn(async move {
            if let Err(e) = store.raise_alert(&alert, &settings.sinks).await {
                tracing::warn!(error = %e, "could not record an integrity alert");
            }
        });
    }

    /// Count a signature failure for a known key; true when it makes a burst.
    fn signature_failed(&self, agent_id: &str) -> bool {
        let now = now_ms();
        let Ok(mut m) = self.sig_failures.lock() else {
            return false;
        };
        if m.len() > 10_000 {
            m.clear();
        }
        let v = m.entry(agent_id.to_string()).or_default();
        v.retain(|t| *t >= now - SIG_FAIL_WINDOW_MS);
        v.push(now);
        if v.len() > SIG_FAIL_BURST {
            v.clear();
            return true;
        }
        false
    }

    async fn agent_for_key(
        &self,
        store: &dyn Store,
        key_id: &str,
    ) -> Result<CachedAgent, ApiError> {
        if let Ok(map) = self.agents.read() {
            if let Some(a) = map.get(key_id) {
                if a.status == AgentStatus::Active && a.fetched.elapsed() < AGENT_TTL {
                    return Ok(a.clone());
                }
            }
        }
        let Some(rec) = store.agent_by_key(key_id).await? else {
            return Err(ApiError::Forbidden(format!("unknown key {key_id}")));
        };
        let key = parse_public_key(&rec.public_key)
            .map_err(|e| ApiError::Forbidden(format!("stored key of agent {}: {e}", rec.id)))?;
        let agent = CachedAgent {
            id: rec.id,
            key,
            status: rec.status,
            fetched: Instant::now(),
        };
        if let Ok(mut map) = self.agents.write() {
            if map.len() > CACHE_CAP {
                map.clear();
            }
            map.insert(key_id.to_string(), agent.clone());
        }
        Ok(agent)
    }

    fn forget_agent(&self, key_id: &str) {
        if let Ok(mut map) = self.agents.write() {
            map.remove(key_id);
        }
    }

    fn is_known_blob(&self, d: &Digest) -> bool {
        self.known_blobs
            .read()
            .map(|s| s.contains(d))
            .unwrap_or(false)
    }

    fn mark_known(set: &RwLock<HashSet<Digest>>, digests: impl IntoIterator<Item = Digest>) {
        if let Ok(mut s) = set.write() {
            if s.len() > CACHE_CAP {
                s.clear();
            }
            s.extend(digests);
        }
    }

    fn eval_key(&self, st: &Statement) -> [u8; 32] {
        /// (id, version, status, digest, reason) of one probe entry.
        type ProbeKey<'a> = (&'a str, u32, &'a str, Option<Digest>, Option<&'a str>);
        #[derive(Serialize)]
        struct Key<'a> {
            host: &'a evident_core::evidence::HostFacts,
            probes: Vec<ProbeKey<'a>>,
            when: String,
        }
        let p = &st.predicate;
        let key = Key {
            host: &p.host,
            probes: p
                .probes
                .iter()
                .map(|e| {
                    (
                        e.id.as_str(),
                        e.version,
                        e.status.as_str(),
                        e.digest,
                        e.reason.as_deref(),
                    )
                })
                .collect(),
            when: if self.time_sensitive {
                p.collected_at.to_rfc3339()
            } else {
                p.collected_at.date_naive().to_string()
            },
        };
        sha256_digest(&serde_json::to_vec(&key).unwrap_or_default()).0
    }
}

/// Ingest one request body. Returns the answer and whether it was new.
pub async fn ingest(app: &App, body: &[u8]) -> Result<IngestResponse, ApiError> {
    let ing = &app.ingest;
    let store = &*app.store;
    // 1. Parse.
    let mut decoded = decode_ingest(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if decoded.envelope.payload_type != PAYLOAD_TYPE {
        return Err(ApiError::BadRequest(format!(
            "envelope payloadType is `{}`, expected `{PAYLOAD_TYPE}`",
            decoded
                .envelope
                .payload_type
                .chars()
                .take(100)
                .collect::<String>()
        )));
    }
    // 2. Find the agent by key id.
    let key_id = decoded
        .envelope
        .signatures
        .first()
        .map(|s| s.keyid.clone())
        .ok_or_else(|| ApiError::BadSignature("envelope carries no signature".into()))?;
    if key_id.len() != 64 {
        return Err(ApiError::Forbidden("unknown key".into()));
    }
    let agent = ing.agent_for_key(store, &key_id).await?;
    match agent.status {
        AgentStatus::Active => {}
        AgentStatus::Pending => {
            return Err(ApiError::Forbidden(format!(
                "agent {} is waiting for approval",
                agent.id
            )))
        }
        AgentStatus::Revoked => {
            ing.raise(
                &app.store,
                &agent.id,
                "integrity:revoked-key",
                format!("revoked key {key_id} is still sending evidence"),
            );
            return Err(ApiError::Forbidden(format!(
                "agent {} is revoked",
                agent.id
            )));
        }
    }
    // 3. Strict signature verification.
    let payload = decoded
        .envelope
        .verify(&agent.key, PAYLOAD_TYPE)
        .map_err(|e| {
            if ing.signature_failed(&agent.id) {
                ing.raise(
                    &app.store,
                    &agent.id,
                    "integrity:bad-signatures",
                    format!("more than {SIG_FAIL_BURST} signature failures within {} s for key {key_id}", SIG_FAIL_WINDOW_MS / 1000),
                );
            }
            ApiError::BadSignature(e.to_string())
        })?;
    let parsed = Parsed::from_bytes(payload).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // 3b. Predicate v2: resolve an unchanged run against its content blob.
    let resolved = ing.contents.resolve(store, parsed, &decoded.blobs).await?;
    if let Some((d, b)) = resolved.new_blob {
        decoded.blobs.entry(d).or_insert(b);
    }
    let statement = resolved.statement;
    if statement.predicate.agent.id != agent.id {
        return Err(ApiError::BadRequest(format!(
            "statement names agent `{}` but is signed by the key of agent {}",
            statement
                .predicate
                .agent
                .id
                .chars()
                .take(80)
                .collect::<String>(),
            agent.id
        )));
    }
    let sequence = i64::try_from(statement.predicate.sequence)
        .map_err(|_| ApiError::BadRequest("sequence is too large".into()))?;
    // 4. Blob digests.
    decoded
        .check_blobs()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // 5. Blob availability.
    let mut refs = statement.blob_digests();
    refs.extend(resolved.content);
    refs.sort();
    refs.dedup();
    let unknown: Vec<Digest> = refs
        .iter()
        .filter(|d| !decoded.blobs.contains_key(d) && !ing.is_known_blob(d))
        .copied()
        .collect();
    if !unknown.is_empty() {
        let missing = store.missing_blobs(&unknown).await?;
        if !missing.is_empty() {
            return Err(ApiError::MissingBlobs(missing));
        }
        Ingestor::mark_known(&ing.known_blobs, unknown);
    }
    // 6. Evaluate (cached when the evidence is unchanged).
    let key = ing.eval_key(&statement);
    let cached = ing.evals.lock().ok().and_then(|m| m.get(&key).cloned());
    let eval = match cached {
        Some(e) => e,
        None => {
            let stored_needed: Vec<Digest> = refs
                .iter()
                .filter(|d| !decoded.blobs.contains_key(d))
                .copied()
                .collect();
            let stored = if stored_needed.is_empty() {
                BTreeMap::new()
            } else {
                store.blobs(&stored_needed).await?
            };
            let evidence = Evidence::from_statement(&statement, |d| {
                decoded
                    .blobs
                    .get(d)
                    .or_else(|| stored.get(d))
                    .map(Vec::as_slice)
            })
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            let evaluation = evaluate(&app.policies, &evidence);
            let results = StoredResults {
                policies: evaluation.policies,
                waivers: evaluation.waivers,
                controls: evaluation.controls,
                rules: evaluation.rules,
                expired_waivers: evaluation.expired_waivers,
                summary: evaluation.summary,
            };
            let bytes = serde_json::to_vec(&results).unwrap_or_default();
            let (statuses, severities) =
                evident_core::drift::statuses(&results.rules, &results.controls);
            let entry = Arc::new(EvalEntry {
                drift: Arc::new(DriftEval {
                    statuses,
                    severities,
                }),
                digest: sha256_digest(&bytes),
                bytes: Arc::new(bytes),
                summary: results
                    .summary
                    .rules
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), u64::try_from(*v).unwrap_or(0)))
                    .collect(),
            });
            if let Ok(mut m) = ing.evals.lock() {
                if m.len() >= EVAL_CACHE_CAP {
                    m.clear();
                }
                m.insert(key, entry.clone());
            }
            entry
        }
    };
    // 7. Queue for the writer (sequence/chain checks and storage in one transaction).
    let new_blobs: Vec<(Digest, Arc<Vec<u8>>)> = decoded
        .blobs
        .into_iter()
        .filter(|(d, _)| refs.binary_search(d).is_ok() && !ing.is_known_blob(d))
        .map(|(d, b)| (d, Arc::new(b)))
        .collect();
    let results_known = ing
        .known_results
        .read()
        .map(|s| s.contains(&eval.digest))
        .unwrap_or(false);
    let item = IngestItem {
        agent_id: agent.id.clone(),
        sequence,
        previous: statement.predicate.previous,
        declared_gap: statement.predicate.gap,
        envelope_digest: decoded.envelope_digest,
        envelope: Arc::new(decoded.envelope_bytes),
        collected_at: statement.predicate.collected_at.timestamp_millis(),
        received_at: now_ms(),
        blobs: new_blobs,
        results_digest: eval.digest,
        results: if results_known {
            None
        } else {
            Some(eval.bytes.clone())
        },
        drift: ing.drift.as_ref().map(|settings| {
            Arc::new(DriftInput {
                eval: eval.drift.clone(),
                interval_seconds: statement.predicate.schedule.interval_seconds,
                settings: settings.clone(),
            })
        }),
    };
    let envelope_digest = item.envelope_digest;
    let outcome = ing
        .writer
        .submit(item)
        .await
        .map_err(ApiError::Unavailable)?;
    let status = match outcome {
        IngestOutcome::Stored { events } => {
            for e in events {
                tracing::warn!(agent_id = %agent.id, sequence, kind = %e, "integrity event recorded");
            }
            IngestStatus::Stored
        }
        IngestOutcome::Duplicate => IngestStatus::Duplicate,
        IngestOutcome::Conflict { existing } => {
            tracing::warn!(agent_id = %agent.id, sequence, %existing, refused = %envelope_digest, "same sequence, different envelope: integrity event recorded");
            return Err(ApiError::Conflict(format!(
                "sequence {sequence} of agent {} already holds a different envelope ({existing}); recorded as an integrity event",
                agent.id
            )));
        }
        IngestOutcome::Refused(s) => {
            ing.forget_agent(&key_id);
            if s == Some(AgentStatus::Revoked) {
                ing.raise(
                    &app.store,
                    &agent.id,
                    "integrity:revoked-key",
                    format!("revoked key {key_id} is still sending evidence"),
                );
            }
            return Err(ApiError::Forbidden(match s {
                None => format!("agent {} is unknown", agent.id),
                Some(s) => format!("agent {} is {}", agent.id, s.as_str()),
            }));
        }
    };
    Ingestor::mark_known(&ing.known_blobs, refs.iter().copied());
    if status == IngestStatus::Stored {
        // A duplicate's results were stored with the original, possibly under other policies.
        Ingestor::mark_known(&ing.known_results, [eval.digest]);
    }
    Ok(IngestResponse {
        status,
        agent_id: agent.id,
        sequence: statement.predicate.sequence,
        envelope_digest,
        known_blobs: refs,
        summary: eval.summary.clone(),
    })
}
