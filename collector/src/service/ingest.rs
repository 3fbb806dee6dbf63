//! `POST /v1/evidence`, in this order, one function per step: [`parse`] the
//! envelope → [`authenticate`] (find the agent by key id) → [`verify`]
//! (strict signature, statement) → [`check_blobs`] (digests, availability)
//! → [`evaluation`] of the loaded policies (shared by content through a
//! bounded LRU keyed by [`EvalKeys`]) → [`submit`] to the writer, which
//! checks sequence and chain and stores everything in one transaction →
//! [`answer`] after the commit.
//!
//! Why this file is longer than ~700 lines: the ingest order reads top to
//! bottom as one pipeline, its checks (quota, freshness) included, each a
//! short named step sharing the pipeline's private cached-agent type.

use super::compact::{Contents, ResolveError};
use super::evals::{Eval, Evals};
use super::projections::Projections;
use super::recent::Recent;
use super::vuln_state::{IngestVulns, VulnStateError};
use super::writer::WriterHandle;
use super::App;
use crate::store::drift::{DriftInput, DriftSettings, NewAlert};
use crate::store::{IngestItem, IngestOutcome, Store, VulnUpdate};
use ed25519_dalek::VerifyingKey;
use evident_core::bundle::RecordedResults;
use evident_core::dsse::parse_public_key;
use evident_core::evidence::{Parsed, Statement, PAYLOAD_TYPE};
use evident_core::policy::{evaluate_with, AttestationInput, EvalKeys};
use evident_core::vuln::basis::VULNS;
use evident_core::wire::DecodedIngest;
use evident_core::wire::{decode_ingest, AgentStatus, IngestResponse, IngestStatus};
use evident_core::{sha256_digest, Digest, Evidence, PolicySet};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a statement was not ingested; `crate::error` maps each to its HTTP status and body.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Malformed or invalid input (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The envelope signature does not verify (HTTP 401).
    #[error("{0}")]
    BadSignature(String),
    /// Unknown, unapproved or revoked key; bad enrollment token (HTTP 403).
    #[error("{0}")]
    Refused(String),
    /// Conflicts with what is stored (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// Referenced blobs neither sent nor stored (HTTP 422).
    #[error("{} blob(s) referenced by the statement are neither in the request nor stored", .0.len())]
    MissingBlobs(Vec<Digest>),
    /// A per-agent quota was reached (HTTP 429).
    #[error("{0}")]
    TooMany(String),
    /// Stored data unreadable or the writer gone (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// The database failed (HTTP 503).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<ResolveError> for IngestError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Missing(d) => IngestError::MissingBlobs(vec![d]),
            ResolveError::Invalid(m) => IngestError::Invalid(m),
            ResolveError::Store(e) => IngestError::Store(e),
        }
    }
}

/// Evaluation results as stored (content-addressed): everything of an
/// [`evident_core::Evaluation`] except the per-statement host and time. The
/// same type an offline `verify` compares re-evaluations against.
pub use evident_core::bundle::RecordedResults as StoredResults;

/// Bad signatures under one known key id are logged at most once per this
/// window (and always counted in `evident_known_key_bad_signatures_total`).
/// They never open an alert: whoever knows a key id can send them.
const SIG_FAIL_WINDOW_MS: i64 = 60_000;

#[derive(Clone)]
struct CachedAgent {
    id: String,
    key: VerifyingKey,
    status: AgentStatus,
    /// The host's last stored sequence when fetched (at most [`AGENT_TTL`] old).
    last_sequence: Option<i64>,
    fetched: Instant,
}

/// How long an `active` agent lookup is trusted before asking the database
/// again; each run stored renews it (the writer has just seen the agent
/// active, and its sequence). The writer re-checks the status inside the
/// transaction, so a revoked agent is refused (and forgotten here) even
/// within this window: it only saves a round trip per run, which a
/// round-robin fleet would otherwise pay on every run.
const AGENT_TTL: Duration = Duration::from_secs(6 * 3600);
/// Agents looked up by key id kept (least recently used evicted; ~250 B
/// each: ~50 MB at most).
const CACHE_CAP: usize = 200_000;
/// Digests known to be stored, per generation (see [`Recent`]; 32 B + the
/// set's overhead each: ~25 MB for both generations of blobs). A v2 host
/// holds one: its content blob, which vouches for its probe blobs.
const KNOWN_CAP: usize = 262_144;
/// Attestations that expired more than this many days ago are not read at
/// ingest (longer than the agent spool's default 30-day age limit).
const ATTESTATION_MARGIN_DAYS: i64 = 31;

/// How long the attestations read for hybrid controls are reused before the
/// database is asked again (a new attestation counts within this time).
const ATTESTATION_TTL: Duration = Duration::from_secs(10);

/// Attestations for the controls that require one, as last read.
type AttestationCache = Mutex<Option<(Instant, Arc<Vec<AttestationInput>>)>>;

/// The ingest pipeline's state.
pub struct Ingestor {
    writer: WriterHandle,
    agents: Mutex<hashlink::LruCache<String, CachedAgent>>,
    known_blobs: Recent<Digest>,
    known_results: Recent<Digest>,
    evals: Evals,
    /// What evaluation results depend on (the cache key).
    keys: EvalKeys,
    /// Drift detection settings (None: no drift tracking).
    drift: Option<Arc<DriftSettings>>,
    /// Bad signatures per agent id in the current log window.
    sig_failures: crate::limits::Windows<String>,
    /// Controls whose coverage requires a signed attestation (empty: none read).
    attested_controls: Vec<String>,
    attestations: AttestationCache,
    /// Contents of v2 runs (to resolve unchanged ones).
    contents: Contents,
    /// What the day-reading rules read of each blob seen.
    projections: Projections,
}

impl Ingestor {
    /// A pipeline feeding `writer`.
    pub fn new(writer: WriterHandle, policies: &PolicySet) -> Ingestor {
        Ingestor {
            writer,
            agents: Mutex::new(hashlink::LruCache::new(CACHE_CAP)),
            known_blobs: Recent::new(KNOWN_CAP),
            known_results: Recent::new(KNOWN_CAP),
            evals: Evals::default(),
            keys: EvalKeys::new(policies),
            drift: None,
            sig_failures: crate::limits::Windows::new(SIG_FAIL_WINDOW_MS, 10_000),
            attested_controls: policies.attested_controls(),
            attestations: Mutex::new(None),
            contents: Contents::default(),
            projections: Projections::default(),
        }
    }

    /// The stored attestations for controls that require one (the policy
    /// decides whether they are current at the evidence's collection day).
    /// Stored attestations were verified by `attest` before storing.
    async fn attestations(
        &self,
        store: &dyn Store,
        now_ms: i64,
    ) -> Result<Arc<Vec<AttestationInput>>, IngestError> {
        if self.attested_controls.is_empty() {
            return Ok(Arc::new(Vec::new()));
        }
        if let Ok(guard) = self.attestations.lock() {
            if let Some((at, list)) = guard.as_ref() {
                if at.elapsed() < ATTESTATION_TTL {
                    return Ok(list.clone());
                }
            }
        }
        let mut list = Vec::new();
        // Only those not expired before the oldest evidence ingest still
        // takes in practice (the agent's spool keeps 30 days by default),
        // through the per-control index: bounded by what is current.
        let from = chrono::DateTime::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .checked_sub_signed(chrono::Duration::days(ATTESTATION_MARGIN_DAYS))
            .unwrap_or_default()
            .date_naive()
            .to_string();
        for a in store
            .attestations_for(&self.attested_controls, &from)
            .await?
        {
            let parsed = evident_core::Envelope::from_json(&a.envelope)
                .ok()
                .and_then(|env| {
                    serde_json::from_slice::<evident_core::attestation::Attestation>(&env.payload)
                        .ok()
                });
            match parsed {
                Some(att) => list.push(AttestationInput::new(a.digest, &att)),
                None => {
                    tracing::warn!(digest = %a.digest, "stored attestation is unreadable; ignored")
                }
            }
        }
        let list = Arc::new(list);
        if let Ok(mut guard) = self.attestations.lock() {
            *guard = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }

    /// Track drift (transitions and alerts) with these settings.
    pub fn with_drift(mut self, settings: Arc<DriftSettings>) -> Ingestor {
        self.drift = Some(settings);
        self
    }

    /// Raise an integrity alert in the background (never on the ingest path).
    pub(crate) fn raise(&self, app: &App, agent_id: &str, subject: &str, detail: String) {
        let Some(settings) = self.drift.clone() else {
            return;
        };
        let store = app.store.clone();
        let alert = NewAlert {
            agent_id: agent_id.to_string(),
            kind: "integrity".into(),
            subject: subject.into(),
            severity: "high".into(),
            detail,
            now: app.clock.now_ms(),
        };
        tokio::spawn(async move {
            if let Err(e) = store.raise_alert(&alert, &settings.sinks).await {
                tracing::warn!(error = %e, "could not record an integrity alert");
            }
        });
    }

    /// Count a bad signature under a known key; true when it is the first
    /// of its log window (then it is logged).
    fn signature_failed(&self, agent_id: &str, now: i64) -> bool {
        self.sig_failures.add(&agent_id.to_string(), 1, now) == 1
    }

    async fn agent_for_key(
        &self,
        store: &dyn Store,
        key_id: &str,
    ) -> Result<CachedAgent, IngestError> {
        if let Ok(mut map) = self.agents.lock() {
            if let Some(a) = map.get(key_id) {
                if a.status == AgentStatus::Active && a.fetched.elapsed() < AGENT_TTL {
                    return Ok(a.clone());
                }
            }
        }
        let Some(rec) = store.agent_by_key(key_id).await? else {
            return Err(IngestError::Refused(format!("unknown key {key_id}")));
        };
        let key = parse_public_key(&rec.public_key)
            .map_err(|e| IngestError::Refused(format!("stored key of agent {}: {e}", rec.id)))?;
        let agent = CachedAgent {
            id: rec.id,
            key,
            status: rec.status,
            last_sequence: rec.last_sequence,
            fetched: Instant::now(),
        };
        if let Ok(mut map) = self.agents.lock() {
            map.insert(key_id.to_string(), agent.clone());
        }
        Ok(agent)
    }

    /// A run of the agent under `key_id` was stored at `sequence`: renew
    /// its cached lookup.
    fn stored_run(&self, key_id: &str, sequence: i64) {
        if let Ok(mut map) = self.agents.lock() {
            if let Some(a) = map.get_mut(key_id) {
                a.last_sequence = Some(a.last_sequence.map_or(sequence, |l| l.max(sequence)));
                a.fetched = Instant::now();
            }
        }
    }

    fn forget_agent(&self, key_id: &str) {
        if let Ok(mut map) = self.agents.lock() {
            map.remove(key_id);
        }
    }

    fn is_known_blob(&self, d: &Digest) -> bool {
        self.known_blobs.contains(d)
    }
}

/// Ingest one request body: the steps below, in order.
pub async fn ingest(app: &App, body: &[u8]) -> Result<IngestResponse, IngestError> {
    let mut decoded = parse(body)?;
    let (agent, key_id) = authenticate(app, &decoded).await?;
    let (statement, sequence, content) = verify(app, &mut decoded, &agent, &key_id).await?;
    quota(app, &agent, body.len())?;
    fresh(app, &statement, sequence, &agent)?;
    let refs = check_blobs(app, &decoded, &statement, content).await?;
    let (eval_keys, eval, vuln) = evaluation(app, &decoded, &statement, &refs).await?;
    let envelope_digest = decoded.envelope_digest;
    let outcome = submit(
        app, decoded, &statement, sequence, &agent, &refs, &eval, vuln,
    )
    .await?;
    answer(
        app,
        outcome,
        &agent,
        &key_id,
        &statement,
        envelope_digest,
        Blobs { refs, content },
        eval_keys,
        &eval,
    )
}

/// Step 1: decode the body and check the envelope's payload type.
fn parse(body: &[u8]) -> Result<DecodedIngest, IngestError> {
    let decoded = decode_ingest(body).map_err(|e| IngestError::Invalid(e.to_string()))?;
    if decoded.envelope.payload_type != PAYLOAD_TYPE {
        return Err(IngestError::Invalid(format!(
            "envelope payloadType is `{}`, expected `{PAYLOAD_TYPE}`",
            decoded
                .envelope
                .payload_type
                .chars()
                .take(100)
                .collect::<String>()
        )));
    }
    Ok(decoded)
}

/// Step 2: find the active agent whose key signed the envelope; (agent, key id).
async fn authenticate(
    app: &App,
    decoded: &DecodedIngest,
) -> Result<(CachedAgent, String), IngestError> {
    let ing = &app.ingest;
    let key_id = decoded
        .envelope
        .signatures
        .first()
        .map(|s| s.keyid.clone())
        .ok_or_else(|| IngestError::BadSignature("envelope carries no signature".into()))?;
    if key_id.len() != 64 {
        return Err(IngestError::Refused("unknown key".into()));
    }
    let agent = ing.agent_for_key(&*app.store, &key_id).await?;
    match agent.status {
        AgentStatus::Active => Ok((agent, key_id)),
        AgentStatus::Pending => Err(IngestError::Refused(format!(
            "agent {} is waiting for approval",
            agent.id
        ))),
        AgentStatus::Revoked => {
            // Only what the revoked key really signed can alarm: anyone
            // can name its key id.
            if decoded.envelope.verify(&agent.key, PAYLOAD_TYPE).is_ok() {
                ing.raise(
                    app,
                    &agent.id,
                    "integrity:revoked-key",
                    format!("revoked key {key_id} is still sending evidence"),
                );
            }
            Err(IngestError::Refused(format!(
                "agent {} is revoked",
                agent.id
            )))
        }
    }
}

/// Step 3: strict signature verification (failures are counted and logged
/// at most once a minute per key, never alerted: unsigned input cannot
/// alarm), then the statement (a v2 unchanged run resolved against
/// its content blob, which joins the request's blobs when new): its agent and
/// sequence, and the digest of its content blob (v2).
async fn verify(
    app: &App,
    decoded: &mut DecodedIngest,
    agent: &CachedAgent,
    key_id: &str,
) -> Result<(Statement, i64, Option<Digest>), IngestError> {
    let ing = &app.ingest;
    let payload = decoded
        .envelope
        .verify(&agent.key, PAYLOAD_TYPE)
        .map_err(|e| {
            app.metrics
                .known_key_bad_signatures
                .inc();
            if ing.signature_failed(&agent.id, app.clock.now_ms()) {
                tracing::warn!(agent_id = %agent.id, %key_id, error = %e, "bad signature under a known key id (counted; logged once a minute per key; no alert)");
            }
            IngestError::BadSignature(e.to_string())
        })?;
    let parsed = Parsed::from_bytes(payload).map_err(|e| IngestError::Invalid(e.to_string()))?;
    let resolved = ing
        .contents
        .resolve(&*app.store, parsed, &decoded.blobs)
        .await?;
    if let Some((d, b)) = resolved.new_blob {
        decoded.blobs.entry(d).or_insert(b);
    }
    let statement = resolved.statement;
    if statement.predicate.agent.id != agent.id {
        return Err(IngestError::Invalid(format!(
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
        .map_err(|_| IngestError::Invalid("sequence is too large".into()))?;
    Ok((statement, sequence, resolved.content))
}

/// Per-agent quotas, counted once the signature verified (a stranger
/// cannot spend a host's quota): statements per minute and request bytes
/// per day. Over a quota: 429, and one alert when it is first crossed.
fn quota(app: &App, agent: &CachedAgent, body_len: usize) -> Result<(), IngestError> {
    let now = app.clock.now_ms();
    let limits = &app.limits;
    let n = app.quota_statements.add(&agent.id, 1, now);
    let per_min = u64::from(limits.statements_per_minute);
    let len = u64::try_from(body_len).unwrap_or(u64::MAX);
    let bytes = app.quota_bytes.add(&agent.id, len, now);
    let over = if n > per_min {
        Some((
            n == per_min + 1,
            "quota:statements-per-minute",
            format!("more than {per_min} statements within a minute"),
        ))
    } else if bytes > limits.bytes_per_day {
        Some((
            bytes.saturating_sub(len) <= limits.bytes_per_day,
            "quota:bytes-per-day",
            format!(
                "more than {} request bytes within a day",
                limits.bytes_per_day
            ),
        ))
    } else {
        None
    };
    let Some((first, subject, what)) = over else {
        return Ok(());
    };
    app.metrics.quota_refusals.inc();
    if first {
        tracing::warn!(agent_id = %agent.id, subject, "agent over its quota: {what}");
        app.ingest.raise(
            app,
            &agent.id,
            subject,
            format!("agent sent {what}; further requests get 429"),
        );
    }
    Err(IngestError::TooMany(format!(
        "agent {} sent {what}: try again later",
        agent.id
    )))
}

/// Freshness is the collector's call: a statement collected further in
/// the future than the allowed clock skew, or longer ago than the maximum
/// age, is refused (it never resolves a stale alert nor reads as current);
/// a sequence absurdly far ahead of the host's last is refused as an
/// integrity event (the host's view never freezes on it).
fn fresh(
    app: &App,
    statement: &Statement,
    sequence: i64,
    agent: &CachedAgent,
) -> Result<(), IngestError> {
    let now = app.clock.now_ms();
    let limits = &app.limits;
    let collected = statement.predicate.collected_at.timestamp_millis();
    let skew_ms = i64::try_from(limits.max_clock_skew_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let age_ms = i64::try_from(limits.max_evidence_age_seconds)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let refuse = |m: String| {
        app.metrics.refused_freshness.inc();
        tracing::warn!(agent_id = %agent.id, sequence, "statement refused: {m}");
        Err(IngestError::Invalid(m))
    };
    if collected > now.saturating_add(skew_ms) {
        return refuse(format!(
            "collected_at {} is {} s ahead of the collector's clock (allowed skew {} s)",
            statement.predicate.collected_at.to_rfc3339(),
            (collected - now) / 1000,
            limits.max_clock_skew_seconds
        ));
    }
    if collected < now.saturating_sub(age_ms) {
        return refuse(format!(
            "collected_at {} is {} s old, older than the maximum age of {} s",
            statement.predicate.collected_at.to_rfc3339(),
            now.saturating_sub(collected) / 1000,
            limits.max_evidence_age_seconds
        ));
    }
    let jump = i64::try_from(limits.max_sequence_jump).unwrap_or(i64::MAX);
    let base = agent.last_sequence.unwrap_or(0);
    if sequence > base.saturating_add(jump) {
        app.ingest.raise(
            app,
            &agent.id,
            "integrity:sequence-jump",
            format!(
                "signed statement with sequence {sequence} after {base}: a jump beyond {jump} is refused"
            ),
        );
        return refuse(format!(
            "sequence {sequence} is more than {jump} ahead of the last stored sequence {base}"
        ));
    }
    Ok(())
}

/// Steps 4–5: blobs sent match their digests, and every blob the statement
/// references was sent or is stored; the sorted, deduplicated references.
async fn check_blobs(
    app: &App,
    decoded: &DecodedIngest,
    statement: &Statement,
    content: Option<Digest>,
) -> Result<Vec<Digest>, IngestError> {
    let ing = &app.ingest;
    decoded
        .check_blobs()
        .map_err(|e| IngestError::Invalid(e.to_string()))?;
    let mut refs = statement.blob_digests();
    refs.extend(content);
    refs.sort();
    refs.dedup();
    // A content blob known to be stored vouches for the blobs it names (an
    // unchanged run's probe digests are its content's): it was stored with
    // a statement whose every blob was checked stored, in the same
    // transaction, and blobs are never deleted. So the known set holds one
    // digest per host, not one per probe.
    let vouched = content.is_some_and(|c| ing.is_known_blob(&c));
    let unknown: Vec<Digest> = refs
        .iter()
        .filter(|d| !vouched && !decoded.blobs.contains_key(d) && !ing.is_known_blob(d))
        .copied()
        .collect();
    if !unknown.is_empty() {
        let missing = app.store.missing_blobs(&unknown).await?;
        if !missing.is_empty() {
            return Err(IngestError::MissingBlobs(missing));
        }
        ing.known_blobs.extend(unknown);
    }
    Ok(refs)
}

/// The keys an evaluation is cached under: its [`EvalKeys`] key and, when
/// the policies read `collected_day`, its day-free key (the day-reading
/// rules' results instead of the day: see [`EvalKeys::day_free_key`]).
#[derive(Debug, Clone, Copy)]
struct Keys {
    key: Digest,
    day_free: Option<Digest>,
}

/// Step 6: the evaluation of the statement under the loaded policies, with
/// the derived `vulns` evidence when a snapshot is in force: from the
/// caches when the same content was evaluated before (whatever the host),
/// else, when only the day changed, by evaluating the rules that read
/// `collected_day` and finding the rest under the day-free key, else
/// evaluated now (reading stored blobs the request did not carry); (its
/// keys, the evaluation, the host's vulnerability state change).
async fn evaluation(
    app: &App,
    decoded: &DecodedIngest,
    statement: &Statement,
    refs: &[Digest],
) -> Result<(Keys, Eval, Option<Arc<VulnUpdate>>), IngestError> {
    let ing = &app.ingest;
    let attestations = ing.attestations(&*app.store, app.clock.now_ms()).await?;
    let IngestVulns {
        derived: vulns,
        update,
    } = vulns(app, decoded, statement).await?;
    let update = update.map(Arc::new);
    // The `vulns` data and its basis (snapshot, first-seen statements) are
    // inputs too: hosts share an evaluation only when both are identical.
    let with_vulns = |key: Digest| match &vulns {
        None => key,
        Some(v) => {
            sha256_digest(&serde_json::to_vec(&(key, &v.entry, &v.basis)).unwrap_or_default())
        }
    };
    let key = with_vulns(ing.keys.key_with(statement, &attestations));
    if let Some(e) = ing.evals.get(&key) {
        let keys = Keys {
            key,
            day_free: None,
        };
        return Ok((keys, e, update));
    }
    // A run that sends no probe blob is most likely unchanged but for the
    // day: evaluate the day-reading rules alone and look the rest up.
    // Blobs read from the store, by the day-free key and then by the full
    // evaluation (each read once).
    let mut stored = BTreeMap::new();
    let day_free = if statement
        .blob_digests()
        .iter()
        .any(|d| decoded.blobs.contains_key(d))
    {
        None
    } else {
        day_free_key(
            app,
            decoded,
            statement,
            &attestations,
            vulns.as_ref(),
            &mut stored,
        )
        .await?
        .map(with_vulns)
    };
    let keys = Keys { key, day_free };
    if let Some(e) = day_free.and_then(|k| ing.evals.get(&k)) {
        app.metrics.day_rules_only.inc();
        ing.evals.alias(key, &e);
        return Ok((keys, e, update));
    }
    let stored_needed: Vec<Digest> = refs
        .iter()
        .filter(|d| !decoded.blobs.contains_key(d) && !stored.contains_key(d))
        .copied()
        .collect();
    if !stored_needed.is_empty() {
        stored.extend(app.store.blobs(&stored_needed).await?);
    }
    let mut evidence = Evidence::from_statement(statement, |d| {
        decoded
            .blobs
            .get(d)
            .or_else(|| stored.get(d))
            .map(Vec::as_slice)
    })
    .map_err(|e| IngestError::Invalid(e.to_string()))?;
    keep_projections(app, decoded, statement, &stored);
    let basis = vulns.map(|v| {
        evidence.probes.insert(VULNS.to_string(), v.entry);
        v.basis
    });
    let evaluation = evaluate_with(&app.policies, &evidence, &attestations);
    // Equal to the day-free key computed above, when there was one.
    let day_free = day_free.or_else(|| {
        ing.keys
            .day_free_key(statement, &attestations, &evaluation.rules)
            .map(|k| with_vulns_of(k, basis.as_ref(), evidence.probes.get(VULNS)))
    });
    let entry = ing.evals.evaluated(
        key,
        RecordedResults::from_evaluation(evaluation).with_vulns(basis),
    );
    let eval = Eval::Fresh(entry);
    if let Some(k) = day_free {
        ing.evals.alias(k, &eval);
    }
    Ok((Keys { key, day_free }, eval, update))
}

/// After a full evaluation (the run sent a blob, or its day-free results
/// were not kept), keep what the day-reading rules read of its blobs, so the
/// host's next run crossing midnight needs neither of them (see
/// [`Projections`]).
fn keep_projections(
    app: &App,
    decoded: &DecodedIngest,
    statement: &Statement,
    stored: &BTreeMap<Digest, Vec<u8>>,
) {
    let ing = &app.ingest;
    let Some(day) = ing.keys.day_probes() else {
        return;
    };
    for e in &statement.predicate.probes {
        let Some(d) = e.digest else { continue };
        if day.binary_search(&e.id).is_err() || ing.projections.contains(&ing.keys, &e.id, &d) {
            continue;
        }
        if let Some(bytes) = decoded.blobs.get(&d).or_else(|| stored.get(&d)) {
            // The blob was just checked and parsed whole: this cannot fail
            // but for memory, and a projection not kept is only slower.
            let _ = ing.projections.project(&ing.keys, &e.id, &d, bytes);
        }
    }
}

/// [`evaluation`]'s `with_vulns` once the `vulns` entry moved into the evidence.
fn with_vulns_of(
    key: Digest,
    basis: Option<&evident_core::vuln::basis::VulnBasis>,
    entry: Option<&evident_core::evidence::ProbeData>,
) -> Digest {
    match (basis, entry) {
        (Some(basis), Some(entry)) => {
            sha256_digest(&serde_json::to_vec(&(key, entry, basis)).unwrap_or_default())
        }
        _ => key,
    }
}

/// The statement's day-free key (without the `vulns` part), from the
/// day-reading rules evaluated on only the probes they read (blobs from
/// the request or the store: those read are added to `stored`, for the
/// full evaluation should it follow); None when the policies cannot key
/// the day apart.
async fn day_free_key(
    app: &App,
    decoded: &DecodedIngest,
    statement: &Statement,
    attestations: &[AttestationInput],
    vulns: Option<&super::vuln_state::Derived>,
    stored: &mut BTreeMap<Digest, Vec<u8>>,
) -> Result<Option<Digest>, IngestError> {
    let keys = &app.ingest.keys;
    if !attestations.is_empty() {
        return Ok(None);
    }
    let Some(part) = keys.day_statement(statement) else {
        return Ok(None);
    };
    // Blobs whose projection is not kept and that the request lacks are
    // read from the store (a host's first midnight since the collector
    // started, or one evicted).
    let projections = &app.ingest.projections;
    let mut kept: Vec<(&str, Digest, serde_json::Value)> = Vec::new();
    let mut needed = Vec::new();
    for (id, d) in part
        .predicate
        .probes
        .iter()
        .filter_map(|e| Some((e.id.as_str(), e.digest?)))
    {
        match projections.get(keys, id, &d) {
            Some(v) => kept.push((id, d, v)),
            None if !decoded.blobs.contains_key(&d) => needed.push(d),
            None => {}
        }
    }
    if !needed.is_empty() {
        app.metrics.day_blobs_read.inc_by(needed.len() as u64);
        stored.extend(app.store.blobs(&needed).await?);
    }
    let stored = &*stored;
    // Parsed only as far as the day-reading rules read (a package inventory
    // is ~70 KB of JSON, of which they read one field): these blobs were
    // parsed whole when they were first accepted (a run that sends a blob
    // is evaluated in full, below).
    let mut evidence = Evidence::from_statement_with(&part, |probe, digest| {
        if let Some(i) = kept.iter().position(|(p, d, _)| *p == probe && d == digest) {
            return Ok(kept.swap_remove(i).2);
        }
        let bytes = decoded
            .blobs
            .get(digest)
            .or_else(|| stored.get(digest))
            .ok_or_else(|| evident_core::evidence::EvidenceError::MissingBlob {
                probe: probe.to_string(),
                digest: *digest,
            })?;
        projections.project(keys, probe, digest, bytes)
    })
    .map_err(|e| IngestError::Invalid(e.to_string()))?;
    if let Some(v) = vulns {
        if keys
            .day_probes()
            .is_some_and(|p| p.iter().any(|p| p == VULNS))
        {
            evidence.probes.insert(VULNS.to_string(), v.entry.clone());
        }
    }
    let rules = keys.day_results(&app.policies, &evidence);
    Ok(keys.day_free_key(statement, attestations, &rules))
}

/// The derived `vulns` evidence of the statement against the snapshot in
/// force (None: no snapshot, the `vulns` rules stay no-evidence). A stored
/// snapshot that cannot be read is logged and treated as none.
async fn vulns(
    app: &App,
    decoded: &DecodedIngest,
    statement: &Statement,
) -> Result<IngestVulns, IngestError> {
    match app
        .vuln
        .derive(
            &*app.store,
            statement,
            decoded.envelope_digest,
            &decoded.blobs,
        )
        .await
    {
        Ok(v) => Ok(v),
        Err(VulnStateError::Store(e)) => Err(IngestError::Store(e)),
        Err(e) => {
            tracing::warn!(error = %e, "vulnerability snapshot unusable; vulns rules read no-evidence");
            Ok(IngestVulns::default())
        }
    }
}

/// Step 7: queue the verified statement for the writer (sequence and chain
/// checks and storage in one transaction) and wait for its commit.
#[allow(clippy::too_many_arguments)]
async fn submit(
    app: &App,
    decoded: DecodedIngest,
    statement: &Statement,
    sequence: i64,
    agent: &CachedAgent,
    refs: &[Digest],
    eval: &Eval,
    vuln: Option<Arc<VulnUpdate>>,
) -> Result<IngestOutcome, IngestError> {
    let ing = &app.ingest;
    let new_blobs: Vec<(Digest, Arc<Vec<u8>>)> = decoded
        .blobs
        .into_iter()
        .filter(|(d, _)| refs.binary_search(d).is_ok() && !ing.is_known_blob(d))
        .map(|(d, b)| (d, Arc::new(b)))
        .collect();
    // Results the cache knows only by digest were committed before.
    let results = match eval {
        Eval::Fresh(e) if !ing.known_results.contains(&e.digest) => Some(e.bytes.clone()),
        _ => None,
    };
    let item = IngestItem {
        agent_id: agent.id.clone(),
        sequence,
        previous: statement.predicate.previous,
        declared_gap: statement.predicate.gap,
        envelope_digest: decoded.envelope_digest,
        envelope: Arc::new(decoded.envelope_bytes),
        collected_at: statement.predicate.collected_at.timestamp_millis(),
        received_at: app.clock.now_ms(),
        blobs: new_blobs,
        results_digest: eval.digest(),
        results,
        drift: ing.drift.as_ref().map(|settings| {
            Arc::new(DriftInput {
                eval: ing.evals.drift(eval),
                // The agent's interval can shorten the stale window, never
                // stretch it past the collector's cap.
                interval_seconds: statement
                    .predicate
                    .schedule
                    .interval_seconds
                    .min(app.limits.max_stale_interval_seconds),
                settings: settings.clone(),
            })
        }),
        vuln,
    };
    ing.writer
        .submit(item)
        .await
        .map_err(IngestError::Unavailable)
}

/// The blobs a statement references (sorted) and its content blob (v2).
struct Blobs {
    refs: Vec<Digest>,
    content: Option<Digest>,
}

/// Step 8: the answer for the writer's outcome; remembers what is now stored.
#[allow(clippy::too_many_arguments)]
fn answer(
    app: &App,
    outcome: IngestOutcome,
    agent: &CachedAgent,
    key_id: &str,
    statement: &Statement,
    envelope_digest: Digest,
    blobs: Blobs,
    eval_keys: Keys,
    eval: &Eval,
) -> Result<IngestResponse, IngestError> {
    let Blobs { refs, content } = blobs;
    let ing = &app.ingest;
    let sequence = statement.predicate.sequence;
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
            return Err(IngestError::Conflict(format!(
                "sequence {sequence} of agent {} already holds a different envelope ({existing}); recorded as an integrity event",
                agent.id
            )));
        }
        IngestOutcome::Refused(s) => {
            ing.forget_agent(key_id);
            if s == Some(AgentStatus::Revoked) {
                ing.raise(
                    app,
                    &agent.id,
                    "integrity:revoked-key",
                    format!("revoked key {key_id} is still sending evidence"),
                );
            }
            return Err(IngestError::Refused(match s {
                None => format!("agent {} is unknown", agent.id),
                Some(s) => format!("agent {} is {}", agent.id, s.as_str()),
            }));
        }
    };
    // Stored (or a duplicate of what is): its content blob alone vouches
    // for the rest (see `check_blobs`).
    match content {
        Some(c) => ing.known_blobs.extend([c]),
        None => ing.known_blobs.extend(refs.iter().copied()),
    }
    if status == IngestStatus::Stored {
        ing.stored_run(key_id, i64::try_from(sequence).unwrap_or(i64::MAX));
        // A duplicate's results were stored with the original, possibly under other policies.
        ing.known_results.extend([eval.digest()]);
        ing.evals.committed(eval_keys.key, eval);
        if let Some(k) = eval_keys.day_free {
            ing.evals.committed(k, eval);
        }
    }
    Ok(IngestResponse {
        status,
        agent_id: agent.id.clone(),
        sequence,
        envelope_digest,
        known_blobs: refs,
        summary: eval.summary().clone(),
    })
}
