//! Retention (issue 10): the configured policy (`[retention]`), one pass
//! over the fleet in small batches (each its own short transaction, so
//! ingest is never held up for long), and the background loop `serve`
//! runs. What is kept is decided in [`crate::store::retention::keep`];
//! every pass is recorded with the policy it applied, and each pruned
//! statement leaves a chain stub that exports carry to `verify`.

use crate::store::retention::{policy_text, EventCounts, PruneBatch};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// `[retention]` in `config.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Keep every statement (and alert, transition, delivered notification,
    /// integrity event) for this many days; past that, prune as the policy
    /// says. At least 400 by default, longer than a twelve-month audit period.
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
    /// Prune in the background while serving.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Minutes between background passes.
    #[serde(default = "default_interval")]
    pub interval_minutes: u64,
    /// Statements (or event rows per table) per transaction.
    #[serde(default = "default_batch")]
    pub batch: u32,
}

fn default_keep_days() -> u32 {
    400
}
fn default_true() -> bool {
    true
}
fn default_interval() -> u64 {
    60
}
fn default_batch() -> u32 {
    500
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            keep_days: default_keep_days(),
            enabled: true,
            interval_minutes: default_interval(),
            batch: default_batch(),
        }
    }
}

impl RetentionConfig {
    /// True for the defaults (then `init` writes no `[retention]` table).
    pub fn is_default(&self) -> bool {
        *self == RetentionConfig::default()
    }

    /// Check every field.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=36_500).contains(&self.keep_days) {
            return Err("retention.keep_days must be between 1 and 36500".into());
        }
        if !(1..=10_080).contains(&self.interval_minutes) {
            return Err("retention.interval_minutes must be between 1 and 10080".into());
        }
        if !(1..=10_000).contains(&self.batch) {
            return Err("retention.batch must be between 1 and 10000".into());
        }
        Ok(())
    }

    /// Statements collected before this (unix ms) are past the window.
    pub fn cutoff(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(i64::from(self.keep_days).saturating_mul(86_400_000))
    }
}

/// One line of documentation per `[retention]` key (for `config.toml`).
pub fn field_doc(key: &str) -> Option<&'static str> {
    Some(match key {
        "keep_days" => {
            "Keep everything this many days; past that prune unchanged runs to chain stubs."
        }
        "enabled" => "Prune in the background while serving.",
        "interval_minutes" => "Minutes between background retention passes.",
        "batch" => "Rows per retention transaction.",
        _ => return None,
    })
}

/// What a pass did (or, on a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassReport {
    /// The recorded run (None on a dry run).
    pub run: Option<i64>,
    /// Statements collected before this (unix ms) were considered.
    pub cutoff: i64,
    /// The policy, in words.
    pub policy: String,
    /// Hosts looked at.
    pub hosts: u64,
    /// Statements past the window that had not been considered before.
    pub considered: u64,
    /// Statements pruned to chain stubs.
    pub pruned: u64,
    /// Event rows pruned.
    pub events: EventCounts,
}

/// One pass over every host at `now_ms`, in batches. Stops early (the
/// next pass continues where it stopped) when `stop` says so.
pub async fn run_pass(
    store: &dyn Store,
    cfg: &RetentionConfig,
    now_ms: i64,
    dry_run: bool,
    stop: &(dyn Fn() -> bool + Sync),
) -> Result<PassReport, StoreError> {
    let cutoff = cfg.cutoff(now_ms);
    let policy = policy_text(cfg.keep_days);
    let run = if dry_run {
        None
    } else {
        Some(
            store
                .begin_prune_run(now_ms, i64::from(cfg.keep_days), cutoff, &policy)
                .await?,
        )
    };
    let mut report = PassReport {
        run,
        cutoff,
        policy,
        ..PassReport::default()
    };
    let limit = i64::from(cfg.batch);
    let mut after: Option<String> = None;
    'hosts: loop {
        let page = store.list_agents(after.as_deref(), 500).await?;
        for a in &page {
            report.hosts += 1;
            let mut mark = None;
            loop {
                if stop() {
                    break 'hosts;
                }
                let out = store
                    .prune_statements(&PruneBatch {
                        agent_id: a.id.clone(),
                        cutoff,
                        limit,
                        run: run.unwrap_or(0),
                        dry_run,
                        mark: mark.take(),
                    })
                    .await?;
                report.considered += out.considered;
                report.pruned += out.pruned;
                mark = out.mark;
                if out.done {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        if page.len() < 500 {
            break;
        }
        after = page.last().map(|a| a.id.clone());
    }
    loop {
        if stop() {
            break;
        }
        let n = store.prune_events(cutoff, limit, dry_run).await?;
        report.events.alerts += n.alerts;
        report.events.transitions += n.transitions;
        report.events.outbox += n.outbox;
        report.events.integrity_events += n.integrity_events;
        let most = n
            .alerts
            .max(n.transitions)
            .max(n.outbox)
            .max(n.integrity_events);
        if dry_run || most < u64::from(cfg.batch) {
            break;
        }
        tokio::task::yield_now().await;
    }
    if let Some(id) = run {
        store.finish_prune_run(id, now_ms, &report.events).await?;
    }
    Ok(report)
}

/// The background loop of `serve`: a pass every `interval_minutes` (the
/// first one minute after start), until `stop` turns true.
pub fn spawn(
    store: Arc<dyn Store>,
    cfg: RetentionConfig,
    clock: crate::clock::Clock,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = Duration::from_secs(60);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            wait = Duration::from_secs(cfg.interval_minutes.saturating_mul(60));
            let stopping = stop.clone();
            let halt = move || *stopping.borrow();
            match run_pass(&*store, &cfg, clock.now_ms(), false, &halt).await {
                Ok(r) => tracing::info!(
                    run = r.run,
                    considered = r.considered,
                    pruned = r.pruned,
                    events = r.events.total(),
                    "retention pass"
                ),
                Err(e) => tracing::warn!(error = %e, "retention pass failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_more_than_an_audit_year_and_bad_values_are_named() {
        let c = RetentionConfig::default();
        assert!(c.keep_days >= 400);
        assert!(c.validate().is_ok());
        assert_eq!(c.cutoff(400 * 86_400_000 + 5), 5);
        let bad = RetentionConfig {
            keep_days: 0,
            ..RetentionConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("keep_days"));
        let bad = RetentionConfig {
            batch: 0,
            ..RetentionConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("batch"));
        let parsed: RetentionConfig = toml::from_str("keep_days = 500").unwrap();
        assert_eq!(parsed.keep_days, 500);
        assert!(parsed.enabled);
        assert!(toml::from_str::<RetentionConfig>("keepdays = 5").is_err());
    }
}
