//! `evident-agent run`: the daemon loop.
//!
//! Start: load or generate the key ([`crate::signer`]), load the state,
//! open the spool (recovering the chain head from the newest spooled
//! statement after a crash, moving corrupt files aside), enroll once if
//! needed. Then, on a tokio current-thread runtime:
//!
//! - when probes are due ([`crate::schedule::Planner`]), collect them, build
//!   the statement (sequence, previous envelope digest, declared gap,
//!   schedule, host facts), save the reserved sequence, sign, spool, then
//!   enforce the spool's bounds;
//! - meanwhile deliver the spool oldest first, one statement in flight,
//!   deleting a spooled statement only after a 2xx, backing off with jitter
//!   on failures, stopping (spool kept) when the collector refuses the key;
//! - on SIGTERM or SIGINT, stop after the current step.
//!
//! Probes not due in a run carry their most recent result (same digest, so
//! the blob is not sent again): every statement is a complete picture of the
//! host, and per-probe schedules only decide how fresh each part is.

use crate::collect;
use crate::config::Config;
use crate::hostroot::HostRoot;
use crate::probes::REGISTRY;
use crate::schedule::{CronSchedule, Planner};
use crate::shipper::{Backoff, SendError, Sent, Shipper};
use crate::signer;
use crate::spool::{Item, Next, Spool};
use crate::state::State;
use chrono::{DateTime, Utc};
use evident_core::evidence::{
    AgentInfo, HostFacts, Predicate, ProbeEntry, ProbeStatus, Schedule, Statement, PAYLOAD_TYPE,
};
use evident_core::wire::EnrollRequest;
use evident_core::{sha256_digest, Digest, Signer};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
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

/// The agent: configuration, key, state, spool and client.
pub struct Daemon {
    config: Config,
    signer: Signer,
    state: State,
    spool: Spool,
    shipper: Shipper,
    root: HostRoot,
    default_cron: CronSchedule,
    overrides: BTreeMap<String, CronSchedule>,
    interval_seconds: u64,
    cache: BTreeMap<String, Cached>,
}

type SendFuture = Pin<Box<dyn Future<Output = Result<Sent, SendError>>>>;

async fn poll_opt(f: &mut Option<SendFuture>) -> Result<Sent, SendError> {
    match f {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

fn state_dir_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> DaemonError + '_ {
    move |source| DaemonError::StateDir {
        path: path.display().to_string(),
        source,
    }
}

impl Daemon {
    /// Prepare from a validated configuration: key, state, spool recovery, client.
    pub fn open(config: Config) -> Result<Daemon, DaemonError> {
        let dir = config.state_dir.clone();
        crate::fsutil::ensure_dir(&dir, 0o700).map_err(state_dir_err(&dir))?;
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
        let corrupt = spool.check_all();
        if !corrupt.is_empty() {
            state.corrupt_total += corrupt.len() as u64;
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
        let mut overrides = BTreeMap::new();
        for (probe, expr) in &config.schedule.probes {
            overrides.insert(probe.clone(), CronSchedule::parse(expr)?);
        }
        let interval_seconds =
            default_cron.longest_gap_seconds(Utc::now()) + config.schedule.jitter_seconds;
        let shipper = Shipper::new(&config)?;
        let root = HostRoot::new(&config.root);
        Ok(Daemon {
            config,
            signer,
            state,
            spool,
            shipper,
            root,
            default_cron,
            overrides,
            interval_seconds,
            cache: BTreeMap::new(),
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
        let statement = Statement::new(predicate);
        let envelope = self
            .signer
            .sign_envelope(PAYLOAD_TYPE, statement.to_bytes())
            .to_json();
        let digest = sha256_digest(&envelope);
        let blobs: BTreeMap<Digest, Vec<u8>> = self
            .cache
            .values()
            .filter_map(|c| Some((c.entry.digest?, c.blob.clone()?)))
            .collect();
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
        tracing::debug!(sequence, probes = due.len(), "statement spooled");
        Ok(sequence)
    }

    fn next_item(&mut self) -> Option<Item> {
        let mut corrupt = Vec::new();
        let next = self.spool.oldest(&mut corrupt);
        if !corrupt.is_empty() {
            self.state.corrupt_total += corrupt.len() as u64;
            for c in &corrupt {
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

    fn start_send(&mut self) -> Option<(u64, SendFuture)> {
        let item = self.next_item()?;
        let known: HashSet<Digest> = self.state.known_blobs.iter().copied().collect();
        let shipper = self.shipper.clone();
        let seq = item.sequence;
        Some((
            seq,
            Box::pin(async move { shipper.send(&item, &known).await }),
        ))
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

    fn backoff(&self) -> Backoff {
        Backoff::new(
            Duration::from_millis(self.config.delivery.backoff_initial_ms),
            Duration::from_secs(self.config.delivery.backoff_max_seconds),
        )
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
        let mut backoff = self.backoff();
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

    /// The daemon loop, until `shutdown` completes.
    pub async fn run(&mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        tokio::pin!(shutdown);
        // Enrollment, retried with backoff.
        let mut backoff = self.backoff();
        while self.state.agent_id.is_none() {
            match self.enroll_once().await {
                Ok(()) => {}
                Err(SendError::Stopped(msg)) => return Err(DaemonError::Enroll(msg)),
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "enrollment failed; will retry");
                    self.state.error(format!("enrollment: {e}"), Utc::now());
                    self.save();
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        backoff.reset();
        let probes: Vec<&str> = REGISTRY.iter().map(|p| p.spec.id).collect();
        let mut planner = Planner::new(
            &probes,
            &self.default_cron,
            &self.overrides,
            self.config.schedule.jitter_seconds,
            Utc::now(),
        );
        tracing::info!(
            agent_id = self.state.agent_id.as_deref().unwrap_or(""),
            key_id = self.signer.key_id(),
            collector = %self.config.collector,
            schedule = %self.default_cron.expr(),
            spooled = self.spool.depth(),
            "agent running"
        );
        let mut in_flight: Option<SendFuture> = None;
        let mut in_flight_seq: Option<u64> = None;
        let mut retry_at = tokio::time::Instant::now();
        loop {
            if in_flight.is_none() && tokio::time::Instant::now() >= retry_at {
                if let Some((seq, fut)) = self.start_send() {
                    in_flight = Some(fut);
                    in_flight_seq = Some(seq);
                }
            }
            let until_run = planner
                .next_run()
                .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(3600));
            let waiting_to_retry = in_flight.is_none() && self.spool.depth() > 0;
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    tracing::info!("shutting down");
                    break;
                }
                result = poll_opt(&mut in_flight) => {
                    in_flight = None;
                    let seq = in_flight_seq.take().unwrap_or_default();
                    let delay = self.on_sent(seq, result, &mut backoff);
                    retry_at = tokio::time::Instant::now() + delay;
                }
                _ = tokio::time::sleep(until_run) => {
                    let now = Utc::now();
                    let due = planner.take_due(now);
                    if !due.is_empty() {
                        match self.collect_run(&due, now, in_flight_seq) {
                            Ok(seq) => tracing::debug!(sequence = seq, "run done"),
                            Err(e) => {
                                tracing::error!(error = %e, "collection run failed");
                                self.state.error(format!("collection: {e}"), now);
                                self.save();
                            }
                        }
                    }
                }
                _ = tokio::time::sleep_until(retry_at), if waiting_to_retry => {}
            }
        }
        self.save();
        Ok(())
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir()
    }
}
