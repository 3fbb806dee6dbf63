//! Re-matching the fleet when the snapshot in force changes (issue #18):
//! every [`EVERY`] the loop asks which snapshot is in force; when it is not
//! the one last re-matched, the latest known inventory of every active host
//! is matched against it in batches of [`BATCH`] hosts — each distinct
//! inventory (packages blob digest) once, on a blocking thread — and the
//! hosts' CVE state (first seen, resolved) is updated in one transaction
//! per batch. Inventories that change are matched at ingest (cached by
//! inventory and snapshot digest), so nothing else is ever re-matched.

use super::vuln_state::{VulnState, VulnStateError};
use super::App;
use crate::store::vuln::VulnUpdate;
use crate::store::Store;
use evident_core::Digest;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the loop checks the snapshot in force.
pub const EVERY: Duration = Duration::from_secs(5);
/// Hosts per batch (one store transaction each).
pub const BATCH: i64 = 200;

/// What one re-match did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RematchStats {
    /// Hosts looked at.
    pub hosts: usize,
    /// Distinct inventories matched (not from the cache).
    pub inventories: usize,
    /// Hosts whose state changed.
    pub changed: usize,
    /// Newly open (CVE, source package) pairs.
    pub opened: usize,
    /// Resolved pairs.
    pub resolved: usize,
    /// Wall time (ms).
    pub millis: u128,
}

/// Re-match every active host's latest known inventory against the
/// snapshot in force (None: no snapshot).
pub async fn rematch(
    store: &dyn Store,
    vuln: &VulnState,
) -> Result<Option<(Digest, RematchStats)>, VulnStateError> {
    let Some(snap) = vuln.current(store).await? else {
        return Ok(None);
    };
    let started = Instant::now();
    let mut stats = RematchStats::default();
    let mut after: Option<String> = None;
    loop {
        let hosts = store
            .vuln_latest_inventories(after.as_deref(), BATCH)
            .await?;
        let Some(last) = hosts.last() else { break };
        after = Some(last.agent_id.clone());
        let digests: Vec<Digest> = hosts.iter().map(|h| h.packages).collect();
        let (matches, computed) = vuln.host_matches(store, &snap, &digests).await?;
        stats.inventories += computed;
        let mut updates: Vec<VulnUpdate> = Vec::new();
        for h in &hosts {
            stats.hosts += 1;
            let Some(Ok(m)) = matches.get(&h.packages).map(|m| m.as_ref()) else {
                continue;
            };
            let open = store.vuln_first_seen(Some(&h.agent_id), false).await?;
            let (_, mut u) = vuln
                .first_seen(store, &h.agent_id, h.statement, h.packages, m, &open)
                .await?;
            // Last-seen moves only with statements; the inventory is recorded.
            u.refresh_last = false;
            u.packages = None;
            if !u.new.is_empty() || !u.gone.is_empty() {
                stats.changed += 1;
                stats.opened += u.new.len();
                stats.resolved += u.gone.len();
                updates.push(u);
            }
        }
        store.vuln_apply(&updates).await?;
        if (hosts.len() as i64) < BATCH {
            break;
        }
    }
    stats.millis = started.elapsed().as_millis();
    Ok(Some((snap.digest, stats)))
}

/// The loop: re-match whenever the snapshot in force is not the one last
/// re-matched (at start too, so a snapshot imported while the collector
/// was down counts).
pub fn spawn(
    app: Arc<App>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut done: Option<Digest> = None;
        loop {
            let current = app
                .vuln
                .current(&*app.store)
                .await
                .map(|s| s.map(|s| s.digest));
            match current {
                Ok(Some(d)) if done != Some(d) => match rematch(&*app.store, &app.vuln).await {
                    Ok(Some((d, s))) => {
                        tracing::info!(snapshot = %d, hosts = s.hosts, inventories = s.inventories, changed = s.changed, opened = s.opened, resolved = s.resolved, ms = %s.millis, "vulnerability re-match");
                        done = Some(d);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "vulnerability re-match failed"),
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the vulnerability snapshot failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = stop.changed() => return,
            }
        }
    })
}
