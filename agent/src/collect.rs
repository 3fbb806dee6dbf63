//! Running probes: all of them, or a chosen subset, over one host root.

use crate::hostroot::HostRoot;
use crate::probes::{self, Probe, REGISTRY};
use evident_core::evidence::CollectedProbe;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Why a collection request is invalid.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("unknown probe `{0}` (run `evident-agent probes` for the list)")]
    UnknownProbe(String),
}

/// Run the probes named in `only` (every probe when empty); the results
/// come in registry order. The probes run concurrently on up to as many
/// threads as there are cores (at most [`MAX_THREADS`]), the slowest ones
/// ([`SLOW_FIRST`]) started first so that the others fill the remaining
/// cores meanwhile; each probe reads only its own files, so the output is
/// the same as one after the other.
pub fn collect(root: &HostRoot, only: &[String]) -> Result<Vec<CollectedProbe>, CollectError> {
    if let Some(unknown) = only.iter().find(|id| probes::find(id).is_none()) {
        return Err(CollectError::UnknownProbe(unknown.clone()));
    }
    let chosen: Vec<&Probe> = REGISTRY
        .iter()
        .filter(|p| only.is_empty() || only.iter().any(|id| id == p.spec.id))
        .collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(MAX_THREADS)
        .min(chosen.len());
    if threads <= 1 {
        return Ok(chosen.iter().map(|p| probes::run(p, root)).collect());
    }
    // Start order: the slow probes first, then registry order.
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.sort_by_key(|&i| {
        let id = chosen.get(i).map_or("", |p| p.spec.id);
        SLOW_FIRST
            .iter()
            .position(|s| *s == id)
            .unwrap_or(SLOW_FIRST.len())
    });
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, CollectedProbe)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if let Some(p) = chosen.get(i) {
                            mine.push((i, probes::run(p, root)));
                        }
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(mine) => mine,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, c)| c).collect())
}

/// At most this many probe threads (the probes read files; more threads
/// than cores only add contention).
const MAX_THREADS: usize = 4;

/// Probes that take longest on a full host (the package lists, the
/// world-writable tree scan), started first.
const SLOW_FIRST: &[&str] = &["packages", "file-permissions"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_collection_keeps_registry_order_and_output() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::offline(dir.path());
        let all = collect(&root, &[]).unwrap();
        let ids: Vec<&str> = all.iter().map(|c| c.probe.as_str()).collect();
        let registry: Vec<&str> = REGISTRY.iter().map(|p| p.spec.id).collect();
        assert_eq!(ids, registry);
        // One at a time gives the same data, probe by probe.
        for (c, p) in all.iter().zip(REGISTRY) {
            let alone = probes::run(p, &root);
            assert_eq!(
                (&c.status, &c.data),
                (&alone.status, &alone.data),
                "{}",
                c.probe
            );
        }
        let some = collect(&root, &["sshd".to_string(), "accounts".to_string()]).unwrap();
        let ids: Vec<&str> = some.iter().map(|c| c.probe.as_str()).collect();
        assert_eq!(ids, ["sshd", "accounts"]);
    }
}
