//! `evident-agent run`: the long-lived service process. It keeps the
//! schedule and nothing else: each job (enroll, collect the due probes,
//! deliver the spool) runs in a short-lived worker process
//! (`evident-agent worker`, [`crate::daemon::Daemon::work`]) started from
//! the same binary.
//!
//! Why two processes: the agent lives on production hosts. Between runs the
//! service holds only the pages it needs to wait (a few MB), not the probes,
//! TLS stack, JSON and signing code and buffers a run touches; whatever a
//! run allocates is returned to the system when its worker exits; a probe
//! that hangs is killed with its worker ([`WORKER_TIMEOUT`]) instead of
//! stalling the schedule. The worker dies with the supervisor
//! (`PR_SET_PDEATHSIG`) and holds the state directory's lock, so two never
//! write the same state.
//!
//! The first job after a start enrolls if needed, collects every probe and
//! delivers (the spool left by the last run included); later jobs collect
//! the probes the schedule says are due, or only deliver.
//!
//! Delivery retries: a worker that could not deliver exits with
//! [`Outcome::Retry`]; the supervisor starts a delivery-only worker after an
//! exponential backoff with jitter, and sooner when a run is due.

use crate::config::Config;
use crate::daemon::{DaemonError, Job, Outcome};
use crate::probes::REGISTRY;
use crate::schedule::{CronSchedule, Planner};
use crate::shipper::Backoff;
use chrono::Utc;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tokio::time::Instant;

/// Workers are the running binary, even if it was replaced on disk since.
const WORKER_PROGRAM: &str = "/proc/self/exe";
/// A worker running longer than this is killed (and its job retried).
pub const WORKER_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest a worker delivers before it hands back (so runs stay on time).
const MAX_DELIVER_FOR: Duration = Duration::from_secs(60);
/// How long a stopping worker gets before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// The supervisor: configuration, schedule, backoff.
pub struct Supervisor {
    config_path: PathBuf,
    config: Config,
    default_cron: CronSchedule,
    overrides: BTreeMap<String, CronSchedule>,
}

impl Supervisor {
    /// From a validated configuration loaded from `config_path` (passed on
    /// to the workers). Schedules are parsed here, before anything starts.
    pub fn new(config_path: PathBuf, config: Config) -> Result<Supervisor, DaemonError> {
        let default_cron = CronSchedule::parse(&config.schedule.default)?;
        let mut overrides = BTreeMap::new();
        for (probe, expr) in &config.schedule.probes {
            overrides.insert(probe.clone(), CronSchedule::parse(expr)?);
        }
        Ok(Supervisor {
            config_path,
            config,
            default_cron,
            overrides,
        })
    }

    /// Schedule and run jobs until `shutdown` completes. Errors only when
    /// the agent cannot work at all (its first worker fails, or enrollment
    /// is refused for good).
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        tokio::pin!(shutdown);
        let mut backoff = Backoff::from_config(&self.config.delivery);
        let mut planner: Option<Planner> = None;
        let mut pending: Vec<String> = Vec::new();
        let mut recover = true;
        // The first job after a start enrolls if needed, collects every
        // probe and delivers; until a worker has done that, every job does.
        let all: Vec<String> = REGISTRY.iter().map(|p| p.spec.id.to_string()).collect();
        let mut first_run = true;
        // When to start a delivery-only worker (also enrollment).
        let mut deliver_at: Option<Instant> = Some(Instant::now());
        loop {
            if let Some(p) = planner.as_mut() {
                for probe in p.take_due(Utc::now()) {
                    if !pending.contains(&probe) {
                        pending.push(probe);
                    }
                }
            }
            let now = Instant::now();
            let enrolled = planner.is_some();
            let job = if enrolled && !pending.is_empty() {
                let mut probes = std::mem::take(&mut pending);
                probes.sort();
                Some(probes)
            } else if deliver_at.is_some_and(|t| t <= now) {
                Some(if first_run { all.clone() } else { Vec::new() })
            } else {
                None
            };
            let Some(probes) = job else {
                // Idle until the next run, the next delivery retry or a stop.
                let next_run = planner
                    .as_ref()
                    .and_then(Planner::next_run)
                    .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                    .map(|d| now + d);
                let wake = match (next_run, deliver_at) {
                    (Some(a), Some(b)) => a.min(b),
                    (Some(a), None) | (None, Some(a)) => a,
                    (None, None) => now + Duration::from_secs(3600),
                };
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep_until(wake) => {}
                }
                continue;
            };
            let deliver_for = planner
                .as_ref()
                .and_then(Planner::next_run)
                .and_then(|t| (t - Utc::now()).to_std().ok())
                .unwrap_or(MAX_DELIVER_FOR)
                .clamp(Duration::from_secs(1), MAX_DELIVER_FOR);
            let job = Job {
                probes,
                recover,
                deliver_for,
            };
            let Some(outcome) = self.run_worker(&job, &mut shutdown).await else {
                break;
            };
            let now = Instant::now();
            match outcome {
                Outcome::Done => {
                    backoff.reset();
                    deliver_at = None;
                }
                Outcome::More => deliver_at = Some(now),
                Outcome::Retry | Outcome::EnrollRetry => {
                    deliver_at = Some(now + backoff.next_delay());
                }
                Outcome::Stopped => {
                    deliver_at =
                        Some(now + Duration::from_secs(self.config.delivery.backoff_max_seconds));
                }
                Outcome::EnrollRefused => {
                    return Err(DaemonError::Enroll(
                        "the collector refused enrollment (see the log above)".into(),
                    ))
                }
                Outcome::DiskFull => {
                    let delay = backoff.next_delay();
                    tracing::warn!(
                        retry_in_ms = delay.as_millis() as u64,
                        "the state directory's disk is full: nothing can be spooled; retrying with backoff"
                    );
                    deliver_at = Some(now + delay);
                }
                Outcome::Failed => {
                    if recover {
                        return Err(DaemonError::Delivery(
                            "the first worker failed (see the log above)".into(),
                        ));
                    }
                    deliver_at = Some(now + backoff.next_delay());
                }
            }
            if !matches!(outcome, Outcome::Failed | Outcome::DiskFull) {
                recover = false;
            }
            let now_enrolled = enrolled
                || matches!(
                    outcome,
                    Outcome::Done | Outcome::More | Outcome::Retry | Outcome::Stopped
                );
            if now_enrolled && planner.is_none() {
                let mut p = self.planner();
                // Every probe is due at once in a new planner: the first
                // job collected them all already.
                p.take_due(Utc::now());
                first_run = false;
                planner = Some(p);
                let state = crate::state::State::load(&self.config.state_dir).unwrap_or_default();
                tracing::info!(
                    agent_id = state.agent_id.as_deref().unwrap_or(""),
                    key_id = state.key_id.as_deref().unwrap_or(""),
                    collector = %self.config.collector,
                    schedule = %self.default_cron.expr(),
                    "agent running"
                );
            }
        }
        tracing::info!("shutting down");
        Ok(())
    }

    fn planner(&self) -> Planner {
        let probes: Vec<&str> = REGISTRY.iter().map(|p| p.spec.id).collect();
        Planner::new(
            &probes,
            &self.default_cron,
            &self.overrides,
            self.config.schedule.jitter_seconds,
            Utc::now(),
        )
    }

    /// Start a worker for `job` and wait for it. None when `shutdown`
    /// completed meanwhile (the worker was asked to stop and waited for).
    async fn run_worker(
        &self,
        job: &Job,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Option<Outcome> {
        let mut cmd = tokio::process::Command::new(WORKER_PROGRAM);
        cmd.arg("worker")
            .arg("--config")
            .arg(&self.config_path)
            .arg("--parent")
            .arg(std::process::id().to_string())
            .arg("--deliver-for-ms")
            .arg(job.deliver_for.as_millis().to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        if job.recover {
            cmd.arg("--recover");
        }
        if !job.probes.is_empty() {
            cmd.arg("--probes").arg(job.probes.join(","));
        }
        let started = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(program = WORKER_PROGRAM, error = %e, "cannot start a worker");
                return Some(Outcome::Failed);
            }
        };
        let status = tokio::select! {
            biased;
            _ = shutdown.as_mut() => {
                stop(&mut child).await;
                return None;
            }
            r = tokio::time::timeout(WORKER_TIMEOUT, child.wait()) => r,
        };
        let outcome = match status {
            Ok(Ok(st)) => {
                let o = Outcome::from_code(st.code());
                if st.code().is_none() {
                    tracing::error!(status = %st, "the worker was killed");
                }
                o
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "lost the worker");
                Outcome::Failed
            }
            Err(_) => {
                tracing::error!(
                    timeout_s = WORKER_TIMEOUT.as_secs(),
                    "the worker took too long (a probe hung?): killed"
                );
                let _ = child.kill().await;
                Outcome::Failed
            }
        };
        tracing::debug!(
            probes = job.probes.len(),
            outcome = ?outcome,
            ms = started.elapsed().as_millis() as u64,
            "worker finished"
        );
        Some(outcome)
    }
}

/// Ask a worker to stop (SIGTERM: it finishes its current step), then kill
/// it after [`STOP_GRACE`].
async fn stop(child: &mut tokio::process::Child) {
    if let Some(pid) = child
        .id()
        .and_then(|p| rustix::process::Pid::from_raw(p as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// In a worker: die with the supervisor, and refuse to run if it is already
/// gone (it died between starting us and this call).
pub fn tie_to_parent(parent: u32) -> std::io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    let ppid = rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32);
    if ppid != Some(parent) {
        return Err(std::io::Error::other(format!(
            "the supervisor (pid {parent}) is gone"
        )));
    }
    Ok(())
}
