//! The agent's work on its state directory: key, state, spool, enrollment,
//! collection runs and delivery.
//!
//! [`crate::supervisor`] (`evident-agent run`) only keeps the schedule and
//! starts a short-lived worker process (`evident-agent worker`) for each
//! job; the worker runs [`Daemon::work`]:
//!
//! - open: take the state directory's lock, load or generate the key
//!   ([`crate::signer`]), load the state, open the spool (after a start:
//!   check every spooled file, moving corrupt ones aside; recover the chain
//!   head from the newest spooled statement after a crash);
//! - enroll once if needed;
//! - collect the due probes, build the statement (sequence, previous
//!   envelope digest, declared gap, schedule, host facts), save the reserved
//!   sequence, sign, spool, then enforce the spool's bounds;
//! - deliver the spool oldest first, deleting a spooled statement only after
//!   a 2xx, until it is empty, a delivery fails (the supervisor retries with
//!   backoff and jitter), the collector refuses the key (delivery stops, the
//!   spool is kept) or the job's time is up;
//! - on SIGTERM, stop after the current step.
//!
//! Probes not due in a run carry their most recent result (kept in
//! `probes.json`, same digest, so the blob is not sent again): every
//! statement is a complete picture of the host, and per-probe schedules only
//! decide how fresh each part is.
//!
//! Why this file is longer than ~700 lines: the worker's whole job (open,
//! recover, enroll, collect, spool, deliver) shares one `Daemon` state and
//! reads in the order it runs.

use crate::collect;
use crate::config::Config;
use crate::hostroot::HostRoot;
use crate::probes::REGISTRY;
use crate::schedule::CronSchedule;
use crate::shipper::{Backoff, SendError, Sent, Shipper};
use crate::signer;
use crate::spool::{Item, Next, Spool};
use crate::state::State;
use chrono::{DateTime, Utc};
use evident_core::evidence::{
    AgentInfo, Content, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule, SequenceRange,
    Statement, PAYLOAD_TYPE,
};
use evident_core::wire::EnrollRequest;
use evident_core::{sha256_digest, Digest, Signer};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the daemon stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Key(#[from] signer::KeyError),
    #[error("{0}")]
    State(#[from] crate::state::StateError),
    #[error("{0}")]
    Spool(#[from] crate::spool::SpoolError),
    #[error("{0}")]
    Client(#[from] crate::shipper::ClientError),
    #[error("{0}")]
    Collect(#[from] collect::CollectError),
    #[error("schedule: {0}")]
    Schedule(#[from] crate::schedule::ScheduleError),
    #[error("enrollment: {0}")]
    Enroll(String),
    #[error("state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("delivery: {0}")]
    Delivery(String),
}

struct Cached {
    entry: ProbeEntry,
    blob: Option<Vec<u8>>,
}

/// `probes.json`: the most recent result of every probe, so that a run of
/// only the due probes still describes the whole host.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedFile {
    entry: ProbeEntry,
    /// The probe data's exact JSON text (the blob).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    blob: Option<String>,
}

const PROBE_CACHE_FILE: &str = "probes.json";
/// The directory (in the state directory) of the probes' own caches.
pub const LIST_CACHE_DIR: &str = "cache";
const LOCK_FILE: &str = "lock";

/// What a worker was started to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Job {
    /// Probes to collect (none: enroll and deliver only).
    pub probes: Vec<String>,
    /// First job after a start: check every spooled file.
    pub recover: bool,
    /// Stop delivering after this long (the next run is due then).
    pub deliver_for: Duration,
}

/// How a worker ended; its exit code tells the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Enrolled, the job is done and the spool is empty.
    Done,
    /// A delivery failed; statements remain spooled (retry with backoff).
    Retry,
    /// Time was up with statements still spooled (continue right away).
    More,
    /// The collector refuses the agent's key (403): delivery is stopped.
    Stopped,
    /// Enrollment failed for now (retry with backoff).
    EnrollRetry,
    /// Enrollment was refused for good (bad or expired token, ...).
    EnrollRefused,
    /// Anything else (the worker logged why).
    Failed,
    /// The state directory's disk is full: retry with backoff, never exit.
    DiskFull,
}

impl Outcome {
    /// The worker's exit code.
    pub fn code(&self) -> u8 {
        match self {
            Outcome::Done => 0,
            Outcome::Failed => 2,
            Outcome::Retry => 10,
            Outcome::More => 11,
            Outcome::Stopped => 12,
            Outcome::EnrollRetry => 13,
            Outcome::EnrollRefused => 14,
            Outcome::DiskFull => 15,
        }
    }

    /// From a worker's exit code (None: killed by a signal).
    pub fn from_code(code: Option<i32>) -> Outcome {
        match code {
            Some(0) => Outcome::Done,
            Some(10) => Outcome::Retry,
            Some(11) => Outcome::More,
            Some(12) => Outcome::Stopped,
            Some(13) => Outcome::EnrollRetry,
            Some(14) => Outcome::EnrollRefused,
            Some(15) => Outcome::DiskFull,
            _ => Outcome::Failed,
        }
    }
}

/// The agent: configuration, key, state, spool and client.
pub struct Daemon {
    config: Config,
    signer: Signer,
    state: State,
    spool: Spool,
    shipper: Shipper,
    root: HostRoot,
    default_cron: CronSchedule,
    interval_seconds: u64,
    cache: BTreeMap<String, Cached>,
    _lock: std::fs::File,
}

fn state_dir_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DaemonError + '_ {
    move |source| DaemonError::StateDir {
        path: path.display().to_string(),
        source,
    }
}

impl Daemon {
    /// Prepare from a validated configuration: lock, key, state, spool
    /// recovery (checking every spooled file when `recover`), client.
    pub fn open(config: Config, recover: bool) -> Result<Daemon, DaemonError> {
        let dir = config.state_dir.clone();
        crate::fsutil::ensure_dir(&dir, 0o700).map_err(state_dir_err(&dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = crate::fsutil::lock_exclusive(&lock_path).map_err(state_dir_err(&lock_path))?;
        let (signer, fresh) = signer::load_or_generate(&dir)?;
        let mut state = State::load(&dir)?;
        if fresh
            || state
                .key_id
                .as_deref()
                .is_some_and(|k| k != signer.key_id())
        {
            if state.agent_id.is_some() {
                tracing::warn!(
                    key_id = signer.key_id(),
                    "the agent key changed since enrollment: enrolling again with a new chain"
                );
            }
            state = State::default();
        }
        let mut spool = Spool::open(&dir.join("spool"))?;
        let corrupt = if recover {
            spool.check_all()
        } else {
            Vec::new()
        };
        if !corrupt.is_empty() {
            state.corrupt_total += corrupt.len() as u64;
            // A quarantined statement is lost: the next one declares it.
            for c in &corrupt {
                state.add_lost(SequenceRange {
                    from: c.sequence,
                    to: c.sequence,
                });
            }
            let seqs: Vec<String> = corrupt.iter().map(|c| c.sequence.to_string()).collect();
            state.error(
                format!(
                    "{} corrupt spool file(s) moved to spool/corrupt/ (sequences {})",
                    corrupt.len(),
                    seqs.join(", ")
                ),
                Utc::now(),
            );
        }
        // A crash between spooling and saving the state: the newest spooled
        // statement is the chain head.
        let mut ignored = Vec::new();
        if let Some(newest) = spool.newest(&mut ignored) {
            if newest.sequence > state.head_sequence {
                tracing::info!(
                    sequence = newest.sequence,
                    "recovered the chain head from the spool"
                );
                state.spooled(newest.sequence, sha256_digest(&newest.envelope));
            }
        }
        state.save(&dir)?;
        let default_cron = CronSchedule::parse(&config.schedule.default)?;
        let interval_seconds =
            default_cron.longest_gap_seconds(Utc::now()) + config.schedule.jitter_seconds;
        let shipper = Shipper::new(&config)?;
        // The packages probe keeps what the apt lists offer in the state
        // directory (`cache/`), so an unchanged list is not read each run.
        let root = config
            .host_root()
            .with_cache_dir(Some(dir.join(LIST_CACHE_DIR)));
        let cache = load_probe_cache(&dir);
        Ok(Daemon {
            config,
            signer,
            state,
            spool,
            shipper,
            root,
            default_cron,
            interval_seconds,
            cache,
            _lock: lock,
        })
    }

    fn dir(&self) -> PathBuf {
        self.config.state_dir.clone()
    }

    fn save(&mut self) {
        if let Err(e) = self.state.save(&self.config.state_dir) {
            tracing::error!(error = %e, "could not save the agent state");
        }
    }

    /// The key id of the agent's key.
    pub fn key_id(&self) -> &str {
        self.signer.key_id()
    }

    /// Enroll when not enrolled yet (one attempt).
    pub async fn enroll_once(&mut self) -> Result<(), SendError> {
        if self.state.agent_id.is_some() {
            return Ok(());
        }
        let token_path = self
            .config
            .check_enroll_token()
            .map_err(SendError::Stopped)?
            .to_path_buf();
        let token = std::fs::read_to_string(&token_path)
            .map_err(|e| SendError::Stopped(format!("{}: {e}", token_path.display())))?
            .trim()
            .to_string();
        let hostname = self.hostname();
        let req = EnrollRequest {
            token,
            public_key: signer::public_key_b64(&self.signer),
            hostname,
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            machine_id: self.machine_id(),
        };
        let resp = self.shipper.enroll(&req).await?;
        if resp.key_id != self.signer.key_id() {
            return Err(SendError::Stopped(format!(
                "collector registered key {} but the agent's key is {}",
                resp.key_id,
                self.signer.key_id()
            )));
        }
        tracing::info!(agent_id = %resp.agent_id, status = resp.status.as_str(), "enrolled");
        self.state.agent_id = Some(resp.agent_id);
        self.state.key_id = Some(resp.key_id);
        self.state.enroll_status = Some(resp.status.as_str().to_string());
        self.state.enrolled_with = Some(self.config.collector.clone());
        self.save();
        Ok(())
    }

    /// `/etc/machine-id` when it reads as one (32 hex digits).
    fn machine_id(&self) -> Option<String> {
        self.root
            .read_to_string("/etc/machine-id")
            .ok()
            .flatten()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    fn hostname(&self) -> String {
        self.root
            .read_to_string("/etc/hostname")
            .ok()
            .flatten()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into())
    }

    /// Collect `due` probes, build, sign and spool one statement. Returns its sequence.
    pub fn collect_run(
        &mut self,
        due: &[String],
        now: DateTime<Utc>,
        in_flight: Option<u64>,
    ) -> Result<u64, DaemonError> {
        let collected = collect::collect(&self.root, due)?;
        for p in collected {
            let blob = match (&p.status, &p.data) {
                (ProbeStatus::Ok, Some(data)) => Some(serde_json::to_vec(data).unwrap_or_default()),
                _ => None,
            };
            let entry = ProbeEntry {
                id: p.probe.clone(),
                version: p.version,
                status: p.status,
                duration_us: p.duration_us,
                digest: blob.as_deref().map(sha256_digest),
                reason: p.reason.clone(),
            };
            self.cache.insert(p.probe, Cached { entry, blob });
        }
        let probes: Vec<ProbeEntry> = REGISTRY
            .iter()
            .filter_map(|p| self.cache.get(p.spec.id).map(|c| c.entry.clone()))
            .collect();
        let host = self
            .cache
            .get("host")
            .and_then(|c| c.blob.as_deref())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .map(|v| HostFacts::from_host_probe(&v))
            .unwrap_or_else(|| HostFacts {
                hostname: self.hostname(),
                os_family: "linux".into(),
                ..HostFacts::default()
            });
        let agent_id = self.state.agent_id.clone().unwrap_or_default();

        // The sequence number is persisted before anything is signed with it.
        let sequence = self.state.reserve_sequence();
        self.state.save(&self.config.state_dir)?;

        let predicate = Predicate {
            agent: AgentInfo {
                id: agent_id,
                version: env!("CARGO_PKG_VERSION").to_string(),
            },
            host,
            sequence,
            previous: self.state.chain_head,
            gap: self.state.pending_gap,
            collected_at: now,
            schedule: Schedule {
                cron: self.default_cron.expr().to_string(),
                interval_seconds: self.interval_seconds,
            },
            probes,
        };
        // Predicate v2: a run whose content (host facts, schedule, probe
        // entries) the collector already holds is signed as *unchanged*,
        // naming the content's digest instead of repeating it.
        let statement = Statement::new_v2(predicate);
        let content = Content::of(&statement.predicate).to_bytes();
        let content_digest = sha256_digest(&content);
        let unchanged = self.state.known_blobs.contains(&content_digest);
        let payload = if unchanged {
            statement.to_unchanged_bytes()
        } else {
            statement.to_bytes()
        };
        let envelope = self.signer.sign_envelope(PAYLOAD_TYPE, payload).to_json();
        let digest = sha256_digest(&envelope);
        let mut blobs: BTreeMap<Digest, Vec<u8>> = self
            .cache
            .values()
            .filter_map(|c| Some((c.entry.digest?, c.blob.clone()?)))
            .collect();
        if unchanged {
            // Sent only if the collector turns out to lack it (422).
            blobs.insert(content_digest, content);
        }
        let item = Item {
            sequence,
            created: now.timestamp(),
            envelope,
            blobs,
        };
        self.spool.put(&item)?;
        self.state.spooled(sequence, digest);
        self.state.last_run = Some(now);
        self.state.last_run_sequence = Some(sequence);
        let dropped = self.spool.enforce_bounds(
            self.config.spool.max_bytes,
            self.config.spool.max_age_seconds,
            now.timestamp(),
            in_flight,
        )?;
        for r in dropped {
            tracing::warn!(
                from = r.from,
                to = r.to,
                "spool full or too old: dropped undelivered statements; the next statement declares the gap"
            );
            self.state.add_lost(r);
        }
        self.save();
        self.save_probe_cache();
        tracing::debug!(sequence, probes = due.len(), "statement spooled");
        Ok(sequence)
    }

    fn save_probe_cache(&self) {
        let files: BTreeMap<&str, CachedFile> = self
            .cache
            .iter()
            .map(|(id, c)| {
                (
                    id.as_str(),
                    CachedFile {
                        entry: c.entry.clone(),
                        blob: c
                            .blob
                            .as_ref()
                            .map(|b| String::from_utf8_lossy(b).into_owned()),
                    },
                )
            })
            .collect();
        let path = self.config.state_dir.join(PROBE_CACHE_FILE);
        let bytes = serde_json::to_vec(&files).unwrap_or_default();
        if let Err(e) = crate::fsutil::write_atomic(&path, &bytes, 0o600) {
            tracing::warn!(path = %path.display(), error = %e, "could not keep the probe results; the next run collects every probe");
        }
    }

    fn next_item(&mut self) -> Option<Item> {
        let mut corrupt = Vec::new();
        let next = self.spool.oldest(&mut corrupt);
        if !corrupt.is_empty() {
            self.state.corrupt_total += corrupt.len() as u64;
            for c in &corrupt {
                // A quarantined statement is lost: the next one declares it.
                self.state.add_lost(SequenceRange {
                    from: c.sequence,
                    to: c.sequence,
                });
                self.state.error(
                    format!(
                        "corrupt spool file for sequence {} moved to {}: {}",
                        c.sequence,
                        c.moved_to.display(),
                        c.reason
                    ),
                    Utc::now(),
                );
            }
            self.save();
        }
        match next {
            Next::Item(i) => Some(i),
            Next::Empty => None,
        }
    }

    fn start_send(&mut self) -> Option<(u64, impl Future<Output = Result<Sent, SendError>>)> {
        let item = self.next_item()?;
        let known: HashSet<Digest> = self.state.known_blobs.iter().copied().collect();
        let shipper = self.shipper.clone();
        let seq = item.sequence;
        Some((seq, async move { shipper.send(&item, &known).await }))
    }

    /// Apply a delivery outcome; returns the delay before the next attempt.
    fn on_sent(
        &mut self,
        seq: u64,
        result: Result<Sent, SendError>,
        backoff: &mut Backoff,
    ) -> Duration {
        let now = Utc::now();
        match result {
            Ok(sent) => {
                if let Err(e) = self.spool.remove(seq) {
                    tracing::error!(error = %e, "could not remove a delivered statement");
                }
                self.state.delivered(seq, sent.gap, now);
                self.state.last_bytes_sent = sent.bytes_sent;
                self.state.bytes_sent_total += sent.bytes_sent;
                match &sent.response {
                    Some(r) => self.state.remember_blobs(r.known_blobs.iter().copied()),
                    None => self.state.remember_blobs(sent.blobs.iter().copied()),
                }
                let status = sent
                    .response
                    .as_ref()
                    .map(|r| format!("{:?}", r.status).to_lowercase())
                    .unwrap_or_else(|| "accepted".into());
                tracing::info!(sequence = seq, bytes = sent.bytes_sent, status, "delivered");
                self.save();
                backoff.reset();
                Duration::ZERO
            }
            Err(SendError::Retry(msg)) => {
                let delay = backoff.next_delay();
                tracing::warn!(sequence = seq, error = %msg, retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry");
                self.state
                    .error(format!("delivery of sequence {seq}: {msg}"), now);
                self.save();
                delay
            }
            Err(SendError::Stopped(msg)) => {
                let delay = Duration::from_secs(self.config.delivery.backoff_max_seconds);
                tracing::error!(
                    sequence = seq,
                    error = %msg,
                    spooled = self.spool.depth(),
                    "DELIVERY STOPPED: the collector refuses this agent's key (unknown, pending or revoked); the spool is kept; an operator must approve or re-enroll the agent"
                );
                self.state.delivery_stopped =
                    Some(format!("collector refused the agent key (403): {msg}"));
                self.state.error(format!("delivery stopped: {msg}"), now);
                self.save();
                delay
            }
            Err(SendError::Rejected { status, message }) => {
                let moved = self.spool.reject(seq);
                tracing::error!(sequence = seq, status, error = %message, moved_to = ?moved.as_ref().ok(), "collector rejected a statement for good; moved to spool/rejected/");
                self.state.rejected_total += 1;
                self.state.error(
                    format!("sequence {seq} rejected ({status}): {message}"),
                    now,
                );
                self.save();
                Duration::ZERO
            }
        }
    }

    /// `run --once`: enroll if needed, collect every probe once, spool, then
    /// try to deliver the spool (a few attempts). Returns statements left undelivered.
    pub async fn run_once(&mut self) -> Result<usize, DaemonError> {
        self.enroll_once()
            .await
            .map_err(|e| DaemonError::Enroll(e.to_string()))?;
        let all: Vec<String> = REGISTRY.iter().map(|p| p.spec.id.to_string()).collect();
        let seq = self.collect_run(&all, Utc::now(), None)?;
        tracing::info!(sequence = seq, "collected");
        let mut backoff = Backoff::from_config(&self.config.delivery);
        let mut failures = 0;
        while let Some((s, fut)) = self.start_send() {
            let result = fut.await;
            let failed = result.is_err();
            let stopped = matches!(result, Err(SendError::Stopped(_)));
            let delay = self.on_sent(s, result, &mut backoff);
            if stopped {
                break;
            }
            if failed {
                failures += 1;
                if failures >= 3 {
                    break;
                }
                tokio::time::sleep(delay.min(Duration::from_secs(5))).await;
            }
        }
        Ok(self.spool.depth())
    }

    /// One worker job (see the module doc): enroll if needed, collect
    /// `job.probes`, deliver. `shutdown` ends it after the current step.
    pub async fn work(&mut self, job: &Job, shutdown: impl Future<Output = ()>) -> Outcome {
        tokio::pin!(shutdown);
        match self.enroll_once().await {
            Ok(()) => {}
            Err(SendError::Stopped(msg)) => {
                tracing::error!(error = %msg, "enrollment refused");
                self.state
                    .error(format!("enrollment refused: {msg}"), Utc::now());
                self.save();
                return Outcome::EnrollRefused;
            }
            Err(e) => {
                tracing::warn!(error = %e, "enrollment failed; will retry");
                self.state.error(format!("enrollment: {e}"), Utc::now());
                self.save();
                return Outcome::EnrollRetry;
            }
        }
        // Asked to stop before anything was collected: leave it for the next start.
        let stopping = tokio::select! {
            biased;
            _ = &mut shutdown => true,
            _ = std::future::ready(()) => false,
        };
        if stopping {
            return Outcome::More;
        }
        if !job.probes.is_empty() {
            let now = Utc::now();
            match self.collect_run(&job.probes, now, None) {
                Ok(seq) => tracing::debug!(sequence = seq, "run done"),
                Err(e) => {
                    tracing::error!(error = %e, "collection run failed");
                    self.state.error(format!("collection: {e}"), now);
                    self.save();
                }
            }
        }
        let until = tokio::time::Instant::now() + job.deliver_for;
        let mut backoff = Backoff::from_config(&self.config.delivery);
        loop {
            let Some((seq, send)) = self.start_send() else {
                return Outcome::Done;
            };
            let result = tokio::select! {
                biased;
                _ = &mut shutdown => {
                    tracing::info!("stopping: the spool is kept");
                    return Outcome::More;
                }
                r = send => r,
            };
            let stopped = matches!(result, Err(SendError::Stopped(_)));
            let failed = matches!(result, Err(SendError::Retry(_)));
            self.on_sent(seq, result, &mut backoff);
            if stopped {
                return Outcome::Stopped;
            }
            if failed {
                return Outcome::Retry;
            }
            if tokio::time::Instant::now() >= until && self.spool.depth() > 0 {
                return Outcome::More;
            }
        }
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir()
    }
}

/// Read `probes.json`; anything unreadable means an empty cache (the next
/// run then collects every probe anyway: the first run after a start does).
fn load_probe_cache(dir: &Path) -> BTreeMap<String, Cached> {
    let Ok(bytes) = std::fs::read(dir.join(PROBE_CACHE_FILE)) else {
        return BTreeMap::new();
    };
    let files: BTreeMap<String, CachedFile> = match serde_json::from_slice(&bytes) {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring an unreadable probes.json");
            return BTreeMap::new();
        }
    };
    files
        .into_iter()
        .filter(|(_, f)| {
            // Keep an entry only if its blob still matches its digest.
            f.entry.digest == f.blob.as_deref().map(|b| sha256_digest(b.as_bytes()))
        })
        .map(|(id, f)| {
            (
                id,
                Cached {
                    entry: f.entry,
                    blob: f.blob.map(String::into_bytes),
                },
            )
        })
        .collect()
}

/// Whether an error (with its causes) is "no space left on device".
pub fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28) {
                return true;
            }
        }
        if err.to_string().contains("No space left on device") {
            return true;
        }
        cur = err.source();
    }
    false
}

#[cfg(test)]
mod tests;
